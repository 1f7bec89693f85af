// The parallel kernels added for the ONNX node tests give the same bits at any thread count
// (variadic Max/Sum, unary math, LRN, cubic Resize, ReduceLogSumExp) on inputs large enough to split.
#include <gtest/gtest.h>

#include <random>

#include "kernel_test_util.hpp"
#include "qcp/core/parallel.hpp"

namespace qcp {
namespace {

using A = ir::Attribute;

Tensor random_floats(const Shape& shape, std::mt19937& gen) {
    std::uniform_real_distribution<float> dist(-2, 2);
    std::vector<float> v(static_cast<size_t>(shape_numel(shape)));
    for (auto& x : v) x = dist(gen);
    return Tensor::from_floats(shape, v);
}

TEST(NewKernelThreads, SameBitsForOneTwoAndFourThreads) {
    std::mt19937 gen(70);
    const Tensor a = random_floats({2, 32, 24, 24}, gen), b = random_floats({32, 1, 1}, gen), c = random_floats({24}, gen);
    const Tensor axes = Tensor::from_int64s({2}, {2, 3});
    const Tensor roi = Tensor::from_floats({0}, {}), scales = Tensor::from_floats({4}, {1, 1, 1.5f, 0.75f});
    auto run_all = [&] {
        std::vector<Tensor> out;
        out.push_back(test::run_op1("Max", {&a, &b, &c}));
        out.push_back(test::run_op1("Sum", {&a, &b, &c}));
        out.push_back(test::run_op1("Sin", {&a}));
        out.push_back(test::run_op1("LRN", {&a}, {A::make_int("size", 5)}));
        out.push_back(test::run_op1("ReduceLogSumExp", {&a, &axes}, {}, 18));
        out.push_back(test::run_op1("Resize", {&a, &roi, &scales}, {A::make_string("mode", "cubic")}, 13));
        return out;
    };
    set_num_threads(1);
    const auto one = run_all();
    set_num_threads(2);
    const auto two = run_all();
    set_num_threads(4);
    const auto four = run_all();
    set_num_threads(0);
    for (size_t i = 0; i < one.size(); ++i) {
        EXPECT_TRUE(one[i] == two[i]) << "kernel " << i;
        EXPECT_TRUE(one[i] == four[i]) << "kernel " << i;
    }
}

}  // namespace
}  // namespace qcp
