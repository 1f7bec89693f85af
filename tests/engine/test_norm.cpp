// BatchNormalization, LayerNormalization, Softmax and LogSoftmax against naive float64 loops.
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

// |qcp − naive| per element, relative to max(1, |naive|)
constexpr double kTol = 2e-6;

using test::run_op;

Tensor random_tensor(Shape shape, std::mt19937& rng, float lo = -2.0f, float hi = 2.0f) {
    std::uniform_real_distribution<float> u(lo, hi);
    Tensor t(DType::Float32, std::move(shape));
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = u(rng);
    return t;
}

void expect_close(const Tensor& got, const std::vector<double>& want, const std::string& what) {
    ASSERT_EQ(got.numel(), static_cast<int64_t>(want.size())) << what;
    for (size_t i = 0; i < want.size(); ++i)
        ASSERT_NEAR(got.data<float>()[i], want[i], kTol * std::max(1.0, std::fabs(want[i]))) << what << " element " << i;
}

int64_t prod(const Shape& s, size_t b, size_t e) {
    int64_t p = 1;
    for (size_t i = b; i < e; ++i) p *= s[i];
    return p;
}

TEST(Norm, BatchNormalizationMatchesNaiveAtEveryOpset) {
    std::mt19937 rng(1);
    const Tensor x = random_tensor({3, 4, 5, 2}, rng);
    const Tensor scale = random_tensor({4}, rng), bias = random_tensor({4}, rng), mean = random_tensor({4}, rng);
    const Tensor var = random_tensor({4}, rng, 0.1f, 2.0f);
    const float eps = 1e-3f;
    std::vector<double> want(static_cast<size_t>(x.numel()));
    for (int64_t i = 0; i < x.numel(); ++i) {
        const int64_t c = (i / 10) % 4;
        want[i] = (x.data<float>()[i] - mean.data<float>()[c]) / std::sqrt(double(var.data<float>()[c]) + eps) *
                      scale.data<float>()[c] + bias.data<float>()[c];
    }
    for (int64_t opset : {7, 9, 14, 15}) {
        const auto y = run_op("BatchNormalization", {&x, &scale, &bias, &mean, &var}, {Attribute::make_float("epsilon", eps)}, opset);
        EXPECT_EQ(y[0].shape(), x.shape());
        expect_close(y[0], want, "opset " + std::to_string(opset));
    }
}

TEST(Norm, BatchNormalizationPerActivationAtOpset7) {
    std::mt19937 rng(2);
    const Tensor x = random_tensor({2, 3, 4}, rng);
    const Tensor scale = random_tensor({3, 4}, rng), bias = random_tensor({3, 4}, rng), mean = random_tensor({3, 4}, rng);
    const Tensor var = random_tensor({3, 4}, rng, 0.1f, 2.0f);
    std::vector<double> want(static_cast<size_t>(x.numel()));
    for (int64_t i = 0; i < x.numel(); ++i) {
        const int64_t p = i % 12;
        want[i] = (x.data<float>()[i] - mean.data<float>()[p]) / std::sqrt(double(var.data<float>()[p]) + 1e-5) *
                      scale.data<float>()[p] + bias.data<float>()[p];
    }
    const auto y = run_op("BatchNormalization", {&x, &scale, &bias, &mean, &var}, {Attribute::make_int("spatial", 0)}, 7);
    expect_close(y[0], want, "spatial=0");
}

TEST(Norm, BatchNormalizationRefusesTraining) {
    std::mt19937 rng(3);
    const Tensor x = random_tensor({2, 3}, rng), p = random_tensor({3}, rng, 0.5f, 1.0f);
    try {
        run_op("BatchNormalization", {&x, &p, &p, &p, &p}, {Attribute::make_int("training_mode", 1)}, 15);
        FAIL() << "accepted";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("node_under_test"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("training_mode"), std::string::npos) << e.what();
    }
}

// Layer norm over x.shape[axis:], parameters given at the full normalised shape.
TEST(Norm, LayerNormalizationMatchesNaiveForEachAxisWithAndWithoutBias) {
    std::mt19937 rng(4);
    const Tensor x = random_tensor({2, 3, 4, 5}, rng, -3.0f, 5.0f);
    for (int64_t axis : {-1, 1, 2, 0, -2}) {
        const size_t a = static_cast<size_t>(axis < 0 ? axis + 4 : axis);
        const Shape norm(x.shape().begin() + static_cast<std::ptrdiff_t>(a), x.shape().end());
        const Tensor scale = random_tensor(norm, rng), bias = random_tensor(norm, rng);
        const int64_t rows = prod(x.shape(), 0, a), cols = prod(x.shape(), a, 4);
        for (bool with_bias : {true, false}) {
            std::vector<double> want(static_cast<size_t>(x.numel())), means, inv_stds;
            for (int64_t r = 0; r < rows; ++r) {
                double mean = 0, var = 0;
                for (int64_t c = 0; c < cols; ++c) mean += x.data<float>()[r * cols + c];
                mean /= cols;
                for (int64_t c = 0; c < cols; ++c) var += std::pow(x.data<float>()[r * cols + c] - mean, 2);
                const double inv_std = 1 / std::sqrt(var / cols + 1e-5);
                for (int64_t c = 0; c < cols; ++c)
                    want[r * cols + c] = (x.data<float>()[r * cols + c] - mean) * inv_std * scale.data<float>()[c] +
                                         (with_bias ? bias.data<float>()[c] : 0.0);
                means.push_back(mean);
                inv_stds.push_back(inv_std);
            }
            const auto y = run_op("LayerNormalization", {&x, &scale, with_bias ? &bias : nullptr},
                                  {Attribute::make_int("axis", axis)}, 17, 3);
            const std::string what = "axis " + std::to_string(axis) + (with_bias ? " bias" : "");
            expect_close(y[0], want, what);
            expect_close(y[1], means, what + " mean");
            expect_close(y[2], inv_stds, what + " inv_std");
            Shape stat_shape = x.shape();
            for (size_t d = a; d < 4; ++d) stat_shape[d] = 1;
            EXPECT_EQ(y[1].shape(), stat_shape);
        }
    }
}

TEST(Norm, LayerNormalizationBroadcastsScaleAndBias) {
    std::mt19937 rng(5);
    const Tensor x = random_tensor({3, 4, 6}, rng);
    const Tensor scale = random_tensor({1, 6}, rng), bias = random_tensor({4, 1}, rng);
    const Tensor scale_full = [&] {
        Tensor t(DType::Float32, {4, 6});
        for (int64_t i = 0; i < 24; ++i) t.data<float>()[i] = scale.data<float>()[i % 6];
        return t;
    }();
    const Tensor bias_full = [&] {
        Tensor t(DType::Float32, {4, 6});
        for (int64_t i = 0; i < 24; ++i) t.data<float>()[i] = bias.data<float>()[i / 6];
        return t;
    }();
    const std::vector<Attribute> attrs = {Attribute::make_int("axis", 1)};
    const Tensor a = run_op("LayerNormalization", {&x, &scale, &bias}, attrs, 17)[0];
    const Tensor b = run_op("LayerNormalization", {&x, &scale_full, &bias_full}, attrs, 17)[0];
    EXPECT_EQ(a, b);
}

// Naive softmax over index sets: opset < 13 flattens [axis:], opset 13 takes the single axis.
std::vector<double> naive_softmax(const Tensor& x, size_t axis, bool coerce_2d, bool log) {
    const Shape& s = x.shape();
    const int64_t outer = prod(s, 0, axis);
    const int64_t n = coerce_2d ? prod(s, axis, s.size()) : s[axis];
    const int64_t inner = coerce_2d ? 1 : prod(s, axis + 1, s.size());
    std::vector<double> y(static_cast<size_t>(x.numel()));
    for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < inner; ++i) {
            auto at = [&](int64_t k) { return (o * n + k) * inner + i; };
            double sum = 0;
            for (int64_t k = 0; k < n; ++k) sum += std::exp(double(x.data<float>()[at(k)]));
            for (int64_t k = 0; k < n; ++k)
                y[at(k)] = log ? x.data<float>()[at(k)] - std::log(sum) : std::exp(double(x.data<float>()[at(k)])) / sum;
        }
    return y;
}

TEST(Norm, SoftmaxAndLogSoftmaxFollowTheirOpsetSemantics) {
    std::mt19937 rng(6);
    const Tensor x = random_tensor({2, 3, 4, 5}, rng, -6.0f, 6.0f);
    for (const std::string op : {"Softmax", "LogSoftmax"})
        for (int64_t opset : {11, 13})
            for (int64_t axis : {0, 1, 2, 3, -1, -3}) {
                const size_t a = static_cast<size_t>(axis < 0 ? axis + 4 : axis);
                const auto y = run_op(op, {&x}, {Attribute::make_int("axis", axis)}, opset);
                expect_close(y[0], naive_softmax(x, a, opset < 13, op == "LogSoftmax"),
                             op + " opset " + std::to_string(opset) + " axis " + std::to_string(axis));
            }
    // default axis: 1 (flattened) before opset 13, -1 from 13
    for (const std::string op : {"Softmax", "LogSoftmax"}) {
        expect_close(run_op(op, {&x}, {}, 11)[0], naive_softmax(x, 1, true, op == "LogSoftmax"), op + " default 11");
        expect_close(run_op(op, {&x}, {}, 13)[0], naive_softmax(x, 3, false, op == "LogSoftmax"), op + " default 13");
    }
}

TEST(Norm, SoftmaxIsStableForLargeInputs) {
    const Tensor x = Tensor::from_floats({1, 3}, {1000.0f, 1001.0f, 999.0f});
    const Tensor y = run_op("Softmax", {&x}, {}, 13)[0];
    const double e = std::exp(1.0), total = 1 + e + 1 / e;
    expect_close(y, {1 / total, e / total, 1 / e / total}, "large");
}

TEST(Norm, ResultsAreBitIdenticalAtOneAndTwoThreads) {
    std::mt19937 rng(7);
    const Tensor x = random_tensor({8, 16, 12, 12}, rng);
    const Tensor c = random_tensor({16}, rng, 0.5f, 1.5f);
    const Tensor ln_scale = random_tensor({12}, rng);
    auto run_all = [&] {
        return std::vector<Tensor>{run_op("BatchNormalization", {&x, &c, &c, &c, &c}, {}, 15)[0],
                                   run_op("LayerNormalization", {&x, &ln_scale}, {}, 17)[0],
                                   run_op("Softmax", {&x}, {Attribute::make_int("axis", 1)}, 13)[0],
                                   run_op("LogSoftmax", {&x}, {}, 11)[0]};
    };
    set_num_threads(1);
    const auto a = run_all();
    set_num_threads(2);
    const auto b = run_all();
    set_num_threads(0);
    for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], b[i]) << i;
}

}  // namespace
}  // namespace qcp
