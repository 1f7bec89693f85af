// Elementwise kernels: binary arithmetic (with Mod) and comparisons with numpy broadcasting, unary math
// (trigonometric, rounding, Sign, IsNaN/IsInf), activations, Clip, Identity/Dropout, Not/And/Or/Xor,
// variadic Max/Min/Sum/Mean, Where and Cast.
//
// Binary ops walk the output as rows of its innermost dimension after merging every run of
// dimensions that both inputs traverse alike, so same-shape, scalar and per-channel broadcasts
// all become long contiguous rows with at most one input held constant along a row.
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "activation_math.hpp"
#include "kernels.hpp"
#include "qcp/core/parallel.hpp"
#include "util.hpp"

namespace qcp::engine::kernels {
namespace {

constexpr int64_t kGrain = 1 << 14;  // elements per parallel chunk

// ---- broadcasting --------------------------------------------------------------------------

// Output dims with size-1 dims dropped and mergeable neighbours fused; strides 0 where an
// input is broadcast. Never empty: a scalar output is one dim of size 1.
struct BroadcastLayout {
    Shape dims;
    std::vector<int64_t> sa, sb;
};

BroadcastLayout broadcast_layout(const Shape& a, const Shape& b, const Shape& out) {
    const auto fa = broadcast_strides(a, out);
    const auto fb = broadcast_strides(b, out);
    BroadcastLayout l;
    for (size_t d = 0; d < out.size(); ++d) {
        if (out[d] == 1) continue;
        if (!l.dims.empty() && l.sa.back() == fa[d] * out[d] && l.sb.back() == fb[d] * out[d]) {
            l.dims.back() *= out[d];
            l.sa.back() = fa[d];
            l.sb.back() = fb[d];
            continue;
        }
        l.dims.push_back(out[d]);
        l.sa.push_back(fa[d]);
        l.sb.push_back(fb[d]);
    }
    if (l.dims.empty()) l = {{1}, {0}, {0}};
    return l;
}

// y[i] = f(a[..], b[..]) over the broadcast output of `n` elements.
template <typename A, typename B, typename Y, typename F>
void broadcast_apply(const A* a, const B* b, Y* y, const BroadcastLayout& l, int64_t n, F f) {
    const size_t rank = l.dims.size();
    const int64_t inner = l.dims.back();
    const int64_t ia = l.sa.back(), ib = l.sb.back();
    parallel_for(n, kGrain, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end;) {
            int64_t row = i / inner;
            const int64_t col = i % inner;
            int64_t oa = col * ia, ob = col * ib;
            for (size_t d = rank - 1; d-- > 0;) {
                const int64_t k = row % l.dims[d];
                row /= l.dims[d];
                oa += k * l.sa[d];
                ob += k * l.sb[d];
            }
            const int64_t len = std::min(inner - col, end - i);
            const A* pa = a + oa;
            const B* pb = b + ob;
            Y* py = y + i;
            if (ia != 0 && ib != 0) {
                for (int64_t k = 0; k < len; ++k) py[k] = f(pa[k], pb[k]);
            } else if (ia != 0) {
                const B s = *pb;
                for (int64_t k = 0; k < len; ++k) py[k] = f(pa[k], s);
            } else if (ib != 0) {
                const A s = *pa;
                for (int64_t k = 0; k < len; ++k) py[k] = f(s, pb[k]);
            } else {
                for (int64_t k = 0; k < len; ++k) py[k] = f(*pa, *pb);
            }
            i += len;
        }
    });
}

// ---- binary ops ----------------------------------------------------------------------------

enum class Bin { Add, Sub, Mul, Div, Equal, Less, Greater, LessOrEqual, GreaterOrEqual };

constexpr bool is_comparison(Bin op) { return op >= Bin::Equal; }

template <Bin op, typename T>
auto bin_apply(T x, T y) {
    if constexpr (op == Bin::Add) return static_cast<T>(x + y);
    if constexpr (op == Bin::Sub) return static_cast<T>(x - y);
    if constexpr (op == Bin::Mul) return static_cast<T>(x * y);
    if constexpr (op == Bin::Div) return static_cast<T>(x / y);  // integers truncate toward zero, as ORT
    if constexpr (op == Bin::Equal) return static_cast<uint8_t>(x == y);
    if constexpr (op == Bin::Less) return static_cast<uint8_t>(x < y);
    if constexpr (op == Bin::Greater) return static_cast<uint8_t>(x > y);
    if constexpr (op == Bin::LessOrEqual) return static_cast<uint8_t>(x <= y);
    if constexpr (op == Bin::GreaterOrEqual) return static_cast<uint8_t>(x >= y);
}

template <Bin op, typename T>
void run_binary(KernelContext& ctx, const Tensor& a, const Tensor& b) {
    if constexpr (op == Bin::Div && std::is_integral_v<T>) {
        const T* pb = b.data<T>();
        if (std::any_of(pb, pb + b.numel(), [](T v) { return v == 0; }))
            throw Error(ctx.where() + "integer division by zero");
    }
    const Shape shape = broadcast_shapes(a.shape(), b.shape(), ctx);
    Tensor y = Tensor::uninitialized(is_comparison(op) ? DType::Bool : a.dtype(), shape);
    using Y = decltype(bin_apply<op, T>(T{}, T{}));
    broadcast_apply(a.data<T>(), b.data<T>(), y.data<Y>(), broadcast_layout(a.shape(), b.shape(), shape), y.numel(),
                    [](T u, T v) { return bin_apply<op, T>(u, v); });
    ctx.outputs[0] = std::move(y);
}

template <Bin op>
void binary_kernel(KernelContext& ctx) {
    const Tensor& a = ctx.in(0);
    const Tensor& b = ctx.in(1);
    if (a.dtype() != b.dtype())
        throw Error(ctx.where() + "inputs are " + dtype_name(a.dtype()) + " and " + dtype_name(b.dtype()));
    switch (a.dtype()) {
        case DType::Float32: return run_binary<op, float>(ctx, a, b);
        case DType::Int64: return run_binary<op, int64_t>(ctx, a, b);
        case DType::Int32: return run_binary<op, int32_t>(ctx, a, b);
        case DType::Bool:
            if constexpr (op == Bin::Equal) return run_binary<op, uint8_t>(ctx, a, b);
            break;
        default: break;
    }
    throw Error(ctx.where() + dtype_name(a.dtype()) + " inputs are not supported");
}

// Mod: the remainder with the divisor's sign (fmod = 0, Python's %, integers only) or the
// dividend's (fmod = 1, C's fmod), as ONNX and ORT define it.
template <typename T>
void run_mod(KernelContext& ctx, const Tensor& a, const Tensor& b, bool c_fmod) {
    if constexpr (std::is_integral_v<T>) {
        const T* pb = b.data<T>();
        if (std::any_of(pb, pb + b.numel(), [](T v) { return v == 0; })) throw Error(ctx.where() + "integer modulo by zero");
    }
    const Shape shape = broadcast_shapes(a.shape(), b.shape(), ctx);
    Tensor y = Tensor::uninitialized(a.dtype(), shape);
    broadcast_apply(a.data<T>(), b.data<T>(), y.data<T>(), broadcast_layout(a.shape(), b.shape(), shape), y.numel(), [c_fmod](T u, T v) {
        if constexpr (std::is_floating_point_v<T>) {
            return static_cast<T>(std::fmod(u, v));
        } else {
            const T r = static_cast<T>(u % v);
            return !c_fmod && r != 0 && ((r < 0) != (v < 0)) ? static_cast<T>(r + v) : r;
        }
    });
    ctx.outputs[0] = std::move(y);
}

void mod_kernel(KernelContext& ctx) {
    const Tensor& a = ctx.in(0);
    const Tensor& b = ctx.in(1);
    if (a.dtype() != b.dtype())
        throw Error(ctx.where() + "inputs are " + dtype_name(a.dtype()) + " and " + dtype_name(b.dtype()));
    const bool c_fmod = ctx.node.attr_int("fmod", 0) != 0;
    switch (a.dtype()) {
        case DType::Float32:
            if (!c_fmod) throw Error(ctx.where() + "float inputs need fmod=1");
            return run_mod<float>(ctx, a, b, true);
        case DType::Int64: return run_mod<int64_t>(ctx, a, b, c_fmod);
        case DType::Int32: return run_mod<int32_t>(ctx, a, b, c_fmod);
        default: break;
    }
    throw Error(ctx.where() + dtype_name(a.dtype()) + " inputs are not supported");
}

// Integer base (opset 12+ allows it): computed in double and converted back to the base's type.
template <typename T>
void pow_integer_base(KernelContext& ctx, const Tensor& x, const Tensor& e) {
    const Tensor ed = e.dtype() == DType::Float32 ? e : e.to_float32();
    const Shape shape = broadcast_shapes(x.shape(), ed.shape(), ctx);
    Tensor y(x.dtype(), shape);
    broadcast_apply(x.data<T>(), ed.data<float>(), y.data<T>(), broadcast_layout(x.shape(), ed.shape(), shape), y.numel(),
                    [](T u, float v) { return static_cast<T>(std::pow(static_cast<double>(u), static_cast<double>(v))); });
    ctx.outputs[0] = std::move(y);
}

// Float base; the exponent may be float or integer. Scalar exponents 2 and 3 multiply, as ORT does.
void pow_kernel(KernelContext& ctx) {
    if (ctx.in(0).dtype() == DType::Int64) return pow_integer_base<int64_t>(ctx, ctx.in(0), ctx.in(1));
    if (ctx.in(0).dtype() == DType::Int32) return pow_integer_base<int32_t>(ctx, ctx.in(0), ctx.in(1));
    const Tensor& x = float_input(ctx, 0);
    const Tensor e = ctx.in(1).to_float32();
    const Shape shape = broadcast_shapes(x.shape(), e.shape(), ctx);
    Tensor y(DType::Float32, shape);
    const auto layout = broadcast_layout(x.shape(), e.shape(), shape);
    const float* px = x.data<float>();
    const float* pe = e.data<float>();
    if (e.numel() == 1 && pe[0] == 2.0f) {
        broadcast_apply(px, pe, y.data<float>(), layout, y.numel(), [](float u, float) { return u * u; });
    } else if (e.numel() == 1 && pe[0] == 3.0f) {
        broadcast_apply(px, pe, y.data<float>(), layout, y.numel(), [](float u, float) { return u * u * u; });
    } else {
        broadcast_apply(px, pe, y.data<float>(), layout, y.numel(), [](float u, float v) { return std::pow(u, v); });
    }
    ctx.outputs[0] = std::move(y);
}

// The slope broadcasts to X's shape (unidirectionally).
void prelu_kernel(KernelContext& ctx) {
    const Tensor& x = float_input(ctx, 0);
    const Tensor& slope = float_input(ctx, 1);
    const Shape shape = broadcast_shapes(x.shape(), slope.shape(), ctx);
    if (shape != x.shape())
        throw Error(ctx.where() + "slope " + shape_str(slope.shape()) + " does not broadcast to " + shape_str(x.shape()));
    Tensor y(DType::Float32, shape);
    broadcast_apply(x.data<float>(), slope.data<float>(), y.data<float>(), broadcast_layout(x.shape(), slope.shape(), shape),
                    y.numel(), [](float v, float s) { return v < 0.0f ? v * s : v; });
    ctx.outputs[0] = std::move(y);
}

// ---- unary ops -----------------------------------------------------------------------------

template <typename T, typename F>
Tensor map_typed(const Tensor& x, F f) {
    Tensor y = Tensor::uninitialized(x.dtype(), x.shape());
    const T* px = x.data<T>();
    T* py = y.data<T>();
    parallel_for(x.numel(), kGrain, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) py[i] = f(px[i]);
    });
    return y;
}

template <typename F>
void map_float(KernelContext& ctx, F f) {
    ctx.outputs[0] = map_typed<float>(float_input(ctx, 0), f);
}

// Neg and Abs also take int32/int64.
template <bool negate>
void sign_kernel(KernelContext& ctx) {
    const Tensor& x = ctx.in(0);
    auto f = [](auto v) { return negate ? -v : (v < 0 ? -v : v); };
    switch (x.dtype()) {
        case DType::Float32: ctx.outputs[0] = map_typed<float>(x, f); return;
        case DType::Int64: ctx.outputs[0] = map_typed<int64_t>(x, f); return;
        case DType::Int32: ctx.outputs[0] = map_typed<int32_t>(x, f); return;
        default: throw Error(ctx.where() + dtype_name(x.dtype()) + " input is not supported");
    }
}

void sqrt_kernel(KernelContext& ctx) { map_float(ctx, [](float v) { return std::sqrt(v); }); }
void exp_kernel(KernelContext& ctx) { map_float(ctx, [](float v) { return std::exp(v); }); }
void log_kernel(KernelContext& ctx) { map_float(ctx, [](float v) { return std::log(v); }); }
void erf_kernel(KernelContext& ctx) { map_float(ctx, [](float v) { return std::erf(v); }); }
void tanh_kernel(KernelContext& ctx) { map_float(ctx, [](float v) { return std::tanh(v); }); }
void relu_kernel(KernelContext& ctx) { map_float(ctx, relu_value); }
void sigmoid_kernel(KernelContext& ctx) { map_float(ctx, sigmoid_value); }

void leaky_relu_kernel(KernelContext& ctx) {
    const float alpha = ctx.node.attr_float("alpha", 0.01f);
    map_float(ctx, [alpha](float v) { return leaky_relu_value(v, alpha); });
}

void hard_sigmoid_kernel(KernelContext& ctx) {
    const float alpha = ctx.node.attr_float("alpha", 0.2f);
    const float beta = ctx.node.attr_float("beta", 0.5f);
    map_float(ctx, [alpha, beta](float v) { return hard_sigmoid_value(v, alpha, beta); });
}

void hard_swish_kernel(KernelContext& ctx) {
    map_float(ctx, hard_swish_value);
}

// Before opset 11 the bounds are attributes; from 11 optional scalar inputs (absent = unbounded).
template <typename T>
void clip_typed(KernelContext& ctx, const Tensor& x) {
    T lo = std::numeric_limits<T>::lowest(), hi = std::numeric_limits<T>::max();
    auto bound = [&](size_t i, T& v) {
        if (!ctx.has_input(i)) return;
        const Tensor& t = ctx.in(i);
        if (t.dtype() != x.dtype() || t.numel() != 1)
            throw Error(ctx.where() + "bound " + std::to_string(i) + " must be a single " + dtype_name(x.dtype()));
        v = t.data<T>()[0];
    };
    if (ctx.opset < 11) {
        lo = static_cast<T>(ctx.node.attr_float("min", -FLT_MAX));
        hi = static_cast<T>(ctx.node.attr_float("max", FLT_MAX));
    } else {
        bound(1, lo);
        bound(2, hi);
    }
    ctx.outputs[0] = map_typed<T>(x, [lo, hi](T v) { return clip_value(v, lo, hi); });
}

void clip_kernel(KernelContext& ctx) {
    const Tensor& x = ctx.in(0);
    if (ctx.opset < 11 && x.dtype() != DType::Float32) throw Error(ctx.where() + "input must be float before opset 11");
    switch (x.dtype()) {
        case DType::Float32: return clip_typed<float>(ctx, x);
        case DType::Int64: return clip_typed<int64_t>(ctx, x);
        case DType::Int32: return clip_typed<int32_t>(ctx, x);
        default: throw Error(ctx.where() + dtype_name(x.dtype()) + " input is not supported");
    }
}

// ---- more unary math and activations --------------------------------------------------------

void sin_kernel(KernelContext& ctx) { map_float(ctx, [](float v) { return std::sin(v); }); }
void cos_kernel(KernelContext& ctx) { map_float(ctx, [](float v) { return std::cos(v); }); }
void tan_kernel(KernelContext& ctx) { map_float(ctx, [](float v) { return std::tan(v); }); }
void asin_kernel(KernelContext& ctx) { map_float(ctx, [](float v) { return std::asin(v); }); }
void acos_kernel(KernelContext& ctx) { map_float(ctx, [](float v) { return std::acos(v); }); }
void atan_kernel(KernelContext& ctx) { map_float(ctx, [](float v) { return std::atan(v); }); }
void sinh_kernel(KernelContext& ctx) { map_float(ctx, [](float v) { return std::sinh(v); }); }
void cosh_kernel(KernelContext& ctx) { map_float(ctx, [](float v) { return std::cosh(v); }); }
void asinh_kernel(KernelContext& ctx) { map_float(ctx, [](float v) { return std::asinh(v); }); }
void acosh_kernel(KernelContext& ctx) { map_float(ctx, [](float v) { return std::acosh(v); }); }
void atanh_kernel(KernelContext& ctx) { map_float(ctx, [](float v) { return std::atanh(v); }); }
void floor_kernel(KernelContext& ctx) { map_float(ctx, [](float v) { return std::floor(v); }); }
void ceil_kernel(KernelContext& ctx) { map_float(ctx, [](float v) { return std::ceil(v); }); }
// halves to even, as ONNX specifies (and numpy.round does); nearbyint uses the default mode
void round_kernel(KernelContext& ctx) { map_float(ctx, [](float v) { return std::nearbyint(v); }); }
void reciprocal_kernel(KernelContext& ctx) { map_float(ctx, [](float v) { return 1.0f / v; }); }
void softsign_kernel(KernelContext& ctx) { map_float(ctx, [](float v) { return v / (1.0f + std::fabs(v)); }); }
// log(1 + e^v) without overflow for large v
void softplus_kernel(KernelContext& ctx) {
    map_float(ctx, [](float v) { return v > 0.0f ? v + std::log1p(std::exp(-v)) : std::log1p(std::exp(v)); });
}

void elu_kernel(KernelContext& ctx) {
    const float alpha = ctx.node.attr_float("alpha", 1.0f);
    map_float(ctx, [alpha](float v) { return v < 0.0f ? alpha * std::expm1(v) : v; });
}

void selu_kernel(KernelContext& ctx) {
    const float alpha = ctx.node.attr_float("alpha", 1.67326319217681884765625f);
    const float gamma = ctx.node.attr_float("gamma", 1.05070102214813232421875f);
    map_float(ctx, [alpha, gamma](float v) { return v > 0.0f ? gamma * v : gamma * alpha * std::expm1(v); });
}

void celu_kernel(KernelContext& ctx) {
    const float alpha = ctx.node.attr_float("alpha", 1.0f);
    if (alpha == 0.0f) throw Error(ctx.where() + "alpha must not be 0");
    map_float(ctx, [alpha](float v) { return std::max(0.0f, v) + std::min(0.0f, alpha * std::expm1(v / alpha)); });
}

void thresholded_relu_kernel(KernelContext& ctx) {
    const float alpha = ctx.node.attr_float("alpha", 1.0f);
    map_float(ctx, [alpha](float v) { return v > alpha ? v : 0.0f; });
}

void shrink_kernel(KernelContext& ctx) {
    const float lambd = ctx.node.attr_float("lambd", 0.5f);
    const float bias = ctx.node.attr_float("bias", 0.0f);
    map_float(ctx, [lambd, bias](float v) { return v < -lambd ? v + bias : (v > lambd ? v - bias : 0.0f); });
}

void sign_of_kernel(KernelContext& ctx) {
    const Tensor& x = ctx.in(0);
    auto f = [](auto v) { return static_cast<decltype(v)>((v > 0) - (v < 0)); };
    switch (x.dtype()) {
        case DType::Float32: ctx.outputs[0] = map_typed<float>(x, f); return;
        case DType::Int64: ctx.outputs[0] = map_typed<int64_t>(x, f); return;
        case DType::Int32: ctx.outputs[0] = map_typed<int32_t>(x, f); return;
        default: throw Error(ctx.where() + dtype_name(x.dtype()) + " input is not supported");
    }
}

template <typename F>
void float_predicate(KernelContext& ctx, F f) {
    const Tensor& x = float_input(ctx, 0);
    Tensor y = Tensor::uninitialized(DType::Bool, x.shape());
    const float* px = x.data<float>();
    uint8_t* py = y.data<uint8_t>();
    for (int64_t i = 0; i < x.numel(); ++i) py[i] = f(px[i]) ? 1 : 0;
    ctx.outputs[0] = std::move(y);
}

void isnan_kernel(KernelContext& ctx) { float_predicate(ctx, [](float v) { return std::isnan(v); }); }

void isinf_kernel(KernelContext& ctx) {
    const bool neg = ctx.node.attr_int("detect_negative", 1) != 0;
    const bool pos = ctx.node.attr_int("detect_positive", 1) != 0;
    float_predicate(ctx, [neg, pos](float v) { return std::isinf(v) && (v > 0 ? pos : neg); });
}

// ---- And, Or, Xor (bool, broadcasting) ---------------------------------------------------------

template <int op>  // 0 And, 1 Or, 2 Xor
void logical_kernel(KernelContext& ctx) {
    const Tensor& a = ctx.in(0);
    const Tensor& b = ctx.in(1);
    if (a.dtype() != DType::Bool || b.dtype() != DType::Bool) throw Error(ctx.where() + "inputs must be bool");
    const Shape shape = broadcast_shapes(a.shape(), b.shape(), ctx);
    Tensor y = Tensor::uninitialized(DType::Bool, shape);
    broadcast_apply(a.data<uint8_t>(), b.data<uint8_t>(), y.data<uint8_t>(), broadcast_layout(a.shape(), b.shape(), shape),
                    y.numel(), [](uint8_t u, uint8_t v) {
                        const bool x = u != 0, z = v != 0;
                        return static_cast<uint8_t>(op == 0 ? (x && z) : op == 1 ? (x || z) : (x != z));
                    });
    ctx.outputs[0] = std::move(y);
}

// ---- Max, Min, Sum, Mean: any number of inputs, multidirectional broadcasting -----------------
// Folded left to right, ((x0 op x1) op x2) ..., as ONNX's reference does; Mean divides the sum.

enum class Vari { Max, Min, Sum, Mean };

template <Vari op, typename T>
void variadic_typed(KernelContext& ctx) {
    Tensor acc = ctx.in(0);
    for (size_t i = 1; i < ctx.inputs.size(); ++i) {
        const Tensor& b = ctx.in(i);
        if (b.dtype() != acc.dtype())
            throw Error(ctx.where() + "inputs are " + dtype_name(acc.dtype()) + " and " + dtype_name(b.dtype()));
        const Shape shape = broadcast_shapes(acc.shape(), b.shape(), ctx);
        Tensor y = Tensor::uninitialized(acc.dtype(), shape);
        broadcast_apply(acc.data<T>(), b.data<T>(), y.data<T>(), broadcast_layout(acc.shape(), b.shape(), shape), y.numel(),
                        [](T u, T v) {
                            if constexpr (op == Vari::Max) return std::isnan(static_cast<double>(u)) || u > v ? u : v;
                            else if constexpr (op == Vari::Min) return std::isnan(static_cast<double>(u)) || u < v ? u : v;
                            else return static_cast<T>(u + v);
                        });
        acc = std::move(y);
    }
    if constexpr (op == Vari::Mean) {
        const T n = static_cast<T>(ctx.inputs.size());
        T* p = acc.data<T>();
        for (int64_t i = 0; i < acc.numel(); ++i) p[i] = static_cast<T>(p[i] / n);
    }
    ctx.outputs[0] = std::move(acc);
}

template <Vari op>
void variadic_kernel(KernelContext& ctx) {
    if (ctx.inputs.empty()) throw Error(ctx.where() + "needs at least one input");
    switch (ctx.in(0).dtype()) {
        case DType::Float32: return variadic_typed<op, float>(ctx);
        case DType::Int64:
            if constexpr (op != Vari::Mean) return variadic_typed<op, int64_t>(ctx);
            break;
        case DType::Int32:
            if constexpr (op != Vari::Mean) return variadic_typed<op, int32_t>(ctx);
            break;
        default: break;
    }
    throw Error(ctx.where() + dtype_name(ctx.in(0).dtype()) + " inputs are not supported");
}

void identity_kernel(KernelContext& ctx) { ctx.outputs[0] = ctx.in(0); }

// Inference only. ORT fills the optional mask with zeros up to opset 11 (where it is typed like
// X before opset 10) and with true from opset 12.
void dropout_kernel(KernelContext& ctx) {
    const Tensor& x = ctx.in(0);
    const bool training = ctx.opset >= 12 && ctx.has_input(2) && ctx.in(2).get_as_double(0) != 0.0;
    const bool ratio_zero = ctx.has_input(1) && ctx.in(1).get_as_double(0) == 0.0;
    if (training && !ratio_zero) throw Error(ctx.where() + "training_mode is not supported");
    ctx.outputs[0] = x;
    if (ctx.outputs.size() > 1 && !ctx.node.outputs[1].empty()) {
        Tensor mask(ctx.opset >= 10 ? DType::Bool : x.dtype(), x.shape());
        if (ctx.opset >= 12) std::fill(mask.data<uint8_t>(), mask.data<uint8_t>() + mask.numel(), uint8_t{1});
        ctx.outputs[1] = std::move(mask);
    }
}

void not_kernel(KernelContext& ctx) {
    const Tensor& x = ctx.in(0);
    if (x.dtype() != DType::Bool) throw Error(ctx.where() + "input must be bool");
    ctx.outputs[0] = map_typed<uint8_t>(x, [](uint8_t v) { return static_cast<uint8_t>(!v); });
}

// Three-way broadcast; copies whole elements, so any fixed-size dtype works.
void where_kernel(KernelContext& ctx) {
    const Tensor& c = ctx.in(0);
    const Tensor& x = ctx.in(1);
    const Tensor& y = ctx.in(2);
    if (c.dtype() != DType::Bool) throw Error(ctx.where() + "condition must be bool");
    if (x.dtype() != y.dtype() || dtype_traits(x.dtype()).bits < 8)
        throw Error(ctx.where() + "inputs are " + dtype_name(x.dtype()) + " and " + dtype_name(y.dtype()));
    const Shape shape = broadcast_shapes(broadcast_shapes(c.shape(), x.shape(), ctx), y.shape(), ctx);
    const auto sc = broadcast_strides(c.shape(), shape);
    const auto sx = broadcast_strides(x.shape(), shape);
    const auto sy = broadcast_strides(y.shape(), shape);
    Tensor out(x.dtype(), shape);
    const size_t esize = dtype_bytes(x.dtype(), 1);
    const uint8_t* pc = c.data<uint8_t>();
    uint8_t* po = out.data<uint8_t>();
    std::vector<int64_t> idx(shape.size(), 0);
    int64_t oc = 0, ox = 0, oy = 0;
    for (int64_t i = 0; i < out.numel(); ++i) {
        const uint8_t* src = pc[oc] ? x.data<uint8_t>() + ox * esize : y.data<uint8_t>() + oy * esize;
        std::memcpy(po + i * esize, src, esize);
        for (size_t d = shape.size(); d-- > 0;) {  // odometer step, carrying offsets along
            oc += sc[d], ox += sx[d], oy += sy[d];
            if (++idx[d] < shape[d]) break;
            oc -= sc[d] * shape[d], ox -= sx[d] * shape[d], oy -= sy[d] * shape[d];
            idx[d] = 0;
        }
    }
    ctx.outputs[0] = std::move(out);
}

// ---- Cast ----------------------------------------------------------------------------------
// From int4/uint4 too (opset 21, the packed weight format's 4-bit codes); not to them.

// Storage types that need a conversion step; everything else converts with static_cast, so
// float -> integer truncates toward zero as in ORT.
struct Half { uint16_t bits; };
struct BFloat { uint16_t bits; };
struct Bool { uint8_t v; };

float value_of(Half h) { return half_to_float(h.bits); }
float value_of(BFloat b) { return bfloat16_to_float(b.bits); }
uint8_t value_of(Bool b) { return b.v != 0; }
template <typename T> T value_of(T v) { return v; }

template <typename D, typename V>
D convert(V v) {
    if constexpr (std::is_same_v<D, Half>) return Half{float_to_half(static_cast<float>(v))};
    else if constexpr (std::is_same_v<D, BFloat>) return BFloat{float_to_bfloat16(static_cast<float>(v))};
    else if constexpr (std::is_same_v<D, Bool>) return Bool{static_cast<uint8_t>(v != V{0})};
    else return static_cast<D>(v);
}

// Calls f(T{}) with the storage type of `t`; false for dtypes Cast does not handle.
template <typename F>
bool with_cast_type(DType t, F f) {
    switch (t) {
        case DType::Float32: f(float{}); return true;
        case DType::Float64: f(double{}); return true;
        case DType::Float16: f(Half{}); return true;
        case DType::BFloat16: f(BFloat{}); return true;
        case DType::Int8: f(int8_t{}); return true;
        case DType::UInt8: f(uint8_t{}); return true;
        case DType::Int16: f(int16_t{}); return true;
        case DType::UInt16: f(uint16_t{}); return true;
        case DType::Int32: f(int32_t{}); return true;
        case DType::UInt32: f(uint32_t{}); return true;
        case DType::Int64: f(int64_t{}); return true;
        case DType::UInt64: f(uint64_t{}); return true;
        case DType::Bool: f(Bool{}); return true;
        default: return false;
    }
}

// int4/uint4 (two a byte, low nibble first; opset 21) widened to int8/uint8, the values unchanged.
Tensor widen_4bit(const Tensor& x) {
    const bool is_signed = x.dtype() == DType::Int4;
    Tensor y(is_signed ? DType::Int8 : DType::UInt8, x.shape());
    const uint8_t* src = x.data<uint8_t>();
    uint8_t* dst = y.data<uint8_t>();
    for (int64_t i = 0; i < x.numel(); ++i) {
        const int nib = (src[i / 2] >> (4 * (i % 2))) & 0xF;
        dst[i] = static_cast<uint8_t>(is_signed && nib >= 8 ? nib - 16 : nib);
    }
    return y;
}

void cast_to(KernelContext& ctx, DType to) {
    if (to == DType::Int4 || to == DType::UInt4) throw Error(ctx.where() + "cast to " + dtype_name(to) + " is not supported");
    const bool four_bit = ctx.in(0).dtype() == DType::Int4 || ctx.in(0).dtype() == DType::UInt4;
    const Tensor widened = four_bit ? widen_4bit(ctx.in(0)) : Tensor();
    const Tensor& x = four_bit ? widened : ctx.in(0);
    Tensor y(to, x.shape());
    bool known = false;
    with_cast_type(x.dtype(), [&](auto src_tag) {
        known = with_cast_type(to, [&](auto dst_tag) {
            using S = decltype(src_tag);
            using D = decltype(dst_tag);
            const S* src = x.data<S>();
            D* dst = y.data<D>();
            parallel_for(x.numel(), kGrain, [&](int64_t begin, int64_t end) {
                for (int64_t i = begin; i < end; ++i) dst[i] = convert<D>(value_of(src[i]));
            });
        });
    });
    if (!known)
        throw Error(ctx.where() + "cast from " + dtype_name(x.dtype()) + " to " + dtype_name(to) + " is not supported");
    ctx.outputs[0] = std::move(y);
}

void cast_kernel(KernelContext& ctx) {
    const int64_t to = ctx.node.attr_int("to", 0);
    if (!dtype_known(static_cast<int32_t>(to))) throw Error(ctx.where() + "unknown target type " + std::to_string(to));
    cast_to(ctx, static_cast<DType>(to));
}

void cast_like_kernel(KernelContext& ctx) { cast_to(ctx, ctx.in(1).dtype()); }

}  // namespace

void register_elementwise(KernelRegistry& r) {
    // opset 1-6 binary ops used legacy `broadcast`/`axis` attributes; numpy broadcasting from 7
    r.add("Add", 7, 999, binary_kernel<Bin::Add>);
    r.add("Sub", 7, 999, binary_kernel<Bin::Sub>);
    r.add("Mul", 7, 999, binary_kernel<Bin::Mul>);
    r.add("Div", 7, 999, binary_kernel<Bin::Div>);
    r.add("Equal", 7, 999, binary_kernel<Bin::Equal>);
    r.add("Less", 7, 999, binary_kernel<Bin::Less>);
    r.add("Greater", 7, 999, binary_kernel<Bin::Greater>);
    r.add("LessOrEqual", 12, 999, binary_kernel<Bin::LessOrEqual>);
    r.add("GreaterOrEqual", 12, 999, binary_kernel<Bin::GreaterOrEqual>);
    r.add("Mod", 10, 999, mod_kernel);
    r.add("Pow", 7, 999, pow_kernel);
    r.add("PRelu", 6, 999, prelu_kernel);

    r.add("Neg", 1, 999, sign_kernel<true>);
    r.add("Abs", 1, 999, sign_kernel<false>);
    r.add("Sqrt", 1, 999, sqrt_kernel);
    r.add("Exp", 1, 999, exp_kernel);
    r.add("Log", 1, 999, log_kernel);
    r.add("Erf", 9, 999, erf_kernel);
    r.add("Tanh", 1, 999, tanh_kernel);
    r.add("Relu", 1, 999, relu_kernel);
    r.add("Sigmoid", 1, 999, sigmoid_kernel);
    r.add("LeakyRelu", 1, 999, leaky_relu_kernel);
    r.add("HardSigmoid", 1, 999, hard_sigmoid_kernel);
    r.add("HardSwish", 14, 999, hard_swish_kernel);
    r.add("Clip", 1, 999, clip_kernel);
    r.add("Identity", 1, 999, identity_kernel);
    r.add("Sin", 7, 999, sin_kernel);
    r.add("Cos", 7, 999, cos_kernel);
    r.add("Tan", 7, 999, tan_kernel);
    r.add("Asin", 7, 999, asin_kernel);
    r.add("Acos", 7, 999, acos_kernel);
    r.add("Atan", 7, 999, atan_kernel);
    r.add("Sinh", 9, 999, sinh_kernel);
    r.add("Cosh", 9, 999, cosh_kernel);
    r.add("Asinh", 9, 999, asinh_kernel);
    r.add("Acosh", 9, 999, acosh_kernel);
    r.add("Atanh", 9, 999, atanh_kernel);
    r.add("Floor", 1, 999, floor_kernel);
    r.add("Ceil", 1, 999, ceil_kernel);
    r.add("Round", 11, 999, round_kernel);
    r.add("Reciprocal", 1, 999, reciprocal_kernel);
    r.add("Sign", 9, 999, sign_of_kernel);
    r.add("IsNaN", 9, 999, isnan_kernel);
    r.add("IsInf", 10, 999, isinf_kernel);
    r.add("Softsign", 1, 999, softsign_kernel);
    r.add("Softplus", 1, 999, softplus_kernel);
    r.add("Elu", 6, 999, elu_kernel);
    r.add("Selu", 6, 999, selu_kernel);
    r.add("Celu", 12, 999, celu_kernel);
    r.add("ThresholdedRelu", 10, 999, thresholded_relu_kernel);
    r.add("Shrink", 9, 999, shrink_kernel);
    r.add("And", 7, 999, logical_kernel<0>);
    r.add("Or", 7, 999, logical_kernel<1>);
    r.add("Xor", 7, 999, logical_kernel<2>);
    // before opset 8 the inputs had to share one shape, which broadcasting covers
    r.add("Max", 6, 999, variadic_kernel<Vari::Max>);
    r.add("Min", 6, 999, variadic_kernel<Vari::Min>);
    r.add("Sum", 6, 999, variadic_kernel<Vari::Sum>);
    r.add("Mean", 6, 999, variadic_kernel<Vari::Mean>);
    r.add("Dropout", 1, 999, dropout_kernel);
    r.add("Not", 1, 999, not_kernel);
    r.add("Where", 9, 999, where_kernel);
    r.add("Cast", 6, 999, cast_kernel);
    r.add("CastLike", 15, 999, cast_like_kernel);
}

}  // namespace qcp::engine::kernels
