// Hardmax, LRN, MeanVarianceNormalization and the two losses against naive references: window sums,
// moments and log-probabilities computed directly from their definitions in double precision.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "kernel_test_util.hpp"
#include "qcp/core/error.hpp"

namespace qcp {
namespace {

using A = ir::Attribute;
using test::run_op1;

constexpr double kTol = 2e-6;  // relative: float32 rounding of a double-accurate result

A int_attr(const std::string& name, int64_t v) {
    A a;
    a.name = name;
    a.type = ir::AttrType::Int;
    a.i = v;
    return a;
}

Tensor random_floats(const Shape& shape, std::mt19937& gen, float lo, float hi) {
    std::uniform_real_distribution<float> dist(lo, hi);
    std::vector<float> v(static_cast<size_t>(shape_numel(shape)));
    for (auto& x : v) x = dist(gen);
    return Tensor::from_floats(shape, v);
}

TEST(NormMore, HardmaxMarksFirstMaximumPerOpsetAxisRule) {
    const Tensor x = Tensor::from_floats({2, 2, 2}, {1, 4, 4, 2, 0, 0, 0, 0});
    // opset 13: along the last axis only
    EXPECT_EQ(run_op1("Hardmax", {&x}, {}, 13).to_float_vector(), (std::vector<float>{0, 1, 1, 0, 1, 0, 1, 0}));
    // opset 11, axis 1: the input is flattened to (2, 4) and each row gets one 1
    EXPECT_EQ(run_op1("Hardmax", {&x}, {int_attr("axis", 1)}, 11).to_float_vector(), (std::vector<float>{0, 1, 0, 0, 1, 0, 0, 0}));
}

TEST(NormMore, LrnMatchesWindowedSumOfSquares) {
    std::mt19937 gen(4);
    const Tensor x = random_floats({2, 6, 3, 2}, gen, -2, 2);
    A size = int_attr("size", 4);
    A alpha;
    alpha.name = "alpha";
    alpha.type = ir::AttrType::Float;
    alpha.f = 0.02f;
    const Tensor y = run_op1("LRN", {&x}, {size, alpha});
    for (int64_t n = 0; n < 2; ++n)
        for (int64_t c = 0; c < 6; ++c)
            for (int64_t s = 0; s < 6; ++s) {
                double sq = 0;
                for (int64_t k = c - 1; k <= c + 2; ++k)  // floor(3/2) before, ceil(3/2) after
                    if (k >= 0 && k < 6) sq += std::pow(x.data<float>()[(n * 6 + k) * 6 + s], 2);
                const int64_t at = (n * 6 + c) * 6 + s;
                const double want = x.data<float>()[at] / std::pow(1.0 + 0.02 / 4 * sq, 0.75);
                ASSERT_NEAR(y.data<float>()[at], want, kTol * std::max(1.0, std::fabs(want)));
            }
}

TEST(NormMore, MeanVarianceNormalizationGivesZeroMeanUnitVariancePerChannel) {
    std::mt19937 gen(6);
    const Tensor x = random_floats({2, 3, 4, 5}, gen, -1, 3);
    const Tensor y = run_op1("MeanVarianceNormalization", {&x}, {}, 13);
    for (int64_t c = 0; c < 3; ++c) {
        double sx = 0, sx2 = 0, sy = 0, sy2 = 0;
        for (int64_t n = 0; n < 2; ++n)
            for (int64_t s = 0; s < 20; ++s) {
                const double v = x.data<float>()[(n * 3 + c) * 20 + s];
                sx += v, sx2 += v * v;
                const double w = y.data<float>()[(n * 3 + c) * 20 + s];
                sy += w, sy2 += w * w;
            }
        const double mean = sx / 40, sd = std::sqrt(sx2 / 40 - mean * mean);
        EXPECT_NEAR(y.data<float>()[c * 20], (x.data<float>()[c * 20] - mean) / (sd + 1e-9), 1e-5);
        EXPECT_NEAR(sy / 40, 0.0, 1e-5);
        EXPECT_NEAR(sy2 / 40, 1.0, 1e-4);
    }
}


A string_attr(const std::string& name, const std::string& v) {
    A a;
    a.name = name;
    a.type = ir::AttrType::String;
    a.s = v;
    return a;
}

TEST(NormMore, SoftmaxCrossEntropyAndNllMatchNaiveWeightedMeanWithIgnoredLabels) {
    std::mt19937 gen(8);
    const int64_t N = 3, C = 4, D = 2;
    const Tensor x = random_floats({N, C, D}, gen, -3, 3);
    const Tensor labels = Tensor::from_int64s({N, D}, {0, 3, 1, -1, 2, 2});
    const Tensor w = Tensor::from_floats({C}, {0.5f, 1.0f, 2.0f, 0.25f});
    double sum = 0, wsum = 0;
    std::vector<double> logp(static_cast<size_t>(N * C * D));
    for (int64_t n = 0; n < N; ++n)
        for (int64_t d = 0; d < D; ++d) {
            double z = 0;
            for (int64_t c = 0; c < C; ++c) z += std::exp(double(x.data<float>()[(n * C + c) * D + d]));
            for (int64_t c = 0; c < C; ++c) logp[static_cast<size_t>((n * C + c) * D + d)] = x.data<float>()[(n * C + c) * D + d] - std::log(z);
            const int64_t t = labels.data<int64_t>()[n * D + d];
            if (t == -1) continue;  // ignore_index
            sum -= logp[static_cast<size_t>((n * C + t) * D + d)] * w.data<float>()[t];
            wsum += w.data<float>()[t];
        }
    const auto out = test::run_op("SoftmaxCrossEntropyLoss", {&x, &labels, &w}, {int_attr("ignore_index", -1)}, 13, 2);
    EXPECT_NEAR(out[0].data<float>()[0], sum / wsum, 1e-5);
    for (size_t i = 0; i < logp.size(); ++i) EXPECT_NEAR(out[1].data<float>()[i], logp[i], 1e-5);
    const Tensor nll = run_op1("NegativeLogLikelihoodLoss", {&out[1], &labels, &w},
                               {int_attr("ignore_index", -1), string_attr("reduction", "sum")}, 13);
    EXPECT_NEAR(nll.data<float>()[0], sum, 1e-5);
    const Tensor bad = Tensor::from_int64s({N, D}, {0, 4, 1, 1, 2, 2});
    EXPECT_THROW(run_op1("NegativeLogLikelihoodLoss", {&x, &bad}, {}, 13), Error);
}

}  // namespace
}  // namespace qcp
