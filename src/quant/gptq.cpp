#include "isa.hpp"

#include <Eigen/Cholesky>
#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <utility>

#include "qcp/core/error.hpp"

namespace qcp::quant::QCP_ISA_NS {
namespace {

using RowMatrixF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// U upper triangular with H⁻¹ = UᵀU, from a single factorization: with J the reversal
// permutation, J H J = L Lᵀ gives H = R Rᵀ for the upper triangular R = J L J, so U = R⁻¹.
// Works in place on h (cols² doubles each for h and U: layers with thousands of inputs).
Eigen::MatrixXd upper_cholesky_of_inverse(Eigen::MatrixXd h) {
    h.reverseInPlace();
    Eigen::LLT<Eigen::Ref<Eigen::MatrixXd>> llt(h);
    if (llt.info() != Eigen::Success)
        throw Error("gptq_quantize: the Hessian is not positive definite after damping; raise damp");
    h.triangularView<Eigen::StrictlyUpper>().setZero();
    h.reverseInPlace();
    Eigen::MatrixXd u = Eigen::MatrixXd::Identity(h.rows(), h.cols());
    h.triangularView<Eigen::Upper>().solveInPlace(u);
    return u;
}

// The column-by-column solver state, in processing (permuted) order.
class Gptq {
public:
    Gptq(const float* w, int64_t rows, int64_t cols, const Eigen::MatrixXd& hessian, const GptqOptions& o)
        : rows_(rows), cols_(cols), o_(o), s_(o.scheme), perm_(cols), position_(cols) {
        std::vector<bool> dead(cols);
        for (int64_t i = 0; i < cols; ++i) dead[i] = hessian(i, i) == 0;
        // dead inputs count as H_ii = 1, also for the column order and the damping
        const auto diag = [&](int64_t i) { return dead[i] ? 1.0 : hessian(i, i); };
        std::iota(perm_.begin(), perm_.end(), 0);
        if (o.act_order)
            std::stable_sort(perm_.begin(), perm_.end(), [&](int64_t a, int64_t b) { return diag(a) > diag(b); });
        for (int64_t j = 0; j < cols; ++j) position_[perm_[j]] = j;

        w_.resize(rows, cols);
        for (int64_t j = 0; j < cols; ++j)
            for (int64_t r = 0; r < rows; ++r) w_(r, j) = dead[perm_[j]] ? 0.0 : static_cast<double>(w[r * cols + perm_[j]]);

        Eigen::MatrixXd hp(cols, cols);
        for (int64_t b = 0; b < cols; ++b)
            for (int64_t a = 0; a < cols; ++a) hp(a, b) = a == b ? diag(perm_[a]) : hessian(perm_[a], perm_[b]);
        hp.diagonal().array() += o.damp * hp.diagonal().mean();
        u_ = upper_cholesky_of_inverse(std::move(hp));

        if (s_.granularity == Granularity::Block) {
            grids_.resize(static_cast<size_t>(group_count(s_, rows, cols)));
            block_chosen_.assign(static_cast<size_t>((cols + s_.block_size - 1) / s_.block_size), false);
        } else {
            grids_ = rtn_grids(w, rows, cols, s_);
        }
        codes_.resize(static_cast<size_t>(rows * cols));
    }

    void run() {
        for (int64_t i1 = 0; i1 < cols_; i1 += o_.block) {
            const int64_t i2 = std::min(cols_, i1 + o_.block);
            err_.setZero(rows_, i2 - i1);
            for (int64_t j = i1; j < i2; ++j) quantize_column(j, i1, i2);
            w_.rightCols(cols_ - i2).noalias() -= err_ * u_.block(i1, i2, i2 - i1, cols_ - i2);
        }
    }

    QuantizedMatrix result() const {
        QuantizedMatrix q;
        q.rows = rows_;
        q.cols = cols_;
        q.scheme = s_;
        q.codes = codes_;
        for (const GroupGrid& g : grids_) {
            q.scales.push_back(g.scale);
            q.zero_points.push_back(g.zero_point);
        }
        return q;
    }

private:
    // Column j of the lazy batch [i1, i2).
    void quantize_column(int64_t j, int64_t i1, int64_t i2) {
        const int64_t col = perm_[j];
        if (s_.granularity == Granularity::Block && !block_chosen_[col / s_.block_size]) choose_block_grids(col / s_.block_size, j, i1, i2);
        const double d = u_(j, j);
        for (int64_t r = 0; r < rows_; ++r) {
            const GroupGrid g = grids_[group_of(s_, cols_, r, col)];
            const int32_t code = quantize_value(static_cast<float>(w_(r, j)), g, s_);
            codes_[r * cols_ + col] = code;
            err_(r, j - i1) = (w_(r, j) - dequantize_value(code, g)) / d;
        }
        w_.middleCols(j + 1, i2 - j - 1).noalias() -= err_.col(j - i1) * u_.row(j).segment(j + 1, i2 - j - 1);
    }

    // The grids of block `block` (all rows), on the block's current weights: columns inside the
    // batch are up to date; later ones still lack the batch's pending update, added here.
    void choose_block_grids(int64_t block, int64_t j, int64_t i1, int64_t i2) {
        const int64_t c0 = block * s_.block_size, n = std::min(cols_, c0 + s_.block_size) - c0;
        RowMatrixF values(rows_, n);
        for (int64_t k = 0; k < n; ++k) {
            const int64_t p = position_[c0 + k];
            if (p < i2) {
                values.col(k) = w_.col(p).cast<float>();
            } else {
                values.col(k) = (w_.col(p) - err_.leftCols(j - i1) * u_.col(p).segment(i1, j - i1)).cast<float>();
            }
        }
        const int64_t blocks = static_cast<int64_t>(block_chosen_.size());
        for (int64_t r = 0; r < rows_; ++r) grids_[r * blocks + block] = rtn_group_grid(values.row(r).data(), n, 1, s_);
        block_chosen_[block] = true;
    }

    int64_t rows_, cols_;
    GptqOptions o_;
    QuantScheme s_;
    std::vector<int64_t> perm_;      // processing position → original column
    std::vector<int64_t> position_;  // original column → processing position
    Eigen::MatrixXd w_;              // rows × cols, permuted, error-updated
    Eigen::MatrixXd u_;              // upper Cholesky factor of the damped, permuted H⁻¹
    Eigen::MatrixXd err_;            // the lazy batch's scaled errors, rows × batch
    std::vector<GroupGrid> grids_;
    std::vector<bool> block_chosen_;
    std::vector<int32_t> codes_;     // original column order
};

}  // namespace

double gptq_layer_loss(const float* w, const float* w_hat, int64_t rows, int64_t cols, const Eigen::MatrixXd& hessian) {
    Eigen::MatrixXd e(rows, cols);
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c) e(r, c) = static_cast<double>(w[r * cols + c]) - w_hat[r * cols + c];
    return (e * hessian).cwiseProduct(e).sum();
}

GptqResult gptq_quantize(const float* w, int64_t rows, int64_t cols, const Eigen::MatrixXd& hessian,
                         const GptqOptions& o) {
    check_scheme(o.scheme, "gptq_quantize");
    if (!(o.damp >= 0)) throw Error("gptq_quantize: damp must be >= 0, got " + std::to_string(o.damp));
    if (o.block < 1) throw Error("gptq_quantize: block must be >= 1, got " + std::to_string(o.block));
    if (hessian.rows() != cols || hessian.cols() != cols)
        throw Error("gptq_quantize: the Hessian is " + std::to_string(hessian.rows()) + "x" + std::to_string(hessian.cols()) +
                    ", expected " + std::to_string(cols) + "x" + std::to_string(cols));
    if (!hessian.allFinite()) throw Error("gptq_quantize: the Hessian has non-finite entries");

    GptqResult result;
    const QuantizedMatrix rtn = rtn_quantize(w, rows, cols, o.scheme);  // also checks the weights
    result.loss_before = this_isa::gptq_layer_loss(w, rtn.dequantized().data(), rows, cols, hessian);

    Gptq solver(w, rows, cols, hessian, o);
    solver.run();
    result.q = solver.result();
    result.loss_after = this_isa::gptq_layer_loss(w, result.q.dequantized().data(), rows, cols, hessian);
    return result;
}

}  // namespace qcp::quant::QCP_ISA_NS
