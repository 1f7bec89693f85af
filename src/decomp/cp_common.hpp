// Building blocks shared by CP-ALS and AO-ADMM (internal to decomp).
#pragma once

#include <Eigen/Core>
#include <Eigen/Cholesky>

#include "qcp/decomp/cp.hpp"

namespace qcp::decomp::detail {

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

// Seeded standard-normal matrix.
Matrix random_matrix(int64_t rows, int64_t cols, uint64_t seed);

}  // namespace qcp::decomp::detail
