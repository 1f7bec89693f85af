// DequantizeLinear, QuantizeLinear and DynamicQuantizeLinear (uint8, per tensor); the first two with per-tensor, per-axis (opset 13+) and blocked (opset 21+)
// float32 scales; integer side int8, uint8, int16, uint16, int4, uint4 (packed two per byte, low
// nibble first), and int32 for DequantizeLinear.
//
//   DequantizeLinear: y = float(x - zero_point) * scale
//   QuantizeLinear:   y = saturate(round_half_even(x / scale) + zero_point)
#include <algorithm>
#include <cmath>

#include "kernels.hpp"
#include "qcp/core/parallel.hpp"
#include "util.hpp"

namespace qcp::engine::kernels {
namespace {

constexpr int64_t kGrain = 16384;  // elements per parallel chunk

struct IntRange {
    int32_t lo, hi;
};

bool quant_int_dtype(DType t) {
    switch (t) {
        case DType::Int8: case DType::UInt8: case DType::Int16: case DType::UInt16:
        case DType::Int4: case DType::UInt4: return true;
        default: return false;
    }
}

IntRange int_range(DType t) {
    switch (t) {
        case DType::Int8: return {-128, 127};
        case DType::UInt8: return {0, 255};
        case DType::Int16: return {-32768, 32767};
        case DType::UInt16: return {0, 65535};
        case DType::Int4: return {-8, 7};
        case DType::UInt4: return {0, 15};
        default: return {0, 0};
    }
}

// Elements [begin, begin + count) of an integer tensor as int32 (one dtype dispatch per call).
void read_row(const Tensor& t, int64_t begin, int64_t count, int32_t* out) {
    const uint8_t* b = t.bytes().data();
    switch (t.dtype()) {
        case DType::Int8: for (int64_t i = 0; i < count; ++i) out[i] = static_cast<int8_t>(b[begin + i]); break;
        case DType::UInt8: for (int64_t i = 0; i < count; ++i) out[i] = b[begin + i]; break;
        case DType::Int16: { const int16_t* p = t.data<int16_t>() + begin; std::copy(p, p + count, out); break; }
        case DType::UInt16: { const uint16_t* p = t.data<uint16_t>() + begin; std::copy(p, p + count, out); break; }
        case DType::Int32: { const int32_t* p = t.data<int32_t>() + begin; std::copy(p, p + count, out); break; }
        case DType::UInt4:
            for (int64_t i = 0; i < count; ++i) out[i] = (b[(begin + i) / 2] >> (4 * ((begin + i) % 2))) & 0xF;
            break;
        case DType::Int4:
            for (int64_t i = 0; i < count; ++i) {
                const int nib = (b[(begin + i) / 2] >> (4 * ((begin + i) % 2))) & 0xF;
                out[i] = nib >= 8 ? nib - 16 : nib;
            }
            break;
        default: break;  // dtypes are checked before any row is read
    }
}

// Stores int32 values (already saturated to t's range) in t's dtype; 4-bit types packed.
void store_ints(const std::vector<int32_t>& v, Tensor& t) {
    uint8_t* b = t.data<uint8_t>();
    const size_t n = v.size();
    switch (t.dtype()) {
        case DType::Int8: case DType::UInt8: for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(v[i]); break;
        case DType::Int16: case DType::UInt16:
            for (size_t i = 0; i < n; ++i) t.data<uint16_t>()[i] = static_cast<uint16_t>(v[i]);
            break;
        case DType::Int4: case DType::UInt4:
            for (size_t i = 0; i < n; i += 2) {
                const int32_t high = i + 1 < n ? v[i + 1] : 0;
                b[i / 2] = static_cast<uint8_t>((v[i] & 0xF) | ((high & 0xF) << 4));
            }
            break;
        default: break;
    }
}

// How scale / zero_point map onto x: x is viewed as (outer, D, inner) around `axis`; the
// parameter index of x element (o, a, i) is 0 (per tensor), a (per axis), or
// (o * blocks + a / block) * inner + i (blocked along axis).
struct QuantLayout {
    int64_t outer = 1, dim = 1, inner = 1;
    int64_t block = 0;   // 0: not blocked
    bool per_tensor = true;

    int64_t param(int64_t o, int64_t a, int64_t i) const {
        if (per_tensor) return 0;
        if (block == 0) return a;
        return (o * ((dim + block - 1) / block) + a / block) * inner + i;
    }
};

// Splits the flat element range [begin, end) into runs inside one (o, a) row and calls
// fn(k_begin, k_end, p, step): element k of a run uses parameter p + (k - k_begin) * step.
template <typename Fn>
void for_each_run(const QuantLayout& L, int64_t begin, int64_t end, Fn&& fn) {
    for (int64_t k = begin; k < end;) {
        const int64_t row = k / L.inner, i = k % L.inner;
        const int64_t stop = std::min(end, (row + 1) * L.inner);
        fn(k, stop, L.param(row / L.dim, row % L.dim, i), L.block ? 1 : 0);
        k = stop;
    }
}

QuantLayout quant_layout(const KernelContext& ctx, const Shape& x_shape, const Tensor& scale) {
    QuantLayout L;
    const int64_t block = ctx.node.attr_int("block_size", 0);
    const bool scalar_scale = scale.numel() == 1 && scale.rank() <= 1;
    if (scalar_scale && block == 0) {
        L.inner = std::max<int64_t>(1, shape_numel(x_shape));
        return L;
    }
    if (ctx.opset < 13) throw Error(ctx.where() + "scale must be a scalar before opset 13, got " + shape_str(scale.shape()));
    const int64_t rank = static_cast<int64_t>(x_shape.size());
    const size_t axis = static_cast<size_t>(normalize_axis(ctx.node.attr_int("axis", 1), rank, ctx));
    L.per_tensor = false;
    for (size_t d = 0; d < axis; ++d) L.outer *= x_shape[d];
    L.dim = x_shape[axis];
    for (size_t d = axis + 1; d < x_shape.size(); ++d) L.inner *= x_shape[d];
    if (block == 0) {
        if (scale.rank() != 1 || scale.dim(0) != L.dim)
            throw Error(ctx.where() + "per-axis scale must have shape (" + std::to_string(L.dim) + "), got " +
                        shape_str(scale.shape()));
        return L;
    }
    if (block < 0) throw Error(ctx.where() + "block_size must be positive");
    Shape want = x_shape;
    want[axis] = (L.dim + block - 1) / block;
    if (scale.shape() != want)
        throw Error(ctx.where() + "blocked scale must have shape " + shape_str(want) + ", got " + shape_str(scale.shape()));
    L.block = block;
    return L;
}

const Tensor* zero_point_of(const KernelContext& ctx, const Tensor& scale) {
    if (!ctx.has_input(2)) return nullptr;
    const Tensor& zp = ctx.in(2);
    if (zp.shape() != scale.shape() && !(zp.numel() == 1 && scale.numel() == 1))
        throw Error(ctx.where() + "zero_point shape " + shape_str(zp.shape()) + " differs from scale shape " +
                    shape_str(scale.shape()));
    return &zp;
}

void dequantize_linear(KernelContext& ctx) {
    const Tensor& x = ctx.in(0);
    const Tensor& scale = float_input(ctx, 1);
    if (!quant_int_dtype(x.dtype()) && x.dtype() != DType::Int32)
        throw Error(ctx.where() + "unsupported input type " + dtype_name(x.dtype()));
    const Tensor* zp = zero_point_of(ctx, scale);
    if (zp && zp->dtype() != x.dtype())
        throw Error(ctx.where() + "zero_point type " + dtype_name(zp->dtype()) + " differs from input type " +
                    dtype_name(x.dtype()));
    const int64_t out_type = ctx.node.attr_int("output_dtype", 0);
    if (out_type != 0 && out_type != static_cast<int64_t>(DType::Float32))
        throw Error(ctx.where() + "only float32 output is supported");
    const QuantLayout L = quant_layout(ctx, x.shape(), scale);
    std::vector<int32_t> zero(static_cast<size_t>(scale.numel()), 0);
    if (zp) read_row(*zp, 0, zp->numel(), zero.data());
    const float* s = scale.data<float>();

    ctx.outputs[0] = Tensor(DType::Float32, x.shape());
    float* y = ctx.outputs[0].data<float>();
    parallel_for(x.numel(), kGrain, [&](int64_t begin, int64_t end) {
        std::vector<int32_t> q(static_cast<size_t>(end - begin));
        read_row(x, begin, end - begin, q.data());
        for_each_run(L, begin, end, [&](int64_t k0, int64_t k1, int64_t p, int64_t step) {
            for (int64_t k = k0; k < k1; ++k, p += step)
                y[k] = static_cast<float>(static_cast<int64_t>(q[k - begin]) - zero[p]) * s[p];
        });
    });
}

void quantize_linear(KernelContext& ctx) {
    const Tensor& x = float_input(ctx, 0);
    const Tensor& scale = float_input(ctx, 1);
    const Tensor* zp = zero_point_of(ctx, scale);
    DType out_type = DType::UInt8;
    if (zp) {
        out_type = zp->dtype();
    } else if (const int64_t t = ctx.node.attr_int("output_dtype", 0); t != 0) {
        out_type = static_cast<DType>(t);
    }
    if (!quant_int_dtype(out_type))
        throw Error(ctx.where() + "unsupported output type " + (dtype_known(static_cast<int32_t>(out_type))
                                                                    ? std::string(dtype_name(out_type))
                                                                    : std::to_string(static_cast<int>(out_type))));
    const IntRange range = int_range(out_type);
    const QuantLayout L = quant_layout(ctx, x.shape(), scale);
    std::vector<int32_t> zero(static_cast<size_t>(scale.numel()), 0);
    if (zp) read_row(*zp, 0, zp->numel(), zero.data());
    const float* s = scale.data<float>();
    const float lo = static_cast<float>(range.lo), hi = static_cast<float>(range.hi);

    const float* xd = x.data<float>();
    std::vector<int32_t> q(static_cast<size_t>(x.numel()));
    parallel_for(x.numel(), kGrain, [&](int64_t begin, int64_t end) {
        for_each_run(L, begin, end, [&](int64_t k0, int64_t k1, int64_t p, int64_t step) {
            for (int64_t k = k0; k < k1; ++k, p += step) {
                // nearbyint rounds half to even in the default rounding mode
                const float v = std::nearbyint(xd[k] / s[p]) + static_cast<float>(zero[p]);
                q[k] = static_cast<int32_t>(v > lo ? (v < hi ? v : hi) : lo);  // NaN saturates low
            }
        });
    });
    Tensor y(out_type, x.shape());
    store_ints(q, y);
    ctx.outputs[0] = std::move(y);
}

// uint8 codes with scale and zero point from the input's range (extended to include 0):
// scale = (max - min) / 255, zero_point = saturate(round(-min / scale)), both rounding half to even.
void dynamic_quantize_linear(KernelContext& ctx) {
    const Tensor& x = float_input(ctx, 0);
    const float* xd = x.data<float>();
    float lo = 0.0f, hi = 0.0f;
    for (int64_t i = 0; i < x.numel(); ++i) lo = std::min(lo, xd[i]), hi = std::max(hi, xd[i]);
    const float scale = (hi - lo) / 255.0f;
    const float zp = scale == 0.0f ? 0.0f : std::clamp(std::nearbyint(-lo / scale), 0.0f, 255.0f);
    Tensor y(DType::UInt8, x.shape());
    for (int64_t i = 0; i < x.numel() && scale != 0.0f; ++i)
        y.data<uint8_t>()[i] = static_cast<uint8_t>(std::clamp(std::nearbyint(xd[i] / scale) + zp, 0.0f, 255.0f));
    ctx.outputs[0] = std::move(y);
    if (ctx.outputs.size() > 1) ctx.outputs[1] = Tensor::scalar_float(scale);
    if (ctx.outputs.size() > 2) {
        Tensor z(DType::UInt8, {});
        z.data<uint8_t>()[0] = static_cast<uint8_t>(zp);
        ctx.outputs[2] = std::move(z);
    }
}

}  // namespace

void register_quant(KernelRegistry& r) {
    r.add("DequantizeLinear", 10, 999, dequantize_linear);
    r.add("QuantizeLinear", 10, 999, quantize_linear);
    r.add("DynamicQuantizeLinear", 11, 999, dynamic_quantize_linear);
}

}  // namespace qcp::engine::kernels
