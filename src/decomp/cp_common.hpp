// Building blocks shared by CP-ALS and AO-ADMM (internal to decomp).
#pragma once

#include <Eigen/Core>
#include <Eigen/Cholesky>
#include <cmath>
#include <functional>
#include <optional>

#include "isa.hpp"

namespace qcp::decomp::QCP_ISA_NS::detail {

using MatrixD = Eigen::MatrixXd;

// MTTKRPs of one sweep over the modes in order 0, 1[, 2]. For three modes the mode-1 and
// mode-2 products both contract Y = Aᵀ X₍₀₎ (R × J·K), computed once after A changes.
class Mttkrp {
public:
    Mttkrp(const TensorView& x, int rank) : x_(x), rank_(rank) {}
    Matrix mode0(const std::vector<Matrix>& f) const;       // X₍₀₎ (B ⊙ C) or X B
    void contract_a(const Matrix& a);                       // Y = Aᵀ X₍₀₎ (three modes)
    Matrix mode1(const std::vector<Matrix>& f) const;       // needs contract_a for 3 modes
    Matrix mode2(const std::vector<Matrix>& f) const;       // needs contract_a
    Matrix mode(int n, const std::vector<Matrix>& f) {
        if (n == 0) return mode0(f);
        if (n == 1) {
            if (x_.modes() == 3) contract_a(f[0]);
            return mode1(f);
        }
        return mode2(f);
    }

private:
    TensorView x_;
    int rank_;
    Matrix y_;  // R × J·K
};

// ⊛ of the Gram matrices of every factor except `skip`, in double.
MatrixD gram_except(const std::vector<Matrix>& factors, int skip);

// Squared Frobenius norm of x, in double.
double squared_norm(const TensorView& x);

// ‖X − X̂‖² from the last update's quantities: ‖X‖² − 2⟨M, H⟩ + ⟨G, HᵀH⟩ (G excludes H's mode).
double fast_squared_error(double x_norm2, const Matrix& m, const Matrix& h, const MatrixD& g);

// Projects v onto the b-bit grid (scales laid out by `axis`) into `out`; returns the codes.
// With `warm` (the scales of a previous projection of similar values) only refines them.
QuantizedFactor project_to_grid(const Matrix& v, int bits, ScaleAxis axis, Matrix* out,
                                const std::vector<float>* warm = nullptr);

// Spreads column norms evenly: every factor's column r gets norm (Π_n ‖h_n,r‖)^(1/N).
void balance_columns(std::vector<Matrix>* f);

// An ALS sweep's stopping rule from its relative error and the previous sweep's: Diverged when
// the error is not finite, Converged when it moved by less than tol, nullopt to go on.
inline std::optional<SolveStatus> sweep_stop(double err, double prev, double tol) {
    if (!std::isfinite(err)) return SolveStatus::Diverged;
    if (std::fabs(prev - err) < tol) return SolveStatus::Converged;
    return std::nullopt;
}

// Seeded standard-normal matrix.
Matrix random_matrix(int64_t rows, int64_t cols, uint64_t seed);

// ---- the AO-ADMM outer loop of cp_admm (weight objective) and cp_admm_metric (admm_loop.cpp) ----
// One factor's subproblem with the other factors fixed: min over H on the grid of a convex
// quadratic with linear term −2⟨F, H⟩. Each inner iteration solves the objective's regularised
// system for H̃ = solve(F + ρ(H + U)), then H = Q_b(H̃ − U) and U ← U + H − H̃ (see cp.hpp).
struct AdmmSubproblem {
    Matrix f;          // F, dim(n) × R: the MTTKRP of the factor
    MatrixD g;         // G, R × R: the Hadamard product of the other factors' (metric) Grams
    double rho = 0;    // the ADMM penalty ρ
    std::function<Matrix(const MatrixD& rhs)> solve;  // H̃ of the regularised system for `rhs`
};
// The subproblem of factor `mode` at `factors` (modes before it already updated in this sweep).
using AdmmSubproblemFn = std::function<AdmmSubproblem(int mode, const std::vector<Matrix>& factors)>;
// The objective's ‖X − X̂‖², non-negative, just after factor `mode` became `h` by subproblem `p`
// (called for the last mode of each sweep).
using AdmmSquaredErrorFn = std::function<double(int mode, const AdmmSubproblem& p, const Matrix& h)>;

// Sweeps the modes in order from `start` (factors on the grid) with U warm-started across sweeps;
// after each sweep the relative error is sqrt(‖X − X̂‖² / x_norm2). Stops as Converged when it
// changes by less than outer_tol relative, as Diverged when it is not finite or exceeds 10×
// `start_error` (the start's relative error in the same objective), else after max_outer sweeps.
// Returns the factors of the lowest error seen (`start`'s when no sweep ran) with status,
// iterations, inner_iterations, the last residuals and rel_error_start = start.rel_error filled;
// the caller computes the final errors.
CpResult admm_outer_loop(const CpResult& start, double start_error, double x_norm2, const AdmmOptions& opt,
                         const AdmmSubproblemFn& subproblem, const AdmmSquaredErrorFn& squared_error);

}  // namespace qcp::decomp::QCP_ISA_NS::detail
