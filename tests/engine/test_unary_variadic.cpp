// Unary math, activations, logical ops and variadic Max/Min/Sum/Mean against naive references:
// math in double precision from the ops' defining formulas, broadcasting by explicit index
// arithmetic over three inputs of different ranks.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>

#include "kernel_test_util.hpp"
#include "qcp/core/error.hpp"

namespace qcp {
namespace {

using A = ir::Attribute;
using test::run_op1;

constexpr double kMathTol = 4e-6;  // relative (with an absolute floor of the same size), float libm vs double

Tensor random_floats(const Shape& shape, std::mt19937& gen, float lo, float hi) {
    std::uniform_real_distribution<float> dist(lo, hi);
    std::vector<float> v(static_cast<size_t>(shape_numel(shape)));
    for (auto& x : v) x = dist(gen);
    return Tensor::from_floats(shape, v);
}

A float_attr(const std::string& name, float v) {
    A a;
    a.name = name;
    a.type = ir::AttrType::Float;
    a.f = v;
    return a;
}

struct UnaryCase {
    const char* op;
    float lo, hi;  // input range inside the op's domain
    std::function<double(double)> ref;
    std::vector<A> attrs;
};

TEST(UnaryMath, EveryOpMatchesItsFormulaInDouble) {
    const std::vector<UnaryCase> cases = {
        {"Sin", -6, 6, [](double x) { return std::sin(x); }, {}},
        {"Cos", -6, 6, [](double x) { return std::cos(x); }, {}},
        {"Tan", -1.4f, 1.4f, [](double x) { return std::tan(x); }, {}},
        {"Asin", -0.99f, 0.99f, [](double x) { return std::asin(x); }, {}},
        {"Acos", -0.99f, 0.99f, [](double x) { return std::acos(x); }, {}},
        {"Atan", -5, 5, [](double x) { return std::atan(x); }, {}},
        {"Sinh", -4, 4, [](double x) { return (std::exp(x) - std::exp(-x)) / 2; }, {}},
        {"Cosh", -4, 4, [](double x) { return (std::exp(x) + std::exp(-x)) / 2; }, {}},
        {"Asinh", -5, 5, [](double x) { return std::log(x + std::sqrt(x * x + 1)); }, {}},
        {"Acosh", 1.01f, 6, [](double x) { return std::log(x + std::sqrt(x * x - 1)); }, {}},
        {"Atanh", -0.95f, 0.95f, [](double x) { return 0.5 * std::log((1 + x) / (1 - x)); }, {}},
        {"Floor", -5, 5, [](double x) { return std::floor(x); }, {}},
        {"Ceil", -5, 5, [](double x) { return std::ceil(x); }, {}},
        {"Reciprocal", 0.2f, 4, [](double x) { return 1 / x; }, {}},
        {"Softsign", -5, 5, [](double x) { return x / (1 + std::fabs(x)); }, {}},
        {"Softplus", -30, 30, [](double x) { return std::log(1 + std::exp(x)); }, {}},
        {"Elu", -4, 4, [](double x) { return x < 0 ? 0.7 * (std::exp(x) - 1) : x; }, {float_attr("alpha", 0.7f)}},
        {"Selu", -4, 4, [](double x) { return x > 0 ? 1.0507009873554805 * x : 1.0507009873554805 * 1.6732632423543772 * (std::exp(x) - 1); }, {}},
        {"Celu", -4, 4, [](double x) { return std::max(0.0, x) + std::min(0.0, 2.0 * (std::exp(x / 2.0) - 1)); }, {float_attr("alpha", 2.0f)}},
        {"ThresholdedRelu", -3, 3, [](double x) { return x > 0.5 ? x : 0.0; }, {float_attr("alpha", 0.5f)}},
        {"Shrink", -3, 3, [](double x) { return x < -1.5 ? x + 0.25 : x > 1.5 ? x - 0.25 : 0.0; },
         {float_attr("lambd", 1.5f), float_attr("bias", 0.25f)}},
        {"Sign", -3, 3, [](double x) { return x > 0 ? 1.0 : x < 0 ? -1.0 : 0.0; }, {}},
    };
    std::mt19937 gen(11);
    for (const auto& c : cases) {
        const Tensor x = random_floats({3, 7, 5}, gen, c.lo, c.hi);
        const Tensor y = run_op1(c.op, {&x}, c.attrs);
        ASSERT_EQ(y.shape(), x.shape()) << c.op;
        for (int64_t i = 0; i < x.numel(); ++i) {
            const double want = c.ref(x.data<float>()[i]);
            ASSERT_NEAR(y.data<float>()[i], want, kMathTol * std::max(1.0, std::fabs(want))) << c.op << " at " << x.data<float>()[i];
        }
    }
}

TEST(UnaryMath, RoundHalvesToEven) {
    const Tensor x = Tensor::from_floats({8}, {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, 2.4f, -2.6f, 3.0f});
    const Tensor y = run_op1("Round", {&x}, {}, 11);
    EXPECT_EQ(y.to_float_vector(), (std::vector<float>{0, 2, 2, -0.0f, -2, 2, -3, 3}));
}

TEST(UnaryMath, IsNaNAndIsInfHonourTheirDetectFlags) {
    const float inf = INFINITY;
    const Tensor x = Tensor::from_floats({4}, {1.0f, NAN, inf, -inf});
    const Tensor nan = run_op1("IsNaN", {&x});
    EXPECT_EQ(std::vector<uint8_t>(nan.data<uint8_t>(), nan.data<uint8_t>() + 4), (std::vector<uint8_t>{0, 1, 0, 0}));
    A neg;
    neg.name = "detect_negative";
    neg.type = ir::AttrType::Int;
    neg.i = 0;
    const Tensor pos_only = run_op1("IsInf", {&x}, {neg});
    EXPECT_EQ(pos_only.dtype(), DType::Bool);
    EXPECT_EQ(std::vector<uint8_t>(pos_only.data<uint8_t>(), pos_only.data<uint8_t>() + 4), (std::vector<uint8_t>{0, 0, 1, 0}));
}

TEST(UnaryMath, PowWithIntegerBaseKeepsTheBaseType) {
    const Tensor base = Tensor::from_int64s({4}, {2, 3, -2, 5});
    const Tensor e = Tensor::from_floats({4}, {3.0f, 2.0f, 3.0f, 0.5f});
    const Tensor y = run_op1("Pow", {&base, &e}, {}, 15);
    ASSERT_EQ(y.dtype(), DType::Int64);
    std::vector<int64_t> want;
    for (int i = 0; i < 4; ++i) want.push_back(static_cast<int64_t>(std::pow(double(base.data<int64_t>()[i]), double(e.data<float>()[i]))));
    EXPECT_EQ(y.to_int64_vector(), want);  // 8, 9, -8, 2 (truncated)
}

int64_t broadcast_index(const Shape& in, const std::vector<int64_t>& idx) {
    int64_t flat = 0;
    const size_t lead = idx.size() - in.size();
    for (size_t d = 0; d < in.size(); ++d) flat = flat * in[d] + (in[d] == 1 ? 0 : idx[lead + d]);
    return flat;
}

TEST(Variadic, MaxMinSumMeanMatchNaiveThreeWayBroadcast) {
    const Shape sa{2, 1, 4}, sb{3, 1}, sc{1, 3, 4}, out{2, 3, 4};
    std::mt19937 gen(5);
    const Tensor a = random_floats(sa, gen, -2, 2), b = random_floats(sb, gen, -2, 2), c = random_floats(sc, gen, -2, 2);
    struct Op {
        const char* name;
        std::function<double(double, double, double)> ref;
    };
    const std::vector<Op> ops = {
        {"Max", [](double x, double y, double z) { return std::max({x, y, z}); }},
        {"Min", [](double x, double y, double z) { return std::min({x, y, z}); }},
        {"Sum", [](double x, double y, double z) { return x + y + z; }},
        {"Mean", [](double x, double y, double z) { return (x + y + z) / 3; }},
    };
    for (const auto& op : ops) {
        const Tensor y = run_op1(op.name, {&a, &b, &c});
        ASSERT_EQ(y.shape(), out) << op.name;
        std::vector<int64_t> idx(3);
        for (idx[0] = 0; idx[0] < 2; ++idx[0])
            for (idx[1] = 0; idx[1] < 3; ++idx[1])
                for (idx[2] = 0; idx[2] < 4; ++idx[2]) {
                    const double want = op.ref(a.data<float>()[broadcast_index(sa, idx)], b.data<float>()[broadcast_index(sb, idx)],
                                               c.data<float>()[broadcast_index(sc, idx)]);
                    const int64_t i = (idx[0] * 3 + idx[1]) * 4 + idx[2];
                    ASSERT_NEAR(y.data<float>()[i], want, 1e-6) << op.name << " at " << i;
                }
    }
    const Tensor one = run_op1("Max", {&a});
    EXPECT_EQ(one, a);
}

TEST(Variadic, MismatchedShapesThrowNamingTheNode) {
    const Tensor a = Tensor::from_floats({2, 3}, {1, 2, 3, 4, 5, 6});
    const Tensor b = Tensor::from_floats({4}, {1, 2, 3, 4});
    try {
        run_op1("Sum", {&a, &b});
        FAIL() << "expected qcp::Error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("node_under_test"), std::string::npos) << e.what();
    }
}

TEST(Logical, AndOrXorBroadcastOverBools) {
    const Tensor a(DType::Bool, {2, 2}, std::vector<uint8_t>{0, 1, 0, 1});
    const Tensor b(DType::Bool, {2, 1}, std::vector<uint8_t>{0, 1});
    auto bits = [](const Tensor& t) { return std::vector<uint8_t>(t.data<uint8_t>(), t.data<uint8_t>() + t.numel()); };
    EXPECT_EQ(bits(run_op1("And", {&a, &b})), (std::vector<uint8_t>{0, 0, 0, 1}));
    EXPECT_EQ(bits(run_op1("Or", {&a, &b})), (std::vector<uint8_t>{0, 1, 1, 1}));
    EXPECT_EQ(bits(run_op1("Xor", {&a, &b})), (std::vector<uint8_t>{0, 1, 1, 0}));
}

}  // namespace
}  // namespace qcp
