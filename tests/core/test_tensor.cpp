#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "qcp/core/error.hpp"
#include "qcp/core/tensor.hpp"

namespace qcp {
namespace {

TEST(Half, KnownValues) {
    EXPECT_EQ(float_to_half(1.0f), 0x3C00);
    EXPECT_EQ(float_to_half(-2.0f), 0xC000);
    EXPECT_EQ(float_to_half(65504.0f), 0x7BFF);
    EXPECT_EQ(float_to_half(0.5f), 0x3800);
    EXPECT_EQ(float_to_half(std::ldexp(1.0f, -24)), 0x0001);  // smallest subnormal
    EXPECT_EQ(float_to_half(1e6f), 0x7C00);                      // overflow to inf
    EXPECT_EQ(float_to_half(1.0f + std::ldexp(1.0f, -11)), 0x3C00);  // tie rounds to even
    EXPECT_EQ(float_to_half(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3C02);
    EXPECT_TRUE(std::isnan(half_to_float(float_to_half(NAN))));
    EXPECT_FLOAT_EQ(half_to_float(0x3555), 0.33325195f);
}

TEST(Half, EveryFiniteHalfRoundTrips) {
    for (uint32_t h = 0; h < 0x10000; ++h) {
        if ((h & 0x7C00) == 0x7C00) continue;  // inf/NaN
        const float f = half_to_float(static_cast<uint16_t>(h));
        ASSERT_EQ(float_to_half(f), h) << "half 0x" << std::hex << h << " -> " << f;
    }
}

TEST(BFloat16, KnownValuesAndRounding) {
    EXPECT_EQ(float_to_bfloat16(1.0f), 0x3F80);
    EXPECT_EQ(float_to_bfloat16(-1.5f), 0xBFC0);
    EXPECT_EQ(float_to_bfloat16(1.0f + std::ldexp(1.0f, -8)), 0x3F80);  // tie to even
    EXPECT_EQ(float_to_bfloat16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3F82);
    EXPECT_FLOAT_EQ(bfloat16_to_float(0x4049), 3.140625f);
}

TEST(Tensor, ShapeChecks) {
    EXPECT_THROW(shape_numel({2, -1}), Error);
    EXPECT_THROW(shape_numel({int64_t{1} << 40, int64_t{1} << 40}), Error);
    EXPECT_EQ(shape_numel({}), 1);
    EXPECT_EQ(shape_numel({3, 0, 5}), 0);
    EXPECT_THROW(Tensor(DType::Float32, {2, 2}, std::vector<uint8_t>(15)), Error);
}

TEST(Tensor, Int4LowNibbleFirst) {
    // values 1, -2, 7, -8, 3 packed two per byte, low nibble first
    Tensor t(DType::Int4, {5}, {0xE1, 0x87, 0x03});
    const double want[] = {1, -2, 7, -8, 3};
    for (int i = 0; i < 5; ++i) EXPECT_EQ(t.get_as_double(i), want[i]) << i;
    Tensor u(DType::UInt4, {3}, {0xE1, 0x0F});
    EXPECT_EQ(u.get_as_double(0), 1);
    EXPECT_EQ(u.get_as_double(1), 14);
    EXPECT_EQ(u.get_as_double(2), 15);
}

TEST(Tensor, ConversionsAndReshape) {
    Tensor f = Tensor::from_floats({2, 2}, {1.5f, -2.0f, 0.25f, 3.0f});
    Tensor h = f.cast_from_float32(DType::Float16);
    EXPECT_EQ(h.nbytes(), 8u);
    EXPECT_EQ(h.to_float32().to_float_vector(), f.to_float_vector());
    EXPECT_EQ(f.reshaped({4}).shape(), Shape({4}));
    EXPECT_THROW(f.reshaped({3}), Error);
    EXPECT_THROW(f.to_int64_vector(), Error);
    EXPECT_EQ(Tensor::from_int64s({2}, {7, -9}).to_int64_vector(), std::vector<int64_t>({7, -9}));
}

}  // namespace
}  // namespace qcp
