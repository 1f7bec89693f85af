// Streaming accumulation of a layer's GPTQ Hessian H = XᵀX = Σ_rows xᵀx (unnormalised), where each
// row x of X is one input vector of the layer: a Gemm/MatMul input row (batch dims flattened),
// or for a conv one im2col row per output position, cols = C·kh·kw in the weight's column order
// ((ci·kh)+ky)·kw+kx, zero padding contributing zeros.
//
// Rows are gathered into a buffer of kHessianBlockRows rows (feature-major, so im2col writes run
// contiguously); each full buffer is multiplied out in float (X_bᵀX_b, tiles of H in parallel)
// and added to the double total. Block boundaries fall at fixed multiples of the global row
// count, so the result does not depend on how the rows are split across calls, nor on the
// thread count (each tile of H is computed by exactly one task).
#pragma once

#include <Eigen/Core>
#include <cstdint>
#include <vector>

namespace qcp::quant {

constexpr int64_t kHessianBlockRows = 2048;

class HessianAccumulator {
public:
    explicit HessianAccumulator(int64_t cols);

    // x: n_rows × cols, row-major.
    void add_rows(const float* x, int64_t n_rows);

    // 2-D conv geometry (group 1); output size per axis (in + pads − dil·(k−1) − 1) / stride + 1.
    struct ConvGeometry {
        int64_t kh = 1, kw = 1;
        int64_t stride_h = 1, stride_w = 1;
        int64_t pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
        int64_t dil_h = 1, dil_w = 1;
    };
    // x: conv input (n, c, h, w) float32, row-major. Adds n·out_h·out_w rows; c·kh·kw must equal
    // cols. Throws qcp::Error on a mismatch or an empty output.
    void add_conv_input(const float* x, int64_t n, int64_t c, int64_t h, int64_t w, const ConvGeometry& g);

    // XᵀX over all rows so far (cols × cols, exactly symmetric). Flushes the buffer, so it is
    // not safe to call concurrently with anything else on the same accumulator.
    const Eigen::MatrixXd& hessian() const;
    int64_t rows_seen() const { return rows_seen_; }
    int64_t cols() const { return cols_; }

private:
    void flush() const;

    int64_t cols_;
    int64_t rows_seen_ = 0;
    mutable Eigen::MatrixXd total_;
    // Pending rows, feature-major: buffer_[f · kHessianBlockRows + i] is feature f of row i.
    mutable std::vector<float> buffer_;
    mutable int64_t pending_ = 0;
};

}  // namespace qcp::quant
