// DFT and STFT against a naive reference: sums of std::polar(1, -2 pi k n / N) terms in
// std::complex<double>, on random real and complex signals; MelWeightMatrix's triangles.
#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <random>

#include "kernel_test_util.hpp"
#include "qcp/core/error.hpp"

namespace qcp {
namespace {

using A = ir::Attribute;
using cd = std::complex<double>;

constexpr double kTol = 1e-4;
constexpr double kPi = 3.14159265358979323846;

std::vector<cd> naive_dft(const std::vector<cd>& x, int64_t len, bool inverse) {
    std::vector<cd> out(static_cast<size_t>(len));
    for (int64_t k = 0; k < len; ++k) {
        for (int64_t t = 0; t < std::min<int64_t>(len, static_cast<int64_t>(x.size())); ++t)
            out[static_cast<size_t>(k)] += x[static_cast<size_t>(t)] * std::polar(1.0, (inverse ? 2 : -2) * kPi * double(k) * double(t) / double(len));
        if (inverse) out[static_cast<size_t>(k)] /= double(len);
    }
    return out;
}

TEST(Signal, DftMatchesNaiveComplexSumsForwardInverseOnesidedPadded) {
    std::mt19937 gen(60);
    std::uniform_real_distribution<float> val(-1, 1);
    const int64_t B = 2, N = 7;
    for (int complex_in : {0, 1})
        for (int inverse : {0, 1})
            for (int onesided : {0, 1})
                for (int64_t len : {N, N + 3}) {
                    if (onesided && (complex_in || inverse)) continue;
                    const int64_t comp = complex_in ? 2 : 1;
                    std::vector<float> v(static_cast<size_t>(B * N * comp));
                    for (auto& f : v) f = val(gen);
                    const Tensor x = Tensor::from_floats({B, N, comp}, v);
                    const Tensor dl = Tensor::from_int64s({}, {len});
                    const Tensor y = test::run_op1("DFT", {&x, &dl}, {A::make_int("inverse", inverse), A::make_int("onesided", onesided)}, 17);
                    const int64_t bins = onesided ? len / 2 + 1 : len;
                    ASSERT_EQ(y.shape(), (Shape{B, bins, 2}));
                    for (int64_t b = 0; b < B; ++b) {
                        std::vector<cd> sig;
                        for (int64_t t = 0; t < N; ++t)
                            sig.emplace_back(v[static_cast<size_t>((b * N + t) * comp)], complex_in ? v[static_cast<size_t>((b * N + t) * comp + 1)] : 0.0f);
                        const auto want = naive_dft(sig, len, inverse);
                        for (int64_t k = 0; k < bins; ++k) {
                            ASSERT_NEAR(y.data<float>()[(b * bins + k) * 2], want[static_cast<size_t>(k)].real(), kTol);
                            ASSERT_NEAR(y.data<float>()[(b * bins + k) * 2 + 1], want[static_cast<size_t>(k)].imag(), kTol);
                        }
                    }
                }
}

TEST(Signal, DftNegativeAxisCountsFromTheBackOfTheFullRank) {
    std::mt19937 gen(62);
    std::uniform_real_distribution<float> val(-1, 1);
    std::vector<float> v(2 * 3 * 4);
    for (auto& f : v) f = val(gen);
    const Tensor x = Tensor::from_floats({2, 3, 4, 1}, v);
    // axis -2 is dim 2 (length 4), the same as axis 2
    EXPECT_EQ(test::run_op1("DFT", {&x}, {A::make_int("axis", -2)}, 17), test::run_op1("DFT", {&x}, {A::make_int("axis", 2)}, 17));
    EXPECT_EQ(test::run_op1("DFT", {&x}, {A::make_int("axis", -3)}, 17), test::run_op1("DFT", {&x}, {A::make_int("axis", 1)}, 17));
    EXPECT_THROW(test::run_op1("DFT", {&x}, {A::make_int("axis", -1)}, 17), Error);
    EXPECT_THROW(test::run_op1("DFT", {&x}, {A::make_int("axis", 0)}, 17), Error);
}

TEST(Signal, StftFramesAreNaiveDftsOfWindowedSlices) {
    std::mt19937 gen(61);
    std::uniform_real_distribution<float> val(-1, 1);
    const int64_t L = 20, F = 8, S = 3;
    std::vector<float> v(static_cast<size_t>(L)), wv(static_cast<size_t>(F));
    for (auto& f : v) f = val(gen);
    for (int64_t t = 0; t < F; ++t) wv[static_cast<size_t>(t)] = static_cast<float>(0.5 - 0.5 * std::cos(2 * kPi * double(t) / F));
    const Tensor x = Tensor::from_floats({1, L, 1}, v), step = Tensor::from_int64s({}, {S}), window = Tensor::from_floats({F}, wv);
    const Tensor y = test::run_op1("STFT", {&x, &step, &window}, {}, 17);
    const int64_t frames = (L - F) / S + 1, bins = F / 2 + 1;
    ASSERT_EQ(y.shape(), (Shape{1, frames, bins, 2}));
    for (int64_t f = 0; f < frames; ++f) {
        std::vector<cd> sig;
        for (int64_t t = 0; t < F; ++t) sig.emplace_back(v[static_cast<size_t>(f * S + t)] * wv[static_cast<size_t>(t)], 0.0);
        const auto want = naive_dft(sig, F, false);
        for (int64_t k = 0; k < bins; ++k) {
            ASSERT_NEAR(y.data<float>()[(f * bins + k) * 2], want[static_cast<size_t>(k)].real(), kTol);
            ASSERT_NEAR(y.data<float>()[(f * bins + k) * 2 + 1], want[static_cast<size_t>(k)].imag(), kTol);
        }
    }
}

TEST(Signal, MelWeightMatrixFiltersAreTrianglesPeakingAtOne) {
    const Tensor mels = Tensor::from_int64s({}, {8}), dft = Tensor::from_int64s({}, {64}), rate = Tensor::from_int64s({}, {8000});
    const Tensor lo = Tensor::from_floats({}, {0.0f}), hi = Tensor::from_floats({}, {4000.0f});
    const Tensor y = test::run_op1("MelWeightMatrix", {&mels, &dft, &rate, &lo, &hi}, {}, 17);
    ASSERT_EQ(y.shape(), (Shape{33, 8}));
    for (int64_t i = 0; i < 8; ++i) {
        float peak = 0;
        int64_t rises = 0, falls = 0;
        for (int64_t j = 0; j < 33; ++j) {
            const float v = y.data<float>()[j * 8 + i];
            EXPECT_GE(v, 0.0f);
            peak = std::max(peak, v);
            if (j > 0) {
                const float prev = y.data<float>()[(j - 1) * 8 + i];
                if (v > prev) rises += falls > 0;  // rising after falling would not be a triangle
                if (v < prev) ++falls;
            }
        }
        EXPECT_FLOAT_EQ(peak, 1.0f) << "filter " << i;
        EXPECT_EQ(rises, 0) << "filter " << i;
    }
}

}  // namespace
}  // namespace qcp
