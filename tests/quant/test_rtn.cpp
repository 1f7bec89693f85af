#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "qcp/core/error.hpp"
#include "qcp/quant/rtn.hpp"

namespace qcp::quant {
namespace {

constexpr double kHalfStepSlack = 1e-5;  // relative float slack on the half-step bound

std::vector<float> random_matrix(int64_t rows, int64_t cols, uint32_t seed, float outlier = 0.0f) {
    std::mt19937 gen(seed);
    std::normal_distribution<float> normal(0.f, 1.f);
    std::vector<float> w(static_cast<size_t>(rows * cols));
    for (auto& v : w) v = normal(gen);
    if (outlier != 0.0f)
        for (int64_t r = 0; r < rows; ++r) w[r * cols + (r * 7) % cols] = r % 2 ? outlier : -0.5f * outlier;
    return w;
}

double squared_error(const std::vector<float>& a, const std::vector<float>& b) {
    double e = 0;
    for (size_t i = 0; i < a.size(); ++i) e += (static_cast<double>(a[i]) - b[i]) * (static_cast<double>(a[i]) - b[i]);
    return e;
}

std::vector<QuantScheme> all_schemes(int bits) {
    std::vector<QuantScheme> schemes;
    for (bool symmetric : {true, false}) {
        schemes.push_back({bits, symmetric, Granularity::Channel, 0});
        schemes.push_back({bits, symmetric, Granularity::Tensor, 0});
        schemes.push_back({bits, symmetric, Granularity::Block, 10});  // 37 columns: a short last block
    }
    return schemes;
}

TEST(Rtn, WithinHalfStepInsideClipRangeAndCodesInRange) {
    const int64_t rows = 12, cols = 37;
    const std::vector<float> w = random_matrix(rows, cols, 1, 6.0f);
    for (int bits = 2; bits <= 8; ++bits)
        for (const QuantScheme& s : all_schemes(bits)) {
            SCOPED_TRACE(std::to_string(bits) + " bits, " + (s.symmetric ? "symmetric " : "asymmetric ") +
                         granularity_name(s.granularity));
            const QuantizedMatrix q = rtn_quantize(w.data(), rows, cols, s);
            ASSERT_EQ(static_cast<int64_t>(q.scales.size()), group_count(s, rows, cols));
            ASSERT_EQ(q.zero_points.size(), q.scales.size());
            const std::vector<float> deq = q.dequantized();
            int64_t inside = 0;
            for (int64_t r = 0; r < rows; ++r)
                for (int64_t c = 0; c < cols; ++c) {
                    const int32_t code = q.codes[r * cols + c];
                    ASSERT_GE(code, s.code_min());
                    ASSERT_LE(code, s.code_max());
                    const GroupGrid g = q.grid(r, c);
                    ASSERT_GT(g.scale, 0.f);
                    ASSERT_GE(g.zero_point, s.symmetric ? 0 : s.code_min());
                    ASSERT_LE(g.zero_point, s.symmetric ? 0 : s.code_max());
                    const double lo = static_cast<double>(g.scale) * (s.code_min() - g.zero_point);
                    const double hi = static_cast<double>(g.scale) * (s.code_max() - g.zero_point);
                    const double x = w[r * cols + c];
                    if (x < lo || x > hi) continue;
                    ++inside;
                    EXPECT_LE(std::fabs(x - deq[r * cols + c]), 0.5 * g.scale * (1 + kHalfStepSlack)) << r << "," << c;
                }
            EXPECT_GT(inside, rows * cols / 2);
        }
}

// Plain min/max scaling: the grid that just covers every value.
double min_max_error(const std::vector<float>& w, int64_t rows, int64_t cols, const QuantScheme& s) {
    double err = 0;
    for (int64_t r = 0; r < rows; ++r) {
        const float* row = w.data() + r * cols;
        float lo = 0, hi = 0;
        for (int64_t c = 0; c < cols; ++c) lo = std::min(lo, row[c]), hi = std::max(hi, row[c]);
        GroupGrid g;
        if (s.symmetric) {
            g.scale = std::max(-lo, hi) / s.code_max();
        } else {
            g.scale = (hi - lo) / s.code_max();
            g.zero_point = static_cast<int32_t>(std::nearbyint(-lo / g.scale));
        }
        for (int64_t c = 0; c < cols; ++c) {
            const double d = row[c] - dequantize_value(quantize_value(row[c], g, s), g);
            err += d * d;
        }
    }
    return err;
}

TEST(Rtn, MseClipBeatsMinMaxWithOutliers) {
    constexpr double kLowBitMargin = 0.8;  // at ≤ 3 bits clipping the outlier must pay off clearly
    const int64_t rows = 16, cols = 256;
    const std::vector<float> w = random_matrix(rows, cols, 2, 12.0f);
    for (int bits : {2, 3, 4, 6, 8})
        for (bool symmetric : {true, false}) {
            const QuantScheme s{bits, symmetric, Granularity::Channel, 0};
            const double mse = squared_error(w, rtn_quantize(w.data(), rows, cols, s).dequantized());
            const double min_max = min_max_error(w, rows, cols, s);
            EXPECT_LE(mse, min_max) << bits << (symmetric ? " sym" : " asym");
            if (bits <= 3) {
                EXPECT_LE(mse, kLowBitMargin * min_max) << bits << (symmetric ? " sym" : " asym");
            }
        }
}

TEST(Rtn, FinerGranularityFitsBetter) {
    const int64_t rows = 16, cols = 128;
    std::vector<float> w = random_matrix(rows, cols, 3);
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c) w[r * cols + c] *= 0.1f * static_cast<float>(1 + r) * (c < 64 ? 1.f : 4.f);
    const auto err = [&](Granularity g) {
        return squared_error(w, rtn_quantize(w.data(), rows, cols, {4, true, g, 64}).dequantized());
    };
    EXPECT_LT(err(Granularity::Channel), err(Granularity::Tensor));
    EXPECT_LT(err(Granularity::Block), err(Granularity::Channel));
}

TEST(Rtn, AsymmetricFitsOneSidedData) {
    const int64_t rows = 8, cols = 64;
    std::vector<float> w = random_matrix(rows, cols, 4);
    for (auto& v : w) v = 1.0f + std::fabs(v);  // all positive: half of a symmetric grid is wasted
    const auto err = [&](bool symmetric) {
        return squared_error(w, rtn_quantize(w.data(), rows, cols, {3, symmetric, Granularity::Channel, 0}).dequantized());
    };
    EXPECT_LT(err(false), 0.5 * err(true));
}

TEST(Rtn, ZerosAndConstantsAreExact) {
    const std::vector<float> zeros(6 * 5, 0.f);
    for (bool symmetric : {true, false}) {
        const QuantizedMatrix q = rtn_quantize(zeros.data(), 6, 5, {4, symmetric, Granularity::Channel, 0});
        for (float v : q.dequantized()) EXPECT_EQ(v, 0.f);
        for (float s : q.scales) EXPECT_GT(s, 0.f);
    }
    const std::vector<float> twos(4 * 3, 2.f);
    for (bool symmetric : {true, false}) {
        const QuantizedMatrix q = rtn_quantize(twos.data(), 4, 3, {4, symmetric, Granularity::Tensor, 0});
        for (float v : q.dequantized()) EXPECT_NEAR(v, 2.f, 1e-6f);
    }
}

TEST(Rtn, StorageBitsCountsCodesScalesAndZeroPoints) {
    const int64_t rows = 6, cols = 25;
    const std::vector<float> w = random_matrix(rows, cols, 5);
    const auto bits = [&](QuantScheme s) { return rtn_quantize(w.data(), rows, cols, s).storage_bits(); };
    EXPECT_EQ(bits({4, true, Granularity::Channel, 0}), rows * cols * 4 + 32 * rows);
    EXPECT_EQ(bits({4, false, Granularity::Channel, 0}), rows * cols * 4 + (32 + 4) * rows);
    EXPECT_EQ(bits({8, true, Granularity::Tensor, 0}), rows * cols * 8 + 32);
    EXPECT_EQ(bits({3, false, Granularity::Tensor, 0}), rows * cols * 3 + 32 + 3);
    EXPECT_EQ(bits({2, true, Granularity::Block, 8}), rows * cols * 2 + 32 * rows * 4);  // ceil(25 / 8) = 4
    EXPECT_EQ(bits({5, false, Granularity::Block, 8}), rows * cols * 5 + (32 + 5) * rows * 4);
}

TEST(Rtn, BlockGroupsAreConsecutiveColumnsOfARow) {
    const QuantScheme s{4, true, Granularity::Block, 4};
    EXPECT_EQ(group_count(s, 3, 10), 9);
    EXPECT_EQ(group_of(s, 10, 0, 3), 0);
    EXPECT_EQ(group_of(s, 10, 0, 4), 1);
    EXPECT_EQ(group_of(s, 10, 1, 9), 5);
    EXPECT_EQ(group_of(s, 10, 2, 0), 6);
    // each block's grid is the one-group grid of its own values
    const std::vector<float> w = random_matrix(3, 10, 6, 5.0f);
    const QuantizedMatrix q = rtn_quantize(w.data(), 3, 10, s);
    const GroupGrid g = rtn_group_grid(w.data() + 10 + 8, 2, 1, s);
    EXPECT_EQ(q.scales[5], g.scale);
}

TEST(Rtn, RejectsBadSchemesAndWeights) {
    const std::vector<float> w = random_matrix(2, 4, 7);
    EXPECT_THROW(rtn_quantize(w.data(), 2, 4, {1, true, Granularity::Channel, 0}), Error);
    EXPECT_THROW(rtn_quantize(w.data(), 2, 4, {17, true, Granularity::Channel, 0}), Error);
    EXPECT_THROW(rtn_quantize(w.data(), 2, 4, {4, true, Granularity::Block, 0}), Error);
    std::vector<float> bad = w;
    bad[3] = std::nanf("");
    EXPECT_THROW(rtn_quantize(bad.data(), 2, 4, {4, true, Granularity::Channel, 0}), Error);
}

}  // namespace
}  // namespace qcp::quant
