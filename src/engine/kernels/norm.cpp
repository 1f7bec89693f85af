// BatchNormalization (inference), LayerNormalization, Softmax, LogSoftmax, Hardmax, LRN,
// MeanVarianceNormalization, NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss on float tensors.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "activation_math.hpp"
#include "kernels.hpp"
#include "qcp/core/parallel.hpp"
#include "util.hpp"

namespace qcp::engine::kernels {
namespace {

int64_t prod(const Shape& s, size_t begin, size_t end) {
    int64_t p = 1;
    for (size_t i = begin; i < end; ++i) p *= s[i];
    return p;
}

bool output_wanted(const KernelContext& ctx, size_t i) {
    return i < ctx.node.outputs.size() && !ctx.node.outputs[i].empty();
}

// y = (x - mean) / sqrt(var + epsilon) * scale + B, with per-channel parameters (dim 1 of x), or
// at opset 7-8 with spatial=0 per-activation parameters of shape x.shape[1:].
void batch_norm(KernelContext& ctx) {
    const ir::Node& n = ctx.node;
    if (n.attr_int("training_mode", 0) != 0)
        throw Error(ctx.where() + "training_mode=1 is not supported (inference only)");
    for (size_t i = 1; i < n.outputs.size(); ++i)
        if (!n.outputs[i].empty())
            throw Error(ctx.where() + "training outputs (running mean/var, saved statistics) are not supported");
    const Tensor& x = float_input(ctx, 0);
    if (x.rank() < 2) throw Error(ctx.where() + "input must be (N, C, ...), got " + shape_str(x.shape()));
    const float eps = n.attr_float("epsilon", 1e-5f);
    const int64_t batch = x.dim(0);
    const int64_t channels = x.dim(1);
    const int64_t inner = prod(x.shape(), 2, x.rank());
    // parameters are per channel, or per (channel, position) when spatial=0
    const bool per_activation = n.attr_int("spatial", 1) == 0;
    const int64_t params = per_activation ? channels * inner : channels;
    const float* p[4];
    for (size_t i = 0; i < 4; ++i) {
        const Tensor& t = float_input(ctx, i + 1);
        if (t.numel() != params)
            throw Error(ctx.where() + "input " + std::to_string(i + 1) + " has shape " + shape_str(t.shape()) + ", expected " +
                        std::to_string(params) + " values");
        p[i] = t.data<float>();
    }
    const float *scale = p[0], *bias = p[1], *mean = p[2], *var = p[3];
    std::vector<float> a(static_cast<size_t>(params)), b(static_cast<size_t>(params));
    for (int64_t i = 0; i < params; ++i) batch_norm_affine(scale[i], bias[i], mean[i], var[i], eps, a[i], b[i]);

    ctx.outputs[0] = Tensor(DType::Float32, x.shape());
    const float* xd = x.data<float>();
    float* yd = ctx.outputs[0].data<float>();
    const int64_t stride = per_activation ? 1 : 0;
    parallel_for(batch * channels, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, inner)), [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) {
            const int64_t base = per_activation ? (r % channels) * inner : r % channels;
            const float* xr = xd + r * inner;
            float* yr = yd + r * inner;
            for (int64_t i = 0; i < inner; ++i) yr[i] = xr[i] * a[base + i * stride] + b[base + i * stride];
        }
    });
}

// Normalises over x.shape[axis:]; Scale and B broadcast to that shape. Statistics in double.
void layer_norm(KernelContext& ctx) {
    const ir::Node& n = ctx.node;
    const Tensor& x = float_input(ctx, 0);
    const size_t axis = static_cast<size_t>(normalize_axis(n.attr_int("axis", -1), static_cast<int64_t>(x.rank()), ctx));
    const double eps = n.attr_float("epsilon", 1e-5f);
    const int64_t rows = prod(x.shape(), 0, axis);
    const int64_t cols = prod(x.shape(), axis, x.rank());
    const Shape norm_shape(x.shape().begin() + static_cast<std::ptrdiff_t>(axis), x.shape().end());

    // Scale/B as per-column strides over the normalised block (0 on broadcast dims)
    auto column_map = [&](size_t i) {
        std::vector<int64_t> map;
        if (!ctx.has_input(i)) return map;
        const Tensor& t = float_input(ctx, i);
        if (t.rank() > norm_shape.size() || broadcast_shapes(t.shape(), norm_shape, ctx) != norm_shape)
            throw Error(ctx.where() + "input " + std::to_string(i) + " of shape " + shape_str(t.shape()) +
                        " does not broadcast to " + shape_str(norm_shape));
        const auto strides = broadcast_strides(t.shape(), norm_shape);
        map.resize(static_cast<size_t>(cols));
        for (int64_t c = 0; c < cols; ++c) {
            int64_t rem = c, off = 0;
            for (size_t d = norm_shape.size(); d-- > 0;) {
                off += (rem % norm_shape[d]) * strides[d];
                rem /= norm_shape[d];
            }
            map[c] = off;
        }
        return map;
    };
    const auto scale_map = column_map(1);
    if (scale_map.empty()) throw Error(ctx.where() + "missing Scale input");
    const auto bias_map = column_map(2);
    const float* scale = ctx.in(1).data<float>();
    const float* bias = bias_map.empty() ? nullptr : ctx.in(2).data<float>();

    Shape stat_shape = x.shape();
    for (size_t d = axis; d < stat_shape.size(); ++d) stat_shape[d] = 1;
    ctx.outputs[0] = Tensor(DType::Float32, x.shape());
    Tensor mean_out(DType::Float32, stat_shape), inv_std_out(DType::Float32, stat_shape);
    const float* xd = x.data<float>();
    float* yd = ctx.outputs[0].data<float>();
    float* md = mean_out.data<float>();
    float* sd = inv_std_out.data<float>();
    parallel_for(rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, cols)), [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) {
            const float* xr = xd + r * cols;
            float* yr = yd + r * cols;
            double sum = 0;
            for (int64_t c = 0; c < cols; ++c) sum += xr[c];
            const double mean = sum / static_cast<double>(cols);
            double sq = 0;
            for (int64_t c = 0; c < cols; ++c) sq += (xr[c] - mean) * (xr[c] - mean);
            const double inv_std = 1.0 / std::sqrt(sq / static_cast<double>(cols) + eps);
            for (int64_t c = 0; c < cols; ++c) {
                const double v = (xr[c] - mean) * inv_std * scale[scale_map[c]];
                yr[c] = static_cast<float>(bias ? v + bias[bias_map[c]] : v);
            }
            md[r] = static_cast<float>(mean);
            sd[r] = static_cast<float>(inv_std);
        }
    });
    if (output_wanted(ctx, 1)) ctx.outputs[1] = std::move(mean_out);
    if (output_wanted(ctx, 2)) ctx.outputs[2] = std::move(inv_std_out);
}

// The `n` values spaced `inner` apart that Softmax, LogSoftmax and Hardmax reduce, for each of
// outer × inner positions. Opset < 13 flattens x to 2-D at `axis` (n = prod(shape[axis:]),
// inner = 1); opset 13+ reduces the single dimension `axis`.
struct SoftmaxAxis {
    int64_t outer, n, inner;
};

SoftmaxAxis softmax_axis(const KernelContext& ctx, const Tensor& x) {
    const int64_t rank = static_cast<int64_t>(x.rank());
    const bool coerce_2d = ctx.opset < 13;
    const size_t axis = static_cast<size_t>(
        normalize_axis(ctx.node.attr_int("axis", coerce_2d ? 1 : -1), std::max<int64_t>(rank, 1), ctx));
    const int64_t outer = prod(x.shape(), 0, std::min(axis, x.rank()));
    const int64_t n = coerce_2d ? prod(x.shape(), axis, x.rank()) : (rank == 0 ? 1 : x.dim(axis));
    const int64_t inner = coerce_2d ? 1 : prod(x.shape(), axis + 1, x.rank());
    return {outer, n, inner};
}

// Softmax/LogSoftmax over the values softmax_axis() names.
template <bool log_softmax>
void softmax(KernelContext& ctx) {
    const Tensor& x = float_input(ctx, 0);
    const auto [outer, n, inner] = softmax_axis(ctx, x);

    ctx.outputs[0] = Tensor(DType::Float32, x.shape());
    const float* xd = x.data<float>();
    float* yd = ctx.outputs[0].data<float>();
    parallel_for(outer * inner, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, n)), [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) {
            const int64_t base = (r / inner) * n * inner + r % inner;
            const float* xr = xd + base;
            float* yr = yd + base;
            float mx = -std::numeric_limits<float>::infinity();
            for (int64_t i = 0; i < n; ++i) mx = std::max(mx, xr[i * inner]);
            double sum = 0;
            for (int64_t i = 0; i < n; ++i) {
                yr[i * inner] = std::exp(xr[i * inner] - mx);
                sum += yr[i * inner];
            }
            if (log_softmax) {
                const float log_sum = static_cast<float>(std::log(sum));
                for (int64_t i = 0; i < n; ++i) yr[i * inner] = xr[i * inner] - mx - log_sum;
            } else {
                const float inv_sum = static_cast<float>(1.0 / sum);
                for (int64_t i = 0; i < n; ++i) yr[i * inner] *= inv_sum;
            }
        }
    });
}

// 1 at the first largest of the values softmax_axis() names, 0 elsewhere.
void hardmax(KernelContext& ctx) {
    const Tensor& x = float_input(ctx, 0);
    const auto [outer, n, inner] = softmax_axis(ctx, x);
    ctx.outputs[0] = Tensor(DType::Float32, x.shape());
    const float* xd = x.data<float>();
    float* yd = ctx.outputs[0].data<float>();
    for (int64_t r = 0; r < outer * inner && n > 0; ++r) {
        const int64_t base = (r / inner) * n * inner + r % inner;
        int64_t best = 0;
        for (int64_t i = 1; i < n; ++i)
            if (xd[base + i * inner] > xd[base + best * inner]) best = i;
        yd[base + best * inner] = 1.0f;
    }
}

// Across channels: y = x / (bias + alpha / size * sum of x^2 over the window) ^ beta, the window
// running from c - floor((size - 1) / 2) to c + ceil((size - 1) / 2).
void lrn(KernelContext& ctx) {
    const Tensor& x = float_input(ctx, 0);
    if (x.rank() < 3) throw Error(ctx.where() + "input must be (N, C, D1, ...), got " + shape_str(x.shape()));
    const int64_t size = ctx.node.attr_int("size", 0);
    if (size < 1) throw Error(ctx.where() + "size must be positive");
    const double alpha = ctx.node.attr_float("alpha", 1e-4f), beta = ctx.node.attr_float("beta", 0.75f);
    const double bias = ctx.node.attr_float("bias", 1.0f);
    const int64_t batch = x.dim(0), channels = x.dim(1), inner = prod(x.shape(), 2, x.rank());
    const int64_t before = (size - 1) / 2, after = size - 1 - before;
    ctx.outputs[0] = Tensor(DType::Float32, x.shape());
    const float* xd = x.data<float>();
    float* yd = ctx.outputs[0].data<float>();
    parallel_for(batch * channels, 1, [&](int64_t begin, int64_t end) {
        for (int64_t bc = begin; bc < end; ++bc) {
            const int64_t b = bc / channels, c = bc % channels;
            const int64_t lo = std::max<int64_t>(0, c - before), hi = std::min(channels - 1, c + after);
            for (int64_t i = 0; i < inner; ++i) {
                double sq = 0;
                for (int64_t k = lo; k <= hi; ++k) {
                    const double v = xd[(b * channels + k) * inner + i];
                    sq += v * v;
                }
                const int64_t at = bc * inner + i;
                yd[at] = static_cast<float>(xd[at] / std::pow(bias + alpha / static_cast<double>(size) * sq, beta));
            }
        }
    });
}

// ONNX's function body: (x - mean) / (sqrt(mean(x^2) - mean^2) + 1e-9) over `axes` (default 0, 2, 3).
void mean_variance_norm(KernelContext& ctx) {
    const Tensor& x = float_input(ctx, 0);
    const auto rank = static_cast<int64_t>(x.rank());
    std::vector<bool> reduced(x.rank(), false);
    for (int64_t a : ctx.node.attr_ints("axes", {0, 2, 3})) reduced[static_cast<size_t>(normalize_axis(a, rank, ctx))] = true;
    // group index of every element: its index with the reduced dims dropped
    std::vector<int64_t> group(static_cast<size_t>(x.numel()));
    int64_t groups = 1;
    for (size_t d = 0; d < x.rank(); ++d)
        if (!reduced[d]) groups *= x.dim(d);
    std::vector<int64_t> idx(x.rank(), 0);
    for (int64_t i = 0; i < x.numel(); ++i) {
        int64_t g = 0;
        for (size_t d = 0; d < x.rank(); ++d)
            if (!reduced[d]) g = g * x.dim(d) + idx[d];
        group[static_cast<size_t>(i)] = g;
        for (size_t d = x.rank(); d-- > 0;) {
            if (++idx[d] < x.dim(d)) break;
            idx[d] = 0;
        }
    }
    std::vector<double> sum(static_cast<size_t>(groups), 0.0), sum2(static_cast<size_t>(groups), 0.0);
    const float* xd = x.data<float>();
    for (int64_t i = 0; i < x.numel(); ++i) {
        sum[static_cast<size_t>(group[i])] += xd[i];
        sum2[static_cast<size_t>(group[i])] += double(xd[i]) * xd[i];
    }
    const double count = static_cast<double>(x.numel()) / static_cast<double>(std::max<int64_t>(groups, 1));
    ctx.outputs[0] = Tensor(DType::Float32, x.shape());
    float* yd = ctx.outputs[0].data<float>();
    for (int64_t i = 0; i < x.numel(); ++i) {
        const auto g = static_cast<size_t>(group[i]);
        const double mean = sum[g] / count;
        const double sd = std::sqrt(std::max(0.0, sum2[g] / count - mean * mean));
        yd[i] = static_cast<float>((xd[i] - mean) / (sd + 1e-9));
    }
}

// ---- losses ----------------------------------------------------------------------------------

// Weighted negative log-likelihood of log-probabilities `logp` (N, C, d...) at `target` (N, d...):
// loss[n, d] = -logp[n, t, d] * w[t], 0 where t == ignore_index. reduction "mean" divides the sum
// by the summed weights of the counted targets (their count without weights), as ONNX defines.
Tensor nll_loss(const KernelContext& ctx, const float* logp, const Shape& shape, const Tensor& target, const Tensor* weight) {
    if (shape.size() < 2) throw Error(ctx.where() + "input must be (N, C, ...), got " + shape_str(shape));
    if (target.dtype() != DType::Int64 && target.dtype() != DType::Int32)
        throw Error(ctx.where() + "target must be int64 or int32, got " + dtype_name(target.dtype()));
    Shape tshape = shape;
    tshape.erase(tshape.begin() + 1);
    if (target.shape() != tshape)
        throw Error(ctx.where() + "target shape " + shape_str(target.shape()) + ", expected " + shape_str(tshape));
    const int64_t classes = shape[1], inner = prod(shape, 2, shape.size());
    if (weight && (weight->dtype() != DType::Float32 || weight->numel() != classes))
        throw Error(ctx.where() + "weight must hold one float per class");
    const std::string reduction = ctx.node.attr_string("reduction", "mean");
    if (reduction != "mean" && reduction != "sum" && reduction != "none")
        throw Error(ctx.where() + "reduction '" + reduction + "' is not supported");
    const ir::Attribute* ignore_attr = ctx.node.attr("ignore_index");
    const std::vector<int64_t> t = target.to_int64_vector();
    Tensor loss(DType::Float32, tshape);
    double sum = 0, weight_sum = 0;
    for (int64_t i = 0; i < target.numel(); ++i) {
        const int64_t label = t[static_cast<size_t>(i)];
        if (ignore_attr && label == ignore_attr->i) continue;
        if (label < 0 || label >= classes)
            throw Error(ctx.where() + "target " + std::to_string(label) + " is out of range for " + std::to_string(classes) + " classes");
        const double w = weight ? weight->data<float>()[label] : 1.0;
        const int64_t n = i / inner, d = i % inner;
        const float l = static_cast<float>(-logp[(n * classes + label) * inner + d] * w);
        loss.data<float>()[i] = l;
        sum += l;
        weight_sum += w;
    }
    if (reduction == "none") return loss;
    const double total = reduction == "sum" ? sum : sum / weight_sum;
    return Tensor::scalar_float(static_cast<float>(total));
}

void nll_loss_kernel(KernelContext& ctx) {
    const Tensor& x = float_input(ctx, 0);
    ctx.outputs[0] = nll_loss(ctx, x.data<float>(), x.shape(), ctx.in(1), ctx.has_input(2) ? &float_input(ctx, 2) : nullptr);
}

// log_softmax over the class dimension (1), then the weighted NLL; the log-probabilities are the
// optional second output.
void softmax_cross_entropy_kernel(KernelContext& ctx) {
    const Tensor& x = float_input(ctx, 0);
    if (x.rank() < 2) throw Error(ctx.where() + "scores must be (N, C, ...), got " + shape_str(x.shape()));
    const int64_t batch = x.dim(0), classes = x.dim(1), inner = prod(x.shape(), 2, x.rank());
    Tensor logp(DType::Float32, x.shape());
    const float* xd = x.data<float>();
    float* lp = logp.data<float>();
    for (int64_t n = 0; n < batch; ++n)
        for (int64_t d = 0; d < inner; ++d) {
            const float* xr = xd + n * classes * inner + d;
            float mx = -std::numeric_limits<float>::infinity();
            for (int64_t c = 0; c < classes; ++c) mx = std::max(mx, xr[c * inner]);
            double sum = 0;
            for (int64_t c = 0; c < classes; ++c) sum += std::exp(static_cast<double>(xr[c * inner]) - mx);
            const double log_sum = std::log(sum);
            for (int64_t c = 0; c < classes; ++c)
                lp[n * classes * inner + c * inner + d] = static_cast<float>(xr[c * inner] - mx - log_sum);
        }
    ctx.outputs[0] = nll_loss(ctx, lp, x.shape(), ctx.in(1), ctx.has_input(2) ? &float_input(ctx, 2) : nullptr);
    if (output_wanted(ctx, 1)) ctx.outputs[1] = std::move(logp);
}

}  // namespace

void register_norm(KernelRegistry& r) {
    r.add("BatchNormalization", 7, 999, batch_norm);
    r.add("LayerNormalization", 17, 999, layer_norm);
    r.add("Softmax", 1, 999, softmax<false>);
    r.add("LogSoftmax", 1, 999, softmax<true>);
    r.add("Hardmax", 1, 999, hardmax);
    r.add("LRN", 1, 999, lrn);
    r.add("MeanVarianceNormalization", 9, 999, mean_variance_norm);
    r.add("NegativeLogLikelihoodLoss", 12, 999, nll_loss_kernel);
    r.add("SoftmaxCrossEntropyLoss", 12, 999, softmax_cross_entropy_kernel);
}

}  // namespace qcp::engine::kernels
