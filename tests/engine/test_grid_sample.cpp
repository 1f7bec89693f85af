// GridSample against naive references: bilinear as a sum over every input pixel of the tent
// weights max(0, 1 - |x - i|) * max(0, 1 - |y - j|) (zeros padding), and an identity grid that
// must reproduce the input in every mode.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "kernel_test_util.hpp"

namespace qcp {
namespace {

using A = ir::Attribute;

TEST(GridSample, BilinearZerosMatchesTentWeightSumOverAllPixels) {
    std::mt19937 gen(40);
    std::uniform_real_distribution<float> val(-2, 2), pos(-1.2f, 1.2f);
    const int64_t C = 2, H = 4, W = 5, HO = 3, WO = 6;
    std::vector<float> xv(static_cast<size_t>(C * H * W)), gv(static_cast<size_t>(HO * WO * 2));
    for (auto& v : xv) v = val(gen);
    for (auto& v : gv) v = pos(gen);
    const Tensor x = Tensor::from_floats({1, C, H, W}, xv), grid = Tensor::from_floats({1, HO, WO, 2}, gv);
    for (int align : {0, 1}) {
        const Tensor y = test::run_op1("GridSample", {&x, &grid}, {A::make_int("align_corners", align)}, 16);
        ASSERT_EQ(y.shape(), (Shape{1, C, HO, WO}));
        for (int64_t c = 0; c < C; ++c)
            for (int64_t p = 0; p < HO * WO; ++p) {
                const double gx = gv[static_cast<size_t>(2 * p)], gy = gv[static_cast<size_t>(2 * p + 1)];
                const double fx = align ? (gx + 1) / 2 * (W - 1) : ((gx + 1) * W - 1) / 2;
                const double fy = align ? (gy + 1) / 2 * (H - 1) : ((gy + 1) * H - 1) / 2;
                double want = 0;
                for (int64_t i = 0; i < H; ++i)
                    for (int64_t j = 0; j < W; ++j)
                        want += std::max(0.0, 1 - std::fabs(fx - j)) * std::max(0.0, 1 - std::fabs(fy - i)) * xv[static_cast<size_t>((c * H + i) * W + j)];
                ASSERT_NEAR(y.data<float>()[c * HO * WO + p], want, 1e-5) << "align " << align << " at " << p;
            }
    }
}

TEST(GridSample, IdentityGridReproducesInputInEveryModeAndPadding) {
    std::mt19937 gen(41);
    std::uniform_real_distribution<float> val(-2, 2);
    const int64_t H = 3, W = 4;
    std::vector<float> xv(static_cast<size_t>(H * W)), gv;
    for (auto& v : xv) v = val(gen);
    for (int64_t i = 0; i < H; ++i)
        for (int64_t j = 0; j < W; ++j) gv.insert(gv.end(), {2.0f * j / (W - 1) - 1, 2.0f * i / (H - 1) - 1});
    const Tensor x = Tensor::from_floats({1, 1, H, W}, xv), grid = Tensor::from_floats({1, H, W, 2}, gv);
    for (const char* mode : {"bilinear", "nearest", "bicubic"})
        for (const char* pad : {"zeros", "border", "reflection"}) {
            const Tensor y = test::run_op1("GridSample", {&x, &grid},
                                           {A::make_int("align_corners", 1), A::make_string("mode", mode), A::make_string("padding_mode", pad)}, 16);
            for (size_t i = 0; i < xv.size(); ++i) ASSERT_NEAR(y.data<float>()[i], xv[i], 1e-5) << mode << " " << pad << " at " << i;
        }
}

TEST(GridSample, NonFiniteOrFarGridPointsSampleZerosWithoutReadingOutside) {
    const Tensor x = Tensor::from_floats({1, 1, 2, 2}, {1, 2, 3, 4});
    const Tensor grid = Tensor::from_floats({1, 1, 3, 2}, {NAN, 0.0f, 1e30f, -1e30f, 0.0f, INFINITY});
    for (const char* pad : {"zeros", "border", "reflection"}) {
        const Tensor y = test::run_op1("GridSample", {&x, &grid}, {A::make_string("padding_mode", pad)}, 16);
        ASSERT_EQ(y.numel(), 3);
        for (int64_t i = 0; i < 3; ++i) EXPECT_TRUE(std::isfinite(y.data<float>()[i])) << pad;
    }
}

}  // namespace
}  // namespace qcp
