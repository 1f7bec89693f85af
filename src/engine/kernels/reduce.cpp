// Reduction kernels: ReduceSum, ReduceMean, ReduceMax, ReduceMin (float32, int32, int64).
//
// Axes are an attribute before opset 13 (ReduceSum) or 18 (the others) and an optional input
// after; no axes means all of them, unless noop_with_empty_axes makes the node an identity.
// Float sums accumulate in double, so results sit within rounding of the exact value whatever
// order ORT adds in. Each output element is reduced by one thread in a fixed order.
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "kernels.hpp"
#include "qcp/core/parallel.hpp"
#include "util.hpp"

namespace qcp::engine::kernels {
namespace {

constexpr int64_t kWorkPerChunk = 1 << 15;  // input elements read per parallel chunk

enum class Red { Sum, Mean, Max, Min };

template <Red op, typename T>
struct Reducer {
    using Acc = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;

    static Acc init() {
        using Lim = std::numeric_limits<Acc>;
        if constexpr (op == Red::Max) return Lim::has_infinity ? -Lim::infinity() : Lim::lowest();
        if constexpr (op == Red::Min) return Lim::has_infinity ? Lim::infinity() : Lim::max();
        return Acc{0};
    }
    static void add(Acc& acc, T v) {
        if constexpr (op == Red::Max) acc = v > acc ? Acc(v) : acc;
        else if constexpr (op == Red::Min) acc = v < acc ? Acc(v) : acc;
        else acc += v;
    }
    static T finish(Acc acc, int64_t count) {
        if constexpr (op == Red::Mean) {
            if constexpr (std::is_floating_point_v<T>) return static_cast<T>(acc / static_cast<double>(count));
            else return count == 0 ? T{0} : static_cast<T>(acc / count);
        }
        return static_cast<T>(acc);
    }
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
    Tensor y(x.dtype(), shape);
    switch (x.dtype()) {
        case DType::Float32: reduce_typed<op, float>(x, reduced, y); break;
        case DType::Int64: reduce_typed<op, int64_t>(x, reduced, y); break;
        case DType::Int32: reduce_typed<op, int32_t>(x, reduced, y); break;
        default: throw Error(ctx.where() + dtype_name(x.dtype()) + " input is not supported");
    }
    ctx.outputs[0] = std::move(y);
}

}  // namespace

void register_reduce(KernelRegistry& r) {
    r.add("ReduceSum", 1, 999, reduce_kernel<Red::Sum, 13>);
    r.add("ReduceMean", 1, 999, reduce_kernel<Red::Mean, 18>);
    r.add("ReduceMax", 1, 999, reduce_kernel<Red::Max, 18>);
    r.add("ReduceMin", 1, 999, reduce_kernel<Red::Min, 18>);
}

}  // namespace qcp::engine::kernels
