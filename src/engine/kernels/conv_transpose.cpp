// ConvTranspose (opset 1-22): 1-D, 2-D and 3-D; group, strides, pads, dilations, output_padding,
// output_shape, auto_pad, optional bias.
//
// Per image and group: columns = W_gᵀ (Cout/group·k × Cin/group) · X_g (Cin/group × H·W) by sgemm,
// then col2im scatters every column entry onto the output position it feeds. Each task owns its
// output slice, so results do not depend on the thread count.
#include <algorithm>
#include <array>

#include "conv_impl.hpp"
#include "qcp/core/parallel.hpp"
#include "qcp/ir/conv_pads.hpp"
#include "sgemm.hpp"
#include "util.hpp"

namespace qcp::engine::kernels {
namespace {

struct TransposeGeometry {
    int64_t batch = 0, cin = 0, cout = 0, group = 1, cg = 0, mg = 0;
    // spatial dims right-aligned into 3 (a 1-D ConvTranspose is 1 × 1 × W)
    std::array<int64_t, 3> in{1, 1, 1}, out{1, 1, 1}, k{1, 1, 1}, s{1, 1, 1}, d{1, 1, 1}, pad{0, 0, 0};
    int64_t in_size() const { return in[0] * in[1] * in[2]; }
    int64_t out_size() const { return out[0] * out[1] * out[2]; }
    int64_t k_size() const { return k[0] * k[1] * k[2]; }
};

// Output size and leading pad per spatial dim, as ONNX Runtime computes them (ir::conv_transpose_pads):
// auto_pad SAME_* pads to in·stride, an explicit output_shape derives the pads, otherwise the pads give
// the size. An odd total pad goes to the end for SAME_UPPER and to the start otherwise.
TransposeGeometry transpose_geometry(const KernelContext& ctx, const Tensor& x, const Tensor& w) {
    if (x.rank() < 3 || x.rank() > 5 || w.rank() != x.rank())
        throw Error(ctx.where() + "expects X and W of equal rank 3 to 5, got " + shape_str(x.shape()) + " and " +
                    shape_str(w.shape()));
    const size_t nd = x.rank() - 2;
    const ConvAttrs a = read_conv_attrs(ctx, w.shape(), nd);
    TransposeGeometry g;
    g.batch = x.dim(0);
    g.cin = x.dim(1);
    g.group = a.group;
    if (w.dim(0) != g.cin || g.cin % g.group != 0)
        throw Error(ctx.where() + "X " + shape_str(x.shape()) + " and W " + shape_str(w.shape()) +
                    " do not match group " + std::to_string(g.group));
    g.cg = g.cin / g.group;
    g.mg = w.dim(1);
    g.cout = g.mg * g.group;

    const auto output_padding = ctx.node.attr_ints("output_padding", std::vector<int64_t>(nd, 0));
    auto output_shape = ctx.node.attr_ints("output_shape");
    if (output_shape.size() == nd + 2) output_shape.erase(output_shape.begin(), output_shape.begin() + 2);
    if (output_padding.size() != nd || (!output_shape.empty() && output_shape.size() != nd))
        throw Error(ctx.where() + "output_padding and output_shape need " + std::to_string(nd) + " values");
    const Shape in(x.shape().begin() + 2, x.shape().end());
    const std::vector<int64_t> pads =
        ir::conv_transpose_pads(ctx.node, in, a.kernel, a.strides, a.dilations, output_padding, output_shape);
    for (size_t i = 0; i < nd; ++i) {
        const size_t j = 3 - nd + i;
        g.in[j] = in[i];
        g.k[j] = a.kernel[i];
        g.s[j] = a.strides[i];
        g.d[j] = a.dilations[i];
        // the size with no padding at all, less the pads (an end pad below 0 is output past the input's reach)
        const int64_t full = (g.in[j] - 1) * g.s[j] + output_padding[i] + (g.k[j] - 1) * g.d[j] + 1;
        const int64_t out = full - pads[i] - pads[i + nd];
        if (out <= 0) throw Error(ctx.where() + "pads leave an empty output");
        g.out[j] = out;
        g.pad[j] = pads[i];
    }
    return g;
}

// Adds column (channel m, all taps) × input positions onto output plane `out`.
void col2im_add(const TransposeGeometry& g, const float* col, float* out) {
    const int64_t hw_in = g.in_size();
    for (int64_t tap = 0; tap < g.k_size(); ++tap) {
        const int64_t kz = tap / (g.k[1] * g.k[2]), ky = tap / g.k[2] % g.k[1], kx = tap % g.k[2];
        const float* src = col + tap * hw_in;
        for (int64_t iz = 0; iz < g.in[0]; ++iz) {
            const int64_t oz = iz * g.s[0] - g.pad[0] + kz * g.d[0];
            if (oz < 0 || oz >= g.out[0]) continue;
            for (int64_t iy = 0; iy < g.in[1]; ++iy) {
                const int64_t oy = iy * g.s[1] - g.pad[1] + ky * g.d[1];
                if (oy < 0 || oy >= g.out[1]) continue;
                const float* srow = src + (iz * g.in[1] + iy) * g.in[2];
                float* orow = out + (oz * g.out[1] + oy) * g.out[2];
                for (int64_t ix = 0; ix < g.in[2]; ++ix) {
                    const int64_t ox = ix * g.s[2] - g.pad[2] + kx * g.d[2];
                    if (ox >= 0 && ox < g.out[2]) orow[ox] += srow[ix];
                }
            }
        }
    }
}

}  // namespace

void conv_transpose_kernel(KernelContext& ctx) {
    const Tensor& x = float_input(ctx, 0);
    const Tensor& w = float_input(ctx, 1);
    const TransposeGeometry g = transpose_geometry(ctx, x, w);
    const float* bias = conv_bias(ctx, g.cout);
    const Shape out_shape = conv_output_shape(x, g.batch, g.cout, g.out);
    Tensor y(DType::Float32, out_shape);
    const float* xp = x.data<float>();
    const float* wp = w.data<float>();
    float* yp = y.data<float>();
    const int64_t rows = g.mg * g.k_size(), hw_in = g.in_size(), hw_out = g.out_size();

    parallel_for(g.batch * g.group, 1, [&](int64_t t0, int64_t t1) {
        float* col = sgemm::scratch(0, rows * hw_in);
        for (int64_t t = t0; t < t1; ++t) {
            const int64_t n = t / g.group, gi = t % g.group;
            // W_g is (Cin/group) × (Cout/group·k) row-major; read it transposed
            sgemm::gemm(rows, hw_in, g.cg, {wp + gi * g.cg * rows, 1, rows}, {xp + (n * g.cin + gi * g.cg) * hw_in, hw_in, 1},
                        col, hw_in);
            for (int64_t m = 0; m < g.mg; ++m) {
                const int64_t oc = gi * g.mg + m;
                float* out = yp + (n * g.cout + oc) * hw_out;
                std::fill(out, out + hw_out, bias ? bias[oc] : 0.0f);
                col2im_add(g, col + m * g.k_size() * hw_in, out);
            }
        }
    });
    ctx.outputs[0] = std::move(y);
}

}  // namespace qcp::engine::kernels
