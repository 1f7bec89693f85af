#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "qcp/core/parallel.hpp"
#include "qcp/decomp/cp.hpp"

namespace qcp::decomp {
namespace {

constexpr double kExactRecoveryTol = 1e-4;

Matrix random_factor(int64_t rows, int64_t rank, std::mt19937& gen) {
    std::normal_distribution<float> n(0.f, 1.f);
    Matrix m(rows, rank);
    for (int64_t i = 0; i < m.size(); ++i) m.data()[i] = n(gen);
    return m;
}

// Naive reference: X(i,j,k) = Σ_r A(i,r) B(j,r) C(k,r), in double.
std::vector<float> naive_reconstruct(const Matrix& a, const Matrix& b, const Matrix& c) {
    std::vector<float> x(static_cast<size_t>(a.rows() * b.rows() * c.rows()));
    for (int64_t i = 0; i < a.rows(); ++i)
        for (int64_t j = 0; j < b.rows(); ++j)
            for (int64_t k = 0; k < c.rows(); ++k) {
                double s = 0;
                for (int64_t r = 0; r < a.cols(); ++r) s += double(a(i, r)) * b(j, r) * c(k, r);
                x[static_cast<size_t>((i * b.rows() + j) * c.rows() + k)] = static_cast<float>(s);
            }
    return x;
}

TEST(CpAls, ReconstructMatchesNaiveLoop) {
    std::mt19937 gen(1);
    Matrix a = random_factor(5, 3, gen), b = random_factor(4, 3, gen), c = random_factor(6, 3, gen);
    const auto fast = cp_reconstruct({a, b, c});
    const auto slow = naive_reconstruct(a, b, c);
    for (size_t n = 0; n < slow.size(); ++n) EXPECT_NEAR(fast[n], slow[n], 1e-5 * (1 + std::fabs(slow[n])));
}

TEST(CpAls, RecoversExactRank3Tensor) {
    std::mt19937 gen(7);
    const Matrix a = random_factor(12, 3, gen), b = random_factor(10, 3, gen), c = random_factor(9, 3, gen);
    const auto x = naive_reconstruct(a, b, c);
    const TensorView view{x.data(), 12, 10, 9};
    const CpResult r = cp_als(view, 3);
    EXPECT_LT(r.rel_error, kExactRecoveryTol);
    EXPECT_EQ(r.status, SolveStatus::Converged);
    EXPECT_NEAR(cp_rel_error(view, r.factors), r.rel_error, 1e-9);
}

TEST(CpAls, RecoversExactLowRankMatrix) {
    std::mt19937 gen(3);
    const Matrix a = random_factor(20, 4, gen), b = random_factor(15, 4, gen);
    const Matrix w = a * b.transpose();
    const TensorView view{w.data(), 20, 15, 1};
    const CpResult r = cp_als(view, 4);
    EXPECT_EQ(r.factors.size(), 2u);
    EXPECT_LT(r.rel_error, kExactRecoveryTol);
}

TEST(CpAdmm, FactorsLieExactlyOnTheGrid) {
    std::mt19937 gen(11);
    std::normal_distribution<float> n(0.f, 1.f);
    std::vector<float> x(16 * 12 * 9);
    for (auto& v : x) v = n(gen);
    const TensorView view{x.data(), 16, 12, 9};
    for (Granularity gran : {Granularity::Tensor, Granularity::Channel}) {
        AdmmOptions opt;
        opt.bits = 3;
        opt.granularity = gran;
        const CpResult r = cp_admm(view, 6, opt);
        ASSERT_EQ(r.quantized.size(), 3u);
        for (size_t f = 0; f < 3; ++f) {
            const auto& q = r.quantized[f];
            const size_t channels = f == 0 ? 16u : 6u;  // A: per row (Cout); B, C: per rank column
            EXPECT_EQ(q.scales.size(), gran == Granularity::Tensor ? 1u : channels);
            EXPECT_GE(q.codes.minCoeff(), -4);
            EXPECT_LE(q.codes.maxCoeff(), 3);
            for (int64_t i = 0; i < q.codes.rows(); ++i)
                for (int64_t c = 0; c < q.codes.cols(); ++c) {
                    const float s = q.scales[gran == Granularity::Tensor ? 0 : f == 0 ? static_cast<size_t>(i) : static_cast<size_t>(c)];
                    // the factor value is exactly scale × integer
                    EXPECT_EQ(r.factors[f](i, c), s * static_cast<float>(q.codes(i, c)));
                }
        }
    }
}

TEST(CpAdmm, NeverWorseThanRoundedInitAndBeatsItOnStructuredTensor) {
    std::mt19937 gen(5);
    const Matrix a = random_factor(24, 8, gen), b = random_factor(20, 8, gen), c = random_factor(9, 8, gen);
    auto x = naive_reconstruct(a, b, c);
    std::normal_distribution<float> noise(0.f, 0.05f);
    for (auto& v : x) v += noise(gen);
    const TensorView view{x.data(), 24, 20, 9};
    AdmmOptions opt;
    opt.bits = 4;
    const CpResult init = cp_als(view, 8, opt.init);
    const CpResult rounded = quantize_factors(view, init, 4, Granularity::Tensor);
    const CpResult admm = cp_admm(view, 8, opt);
    EXPECT_LE(admm.rel_error, rounded.rel_error);
    EXPECT_LT(admm.rel_error, 0.9 * rounded.rel_error) << "ADMM should clearly improve on rounding";
    EXPECT_GT(admm.iterations, 0);
}

TEST(CpAdmm, IdenticalResultsAtOneAndTwoThreads) {
    std::mt19937 gen(9);
    std::normal_distribution<float> n(0.f, 1.f);
    std::vector<float> x(64 * 48 * 9);
    for (auto& v : x) v = n(gen);
    const TensorView view{x.data(), 64, 48, 9};
    AdmmOptions opt;
    opt.max_outer = 5;
    set_num_threads(1);
    const CpResult one = cp_admm(view, 16, opt);
    set_num_threads(2);
    const CpResult two = cp_admm(view, 16, opt);
    for (size_t f = 0; f < one.factors.size(); ++f) {
        EXPECT_TRUE(one.quantized[f].codes == two.quantized[f].codes) << "factor " << f;
        EXPECT_EQ(one.quantized[f].scales, two.quantized[f].scales);
    }
    EXPECT_EQ(one.rel_error, two.rel_error);
}

}  // namespace
}  // namespace qcp::decomp
