// Reduction kernels: ReduceSum, ReduceMean, ReduceMax, ReduceMin, ReduceProd, ReduceL1, ReduceL2,
// ReduceSumSquare (float32, int32, int64), ReduceLogSum and ReduceLogSumExp (float32); ArgMax,
// ArgMin and TopK, which reduce to positions; NonMaxSuppression and Unique, which select.
//
// Axes are an attribute before opset 13 (ReduceSum) or 18 (the others) and an optional input
// after; no axes means all of them, unless noop_with_empty_axes makes the node an identity.
// Float sums accumulate in double, so results sit within rounding of the exact value whatever
// order ORT adds in. Each output element is reduced by one thread in a fixed order.
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "kernels.hpp"
#include "qcp/core/parallel.hpp"
#include "util.hpp"

namespace qcp::engine::kernels {
namespace {

constexpr int64_t kWorkPerChunk = 1 << 15;  // input elements read per parallel chunk

enum class Red { Sum, Mean, Max, Min, Prod, L1, L2, SumSquare, LogSum, LogSumExp };

constexpr bool float_only(Red op) { return op == Red::LogSum || op == Red::LogSumExp; }

template <Red op, typename T>
struct Reducer {
    using Acc = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;

    static Acc init() {
        using Lim = std::numeric_limits<Acc>;
        if constexpr (op == Red::Max) return Lim::has_infinity ? -Lim::infinity() : Lim::lowest();
        if constexpr (op == Red::Min) return Lim::has_infinity ? Lim::infinity() : Lim::max();
        if constexpr (op == Red::Prod) return Acc{1};
        return Acc{0};
    }
    static void add(Acc& acc, T v) {
        if constexpr (op == Red::Max) acc = v > acc ? Acc(v) : acc;
        else if constexpr (op == Red::Min) acc = v < acc ? Acc(v) : acc;
        else if constexpr (op == Red::Prod) acc *= v;
        else if constexpr (op == Red::L1) acc += v < 0 ? -Acc(v) : Acc(v);
        else if constexpr (op == Red::L2 || op == Red::SumSquare) acc += Acc(v) * Acc(v);
        else acc += v;
    }
    static T finish(Acc acc, int64_t count) {
        if constexpr (op == Red::L2) return static_cast<T>(std::sqrt(static_cast<double>(acc)));
        if constexpr (op == Red::LogSum) return static_cast<T>(std::log(static_cast<double>(acc)));
        if constexpr (op == Red::Mean) {
            if constexpr (std::is_floating_point_v<T>) return static_cast<T>(acc / static_cast<double>(count));
            else return count == 0 ? T{0} : static_cast<T>(acc / count);
        }
        return static_cast<T>(acc);
    }
};

// log(sum(exp(x))) kept as (max, sum of exp(x - max)), rescaled when a larger value arrives, so
// large inputs do not overflow.
template <typename T>
struct Reducer<Red::LogSumExp, T> {
    struct Acc {
        double max, sum;
    };
    static Acc init() { return {-std::numeric_limits<double>::infinity(), 0.0}; }
    static void add(Acc& acc, T v) {
        const double d = v;
        if (d == -std::numeric_limits<double>::infinity()) return;
        if (d > acc.max) {
            acc.sum = acc.sum * std::exp(acc.max - d) + 1.0;
            acc.max = d;
        } else {
            acc.sum += std::exp(d - acc.max);
        }
    }
    static T finish(Acc acc, int64_t) { return static_cast<T>(acc.max + std::log(acc.sum)); }
};

// The input seen as alternating runs of kept and reduced dims (size-1 dims dropped, runs of
// one kind merged). The last run is contiguous in memory: `inner` elements, reduced or kept.
struct ReduceLayout {
    int64_t inner = 1;
    bool inner_reduced = false;
    std::vector<int64_t> unit_dims, unit_strides;  // kept dims other than the inner run
    std::vector<int64_t> reduce_offsets;           // offsets of every reduced index outside the inner run
};

ReduceLayout reduce_layout(const Shape& shape, const std::vector<bool>& reduced) {
    std::vector<int64_t> dims, strides;
    std::vector<bool> red;
    int64_t stride = 1;
    for (size_t d = shape.size(); d-- > 0;) {  // innermost first
        if (shape[d] != 1) {
            if (!dims.empty() && red.back() == reduced[d]) {
                dims.back() *= shape[d];
            } else {
                dims.push_back(shape[d]);
                strides.push_back(stride);
                red.push_back(reduced[d]);
            }
        }
        stride *= shape[d];
    }
    ReduceLayout l;
    if (dims.empty()) {  // every dim is 1: one unit, one step
        l.reduce_offsets = {0};
        return l;
    }
    l.inner = dims[0];
    l.inner_reduced = red[0];
    std::vector<int64_t> rdims, rstrides;
    for (size_t k = dims.size(); k-- > 1;) {  // outermost first
        (red[k] ? rdims : l.unit_dims).push_back(dims[k]);
        (red[k] ? rstrides : l.unit_strides).push_back(strides[k]);
    }
    int64_t count = 1;
    for (int64_t n : rdims) count *= n;
    l.reduce_offsets.assign(static_cast<size_t>(count), 0);
    for (int64_t s = 0; s < count; ++s) {
        int64_t rest = s, off = 0;
        for (size_t k = rdims.size(); k-- > 0;) {
            off += (rest % rdims[k]) * rstrides[k];
            rest /= rdims[k];
        }
        l.reduce_offsets[static_cast<size_t>(s)] = off;
    }
    return l;
}

template <Red op, typename T>
void reduce_typed(const Tensor& x, const std::vector<bool>& reduced, Tensor& y) {
    using R = Reducer<op, T>;
    const ReduceLayout l = reduce_layout(x.shape(), reduced);
    int64_t count = 1;
    for (size_t d = 0; d < x.rank(); ++d)
        if (reduced[d]) count *= x.dim(d);
    int64_t units = 1;
    for (int64_t n : l.unit_dims) units *= n;
    const T* in = x.data<T>();
    T* out = y.data<T>();
    const auto steps = static_cast<int64_t>(l.reduce_offsets.size());
    const int64_t work = std::max<int64_t>(1, steps * l.inner);
    parallel_for(units, std::max<int64_t>(1, kWorkPerChunk / work), [&](int64_t begin, int64_t end) {
        std::vector<typename R::Acc> acc(l.inner_reduced ? 1 : static_cast<size_t>(l.inner));
        for (int64_t u = begin; u < end; ++u) {
            int64_t rest = u, base = 0;
            for (size_t k = l.unit_dims.size(); k-- > 0;) {
                base += (rest % l.unit_dims[k]) * l.unit_strides[k];
                rest /= l.unit_dims[k];
            }
            std::fill(acc.begin(), acc.end(), R::init());
            for (int64_t off : l.reduce_offsets) {
                const T* row = in + base + off;
                if (l.inner_reduced) {
                    for (int64_t j = 0; j < l.inner; ++j) R::add(acc[0], row[j]);
                } else {
                    for (int64_t j = 0; j < l.inner; ++j) R::add(acc[static_cast<size_t>(j)], row[j]);
                }
            }
            T* o = out + u * static_cast<int64_t>(acc.size());
            for (size_t j = 0; j < acc.size(); ++j) o[j] = R::finish(acc[j], count);
        }
    });
}

template <Red op, int64_t axes_input_since>
void reduce_kernel(KernelContext& ctx) {
    const Tensor& x = ctx.in(0);
    const auto rank = static_cast<int64_t>(x.rank());
    std::vector<int64_t> axes;
    if (ctx.opset < axes_input_since) {
        axes = ctx.node.attr_ints("axes");
    } else if (ctx.has_input(1)) {
        const Tensor& a = ctx.in(1);
        if (a.dtype() != DType::Int64) throw Error(ctx.where() + "axes must be int64");
        axes = a.to_int64_vector();
    }
    if (axes.empty() && ctx.node.attr_int("noop_with_empty_axes", 0) != 0) {
        ctx.outputs[0] = x;
        return;
    }
    std::vector<bool> reduced(x.rank(), axes.empty());
    for (int64_t a : axes) reduced[static_cast<size_t>(normalize_axis(a, rank, ctx))] = true;
    const bool keepdims = ctx.node.attr_int("keepdims", 1) != 0;
    Shape shape;
    for (size_t d = 0; d < x.rank(); ++d) {
        if (!reduced[d]) shape.push_back(x.dim(d));
        else if (keepdims) shape.push_back(1);
    }
    if (float_only(op) && x.dtype() != DType::Float32)
        throw Error(ctx.where() + dtype_name(x.dtype()) + " input is not supported");
    Tensor y(x.dtype(), shape);
    switch (x.dtype()) {
        case DType::Float32: reduce_typed<op, float>(x, reduced, y); break;
        case DType::Int64:
            if constexpr (!float_only(op)) reduce_typed<op, int64_t>(x, reduced, y);
            break;
        case DType::Int32:
            if constexpr (!float_only(op)) reduce_typed<op, int32_t>(x, reduced, y);
            break;
        default: throw Error(ctx.where() + dtype_name(x.dtype()) + " input is not supported");
    }
    ctx.outputs[0] = std::move(y);
}

// ---- ArgMax, ArgMin, TopK -----------------------------------------------------------------------

// x seen as (outer, n, inner) around `axis`.
struct AxisView {
    int64_t outer = 1, n = 1, inner = 1;
};

AxisView axis_view(const Shape& shape, size_t axis) {
    AxisView v;
    for (size_t d = 0; d < shape.size(); ++d) (d < axis ? v.outer : d == axis ? v.n : v.inner) *= shape[d];
    return v;
}

// First (or with select_last_index, last) position of the largest (smallest) value along `axis`.
template <bool largest, typename T>
void arg_typed(const Tensor& x, const AxisView& v, bool last, Tensor& y) {
    const T* xd = x.data<T>();
    int64_t* yd = y.data<int64_t>();
    for (int64_t o = 0; o < v.outer; ++o)
        for (int64_t i = 0; i < v.inner; ++i) {
            const T* row = xd + o * v.n * v.inner + i;
            int64_t best = 0;
            for (int64_t k = 1; k < v.n; ++k) {
                const T a = row[k * v.inner], b = row[best * v.inner];
                const bool better = largest ? (last ? a >= b : a > b) : (last ? a <= b : a < b);
                if (better) best = k;
            }
            yd[o * v.inner + i] = best;
        }
}

template <bool largest>
void arg_kernel(KernelContext& ctx) {
    const Tensor& x = ctx.in(0);
    if (x.rank() == 0) throw Error(ctx.where() + "input must have rank >= 1");
    const auto axis = static_cast<size_t>(normalize_axis(ctx.node.attr_int("axis", 0), static_cast<int64_t>(x.rank()), ctx));
    const bool keepdims = ctx.node.attr_int("keepdims", 1) != 0;
    const bool last = ctx.node.attr_int("select_last_index", 0) != 0;
    Shape shape = x.shape();
    if (keepdims) shape[axis] = 1;
    else shape.erase(shape.begin() + static_cast<std::ptrdiff_t>(axis));
    if (x.dim(axis) == 0) throw Error(ctx.where() + "cannot reduce an empty axis");
    Tensor y(DType::Int64, shape);
    const AxisView v = axis_view(x.shape(), axis);
    switch (x.dtype()) {
        case DType::Float32: arg_typed<largest, float>(x, v, last, y); break;
        case DType::Int64: arg_typed<largest, int64_t>(x, v, last, y); break;
        case DType::Int32: arg_typed<largest, int32_t>(x, v, last, y); break;
        default: throw Error(ctx.where() + dtype_name(x.dtype()) + " input is not supported");
    }
    ctx.outputs[0] = std::move(y);
}

// The k largest (smallest) values along `axis` and their positions; ties go to the lower
// position, as in ONNX's reference. k is an attribute before opset 10, an input after.
template <typename T>
void topk_typed(KernelContext& ctx, const Tensor& x, size_t axis, int64_t k, bool largest) {
    Shape shape = x.shape();
    shape[axis] = k;
    Tensor values(x.dtype(), shape), indices(DType::Int64, shape);
    const AxisView v = axis_view(x.shape(), axis);
    const T* xd = x.data<T>();
    std::vector<int64_t> order(static_cast<size_t>(v.n));
    for (int64_t o = 0; o < v.outer; ++o)
        for (int64_t i = 0; i < v.inner; ++i) {
            const T* row = xd + o * v.n * v.inner + i;
            for (int64_t j = 0; j < v.n; ++j) order[static_cast<size_t>(j)] = j;
            std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
                return largest ? row[a * v.inner] > row[b * v.inner] : row[a * v.inner] < row[b * v.inner];
            });
            for (int64_t j = 0; j < k; ++j) {
                const int64_t at = (o * k + j) * v.inner + i;
                values.data<T>()[at] = row[order[static_cast<size_t>(j)] * v.inner];
                indices.data<int64_t>()[at] = order[static_cast<size_t>(j)];
            }
        }
    ctx.outputs[0] = std::move(values);
    if (ctx.outputs.size() > 1) ctx.outputs[1] = std::move(indices);
}

void topk_kernel(KernelContext& ctx) {
    const Tensor& x = ctx.in(0);
    if (x.rank() == 0) throw Error(ctx.where() + "input must have rank >= 1");
    const auto axis = static_cast<size_t>(normalize_axis(ctx.node.attr_int("axis", -1), static_cast<int64_t>(x.rank()), ctx));
    int64_t k = ctx.node.attr_int("k", -1);
    if (ctx.opset >= 10) {
        const Tensor& kt = ctx.in(1);
        if (kt.dtype() != DType::Int64 || kt.numel() != 1) throw Error(ctx.where() + "k must be one int64");
        k = kt.data<int64_t>()[0];
    }
    if (k < 0 || k > x.dim(axis))
        throw Error(ctx.where() + "k = " + std::to_string(k) + " is out of range for an axis of " + std::to_string(x.dim(axis)));
    const bool largest = ctx.node.attr_int("largest", 1) != 0;
    switch (x.dtype()) {
        case DType::Float32: return topk_typed<float>(ctx, x, axis, k, largest);
        case DType::Int64: return topk_typed<int64_t>(ctx, x, axis, k, largest);
        case DType::Int32: return topk_typed<int32_t>(ctx, x, axis, k, largest);
        default: throw Error(ctx.where() + dtype_name(x.dtype()) + " input is not supported");
    }
}

// ---- NonMaxSuppression, Unique -------------------------------------------------------------------

struct Box {
    float y1, x1, y2, x2;
};

// Corners (either order) or, with center_point_box=1, (x_center, y_center, width, height).
Box box_at(const float* b, bool center) {
    if (center) return {b[1] - b[3] / 2, b[0] - b[2] / 2, b[1] + b[3] / 2, b[0] + b[2] / 2};
    return {std::min(b[0], b[2]), std::min(b[1], b[3]), std::max(b[0], b[2]), std::max(b[1], b[3])};
}

float iou(const Box& a, const Box& b) {
    const float area_a = (a.y2 - a.y1) * (a.x2 - a.x1), area_b = (b.y2 - b.y1) * (b.x2 - b.x1);
    if (area_a <= 0 || area_b <= 0) return 0;
    const float ih = std::max(0.0f, std::min(a.y2, b.y2) - std::max(a.y1, b.y1));
    const float iw = std::max(0.0f, std::min(a.x2, b.x2) - std::max(a.x1, b.x1));
    const float inter = ih * iw;
    return inter / (area_a + area_b - inter);
}

// Per batch and class, boxes by descending score (ties: lower index first) above score_threshold,
// each kept unless its IoU with a kept box exceeds iou_threshold, at most max_output_boxes_per_class.
void nms_kernel(KernelContext& ctx) {
    const Tensor& boxes = float_input(ctx, 0);
    const Tensor& scores = float_input(ctx, 1);
    if (boxes.rank() != 3 || boxes.dim(2) != 4 || scores.rank() != 3 || scores.dim(0) != boxes.dim(0) || scores.dim(2) != boxes.dim(1))
        throw Error(ctx.where() + "boxes must be (B, N, 4) and scores (B, C, N), got " + shape_str(boxes.shape()) + " and " +
                    shape_str(scores.shape()));
    const int64_t max_out = ctx.has_input(2) && !ctx.in(2).empty() ? static_cast<int64_t>(ctx.in(2).get_as_double(0)) : 0;
    const float iou_threshold = ctx.has_input(3) && !ctx.in(3).empty() ? static_cast<float>(ctx.in(3).get_as_double(0)) : 0.0f;
    const bool has_score_threshold = ctx.has_input(4) && !ctx.in(4).empty();
    const float score_threshold = has_score_threshold ? static_cast<float>(ctx.in(4).get_as_double(0)) : 0.0f;
    const bool center = ctx.node.attr_int("center_point_box", 0) != 0;
    const int64_t batches = boxes.dim(0), n = boxes.dim(1), classes = scores.dim(1);
    std::vector<int64_t> selected;
    std::vector<int64_t> order(static_cast<size_t>(n));
    for (int64_t b = 0; b < batches; ++b)
        for (int64_t c = 0; c < classes && max_out > 0; ++c) {
            const float* sc = scores.data<float>() + (b * classes + c) * n;
            order.clear();
            for (int64_t i = 0; i < n; ++i)
                if (!has_score_threshold || sc[i] > score_threshold) order.push_back(i);
            std::stable_sort(order.begin(), order.end(), [&](int64_t i, int64_t j) { return sc[i] > sc[j]; });
            std::vector<Box> kept;
            for (int64_t i : order) {
                if (static_cast<int64_t>(kept.size()) >= max_out) break;
                const Box box = box_at(boxes.data<float>() + (b * n + i) * 4, center);
                if (std::any_of(kept.begin(), kept.end(), [&](const Box& k) { return iou(k, box) > iou_threshold; })) continue;
                kept.push_back(box);
                selected.insert(selected.end(), {b, c, i});
            }
        }
    ctx.outputs[0] = Tensor::from_int64s({static_cast<int64_t>(selected.size() / 3), 3}, selected);
}

// Unique slices along `axis` (elements of the flattened input without one): Y in ascending
// lexicographic order (sorted=1) or in order of first occurrence, with the first-occurrence
// indices, every input slice's position in Y, and the counts.
template <typename T>
void unique_typed(KernelContext& ctx, const Tensor& x) {
    const bool has_axis = ctx.node.attr("axis") != nullptr;
    const Shape shape = has_axis ? x.shape() : Shape{x.numel()};
    const size_t axis = has_axis ? static_cast<size_t>(normalize_axis(ctx.node.attr_int("axis", 0), static_cast<int64_t>(x.rank()), ctx)) : 0;
    const AxisView v = axis_view(shape, axis);
    const T* xd = x.data<T>();
    // slice s = the v.outer * v.inner values at axis index s
    auto less = [&](int64_t a, int64_t b) {
        for (int64_t o = 0; o < v.outer; ++o)
            for (int64_t i = 0; i < v.inner; ++i) {
                const T p = xd[(o * v.n + a) * v.inner + i], q = xd[(o * v.n + b) * v.inner + i];
                if (p != q) {
                    if constexpr (std::is_floating_point_v<T>) {  // NaNs sort last, all equal
                        if (std::isnan(p)) return false;
                        if (std::isnan(q)) return true;
                    }
                    return p < q;
                }
            }
        return false;
    };
    // sort slice positions (stable: equal slices keep input order), so each run of equal slices
    // starts at its first occurrence; O(n log n) slice comparisons
    std::vector<int64_t> by_value(static_cast<size_t>(v.n));
    for (int64_t sl = 0; sl < v.n; ++sl) by_value[static_cast<size_t>(sl)] = sl;
    std::stable_sort(by_value.begin(), by_value.end(), less);
    std::vector<int64_t> sorted_firsts;  // first occurrence of each distinct slice, in value order
    std::vector<int64_t> inverse(static_cast<size_t>(v.n));  // index into sorted_firsts
    for (size_t k = 0; k < by_value.size(); ++k) {
        if (k == 0 || less(by_value[k - 1], by_value[k])) sorted_firsts.push_back(by_value[k]);
        inverse[static_cast<size_t>(by_value[k])] = static_cast<int64_t>(sorted_firsts.size()) - 1;
    }
    std::vector<int64_t> firsts = sorted_firsts;  // in order of appearance
    std::sort(firsts.begin(), firsts.end());
    const bool sorted = ctx.node.attr_int("sorted", 1) != 0;
    const std::vector<int64_t> ylist = sorted ? sorted_firsts : firsts;
    // rank[g] = position in Y of the distinct slice sorted_firsts[g]
    std::vector<int64_t> rank(sorted_firsts.size());
    for (size_t g = 0; g < sorted_firsts.size(); ++g)
        rank[g] = sorted ? static_cast<int64_t>(g)
                         : static_cast<int64_t>(std::lower_bound(firsts.begin(), firsts.end(), sorted_firsts[g]) - firsts.begin());
    const auto u = static_cast<int64_t>(ylist.size());
    Shape yshape = shape;
    yshape[axis] = u;
    Tensor y(x.dtype(), yshape);
    for (int64_t o = 0; o < v.outer; ++o)
        for (int64_t k = 0; k < u; ++k)
            for (int64_t i = 0; i < v.inner; ++i)
                y.data<T>()[(o * u + k) * v.inner + i] = xd[(o * v.n + ylist[static_cast<size_t>(k)]) * v.inner + i];
    std::vector<int64_t> counts(static_cast<size_t>(u), 0), inv(static_cast<size_t>(v.n));
    for (int64_t s = 0; s < v.n; ++s) {
        inv[static_cast<size_t>(s)] = rank[static_cast<size_t>(inverse[static_cast<size_t>(s)])];
        ++counts[static_cast<size_t>(inv[static_cast<size_t>(s)])];
    }
    ctx.outputs[0] = std::move(y);
    if (ctx.outputs.size() > 1) ctx.outputs[1] = Tensor::from_int64s({u}, ylist);
    if (ctx.outputs.size() > 2) ctx.outputs[2] = Tensor::from_int64s({v.n}, inv);
    if (ctx.outputs.size() > 3) ctx.outputs[3] = Tensor::from_int64s({u}, counts);
}

void unique_kernel(KernelContext& ctx) {
    const Tensor& x = ctx.in(0);
    switch (x.dtype()) {
        case DType::Float32: return unique_typed<float>(ctx, x);
        case DType::Int64: return unique_typed<int64_t>(ctx, x);
        case DType::Int32: return unique_typed<int32_t>(ctx, x);
        default: throw Error(ctx.where() + dtype_name(x.dtype()) + " input is not supported");
    }
}

}  // namespace

void register_reduce(KernelRegistry& r) {
    r.add("ReduceSum", 1, 999, reduce_kernel<Red::Sum, 13>);
    r.add("ReduceMean", 1, 999, reduce_kernel<Red::Mean, 18>);
    r.add("ReduceMax", 1, 999, reduce_kernel<Red::Max, 18>);
    r.add("ReduceMin", 1, 999, reduce_kernel<Red::Min, 18>);
    r.add("ReduceProd", 1, 999, reduce_kernel<Red::Prod, 18>);
    r.add("ReduceL1", 1, 999, reduce_kernel<Red::L1, 18>);
    r.add("ReduceL2", 1, 999, reduce_kernel<Red::L2, 18>);
    r.add("ReduceSumSquare", 1, 999, reduce_kernel<Red::SumSquare, 18>);
    r.add("ReduceLogSum", 1, 999, reduce_kernel<Red::LogSum, 18>);
    r.add("ReduceLogSumExp", 1, 999, reduce_kernel<Red::LogSumExp, 18>);
    r.add("ArgMax", 1, 999, arg_kernel<true>);
    r.add("ArgMin", 1, 999, arg_kernel<false>);
    r.add("TopK", 1, 999, topk_kernel);
    r.add("NonMaxSuppression", 10, 999, nms_kernel);
    r.add("Unique", 11, 999, unique_kernel);
}

}  // namespace qcp::engine::kernels
