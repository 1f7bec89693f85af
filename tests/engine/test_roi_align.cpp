// RoiAlign against a naive reference: every bin the mean of its sampling_ratio^2 sample points,
// each sample bilinear by tent weights over all pixels, the roi shifted by half a pixel (opset 16).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "kernel_test_util.hpp"

namespace qcp {
namespace {

using A = ir::Attribute;

TEST(RoiAlign, AverageBinsMatchTentWeightedSamples) {
    std::mt19937 gen(50);
    std::uniform_real_distribution<float> val(-2, 2);
    const int64_t N = 2, C = 3, H = 6, W = 7, PH = 2, PW = 3, S = 2;
    std::vector<float> xv(static_cast<size_t>(N * C * H * W));
    for (auto& v : xv) v = val(gen);
    const Tensor x = Tensor::from_floats({N, C, H, W}, xv);
    const std::vector<float> rv = {1.0f, 1.5f, 5.0f, 4.0f, 0.5f, 0.5f, 3.5f, 5.5f};
    const Tensor rois = Tensor::from_floats({2, 4}, rv);
    const Tensor bidx = Tensor::from_int64s({2}, {1, 0});
    const Tensor y = test::run_op1("RoiAlign", {&x, &rois, &bidx},
                                   {A::make_int("output_height", PH), A::make_int("output_width", PW), A::make_int("sampling_ratio", S)}, 16);
    ASSERT_EQ(y.shape(), (Shape{2, C, PH, PW}));
    for (int64_t r = 0; r < 2; ++r) {
        const double x1 = rv[static_cast<size_t>(4 * r)] - 0.5, y1 = rv[static_cast<size_t>(4 * r + 1)] - 0.5;
        const double bw = (rv[static_cast<size_t>(4 * r + 2)] - rv[static_cast<size_t>(4 * r)]) / double(PW);
        const double bh = (rv[static_cast<size_t>(4 * r + 3)] - rv[static_cast<size_t>(4 * r + 1)]) / double(PH);
        const int64_t b = bidx.data<int64_t>()[r];
        for (int64_t c = 0; c < C; ++c)
            for (int64_t oy = 0; oy < PH; ++oy)
                for (int64_t ox = 0; ox < PW; ++ox) {
                    double sum = 0;
                    for (int64_t iy = 0; iy < S; ++iy)
                        for (int64_t ix = 0; ix < S; ++ix) {
                            const double sy = std::max(0.0, y1 + oy * bh + (iy + 0.5) * bh / S);
                            const double sx = std::max(0.0, x1 + ox * bw + (ix + 0.5) * bw / S);
                            for (int64_t i = 0; i < H; ++i)
                                for (int64_t j = 0; j < W; ++j)
                                    sum += std::max(0.0, 1 - std::fabs(sy - i)) * std::max(0.0, 1 - std::fabs(sx - j)) *
                                           xv[static_cast<size_t>(((b * C + c) * H + i) * W + j)];
                        }
                    ASSERT_NEAR(y.data<float>()[((r * C + c) * PH + oy) * PW + ox], sum / (S * S), 1e-5) << r << " " << c;
                }
    }
}

}  // namespace
}  // namespace qcp
