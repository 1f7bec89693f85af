// CP decomposition of conv / FC weights, float (CP-ALS) and with factors on a b-bit grid
// (AO-ADMM, Huang–Sidiropoulos–Liavas 2016, with the grid projection as the proximal step).
//
// A 3-way tensor X of shape (I, J, K), row-major (X(i,j,k) = x[(i·J + j)·K + k]) — a conv weight
// (Cout, Cin, kh, kw) is exactly (Cout, Cin, kh·kw) — is approximated by
//     X ≈ Σ_r a_r ∘ b_r ∘ c_r,   A = [a_r] (I×R), B (J×R), C (K×R);
// a matrix W (I, J) (K = 1, two modes) by W ≈ A Bᵀ. Factors are row-major float matrices.
//
// CP-ALS: per mode n, H ← MTTKRP_n (G_n + εI)⁻¹ with G_n the Hadamard product of the other
// factors' Gram matrices (Cholesky solve), columns renormalised after each sweep.
// AO-ADMM: per mode, ρ = trace(G)/R, one Cholesky of G + ρI, then inner iterations
//     H̃ = (F + ρ(H + U))(G + ρI)⁻¹,  H = Q_b(H̃ − U),  U ← U + H − H̃
// until the primal ‖H − H̃‖/‖H‖ and dual ‖H − H_prev‖/‖U‖ residuals fall below tolerance; U is
// warm-started across outer iterations. Q_b is the symmetric uniform grid of core/grid.hpp,
// with one scale per factor ("tensor", the paper's setting) or per output channel of the conv
// each factor becomes ("channel"): per row of A (Cout), per column of B and C (rank components).
// Per-row scales on A also let a per-output-channel affine correction fold into A's scales.
#pragma once

#include <Eigen/Core>
#include <cstdint>
#include <string>
#include <vector>

namespace qcp::decomp {

using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// A read-only view of the tensor to factorize; `k == 1` means a matrix (two modes).
struct TensorView {
    const float* data = nullptr;
    int64_t i = 0, j = 0, k = 1;
    int modes() const { return k == 1 ? 2 : 3; }
    int64_t dim(int mode) const { return mode == 0 ? i : mode == 1 ? j : k; }
    int64_t numel() const { return i * j * k; }
};

enum class Granularity { Tensor, Channel };
// Which scales a factor's grid has: one, one per row, or one per column.
enum class ScaleAxis { None, Rows, Cols };
// The scale layout of factor `mode` (0 = A) for a granularity.
ScaleAxis factor_scale_axis(Granularity g, int mode);
enum class SolveStatus { Converged, MaxIterations, Diverged };
const char* status_name(SolveStatus s);

// One factor on its grid: value(row, col) = scale(row, col) * codes(row, col), where scale
// is scales[0], scales[row] or scales[col] according to `axis`.
struct QuantizedFactor {
    Eigen::Matrix<int32_t, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> codes;
    std::vector<float> scales;
    ScaleAxis axis = ScaleAxis::None;
    int bits = 8;
    float scale(int64_t row, int64_t col) const {
        return scales[axis == ScaleAxis::None ? 0 : axis == ScaleAxis::Rows ? static_cast<size_t>(row) : static_cast<size_t>(col)];
    }
    Matrix dequantized() const;
};

struct CpResult {
    std::vector<Matrix> factors;             // A, B[, C]; dequantized values when quantized
    std::vector<QuantizedFactor> quantized;  // empty for float CP
    SolveStatus status = SolveStatus::MaxIterations;
    int iterations = 0;                      // outer iterations
    int inner_iterations = 0;                // ADMM inner iterations, summed
    double rel_error = 1.0;                  // ‖X − X̂‖_F / ‖X‖_F, computed exactly
    double rel_error_start = 1.0;            // ADMM: of the CP-ALS start rounded to the grid
    double primal_residual = 0, dual_residual = 0;  // last ADMM residuals
    double metric_rel_error = -1;            // cp_admm_metric: ‖X − X̂‖_M / ‖X‖_M; −1 otherwise
    double seconds = 0;
};

struct CpAlsOptions {
    int max_iters = 100;
    double tol = 1e-7;          // stop when the relative error changes less than this
    double ridge = 1e-9;        // ε relative to mean(diag G): the degeneracy guard
    uint64_t seed = 0;          // for columns the SVD initialisation cannot fill
};

struct AdmmOptions {
    int bits = 4;
    Granularity granularity = Granularity::Tensor;
    int max_outer = 40;
    int max_inner = 10;
    double inner_tol = 1e-2;    // primal and dual residual tolerance
    double outer_tol = 1e-5;    // relative change of the error
    // The CP-ALS run the solver starts from, with a strong ridge: ADMM refines locally, and an
    // unregularised high-rank fit has large cancelling columns that round badly (measured: a
    // ridge of 1e-2 lowers the final error on random 64×64×9 tensors from 0.51 to 0.48).
    CpAlsOptions init = {100, 1e-7, 1e-2, 0};
};

// Float CP-ALS from an SVD (HOSVD) initialisation; column norms are spread evenly over the
// factors at the end, so every factor has the same dynamic range.
CpResult cp_als(const TensorView& x, int rank, const CpAlsOptions& options = {});

// Rounds every factor of `cp` to the grid (the conventional factorize-then-quantize baseline).
CpResult quantize_factors(const TensorView& x, const CpResult& cp, int bits, Granularity granularity);

// AO-ADMM with quantized factors, initialised from cp_als. The result is never worse than the
// initialisation rounded to the grid (that rounding is returned if ADMM does not improve on it).
CpResult cp_admm(const TensorView& x, int rank, const AdmmOptions& options = {});

// ---- data-aware CP: the layer-output objective ---------------------------------------------
// With X_in the layer's input rows (im2col rows for a conv, columns (ci, ky, kx)) and
// H = X_inᵀX_in, the layer-output error of Ŵ is ‖X_in (W − Ŵ)ᵀ‖² = tr((W − Ŵ) H (W − Ŵ)ᵀ), W the
// mode-0 unfolding (I × J·K). A CP model couples the J·K columns, so H is replaced by its
// Kronecker approximation H ≈ M₁ ⊗ M₂ / tr(H) built from partial traces,
//     M₁[j, j′] = Σ_k H[(j,k), (j′,k)],   M₂[k, k′] = Σ_j H[(j,k), (j,k′)]
// (exact for a matrix, K = 1, where M₁ = H and M₂ = 1). The objective becomes the weighted norm
//     ‖D‖²_M = Σ D(i,j,k) M₁(j,j′) M₂(k,k′) D(i,j′,k′),   D = X − [[A, B, C]],
// and each factor update of AO-ADMM minimises tr(F_nᵀ M_n F_n G_n) − 2 tr(F_nᵀ P_n) with
// G_n = ⊛_{m≠n} F_mᵀ M_m F_m and P_n the MTTKRP of V = X ×₁ M₁ ×₂ M₂ (M₀ = I). The ADMM step
// solves M_n H̃ G_n + ρH̃ = P_n + ρ(H + U) through the eigendecompositions of M_n and G_n.
struct CpMetric {
    std::vector<Eigen::MatrixXd> modes;  // per mode, dim(n) × dim(n) symmetric PSD; empty = identity
};

// The Kronecker metric of an input Hessian H ((j·k) × (j·k), index j·K + k), each factor damped
// by damp · mean(diag) · I so a dead input cannot make it singular.
CpMetric cp_kronecker_metric(const Eigen::MatrixXd& h, int64_t j, int64_t k, double damp = 0.01);

// ‖X − [[A, B, C]]‖_M / ‖X‖_M (1 when ‖X‖_M = 0), in double.
double cp_metric_rel_error(const TensorView& x, const std::vector<Matrix>& factors, const CpMetric& metric);

// Float CP minimising ‖X − [[A, B, C]]‖_M: cp_als (weight objective), then ALS sweeps in the
// metric, each factor the exact minimiser of the ridge-regularised objective with the others
// fixed (M_n F_n G_n + εF_n = P_n, `options.ridge` relative as in cp_als). For a matrix (K = 1)
// this converges to the weighted SVD: the best rank-R fit of W in ‖(W − Ŵ) H^{1/2}‖.
// metric_rel_error and rel_error are both filled.
CpResult cp_als_metric(const TensorView& x, int rank, const CpAlsOptions& options, const CpMetric& metric);

// AO-ADMM with quantized factors minimising ‖X − [[A, B, C]]‖_M, started from the better (in the
// metric) of two fits rounded to the grid: cp_als's (weight objective) and that fit refined in
// the metric as cp_als_metric does. rel_error reports the weight error as cp_admm does;
// metric_rel_error the objective. Never worse in the objective than its rounded start.
CpResult cp_admm_metric(const TensorView& x, int rank, const AdmmOptions& options, const CpMetric& metric);

// ‖X − [[A, B, C]]‖_F / ‖X‖_F, accumulated in double.
double cp_rel_error(const TensorView& x, const std::vector<Matrix>& factors);

// The dense tensor [[A, B, C]] (I·J·K values, row-major).
std::vector<float> cp_reconstruct(const std::vector<Matrix>& factors);

// Which build of the solvers above runs: "isa_v4", "isa_v3" or "isa_base" (the portable build
// has one per x86-64 level and picks one per process, qcp/core/isa.hpp; a -march=native build
// has only "isa_base", compiled for the build machine).
const char* solver_isa();

}  // namespace qcp::decomp
