// Activation ranges: the streamed histogram against its definition, and each calibrator on
// planted data against a hand-computed answer (mse against a brute force over the raw values).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "qcp/core/error.hpp"
#include "qcp/quant/act_calib.hpp"

namespace qcp::quant {
namespace {

constexpr double kTol = 1e-12;
constexpr int64_t H = kActHalfBins;

ActHistogram histogram_of(const std::vector<float>& x) {
    ActHistogram h;
    h.add(x.data(), static_cast<int64_t>(x.size()));
    return h;
}

TEST(ActHistogram, BinsAreFloorOfValueOverPowerOfTwoWidth) {
    const ActHistogram h = histogram_of({0.0f, 1.0f, -1.0f, 3.0f});
    // max |x| = 3: the smallest power of two w with 2048·w > 3 is 2^-9
    EXPECT_EQ(h.width(), std::ldexp(1.0, -9));
    EXPECT_EQ(h.count(), 4);
    EXPECT_EQ(h.bin(0), 1);
    EXPECT_EQ(h.bin(512), 1);
    EXPECT_EQ(h.bin(-512), 1);
    EXPECT_EQ(h.bin(1536), 1);
    EXPECT_EQ(h.min(), -1.0);
    EXPECT_EQ(h.max(), 3.0);
}

TEST(ActHistogram, GrowingMergesExactlyWhateverTheBatching) {
    const std::vector<float> x = {0.0f, 1.0f, -1.0f, 3.0f, 7.0f, -0.3f, 0.001f, 2.5f};
    ActHistogram batched;
    for (float v : x) batched.add(&v, 1);  // width doubles when 7 arrives
    const ActHistogram whole = histogram_of(x);
    EXPECT_EQ(batched.width(), std::ldexp(1.0, -8));
    EXPECT_EQ(batched.width(), whole.width());
    for (int64_t k = -H; k < H; ++k) ASSERT_EQ(batched.bin(k), whole.bin(k)) << "bin " << k;
    EXPECT_EQ(whole.bin(1792), 1);  // 7 / 2^-8
}

TEST(ActHistogram, SkipsNonFiniteAndStartsWithZeros) {
    const float inf = std::numeric_limits<float>::infinity();
    ActHistogram h;
    const std::vector<float> zeros(5, 0.0f);
    h.add(zeros.data(), 5);
    EXPECT_EQ(h.width(), 0.0);
    const std::vector<float> more = {std::nanf(""), inf, -inf, 2.0f};
    h.add(more.data(), 4);
    EXPECT_EQ(h.count(), 6);
    EXPECT_EQ(h.bin(0), 5);
    EXPECT_EQ(h.max(), 2.0);
}

TEST(ActCalib, MinMaxIncludesZero) {
    const ActHistogram h = histogram_of({1.0f, 2.0f, 3.0f});
    const ActRange r = act_range(h, ActCalib::MinMax, 99.99);
    EXPECT_EQ(r.lo, 0.0);
    EXPECT_EQ(r.hi, 3.0);
}

TEST(ActCalib, PercentileClipsARareOutlier) {
    // 9990 zeros and 10 values of 100: w = 2^-4 (2048·w > 100)
    std::vector<float> x(10000, 0.0f);
    for (int i = 0; i < 10; ++i) x[static_cast<size_t>(i) * 1000] = 100.0f;
    const ActHistogram h = histogram_of(x);
    ASSERT_EQ(h.width(), 0.0625);
    // 99.9%: 9990 values reached in bin 0, whose upper edge is 0.0625
    EXPECT_NEAR(act_range(h, ActCalib::Percentile, 99.9).hi, 0.0625, kTol);
    // 99.99%: 9999 values only in the outliers' bin, clamped to the maximum
    EXPECT_NEAR(act_range(h, ActCalib::Percentile, 99.99).hi, 100.0, kTol);
    EXPECT_EQ(act_range(h, ActCalib::Percentile, 99.99).lo, 0.0);
}

TEST(ActCalib, PercentileLowerTail) {
    // 100 values: -50 once, then 0, 0.5, ..., 49 (w = 2^-5): lo skips the 1% tail
    std::vector<float> x = {-50.0f};
    for (int i = 0; i < 99; ++i) x.push_back(static_cast<float>(i) * 0.5f);
    const ActHistogram h = histogram_of(x);
    const ActRange r = act_range(h, ActCalib::Percentile, 99.0);
    // cumulative count exceeds 1 (the 1% below) first in the bin of 0: lower edge 0
    EXPECT_EQ(r.lo, 0.0);
    // 99 values reached at 48.5's bin (the 99th value), upper edge clamped to the max 49
    EXPECT_NEAR(r.hi, std::min(49.0, (std::floor(48.5 / h.width()) + 1) * h.width()), kTol);
}

// Expected squared error of range [lo, hi] on raw values, as the mse calibrator defines it.
double mse_of(const std::vector<float>& x, double lo, double hi) {
    const double s = (hi - lo) / 255.0;
    double e = 0;
    for (float v : x) {
        const double d = v < lo ? lo - v : v > hi ? v - hi : 0.0;
        e += d > 0 ? d * d : s * s / 12.0;
    }
    return e;
}

TEST(ActCalib, MseMatchesBruteForceOverRawValues) {
    // values at bin centres so the histogram sees them exactly: a million in [0, 0.62) and one
    // near 12, which is worth clipping (the optimum is inside, near 5)
    std::vector<float> x;
    const double w = std::ldexp(1.0, -7);  // 2048·w = 16 > max 12
    for (int i = 0; i < 1000000; ++i) x.push_back(static_cast<float>((i % 40 * 2 + 0.5) * w));
    x.push_back(static_cast<float>((std::floor(12.0 / w) - 1 + 0.5) * w));
    const ActHistogram h = histogram_of(x);
    ASSERT_EQ(h.width(), w);
    double best = std::numeric_limits<double>::infinity(), best_hi = 0;
    for (int step = 100; step >= 1; --step) {
        const double hi = step / 100.0 * h.max();
        const double e = mse_of(x, 0.0, hi);
        if (e < best) best = e, best_hi = hi;
    }
    const ActRange r = act_range(h, ActCalib::Mse, 99.99);
    EXPECT_EQ(r.lo, 0.0);
    EXPECT_NEAR(r.hi, best_hi, kTol);
    EXPECT_GT(r.hi, 0.2 * h.max());  // clipped, but not to the cluster
    EXPECT_LT(r.hi, 0.8 * h.max());
}

TEST(ActCalib, KlThresholdOnAHandComputedHistogram) {
    // levels 2 over bins {8, 2, 0, 1}: KL(i=2) = .0153, KL(i=3) = .0307, KL(i=4) = .175
    EXPECT_EQ(kl_threshold_bins({8, 2, 0, 1}, 2), 2u);
    // Q reproduces P exactly when every group is flat: no clipping (i = 4)
    EXPECT_EQ(kl_threshold_bins({4, 4, 1, 1}, 2), 4u);
    // fewer nonempty bins than levels: all of them
    EXPECT_EQ(kl_threshold_bins({3, 1, 0, 0}, 2), 2u);
}

TEST(ActCalib, EntropyKeepsTheWholeRangeOfAFewValues) {
    // under 256 nonempty |x| bins: no clipping
    const ActHistogram h = histogram_of({0.0f, 0.5f, 1.0f, 2.0f});
    const ActRange r = act_range(h, ActCalib::Entropy, 99.99);
    EXPECT_EQ(r.lo, 0.0);
    EXPECT_EQ(r.hi, 2.0);
}

TEST(ActCalib, ParamsOfARange) {
    const ActParams a = act_params({-1.0, 3.0});
    EXPECT_FLOAT_EQ(a.scale, 4.0f / 255.0f);
    EXPECT_EQ(a.zero_point, 64);  // round(1 / (4/255)) = round(63.75)
    const ActParams relu = act_params({0.0, 6.0});
    EXPECT_EQ(relu.zero_point, 0);
    const ActParams none = act_params({0.0, 0.0});
    EXPECT_EQ(none.scale, 1.0f);
    EXPECT_EQ(none.zero_point, 0);
}

TEST(ActCalib, NamesRoundTripAndBadNameThrows) {
    for (int i = 0; i < kActCalibCount; ++i)
        EXPECT_EQ(parse_act_calib(act_calib_name(static_cast<ActCalib>(i))), static_cast<ActCalib>(i));
    EXPECT_THROW(parse_act_calib("kl"), Error);
}

}  // namespace
}  // namespace qcp::quant
