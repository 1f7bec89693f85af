#include "util.hpp"

namespace qcp::engine::kernels {

Shape broadcast_shapes(const Shape& a, const Shape& b, const KernelContext& ctx) {
    const size_t rank = std::max(a.size(), b.size());
    Shape out(rank);
    for (size_t i = 0; i < rank; ++i) {
        const int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
        const int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
        if (da != db && da != 1 && db != 1)
            throw Error(ctx.where() + "shapes " + shape_str(a) + " and " + shape_str(b) + " do not broadcast");
        out[i] = da == 1 ? db : da;
    }
    return out;
}

std::vector<int64_t> broadcast_strides(const Shape& shape, const Shape& out_shape) {
    const size_t rank = out_shape.size();
    std::vector<int64_t> strides(rank, 0);
    int64_t stride = 1;
    for (size_t i = shape.size(); i-- > 0;) {
        const size_t o = i + (rank - shape.size());
        strides[o] = shape[i] == 1 ? 0 : stride;
        stride *= shape[i];
    }
    return strides;
}

int64_t normalize_axis(int64_t axis, int64_t rank, const KernelContext& ctx) {
    if (axis < -rank || axis >= std::max<int64_t>(rank, 1))
        throw Error(ctx.where() + "axis " + std::to_string(axis) + " out of range for rank " + std::to_string(rank));
    return axis < 0 ? axis + rank : axis;
}

const Tensor& float_input(const KernelContext& ctx, size_t i) {
    const Tensor& t = ctx.in(i);
    if (t.dtype() != DType::Float32)
        throw Error(ctx.where() + "input " + std::to_string(i) + " is " + dtype_name(t.dtype()) + ", expected float");
    return t;
}

}  // namespace qcp::engine::kernels
