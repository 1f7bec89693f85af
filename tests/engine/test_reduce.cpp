// Reduce kernels against a naive reference: every output element summed (or maxed) over its
// reduced index set in double precision, for every subset of axes of several shapes.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <random>

#include "qcp/core/error.hpp"
#include "qcp/core/parallel.hpp"
#include "qcp/engine/kernel.hpp"
#include "kernel_test_util.hpp"

namespace qcp {
namespace {

using A = ir::Attribute;

// relative to the sum of magnitudes reduced: float32 rounding of a double-accurate result
constexpr double kReduceTol = 1e-6;

using test::run_op;

Tensor random_floats(const Shape& shape, std::mt19937& gen) {
    std::normal_distribution<float> dist(0.5f, 2.0f);
    std::vector<float> v(static_cast<size_t>(shape_numel(shape)));
    for (auto& x : v) x = dist(gen);
    return Tensor::from_floats(shape, v);
}

struct NaiveResult {
    std::vector<double> value, magnitude;  // per output element; magnitude = sum of |x| reduced
};

// Reduces x over `reduced` dims in double; kind: 's'um, 'm'ean, 'x' max, 'n' min.
NaiveResult naive_reduce(const Tensor& x, const std::vector<bool>& reduced, char kind) {
    const Shape& s = x.shape();
    int64_t outputs = 1, count = 1;
    for (size_t d = 0; d < s.size(); ++d) (reduced[d] ? count : outputs) *= s[d];
    NaiveResult r;
    const double init = kind == 'x' ? -INFINITY : kind == 'n' ? INFINITY : 0.0;
    r.value.assign(static_cast<size_t>(outputs), init);
    r.magnitude.assign(static_cast<size_t>(outputs), 0.0);
    std::vector<int64_t> idx(s.size(), 0);
    for (int64_t i = 0; i < x.numel(); ++i) {
        int64_t o = 0;
        for (size_t d = 0; d < s.size(); ++d)
            if (!reduced[d]) o = o * s[d] + idx[d];
        const double v = x.data<float>()[i];
        double& acc = r.value[static_cast<size_t>(o)];
        acc = kind == 'x' ? std::max(acc, v) : kind == 'n' ? std::min(acc, v) : acc + v;
        if (kind == 's' || kind == 'm') r.magnitude[static_cast<size_t>(o)] += std::fabs(v);  // max/min: exact
        for (size_t d = s.size(); d-- > 0;) {
            if (++idx[d] < s[d]) break;
            idx[d] = 0;
        }
    }
    if (kind == 'm')
        for (size_t o = 0; o < r.value.size(); ++o) r.value[o] /= double(count), r.magnitude[o] /= double(count);
    return r;
}

TEST(Reduce, EveryAxisSubsetMatchesNaive) {
    const std::pair<const char*, char> ops[] = {{"ReduceSum", 's'}, {"ReduceMean", 'm'}, {"ReduceMax", 'x'}, {"ReduceMin", 'n'}};
    const Shape shapes[] = {{7}, {3, 5}, {2, 3, 4}, {2, 1, 3, 5}, {3, 4, 2, 6}};
    std::mt19937 gen(21);
    for (const Shape& shape : shapes) {
        const Tensor x = random_floats(shape, gen);
        const auto rank = static_cast<int64_t>(shape.size());
        for (int64_t mask = 1; mask < (int64_t(1) << rank); ++mask) {
            std::vector<int64_t> axes;
            std::vector<bool> reduced(shape.size());
            for (int64_t d = 0; d < rank; ++d)
                if (mask >> d & 1) {
                    reduced[static_cast<size_t>(d)] = true;
                    axes.push_back(d % 2 ? d - rank : d);  // mix negative axes in
                }
            for (const auto& [op, kind] : ops) {
                const NaiveResult want = naive_reduce(x, reduced, kind);
                for (int64_t keepdims : {0, 1}) {
                    const Tensor y = run_op(op, {&x}, {A::make_ints("axes", axes), A::make_int("keepdims", keepdims)}, 11)[0];
                    Shape want_shape;
                    for (size_t d = 0; d < shape.size(); ++d)
                        if (!reduced[d] || keepdims) want_shape.push_back(reduced[d] ? 1 : shape[d]);
                    ASSERT_EQ(y.shape(), want_shape) << op << " " << shape_str(shape) << " mask " << mask;
                    for (size_t o = 0; o < want.value.size(); ++o)
                        ASSERT_NEAR(y.data<float>()[o], want.value[o], kReduceTol * (want.magnitude[o] + 1e-30))
                            << op << " " << shape_str(shape) << " mask " << mask << " output " << o;
                }
            }
        }
    }
}

TEST(Reduce, AxesAttributeAndInputFormsAgree) {
    std::mt19937 gen(22);
    const Tensor x = random_floats({2, 8, 6, 6}, gen);
    const Tensor axes = Tensor::from_int64s({2}, {2, 3});
    const ir::Attribute attr = A::make_ints("axes", {2, 3});
    EXPECT_TRUE(run_op("ReduceSum", {&x}, {attr}, 12)[0] == run_op("ReduceSum", {&x, &axes}, {}, 13)[0]);
    for (const char* op : {"ReduceMean", "ReduceMax", "ReduceMin"})
        EXPECT_TRUE(run_op(op, {&x}, {attr}, 17)[0] == run_op(op, {&x, &axes}, {}, 18)[0]) << op;
}

TEST(Reduce, MissingAxesReduceAllUnlessNoop) {
    std::mt19937 gen(23);
    const Tensor x = random_floats({3, 4}, gen);
    const Tensor all = run_op("ReduceMean", {&x}, {}, 18)[0];
    EXPECT_EQ(all.shape(), (Shape{1, 1}));
    EXPECT_NEAR(all.data<float>()[0], naive_reduce(x, {true, true}, 'm').value[0], 1e-6);
    EXPECT_TRUE(run_op("ReduceMean", {&x}, {A::make_int("noop_with_empty_axes", 1)}, 18)[0] == x);
    const Tensor empty_axes(DType::Int64, {0});
    EXPECT_TRUE(run_op("ReduceSum", {&x, &empty_axes}, {A::make_int("noop_with_empty_axes", 1)}, 13)[0] == x);
    EXPECT_EQ(run_op("ReduceSum", {&x, &empty_axes}, {A::make_int("keepdims", 0)}, 13)[0].shape(), Shape{});
    EXPECT_THROW(run_op("ReduceMax", {&x}, {A::make_ints("axes", {2})}, 13), Error);
}

TEST(Reduce, IntegerSumsAreExact) {
    const Tensor x = Tensor::from_int64s({2, 3}, {1, -2, 3, (int64_t(1) << 40), 5, -6});
    EXPECT_EQ(run_op("ReduceSum", {&x}, {A::make_ints("axes", {1})}, 11)[0].to_int64_vector(),
              (std::vector<int64_t>{2, (int64_t(1) << 40) - 1}));  // keepdims default: shape (2, 1)
    EXPECT_EQ(run_op("ReduceMax", {&x}, {A::make_ints("axes", {0}), A::make_int("keepdims", 0)})[0]
                  .to_int64_vector(),
              (std::vector<int64_t>{int64_t(1) << 40, 5, 3}));
}

TEST(Reduce, LargeReductionsGiveSameBitsForAnyThreadCount) {
    std::mt19937 gen(24);
    const Tensor x = random_floats({8, 64, 24, 24}, gen);
    for (const std::vector<int64_t>& axes : {std::vector<int64_t>{2, 3}, std::vector<int64_t>{1}, std::vector<int64_t>{0, 2}}) {
        const std::vector<ir::Attribute> attrs = {A::make_ints("axes", axes)};
        set_num_threads(1);
        const Tensor one = run_op("ReduceMean", {&x}, attrs)[0];
        set_num_threads(2);
        const Tensor two = run_op("ReduceMean", {&x}, attrs)[0];
        set_num_threads(0);
        EXPECT_TRUE(one == two);
    }
}

}  // namespace
}  // namespace qcp
