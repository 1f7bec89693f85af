// Activation-aware product quantization (PQ) of a layer's weight, after "And the Bit Goes Down"
// (Stock, Joulin, Gribonval, Graham, Jégou, ICLR 2020), with a per-block metric and a joint
// codeword refit.
//
// W is a row-major float matrix (rows = output channels, cols = inputs in im2col order, the
// layout of rtn.hpp / rewrite::QuantTarget). Each row is cut into B = cols/d contiguous
// sub-vectors of length d: sub-vector s = r·B + j is W[r, j·d .. (j+1)·d). All sub-vectors share
// one codebook C of k codewords c_0..c_{k−1} ∈ ℝ^d; a(s) is the codeword of sub-vector s, and
// Ŵ[r, j·d + i] = C[a(r·B + j), i].
//
// Metric. hessians holds H_g = X_gᵀX_g (cols × cols, unnormalised, HessianAccumulator) for each of
// G row groups (rows split evenly: group g = rows [g·rows/G, (g+1)·rows/G), one H per conv group);
// each is damped, H̃_g = H_g + damp·mean(diag H_g)·I (a group whose H is all zero keeps H̃_g = 0,
// as no input reaches it; such a group's metric blocks fall back to I). With no hessians the
// metric is the identity (plain k-means on the weights).
//   layer loss    L(C, a) = Σ_g tr((W_g − Ŵ_g) H̃_g (W_g − Ŵ_g)ᵀ)                          (1)
//   EM objective  J(C, a) = Σ_s (v_s − c_a(s))ᵀ M_s (v_s − c_a(s)),   M_s = H̃_g[j-block, j-block]  (2)
// (2) is (1) without the cross-block terms; it is what k-means minimises ((1) for identity H).
//
// Algorithm.
//  - init: k-means++ (Arthur & Vassilvitskii 2007) in metric (2): centres drawn from the
//    sub-vectors with probability ∝ the distance to the nearest centre so far, from
//    std::mt19937_64(seed). Chosen over uniform sampling because it spreads the codewords over
//    the planted/outlying clusters that uniform draws miss; k = min(k, number of sub-vectors).
//  - E-step: a(s) = argmin_c ‖L_sᵀ v_s − L_sᵀ c‖² with M_s = L_s L_sᵀ (Cholesky), codewords
//    transformed once per metric block and iteration; ties go to the lowest index.
//  - empty clusters: each empty codeword takes half of the most populated cluster's members,
//    split along a random direction δ (those with the largest δᵀ(v − c), ties by index) — the
//    "perturb the codeword by ±ε·δ and reassign" rule, with an exact half so duplicates split too.
//  - M-step: c = (Σ_{s∈c} M_s)⁻¹ Σ_{s∈c} M_s v_s (weighted least squares; the mean for identity).
//  - stop after `iters` iterations or when |J_prev − J| ≤ tol·J_prev; each iteration ends with
//    the M-step, so every codeword is used and optimal for its members under (2).
//  - refit (identity excluded: there it equals the M-step): with a fixed, minimise (1) over all
//    k·d codeword entries jointly — normal equations A c = b with
//        A[(m),(n)] = Σ_g Σ_{r∈g} Σ_{j: a(r,j)=m} Σ_{l: a(r,l)=n} H̃_g[j-block, l-block],
//        b[(m)]     = Σ_g Σ_{r∈g} Σ_{j: a(r,j)=m} (H̃_g w_r)[j-block],
//    solved by Cholesky with a ridge of kPqRefitRidge·mean(diag A) pulling towards the EM
//    codebook; kept only when (1) decreases. Skipped when k·d > kPqRefitMaxUnknowns or EM is exact.
//    Building A costs O(rows·cols²) additions (each sub-vector adds d columns of H̃),
//    solving it O((k·d)³/3).
//  - the codebook is then rounded to float16 (as the rewrite stores it) unless fp16 = false.
// Deterministic: the same inputs and seed give the same result at any thread count.
#pragma once

#include <Eigen/Core>
#include <cstdint>
#include <random>
#include <vector>

namespace qcp::quant {

constexpr double kPqRefitRidge = 1e-10;  // relative to mean(diag A)
// The refit's dense (k·d)² system is formed only up to this many unknowns (134 MB; k = 256 with
// d ≤ 16); larger codebooks keep the EM solution.
constexpr int64_t kPqRefitMaxUnknowns = 4096;

struct PqOptions {
    int64_t d = 9;        // sub-vector length, ≥ 1; cols % d == 0
    int64_t k = 256;      // codewords, ≥ 1 (clamped to the number of sub-vectors)
    int iters = 50;       // EM iterations, ≥ 1
    double tol = 1e-6;    // relative change of J that stops EM, ≥ 0
    uint64_t seed = 0;
    double damp = 0.01;   // × mean(diag H), ≥ 0 (as GPTQ)
    bool refit = true;
    bool fp16 = true;     // round the final codebook to float16
};

struct PqResult {
    int64_t rows = 0, cols = 0, d = 0;
    int64_t k = 0;                  // codewords actually used (after clamping)
    std::vector<float> codebook;    // k × d, row-major
    std::vector<int32_t> codes;     // rows × (cols/d), row-major: codeword of each sub-vector
    // loss (1) with the damped H̃ (‖W − Ŵ‖²_F for identity): after the init's assignment, after
    // EM, after the refit (= loss_em when off or rejected), and of the returned codebook
    double loss_init = 0, loss_em = 0, loss_refit = 0, loss_final = 0;
    int iterations = 0;             // EM iterations run
    bool converged = false;         // EM stopped on tol (not on iters)
    int64_t empty_splits = 0;       // empty clusters re-filled, over all iterations
    bool refit_applied = false;

    std::vector<float> dequantized() const;  // Ŵ, rows × cols, row-major
};

// Throws qcp::Error on bad options (d, k, iters, tol, damp), cols % d ≠ 0, rows not divisible
// by hessians.size(), a wrongly sized or non-finite H, non-finite weights, a metric block that
// is not positive definite (damp = 0 with a dead input: raise damp), or a codeword beyond the
// float16 range.
PqResult pq_quantize(const float* w, int64_t rows, int64_t cols, const std::vector<Eigen::MatrixXd>& hessians,
                     const PqOptions& o);

// Loss (1) for row-major W, Ŵ (rows × cols) with H damped by `damp` (0: the raw output error
// Σ_g ‖X_g(W_g − Ŵ_g)ᵀ‖²); ‖W − Ŵ‖²_F when hessians is empty. In double.
double pq_layer_loss(const float* w, const float* w_hat, int64_t rows, int64_t cols,
                     const std::vector<Eigen::MatrixXd>& hessians, double damp);

// ---- the steps, exposed for tests -------------------------------------------------------------
// Codebooks here are d × k column-major doubles (column c = codeword c).

struct PqProblem {
    int64_t rows = 0, cols = 0, d = 0, blocks = 0;  // blocks = cols / d
    int64_t groups = 1;                             // rows / groups rows per H
    bool identity = true;
    std::vector<Eigen::MatrixXd> h;       // H̃_g (empty for identity)
    std::vector<Eigen::MatrixXd> metric;  // M for block m = g·blocks + j (d × d; I for identity)
    std::vector<Eigen::MatrixXd> chol;    // lower L with M = L Lᵀ, per block
    Eigen::MatrixXd v;                    // d × (rows·blocks): column s = sub-vector s
    Eigen::MatrixXd u;                    // d × (rows·blocks): L_sᵀ v_s
    Eigen::MatrixXd mv;                   // d × (rows·blocks): M_s v_s (the M-step's right-hand sides)

    int64_t subvectors() const { return rows * blocks; }
    int64_t metric_blocks() const { return groups * blocks; }
    int64_t metric_of(int64_t s) const { return (s / blocks) / (rows / groups) * blocks + s % blocks; }
};

// Validates shapes (as pq_quantize) and builds the damped metrics and sub-vectors.
PqProblem pq_problem(const float* w, int64_t rows, int64_t cols, const std::vector<Eigen::MatrixXd>& hessians,
                     int64_t d, double damp);

// k-means++ initial codebook (d × k), k ≤ subvectors().
Eigen::MatrixXd pq_init(const PqProblem& p, int64_t k, std::mt19937_64& rng);
// E-step: codes[s] = argmin_c (v_s − c)ᵀ M_s (v_s − c); returns J (2).
double pq_assign(const PqProblem& p, const Eigen::MatrixXd& codebook, std::vector<int32_t>& codes);
// Gives every empty codeword half of the largest cluster's members; returns how many it filled.
int64_t pq_split_empty(const PqProblem& p, const Eigen::MatrixXd& codebook, std::vector<int32_t>& codes,
                       std::mt19937_64& rng);
// M-step: every codeword with members becomes their weighted least-squares centre.
void pq_update(const PqProblem& p, const std::vector<int32_t>& codes, Eigen::MatrixXd& codebook);
// Minimiser of (1) over the codebook for fixed codes (every codeword must have members).
Eigen::MatrixXd pq_refit(const PqProblem& p, const std::vector<int32_t>& codes, const Eigen::MatrixXd& codebook);
// Loss (1) of (codebook, codes) on the problem's damped metric.
double pq_loss(const PqProblem& p, const std::vector<int32_t>& codes, const Eigen::MatrixXd& codebook);

}  // namespace qcp::quant
