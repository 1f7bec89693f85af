// MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool (and MaxUnpool, RoiAlign) on (N, C, D1, ..., Dk) float tensors,
// k = 1..3. Spatial dims are padded to three (size 1, kernel 1) so one loop nest serves all ranks.
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <string>

#include "kernels.hpp"
#include "qcp/core/parallel.hpp"
#include "qcp/ir/conv_pads.hpp"
#include "util.hpp"

namespace qcp::engine::kernels {
namespace {

constexpr size_t kMaxSpatial = 3;

// One spatial dimension of a pooling window sweep.
struct PoolDim {
    int64_t in = 1, out = 1, kernel = 1, stride = 1, dilation = 1, pad_begin = 0, pad_end = 0;
};

// The window of output position `o` along one dim: input positions first, first + dilation, ...
// (`count` of them, all inside the input), and how many of its taps lie inside the padded input
// (the count_include_pad divisor; taps past the end padding, possible with ceil_mode, do not count).
struct Window {
    int64_t first = 0;
    int64_t count = 0;
    int64_t padded_count = 0;
};

Window window_of(const PoolDim& d, int64_t o) {
    const int64_t start = o * d.stride - d.pad_begin;
    // taps j in [0, kernel) at start + j * dilation; keep those in [0, in)
    const int64_t j0 = start >= 0 ? 0 : (-start + d.dilation - 1) / d.dilation;
    const int64_t j1 = start > d.in - 1 ? -1 : std::min(d.kernel - 1, (d.in - 1 - start) / d.dilation);
    const int64_t limit = d.in + d.pad_end - start;  // taps before the end of the padded input
    Window w;
    w.first = start + j0 * d.dilation;
    w.count = std::max<int64_t>(0, j1 - j0 + 1);
    w.padded_count = limit <= 0 ? 0 : std::min(d.kernel, (limit + d.dilation - 1) / d.dilation);
    return w;
}

int64_t pooled_size(const PoolDim& d, bool ceil_mode, const KernelContext& ctx) {
    const int64_t span = d.in + d.pad_begin + d.pad_end - (d.kernel - 1) * d.dilation - 1;
    if (span < 0) throw Error(ctx.where() + "pooling window is larger than the padded input");
    int64_t out = (ceil_mode ? (span + d.stride - 1) / d.stride : span / d.stride) + 1;
    // ceil_mode must not add a window that starts inside the end padding
    if (ceil_mode && (out - 1) * d.stride >= d.in + d.pad_begin) --out;
    return out;
}

// Reads kernel_shape, strides, pads, dilations, ceil_mode and auto_pad for a (N, C, spatial...) input.
std::vector<PoolDim> pool_dims(const KernelContext& ctx, const Shape& x_shape) {
    const ir::Node& n = ctx.node;
    if (x_shape.size() < 3 || x_shape.size() > 2 + kMaxSpatial)
        throw Error(ctx.where() + "input must be (N, C, D1[, D2[, D3]]), got " + shape_str(x_shape));
    const size_t k = x_shape.size() - 2;
    const auto kernel = n.attr_ints("kernel_shape");
    if (kernel.size() != k)
        throw Error(ctx.where() + "kernel_shape must have " + std::to_string(k) + " values for input " + shape_str(x_shape));
    const auto strides = n.attr_ints("strides", std::vector<int64_t>(k, 1));
    const auto dilations = n.attr_ints("dilations", std::vector<int64_t>(k, 1));
    auto pads = n.attr_ints("pads", std::vector<int64_t>(2 * k, 0));
    if (strides.size() != k || dilations.size() != k || pads.size() != 2 * k)
        throw Error(ctx.where() + "strides, dilations and pads must match kernel_shape");
    const bool ceil_mode = n.attr_int("ceil_mode", 0) != 0;
    // unlike Conv, an empty auto_pad is refused rather than read as NOTSET
    const std::string auto_pad = n.attr_string("auto_pad", "NOTSET");
    const bool same = auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER";
    const Shape in(x_shape.begin() + 2, x_shape.end());
    for (size_t i = 0; i < k; ++i) {
        if (kernel[i] < 1 || strides[i] < 1 || dilations[i] < 1 || pads[i] < 0 || pads[i + k] < 0)
            throw Error(ctx.where() + "kernel_shape, strides and dilations must be positive, pads non-negative");
        if (auto_pad != "NOTSET" && auto_pad != "VALID" && !same)
            throw Error(ctx.where() + "unsupported auto_pad '" + auto_pad + "'");
    }
    const std::vector<int64_t> resolved = ir::conv_pads(n, in, kernel, strides, dilations);

    std::vector<PoolDim> dims(k);
    for (size_t i = 0; i < k; ++i) {
        PoolDim& d = dims[i];
        d.in = in[i];
        d.kernel = kernel[i];
        d.stride = strides[i];
        d.dilation = dilations[i];
        d.pad_begin = resolved[i];
        d.pad_end = resolved[i + k];
        // SAME_* pads for ceil(in / stride) outputs whatever ceil_mode says
        d.out = same ? (d.in + d.stride - 1) / d.stride : pooled_size(d, ceil_mode, ctx);
    }
    return dims;
}

enum class PoolKind { Max, Average };

// Pools every (n, c) plane of x; `indices` (optional) receives MaxPool's flat argmax positions.
void pool(const Tensor& x, std::vector<PoolDim> dims, PoolKind kind,
          bool count_include_pad, Tensor& y, Tensor* indices, bool column_major_indices) {
    Shape y_shape = {x.dim(0), x.dim(1)};
    for (const auto& d : dims) y_shape.push_back(d.out);
    y = Tensor(DType::Float32, y_shape);
    if (indices) *indices = Tensor(DType::Int64, y_shape);
    dims.resize(kMaxSpatial);  // trailing unit dims

    // per-dim windows, computed once
    std::array<std::vector<Window>, kMaxSpatial> windows;
    for (size_t i = 0; i < kMaxSpatial; ++i)
        for (int64_t o = 0; o < dims[i].out; ++o) windows[i].push_back(window_of(dims[i], o));

    const int64_t in_plane = dims[0].in * dims[1].in * dims[2].in;
    const int64_t out_plane = dims[0].out * dims[1].out * dims[2].out;
    // flat index strides of the three dims for the Indices output (storage_order 1 = column major)
    std::array<int64_t, kMaxSpatial> index_stride = {dims[1].in * dims[2].in, dims[2].in, 1};
    if (column_major_indices) index_stride = {1, dims[0].in, dims[0].in * dims[1].in};
    const float* xd = x.data<float>();
    float* yd = y.data<float>();
    int64_t* id = indices ? indices->data<int64_t>() : nullptr;

    const int64_t planes = x.dim(0) * x.dim(1);
    const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, out_plane));
    parallel_for(planes, grain, [&](int64_t begin, int64_t end) {
        for (int64_t p = begin; p < end; ++p) {
            const float* xp = xd + p * in_plane;
            float* yp = yd + p * out_plane;
            int64_t o = 0;
            for (const Window& w0 : windows[0])
                for (const Window& w1 : windows[1])
                    for (const Window& w2 : windows[2]) {
                        float acc = kind == PoolKind::Max ? std::numeric_limits<float>::lowest() : 0.0f;
                        int64_t arg[kMaxSpatial] = {-1, -1, -1};
                        for (int64_t a = 0; a < w0.count; ++a) {
                            const int64_t i0 = w0.first + a * dims[0].dilation;
                            for (int64_t b = 0; b < w1.count; ++b) {
                                const int64_t i1 = w1.first + b * dims[1].dilation;
                                const float* row = xp + (i0 * dims[1].in + i1) * dims[2].in;
                                for (int64_t c = 0; c < w2.count; ++c) {
                                    const int64_t i2 = w2.first + c * dims[2].dilation;
                                    if (kind == PoolKind::Average) {
                                        acc += row[i2];
                                    } else if (row[i2] > acc) {
                                        acc = row[i2];
                                        arg[0] = i0, arg[1] = i1, arg[2] = i2;
                                    }
                                }
                            }
                        }
                        if (kind == PoolKind::Average) {
                            const int64_t taps = count_include_pad
                                                     ? w0.padded_count * w1.padded_count * w2.padded_count
                                                     : w0.count * w1.count * w2.count;
                            acc = taps > 0 ? acc / static_cast<float>(taps) : 0.0f;
                        }
                        if (id)
                            id[p * out_plane + o] = p * in_plane + arg[0] * index_stride[0] +
                                                    arg[1] * index_stride[1] + arg[2] * index_stride[2];
                        yp[o++] = acc;
                    }
        }
    });
}

void max_pool(KernelContext& ctx) {
    const Tensor& x = float_input(ctx, 0);
    const bool want_indices = ctx.node.outputs.size() > 1 && !ctx.node.outputs[1].empty();
    const bool column_major = ctx.node.attr_int("storage_order", 0) != 0;
    pool(x, pool_dims(ctx, x.shape()), PoolKind::Max, false, ctx.outputs[0],
         want_indices ? &ctx.outputs[1] : nullptr, column_major);
}

void average_pool(KernelContext& ctx) {
    const Tensor& x = float_input(ctx, 0);
    const bool include_pad = ctx.node.attr_int("count_include_pad", 0) != 0;
    pool(x, pool_dims(ctx, x.shape()), PoolKind::Average, include_pad, ctx.outputs[0], nullptr, false);
}

// Global pooling reduces each (n, c) plane of any spatial rank to one value.
template <PoolKind kind>
void global_pool(KernelContext& ctx) {
    const Tensor& x = float_input(ctx, 0);
    if (x.rank() < 3) throw Error(ctx.where() + "input must be (N, C, D1, ...), got " + shape_str(x.shape()));
    Shape y_shape(x.rank(), 1);
    y_shape[0] = x.dim(0);
    y_shape[1] = x.dim(1);
    ctx.outputs[0] = Tensor(DType::Float32, y_shape);
    const int64_t planes = x.dim(0) * x.dim(1);
    const int64_t plane = planes ? x.numel() / planes : 0;
    const float* xd = x.data<float>();
    float* yd = ctx.outputs[0].data<float>();
    parallel_for(planes, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, plane)), [&](int64_t begin, int64_t end) {
        for (int64_t p = begin; p < end; ++p) {
            const float* xp = xd + p * plane;
            if (kind == PoolKind::Max) {
                float m = std::numeric_limits<float>::lowest();
                for (int64_t i = 0; i < plane; ++i) m = std::max(m, xp[i]);
                yd[p] = m;
            } else {
                double sum = 0;
                for (int64_t i = 0; i < plane; ++i) sum += xp[i];
                yd[p] = static_cast<float>(sum / static_cast<double>(plane));
            }
        }
    });
}

// Scatters X into zeros at MaxPool's flat indices. The indices address the default output,
// (in - 1) * stride - pad_begin - pad_end + kernel per spatial dim; a larger output_shape (the
// optional third input) keeps each value at its position, the extra space padded at the end.
void max_unpool(KernelContext& ctx) {
    const Tensor& x = float_input(ctx, 0);
    const Tensor& ind = ctx.in(1);
    if (ind.dtype() != DType::Int64 || ind.shape() != x.shape()) throw Error(ctx.where() + "indices must be int64 of X's shape");
    if (x.rank() < 3) throw Error(ctx.where() + "input must be (N, C, D1, ...), got " + shape_str(x.shape()));
    const size_t k = x.rank() - 2;
    const auto kernel = ctx.node.attr_ints("kernel_shape");
    const auto strides = ctx.node.attr_ints("strides", std::vector<int64_t>(k, 1));
    const auto pads = ctx.node.attr_ints("pads", std::vector<int64_t>(2 * k, 0));
    if (kernel.size() != k || strides.size() != k || pads.size() != 2 * k)
        throw Error(ctx.where() + "kernel_shape, strides and pads must match the spatial rank");
    Shape natural = {x.dim(0), x.dim(1)};
    for (size_t d = 0; d < k; ++d) natural.push_back((x.dim(d + 2) - 1) * strides[d] - pads[d] - pads[d + k] + kernel[d]);
    Shape shape = natural;
    if (ctx.has_input(2) && !ctx.in(2).empty()) {
        const auto v = ctx.in(2).to_int64_vector();
        shape.assign(v.begin(), v.end());
        if (shape.size() != natural.size()) throw Error(ctx.where() + "output_shape must have the input's rank");
        for (size_t d = 0; d < shape.size(); ++d)
            if (shape[d] < natural[d]) throw Error(ctx.where() + "output_shape is smaller than the unpooled shape " + shape_str(natural));
    }
    Tensor y(DType::Float32, shape);
    const int64_t natural_numel = shape_numel(natural);
    const int64_t* id = ind.data<int64_t>();
    for (int64_t i = 0; i < x.numel(); ++i) {
        if (id[i] < 0 || id[i] >= natural_numel) throw Error(ctx.where() + "index " + std::to_string(id[i]) + " is out of range");
        int64_t rest = id[i], at = 0, stride = 1;
        for (size_t d = shape.size(); d-- > 0;) {
            at += (rest % natural[d]) * stride;
            rest /= natural[d];
            stride *= shape[d];
        }
        y.data<float>()[at] = x.data<float>()[i];
    }
    ctx.outputs[0] = std::move(y);
}

// RoiAlign: each roi (x1, y1, x2, y2) * spatial_scale of image batch_indices[r] cut into
// output_height x output_width bins, each the average (or max) of grid_h x grid_w bilinear samples,
// as ONNX Runtime computes it (samples past -1 or the far edge count 0; max takes the largest
// weighted tap). half_pixel (the opset-16 default) shifts the roi by half a pixel.
void roi_align(KernelContext& ctx) {
    const Tensor& x = float_input(ctx, 0);
    const Tensor& rois = float_input(ctx, 1);
    const std::vector<int64_t> batch_idx = ctx.in(2).to_int64_vector();
    if (x.rank() != 4 || rois.rank() != 2 || rois.dim(1) != 4 || static_cast<int64_t>(batch_idx.size()) != rois.dim(0))
        throw Error(ctx.where() + "X must be (N, C, H, W), rois (R, 4) and batch_indices (R)");
    const ir::Node& n = ctx.node;
    const std::string mode = n.attr_string("mode", "avg");
    if (mode != "avg" && mode != "max") throw Error(ctx.where() + "mode '" + mode + "' is not supported");
    const bool half_pixel = ctx.opset >= 16 && n.attr_string("coordinate_transformation_mode", "half_pixel") == "half_pixel";
    const int64_t ph = n.attr_int("output_height", 1), pw = n.attr_int("output_width", 1), ratio = n.attr_int("sampling_ratio", 0);
    const float scale = n.attr_float("spatial_scale", 1.0f);
    const int64_t C = x.dim(1), H = x.dim(2), W = x.dim(3), R = rois.dim(0);
    Tensor y(DType::Float32, {R, C, ph, pw});
    const float offset = half_pixel ? 0.5f : 0.0f;
    for (int64_t r = 0; r < R; ++r) {
        const float* roi = rois.data<float>() + r * 4;
        const int64_t b = batch_idx[static_cast<size_t>(r)];
        if (b < 0 || b >= x.dim(0)) throw Error(ctx.where() + "batch index " + std::to_string(b) + " is out of range");
        const float sw = roi[0] * scale - offset, sh = roi[1] * scale - offset;
        float rw = roi[2] * scale - offset - sw, rh = roi[3] * scale - offset - sh;
        if (!half_pixel) rw = std::max(rw, 1.0f), rh = std::max(rh, 1.0f);
        const float bh = rh / static_cast<float>(ph), bw = rw / static_cast<float>(pw);
        const int64_t gh = ratio > 0 ? ratio : static_cast<int64_t>(std::ceil(rh / static_cast<float>(ph)));
        const int64_t gw = ratio > 0 ? ratio : static_cast<int64_t>(std::ceil(rw / static_cast<float>(pw)));
        const float count = static_cast<float>(std::max<int64_t>(gh * gw, 1));
        for (int64_t c = 0; c < C; ++c) {
            const float* plane = x.data<float>() + (b * C + c) * H * W;
            for (int64_t oy = 0; oy < ph; ++oy)
                for (int64_t ox = 0; ox < pw; ++ox) {
                    float acc = 0.0f;
                    bool first = true;
                    for (int64_t iy = 0; iy < gh; ++iy)
                        for (int64_t ix = 0; ix < gw; ++ix) {
                            float yy = sh + static_cast<float>(oy) * bh + (static_cast<float>(iy) + 0.5f) * bh / static_cast<float>(gh);
                            float xx = sw + static_cast<float>(ox) * bw + (static_cast<float>(ix) + 0.5f) * bw / static_cast<float>(gw);
                            float taps[4] = {0, 0, 0, 0};
                            if (!(yy < -1.0f || yy > static_cast<float>(H) || xx < -1.0f || xx > static_cast<float>(W))) {
                                yy = std::max(yy, 0.0f), xx = std::max(xx, 0.0f);
                                auto y0 = static_cast<int64_t>(yy), x0 = static_cast<int64_t>(xx);
                                int64_t y1 = y0 + 1, x1 = x0 + 1;
                                if (y0 >= H - 1) y0 = y1 = H - 1, yy = static_cast<float>(y0);
                                if (x0 >= W - 1) x0 = x1 = W - 1, xx = static_cast<float>(x0);
                                const float ly = yy - static_cast<float>(y0), lx = xx - static_cast<float>(x0), hy = 1 - ly, hx = 1 - lx;
                                taps[0] = hy * hx * plane[y0 * W + x0];
                                taps[1] = hy * lx * plane[y0 * W + x1];
                                taps[2] = ly * hx * plane[y1 * W + x0];
                                taps[3] = ly * lx * plane[y1 * W + x1];
                            }
                            if (mode == "avg") {
                                acc += taps[0] + taps[1] + taps[2] + taps[3];
                            } else {
                                const float m = std::max(std::max(taps[0], taps[1]), std::max(taps[2], taps[3]));
                                acc = first ? m : std::max(acc, m);
                                first = false;
                            }
                        }
                    y.data<float>()[((r * C + c) * ph + oy) * pw + ox] = mode == "avg" ? acc / count : acc;
                }
        }
    }
    ctx.outputs[0] = std::move(y);
}

}  // namespace

void register_pool(KernelRegistry& r) {
    r.add("MaxPool", 1, 999, max_pool);
    r.add("AveragePool", 1, 999, average_pool);
    r.add("GlobalMaxPool", 1, 999, global_pool<PoolKind::Max>);
    r.add("GlobalAveragePool", 1, 999, global_pool<PoolKind::Average>);
    r.add("MaxUnpool", 9, 999, max_unpool);
    r.add("RoiAlign", 10, 999, roi_align);
}

}  // namespace qcp::engine::kernels
