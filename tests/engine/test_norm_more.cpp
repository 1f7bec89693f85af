// Hardmax, LRN and MeanVarianceNormalization against naive references: the window sums and
// moments computed directly from their definitions in double precision.
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

}  // namespace
}  // namespace qcp
