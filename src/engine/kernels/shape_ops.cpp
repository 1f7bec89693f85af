// Shape and data-movement kernels: Reshape, Flatten, Squeeze, Unsqueeze, Transpose, Slice,
// Expand, Concat, Split, Gather, GatherElements, GatherND, ScatterElements, ScatterND, Tile,
// Compress, DepthToSpace, SpaceToDepth, OneHot, ReverseSequence, Range, Shape, Size, Constant,
// ConstantOfShape.
//
// None of them does arithmetic, so they copy whole elements of any byte-sized dtype. Transpose,
// Slice and Expand are one strided copy: output element i reads input element
// base + sum_d idx_d * stride_d.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "kernels.hpp"
#include "qcp/core/parallel.hpp"
#include "util.hpp"

namespace qcp::engine::kernels {
namespace {

constexpr int64_t kGrain = 1 << 14;  // elements per parallel chunk

size_t element_size(const KernelContext& ctx, const Tensor& t) {
    const int bits = dtype_traits(t.dtype()).bits;
    if (bits < 8) throw Error(ctx.where() + dtype_name(t.dtype()) + " tensors are not supported");
    return static_cast<size_t>(bits / 8);
}

std::vector<int64_t> contiguous_strides(const Shape& shape) {
    std::vector<int64_t> s(shape.size(), 1);
    for (size_t d = shape.size(); d-- > 1;) s[d - 1] = s[d] * shape[d];
    return s;
}

template <size_t N>
void copy_strided_row(const uint8_t* src, int64_t stride, uint8_t* dst, int64_t len) {
    for (int64_t k = 0; k < len; ++k) std::memcpy(dst + k * N, src + k * stride * static_cast<int64_t>(N), N);
}

void strided_copy(const uint8_t* src, uint8_t* dst, size_t esize, const Shape& shape,
                  const std::vector<int64_t>& strides, int64_t base) {
    // drop size-1 dims and fuse neighbours that the input walks contiguously
    Shape dims;
    std::vector<int64_t> st;
    for (size_t d = 0; d < shape.size(); ++d) {
        if (shape[d] == 1) continue;
        if (!dims.empty() && st.back() == strides[d] * shape[d]) {
            dims.back() *= shape[d];
            st.back() = strides[d];
        } else {
            dims.push_back(shape[d]);
            st.push_back(strides[d]);
        }
    }
    if (dims.empty()) dims = {1}, st = {1};
    const int64_t n = shape_numel(shape);
    const int64_t inner = dims.back();
    const int64_t istride = st.back();
    const auto es = static_cast<int64_t>(esize);
    parallel_for(n, kGrain, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end;) {
            int64_t row = i / inner;
            const int64_t col = i % inner;
            int64_t off = base + col * istride;
            for (size_t d = dims.size() - 1; d-- > 0;) {
                off += (row % dims[d]) * st[d];
                row /= dims[d];
            }
            const int64_t len = std::min(inner - col, end - i);
            const uint8_t* s = src + off * es;
            uint8_t* o = dst + i * es;
            if (istride == 1) std::memcpy(o, s, static_cast<size_t>(len * es));
            else if (esize == 4) copy_strided_row<4>(s, istride, o, len);
            else if (esize == 8) copy_strided_row<8>(s, istride, o, len);
            else if (esize == 2) copy_strided_row<2>(s, istride, o, len);
            else if (esize == 1) copy_strided_row<1>(s, istride, o, len);
            else for (int64_t k = 0; k < len; ++k) std::memcpy(o + k * es, s + k * istride * es, esize);
            i += len;
        }
    });
}

// The node's `axis` attribute (default 0) as an index into a tensor of rank `rank`.
size_t axis_attr(const KernelContext& ctx, size_t rank) {
    return static_cast<size_t>(normalize_axis(ctx.node.attr_int("axis", 0), static_cast<int64_t>(rank), ctx));
}

// The int32/int64 input `i` as values (shape-like inputs).
std::vector<int64_t> int_input(const KernelContext& ctx, size_t i) {
    const Tensor& t = ctx.in(i);
    if (t.dtype() != DType::Int64 && t.dtype() != DType::Int32)
        throw Error(ctx.where() + "input " + std::to_string(i) + " must be int64 or int32, got " + dtype_name(t.dtype()));
    return t.to_int64_vector();
}

// Axes from the attribute (before `input_since`) or from optional input `i` (from it on).
std::vector<int64_t> axes_arg(const KernelContext& ctx, int64_t input_since, size_t i) {
    if (ctx.opset < input_since) return ctx.node.attr_ints("axes");
    return ctx.has_input(i) ? int_input(ctx, i) : std::vector<int64_t>{};
}

// ---- reshaping (same bytes, new shape) -----------------------------------------------------

void reshape_kernel(KernelContext& ctx) {
    const Tensor& x = ctx.in(0);
    const std::vector<int64_t> spec = ctx.opset < 5 ? ctx.node.attr_ints("shape") : int_input(ctx, 1);
    const bool allow_zero = ctx.node.attr_int("allowzero", 0) != 0;
    Shape shape(spec.size());
    int64_t known = 1, infer = -1;
    for (size_t d = 0; d < spec.size(); ++d) {
        if (spec[d] == -1) {
            if (infer >= 0) throw Error(ctx.where() + "more than one -1 in shape");
            infer = static_cast<int64_t>(d);
            continue;
        }
        if (spec[d] < -1) throw Error(ctx.where() + "invalid dimension " + std::to_string(spec[d]));
        if (spec[d] == 0 && !allow_zero) {
            if (d >= x.rank()) throw Error(ctx.where() + "0 copies dimension " + std::to_string(d) + " beyond input rank");
            shape[d] = x.dim(d);
        } else {
            shape[d] = spec[d];
        }
        known *= shape[d];
    }
    if (infer >= 0) {
        if (known == 0 || x.numel() % known != 0)
            throw Error(ctx.where() + "cannot infer -1 reshaping " + shape_str(x.shape()));
        shape[static_cast<size_t>(infer)] = x.numel() / known;
    }
    if (shape_numel(shape) != x.numel())
        throw Error(ctx.where() + "cannot reshape " + shape_str(x.shape()) + " to " + shape_str(shape));
    ctx.outputs[0] = x.reshaped(shape);
}

void flatten_kernel(KernelContext& ctx) {
    const Tensor& x = ctx.in(0);
    const auto rank = static_cast<int64_t>(x.rank());
    int64_t axis = ctx.node.attr_int("axis", 1);
    if (axis < 0) axis += rank;
    if (axis < 0 || axis > rank) throw Error(ctx.where() + "axis out of range for rank " + std::to_string(rank));
    int64_t outer = 1, inner = 1;
    for (int64_t d = 0; d < rank; ++d) (d < axis ? outer : inner) *= x.dim(static_cast<size_t>(d));
    ctx.outputs[0] = x.reshaped({outer, inner});
}

void squeeze_kernel(KernelContext& ctx) {
    const Tensor& x = ctx.in(0);
    const auto rank = static_cast<int64_t>(x.rank());
    std::vector<bool> drop(x.rank(), false);
    const auto axes = axes_arg(ctx, 13, 1);
    for (int64_t a : axes) {
        const auto d = static_cast<size_t>(normalize_axis(a, rank, ctx));
        if (x.dim(d) != 1)
            throw Error(ctx.where() + "cannot squeeze dimension " + std::to_string(a) + " of " + shape_str(x.shape()));
        drop[d] = true;
    }
    Shape shape;
    for (size_t d = 0; d < x.rank(); ++d)
        if (!(axes.empty() ? x.dim(d) == 1 : drop[d])) shape.push_back(x.dim(d));
    ctx.outputs[0] = x.reshaped(shape);
}

void unsqueeze_kernel(KernelContext& ctx) {
    const Tensor& x = ctx.in(0);
    const auto axes = axes_arg(ctx, 13, 1);
    const auto rank = static_cast<int64_t>(x.rank() + axes.size());
    std::vector<bool> inserted(static_cast<size_t>(rank), false);
    for (int64_t a : axes) {
        const auto d = static_cast<size_t>(normalize_axis(a, rank, ctx));
        if (inserted[d]) throw Error(ctx.where() + "repeated axis " + std::to_string(a));
        inserted[d] = true;
    }
    Shape shape;
    size_t next = 0;
    for (size_t d = 0; d < inserted.size(); ++d) shape.push_back(inserted[d] ? 1 : x.dim(next++));
    ctx.outputs[0] = x.reshaped(shape);
}

// ---- strided copies ------------------------------------------------------------------------

void transpose_kernel(KernelContext& ctx) {
    const Tensor& x = ctx.in(0);
    const size_t rank = x.rank();
    std::vector<int64_t> perm = ctx.node.attr_ints("perm");
    if (perm.empty())
        for (size_t d = rank; d-- > 0;) perm.push_back(static_cast<int64_t>(d));
    if (perm.size() != rank)
        throw Error(ctx.where() + "perm has " + std::to_string(perm.size()) + " entries for rank " + std::to_string(rank));
    const auto in_strides = contiguous_strides(x.shape());
    Shape shape(rank);
    std::vector<int64_t> strides(rank);
    std::vector<bool> seen(rank, false);
    for (size_t d = 0; d < rank; ++d) {
        const auto p = static_cast<size_t>(normalize_axis(perm[d], static_cast<int64_t>(rank), ctx));
        if (seen[p]) throw Error(ctx.where() + "perm repeats axis " + std::to_string(perm[d]));
        seen[p] = true;
        shape[d] = x.dim(p);
        strides[d] = in_strides[p];
    }
    Tensor y(x.dtype(), shape);
    strided_copy(x.data<uint8_t>(), y.data<uint8_t>(), element_size(ctx, x), shape, strides, 0);
    ctx.outputs[0] = std::move(y);
}

// Opset 1-9: starts/ends/axes attributes; 10+: inputs starts, ends, axes?, steps?. Out-of-range
// starts/ends (INT64_MAX/MIN included) clamp as in the spec.
void slice_kernel(KernelContext& ctx) {
    const Tensor& x = ctx.in(0);
    const auto rank = static_cast<int64_t>(x.rank());
    std::vector<int64_t> starts, ends, axes, steps;
    if (ctx.opset < 10) {
        starts = ctx.node.attr_ints("starts");
        ends = ctx.node.attr_ints("ends");
        axes = ctx.node.attr_ints("axes");
    } else {
        starts = int_input(ctx, 1);
        ends = int_input(ctx, 2);
        if (ctx.has_input(3)) axes = int_input(ctx, 3);
        if (ctx.has_input(4)) steps = int_input(ctx, 4);
    }
    if (axes.empty())
        for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
    if (steps.empty()) steps.assign(starts.size(), 1);
    if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size())
        throw Error(ctx.where() + "starts, ends, axes and steps differ in length");

    Shape shape = x.shape();
    std::vector<int64_t> first(x.rank(), 0), step(x.rank(), 1);
    std::vector<bool> seen(x.rank(), false);
    for (size_t i = 0; i < starts.size(); ++i) {
        const auto d = static_cast<size_t>(normalize_axis(axes[i], rank, ctx));
        if (seen[d]) throw Error(ctx.where() + "repeated axis " + std::to_string(axes[i]));
        seen[d] = true;
        const int64_t dim = x.dim(d), s = steps[i];
        if (s == 0) throw Error(ctx.where() + "step is 0");
        int64_t b = starts[i] < 0 ? starts[i] + dim : starts[i];
        int64_t e = ends[i] < 0 ? ends[i] + dim : ends[i];
        if (s > 0) {
            b = std::clamp<int64_t>(b, 0, dim);
            e = std::clamp<int64_t>(e, 0, dim);
            shape[d] = e > b ? (e - b - 1) / s + 1 : 0;
        } else {
            b = std::clamp<int64_t>(b, 0, dim - 1);
            e = std::clamp<int64_t>(e, -1, dim - 1);
            shape[d] = dim > 0 && b > e ? (b - e - 1) / -s + 1 : 0;
        }
        first[d] = b;
        step[d] = s;
    }
    const auto in_strides = contiguous_strides(x.shape());
    std::vector<int64_t> strides(x.rank());
    int64_t base = 0;
    for (size_t d = 0; d < x.rank(); ++d) {
        strides[d] = in_strides[d] * step[d];
        base += first[d] * in_strides[d];
    }
    Tensor y(x.dtype(), shape);
    if (y.numel() > 0) strided_copy(x.data<uint8_t>(), y.data<uint8_t>(), element_size(ctx, x), shape, strides, base);
    ctx.outputs[0] = std::move(y);
}

void expand_kernel(KernelContext& ctx) {
    const Tensor& x = ctx.in(0);
    const Shape shape = broadcast_shapes(x.shape(), int_input(ctx, 1), ctx);
    Tensor y(x.dtype(), shape);
    const auto strides = broadcast_strides(x.shape(), shape);
    if (y.numel() > 0) strided_copy(x.data<uint8_t>(), y.data<uint8_t>(), element_size(ctx, x), shape, strides, 0);
    ctx.outputs[0] = std::move(y);
}

// ---- joining, splitting, indexing ----------------------------------------------------------

// Bytes per slice after `axis` and the number of slices before it.
void split_at(const Shape& shape, size_t axis, size_t esize, int64_t& outer, int64_t& inner_bytes) {
    outer = 1;
    inner_bytes = static_cast<int64_t>(esize);
    for (size_t d = 0; d < axis; ++d) outer *= shape[d];
    for (size_t d = axis + 1; d < shape.size(); ++d) inner_bytes *= shape[d];
}

void concat_kernel(KernelContext& ctx) {
    const Tensor& x0 = ctx.in(0);
    const size_t axis = axis_attr(ctx, x0.rank());
    const size_t esize = element_size(ctx, x0);
    Shape shape = x0.shape();
    shape[axis] = 0;
    for (size_t i = 0; i < ctx.inputs.size(); ++i) {
        const Tensor& xi = ctx.in(i);
        bool same = xi.dtype() == x0.dtype() && xi.rank() == x0.rank();
        for (size_t d = 0; same && d < x0.rank(); ++d) same = d == axis || xi.dim(d) == x0.dim(d);
        if (!same)
            throw Error(ctx.where() + "input " + std::to_string(i) + " " + shape_str(xi.shape()) + " does not match " +
                        shape_str(x0.shape()));
        shape[axis] += xi.dim(axis);
    }
    Tensor y(x0.dtype(), shape);
    int64_t outer = 0, inner_bytes = 0;
    split_at(shape, axis, esize, outer, inner_bytes);
    const int64_t row_bytes = shape[axis] * inner_bytes;
    int64_t offset = 0;
    for (size_t i = 0; i < ctx.inputs.size(); ++i) {
        const Tensor& xi = ctx.in(i);
        const int64_t chunk = xi.dim(axis) * inner_bytes;
        if (chunk == 0) continue;
        const uint8_t* src = xi.data<uint8_t>();
        uint8_t* dst = y.data<uint8_t>() + offset;
        parallel_for(outer, std::max<int64_t>(1, kGrain * 4 / std::max<int64_t>(chunk, 1)), [&](int64_t b, int64_t e) {
            for (int64_t o = b; o < e; ++o) std::memcpy(dst + o * row_bytes, src + o * chunk, static_cast<size_t>(chunk));
        });
        offset += chunk;
    }
    ctx.outputs[0] = std::move(y);
}

// Sizes from the `split` attribute (before 13) or input (13+); otherwise equal parts, the last
// one smaller when the dimension does not divide (allowed from opset 18, with num_outputs).
void split_kernel(KernelContext& ctx) {
    const Tensor& x = ctx.in(0);
    const size_t axis = axis_attr(ctx, x.rank());
    const int64_t dim = x.dim(axis);
    const auto parts = static_cast<int64_t>(ctx.outputs.size());
    if (ctx.opset >= 18 && ctx.node.attr_int("num_outputs", parts) != parts)
        throw Error(ctx.where() + "num_outputs " + std::to_string(ctx.node.attr_int("num_outputs", parts)) + " differs from its " +
                    std::to_string(parts) + " outputs");
    std::vector<int64_t> sizes = ctx.opset < 13 ? ctx.node.attr_ints("split")
                                                : (ctx.has_input(1) ? int_input(ctx, 1) : std::vector<int64_t>{});
    if (sizes.empty()) {
        if (dim % parts != 0 && ctx.opset < 18)
            throw Error(ctx.where() + "dimension " + std::to_string(dim) + " does not split into " +
                        std::to_string(parts) + " equal parts");
        const int64_t chunk = (dim + parts - 1) / parts;
        for (int64_t p = 0; p < parts; ++p) sizes.push_back(std::clamp<int64_t>(dim - p * chunk, 0, chunk));
    }
    int64_t total = 0;
    for (int64_t s : sizes) total += s;
    if (static_cast<int64_t>(sizes.size()) != parts || total != dim)
        throw Error(ctx.where() + "split sizes do not cover dimension " + std::to_string(dim) + " in " +
                    std::to_string(parts) + " outputs");
    int64_t outer = 0, inner_bytes = 0;
    split_at(x.shape(), axis, element_size(ctx, x), outer, inner_bytes);
    const int64_t row_bytes = dim * inner_bytes;
    int64_t offset = 0;
    for (size_t p = 0; p < sizes.size(); ++p) {
        Shape shape = x.shape();
        shape[axis] = sizes[p];
        Tensor y(x.dtype(), shape);
        const int64_t chunk = sizes[p] * inner_bytes;
        const uint8_t* src = x.data<uint8_t>() + offset;
        for (int64_t o = 0; o < outer && chunk > 0; ++o)  // zero-size parts own no buffer to copy into
            std::memcpy(y.data<uint8_t>() + o * chunk, src + o * row_bytes, static_cast<size_t>(chunk));
        offset += chunk;
        ctx.outputs[p] = std::move(y);
    }
}

void gather_kernel(KernelContext& ctx) {
    const Tensor& x = ctx.in(0);
    const Tensor& indices = ctx.in(1);
    if (indices.dtype() != DType::Int64 && indices.dtype() != DType::Int32)
        throw Error(ctx.where() + "indices must be int64 or int32, got " + dtype_name(indices.dtype()));
    if (x.rank() == 0) throw Error(ctx.where() + "data must have rank >= 1");
    const size_t axis = axis_attr(ctx, x.rank());
    const int64_t dim = x.dim(axis);
    std::vector<int64_t> idx = indices.to_int64_vector();
    for (int64_t& i : idx) {
        if (i < -dim || i >= dim)
            throw Error(ctx.where() + "index " + std::to_string(i) + " out of range for dimension of size " +
                        std::to_string(dim));
        if (i < 0) i += dim;
    }
    Shape shape(x.shape().begin(), x.shape().begin() + static_cast<std::ptrdiff_t>(axis));
    shape.insert(shape.end(), indices.shape().begin(), indices.shape().end());
    shape.insert(shape.end(), x.shape().begin() + static_cast<std::ptrdiff_t>(axis) + 1, x.shape().end());
    Tensor y(x.dtype(), shape);
    int64_t outer = 0, inner_bytes = 0;
    split_at(x.shape(), axis, element_size(ctx, x), outer, inner_bytes);
    const auto n = static_cast<int64_t>(idx.size());
    const uint8_t* src = x.data<uint8_t>();
    uint8_t* dst = y.data<uint8_t>();
    parallel_for(outer * n, std::max<int64_t>(1, kGrain * 4 / std::max<int64_t>(inner_bytes, 1)), [&](int64_t b, int64_t e) {
        for (int64_t r = b; r < e; ++r) {
            const int64_t o = r / n, j = r % n;
            std::memcpy(dst + r * inner_bytes, src + (o * dim + idx[static_cast<size_t>(j)]) * inner_bytes,
                        static_cast<size_t>(inner_bytes));
        }
    });
    ctx.outputs[0] = std::move(y);
}

// ---- index-driven gathers and scatters ----------------------------------------------------

// Index values of an int32/int64 input, negatives wrapped by `dim` (0 = per-element dims below).
std::vector<int64_t> index_values(const KernelContext& ctx, size_t i) {
    const Tensor& t = ctx.in(i);
    if (t.dtype() != DType::Int64 && t.dtype() != DType::Int32)
        throw Error(ctx.where() + "indices must be int64 or int32, got " + dtype_name(t.dtype()));
    return t.to_int64_vector();
}

int64_t checked_index(const KernelContext& ctx, int64_t i, int64_t dim) {
    if (i < -dim || i >= dim)
        throw Error(ctx.where() + "index " + std::to_string(i) + " out of range for dimension of size " + std::to_string(dim));
    return i < 0 ? i + dim : i;
}

// Element offset in `shape` (row-major strides `strides`) of multi-index `idx` with dim `axis`
// replaced by `at`.
int64_t offset_with(const std::vector<int64_t>& idx, const std::vector<int64_t>& strides, size_t axis, int64_t at) {
    int64_t off = 0;
    for (size_t d = 0; d < idx.size(); ++d) off += (d == axis ? at : idx[d]) * strides[d];
    return off;
}

void next_index(std::vector<int64_t>& idx, const Shape& shape) {
    for (size_t d = shape.size(); d-- > 0;) {
        if (++idx[d] < shape[d]) return;
        idx[d] = 0;
    }
}

void gather_elements_kernel(KernelContext& ctx) {
    const Tensor& x = ctx.in(0);
    const std::vector<int64_t> ind = index_values(ctx, 1);
    const Shape& ishape = ctx.in(1).shape();
    if (ishape.size() != x.rank() || x.rank() == 0) throw Error(ctx.where() + "indices must have the data's rank");
    const size_t axis = axis_attr(ctx, x.rank());
    for (size_t d = 0; d < x.rank(); ++d)
        if (d != axis && ishape[d] > x.dim(d)) throw Error(ctx.where() + "indices shape exceeds the data's");
    const size_t esize = element_size(ctx, x);
    const auto strides = contiguous_strides(x.shape());
    Tensor y(x.dtype(), ishape);
    std::vector<int64_t> idx(ishape.size(), 0);
    for (int64_t i = 0; i < y.numel(); ++i, next_index(idx, ishape)) {
        const int64_t src = offset_with(idx, strides, axis, checked_index(ctx, ind[static_cast<size_t>(i)], x.dim(axis)));
        std::memcpy(y.data<uint8_t>() + i * static_cast<int64_t>(esize), x.data<uint8_t>() + src * static_cast<int64_t>(esize), esize);
    }
    ctx.outputs[0] = std::move(y);
}

// reduction: none (assign), add, mul (opset 16+; max/min from 18)
template <typename T>
void scatter_combine(T* dst, const T* src, const std::string& reduction) {
    if (reduction == "add") *dst = static_cast<T>(*dst + *src);
    else if (reduction == "mul") *dst = static_cast<T>(*dst * *src);
    else if (reduction == "max") *dst = std::max(*dst, *src);
    else if (reduction == "min") *dst = std::min(*dst, *src);
    else *dst = *src;
}

void scatter_element(const KernelContext& ctx, Tensor& y, int64_t dst, const Tensor& updates, int64_t src,
                     const std::string& reduction) {
    if (reduction == "none") {
        const auto esize = static_cast<int64_t>(dtype_bytes(y.dtype(), 1));
        std::memcpy(y.data<uint8_t>() + dst * esize, updates.data<uint8_t>() + src * esize, static_cast<size_t>(esize));
        return;
    }
    switch (y.dtype()) {
        case DType::Float32: return scatter_combine(y.data<float>() + dst, updates.data<float>() + src, reduction);
        case DType::Int64: return scatter_combine(y.data<int64_t>() + dst, updates.data<int64_t>() + src, reduction);
        case DType::Int32: return scatter_combine(y.data<int32_t>() + dst, updates.data<int32_t>() + src, reduction);
        default: throw Error(ctx.where() + "reduction " + reduction + " on " + dtype_name(y.dtype()) + " is not supported");
    }
}

std::string scatter_reduction(const KernelContext& ctx) {
    const std::string r = ctx.node.attr_string("reduction", "none");
    if (r != "none" && r != "add" && r != "mul" && r != "max" && r != "min")
        throw Error(ctx.where() + "reduction '" + r + "' is not supported");
    return r;
}

// ScatterElements, and Scatter (opset 9-10, the same without reduction).
void scatter_elements_kernel(KernelContext& ctx) {
    const Tensor& x = ctx.in(0);
    const std::vector<int64_t> ind = index_values(ctx, 1);
    const Tensor& updates = ctx.in(2);
    const Shape& ishape = ctx.in(1).shape();
    if (updates.shape() != ishape || ishape.size() != x.rank() || updates.dtype() != x.dtype() || x.rank() == 0)
        throw Error(ctx.where() + "indices and updates must share one shape of the data's rank and dtype");
    const size_t axis = axis_attr(ctx, x.rank());
    for (size_t d = 0; d < x.rank(); ++d)
        if (d != axis && ishape[d] > x.dim(d)) throw Error(ctx.where() + "indices shape exceeds the data's");
    element_size(ctx, x);
    const std::string reduction = scatter_reduction(ctx);
    const auto strides = contiguous_strides(x.shape());
    Tensor y = x;
    std::vector<int64_t> idx(ishape.size(), 0);
    for (int64_t i = 0; i < updates.numel(); ++i, next_index(idx, ishape))
        scatter_element(ctx, y, offset_with(idx, strides, axis, checked_index(ctx, ind[static_cast<size_t>(i)], x.dim(axis))),
                        updates, i, reduction);
    ctx.outputs[0] = std::move(y);
}

// Offsets of the data slices that indices of shape (batch..., rows..., k) address: one per
// row, in order, each counting whole slices of data.shape[batch_dims + k:].
std::vector<int64_t> nd_offsets(const KernelContext& ctx, const Shape& data, const Shape& ishape,
                                const std::vector<int64_t>& ind, size_t batch_dims, int64_t& slice) {
    if (ishape.empty()) throw Error(ctx.where() + "indices must have rank >= 1");
    const auto k = static_cast<size_t>(ishape.back());
    if (batch_dims + k > data.size() || batch_dims >= ishape.size())
        throw Error(ctx.where() + "indices' last dimension is too large for the data");
    for (size_t d = 0; d < batch_dims; ++d)
        if (data[d] != ishape[d]) throw Error(ctx.where() + "batch dimensions of data and indices differ");
    slice = 1;
    for (size_t d = batch_dims + k; d < data.size(); ++d) slice *= data[d];
    int64_t batch = 1, rows_per_batch = 1;
    for (size_t d = 0; d < batch_dims; ++d) batch *= ishape[d];
    for (size_t d = batch_dims; d + 1 < ishape.size(); ++d) rows_per_batch *= ishape[d];
    int64_t slices_per_batch = 1;
    for (size_t d = batch_dims; d < batch_dims + k; ++d) slices_per_batch *= data[d];
    std::vector<int64_t> out;
    out.reserve(static_cast<size_t>(batch * rows_per_batch));
    for (int64_t r = 0; r < batch * rows_per_batch; ++r) {
        int64_t off = 0;
        for (size_t j = 0; j < k; ++j)
            off = off * data[batch_dims + j] + checked_index(ctx, ind[static_cast<size_t>(r) * k + j], data[batch_dims + j]);
        out.push_back((r / rows_per_batch) * slices_per_batch + off);
    }
    return out;
}

void gather_nd_kernel(KernelContext& ctx) {
    const Tensor& x = ctx.in(0);
    const std::vector<int64_t> ind = index_values(ctx, 1);
    const Shape& ishape = ctx.in(1).shape();
    const auto batch_dims = static_cast<size_t>(ctx.node.attr_int("batch_dims", 0));
    int64_t slice = 0;
    const auto offsets = nd_offsets(ctx, x.shape(), ishape, ind, batch_dims, slice);
    Shape shape(ishape.begin(), ishape.end() - 1);
    shape.insert(shape.end(), x.shape().begin() + static_cast<std::ptrdiff_t>(batch_dims + static_cast<size_t>(ishape.back())),
                 x.shape().end());
    Tensor y(x.dtype(), shape);
    const auto bytes = static_cast<int64_t>(element_size(ctx, x)) * slice;
    for (size_t r = 0; r < offsets.size() && bytes > 0; ++r)
        std::memcpy(y.data<uint8_t>() + static_cast<int64_t>(r) * bytes, x.data<uint8_t>() + offsets[r] * bytes, static_cast<size_t>(bytes));
    ctx.outputs[0] = std::move(y);
}

void scatter_nd_kernel(KernelContext& ctx) {
    const Tensor& x = ctx.in(0);
    const std::vector<int64_t> ind = index_values(ctx, 1);
    const Tensor& updates = ctx.in(2);
    if (updates.dtype() != x.dtype()) throw Error(ctx.where() + "updates must have the data's dtype");
    element_size(ctx, x);
    int64_t slice = 0;
    const auto offsets = nd_offsets(ctx, x.shape(), ctx.in(1).shape(), ind, 0, slice);
    if (updates.numel() != static_cast<int64_t>(offsets.size()) * slice)
        throw Error(ctx.where() + "updates shape " + shape_str(updates.shape()) + " does not match the indices");
    const std::string reduction = scatter_reduction(ctx);
    Tensor y = x;
    for (size_t r = 0; r < offsets.size(); ++r)
        for (int64_t e = 0; e < slice; ++e)
            scatter_element(ctx, y, offsets[r] * slice + e, updates, static_cast<int64_t>(r) * slice + e, reduction);
    ctx.outputs[0] = std::move(y);
}

// ---- repeating and rearranging --------------------------------------------------------------

void tile_kernel(KernelContext& ctx) {
    const Tensor& x = ctx.in(0);
    const std::vector<int64_t> reps = int_input(ctx, 1);
    if (reps.size() != x.rank()) throw Error(ctx.where() + "repeats must have one value per input dimension");
    Shape shape(x.rank());
    for (size_t d = 0; d < x.rank(); ++d) {
        if (reps[d] < 0) throw Error(ctx.where() + "repeats must not be negative");
        shape[d] = x.dim(d) * reps[d];
    }
    const size_t esize = element_size(ctx, x);
    const auto strides = contiguous_strides(x.shape());
    Tensor y(x.dtype(), shape);
    std::vector<int64_t> idx(shape.size(), 0);
    for (int64_t i = 0; i < y.numel(); ++i, next_index(idx, shape)) {
        int64_t src = 0;
        for (size_t d = 0; d < shape.size(); ++d) src += (idx[d] % x.dim(d)) * strides[d];
        std::memcpy(y.data<uint8_t>() + i * static_cast<int64_t>(esize), x.data<uint8_t>() + src * static_cast<int64_t>(esize), esize);
    }
    ctx.outputs[0] = std::move(y);
}

// Keeps the slices along `axis` (or elements of the flattened input) whose condition is true.
void compress_kernel(KernelContext& ctx) {
    const Tensor& x = ctx.in(0);
    const Tensor& cond = ctx.in(1);
    if (cond.dtype() != DType::Bool || cond.rank() != 1) throw Error(ctx.where() + "condition must be a 1-D bool tensor");
    const bool flat = ctx.node.attr("axis") == nullptr;
    const Shape in_shape = flat ? Shape{x.numel()} : x.shape();
    const size_t axis = flat ? 0 : axis_attr(ctx, x.rank());
    const int64_t dim = in_shape[axis];
    std::vector<int64_t> keep;
    for (int64_t i = 0; i < std::min(dim, cond.numel()); ++i)
        if (cond.data<uint8_t>()[i]) keep.push_back(i);
    Shape shape = in_shape;
    shape[axis] = static_cast<int64_t>(keep.size());
    Tensor y(x.dtype(), shape);
    int64_t outer = 0, inner_bytes = 0;
    split_at(in_shape, axis, element_size(ctx, x), outer, inner_bytes);
    const auto n = static_cast<int64_t>(keep.size());
    for (int64_t o = 0; o < outer && inner_bytes > 0; ++o)
        for (int64_t j = 0; j < n; ++j)
            std::memcpy(y.data<uint8_t>() + (o * n + j) * inner_bytes, x.data<uint8_t>() + (o * dim + keep[static_cast<size_t>(j)]) * inner_bytes,
                        static_cast<size_t>(inner_bytes));
    ctx.outputs[0] = std::move(y);
}

// (N, C, H, W) <-> (N, C / b^2, H * b, W * b). Output channel/position (c, h * b + i, w * b + j)
// reads input channel (i * b + j) * C' + c in DCR mode (the default), c * b^2 + i * b + j in CRD.
template <bool to_space>
void depth_space_kernel(KernelContext& ctx) {
    const Tensor& x = ctx.in(0);
    if (x.rank() != 4) throw Error(ctx.where() + "input must be (N, C, H, W), got " + shape_str(x.shape()));
    const int64_t b = ctx.node.attr_int("blocksize", 0);
    if (b < 1 || b > std::max(x.dim(1), std::max(x.dim(2), x.dim(3)))) throw Error(ctx.where() + "blocksize " + std::to_string(b) + " does not fit the input");
    const bool crd = to_space && ctx.node.attr_string("mode", "DCR") == "CRD";
    const int64_t n = x.dim(0);
    // the space-side (deep = C / b^2 channels, H * b, W * b) and depth-side shapes
    const int64_t deep_c = to_space ? x.dim(1) / (b * b) : x.dim(1);
    const int64_t h = to_space ? x.dim(2) : x.dim(2) / b, w = to_space ? x.dim(3) : x.dim(3) / b;
    if ((to_space && x.dim(1) % (b * b) != 0) || (!to_space && (x.dim(2) % b != 0 || x.dim(3) % b != 0)))
        throw Error(ctx.where() + "shape " + shape_str(x.shape()) + " does not divide by blocksize " + std::to_string(b));
    const Shape space{n, deep_c, h * b, w * b}, depth{n, deep_c * b * b, h, w};
    const size_t esize = element_size(ctx, x);
    Tensor y(x.dtype(), to_space ? space : depth);
    const uint8_t* src = x.data<uint8_t>();
    uint8_t* dst = y.data<uint8_t>();
    for (int64_t in = 0; in < n; ++in)
        for (int64_t c = 0; c < deep_c; ++c)
            for (int64_t hh = 0; hh < h * b; ++hh)
                for (int64_t ww = 0; ww < w * b; ++ww) {
                    const int64_t i = hh % b, j = ww % b;
                    const int64_t dc = crd ? c * b * b + i * b + j : (i * b + j) * deep_c + c;
                    const int64_t space_at = ((in * deep_c + c) * h * b + hh) * w * b + ww;
                    const int64_t depth_at = ((in * deep_c * b * b + dc) * h + hh / b) * w + ww / b;
                    const int64_t from = to_space ? depth_at : space_at, to = to_space ? space_at : depth_at;
                    std::memcpy(dst + to * static_cast<int64_t>(esize), src + from * static_cast<int64_t>(esize), esize);
                }
    ctx.outputs[0] = std::move(y);
}

// on/off values written along a new `axis` of size depth; negative indices count from depth.
void one_hot_kernel(KernelContext& ctx) {
    const Tensor& indices = ctx.in(0);
    const Tensor& depth_t = ctx.in(1);
    const Tensor& values = ctx.in(2);
    if (depth_t.numel() != 1 || values.numel() != 2) throw Error(ctx.where() + "depth must be a scalar and values hold 2 elements");
    const auto depth = static_cast<int64_t>(depth_t.get_as_double(0));
    if (depth < 1) throw Error(ctx.where() + "depth must be positive");
    const auto rank = static_cast<int64_t>(indices.rank()) + 1;
    const auto axis = static_cast<size_t>(normalize_axis(ctx.node.attr_int("axis", -1), rank, ctx));
    Shape shape = indices.shape();
    shape.insert(shape.begin() + static_cast<std::ptrdiff_t>(axis), depth);
    const size_t esize = element_size(ctx, values);
    Tensor y(values.dtype(), shape);
    int64_t outer = 1, inner = 1;
    for (size_t d = 0; d < axis; ++d) outer *= shape[d];
    for (size_t d = axis + 1; d < shape.size(); ++d) inner *= shape[d];
    const uint8_t* off = values.data<uint8_t>();
    const uint8_t* on = off + esize;
    for (int64_t o = 0; o < outer; ++o)
        for (int64_t k = 0; k < depth; ++k)
            for (int64_t i = 0; i < inner; ++i) {
                auto v = static_cast<int64_t>(indices.get_as_double(o * inner + i));
                if (v < 0) v += depth;
                std::memcpy(y.data<uint8_t>() + ((o * depth + k) * inner + i) * static_cast<int64_t>(esize), v == k ? on : off, esize);
            }
    ctx.outputs[0] = std::move(y);
}

template <typename T>
void range_typed(KernelContext& ctx) {
    const T start = ctx.in(0).data<T>()[0], limit = ctx.in(1).data<T>()[0], delta = ctx.in(2).data<T>()[0];
    if (delta == T{0}) throw Error(ctx.where() + "delta must not be 0");
    const auto n = std::max<int64_t>(0, static_cast<int64_t>(std::ceil(static_cast<double>(limit - start) / static_cast<double>(delta))));
    Tensor y(ctx.in(0).dtype(), {n});
    for (int64_t i = 0; i < n; ++i) y.data<T>()[i] = static_cast<T>(start + static_cast<T>(i) * delta);
    ctx.outputs[0] = std::move(y);
}

void range_kernel(KernelContext& ctx) {
    const DType t = ctx.in(0).dtype();
    for (size_t i = 0; i < 3; ++i)
        if (ctx.in(i).dtype() != t || ctx.in(i).numel() != 1) throw Error(ctx.where() + "start, limit and delta must be scalars of one dtype");
    switch (t) {
        case DType::Float32: return range_typed<float>(ctx);
        case DType::Int64: return range_typed<int64_t>(ctx);
        case DType::Int32: return range_typed<int32_t>(ctx);
        default: throw Error(ctx.where() + dtype_name(t) + " inputs are not supported");
    }
}

// Reverses the first sequence_lens[b] steps along time_axis of every batch entry b.
void reverse_sequence_kernel(KernelContext& ctx) {
    const Tensor& x = ctx.in(0);
    const std::vector<int64_t> lens = int_input(ctx, 1);
    if (x.rank() < 2) throw Error(ctx.where() + "input must have rank >= 2");
    const auto batch_axis = static_cast<size_t>(ctx.node.attr_int("batch_axis", 1));
    const auto time_axis = static_cast<size_t>(ctx.node.attr_int("time_axis", 0));
    if (batch_axis > 1 || time_axis > 1 || batch_axis == time_axis) throw Error(ctx.where() + "batch_axis and time_axis must be 0 and 1");
    if (static_cast<int64_t>(lens.size()) != x.dim(batch_axis)) throw Error(ctx.where() + "sequence_lens must have one value per batch entry");
    const int64_t steps = x.dim(time_axis);
    const size_t esize = element_size(ctx, x);
    int64_t inner = 1;
    for (size_t d = 2; d < x.rank(); ++d) inner *= x.dim(d);
    const auto row = static_cast<int64_t>(esize) * inner;
    Tensor y = x;
    for (int64_t b = 0; b < x.dim(batch_axis); ++b) {
        const int64_t len = lens[static_cast<size_t>(b)];
        if (len < 0 || len > steps) throw Error(ctx.where() + "sequence length " + std::to_string(len) + " is out of range");
        for (int64_t t = 0; t < len && row > 0; ++t) {
            auto at = [&](int64_t step) { return time_axis == 0 ? step * x.dim(1) + b : b * steps + step; };
            std::memcpy(y.data<uint8_t>() + at(t) * row, x.data<uint8_t>() + at(len - 1 - t) * row, static_cast<size_t>(row));
        }
    }
    ctx.outputs[0] = std::move(y);
}

void size_kernel(KernelContext& ctx) { ctx.outputs[0] = Tensor::from_int64s({}, {ctx.in(0).numel()}); }

// ---- shapes and constants ------------------------------------------------------------------

void shape_kernel(KernelContext& ctx) {
    const Shape& s = ctx.in(0).shape();
    const auto rank = static_cast<int64_t>(s.size());
    auto clamp_dim = [rank](int64_t v) { return std::clamp<int64_t>(v < 0 ? v + rank : v, 0, rank); };
    const int64_t start = clamp_dim(ctx.node.attr_int("start", 0));
    const int64_t end = clamp_dim(ctx.node.attr_int("end", rank));
    const std::vector<int64_t> dims(s.begin() + start, s.begin() + std::max(start, end));
    ctx.outputs[0] = Tensor::from_int64s({static_cast<int64_t>(dims.size())}, dims);
}

void constant_kernel(KernelContext& ctx) {
    const ir::Node& n = ctx.node;
    if (const ir::Attribute* a = n.attr("value")) {
        ctx.outputs[0] = a->t;
    } else if (const ir::Attribute* f = n.attr("value_float")) {
        ctx.outputs[0] = Tensor::scalar_float(f->f);
    } else if (const ir::Attribute* fs = n.attr("value_floats")) {
        ctx.outputs[0] = Tensor::from_floats({static_cast<int64_t>(fs->floats.size())}, fs->floats);
    } else if (const ir::Attribute* i = n.attr("value_int")) {
        ctx.outputs[0] = Tensor::from_int64s({}, {i->i});
    } else if (const ir::Attribute* is = n.attr("value_ints")) {
        ctx.outputs[0] = Tensor::from_int64s({static_cast<int64_t>(is->ints.size())}, is->ints);
    } else {
        throw Error(ctx.where() + "only value, value_float(s) and value_int(s) constants are supported");
    }
}

void constant_of_shape_kernel(KernelContext& ctx) {
    const std::vector<int64_t> dims = int_input(ctx, 0);
    Tensor value = Tensor::scalar_float(0.0f);
    if (const ir::Attribute* a = ctx.node.attr("value")) value = a->t;
    if (value.numel() != 1) throw Error(ctx.where() + "value must hold one element");
    const size_t esize = element_size(ctx, value);
    Tensor y(value.dtype(), Shape(dims.begin(), dims.end()));
    for (int64_t i = 0; i < y.numel(); ++i)
        std::memcpy(y.data<uint8_t>() + i * static_cast<int64_t>(esize), value.data<uint8_t>(), esize);
    ctx.outputs[0] = std::move(y);
}

}  // namespace

void register_shape_ops(KernelRegistry& r) {
    r.add("Reshape", 1, 999, reshape_kernel);
    r.add("Flatten", 1, 999, flatten_kernel);
    r.add("Squeeze", 1, 999, squeeze_kernel);
    r.add("Unsqueeze", 1, 999, unsqueeze_kernel);
    r.add("Transpose", 1, 999, transpose_kernel);
    r.add("Slice", 1, 999, slice_kernel);
    r.add("Expand", 8, 999, expand_kernel);
    r.add("Concat", 1, 999, concat_kernel);
    r.add("Split", 1, 999, split_kernel);
    r.add("Gather", 1, 999, gather_kernel);
    r.add("GatherElements", 11, 999, gather_elements_kernel);
    r.add("GatherND", 11, 999, gather_nd_kernel);
    r.add("Scatter", 9, 10, scatter_elements_kernel);
    r.add("ScatterElements", 11, 999, scatter_elements_kernel);
    r.add("ScatterND", 11, 999, scatter_nd_kernel);
    r.add("Tile", 6, 999, tile_kernel);
    r.add("Compress", 9, 999, compress_kernel);
    r.add("DepthToSpace", 1, 999, depth_space_kernel<true>);
    r.add("SpaceToDepth", 1, 999, depth_space_kernel<false>);
    r.add("OneHot", 9, 999, one_hot_kernel);
    r.add("Range", 11, 999, range_kernel);
    r.add("Shape", 1, 999, shape_kernel);
    r.add("Size", 1, 999, size_kernel);
    r.add("ReverseSequence", 10, 999, reverse_sequence_kernel);
    r.add("Constant", 1, 999, constant_kernel);
    r.add("ConstantOfShape", 9, 999, constant_of_shape_kernel);
}

}  // namespace qcp::engine::kernels
