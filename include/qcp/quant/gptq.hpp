// GPTQ (Frantar, Ashkboos, Hoefler, Alistarh 2022): quantize a layer's weight W (rows × cols,
// row-major, as in rtn.hpp) column by column, minimising the layer output error
//     ‖X Wᵀ − X Ŵᵀ‖²_F = tr((W − Ŵ) H (W − Ŵ)ᵀ),   H = XᵀX (cols × cols),
// where X holds the layer's input rows (im2col rows for a conv, see hessian.hpp).
//
// As the reference implementation (gptq.py, fasterquant):
//  - dead inputs (H_ii = 0) get H_ii = 1 and W[:, i] = 0;
//  - act_order: columns are processed by decreasing diag(H) (stable), codes permuted back;
//  - H += damp · mean(diag H) · I, and U = the upper Cholesky factor of H⁻¹ (H⁻¹ = UᵀU);
//  - column j is rounded, its error e = (w_j − q_j) / U_jj is propagated to the later columns,
//    W[:, k] −= e · U_jk (k > j), lazily: immediately inside a batch of `block` columns, with one
//    GEMM for the columns after the batch;
//  - Channel/Tensor grids are fixed first, as RTN (rtn_grids) chooses them on the original W;
//    Block grids are chosen (same MSE search) when GPTQ reaches the first column of the block
//    in processing order, on the error-updated weights of the whole block (the reference's
//    groupsize with static_groups=False, except that the reference reads W there, which lacks
//    the current lazy batch's updates when a block starts mid-batch; here every column is up to
//    date). With act_order a block's columns are scattered in processing order and its grid is
//    chosen when the first of them comes up.
// With H diagonal no error propagates, and GPTQ gives RTN's codes exactly.
#pragma once

#include <Eigen/Core>
#include <cstdint>

#include "qcp/quant/rtn.hpp"

namespace qcp::quant {

struct GptqOptions {
    QuantScheme scheme;
    double damp = 0.01;      // relative to mean(diag H); ≥ 0
    bool act_order = false;
    int64_t block = 128;     // columns per lazy batch; ≥ 1 (results are the same for any value
                             // up to floating-point rounding)
};

struct GptqResult {
    QuantizedMatrix q;
    double loss_before = 0;  // tr((W − Ŵ)H(W − Ŵ)ᵀ) of RTN's solution (rtn_quantize), the given H
    double loss_after = 0;   // the same for GPTQ's solution
};

// H: cols × cols, symmetric positive semi-definite (HessianAccumulator::hessian()). Throws
// qcp::Error on a bad scheme or options, a wrongly sized H, non-finite weights, or an H that is
// not positive definite after damping (raise damp).
GptqResult gptq_quantize(const float* w, int64_t rows, int64_t cols, const Eigen::MatrixXd& hessian,
                         const GptqOptions& o);

// tr((W − Ŵ) H (W − Ŵ)ᵀ) for row-major W, Ŵ (rows × cols), in double.
double gptq_layer_loss(const float* w, const float* w_hat, int64_t rows, int64_t cols, const Eigen::MatrixXd& hessian);

}  // namespace qcp::quant
