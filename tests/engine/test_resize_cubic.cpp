// Resize in cubic mode against a naive reference: every output pixel summed over its 4 x 4 input
// neighbourhood with Keys' weights written out per tap in double precision.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "kernel_test_util.hpp"

namespace qcp {
namespace {

using A = ir::Attribute;

double keys_weight(double x, double a) {
    x = std::fabs(x);
    if (x <= 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
    if (x < 2) return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
    return 0;
}

// Taps and weights along one dim for output index o (half_pixel coordinates).
void naive_taps(int64_t o, int64_t in, double scale, double a, bool exclude, int64_t (&idx)[4], double (&w)[4]) {
    const double c = (o + 0.5) / scale - 0.5;
    const double f = std::floor(c);
    double total = 0;
    for (int t = 0; t < 4; ++t) {
        const auto i = static_cast<int64_t>(f) - 1 + t;
        w[t] = keys_weight(c - static_cast<double>(i), a);
        if (exclude && (i < 0 || i >= in)) w[t] = 0;
        idx[t] = std::clamp<int64_t>(i, 0, in - 1);
        total += w[t];
    }
    if (exclude)
        for (double& v : w) v /= total;
}

TEST(ResizeCubic, MatchesNaiveFourByFourSumUpAndDown) {
    std::mt19937 gen(12);
    std::uniform_real_distribution<float> dist(-2, 2);
    const int64_t H = 5, W = 6;
    std::vector<float> v(static_cast<size_t>(2 * H * W));
    for (auto& x : v) x = dist(gen);
    const Tensor x = Tensor::from_floats({1, 2, H, W}, v);
    for (float scale : {1.6f, 0.7f})
        for (int exclude : {0, 1}) {
            const Tensor roi = Tensor::from_floats({0}, {});
            const Tensor scales = Tensor::from_floats({4}, {1, 1, scale, scale});
            A mode;
            mode.name = "mode";
            mode.type = ir::AttrType::String;
            mode.s = "cubic";
            A excl;
            excl.name = "exclude_outside";
            excl.type = ir::AttrType::Int;
            excl.i = exclude;
            const Tensor y = test::run_op1("Resize", {&x, &roi, &scales}, {mode, excl}, 13);
            const auto OH = static_cast<int64_t>(scale * H), OW = static_cast<int64_t>(scale * W);
            ASSERT_EQ(y.shape(), (Shape{1, 2, OH, OW}));
            for (int64_t c = 0; c < 2; ++c)
                for (int64_t oh = 0; oh < OH; ++oh)
                    for (int64_t ow = 0; ow < OW; ++ow) {
                        int64_t ih[4], iw[4];
                        double wh[4], ww[4];
                        naive_taps(oh, H, scale, -0.75, exclude, ih, wh);
                        naive_taps(ow, W, scale, -0.75, exclude, iw, ww);
                        double want = 0;
                        for (int s = 0; s < 4; ++s)
                            for (int t = 0; t < 4; ++t) want += wh[s] * ww[t] * v[static_cast<size_t>((c * H + ih[s]) * W + iw[t])];
                        ASSERT_NEAR(y.data<float>()[(c * OH + oh) * OW + ow], want, 1e-5)
                            << "scale " << scale << " exclude " << exclude << " at " << oh << "," << ow;
                    }
        }
}

}  // namespace
}  // namespace qcp
