#include <algorithm>
#include <chrono>

#include "cp_common.hpp"
#include "qcp/core/error.hpp"

namespace qcp::decomp::QCP_ISA_NS {

using detail::MatrixD;

namespace {

// Factor n's subproblem min ‖X₍ₙ₎ − H Wᵀ‖² s.t. H on the grid, with G = WᵀW and F = X₍ₙ₎W: ρ =
// trace(G)/R and one Cholesky of G + ρI for all inner iterations.
detail::AdmmSubproblem weight_subproblem(detail::Mttkrp& mttkrp, int n, const std::vector<Matrix>& h) {
    detail::AdmmSubproblem p;
    p.f = mttkrp.mode(n, h);
    p.g = detail::gram_except(h, n);
    const int64_t rank = p.g.rows();
    p.rho = std::max(p.g.trace() / static_cast<double>(rank), 1e-12);
    MatrixD lhs = p.g;
    lhs.diagonal().array() += p.rho;
    p.solve = [llt = Eigen::LLT<MatrixD>(lhs)](const MatrixD& rhs) -> Matrix {
        return llt.solve(rhs.transpose()).transpose().cast<float>();
    };
    return p;
}

}  // namespace

CpResult cp_admm(const TensorView& x, int rank, const AdmmOptions& opt) {
    const auto t0 = std::chrono::steady_clock::now();
    if (opt.bits < 2 || opt.bits > 8) throw Error("bits must be between 2 and 8");
    const CpResult init = this_isa::cp_als(x, rank, opt.init);
    const CpResult rounded = this_isa::quantize_factors(x, init, opt.bits, opt.granularity);

    const double x_norm2 = detail::squared_norm(x);
    detail::Mttkrp mttkrp(x, rank);
    CpResult res = detail::admm_outer_loop(
        rounded, rounded.rel_error, x_norm2, opt,
        [&mttkrp](int n, const std::vector<Matrix>& h) { return weight_subproblem(mttkrp, n, h); },
        [x_norm2](int, const detail::AdmmSubproblem& p, const Matrix& h) {
            return detail::fast_squared_error(x_norm2, p.f, h, p.g);
        });
    res.rel_error = this_isa::cp_rel_error(x, res.factors);
    if (!(res.rel_error <= rounded.rel_error)) {  // never worse than the rounded initialisation
        res.factors = rounded.factors;
        res.quantized = rounded.quantized;
        res.rel_error = rounded.rel_error;
    }
    res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return res;
}

}  // namespace qcp::decomp::QCP_ISA_NS
