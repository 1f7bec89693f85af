// Gemm and MatMul against naive float64 loops, on every sgemm micro-kernel the CPU runs, and
// bit-identical at 1 and 2 threads.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <random>

#include "../../src/engine/kernels/sgemm.hpp"
#include "qcp/core/error.hpp"
#include "qcp/core/parallel.hpp"
#include "qcp/engine/kernel.hpp"
#include "kernel_test_util.hpp"
#include "sgemm_test_util.hpp"

namespace qcp {
namespace {

namespace sgemm = engine::kernels::sgemm;
using ir::Attribute;

// |qcp − naive| per element, relative to the sum of the magnitudes of the terms it adds
constexpr double kRelTol = 1e-5;

Tensor run_op(const std::string& op, const std::vector<const Tensor*>& inputs, std::vector<Attribute> attrs,
              int64_t opset = 13) {
    return test::run_op1(op, inputs, std::move(attrs), opset);
}
using test::IsaScope;
using test::isas;
using test::random_tensor;

void expect_near(const Tensor& got, const std::vector<double>& want, const std::vector<double>& scale,
                 const std::string& what) {
    ASSERT_EQ(static_cast<size_t>(got.numel()), want.size()) << what;
    for (size_t i = 0; i < want.size(); ++i)
        ASSERT_NEAR(got.data<float>()[i], want[i], kRelTol * scale[i] + 1e-30) << what << " element " << i;
}

TEST(Gemm, RandomShapesAndAttributesMatchNaive) {
    std::mt19937 rng(42);
    // sizes around the micro-tile (12 × 16) and the K (256), M (96) and N (512) blocks
    const std::vector<std::array<int64_t, 3>> sizes = {{1, 1, 1},    {3, 17, 5},   {13, 16, 300}, {97, 33, 257},
                                                       {200, 10, 128}, {5, 600, 40}, {130, 520, 20}};
    const std::vector<Shape> c_shapes = {{}, {1}, {0}, {-1, 1}, {1, 0}, {-1, 0}};  // 0: N, -1: M
    int trial = 0;
    for (const auto& [m, n, k] : sizes)
        for (int trans = 0; trans < 4; ++trans) {
            const bool ta = trans & 1, tb = trans & 2;
            const float alpha = trial % 3 == 0 ? 1.0f : 0.75f, beta = trial % 2 == 0 ? 1.0f : -0.5f;
            Shape cs = c_shapes[static_cast<size_t>(trial) % c_shapes.size()];
            for (auto& d : cs) d = d == 0 ? n : d == -1 ? m : d;
            ++trial;
            const Tensor a = random_tensor(ta ? Shape{k, m} : Shape{m, k}, rng);
            const Tensor b = random_tensor(tb ? Shape{n, k} : Shape{k, n}, rng);
            const Tensor c = random_tensor(cs, rng);
            std::vector<double> want(static_cast<size_t>(m * n)), scale(want.size());
            const auto c_strides_n = cs.size() == 2 ? cs[1] : (cs.size() == 1 ? cs[0] : 1);
            for (int64_t i = 0; i < m; ++i)
                for (int64_t j = 0; j < n; ++j) {
                    double acc = 0, mag = 0;
                    for (int64_t p = 0; p < k; ++p) {
                        const double t = double(a.data<float>()[ta ? p * m + i : i * k + p]) *
                                         b.data<float>()[tb ? j * k + p : p * n + j];
                        acc += t;
                        mag += std::fabs(t);
                    }
                    int64_t ci = 0;
                    if (cs.size() == 2) ci = (cs[0] == 1 ? 0 : i) * c_strides_n + (cs[1] == 1 ? 0 : j);
                    if (cs.size() == 1) ci = cs[0] == 1 ? 0 : j;
                    const double cv = beta * double(c.data<float>()[ci]);
                    want[static_cast<size_t>(i * n + j)] = alpha * acc + cv;
                    scale[static_cast<size_t>(i * n + j)] = std::fabs(alpha) * mag + std::fabs(cv);
                }
            const std::vector<Attribute> attrs = {Attribute::make_int("transA", ta), Attribute::make_int("transB", tb),
                                                  Attribute::make_float("alpha", alpha),
                                                  Attribute::make_float("beta", beta)};
            for (sgemm::Isa isa : isas()) {
                IsaScope scope(isa);
                const Tensor y = run_op("Gemm", {&a, &b, &c}, attrs);
                ASSERT_EQ(y.shape(), (Shape{m, n}));
                expect_near(y, want, scale, "gemm " + std::to_string(m) + "x" + std::to_string(n) + "x" +
                                                std::to_string(k) + " trans " + std::to_string(trans) + " C " +
                                                shape_str(cs) + " isa " + std::to_string(int(isa)));
            }
        }
}

TEST(Gemm, OptionalCFromOpset11) {
    std::mt19937 rng(2);
    const Tensor a = random_tensor({4, 3}, rng), b = random_tensor({3, 5}, rng);
    const Tensor y = run_op("Gemm", {&a, &b}, {Attribute::make_float("alpha", 2.0f)}, 11);
    for (int64_t i = 0; i < 4; ++i)
        for (int64_t j = 0; j < 5; ++j) {
            double acc = 0;
            for (int64_t p = 0; p < 3; ++p) acc += double(a.data<float>()[i * 3 + p]) * b.data<float>()[p * 5 + j];
            EXPECT_NEAR(y.data<float>()[i * 5 + j], 2 * acc, 1e-5);
        }
    EXPECT_THROW(run_op("Gemm", {&a, &b}, {}, 9), Error);
    const Tensor bad_c = random_tensor({3}, rng);
    EXPECT_THROW(run_op("Gemm", {&a, &b, &bad_c}, {}), Error);
    EXPECT_THROW(run_op("Gemm", {&a, &a}, {}), Error);
}

// Naive numpy matmul for the shapes used below (batch dims broadcast, 1-D promoted).
std::vector<double> naive_matmul(const Tensor& a, const Tensor& b, const Shape& out_shape, std::vector<double>& scale) {
    Shape as = a.shape(), bs = b.shape();
    if (as.size() == 1) as.insert(as.begin(), 1);
    if (bs.size() == 1) bs.push_back(1);
    const int64_t m = as[as.size() - 2], k = as.back(), n = bs.back();
    const size_t rank = std::max(as.size(), bs.size());
    as.insert(as.begin(), rank - as.size(), 1);
    bs.insert(bs.begin(), rank - bs.size(), 1);
    Shape batch(rank - 2);
    for (size_t d = 0; d + 2 < rank; ++d) batch[d] = std::max(as[d], bs[d]);
    const int64_t batches = shape_numel(batch);
    std::vector<double> out(static_cast<size_t>(batches * m * n));
    scale.assign(out.size(), 0.0);
    EXPECT_EQ(shape_numel(out_shape), static_cast<int64_t>(out.size()));
    for (int64_t bi = 0; bi < batches; ++bi) {
        int64_t rest = bi, a_off = 0, b_off = 0, a_mul = 1, b_mul = 1;
        for (size_t d = batch.size(); d-- > 0;) {
            const int64_t idx = rest % batch[d];
            rest /= batch[d];
            a_off += (as[d] == 1 ? 0 : idx) * a_mul;
            b_off += (bs[d] == 1 ? 0 : idx) * b_mul;
            a_mul *= as[d];
            b_mul *= bs[d];
        }
        for (int64_t i = 0; i < m; ++i)
            for (int64_t j = 0; j < n; ++j) {
                double acc = 0, mag = 0;
                for (int64_t p = 0; p < k; ++p) {
                    const double t = double(a.data<float>()[a_off * m * k + i * k + p]) * b.data<float>()[b_off * k * n + p * n + j];
                    acc += t;
                    mag += std::fabs(t);
                }
                out[static_cast<size_t>((bi * m + i) * n + j)] = acc;
                scale[static_cast<size_t>((bi * m + i) * n + j)] = mag;
            }
    }
    return out;
}

TEST(MatMul, NumpySemanticsMatchNaive) {
    std::mt19937 rng(6);
    struct Case {
        Shape a, b, out;
    };
    const std::vector<Case> cases = {
        {{7}, {7}, {}},
        {{7}, {7, 5}, {5}},
        {{4, 7}, {7}, {4}},
        {{9}, {3, 9, 4}, {3, 4}},
        {{3, 4, 300}, {300, 17}, {3, 4, 17}},
        {{2, 1, 50, 6}, {3, 6, 33}, {2, 3, 50, 33}},
        {{1, 20, 8}, {5, 8, 2}, {5, 20, 2}},
        {{130, 70}, {70, 600}, {130, 600}},
        {{2, 0, 4}, {4, 3}, {2, 0, 3}},
    };
    for (const auto& c : cases) {
        const Tensor a = random_tensor(c.a, rng), b = random_tensor(c.b, rng);
        std::vector<double> scale;
        const auto want = naive_matmul(a, b, c.out, scale);
        for (sgemm::Isa isa : isas()) {
            IsaScope scope(isa);
            const Tensor y = run_op("MatMul", {&a, &b}, {});
            ASSERT_EQ(y.shape(), c.out) << shape_str(c.a) << " x " << shape_str(c.b);
            expect_near(y, want, scale, shape_str(c.a) + " x " + shape_str(c.b));
        }
    }
    const Tensor a = random_tensor({3, 4}, rng), b = random_tensor({5, 6}, rng);
    EXPECT_THROW(run_op("MatMul", {&a, &b}, {}), Error);
    const Tensor ba = random_tensor({2, 3, 4}, rng), bb = random_tensor({3, 4, 6}, rng);
    EXPECT_THROW(run_op("MatMul", {&ba, &bb}, {}), Error);
}

TEST(Linear, BitIdenticalAtOneAndTwoThreads) {
    std::mt19937 rng(12);
    const Tensor a = random_tensor({300, 200}, rng), b = random_tensor({200, 90}, rng), c = random_tensor({90}, rng);
    const Tensor wide_a = random_tensor({3, 200}, rng), wide_b = random_tensor({200, 1100}, rng);
    const Tensor ba = random_tensor({4, 70, 30}, rng), bb = random_tensor({4, 30, 20}, rng);
    auto run_all = [&] {
        return std::vector<Tensor>{run_op("Gemm", {&a, &b, &c}, {}), run_op("MatMul", {&wide_a, &wide_b}, {}),
                                   run_op("MatMul", {&ba, &bb}, {})};
    };
    set_num_threads(1);
    const auto one = run_all();
    set_num_threads(2);
    const auto two = run_all();
    set_num_threads(0);
    for (size_t i = 0; i < one.size(); ++i) EXPECT_TRUE(one[i] == two[i]) << "output " << i;
}

}  // namespace
}  // namespace qcp
