// The AO-ADMM outer loop shared by the weight and the output objective; each objective supplies
// only its per-factor system (AdmmSubproblem) and its error measure.
#include <cmath>
#include <limits>

#include "cp_common.hpp"

namespace qcp::decomp::QCP_ISA_NS::detail {

namespace {

// Error growth past which the outer loop is declared diverged.
constexpr double kDivergeFactor = 10.0;

struct InnerStats {
    int iterations = 0;
    double primal = 0, dual = 0;
};

// ADMM inner iterations on one factor: h, its dual u and its grid q are updated in place.
InnerStats admm_inner(const AdmmSubproblem& p, Matrix* h, Matrix* u, QuantizedFactor* q, ScaleAxis axis,
                      const AdmmOptions& opt) {
    const MatrixD fd = p.f.cast<double>();
    InnerStats st;
    for (int t = 0; t < opt.max_inner; ++t) {
        const MatrixD rhs = fd + p.rho * (h->cast<double>() + u->cast<double>());
        const Matrix h_tilde = p.solve(rhs);
        const Matrix h_old = *h;
        const std::vector<float> warm = q->scales;
        *q = project_to_grid(h_tilde - *u, opt.bits, axis, h, &warm);
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

CpResult admm_outer_loop(const CpResult& start, double start_error, double x_norm2, const AdmmOptions& opt,
                         const AdmmSubproblemFn& subproblem, const AdmmSquaredErrorFn& squared_error) {
    const int modes = static_cast<int>(start.factors.size());
    std::vector<Matrix> h = start.factors;
    std::vector<QuantizedFactor> q = start.quantized;
    std::vector<Matrix> u;
    for (const auto& m : h) u.push_back(Matrix::Zero(m.rows(), m.cols()));

    CpResult res;
    res.rel_error_start = start.rel_error;
    double prev = start_error, best = std::numeric_limits<double>::infinity();
    std::vector<Matrix> best_h = h;
    std::vector<QuantizedFactor> best_q = q;
    for (int it = 0; it < opt.max_outer; ++it) {
        double err2 = 0;
        for (int n = 0; n < modes; ++n) {
            const size_t f = static_cast<size_t>(n);
            const AdmmSubproblem p = subproblem(n, h);
            const InnerStats st = admm_inner(p, &h[f], &u[f], &q[f], factor_scale_axis(opt.granularity, n), opt);
            res.inner_iterations += st.iterations;
            res.primal_residual = st.primal;
            res.dual_residual = st.dual;
            if (n == modes - 1) err2 = squared_error(n, p, h[f]);
        }
        res.iterations = it + 1;
        const double err = x_norm2 > 0 ? std::sqrt(err2 / x_norm2) : 0.0;
        if (!std::isfinite(err) || err > kDivergeFactor * std::max(start_error, 1e-6)) {
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
    return res;
}

}  // namespace qcp::decomp::QCP_ISA_NS::detail
