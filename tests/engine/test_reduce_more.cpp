// ReduceProd/L1/L2/SumSquare/LogSum/LogSumExp, ArgMax/ArgMin and TopK against naive references:
// each output element computed from its reduced index set by its defining formula in double,
// over every subset of axes of a 3-D shape, axes given as attribute (opset 13) and input (18).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <random>

#include "kernel_test_util.hpp"
#include "qcp/core/error.hpp"

namespace qcp {
namespace {

using A = ir::Attribute;
using test::run_op;
using test::run_op1;

constexpr double kTol = 2e-6;  // relative: float32 rounding of a double-accurate result

A ints_attr(const std::string& name, std::vector<int64_t> v) {
    A a;
    a.name = name;
    a.type = ir::AttrType::Ints;
    a.ints = std::move(v);
    return a;
}

A int_attr(const std::string& name, int64_t v) {
    A a;
    a.name = name;
    a.type = ir::AttrType::Int;
    a.i = v;
    return a;
}

Tensor random_floats(const Shape& shape, std::mt19937& gen, float lo, float hi) {
    std::uniform_real_distribution<float> dist(lo, hi);
    std::vector<float> v(static_cast<size_t>(shape_numel(shape)));
    for (auto& x : v) x = dist(gen);
    return Tensor::from_floats(shape, v);
}

struct RedCase {
    const char* op;
    std::function<double(const std::vector<double>&)> ref;
};

TEST(ReduceMore, EveryOpAndAxisSubsetMatchesNaiveFormula) {
    const std::vector<RedCase> cases = {
        {"ReduceProd", [](const std::vector<double>& v) { double p = 1; for (double x : v) p *= x; return p; }},
        {"ReduceL1", [](const std::vector<double>& v) { double s = 0; for (double x : v) s += std::fabs(x); return s; }},
        {"ReduceL2", [](const std::vector<double>& v) { double s = 0; for (double x : v) s += x * x; return std::sqrt(s); }},
        {"ReduceSumSquare", [](const std::vector<double>& v) { double s = 0; for (double x : v) s += x * x; return s; }},
        {"ReduceLogSum", [](const std::vector<double>& v) { double s = 0; for (double x : v) s += x; return std::log(s); }},
        {"ReduceLogSumExp", [](const std::vector<double>& v) { double s = 0; for (double x : v) s += std::exp(x); return std::log(s); }},
    };
    const Shape shape{3, 4, 5};
    std::mt19937 gen(3);
    const Tensor x = random_floats(shape, gen, 0.6f, 1.4f);  // positive, so LogSum is defined
    for (const auto& c : cases)
        for (int mask = 1; mask < 8; ++mask)
            for (int64_t opset : {13, 18})
                for (int keep : {0, 1}) {
                    std::vector<int64_t> axes;
                    for (int d = 0; d < 3; ++d)
                        if (mask & (1 << d)) axes.push_back(d - (d == 2 ? 3 : 0));  // one negative axis
                    const Tensor axes_t = Tensor::from_int64s({static_cast<int64_t>(axes.size())}, axes);
                    std::vector<A> attrs = {int_attr("keepdims", keep)};
                    std::vector<const Tensor*> inputs = {&x};
                    if (opset < 18) attrs.push_back(ints_attr("axes", axes));
                    else inputs.push_back(&axes_t);
                    const Tensor y = run_op1(c.op, inputs, attrs, opset);
                    int64_t outputs = 1;
                    for (int d = 0; d < 3; ++d)
                        if (!(mask & (1 << d))) outputs *= shape[static_cast<size_t>(d)];
                    ASSERT_EQ(y.numel(), outputs) << c.op;
                    ASSERT_EQ(y.rank(), keep ? 3u : static_cast<size_t>(3 - __builtin_popcount(mask))) << c.op;
                    std::vector<std::vector<double>> groups(static_cast<size_t>(outputs));
                    for (int64_t i = 0; i < 3; ++i)
                        for (int64_t j = 0; j < 4; ++j)
                            for (int64_t k = 0; k < 5; ++k) {
                                const int64_t idx[3] = {i, j, k};
                                int64_t o = 0;
                                for (int d = 0; d < 3; ++d)
                                    if (!(mask & (1 << d))) o = o * shape[static_cast<size_t>(d)] + idx[d];
                                groups[static_cast<size_t>(o)].push_back(x.data<float>()[(i * 4 + j) * 5 + k]);
                            }
                    for (int64_t o = 0; o < outputs; ++o) {
                        const double want = c.ref(groups[static_cast<size_t>(o)]);
                        ASSERT_NEAR(y.data<float>()[o], want, kTol * std::max(1.0, std::fabs(want)))
                            << c.op << " mask " << mask << " opset " << opset << " at " << o;
                    }
                }
}

TEST(ReduceMore, LogSumExpStaysFiniteForLargeInputs) {
    const Tensor x = Tensor::from_floats({3}, {1000.0f, 1000.0f, -5.0f});
    const Tensor y = run_op1("ReduceLogSumExp", {&x}, {int_attr("keepdims", 0)}, 13);
    EXPECT_NEAR(y.data<float>()[0], 1000.0 + std::log(2.0), 1e-3);
}

TEST(ReduceMore, ArgMaxArgMinFindFirstOrLastExtreme) {
    const Tensor x = Tensor::from_floats({2, 4}, {1, 3, 3, 0, 5, 5, -1, -1});
    auto ints = [](const Tensor& t) { return std::vector<int64_t>(t.data<int64_t>(), t.data<int64_t>() + t.numel()); };
    EXPECT_EQ(ints(run_op1("ArgMax", {&x}, {int_attr("axis", 1)})), (std::vector<int64_t>{1, 0}));
    EXPECT_EQ(ints(run_op1("ArgMax", {&x}, {int_attr("axis", 1), int_attr("select_last_index", 1)})), (std::vector<int64_t>{2, 1}));
    EXPECT_EQ(ints(run_op1("ArgMin", {&x}, {int_attr("axis", -1), int_attr("select_last_index", 1)})), (std::vector<int64_t>{3, 3}));
    const Tensor y = run_op1("ArgMin", {&x}, {int_attr("axis", 0), int_attr("keepdims", 0)});
    EXPECT_EQ(y.shape(), (Shape{4}));
    EXPECT_EQ(ints(y), (std::vector<int64_t>{0, 0, 1, 1}));
}

TEST(ReduceMore, ArgMaxMatchesNaiveScanOnRandomInput) {
    std::mt19937 gen(9);
    const Tensor x = random_floats({3, 6, 4}, gen, -2, 2);
    const Tensor y = run_op1("ArgMax", {&x}, {int_attr("axis", 1)});
    ASSERT_EQ(y.shape(), (Shape{3, 1, 4}));
    for (int64_t i = 0; i < 3; ++i)
        for (int64_t k = 0; k < 4; ++k) {
            int64_t best = 0;
            for (int64_t j = 1; j < 6; ++j)
                if (x.data<float>()[(i * 6 + j) * 4 + k] > x.data<float>()[(i * 6 + best) * 4 + k]) best = j;
            EXPECT_EQ(y.data<int64_t>()[i * 4 + k], best);
        }
}

TEST(ReduceMore, TopKMatchesFullSortAlongAxis) {
    std::mt19937 gen(2);
    const Tensor x = random_floats({2, 7, 3}, gen, -2, 2);
    const Tensor k = Tensor::from_int64s({1}, {3});
    for (int largest : {0, 1}) {
        const auto out = run_op("TopK", {&x, &k}, {int_attr("axis", 1), int_attr("largest", largest)}, 11, 2);
        ASSERT_EQ(out[0].shape(), (Shape{2, 3, 3}));
        for (int64_t i = 0; i < 2; ++i)
            for (int64_t c = 0; c < 3; ++c) {
                std::vector<std::pair<float, int64_t>> col;
                for (int64_t j = 0; j < 7; ++j) col.emplace_back(x.data<float>()[(i * 7 + j) * 3 + c], j);
                std::sort(col.begin(), col.end(), [&](const auto& a, const auto& b) { return largest ? a.first > b.first : a.first < b.first; });
                for (int64_t j = 0; j < 3; ++j) {
                    EXPECT_EQ(out[0].data<float>()[(i * 3 + j) * 3 + c], col[static_cast<size_t>(j)].first);
                    EXPECT_EQ(out[1].data<int64_t>()[(i * 3 + j) * 3 + c], col[static_cast<size_t>(j)].second);
                }
            }
    }
    const Tensor too_big = Tensor::from_int64s({1}, {8});
    EXPECT_THROW(run_op("TopK", {&x, &too_big}, {int_attr("axis", 1)}, 11, 2), Error);
}

}  // namespace
}  // namespace qcp
