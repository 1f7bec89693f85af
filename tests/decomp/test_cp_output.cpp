// Data-aware CP (the layer-output objective): the Kronecker metric, the weighted error against a
// brute-force tr(D H Dᵀ), and the solver against the weight-objective solver.
#include <gtest/gtest.h>

#include <Eigen/Cholesky>
#include <Eigen/SVD>
#include <cmath>
#include <random>

#include "qcp/core/error.hpp"
#include "qcp/decomp/cp.hpp"

namespace qcp::decomp {
namespace {

constexpr double kMetricTol = 1e-9;       // partial traces of an exact Kronecker product, in double
constexpr double kErrorTol = 1e-4;        // float tensors, double accumulation
constexpr double kAlsOptimumTol = 2e-3;   // float ALS against the double SVD optimum

Eigen::MatrixXd random_spd(int64_t n, std::mt19937& gen, double spread) {
    std::normal_distribution<double> nd(0, 1);
    Eigen::MatrixXd a(n, n);
    for (int64_t i = 0; i < a.size(); ++i) a.data()[i] = nd(gen);
    Eigen::VectorXd s(n);  // unequal input scales, as real activations have
    for (int64_t i = 0; i < n; ++i) s(i) = std::pow(spread, -double(i) / std::max<int64_t>(n - 1, 1));
    const Eigen::MatrixXd b = a * s.asDiagonal();
    return b.transpose() * b + 1e-3 * Eigen::MatrixXd::Identity(n, n);
}

Eigen::MatrixXd kron(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b) {
    Eigen::MatrixXd k(a.rows() * b.rows(), a.cols() * b.cols());
    for (int64_t i = 0; i < a.rows(); ++i)
        for (int64_t j = 0; j < a.cols(); ++j) k.block(i * b.rows(), j * b.cols(), b.rows(), b.cols()) = a(i, j) * b;
    return k;
}

std::vector<float> random_tensor(int64_t n, std::mt19937& gen) {
    std::normal_distribution<float> nd(0, 1);
    std::vector<float> x(static_cast<size_t>(n));
    for (auto& v : x) v = nd(gen);
    return x;
}

// tr(D H Dᵀ) with D the I × J·K unfolding, naive loops in double.
double brute_metric_norm2(const std::vector<float>& d, int64_t i_dim, int64_t cols, const Eigen::MatrixXd& h) {
    double s = 0;
    for (int64_t i = 0; i < i_dim; ++i)
        for (int64_t a = 0; a < cols; ++a)
            for (int64_t b = 0; b < cols; ++b) s += double(d[i * cols + a]) * h(a, b) * d[i * cols + b];
    return s;
}

TEST(CpMetric, KroneckerOfPartialTracesIsExactForKroneckerHessian) {
    std::mt19937 gen(1);
    const Eigen::MatrixXd m1 = random_spd(5, gen, 10), m2 = random_spd(4, gen, 3);
    const Eigen::MatrixXd h = kron(m1, m2);
    const CpMetric m = cp_kronecker_metric(h, 5, 4, 0.0);
    ASSERT_EQ(m.modes.size(), 3u);
    EXPECT_EQ(m.modes[0].size(), 0);
    const Eigen::MatrixXd back = kron(m.modes[1], m.modes[2]) / h.trace();
    EXPECT_LT((back - h).norm() / h.norm(), kMetricTol);
}

TEST(CpMetric, MatrixMetricIsTheHessian) {
    std::mt19937 gen(2);
    const Eigen::MatrixXd h = random_spd(6, gen, 5);
    const CpMetric m = cp_kronecker_metric(h, 6, 1, 0.0);
    ASSERT_EQ(m.modes.size(), 2u);
    EXPECT_LT((m.modes[1] - h).norm() / h.norm(), kMetricTol);
}

TEST(CpMetric, WeightedErrorMatchesBruteForce) {
    std::mt19937 gen(3);
    const int64_t I = 4, J = 5, K = 3, R = 2;
    const Eigen::MatrixXd m1 = random_spd(J, gen, 8), m2 = random_spd(K, gen, 2);
    const auto x = random_tensor(I * J * K, gen);
    std::vector<Matrix> f = {Matrix::Random(I, R), Matrix::Random(J, R), Matrix::Random(K, R)};
    const CpMetric metric{{Eigen::MatrixXd(), m1, m2}};
    const auto xh = cp_reconstruct(f);
    std::vector<float> d(x.size());
    for (size_t t = 0; t < d.size(); ++t) d[t] = x[t] - xh[t];
    const Eigen::MatrixXd h = kron(m1, m2);
    const double want = std::sqrt(brute_metric_norm2(d, I, J * K, h) / brute_metric_norm2(x, I, J * K, h));
    EXPECT_NEAR(cp_metric_rel_error({x.data(), I, J, K}, f, metric), want, kErrorTol * want);
}

TEST(CpAdmmMetric, IdentityMetricMatchesWeightObjective) {
    std::mt19937 gen(4);
    const auto x = random_tensor(16 * 12 * 9, gen);
    const TensorView v{x.data(), 16, 12, 9};
    AdmmOptions o;
    o.bits = 4;
    const CpResult w = cp_admm(v, 8, o);
    const CpResult m = cp_admm_metric(v, 8, o, CpMetric{});
    EXPECT_NEAR(m.metric_rel_error, m.rel_error, 1e-6);
    EXPECT_LE(m.rel_error, m.rel_error_start);
    EXPECT_NEAR(m.rel_error, w.rel_error, 0.05 * w.rel_error);  // same problem, different ρ and solve path
}

// On inputs with very unequal scales the data-aware solve must win on the data-aware error, and
// never lose to its own rounded start.
TEST(CpAdmmMetric, BeatsWeightObjectiveOnOutputError) {
    std::mt19937 gen(5);
    const int64_t I = 24, J = 16, K = 9;
    const auto x = random_tensor(I * J * K, gen);
    const TensorView v{x.data(), I, J, K};
    Eigen::MatrixXd h = kron(random_spd(J, gen, 30), random_spd(K, gen, 4));
    const CpMetric metric = cp_kronecker_metric(h, J, K, 0.0);
    for (int bits : {3, 4}) {
        AdmmOptions o;
        o.bits = bits;
        const CpResult w = cp_admm(v, 12, o);
        const CpResult m = cp_admm_metric(v, 12, o, metric);
        const double w_out = cp_metric_rel_error(v, w.factors, metric);
        EXPECT_LT(m.metric_rel_error, 0.9 * w_out) << "bits " << bits;
        EXPECT_NEAR(cp_metric_rel_error(v, m.factors, metric), m.metric_rel_error, 1e-9);
        ASSERT_EQ(m.quantized.size(), 3u);
        for (size_t n = 0; n < 3; ++n)  // the factors are exactly their grid values
            EXPECT_EQ((m.quantized[n].dequantized() - m.factors[n]).cwiseAbs().maxCoeff(), 0.0f);
    }
}

TEST(CpAdmmMetric, MatrixCaseUsesFullHessian) {
    std::mt19937 gen(6);
    const int64_t I = 20, J = 24;
    const auto x = random_tensor(I * J, gen);
    const TensorView v{x.data(), I, J, 1};
    const Eigen::MatrixXd h = random_spd(J, gen, 50);
    const CpMetric metric = cp_kronecker_metric(h, J, 1, 0.0);
    AdmmOptions o;
    o.bits = 4;
    const CpResult w = cp_admm(v, 8, o);
    const CpResult m = cp_admm_metric(v, 8, o, metric);
    const auto xh = cp_reconstruct(m.factors);
    std::vector<float> d(x.size());
    for (size_t t = 0; t < d.size(); ++t) d[t] = x[t] - xh[t];
    const double brute = std::sqrt(brute_metric_norm2(d, I, J, h) / brute_metric_norm2(x, I, J, h));
    EXPECT_NEAR(m.metric_rel_error, brute, kErrorTol * brute);
    EXPECT_LT(m.metric_rel_error, cp_metric_rel_error(v, w.factors, metric));
}

// For a matrix the metric CP-ALS must reach the weighted SVD: with H = L Lᵀ, the best rank-R Ŵ
// in ‖(W − Ŵ)L‖ has error² Σ_{r>R} σ_r(W L)², computed here by a double SVD.
TEST(CpAlsMetric, MatrixReachesWeightedSvd) {
    std::mt19937 gen(8);
    const int64_t I = 20, J = 24, R = 6;
    const auto x = random_tensor(I * J, gen);
    const TensorView v{x.data(), I, J, 1};
    const Eigen::MatrixXd h = random_spd(J, gen, 50);
    const CpMetric metric = cp_kronecker_metric(h, J, 1, 0.0);
    Eigen::MatrixXd w(I, J);
    for (int64_t i = 0; i < I; ++i)
        for (int64_t j = 0; j < J; ++j) w(i, j) = x[static_cast<size_t>(i * J + j)];
    const Eigen::MatrixXd l = h.llt().matrixL();
    const Eigen::JacobiSVD<Eigen::MatrixXd> svd(w * l);
    const Eigen::VectorXd s = svd.singularValues();
    const double optimum = std::sqrt(s.tail(s.size() - R).squaredNorm() / s.squaredNorm());
    CpAlsOptions o;
    o.max_iters = 500;
    const CpResult m = cp_als_metric(v, R, o, metric);
    EXPECT_NEAR(m.metric_rel_error, optimum, kAlsOptimumTol) << "optimum " << optimum;
    EXPECT_NEAR(m.rel_error, cp_rel_error(v, m.factors), 1e-9);
    const CpResult plain = cp_als(v, R, o);
    EXPECT_GT(cp_metric_rel_error(v, plain.factors, metric), optimum + 0.05) << "the test needs a metric that matters";
}

// A 3-way tensor under a Kronecker metric: the metric fit beats the weight fit in the metric, and
// with the identity metric it is the weight fit.
TEST(CpAlsMetric, ThreeWayBeatsWeightFitAndReducesToItUnderIdentity) {
    std::mt19937 gen(9);
    const int64_t I = 16, J = 12, K = 9;
    const auto x = random_tensor(I * J * K, gen);
    const TensorView v{x.data(), I, J, K};
    const Eigen::MatrixXd h = kron(random_spd(J, gen, 30), random_spd(K, gen, 4));
    const CpMetric metric = cp_kronecker_metric(h, J, K, 0.0);
    const CpResult w = cp_als(v, 10);
    const CpResult m = cp_als_metric(v, 10, {}, metric);
    EXPECT_LT(m.metric_rel_error, 0.95 * cp_metric_rel_error(v, w.factors, metric));
    EXPECT_NEAR(cp_metric_rel_error(v, m.factors, metric), m.metric_rel_error, 1e-12);
    CpMetric identity;
    identity.modes = {Eigen::MatrixXd(), Eigen::MatrixXd::Identity(J, J), Eigen::MatrixXd::Identity(K, K)};
    const CpResult id = cp_als_metric(v, 10, {}, identity);
    EXPECT_LE(id.rel_error, w.rel_error + 1e-4);
}

// The quantized solve starts from the better rounded fit, so it is never worse in the metric
// than the metric fit rounded to the same grid.
TEST(CpAdmmMetric, NeverWorseThanRoundedMetricFit) {
    std::mt19937 gen(10);
    const int64_t I = 32, J = 32;
    const auto x = random_tensor(I * J, gen);
    const TensorView v{x.data(), I, J, 1};
    const CpMetric metric = cp_kronecker_metric(random_spd(J, gen, 100), J, 1, 0.0);
    AdmmOptions o;
    o.bits = 4;
    const CpResult fit = cp_als_metric(v, 10, o.init, metric);
    const double rounded = cp_metric_rel_error(v, quantize_factors(v, fit, 4, Granularity::Tensor).factors, metric);
    const CpResult m = cp_admm_metric(v, 10, o, metric);
    EXPECT_LE(m.metric_rel_error, rounded + 1e-12);
}

TEST(CpAdmmMetric, RejectsMismatchedMetric) {
    std::vector<float> x(4 * 3 * 2, 1.0f);
    const TensorView v{x.data(), 4, 3, 2};
    const CpMetric bad{{Eigen::MatrixXd(), Eigen::MatrixXd::Identity(2, 2)}};
    EXPECT_THROW(cp_admm_metric(v, 2, AdmmOptions{}, bad), Error);
    EXPECT_THROW(cp_kronecker_metric(Eigen::MatrixXd::Identity(5, 5), 3, 2), Error);
}

}  // namespace
}  // namespace qcp::decomp
