// MaxPool, AveragePool and the global pools against naive float64 loops over every attribute
// combination, and bit-identical at 1 and 2 threads.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "qcp/core/error.hpp"
#include "qcp/core/parallel.hpp"
#include "qcp/engine/kernel.hpp"
#include "kernel_test_util.hpp"

namespace qcp {
namespace {

using ir::Attribute;

// |qcp − naive| per element, relative to the largest |input| of the window
constexpr double kAbsTol = 1e-6;

using test::run_op;

Tensor random_tensor(Shape shape, std::mt19937& rng) {
    std::normal_distribution<float> n(0.0f, 1.0f);
    Tensor t(DType::Float32, std::move(shape));
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = n(rng);
    return t;
}

struct PoolCase {
    std::vector<int64_t> kernel, strides, pads, dilations;
    bool ceil_mode = false;
    std::string auto_pad = "NOTSET";
    bool include_pad = false;
};

std::vector<Attribute> attrs_of(const PoolCase& c, bool average) {
    std::vector<Attribute> a = {Attribute::make_ints("kernel_shape", c.kernel), Attribute::make_ints("strides", c.strides),
                                Attribute::make_ints("dilations", c.dilations),
                                Attribute::make_int("ceil_mode", c.ceil_mode),
                                Attribute::make_string("auto_pad", c.auto_pad)};
    if (c.auto_pad == "NOTSET") a.push_back(Attribute::make_ints("pads", c.pads));
    if (average) a.push_back(Attribute::make_int("count_include_pad", c.include_pad));
    return a;
}

// Naive pooling of a 2-D (N, C, H, W) input straight from the ONNX definitions, in double.
Tensor naive_pool_2d(const Tensor& x, const PoolCase& c, bool average) {
    const int64_t N = x.dim(0), C = x.dim(1), in[2] = {x.dim(2), x.dim(3)};
    int64_t out[2], pb[2], pe[2];
    for (int d = 0; d < 2; ++d) {
        const int64_t dk = (c.kernel[d] - 1) * c.dilations[d] + 1;
        if (c.auto_pad == "SAME_UPPER" || c.auto_pad == "SAME_LOWER") {
            out[d] = (in[d] + c.strides[d] - 1) / c.strides[d];
            const int64_t total = std::max<int64_t>(0, (out[d] - 1) * c.strides[d] + dk - in[d]);
            pb[d] = c.auto_pad == "SAME_UPPER" ? total / 2 : (total + 1) / 2;
            pe[d] = total - pb[d];
            continue;
        }
        pb[d] = c.auto_pad == "VALID" ? 0 : c.pads[d];
        pe[d] = c.auto_pad == "VALID" ? 0 : c.pads[d + 2];
        const double span = static_cast<double>(in[d] + pb[d] + pe[d] - dk) / static_cast<double>(c.strides[d]);
        out[d] = static_cast<int64_t>(c.ceil_mode ? std::ceil(span) : std::floor(span)) + 1;
        if (c.ceil_mode && (out[d] - 1) * c.strides[d] >= in[d] + pb[d]) --out[d];  // no window may start in the end pad
    }
    Tensor y(DType::Float32, {N, C, out[0], out[1]});
    const float* xd = x.data<float>();
    float* yd = y.data<float>();
    for (int64_t p = 0; p < N * C; ++p)
        for (int64_t oh = 0; oh < out[0]; ++oh)
            for (int64_t ow = 0; ow < out[1]; ++ow) {
                double acc = average ? 0.0 : -std::numeric_limits<double>::infinity();
                int64_t valid = 0, padded = 0;
                for (int64_t kh = 0; kh < c.kernel[0]; ++kh)
                    for (int64_t kw = 0; kw < c.kernel[1]; ++kw) {
                        const int64_t h = oh * c.strides[0] - pb[0] + kh * c.dilations[0];
                        const int64_t w = ow * c.strides[1] - pb[1] + kw * c.dilations[1];
                        if (h < in[0] + pe[0] && w < in[1] + pe[1]) ++padded;
                        if (h < 0 || h >= in[0] || w < 0 || w >= in[1]) continue;
                        const double v = xd[(p * in[0] + h) * in[1] + w];
                        acc = average ? acc + v : std::max(acc, v);
                        ++valid;
                    }
                if (average) acc /= static_cast<double>(c.include_pad ? padded : valid);
                yd[(p * out[0] + oh) * out[1] + ow] = static_cast<float>(acc);
            }
    return y;
}

void expect_near_all(const Tensor& got, const Tensor& want, const std::string& what) {
    ASSERT_EQ(got.shape(), want.shape()) << what;
    for (int64_t i = 0; i < want.numel(); ++i)
        ASSERT_NEAR(got.data<float>()[i], want.data<float>()[i], kAbsTol * (1 + std::fabs(want.data<float>()[i])))
            << what << " element " << i;
}

std::vector<PoolCase> pool_cases() {
    std::vector<PoolCase> cases;
    for (const std::string auto_pad : {"NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"})
        for (int ceil_mode = 0; ceil_mode < 2; ++ceil_mode)
            for (int include_pad = 0; include_pad < 2; ++include_pad) {
                cases.push_back({{3, 3}, {2, 2}, {1, 1, 1, 1}, {1, 1}, ceil_mode != 0, auto_pad, include_pad != 0});
                cases.push_back({{2, 3}, {1, 2}, {0, 1, 1, 2}, {1, 1}, ceil_mode != 0, auto_pad, include_pad != 0});
                cases.push_back({{2, 2}, {3, 2}, {1, 0, 1, 1}, {2, 3}, ceil_mode != 0, auto_pad, include_pad != 0});
                cases.push_back({{1, 4}, {2, 3}, {0, 2, 0, 2}, {1, 2}, ceil_mode != 0, auto_pad, include_pad != 0});
            }
    return cases;
}

std::string describe(const PoolCase& c) {
    auto v = [](const std::vector<int64_t>& xs) {
        std::string s;
        for (auto x : xs) s += std::to_string(x) + ",";
        return s;
    };
    return "k=" + v(c.kernel) + " s=" + v(c.strides) + " p=" + v(c.pads) + " d=" + v(c.dilations) +
           " ceil=" + std::to_string(c.ceil_mode) + " auto_pad=" + c.auto_pad + " include_pad=" + std::to_string(c.include_pad);
}

TEST(Pool, MaxPoolMatchesNaiveForEveryAttributeCombination) {
    std::mt19937 rng(1);
    const Tensor x = random_tensor({2, 3, 11, 10}, rng);
    for (const PoolCase& c : pool_cases()) {
        if (c.include_pad) continue;
        const auto y = run_op("MaxPool", {&x}, attrs_of(c, false), 12);
        expect_near_all(y[0], naive_pool_2d(x, c, false), describe(c));
    }
}

TEST(Pool, AveragePoolMatchesNaiveForEveryAttributeCombination) {
    std::mt19937 rng(2);
    const Tensor x = random_tensor({2, 3, 11, 10}, rng);
    for (const PoolCase& c : pool_cases()) {
        const auto y = run_op("AveragePool", {&x}, attrs_of(c, true), 19);
        expect_near_all(y[0], naive_pool_2d(x, c, true), describe(c));
    }
}

TEST(Pool, OneAndThreeDimensionalPoolsMatchTheirTwoDimensionalEmbedding) {
    // a 1-D pool is a 2-D pool with a unit row; a 3-D pool with a unit depth is a 2-D pool
    std::mt19937 rng(3);
    const Tensor x1 = random_tensor({2, 3, 13}, rng);
    const Tensor x2 = x1.reshaped({2, 3, 1, 13});
    const Tensor x3 = x1.reshaped({2, 3, 1, 1, 13});
    for (const std::string op : {"MaxPool", "AveragePool"}) {
        auto attrs_n = [&](size_t k) {
            std::vector<int64_t> kernel(k, 1), strides(k, 1), pads(2 * k, 0);
            kernel[k - 1] = 3, strides[k - 1] = 2, pads[k - 1] = 1, pads[2 * k - 1] = 2;
            return std::vector<Attribute>{Attribute::make_ints("kernel_shape", kernel), Attribute::make_ints("strides", strides),
                                          Attribute::make_ints("pads", pads), Attribute::make_int("count_include_pad", 1)};
        };
        const Tensor y1 = run_op(op, {&x1}, attrs_n(1), 11)[0];
        const Tensor y2 = run_op(op, {&x2}, attrs_n(2), 11)[0];
        const Tensor y3 = run_op(op, {&x3}, attrs_n(3), 11)[0];
        EXPECT_EQ(y1.reshaped(y2.shape()), y2) << op;
        EXPECT_EQ(y1.reshaped(y3.shape()), y3) << op;
    }
}

TEST(Pool, MaxPoolIndicesPointAtTheMaximumInRowAndColumnMajorOrder) {
    std::mt19937 rng(4);
    const Tensor x = random_tensor({2, 3, 7, 6}, rng);
    for (int storage_order = 0; storage_order < 2; ++storage_order) {
        const auto out = run_op("MaxPool", {&x},
                                {Attribute::make_ints("kernel_shape", {3, 2}), Attribute::make_ints("strides", {2, 2}),
                                 Attribute::make_ints("pads", {1, 0, 1, 1}), Attribute::make_int("storage_order", storage_order)},
                                12, 2);
        ASSERT_EQ(out[1].dtype(), DType::Int64);
        ASSERT_EQ(out[1].shape(), out[0].shape());
        for (int64_t i = 0; i < out[0].numel(); ++i) {
            int64_t flat = out[1].data<int64_t>()[i];
            if (storage_order == 1) {  // (plane, w, h) -> (plane, h, w)
                const int64_t plane = flat / 42, rem = flat % 42;
                flat = plane * 42 + (rem % 7) * 6 + rem / 7;
            }
            ASSERT_EQ(x.data<float>()[flat], out[0].data<float>()[i]) << "storage_order " << storage_order << " element " << i;
        }
    }
}

TEST(Pool, GlobalPoolsMatchNaive) {
    std::mt19937 rng(5);
    for (const Shape& shape : {Shape{2, 3, 5, 4}, Shape{3, 2, 9}, Shape{1, 4, 3, 2, 5}}) {
        const Tensor x = random_tensor(shape, rng);
        const Tensor avg = run_op("GlobalAveragePool", {&x}, {}, 13)[0];
        const Tensor mx = run_op("GlobalMaxPool", {&x}, {}, 13)[0];
        Shape want(shape.size(), 1);
        want[0] = shape[0], want[1] = shape[1];
        ASSERT_EQ(avg.shape(), want);
        ASSERT_EQ(mx.shape(), want);
        const int64_t planes = shape[0] * shape[1], plane = x.numel() / planes;
        for (int64_t p = 0; p < planes; ++p) {
            double sum = 0, m = -std::numeric_limits<double>::infinity();
            for (int64_t i = 0; i < plane; ++i) {
                sum += x.data<float>()[p * plane + i];
                m = std::max<double>(m, x.data<float>()[p * plane + i]);
            }
            EXPECT_NEAR(avg.data<float>()[p], sum / plane, kAbsTol);
            EXPECT_EQ(mx.data<float>()[p], static_cast<float>(m));
        }
    }
}

TEST(Pool, ResultsAreBitIdenticalAtOneAndTwoThreads) {
    std::mt19937 rng(6);
    const Tensor x = random_tensor({4, 16, 20, 20}, rng);
    const std::vector<Attribute> attrs = {Attribute::make_ints("kernel_shape", {3, 3}), Attribute::make_ints("pads", {1, 1, 1, 1})};
    for (const std::string op : {"MaxPool", "AveragePool", "GlobalAveragePool"}) {
        set_num_threads(1);
        const Tensor a = run_op(op, {&x}, attrs, 13)[0];
        set_num_threads(2);
        const Tensor b = run_op(op, {&x}, attrs, 13)[0];
        set_num_threads(0);
        EXPECT_EQ(a, b) << op;
    }
}

TEST(Pool, BadInputsAreRefusedNamingTheNode) {
    std::mt19937 rng(7);
    const Tensor x4 = random_tensor({1, 2, 4, 4}, rng);
    const Tensor x2 = random_tensor({4, 4}, rng);
    auto expect_error = [](auto&& fn, const std::string& what) {
        try {
            fn();
            ADD_FAILURE() << what << ": accepted";
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find("node_under_test"), std::string::npos) << e.what();
        }
    };
    expect_error([&] { run_op("MaxPool", {&x4}, {}, 12); }, "no kernel_shape");
    expect_error([&] { run_op("MaxPool", {&x2}, {Attribute::make_ints("kernel_shape", {2, 2})}, 12); }, "2-D input");
    expect_error([&] { run_op("AveragePool", {&x4}, {Attribute::make_ints("kernel_shape", {5, 5})}, 12); }, "kernel too big");
    expect_error([&] {
        run_op("AveragePool", {&x4}, {Attribute::make_ints("kernel_shape", {2, 2}), Attribute::make_string("auto_pad", "BOGUS")}, 12);
    }, "bad auto_pad");
}

}  // namespace
}  // namespace qcp
