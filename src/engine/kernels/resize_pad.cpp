// Pad, Resize and GridSample. Pad and Resize are index maps along each dimension: output index ->
// input index (or -1 for a fill value), applied by one gather; Resize's linear and cubic modes add
// a separable interpolation pass (2 or 4 taps) per resized dimension. GridSample samples per pixel.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels.hpp"
#include "qcp/core/parallel.hpp"
#include "util.hpp"

namespace qcp::engine::kernels {
namespace {

using DimMaps = std::vector<std::vector<int64_t>>;

template <typename T>
void gather_rows(const Tensor& x, const DimMaps& maps, const std::vector<uint8_t>& fill_bytes, Tensor& y) {
    const size_t rank = maps.size();
    const Shape& out = y.shape();
    std::vector<int64_t> in_stride(rank, 1);
    for (size_t d = rank; d-- > 1;) in_stride[d - 1] = in_stride[d] * x.dim(d);
    T fill{};
    std::memcpy(&fill, fill_bytes.data(), sizeof(T));
    const T* xd = x.data<T>();
    T* yd = y.data<T>();
    const int64_t width = out[rank - 1];
    const std::vector<int64_t>& last = maps[rank - 1];
    const int64_t rows = width ? y.numel() / width : 0;
    parallel_for(rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, width)), [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) {
            int64_t rem = r, src = 0;
            bool filled = false;
            for (size_t d = rank - 1; d-- > 0;) {
                const int64_t i = maps[d][static_cast<size_t>(rem % out[d])];
                rem /= out[d];
                if (i < 0) filled = true;
                src += i * in_stride[d];
            }
            T* yr = yd + r * width;
            if (filled) {
                std::fill(yr, yr + width, fill);
                continue;
            }
            const T* xr = xd + src;
            for (int64_t o = 0; o < width; ++o) yr[o] = last[o] < 0 ? fill : xr[last[o]];
        }
    });
}

// y[o_0, ..., o_n] = x[maps[0][o_0], ..., maps[n][o_n]], or the fill value where any map is -1.
// `fill_bytes` holds one element of x's dtype.
Tensor gather_dims(const KernelContext& ctx, const Tensor& x, const DimMaps& maps, const std::vector<uint8_t>& fill_bytes) {
    if (x.rank() == 0) return x;
    Shape out_shape;
    for (const auto& m : maps) out_shape.push_back(static_cast<int64_t>(m.size()));
    Tensor y(x.dtype(), out_shape);
    switch (dtype_traits(x.dtype()).bits) {
        case 8: gather_rows<uint8_t>(x, maps, fill_bytes, y); break;
        case 16: gather_rows<uint16_t>(x, maps, fill_bytes, y); break;
        case 32: gather_rows<uint32_t>(x, maps, fill_bytes, y); break;
        case 64: gather_rows<uint64_t>(x, maps, fill_bytes, y); break;
        default: throw Error(ctx.where() + "unsupported input type " + dtype_name(x.dtype()));
    }
    return y;
}

// One element of `t`'s dtype holding v (for Pad's float `value` attribute before opset 11).
std::vector<uint8_t> scalar_bytes(const KernelContext& ctx, DType t, double v) {
    std::vector<uint8_t> b(8, 0);
    auto put = [&](auto value) { std::memcpy(b.data(), &value, sizeof(value)); };
    switch (t) {
        case DType::Float32: put(static_cast<float>(v)); break;
        case DType::Float64: put(v); break;
        case DType::Float16: put(float_to_half(static_cast<float>(v))); break;
        case DType::BFloat16: put(float_to_bfloat16(static_cast<float>(v))); break;
        case DType::Int8: put(static_cast<int8_t>(v)); break;
        case DType::UInt8: case DType::Bool: put(static_cast<uint8_t>(v)); break;
        case DType::Int16: put(static_cast<int16_t>(v)); break;
        case DType::UInt16: put(static_cast<uint16_t>(v)); break;
        case DType::Int32: put(static_cast<int32_t>(v)); break;
        case DType::UInt32: put(static_cast<uint32_t>(v)); break;
        case DType::Int64: put(static_cast<int64_t>(v)); break;
        case DType::UInt64: put(static_cast<uint64_t>(v)); break;
        default: throw Error(ctx.where() + "unsupported input type " + dtype_name(t));
    }
    return b;
}

// ---- Pad ----

enum class PadMode { Constant, Reflect, Edge, Wrap };

// Input index feeding output index o along a dim padded by pad_begin, or -1 for the constant.
int64_t pad_source(int64_t o, int64_t pad_begin, int64_t in, PadMode mode) {
    const int64_t i = o - pad_begin;
    if (i >= 0 && i < in) return i;
    switch (mode) {
        case PadMode::Constant: return -1;
        case PadMode::Edge: return i < 0 ? 0 : in - 1;
        case PadMode::Wrap: return ((i % in) + in) % in;
        case PadMode::Reflect: {
            if (in == 1) return 0;
            const int64_t period = 2 * (in - 1);
            const int64_t m = ((i % period) + period) % period;
            return m < in ? m : period - m;
        }
    }
    return -1;
}

void pad(KernelContext& ctx) {
    const ir::Node& n = ctx.node;
    const Tensor& x = ctx.in(0);
    const int64_t rank = static_cast<int64_t>(x.rank());
    const std::string mode_name = n.attr_string("mode", "constant");
    PadMode mode;
    if (mode_name == "constant") mode = PadMode::Constant;
    else if (mode_name == "reflect") mode = PadMode::Reflect;
    else if (mode_name == "edge") mode = PadMode::Edge;
    else if (mode_name == "wrap") mode = PadMode::Wrap;
    else throw Error(ctx.where() + "unsupported mode '" + mode_name + "'");

    std::vector<int64_t> pads;
    std::vector<uint8_t> fill(8, 0);
    std::vector<int64_t> axes;
    if (ctx.opset < 11) {
        pads = n.attr_ints("pads");
        fill = scalar_bytes(ctx, x.dtype(), n.attr_float("value", 0.0f));
    } else {
        pads = ctx.in(1).to_int64_vector();
        if (ctx.has_input(2) && !ctx.in(2).empty()) {
            const Tensor& c = ctx.in(2);
            if (c.dtype() != x.dtype())
                throw Error(ctx.where() + "constant_value type " + dtype_name(c.dtype()) + " differs from data type " +
                            dtype_name(x.dtype()));
            std::copy_n(c.bytes().begin(), dtype_bytes(c.dtype(), 1), fill.begin());
        }
        if (ctx.has_input(3)) axes = ctx.in(3).to_int64_vector();
    }
    if (axes.empty())
        for (int64_t d = 0; d < rank; ++d) axes.push_back(d);
    if (pads.size() != 2 * axes.size())
        throw Error(ctx.where() + "expected " + std::to_string(2 * axes.size()) + " pads, got " + std::to_string(pads.size()));
    std::vector<int64_t> begin(static_cast<size_t>(rank), 0), end(static_cast<size_t>(rank), 0);
    for (size_t i = 0; i < axes.size(); ++i) {
        const size_t d = static_cast<size_t>(normalize_axis(axes[i], rank, ctx));
        begin[d] = pads[i];
        end[d] = pads[i + axes.size()];
    }

    DimMaps maps(static_cast<size_t>(rank));
    for (size_t d = 0; d < maps.size(); ++d) {
        const int64_t in = x.dim(d);
        const int64_t out = in + begin[d] + end[d];
        if (out < 0) throw Error(ctx.where() + "negative pads remove more than dimension " + std::to_string(d) + " holds");
        if (mode != PadMode::Constant && in == 0 && out > 0)
            throw Error(ctx.where() + "cannot " + mode_name + "-pad an empty dimension");
        for (int64_t o = 0; o < out; ++o) maps[d].push_back(pad_source(o, begin[d], in, mode));
    }
    ctx.outputs[0] = gather_dims(ctx, x, maps, fill);
}

// ---- Resize ----

enum class CoordMode { HalfPixel, HalfPixelSymmetric, PytorchHalfPixel, TfHalfPixelForNn, AlignCorners, Asymmetric, TfCropAndResize };
enum class NearestMode { Simple, RoundPreferFloor, RoundPreferCeil, Floor, Ceil };

// Input coordinate of output index x along a dim (float arithmetic as in ONNX Runtime, so
// nearest-mode ties land on the same side).
float original_coordinate(CoordMode mode, float x, float scale, float out_len, float in_len, float roi_start, float roi_end) {
    switch (mode) {
        case CoordMode::Asymmetric: return x / scale;
        case CoordMode::PytorchHalfPixel: return out_len > 1 ? (x + 0.5f) / scale - 0.5f : 0.0f;
        case CoordMode::TfHalfPixelForNn: return (x + 0.5f) / scale;
        case CoordMode::AlignCorners: return out_len == 1 ? 0.0f : x * (in_len - 1) / (out_len - 1);
        case CoordMode::TfCropAndResize:
            return out_len > 1 ? roi_start * (in_len - 1) + (x * (roi_end - roi_start) * (in_len - 1)) / (out_len - 1)
                               : static_cast<float>(0.5 * (roi_start + roi_end) * (in_len - 1));
        case CoordMode::HalfPixelSymmetric: {
            const float adjustment = out_len / (scale * in_len);
            const float offset = in_len / 2 * (1 - adjustment);
            return static_cast<float>(offset + (x + 0.5) / scale - 0.5);
        }
        case CoordMode::HalfPixel: break;
    }
    return (x + 0.5f) / scale - 0.5f;
}

int64_t nearest_pixel(NearestMode mode, float x, bool downsample) {
    switch (mode) {
        case NearestMode::Simple: return downsample ? static_cast<int64_t>(std::ceil(x)) : static_cast<int64_t>(x);
        case NearestMode::RoundPreferCeil: return static_cast<int64_t>(std::round(x));
        case NearestMode::Floor: return static_cast<int64_t>(std::floor(x));
        case NearestMode::Ceil: return static_cast<int64_t>(std::ceil(x));
        case NearestMode::RoundPreferFloor: break;
    }
    return x == static_cast<float>(static_cast<int64_t>(x)) + 0.5f ? static_cast<int64_t>(std::floor(x))
                                                                   : static_cast<int64_t>(std::round(x));
}

struct ResizeDim {
    int64_t in = 1, out = 1;
    float scale = 1.0f;
    float roi_start = 0.0f, roi_end = 1.0f;
};

CoordMode coord_mode_of(const KernelContext& ctx) {
    if (ctx.opset < 11) return CoordMode::Asymmetric;
    const std::string s = ctx.node.attr_string("coordinate_transformation_mode", "half_pixel");
    if (s == "half_pixel") return CoordMode::HalfPixel;
    if (s == "half_pixel_symmetric") return CoordMode::HalfPixelSymmetric;
    if (s == "pytorch_half_pixel") return CoordMode::PytorchHalfPixel;
    if (s == "tf_half_pixel_for_nn") return CoordMode::TfHalfPixelForNn;
    if (s == "align_corners") return CoordMode::AlignCorners;
    if (s == "asymmetric") return CoordMode::Asymmetric;
    if (s == "tf_crop_and_resize") return CoordMode::TfCropAndResize;
    throw Error(ctx.where() + "unsupported coordinate_transformation_mode '" + s + "'");
}

NearestMode nearest_mode_of(const KernelContext& ctx) {
    if (ctx.opset < 11) return NearestMode::Simple;
    const std::string s = ctx.node.attr_string("nearest_mode", "round_prefer_floor");
    if (s == "round_prefer_floor") return NearestMode::RoundPreferFloor;
    if (s == "round_prefer_ceil") return NearestMode::RoundPreferCeil;
    if (s == "floor") return NearestMode::Floor;
    if (s == "ceil") return NearestMode::Ceil;
    throw Error(ctx.where() + "unsupported nearest_mode '" + s + "'");
}

// Output sizes and scales from the scales or sizes input (opset 18+: only for `axes`, with
// keep_aspect_ratio_policy), and the roi for tf_crop_and_resize.
std::vector<ResizeDim> resize_dims(const KernelContext& ctx, const Tensor& x, bool need_roi) {
    const ir::Node& n = ctx.node;
    const int64_t rank = static_cast<int64_t>(x.rank());
    std::vector<ResizeDim> dims(static_cast<size_t>(rank));
    for (size_t d = 0; d < dims.size(); ++d) dims[d].in = dims[d].out = x.dim(d);
    std::vector<size_t> axes;
    for (int64_t a : n.attr_ints("axes")) axes.push_back(static_cast<size_t>(normalize_axis(a, rank, ctx)));
    if (axes.empty())
        for (size_t d = 0; d < dims.size(); ++d) axes.push_back(d);

    const size_t scales_at = ctx.opset < 11 ? 1 : 2;
    const Tensor* scales = ctx.has_input(scales_at) && !ctx.in(scales_at).empty() ? &ctx.in(scales_at) : nullptr;
    const Tensor* sizes = ctx.opset >= 11 && ctx.has_input(3) && !ctx.in(3).empty() ? &ctx.in(3) : nullptr;
    if ((scales != nullptr) == (sizes != nullptr))
        throw Error(ctx.where() + "exactly one of scales and sizes must be given");
    if (scales) {
        const Tensor& s = float_input(ctx, scales_at);
        if (static_cast<size_t>(s.numel()) != axes.size())
            throw Error(ctx.where() + "scales has " + std::to_string(s.numel()) + " values for " + std::to_string(axes.size()) + " axes");
        for (size_t i = 0; i < axes.size(); ++i) {
            ResizeDim& d = dims[axes[i]];
            d.scale = s.data<float>()[i];
            if (!(d.scale > 0)) throw Error(ctx.where() + "scales must be positive");
            d.out = static_cast<int64_t>(d.scale * static_cast<float>(d.in));
        }
    } else {
        const auto sz = sizes->to_int64_vector();
        if (sz.size() != axes.size())
            throw Error(ctx.where() + "sizes has " + std::to_string(sz.size()) + " values for " + std::to_string(axes.size()) + " axes");
        for (size_t i = 0; i < axes.size(); ++i) {
            ResizeDim& d = dims[axes[i]];
            if (sz[i] < 0 || (d.in == 0 && sz[i] != 0)) throw Error(ctx.where() + "invalid sizes");
            d.out = sz[i];
            d.scale = d.in == 0 ? 1.0f : static_cast<float>(d.out) / static_cast<float>(d.in);
        }
        const std::string policy = n.attr_string("keep_aspect_ratio_policy", "stretch");
        if (policy == "not_larger" || policy == "not_smaller") {
            float s = dims[axes[0]].scale;
            for (size_t a : axes) s = policy == "not_larger" ? std::min(s, dims[a].scale) : std::max(s, dims[a].scale);
            for (size_t a : axes) {
                dims[a].scale = s;
                dims[a].out = static_cast<int64_t>(std::round(s * static_cast<float>(dims[a].in)));
            }
        } else if (policy != "stretch") {
            throw Error(ctx.where() + "unsupported keep_aspect_ratio_policy '" + policy + "'");
        }
    }
    if (need_roi) {
        if (!ctx.has_input(1) || ctx.in(1).numel() != static_cast<int64_t>(2 * axes.size()))
            throw Error(ctx.where() + "tf_crop_and_resize needs an roi of " + std::to_string(2 * axes.size()) + " values");
        const auto roi = ctx.in(1).to_float32();
        for (size_t i = 0; i < axes.size(); ++i) {
            dims[axes[i]].roi_start = roi.data<float>()[i];
            dims[axes[i]].roi_end = roi.data<float>()[i + axes.size()];
        }
    }
    return dims;
}

// One separable linear pass along `axis`: y[.., j, ..] = w0[j] x[.., i0[j], ..] + w1[j] x[.., i1[j], ..].
Tensor linear_pass(const Tensor& x, size_t axis, const std::vector<int64_t>& i0, const std::vector<int64_t>& i1,
                   const std::vector<float>& w0, const std::vector<float>& w1) {
    Shape shape = x.shape();
    const int64_t in_len = shape[axis];
    const int64_t out_len = static_cast<int64_t>(i0.size());
    shape[axis] = out_len;
    Tensor y(DType::Float32, shape);
    int64_t outer = 1, inner = 1;
    for (size_t d = 0; d < axis; ++d) outer *= shape[d];
    for (size_t d = axis + 1; d < shape.size(); ++d) inner *= shape[d];
    const float* xd = x.data<float>();
    float* yd = y.data<float>();
    parallel_for(outer * out_len, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, inner)), [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) {
            const int64_t o = r / out_len, j = r % out_len;
            const float* a = xd + (o * in_len + i0[j]) * inner;
            const float* b = xd + (o * in_len + i1[j]) * inner;
            float* yr = yd + r * inner;
            for (int64_t i = 0; i < inner; ++i) yr[i] = w0[j] * a[i] + w1[j] * b[i];
        }
    });
    return y;
}

// One separable cubic pass along `axis`: y[.., j, ..] = sum_t w[4j + t] x[.., idx[4j + t], ..].
Tensor cubic_pass(const Tensor& x, size_t axis, const std::vector<int64_t>& idx, const std::vector<float>& w) {
    Shape shape = x.shape();
    const int64_t in_len = shape[axis];
    const auto out_len = static_cast<int64_t>(idx.size() / 4);
    shape[axis] = out_len;
    Tensor y(DType::Float32, shape);
    int64_t outer = 1, inner = 1;
    for (size_t d = 0; d < axis; ++d) outer *= shape[d];
    for (size_t d = axis + 1; d < shape.size(); ++d) inner *= shape[d];
    const float* xd = x.data<float>();
    float* yd = y.data<float>();
    parallel_for(outer * out_len, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, inner)), [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) {
            const int64_t o = r / out_len, j = r % out_len;
            float* yr = yd + r * inner;
            for (int64_t i = 0; i < inner; ++i) {
                float acc = 0.0f;
                for (int64_t t = 0; t < 4; ++t) acc += w[j * 4 + t] * xd[(o * in_len + idx[j * 4 + t]) * inner + i];
                yr[i] = acc;
            }
        }
    });
    return y;
}

// Keys' cubic convolution weights of the taps floor(c) - 1 .. floor(c) + 2 (coefficient a =
// cubic_coeff_a); taps past the edges read the edge sample, or with exclude_outside get weight 0
// and the rest are renormalised.
void cubic_taps(float c, int64_t in_len, float a, bool exclude_outside, std::vector<int64_t>& idx, std::vector<float>& w) {
    const float f = std::floor(c);
    const float s = c - f;
    const float d[4] = {s + 1, s, 1 - s, 2 - s};  // distances to the four taps
    float ws[4];
    for (int t = 0; t < 4; ++t) {
        const float x = d[t];
        ws[t] = x <= 1 ? ((a + 2) * x - (a + 3)) * x * x + 1 : ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
    }
    float total = 0;
    for (int t = 0; t < 4; ++t) {
        const int64_t i = static_cast<int64_t>(f) - 1 + t;
        const bool inside = i >= 0 && i < in_len;
        if (exclude_outside && !inside) ws[t] = 0;
        total += ws[t];
        idx.push_back(std::clamp<int64_t>(i, 0, in_len - 1));
    }
    for (int t = 0; t < 4; ++t) w.push_back(exclude_outside && total != 0 ? ws[t] / total : ws[t]);
}

void resize(KernelContext& ctx) {
    const ir::Node& n = ctx.node;
    const Tensor& x = ctx.in(0);
    const std::string mode = n.attr_string("mode", "nearest");
    if (mode != "nearest" && mode != "linear" && mode != "cubic")
        throw Error(ctx.where() + "mode '" + mode + "' is not supported (nearest, linear and cubic are)");
    const CoordMode coord = coord_mode_of(ctx);
    const bool crop = coord == CoordMode::TfCropAndResize;
    const std::vector<ResizeDim> dims = resize_dims(ctx, x, crop);
    if (n.attr_int("antialias", 0) != 0 && mode != "nearest")
        for (const auto& d : dims)
            if (d.scale < 1) throw Error(ctx.where() + "antialias=1 when downscaling is not supported");
    const std::vector<uint8_t> extrapolation = scalar_bytes(ctx, x.dtype(), n.attr_float("extrapolation_value", 0.0f));

    auto coordinate = [&](const ResizeDim& d, int64_t o) {
        return original_coordinate(coord, static_cast<float>(o), d.scale, static_cast<float>(d.out),
                                   static_cast<float>(d.in), d.roi_start, d.roi_end);
    };
    auto identity = [&](const ResizeDim& d) { return !crop && d.scale == 1.0f && d.out == d.in; };
    auto outside = [&](const ResizeDim& d, float c) { return crop && (c < 0 || c > static_cast<float>(d.in - 1)); };

    DimMaps maps(dims.size());
    if (mode == "nearest") {
        const NearestMode nearest = nearest_mode_of(ctx);
        for (size_t a = 0; a < dims.size(); ++a) {
            const ResizeDim& d = dims[a];
            for (int64_t o = 0; o < d.out; ++o) {
                if (identity(d)) {
                    maps[a].push_back(o);
                    continue;
                }
                const float c = coordinate(d, o);
                const int64_t i = std::clamp<int64_t>(nearest_pixel(nearest, c, d.scale < 1), 0, d.in - 1);
                maps[a].push_back(outside(d, c) ? -1 : i);
            }
        }
        ctx.outputs[0] = gather_dims(ctx, x, maps, extrapolation);
        return;
    }

    if (x.dtype() != DType::Float32) throw Error(ctx.where() + mode + " mode needs float input, got " + dtype_name(x.dtype()));
    Tensor y = x;
    if (mode == "cubic") {
        const float a = n.attr_float("cubic_coeff_a", -0.75f);
        const bool exclude_outside = n.attr_int("exclude_outside", 0) != 0;
        for (size_t ax = 0; ax < dims.size(); ++ax) {
            const ResizeDim& d = dims[ax];
            for (int64_t o = 0; o < d.out; ++o) maps[ax].push_back(o);
            if (identity(d)) continue;
            std::vector<int64_t> idx;
            std::vector<float> w;
            for (int64_t o = 0; o < d.out; ++o) {
                const float c = coordinate(d, o);
                if (outside(d, c)) maps[ax][o] = -1;
                cubic_taps(c, d.in, a, exclude_outside, idx, w);
            }
            y = cubic_pass(y, ax, idx, w);
        }
        ctx.outputs[0] = crop ? gather_dims(ctx, y, maps, extrapolation) : std::move(y);
        return;
    }
    bool any_outside = false;
    for (size_t a = 0; a < dims.size(); ++a) {
        const ResizeDim& d = dims[a];
        for (int64_t o = 0; o < d.out; ++o) maps[a].push_back(o);
        if (identity(d)) continue;
        std::vector<int64_t> i0, i1;
        std::vector<float> w0, w1;
        for (int64_t o = 0; o < d.out; ++o) {
            const float c = coordinate(d, o);
            if (outside(d, c)) {
                maps[a][o] = -1;
                any_outside = true;
            }
            const float cc = std::max(0.0f, std::min(c, static_cast<float>(d.in - 1)));
            const int64_t lo = std::min(static_cast<int64_t>(cc), d.in - 1);
            const int64_t hi = std::min(lo + 1, d.in - 1);
            i0.push_back(lo);
            i1.push_back(hi);
            // both taps on the last input sample: weights 0.5 each, as ONNX Runtime does
            w0.push_back(lo == hi ? 0.5f : std::fabs(cc - static_cast<float>(hi)));
            w1.push_back(lo == hi ? 0.5f : std::fabs(cc - static_cast<float>(lo)));
        }
        y = linear_pass(y, a, i0, i1, w0, w1);
    }
    if (any_outside) {
        // tf_crop_and_resize: samples outside the input take extrapolation_value
        y = gather_dims(ctx, y, maps, extrapolation);
    }
    ctx.outputs[0] = std::move(y);
}

// ---- GridSample (opset 16; 4-D) ----
// Output (n, c, h, w) samples X[n, c] at grid[n, h, w] = (x, y) in [-1, 1], unnormalised with
// align_corners, taps outside handled by padding_mode, as ONNX (and PyTorch's grid_sample) define.

enum class GridPad { Zeros, Border, Reflection };

float grid_reflect(float v, float twice_low, float twice_high) {
    if (twice_low == twice_high) return 0;
    const float lo = twice_low / 2, span = (twice_high - twice_low) / 2;
    v = std::fabs(v - lo);
    const float extra = std::fmod(v, span);
    const auto flips = static_cast<int64_t>(std::floor(v / span));
    return flips % 2 == 0 ? extra + lo : span - extra + lo;
}

// Coordinate into [0, len - 1] for border and reflection padding (bilinear and nearest).
float grid_bound(float v, int64_t len, GridPad pad, bool align) {
    const float hi = static_cast<float>(len - 1);
    if (pad == GridPad::Border) return std::clamp(v, 0.0f, hi);
    if (pad == GridPad::Reflection) {
        v = align ? grid_reflect(v, 0, 2 * hi) : grid_reflect(v, -1, 2 * static_cast<float>(len) - 1);
        return std::clamp(v, 0.0f, hi);
    }
    return v;
}

void grid_sample(KernelContext& ctx) {
    const Tensor& x = float_input(ctx, 0);
    const Tensor& grid = float_input(ctx, 1);
    if (x.rank() != 4 || grid.rank() != 4 || grid.dim(0) != x.dim(0) || grid.dim(3) != 2)
        throw Error(ctx.where() + "X must be (N, C, H, W) and grid (N, H_out, W_out, 2), got " + shape_str(x.shape()) + " and " +
                    shape_str(grid.shape()));
    const std::string mode = ctx.node.attr_string("mode", "bilinear");
    const std::string pad_name = ctx.node.attr_string("padding_mode", "zeros");
    const bool align = ctx.node.attr_int("align_corners", 0) != 0;
    if (mode != "bilinear" && mode != "nearest" && mode != "bicubic") throw Error(ctx.where() + "mode '" + mode + "' is not supported");
    const GridPad pad = pad_name == "border" ? GridPad::Border : pad_name == "reflection" ? GridPad::Reflection : GridPad::Zeros;
    if (pad == GridPad::Zeros && pad_name != "zeros") throw Error(ctx.where() + "padding_mode '" + pad_name + "' is not supported");
    const int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3), HO = grid.dim(1), WO = grid.dim(2);
    Tensor y(DType::Float32, {N, C, HO, WO});
    const float* xd = x.data<float>();
    auto unnorm = [align](float g, int64_t len) {
        return align ? (g + 1) / 2 * static_cast<float>(len - 1) : ((g + 1) * static_cast<float>(len) - 1) / 2;
    };
    // pixel (ix, iy) of plane p; taps outside read 0 (zeros) or the bounded tap (bicubic's border/reflection)
    auto pixel = [&](const float* plane, int64_t ix, int64_t iy, bool bound_taps) -> float {
        if (bound_taps && pad != GridPad::Zeros) {
            ix = static_cast<int64_t>(grid_bound(static_cast<float>(ix), W, pad, align));
            iy = static_cast<int64_t>(grid_bound(static_cast<float>(iy), H, pad, align));
        }
        if (ix < 0 || ix >= W || iy < 0 || iy >= H) return 0.0f;
        return plane[iy * W + ix];
    };
    auto cubic = [](float t, float (&w)[4]) {
        constexpr float a = -0.75f;
        const float d[4] = {t + 1, t, 1 - t, 2 - t};
        for (int k = 0; k < 4; ++k)
            w[k] = d[k] <= 1 ? ((a + 2) * d[k] - (a + 3)) * d[k] * d[k] + 1 : ((a * d[k] - 5 * a) * d[k] + 8 * a) * d[k] - 4 * a;
    };
    for (int64_t n = 0; n < N; ++n)
        for (int64_t oh = 0; oh < HO; ++oh)
            for (int64_t ow = 0; ow < WO; ++ow) {
                const float* g = grid.data<float>() + ((n * HO + oh) * WO + ow) * 2;
                float fx = unnorm(g[0], W), fy = unnorm(g[1], H);
                if (mode != "bicubic") fx = grid_bound(fx, W, pad, align), fy = grid_bound(fy, H, pad, align);
                // far outside (or NaN): every tap would miss the input; also keeps the casts defined
                const float far = static_cast<float>(std::max(H, W)) + 4;
                if (!(std::fabs(fx) < far && std::fabs(fy) < far)) {
                    if (pad == GridPad::Zeros || !std::isfinite(fx) || !std::isfinite(fy)) {
                        for (int64_t c = 0; c < C; ++c) y.data<float>()[((n * C + c) * HO + oh) * WO + ow] = 0.0f;
                        continue;
                    }
                    fx = std::clamp(fx, -far, far), fy = std::clamp(fy, -far, far);
                }
                for (int64_t c = 0; c < C; ++c) {
                    const float* plane = xd + (n * C + c) * H * W;
                    float v;
                    if (mode == "nearest") {
                        v = pixel(plane, static_cast<int64_t>(std::nearbyint(fx)), static_cast<int64_t>(std::nearbyint(fy)), false);
                    } else if (mode == "bilinear") {
                        const auto x0 = static_cast<int64_t>(std::floor(fx)), y0 = static_cast<int64_t>(std::floor(fy));
                        const float tx = fx - static_cast<float>(x0), ty = fy - static_cast<float>(y0);
                        v = (1 - ty) * ((1 - tx) * pixel(plane, x0, y0, false) + tx * pixel(plane, x0 + 1, y0, false)) +
                            ty * ((1 - tx) * pixel(plane, x0, y0 + 1, false) + tx * pixel(plane, x0 + 1, y0 + 1, false));
                    } else {
                        const auto x0 = static_cast<int64_t>(std::floor(fx)), y0 = static_cast<int64_t>(std::floor(fy));
                        float wx[4], wy[4];
                        cubic(fx - static_cast<float>(x0), wx);
                        cubic(fy - static_cast<float>(y0), wy);
                        v = 0;
                        for (int i = 0; i < 4; ++i)
                            for (int j = 0; j < 4; ++j) v += wy[i] * wx[j] * pixel(plane, x0 - 1 + j, y0 - 1 + i, true);
                    }
                    y.data<float>()[((n * C + c) * HO + oh) * WO + ow] = v;
                }
            }
    ctx.outputs[0] = std::move(y);
}

}  // namespace

void register_resize_pad(KernelRegistry& r) {
    r.add("Pad", 1, 999, pad);
    r.add("Resize", 10, 999, resize);
    // opset 9's Upsample is opset 10's Resize (scales as input 1, asymmetric coordinates); the
    // scales attribute of opsets 7-8 is not handled
    r.add("Upsample", 9, 9, resize);
    r.add("GridSample", 16, 999, grid_sample);
}

}  // namespace qcp::engine::kernels
