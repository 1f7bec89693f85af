#include <chrono>
#include <cmath>

#include "cp_common.hpp"
#include "qcp/core/error.hpp"

namespace qcp::decomp {

using detail::MatrixD;

namespace {

// Error growth past which the outer loop is declared diverged.
constexpr double kDivergeFactor = 10.0;

struct InnerStats {
    int iterations = 0;
    double primal = 0, dual = 0;
};

// ADMM for min ‖X₍ₙ₎ − H Wᵀ‖² s.t. H on the grid, with G = WᵀW and F = X₍ₙ₎W given.
InnerStats admm_update(const Matrix& f, const MatrixD& g, Matrix* h, Matrix* u, QuantizedFactor* q,
                       ScaleAxis axis, const AdmmOptions& opt) {
    const int64_t rank = g.rows();
    const double rho = std::max(g.trace() / static_cast<double>(rank), 1e-12);
    MatrixD lhs = g;
    lhs.diagonal().array() += rho;
    const Eigen::LLT<MatrixD> llt(lhs);
    const MatrixD fd = f.cast<double>();
    InnerStats st;
    for (int t = 0; t < opt.max_inner; ++t) {
        const MatrixD rhs = fd + rho * (h->cast<double>() + u->cast<double>());
        const Matrix h_tilde = llt.solve(rhs.transpose()).transpose().cast<float>();
        const Matrix h_old = *h;
        const std::vector<float> warm = q->scales;
        *q = detail::project_to_grid(h_tilde - *u, opt.bits, axis, h, &warm);
        *u += *h - h_tilde;
        st.iterations = t + 1;
        const double hn = std::max<double>(h->norm(), 1e-30);
        const double un = std::max<double>(u->norm(), 1e-30);
        st.primal = (*h - h_tilde).norm() / hn;
        st.dual = (*h - h_old).norm() / un;
        if (st.primal < opt.inner_tol && st.dual < opt.inner_tol) break;
    }
    return st;
}

}  // namespace

CpResult cp_admm(const TensorView& x, int rank, const AdmmOptions& opt) {
    const auto t0 = std::chrono::steady_clock::now();
    if (opt.bits < 2 || opt.bits > 8) throw Error("bits must be between 2 and 8");
    const CpResult init = cp_als(x, rank, opt.init);
    const CpResult rounded = quantize_factors(x, init, opt.bits, opt.granularity);

    const int modes = x.modes();
    std::vector<Matrix> h = rounded.factors;  // start on the grid
    std::vector<QuantizedFactor> q = rounded.quantized;
    std::vector<Matrix> u;
    for (const auto& m : h) u.push_back(Matrix::Zero(m.rows(), m.cols()));
    const double x_norm2 = detail::squared_norm(x);
    detail::Mttkrp mttkrp(x, rank);

    CpResult res;
    res.rel_error_start = rounded.rel_error;
    double prev = rounded.rel_error;
    double best = std::numeric_limits<double>::infinity();
    std::vector<Matrix> best_h = h;
    std::vector<QuantizedFactor> best_q = q;
    for (int it = 0; it < opt.max_outer; ++it) {
        double err2 = 0;
        for (int n = 0; n < modes; ++n) {
            const Matrix m = mttkrp.mode(n, h);
            const MatrixD g = detail::gram_except(h, n);
            const InnerStats st = admm_update(m, g, &h[static_cast<size_t>(n)], &u[static_cast<size_t>(n)],
                                              &q[static_cast<size_t>(n)], factor_scale_axis(opt.granularity, n), opt);
            res.inner_iterations += st.iterations;
            res.primal_residual = st.primal;
            res.dual_residual = st.dual;
            if (n == modes - 1) err2 = detail::fast_squared_error(x_norm2, m, h[static_cast<size_t>(n)], g);
        }
        res.iterations = it + 1;
        const double err = x_norm2 > 0 ? std::sqrt(err2 / x_norm2) : 0.0;
        if (!std::isfinite(err) || err > kDivergeFactor * std::max(rounded.rel_error, 1e-6)) {
            res.status = SolveStatus::Diverged;
            break;
        }
        if (err < best) {
            best = err;
            best_h = h;
            best_q = q;
        }
        if (std::fabs(prev - err) < opt.outer_tol * std::max(prev, 1e-12)) {
            res.status = SolveStatus::Converged;
            break;
        }
        prev = err;
    }
    res.factors = std::move(best_h);
    res.quantized = std::move(best_q);
    res.rel_error = cp_rel_error(x, res.factors);
    if (!(res.rel_error <= rounded.rel_error)) {  // never worse than the rounded initialisation
        res.factors = rounded.factors;
        res.quantized = rounded.quantized;
        res.rel_error = rounded.rel_error;
    }
    res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return res;
}

}  // namespace qcp::decomp
