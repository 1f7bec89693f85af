// Det, DynamicQuantizeLinear, MaxUnpool, ReverseSequence and Upsample against naive references:
// cofactor expansion, the quantization formulas spelled out, and explicit index loops.
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

double cofactor_det(const std::vector<double>& m, int64_t n) {
    if (n == 1) return m[0];
    double det = 0;
    for (int64_t c = 0; c < n; ++c) {
        std::vector<double> minor;
        for (int64_t r = 1; r < n; ++r)
            for (int64_t k = 0; k < n; ++k)
                if (k != c) minor.push_back(m[static_cast<size_t>(r * n + k)]);
        det += (c % 2 ? -1 : 1) * m[static_cast<size_t>(c)] * cofactor_det(minor, n - 1);
    }
    return det;
}

TEST(MiscOps, DetMatchesCofactorExpansion) {
    std::mt19937 gen(5);
    std::uniform_real_distribution<float> dist(-2, 2);
    for (int64_t n : {1, 2, 3, 4}) {
        std::vector<float> v(static_cast<size_t>(3 * n * n));
        for (auto& x : v) x = dist(gen);
        const Tensor x = Tensor::from_floats({3, n, n}, v);
        const Tensor y = run_op1("Det", {&x});
        ASSERT_EQ(y.shape(), (Shape{3}));
        for (int64_t b = 0; b < 3; ++b) {
            const std::vector<double> m(v.begin() + b * n * n, v.begin() + (b + 1) * n * n);
            const double want = cofactor_det(m, n);
            EXPECT_NEAR(y.data<float>()[b], want, 1e-5 * std::max(1.0, std::fabs(want)));
        }
    }
    const Tensor singular = Tensor::from_floats({2, 2}, {1, 2, 2, 4});
    EXPECT_EQ(run_op1("Det", {&singular}).data<float>()[0], 0.0f);
}

TEST(MiscOps, DynamicQuantizeLinearFollowsItsFormulas) {
    const std::vector<float> v = {0.5f, -1.2f, 3.3f, 2.0f, -0.1f, 0.0f};
    const Tensor x = Tensor::from_floats({2, 3}, v);
    const auto out = test::run_op("DynamicQuantizeLinear", {&x}, {}, 11, 3);
    const float lo = -1.2f, hi = 3.3f, scale = (hi - lo) / 255.0f;
    const float zp = std::nearbyint(-lo / scale);
    EXPECT_FLOAT_EQ(out[1].data<float>()[0], scale);
    EXPECT_EQ(out[2].data<uint8_t>()[0], static_cast<uint8_t>(zp));
    for (size_t i = 0; i < v.size(); ++i)
        EXPECT_EQ(out[0].data<uint8_t>()[i], static_cast<uint8_t>(std::clamp(std::nearbyint(v[i] / scale) + zp, 0.0f, 255.0f)));
}

TEST(MiscOps, MaxUnpoolScattersAtIndicesIntoDefaultOrLargerShape) {
    const Tensor x = Tensor::from_floats({1, 1, 2, 2}, {5, 6, 7, 8});
    const Tensor ind = Tensor::from_int64s({1, 1, 2, 2}, {5, 7, 13, 15});
    std::vector<A> attrs = {A::make_ints("kernel_shape", {2, 2}), A::make_ints("strides", {2, 2})};
    const Tensor y = run_op1("MaxUnpool", {&x, &ind}, attrs, 11);
    ASSERT_EQ(y.shape(), (Shape{1, 1, 4, 4}));
    std::vector<float> want(16, 0.0f);
    for (int i = 0; i < 4; ++i) want[static_cast<size_t>(ind.data<int64_t>()[i])] = x.data<float>()[i];
    EXPECT_EQ(y.to_float_vector(), want);
    const Tensor shape = Tensor::from_int64s({4}, {1, 1, 5, 5});
    const Tensor big = run_op1("MaxUnpool", {&x, &ind, &shape}, attrs, 11);
    ASSERT_EQ(big.shape(), (Shape{1, 1, 5, 5}));
    for (int i = 0; i < 4; ++i) {
        const int64_t at = ind.data<int64_t>()[i];
        EXPECT_EQ(big.data<float>()[(at / 4) * 5 + at % 4], x.data<float>()[i]);  // same (h, w)
    }
}

TEST(MiscOps, ReverseSequenceReversesEachBatchPrefix) {
    std::vector<float> v(4 * 3 * 2);
    for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i);
    const Tensor x = Tensor::from_floats({4, 3, 2}, v);  // (time, batch, feature)
    const Tensor lens = Tensor::from_int64s({3}, {4, 1, 2});
    const Tensor y = run_op1("ReverseSequence", {&x, &lens}, {}, 10);
    for (int64_t t = 0; t < 4; ++t)
        for (int64_t b = 0; b < 3; ++b)
            for (int64_t f = 0; f < 2; ++f) {
                const int64_t len = lens.data<int64_t>()[b];
                const int64_t src = t < len ? len - 1 - t : t;
                EXPECT_EQ(y.data<float>()[(t * 3 + b) * 2 + f], v[static_cast<size_t>((src * 3 + b) * 2 + f)]);
            }
}

TEST(MiscOps, UpsampleNearestRepeatsByFloorOfAsymmetricCoordinate) {
    const Tensor x = Tensor::from_floats({1, 1, 2, 2}, {1, 2, 3, 4});
    const Tensor scales = Tensor::from_floats({4}, {1, 1, 2, 3});
    const Tensor y = run_op1("Upsample", {&x, &scales}, {}, 9);
    ASSERT_EQ(y.shape(), (Shape{1, 1, 4, 6}));
    for (int64_t h = 0; h < 4; ++h)
        for (int64_t w = 0; w < 6; ++w) EXPECT_EQ(y.data<float>()[h * 6 + w], x.data<float>()[(h / 2) * 2 + w / 3]);
}

}  // namespace
}  // namespace qcp
