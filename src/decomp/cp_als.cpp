#include <Eigen/Eigenvalues>
#include <chrono>
#include <cmath>

#include "cp_common.hpp"
#include "qcp/core/error.hpp"
#include "qcp/core/parallel.hpp"

namespace qcp::decomp::QCP_ISA_NS {

using detail::MatrixD;

std::vector<float> cp_reconstruct(const std::vector<Matrix>& f) {
    const int64_t i = f[0].rows(), j = f[1].rows(), k = f.size() == 3 ? f[2].rows() : 1;
    const int64_t rank = f[0].cols();
    Matrix kr(j * k, rank);
    for (int64_t jj = 0; jj < j; ++jj)
        for (int64_t kk = 0; kk < k; ++kk)
            kr.row(jj * k + kk) = f.size() == 3 ? Matrix(f[1].row(jj).cwiseProduct(f[2].row(kk))) : Matrix(f[1].row(jj));
    std::vector<float> out(static_cast<size_t>(i * j * k));
    Eigen::Map<Matrix> x(out.data(), i, j * k);
    x.noalias() = f[0] * kr.transpose();
    return out;
}

double cp_rel_error(const TensorView& x, const std::vector<Matrix>& factors) {
    const std::vector<float> xhat = this_isa::cp_reconstruct(factors);
    double err = 0, ref = 0;
    for (int64_t n = 0; n < x.numel(); ++n) {
        const double d = static_cast<double>(x.data[n]) - xhat[static_cast<size_t>(n)];
        err += d * d;
        ref += static_cast<double>(x.data[n]) * x.data[n];
    }
    return ref > 0 ? std::sqrt(err / ref) : std::sqrt(err);
}

namespace {

// Leading eigenvectors of the mode-n Gram X₍ₙ₎X₍ₙ₎ᵀ (the HOSVD basis); columns beyond the
// mode's size are seeded random.
Matrix hosvd_factor(const TensorView& x, int mode, int rank, uint64_t seed) {
    const int64_t n = x.dim(mode);
    MatrixD gram = MatrixD::Zero(n, n);
    Eigen::Map<const Matrix> x0(x.data, x.i, x.j * x.k);
    if (mode == 0) {
        gram = (x0 * x0.transpose()).cast<double>();
    } else {
        for (int64_t i = 0; i < x.i; ++i) {
            Eigen::Map<const Matrix> slice(x.data + i * x.j * x.k, x.j, x.k);  // J × K
            const Eigen::MatrixXd s = slice.cast<double>();
            if (mode == 1) gram.noalias() += s * s.transpose();
            else gram.noalias() += s.transpose() * s;
        }
    }
    Eigen::SelfAdjointEigenSolver<MatrixD> eig(gram);
    Matrix f = detail::random_matrix(n, rank, seed + static_cast<uint64_t>(mode)) * 1e-2f;
    const int64_t take = std::min<int64_t>(n, rank);
    for (int64_t c = 0; c < take; ++c) f.col(c) = eig.eigenvectors().col(n - 1 - c).cast<float>();
    return f;
}

}  // namespace

CpResult cp_als(const TensorView& x, int rank, const CpAlsOptions& opt) {
    const auto t0 = std::chrono::steady_clock::now();
    if (rank < 1) throw Error("CP rank must be at least 1");
    const int modes = x.modes();
    std::vector<Matrix> f;
    for (int n = 0; n < modes; ++n) f.push_back(hosvd_factor(x, n, rank, opt.seed));
    const double x_norm2 = detail::squared_norm(x);
    detail::Mttkrp mttkrp(x, rank);

    CpResult res;
    double prev = std::numeric_limits<double>::infinity();
    for (int it = 0; it < opt.max_iters; ++it) {
        double err2 = 0;
        for (int n = 0; n < modes; ++n) {
            const Matrix m = mttkrp.mode(n, f);
            MatrixD g = detail::gram_except(f, n);
            const double ridge = opt.ridge * g.diagonal().mean() + 1e-300;
            g.diagonal().array() += ridge;
            Eigen::LLT<MatrixD> llt(g);
            f[n] = llt.solve(m.cast<double>().transpose()).transpose().cast<float>();
            if (n == modes - 1) err2 = detail::fast_squared_error(x_norm2, m, f[n], detail::gram_except(f, n));
            // keep the scale in the last mode only; others unit-norm so Grams stay well scaled
            if (n != modes - 1)
                for (int64_t r = 0; r < rank; ++r) {
                    const float norm = f[n].col(r).norm();
                    if (norm > 0) f[n].col(r) /= norm;
                }
        }
        res.iterations = it + 1;
        const double err = x_norm2 > 0 ? std::sqrt(err2 / x_norm2) : 0.0;
        if (const auto stop = detail::sweep_stop(err, prev, opt.tol)) {
            res.status = *stop;
            break;
        }
        prev = err;
    }
    detail::balance_columns(&f);
    res.factors = std::move(f);
    res.rel_error = this_isa::cp_rel_error(x, res.factors);
    res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return res;
}

CpResult quantize_factors(const TensorView& x, const CpResult& cp, int bits, Granularity granularity) {
    const auto t0 = std::chrono::steady_clock::now();
    CpResult res = cp;
    res.quantized.clear();
    for (size_t n = 0; n < res.factors.size(); ++n) {
        Matrix q;
        res.quantized.push_back(detail::project_to_grid(res.factors[n], bits, factor_scale_axis(granularity, static_cast<int>(n)), &q));
        res.factors[n] = q;
    }
    res.rel_error = this_isa::cp_rel_error(x, res.factors);
    res.seconds = cp.seconds + std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return res;
}

}  // namespace qcp::decomp::QCP_ISA_NS
