#include <gtest/gtest.h>

#include <random>

#include "qcp/core/grid.hpp"

namespace qcp {
namespace {

TEST(Grid, CodesRoundHalfToEvenAndSaturate) {
    const GridRange r4{4};
    EXPECT_EQ(r4.qmin(), -8);
    EXPECT_EQ(r4.qmax(), 7);
    EXPECT_EQ(grid_code(2.5f, 1.0f, r4), 2);
    EXPECT_EQ(grid_code(3.5f, 1.0f, r4), 4);
    EXPECT_EQ(grid_code(100.f, 1.0f, r4), 7);
    EXPECT_EQ(grid_code(-100.f, 1.0f, r4), -8);
}

TEST(Grid, BestScaleBeatsMaxScalingAndFineSearch) {
    std::mt19937 gen(2);
    std::normal_distribution<float> n(0.f, 1.f);
    std::vector<float> x(2000);
    for (auto& v : x) v = n(gen);
    x[0] = 12.f;  // an outlier: clipping it pays off at low bits
    for (int bits : {2, 3, 4, 8}) {
        const GridRange r{bits};
        const float s = grid_best_scale(x.data(), 2000, 1, r);
        const double err = grid_error(x.data(), 2000, 1, s, r);
        const double max_scaled = grid_error(x.data(), 2000, 1, 12.f / r.qmax(), r);
        EXPECT_LE(err, max_scaled) << bits;
        // brute force over a fine sweep of scales: the chosen one is within 2% of the best
        double brute = max_scaled;
        for (int i = 1; i <= 4000; ++i) brute = std::min(brute, grid_error(x.data(), 2000, 1, 12.f * i / 4000 / r.qmax(), r));
        EXPECT_LE(err, brute * 1.02) << bits;
    }
}

TEST(Grid, StridedColumnAndZeros) {
    std::vector<float> m = {1.f, 100.f, -2.f, 100.f, 0.5f, 100.f};  // column 0 of a 3×2 matrix
    const float s = grid_best_scale(m.data(), 3, 2, GridRange{8});
    EXPECT_LT(s, 0.1f);  // scaled for |x| ≤ 2, not for the 100s of the other column
    std::vector<float> zeros(5, 0.f);
    EXPECT_GT(grid_best_scale(zeros.data(), 5, 1, GridRange{4}), 0.f);
}

}  // namespace
}  // namespace qcp
