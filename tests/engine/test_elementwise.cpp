// Elementwise kernels against naive references: broadcasting by explicit index arithmetic,
// math in double precision, conversions spelled out value by value.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <random>

#include "qcp/core/error.hpp"
#include "qcp/core/parallel.hpp"
#include "qcp/engine/kernel.hpp"
#include "kernel_test_util.hpp"

namespace qcp {
namespace {

using A = ir::Attribute;

constexpr double kMathTol = 2e-6;  // relative, float32 libm results vs a double reference
constexpr float kNoTol = 0.0f;     // a single float operation must match the same operation exactly

using test::run_op;

Tensor random_floats(const Shape& shape, std::mt19937& gen, float lo = -3.0f, float hi = 3.0f) {
    std::uniform_real_distribution<float> dist(lo, hi);
    std::vector<float> v(static_cast<size_t>(shape_numel(shape)));
    for (auto& x : v) x = dist(gen);
    return Tensor::from_floats(shape, v);
}

template <typename T>
Tensor typed(DType dtype, const Shape& shape, const std::vector<T>& values) {
    std::vector<uint8_t> bytes(values.size() * sizeof(T));
    if (!values.empty()) std::memcpy(bytes.data(), values.data(), bytes.size());
    return Tensor(dtype, shape, std::move(bytes));
}

template <typename T>
std::vector<T> values(const Tensor& t) {
    return std::vector<T>(t.data<T>(), t.data<T>() + t.numel());
}

// Flat index into a (broadcast) input of shape `in` for output multi-index `idx`.
int64_t broadcast_index(const Shape& in, const std::vector<int64_t>& idx) {
    int64_t flat = 0;
    const size_t lead = idx.size() - in.size();
    for (size_t d = 0; d < in.size(); ++d) flat = flat * in[d] + (in[d] == 1 ? 0 : idx[lead + d]);
    return flat;
}

// Calls f(output flat index, output multi-index) over a row-major output shape.
void for_each_index(const Shape& shape, const std::function<void(int64_t, const std::vector<int64_t>&)>& f) {
    std::vector<int64_t> idx(shape.size(), 0);
    const int64_t n = shape_numel(shape);
    for (int64_t i = 0; i < n; ++i) {
        f(i, idx);
        for (size_t d = shape.size(); d-- > 0;) {
            if (++idx[d] < shape[d]) break;
            idx[d] = 0;
        }
    }
}

struct ShapePair {
    Shape a, b, out;
};

const std::vector<ShapePair> kBroadcastCases = {
    {{2, 3, 4, 5}, {2, 3, 4, 5}, {2, 3, 4, 5}}, {{2, 3, 4}, {}, {2, 3, 4}},      {{}, {3}, {3}},
    {{2, 8, 5, 5}, {8, 1, 1}, {2, 8, 5, 5}},    {{3, 1, 5}, {4, 1}, {3, 4, 5}},   {{1, 16, 4, 4}, {1, 16, 1, 1}, {1, 16, 4, 4}},
    {{5, 1}, {1, 6}, {5, 6}},                   {{2, 1, 3, 1}, {1, 4, 1, 5}, {2, 4, 3, 5}}, {{1}, {2, 3}, {2, 3}},
};

void expect_binary_matches(const std::string& op, const std::function<float(float, float)>& ref) {
    std::mt19937 gen(7);
    for (const auto& c : kBroadcastCases) {
        const Tensor a = random_floats(c.a, gen);
        const Tensor b = random_floats(c.b, gen, 0.5f, 2.0f);  // away from zero for Div
        const auto y = run_op(op, {&a, &b});
        ASSERT_EQ(y[0].shape(), c.out) << op;
        for_each_index(c.out, [&](int64_t i, const std::vector<int64_t>& idx) {
            const float want = ref(a.data<float>()[broadcast_index(c.a, idx)], b.data<float>()[broadcast_index(c.b, idx)]);
            ASSERT_NEAR(y[0].data<float>()[i], want, kNoTol)
                << op << " " << shape_str(c.a) << " " << shape_str(c.b) << " at " << i;
        });
    }
}

TEST(Elementwise, AddMatchesNaiveBroadcast) { expect_binary_matches("Add", [](float x, float y) { return x + y; }); }
TEST(Elementwise, SubMatchesNaiveBroadcast) { expect_binary_matches("Sub", [](float x, float y) { return x - y; }); }
TEST(Elementwise, MulMatchesNaiveBroadcast) { expect_binary_matches("Mul", [](float x, float y) { return x * y; }); }
TEST(Elementwise, DivMatchesNaiveBroadcast) { expect_binary_matches("Div", [](float x, float y) { return x / y; }); }

TEST(Elementwise, LargeBroadcastGivesSameBitsForAnyThreadCount) {
    std::mt19937 gen(11);
    const Tensor a = random_floats({4, 64, 32, 32}, gen);
    const Tensor bias = random_floats({64, 1, 1}, gen);
    set_num_threads(1);
    const Tensor one = run_op("Add", {&a, &bias})[0];
    set_num_threads(2);
    const Tensor two = run_op("Add", {&a, &bias})[0];
    set_num_threads(0);
    EXPECT_TRUE(one == two);
    for_each_index(a.shape(), [&](int64_t i, const std::vector<int64_t>& idx) {
        ASSERT_EQ(one.data<float>()[i], a.data<float>()[i] + bias.data<float>()[idx[1]]);
    });
}

TEST(Elementwise, IntegerDivisionTruncatesTowardZero) {
    const std::vector<int64_t> num = {7, -7, 7, -7, 0, 9};
    const std::vector<int64_t> den = {2, 2, -2, -2, 5, 3};
    const std::vector<int64_t> want = {3, -3, -3, 3, 0, 3};
    const Tensor a = Tensor::from_int64s({6}, num), b = Tensor::from_int64s({6}, den);
    const Tensor y = run_op("Div", {&a, &b})[0];
    EXPECT_EQ(y.dtype(), DType::Int64);
    EXPECT_EQ(values<int64_t>(y), want);
    const Tensor a32 = typed<int32_t>(DType::Int32, {6}, {7, -7, 7, -7, 0, 9});
    const Tensor b32 = typed<int32_t>(DType::Int32, {6}, {2, 2, -2, -2, 5, 3});
    EXPECT_EQ(values<int32_t>(run_op("Div", {&a32, &b32})[0]), (std::vector<int32_t>{3, -3, -3, 3, 0, 3}));
}

TEST(Elementwise, IntegerDivisionByZeroThrowsNamingNode) {
    const Tensor a = Tensor::from_int64s({2}, {1, 2}), b = Tensor::from_int64s({2}, {1, 0});
    try {
        run_op("Div", {&a, &b});
        FAIL() << "accepted";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("node_under_test"), std::string::npos) << e.what();
    }
}

TEST(Elementwise, Int64ArithmeticBroadcastsAndKeepsDtype) {
    const Tensor shape = Tensor::from_int64s({2, 3}, {1, 2, 3, 4, 5, 6});
    const Tensor k = Tensor::from_int64s({}, {-2});
    EXPECT_EQ(values<int64_t>(run_op("Mul", {&shape, &k})[0]), (std::vector<int64_t>{-2, -4, -6, -8, -10, -12}));
    EXPECT_EQ(values<int64_t>(run_op("Sub", {&k, &shape})[0]), (std::vector<int64_t>{-3, -4, -5, -6, -7, -8}));
    const Tensor row = Tensor::from_int64s({3}, {10, 20, 30});
    EXPECT_EQ(values<int64_t>(run_op("Add", {&shape, &row})[0]), (std::vector<int64_t>{11, 22, 33, 14, 25, 36}));
}

// The packed-weight decoder's arithmetic (rewrite/packing.hpp): int32 words below 2^24 and int64
// words below 2^56, over every broadcast case (Mul's factors kept small enough not to overflow).
template <typename T>
void expect_integer_binary_matches(DType dtype, int64_t hi) {
    std::mt19937_64 gen(11);
    const std::vector<std::pair<std::string, std::function<T(T, T)>>> ops = {
        {"Add", [](T x, T z) { return T(x + z); }}, {"Sub", [](T x, T z) { return T(x - z); }},
        {"Mul", [](T x, T z) { return T(x * z); }}, {"Div", [](T x, T z) { return T(x / z); }}};
    for (const auto& [op, ref] : ops) {
        const bool mul = op == "Mul";
        std::uniform_int_distribution<int64_t> num(0, mul ? hi >> 8 : hi), den(1, mul ? 255 : 1 << 20);
        for (const auto& c : kBroadcastCases) {
            std::vector<T> va(static_cast<size_t>(shape_numel(c.a))), vb(static_cast<size_t>(shape_numel(c.b)));
            for (auto& v : va) v = static_cast<T>(num(gen));
            for (auto& v : vb) v = static_cast<T>(den(gen));
            const Tensor a = typed<T>(dtype, c.a, va), b = typed<T>(dtype, c.b, vb);
            const Tensor y = run_op(op, {&a, &b})[0];
            ASSERT_EQ(y.dtype(), dtype);
            ASSERT_EQ(y.shape(), c.out);
            for_each_index(c.out, [&](int64_t i, const std::vector<int64_t>& idx) {
                const T want = ref(va[static_cast<size_t>(broadcast_index(c.a, idx))], vb[static_cast<size_t>(broadcast_index(c.b, idx))]);
                ASSERT_EQ(y.data<T>()[i], want) << op << " " << shape_str(c.a) << " " << shape_str(c.b) << " at " << i;
            });
        }
    }
}

TEST(Elementwise, IntegerArithmeticMatchesNaiveBroadcast) {
    expect_integer_binary_matches<int32_t>(DType::Int32, (int64_t{1} << 24) - 1);
    expect_integer_binary_matches<int64_t>(DType::Int64, (int64_t{1} << 56) - 1);
}

// Mod against the definition: r = a − ⌊a/b⌋·b (sign of b, fmod = 0) or a − trunc(a/b)·b (fmod = 1).
TEST(Elementwise, ModMatchesItsDefinitionInBothModes) {
    std::mt19937 gen(5);
    std::uniform_int_distribution<int64_t> num(-1000, 1000), den(-17, 17);
    for (const auto& c : kBroadcastCases) {
        std::vector<int64_t> va(static_cast<size_t>(shape_numel(c.a))), vb(static_cast<size_t>(shape_numel(c.b)));
        for (auto& v : va) v = num(gen);
        for (auto& v : vb) do v = den(gen); while (v == 0);
        const Tensor a = typed<int64_t>(DType::Int64, c.a, va), b = typed<int64_t>(DType::Int64, c.b, vb);
        for (int fmod : {0, 1}) {
            const Tensor y = test::run_op("Mod", {&a, &b}, {A::make_int("fmod", fmod)}, 13)[0];
            ASSERT_EQ(y.shape(), c.out);
            for_each_index(c.out, [&](int64_t i, const std::vector<int64_t>& idx) {
                const int64_t x = va[static_cast<size_t>(broadcast_index(c.a, idx))], z = vb[static_cast<size_t>(broadcast_index(c.b, idx))];
                const double q = double(x) / double(z);
                const int64_t want = x - static_cast<int64_t>(fmod ? std::trunc(q) : std::floor(q)) * z;
                ASSERT_EQ(y.data<int64_t>()[i], want) << x << " mod " << z << " fmod " << fmod;
            });
        }
    }
    const Tensor a32 = typed<int32_t>(DType::Int32, {4}, {7, -7, 7, 200}), b32 = typed<int32_t>(DType::Int32, {4}, {3, 3, -3, 16});
    EXPECT_EQ(values<int32_t>(test::run_op("Mod", {&a32, &b32}, {}, 13)[0]), (std::vector<int32_t>{1, 2, -2, 8}));
    const Tensor f = Tensor::from_floats({2}, {5.5f, -5.5f}), g = Tensor::from_floats({2}, {2.0f, 2.0f});
    EXPECT_EQ(values<float>(test::run_op("Mod", {&f, &g}, {A::make_int("fmod", 1)}, 13)[0]), (std::vector<float>{1.5f, -1.5f}));
    EXPECT_THROW(test::run_op("Mod", {&f, &g}, {}, 13), Error);
    const Tensor zero = typed<int32_t>(DType::Int32, {1}, {0});
    EXPECT_THROW(test::run_op("Mod", {&a32, &zero}, {}, 13), Error);
}

TEST(Elementwise, MismatchedAndUnsupportedDtypesThrow) {
    const Tensor f = Tensor::from_floats({2}, {1, 2});
    const Tensor i = Tensor::from_int64s({2}, {1, 2});
    EXPECT_THROW(run_op("Add", {&f, &i}), Error);
    const Tensor h = f.cast_from_float32(DType::Float16);
    EXPECT_THROW(run_op("Mul", {&h, &h}), Error);
    const Tensor wide = Tensor::from_floats({3}, {1, 2, 3});
    EXPECT_THROW(run_op("Add", {&f, &wide}), Error);
}

TEST(Elementwise, PowMatchesDoublePow) {
    std::mt19937 gen(3);
    const Tensor base = random_floats({3, 5}, gen, 0.1f, 3.0f);
    const Tensor signed_base = random_floats({3, 5}, gen);
    auto check = [&](const Tensor& x, const Tensor& e) {
        const Tensor y = run_op("Pow", {&x, &e})[0];
        const Tensor ef = e.to_float32();
        for_each_index(y.shape(), [&](int64_t i, const std::vector<int64_t>& idx) {
            const double want = std::pow(double(x.data<float>()[broadcast_index(x.shape(), idx)]),
                                         double(ef.data<float>()[broadcast_index(e.shape(), idx)]));
            ASSERT_NEAR(y.data<float>()[i], want, kMathTol * std::max(1.0, std::fabs(want)));
        });
    };
    check(signed_base, Tensor::scalar_float(2.0f));
    check(signed_base, Tensor::scalar_float(3.0f));
    check(base, Tensor::scalar_float(0.5f));
    check(base, random_floats({5}, gen, -2.0f, 2.0f));
    check(signed_base, Tensor::from_int64s({}, {3}));
}

struct UnaryCase {
    const char* op;
    double (*ref)(double);
    float lo, hi;
};

TEST(Elementwise, UnaryMathMatchesDoubleReference) {
    const UnaryCase cases[] = {
        {"Sqrt", [](double v) { return std::sqrt(v); }, 0.0f, 10.0f},
        {"Exp", [](double v) { return std::exp(v); }, -20.0f, 20.0f},
        {"Log", [](double v) { return std::log(v); }, 1e-3f, 100.0f},
        {"Erf", [](double v) { return std::erf(v); }, -4.0f, 4.0f},
        {"Tanh", [](double v) { return std::tanh(v); }, -10.0f, 10.0f},
        {"Sigmoid", [](double v) { return 1.0 / (1.0 + std::exp(-v)); }, -40.0f, 40.0f},
        {"Relu", [](double v) { return v > 0 ? v : 0.0; }, -5.0f, 5.0f},
        {"Neg", [](double v) { return -v; }, -5.0f, 5.0f},
        {"Abs", [](double v) { return std::fabs(v); }, -5.0f, 5.0f},
        {"HardSwish", [](double v) { return v * std::min(1.0, std::max(0.0, v / 6 + 0.5)); }, -8.0f, 8.0f},
    };
    std::mt19937 gen(5);
    for (const auto& c : cases) {
        const Tensor x = random_floats({4, 257}, gen, c.lo, c.hi);
        const Tensor y = run_op(c.op, {&x}, {}, 14)[0];
        ASSERT_EQ(y.shape(), x.shape());
        for (int64_t i = 0; i < x.numel(); ++i) {
            const double want = c.ref(x.data<float>()[i]);
            ASSERT_NEAR(y.data<float>()[i], want, kMathTol * std::max(1.0, std::fabs(want)))
                << c.op << "(" << x.data<float>()[i] << ")";
        }
    }
}

TEST(Elementwise, ActivationAttributesAndDefaults) {
    const Tensor x = Tensor::from_floats({5}, {-4.0f, -1.0f, 0.0f, 1.0f, 4.0f});
    EXPECT_EQ(values<float>(run_op("LeakyRelu", {&x})[0]), (std::vector<float>{-0.04f, -0.01f, 0.0f, 1.0f, 4.0f}));
    EXPECT_EQ(values<float>(run_op("LeakyRelu", {&x}, {A::make_float("alpha", 0.5f)})[0]),
              (std::vector<float>{-2.0f, -0.5f, 0.0f, 1.0f, 4.0f}));
    const auto hs = values<float>(run_op("HardSigmoid", {&x})[0]);  // max(0, min(1, 0.2x + 0.5))
    const std::vector<float> hs_want = {0.0f, 0.3f, 0.5f, 0.7f, 1.0f};
    for (size_t i = 0; i < hs.size(); ++i) EXPECT_NEAR(hs[i], hs_want[i], kMathTol);
    const auto hs2 = values<float>(run_op("HardSigmoid", {&x}, {A::make_float("alpha", 0.5f),
                                                                A::make_float("beta", 0.25f)})[0]);
    EXPECT_EQ(hs2, (std::vector<float>{0.0f, 0.0f, 0.25f, 0.75f, 1.0f}));
}

TEST(Elementwise, PReluBroadcastsSlopeToInputOnly) {
    std::mt19937 gen(9);
    const Tensor x = random_floats({2, 4, 3, 3}, gen);
    const Tensor slope = random_floats({4, 1, 1}, gen, 0.0f, 0.5f);
    const Tensor y = run_op("PRelu", {&x, &slope})[0];
    for_each_index(x.shape(), [&](int64_t i, const std::vector<int64_t>& idx) {
        const float v = x.data<float>()[i];
        ASSERT_EQ(y.data<float>()[i], v < 0 ? v * slope.data<float>()[idx[1]] : v);
    });
    const Tensor small = random_floats({4}, gen);
    const Tensor wide = random_floats({3, 4}, gen);
    EXPECT_THROW(run_op("PRelu", {&small, &wide}), Error);
}

TEST(Elementwise, ClipAttributeAndInputForms) {
    const Tensor x = Tensor::from_floats({5}, {-3.0f, -0.5f, 0.0f, 0.5f, 3.0f});
    const Tensor lo = Tensor::scalar_float(-1.0f), hi = Tensor::scalar_float(1.0f);
    using V = std::vector<float>;
    EXPECT_EQ(values<float>(run_op("Clip", {&x}, {A::make_float("min", -1.0f), A::make_float("max", 1.0f)}, 7)[0]),
              (V{-1.0f, -0.5f, 0.0f, 0.5f, 1.0f}));
    EXPECT_EQ(values<float>(run_op("Clip", {&x}, {A::make_float("min", 0.0f)}, 7)[0]), (V{0.0f, 0.0f, 0.0f, 0.5f, 3.0f}));
    EXPECT_EQ(values<float>(run_op("Clip", {&x, &lo, &hi}, {}, 11)[0]), (V{-1.0f, -0.5f, 0.0f, 0.5f, 1.0f}));
    EXPECT_EQ(values<float>(run_op("Clip", {&x, &lo}, {}, 13)[0]), (V{-1.0f, -0.5f, 0.0f, 0.5f, 3.0f}));
    EXPECT_EQ(values<float>(run_op("Clip", {&x, nullptr, &hi}, {}, 13)[0]), (V{-3.0f, -0.5f, 0.0f, 0.5f, 1.0f}));
    EXPECT_EQ(values<float>(run_op("Clip", {&x}, {}, 13)[0]), values<float>(x));
    const Tensor xi = Tensor::from_int64s({4}, {-9, -1, 2, 9});
    const Tensor li = Tensor::from_int64s({}, {-2}), hi_i = Tensor::from_int64s({}, {5});
    EXPECT_EQ(values<int64_t>(run_op("Clip", {&xi, &li, &hi_i}, {}, 13)[0]), (std::vector<int64_t>{-2, -1, 2, 5}));
    EXPECT_THROW(run_op("Clip", {&x, &li}, {}, 13), Error);  // bound of another dtype
}

TEST(Elementwise, IdentityAndDropoutPassValuesThrough) {
    std::mt19937 gen(2);
    const Tensor x = random_floats({3, 4}, gen);
    EXPECT_TRUE(run_op("Identity", {&x})[0] == x);
    const auto old = run_op("Dropout", {&x}, {A::make_float("ratio", 0.5f)}, 10, 2);
    EXPECT_TRUE(old[0] == x);
    EXPECT_EQ(old[1].dtype(), DType::Bool);
    EXPECT_EQ(values<uint8_t>(old[1]), std::vector<uint8_t>(12, 0));  // as ORT up to opset 11
    const auto now = run_op("Dropout", {&x}, {}, 13, 2);
    EXPECT_TRUE(now[0] == x);
    EXPECT_EQ(values<uint8_t>(now[1]), std::vector<uint8_t>(12, 1));
    const Tensor ratio = Tensor::scalar_float(0.5f);
    const Tensor training = typed<uint8_t>(DType::Bool, {}, {1});
    EXPECT_THROW(run_op("Dropout", {&x, &ratio, &training}, {}, 13), Error);
}

// int4/uint4 sources (two a byte, low nibble first) against the nibbles read one by one.
TEST(Elementwise, CastReadsFourBitIntegers) {
    std::mt19937 gen(3);
    std::uniform_int_distribution<int> byte(0, 255);
    for (const DType from : {DType::Int4, DType::UInt4}) {
        for (const int64_t n : {1, 2, 7, 64}) {
            std::vector<uint8_t> bytes(static_cast<size_t>((n + 1) / 2));
            for (auto& b : bytes) b = static_cast<uint8_t>(byte(gen));
            const Tensor x(from, {n}, bytes);
            const Tensor f = test::run_op("Cast", {&x}, {A::make_int("to", static_cast<int64_t>(DType::Float32))}, 21)[0];
            const Tensor i = test::run_op("Cast", {&x}, {A::make_int("to", static_cast<int64_t>(DType::Int32))}, 21)[0];
            for (int64_t k = 0; k < n; ++k) {
                const int nib = (bytes[static_cast<size_t>(k / 2)] >> (4 * (k % 2))) & 0xF;
                const int want = from == DType::Int4 && nib >= 8 ? nib - 16 : nib;
                ASSERT_EQ(f.data<float>()[k], static_cast<float>(want)) << k;
                ASSERT_EQ(i.data<int32_t>()[k], want) << k;
            }
        }
    }
    const Tensor f = Tensor::from_floats({2}, {1, 2});
    EXPECT_THROW(test::run_op("Cast", {&f}, {A::make_int("to", static_cast<int64_t>(DType::Int4))}, 21), Error);
}

TEST(Elementwise, CastFollowsOnnxRuntimeConversions) {
    const Tensor f = Tensor::from_floats({6}, {-2.7f, -0.5f, 0.0f, 0.5f, 2.7f, 100.9f});
    auto cast = [](const Tensor& x, DType to) { return run_op("Cast", {&x}, {A::make_int("to", int64_t(to))})[0]; };
    EXPECT_EQ(values<int32_t>(cast(f, DType::Int32)), (std::vector<int32_t>{-2, 0, 0, 0, 2, 100}));
    EXPECT_EQ(values<int64_t>(cast(f, DType::Int64)), (std::vector<int64_t>{-2, 0, 0, 0, 2, 100}));
    EXPECT_EQ(values<int8_t>(cast(f, DType::Int8)), (std::vector<int8_t>{-2, 0, 0, 0, 2, 100}));
    EXPECT_EQ(values<uint8_t>(cast(f, DType::Bool)), (std::vector<uint8_t>{1, 1, 0, 1, 1, 1}));
    const Tensor pos = Tensor::from_floats({3}, {0.9f, 128.5f, 254.99f});
    EXPECT_EQ(values<uint8_t>(cast(pos, DType::UInt8)), (std::vector<uint8_t>{0, 128, 254}));

    const Tensor half = cast(f, DType::Float16);
    const Tensor bf = cast(f, DType::BFloat16);
    const Tensor dbl = cast(f, DType::Float64);
    for (int64_t i = 0; i < f.numel(); ++i) {
        const float v = f.data<float>()[i];
        EXPECT_EQ(half.data<uint16_t>()[i], float_to_half(v));
        EXPECT_EQ(bf.data<uint16_t>()[i], float_to_bfloat16(v));
        EXPECT_EQ(dbl.data<double>()[i], double(v));
    }
    EXPECT_EQ(values<float>(cast(half, DType::Float32)), half.to_float_vector());
    EXPECT_EQ(values<int64_t>(cast(half, DType::Int64)), (std::vector<int64_t>{-2, 0, 0, 0, 2, 100}));
    EXPECT_EQ(values<float>(cast(dbl, DType::Float32)), values<float>(f));

    const Tensor big = Tensor::from_int64s({3}, {(int64_t(1) << 40) + 1, -5, 0});
    EXPECT_EQ(values<float>(cast(big, DType::Float32)), (std::vector<float>{float((int64_t(1) << 40) + 1), -5.0f, 0.0f}));
    EXPECT_EQ(values<int32_t>(cast(Tensor::from_int64s({2}, {-5, 7}), DType::Int32)), (std::vector<int32_t>{-5, 7}));
    EXPECT_EQ(values<uint8_t>(cast(big, DType::Bool)), (std::vector<uint8_t>{1, 1, 0}));
    const Tensor b = typed<uint8_t>(DType::Bool, {3}, {1, 0, 1});
    EXPECT_EQ(values<float>(cast(b, DType::Float32)), (std::vector<float>{1.0f, 0.0f, 1.0f}));
    const Tensor u8 = typed<uint8_t>(DType::UInt8, {2}, {0, 255});
    EXPECT_EQ(values<int64_t>(cast(u8, DType::Int64)), (std::vector<int64_t>{0, 255}));
    EXPECT_THROW(cast(f, DType::String), Error);

    const Tensor like = Tensor::from_int64s({1}, {0});
    EXPECT_EQ(values<int64_t>(run_op("CastLike", {&f, &like}, {}, 15)[0]), (std::vector<int64_t>{-2, 0, 0, 0, 2, 100}));
}

TEST(Elementwise, ComparisonsMatchNaiveBroadcast) {
    std::mt19937 gen(4);
    const Tensor a = random_floats({3, 1, 5}, gen);
    Tensor b = random_floats({4, 1}, gen);
    b.data<float>()[2] = a.data<float>()[1];  // one exact tie
    const std::pair<const char*, std::function<bool(float, float)>> ops[] = {
        {"Equal", [](float x, float y) { return x == y; }},  {"Less", [](float x, float y) { return x < y; }},
        {"Greater", [](float x, float y) { return x > y; }}, {"LessOrEqual", [](float x, float y) { return x <= y; }},
        {"GreaterOrEqual", [](float x, float y) { return x >= y; }},
    };
    for (const auto& [op, ref] : ops) {
        const Tensor y = run_op(op, {&a, &b})[0];
        ASSERT_EQ(y.dtype(), DType::Bool);
        for_each_index(y.shape(), [&](int64_t i, const std::vector<int64_t>& idx) {
            ASSERT_EQ(y.data<uint8_t>()[i],
                      ref(a.data<float>()[broadcast_index(a.shape(), idx)], b.data<float>()[broadcast_index(b.shape(), idx)]))
                << op;
        });
    }
    const Tensor t = typed<uint8_t>(DType::Bool, {3}, {1, 0, 1});
    EXPECT_EQ(values<uint8_t>(run_op("Not", {&t})[0]), (std::vector<uint8_t>{0, 1, 0}));
}

TEST(Elementwise, WhereMatchesNaiveThreeWayBroadcast) {
    std::mt19937 gen(6);
    const Tensor c_f = random_floats({3, 1, 4}, gen);
    std::vector<uint8_t> cond;
    for (float v : c_f.to_float_vector()) cond.push_back(v > 0);
    const Tensor c = typed<uint8_t>(DType::Bool, c_f.shape(), cond);
    const Tensor x = random_floats({3, 5, 4}, gen);
    const Tensor y = random_floats({4}, gen);
    const Tensor out = run_op("Where", {&c, &x, &y}, {}, 9)[0];
    ASSERT_EQ(out.shape(), (Shape{3, 5, 4}));
    for_each_index(out.shape(), [&](int64_t i, const std::vector<int64_t>& idx) {
        const bool pick = c.data<uint8_t>()[broadcast_index(c.shape(), idx)];
        const float want = pick ? x.data<float>()[broadcast_index(x.shape(), idx)]
                                : y.data<float>()[broadcast_index(y.shape(), idx)];
        ASSERT_EQ(out.data<float>()[i], want);
    });
}

}  // namespace
}  // namespace qcp
