// DequantizeLinear and QuantizeLinear against naive float64 loops: per-tensor, per-axis and
// blocked parameters, every integer type (int4/uint4 packed low nibble first), rounding and
// saturation.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "qcp/core/error.hpp"
#include "qcp/core/parallel.hpp"
#include "qcp/engine/kernel.hpp"
#include "kernel_test_util.hpp"

namespace qcp {
namespace {

using ir::Attribute;

using test::run_op;

struct Range {
    int64_t lo, hi;
};

Range range_of(DType t) {
    switch (t) {
        case DType::Int8: return {-128, 127};
        case DType::UInt8: return {0, 255};
        case DType::Int16: return {-32768, 32767};
        case DType::UInt16: return {0, 65535};
        case DType::Int32: return {-100000, 100000};
        case DType::Int4: return {-8, 7};
        case DType::UInt4: return {0, 15};
        default: return {0, 0};
    }
}

// An integer tensor of `dtype` holding `values`, written byte by byte (4-bit: low nibble first).
Tensor int_tensor(DType dtype, const Shape& shape, const std::vector<int64_t>& values) {
    Tensor t(dtype, shape);
    uint8_t* b = t.data<uint8_t>();
    for (size_t i = 0; i < values.size(); ++i) {
        const int64_t v = values[i];
        switch (dtype) {
            case DType::Int4: case DType::UInt4: b[i / 2] |= static_cast<uint8_t>((v & 0xF) << (4 * (i % 2))); break;
            case DType::Int8: case DType::UInt8: b[i] = static_cast<uint8_t>(v); break;
            case DType::Int16: case DType::UInt16: t.data<uint16_t>()[i] = static_cast<uint16_t>(v); break;
            case DType::Int32: t.data<int32_t>()[i] = static_cast<int32_t>(v); break;
            default: break;
        }
    }
    return t;
}

std::vector<int64_t> random_ints(int64_t n, Range r, std::mt19937& rng) {
    std::uniform_int_distribution<int64_t> u(r.lo, r.hi);
    std::vector<int64_t> v(static_cast<size_t>(n));
    for (auto& x : v) x = u(rng);
    return v;
}

Tensor random_scales(const Shape& shape, std::mt19937& rng) {
    std::uniform_real_distribution<float> u(0.01f, 0.3f);
    Tensor t(DType::Float32, shape);
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = u(rng);
    return t;
}

// Parameter layout under test: per tensor (axis < 0), per axis, or blocked along axis.
struct Layout {
    int64_t axis = -1;
    int64_t block = 0;
};

Shape param_shape(const Shape& x, Layout L) {
    if (L.axis < 0) return {};
    if (L.block == 0) return {x[static_cast<size_t>(L.axis)]};
    Shape s = x;
    s[static_cast<size_t>(L.axis)] = (s[static_cast<size_t>(L.axis)] + L.block - 1) / L.block;
    return s;
}

// Index into the parameters of x's element i, from x's multi-index.
int64_t naive_param_index(const Shape& x, Layout L, int64_t i) {
    if (L.axis < 0) return 0;
    std::vector<int64_t> idx(x.size());
    for (size_t d = x.size(); d-- > 0;) {
        idx[d] = i % x[d];
        i /= x[d];
    }
    const size_t a = static_cast<size_t>(L.axis);
    if (L.block == 0) return idx[a];
    const Shape p = param_shape(x, L);
    idx[a] /= L.block;
    int64_t flat = 0;
    for (size_t d = 0; d < p.size(); ++d) flat = flat * p[d] + idx[d];
    return flat;
}

std::vector<Attribute> layout_attrs(Layout L) {
    std::vector<Attribute> a;
    if (L.axis >= 0) a.push_back(Attribute::make_int("axis", L.axis));
    if (L.block) a.push_back(Attribute::make_int("block_size", L.block));
    return a;
}

TEST(Quant, DequantizeLinearIsExactForEveryTypeAndLayout) {
    std::mt19937 rng(1);
    const Shape x_shape = {6, 5, 3, 3};
    const std::vector<Layout> layouts = {{-1, 0}, {0, 0}, {1, 0}, {3, 0}, {0, 4}, {1, 2}, {3, 3}};
    for (DType t : {DType::Int8, DType::UInt8, DType::Int16, DType::UInt16, DType::Int32, DType::Int4, DType::UInt4})
        for (Layout L : layouts)
            for (bool with_zp : {false, true}) {
                if (t == DType::Int32 && with_zp) continue;  // int32 zero points must be 0
                const int64_t opset = L.block || t == DType::Int4 || t == DType::UInt4 || t == DType::Int16 ||
                                              t == DType::UInt16 ? 21 : 13;
                const Range r = range_of(t);
                const auto q = random_ints(shape_numel(x_shape), r, rng);
                const Tensor x = int_tensor(t, x_shape, q);
                const Shape ps = param_shape(x_shape, L);
                const Tensor scale = random_scales(ps, rng);
                const auto zq = random_ints(shape_numel(ps), {r.lo / 2, r.hi / 2}, rng);
                const Tensor zp = int_tensor(t, ps, zq);
                const Tensor y = run_op("DequantizeLinear", {&x, &scale, with_zp ? &zp : nullptr}, layout_attrs(L), opset)[0];
                ASSERT_EQ(y.dtype(), DType::Float32);
                ASSERT_EQ(y.shape(), x_shape);
                for (int64_t i = 0; i < x.numel(); ++i) {
                    const int64_t p = naive_param_index(x_shape, L, i);
                    // (q - zp) * scale is exact in double, so its float rounding is the float product
                    const double want = double(q[i] - (with_zp ? zq[p] : 0)) * scale.data<float>()[p];
                    ASSERT_EQ(y.data<float>()[i], static_cast<float>(want))
                        << dtype_name(t) << " axis " << L.axis << " block " << L.block << " zp " << with_zp << " element " << i;
                }
            }
}

TEST(Quant, QuantizeLinearRoundsHalfToEvenAndSaturates) {
    std::mt19937 rng(2);
    const Shape x_shape = {4, 6, 5};
    const std::vector<Layout> layouts = {{-1, 0}, {0, 0}, {1, 0}, {2, 0}, {1, 4}, {2, 2}};
    for (DType t : {DType::Int8, DType::UInt8, DType::Int16, DType::UInt16, DType::Int4, DType::UInt4})
        for (Layout L : layouts) {
            const Range r = range_of(t);
            const Shape ps = param_shape(x_shape, L);
            // power-of-two scales keep x / scale exact, so ties are real ties
            Tensor scale(DType::Float32, ps);
            std::uniform_int_distribution<int> e(-4, 1);
            for (int64_t i = 0; i < scale.numel(); ++i) scale.data<float>()[i] = std::ldexp(1.0f, e(rng));
            const auto zq = random_ints(scale.numel(), {r.lo / 4, r.hi / 4}, rng);
            const Tensor zp = int_tensor(t, ps, zq);
            Tensor x(DType::Float32, x_shape);
            std::uniform_int_distribution<int64_t> half_steps(2 * (r.lo - r.hi), 2 * (r.hi - r.lo));  // beyond the range both ways
            for (int64_t i = 0; i < x.numel(); ++i)
                x.data<float>()[i] = static_cast<float>(half_steps(rng)) * 0.5f * scale.data<float>()[naive_param_index(x_shape, L, i)];
            const int64_t opset = L.block || dtype_traits(t).bits == 4 || t == DType::Int16 || t == DType::UInt16 ? 21 : 13;
            const Tensor y = run_op("QuantizeLinear", {&x, &scale, &zp}, layout_attrs(L), opset)[0];
            ASSERT_EQ(y.dtype(), t);
            ASSERT_EQ(y.shape(), x_shape);
            for (int64_t i = 0; i < x.numel(); ++i) {
                const int64_t p = naive_param_index(x_shape, L, i);
                const double v = double(x.data<float>()[i]) / scale.data<float>()[p];
                double rounded = std::floor(v);
                const double frac = v - rounded;
                if (frac > 0.5 || (frac == 0.5 && std::fmod(rounded, 2.0) != 0)) rounded += 1;
                const int64_t want = std::clamp<int64_t>(static_cast<int64_t>(rounded) + zq[p], r.lo, r.hi);
                ASSERT_EQ(static_cast<int64_t>(y.get_as_double(i)), want)
                    << dtype_name(t) << " axis " << L.axis << " block " << L.block << " x " << x.data<float>()[i] << " element " << i;
            }
        }
}

TEST(Quant, QuantizeLinearDefaultsToUint8WithoutZeroPoint) {
    const Tensor x = Tensor::from_floats({5}, {-1.0f, 0.4f, 0.5f, 1.5f, 300.0f});
    const Tensor scale = Tensor::scalar_float(1.0f);
    const Tensor y = run_op("QuantizeLinear", {&x, &scale}, {}, 13)[0];
    ASSERT_EQ(y.dtype(), DType::UInt8);
    EXPECT_EQ(y.to_int64_vector(), (std::vector<int64_t>{0, 0, 0, 2, 255}));
}

TEST(Quant, FourBitOutputIsPackedLowNibbleFirst) {
    const Tensor x = Tensor::from_floats({3}, {1.0f, -2.0f, 3.0f});
    const Tensor scale = Tensor::scalar_float(1.0f);
    const Tensor zp = int_tensor(DType::Int4, {}, {0});
    const Tensor y = run_op("QuantizeLinear", {&x, &scale, &zp}, {}, 21)[0];
    ASSERT_EQ(y.dtype(), DType::Int4);
    EXPECT_EQ(std::vector<uint8_t>(y.bytes().begin(), y.bytes().end()), (std::vector<uint8_t>{0xE1, 0x03}));
}

TEST(Quant, BlockedInt4RoundTripStaysWithinHalfAStep) {
    // the layout qcp's compressed models use: int4 weights, a scale per block of 8 input channels
    std::mt19937 rng(3);
    std::normal_distribution<float> n(0.0f, 1.0f);
    Tensor w(DType::Float32, {16, 32});
    for (int64_t i = 0; i < w.numel(); ++i) w.data<float>()[i] = n(rng);
    Tensor scale(DType::Float32, {16, 4});
    for (int64_t r = 0; r < 16; ++r)
        for (int64_t b = 0; b < 4; ++b) {
            float m = 0;
            for (int64_t c = 0; c < 8; ++c) m = std::max(m, std::fabs(w.data<float>()[r * 32 + b * 8 + c]));
            scale.data<float>()[r * 4 + b] = m / 7.0f;
        }
    const Tensor zp = int_tensor(DType::Int4, {16, 4}, std::vector<int64_t>(64, 0));
    const std::vector<Attribute> attrs = {Attribute::make_int("axis", 1), Attribute::make_int("block_size", 8)};
    const Tensor q = run_op("QuantizeLinear", {&w, &scale, &zp}, attrs, 21)[0];
    const Tensor back = run_op("DequantizeLinear", {&q, &scale, &zp}, attrs, 21)[0];
    for (int64_t i = 0; i < w.numel(); ++i)
        EXPECT_LE(std::fabs(back.data<float>()[i] - w.data<float>()[i]), 0.5f * scale.data<float>()[(i / 32) * 4 + (i % 32) / 8] * 1.0001f);
}

TEST(Quant, ResultsAreBitIdenticalAtOneAndTwoThreads) {
    std::mt19937 rng(4);
    const Shape shape = {64, 32, 3, 3};
    const Tensor x = int_tensor(DType::Int4, shape, random_ints(shape_numel(shape), range_of(DType::Int4), rng));
    const Tensor scale = random_scales({64}, rng);
    set_num_threads(1);
    const Tensor a = run_op("DequantizeLinear", {&x, &scale}, {Attribute::make_int("axis", 0)}, 21)[0];
    const Tensor qa = run_op("QuantizeLinear", {&a, &scale}, {Attribute::make_int("axis", 0)}, 21)[0];
    set_num_threads(2);
    const Tensor b = run_op("DequantizeLinear", {&x, &scale}, {Attribute::make_int("axis", 0)}, 21)[0];
    const Tensor qb = run_op("QuantizeLinear", {&b, &scale}, {Attribute::make_int("axis", 0)}, 21)[0];
    set_num_threads(0);
    EXPECT_EQ(a, b);
    EXPECT_EQ(qa, qb);
}

TEST(Quant, BadParametersAreRefusedNamingTheNode) {
    const Tensor x = int_tensor(DType::Int8, {4, 6}, std::vector<int64_t>(24, 1));
    const Tensor per_axis = Tensor::from_floats({6}, std::vector<float>(6, 0.5f));
    const Tensor wrong = Tensor::from_floats({5}, std::vector<float>(5, 0.5f));
    const Tensor blocked_wrong = Tensor::from_floats({4, 2}, std::vector<float>(8, 0.5f));
    const Tensor scalar = Tensor::scalar_float(0.5f);
    const Tensor zp_u8 = int_tensor(DType::UInt8, {}, {3});
    const Tensor xf = Tensor::from_floats({2}, {1, 2});
    const Tensor zp_i32 = int_tensor(DType::Int32, {}, {0});
    auto expect_error = [](auto&& fn, const std::string& what) {
        try {
            fn();
            ADD_FAILURE() << what << ": accepted";
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find("node_under_test"), std::string::npos) << what << ": " << e.what();
        }
    };
    expect_error([&] { run_op("DequantizeLinear", {&x, &per_axis}, {Attribute::make_int("axis", 1)}, 10); }, "per-axis at opset 10");
    expect_error([&] { run_op("DequantizeLinear", {&x, &wrong}, {Attribute::make_int("axis", 1)}, 13); }, "scale length");
    expect_error([&] {
        run_op("DequantizeLinear", {&x, &blocked_wrong}, {Attribute::make_int("axis", 1), Attribute::make_int("block_size", 2)}, 21);
    }, "blocked shape");
    expect_error([&] { run_op("DequantizeLinear", {&x, &scalar, &zp_u8}, {}, 13); }, "zero point type");
    expect_error([&] { run_op("QuantizeLinear", {&xf, &scalar, &zp_i32}, {}, 13); }, "int32 output");
    expect_error([&] { run_op("DequantizeLinear", {&xf, &scalar}, {}, 13); }, "float input");
}

}  // namespace
}  // namespace qcp
