#include <gtest/gtest.h>

#include <Eigen/Core>
#include <random>
#include <vector>

#include "qcp/core/error.hpp"
#include "qcp/core/parallel.hpp"
#include "qcp/quant/hessian.hpp"

namespace qcp::quant {
namespace {

constexpr double kFloatBlockTolerance = 1e-5;  // float products per block vs double, relative to max|H|

using RowMatrixD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

std::vector<float> random_values(int64_t n, uint32_t seed) {
    std::mt19937 gen(seed);
    std::normal_distribution<float> normal(0.f, 1.f);
    std::vector<float> v(static_cast<size_t>(n));
    for (auto& x : v) x = normal(gen);
    return v;
}

double max_abs_diff(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b) { return (a - b).cwiseAbs().maxCoeff(); }

// Naive explicit im2col (one row per output position, column ((ci·kh)+ky)·kw+kx) in double.
RowMatrixD naive_im2col(const std::vector<float>& x, int64_t n, int64_t c, int64_t h, int64_t w,
                        const HessianAccumulator::ConvGeometry& g) {
    const int64_t oh = (h + g.pad_top + g.pad_bottom - g.dil_h * (g.kh - 1) - 1) / g.stride_h + 1;
    const int64_t ow = (w + g.pad_left + g.pad_right - g.dil_w * (g.kw - 1) - 1) / g.stride_w + 1;
    RowMatrixD m = RowMatrixD::Zero(n * oh * ow, c * g.kh * g.kw);
    for (int64_t img = 0; img < n; ++img)
        for (int64_t oy = 0; oy < oh; ++oy)
            for (int64_t ox = 0; ox < ow; ++ox)
                for (int64_t ci = 0; ci < c; ++ci)
                    for (int64_t ky = 0; ky < g.kh; ++ky)
                        for (int64_t kx = 0; kx < g.kw; ++kx) {
                            const int64_t iy = oy * g.stride_h - g.pad_top + ky * g.dil_h;
                            const int64_t ix = ox * g.stride_w - g.pad_left + kx * g.dil_w;
                            if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                            m((img * oh + oy) * ow + ox, (ci * g.kh + ky) * g.kw + kx) = x[((img * c + ci) * h + iy) * w + ix];
                        }
    return m;
}

TEST(Hessian, AddRowsMatchesNaiveAndIsSymmetric) {
    for (int64_t cols : {1, 5, 130, 300}) {  // 130 and 300 span several H tiles
        const int64_t n = 2 * kHessianBlockRows + 77;
        const std::vector<float> x = random_values(n * cols, static_cast<uint32_t>(cols));
        HessianAccumulator acc(cols);
        acc.add_rows(x.data(), n);
        RowMatrixD xd(n, cols);
        for (int64_t i = 0; i < xd.size(); ++i) xd.data()[i] = x[i];
        const Eigen::MatrixXd naive = xd.transpose() * xd;
        const Eigen::MatrixXd& h = acc.hessian();
        EXPECT_EQ(acc.rows_seen(), n);
        EXPECT_LE(max_abs_diff(h, naive), kFloatBlockTolerance * naive.cwiseAbs().maxCoeff()) << cols;
        EXPECT_EQ(h, h.transpose()) << cols;
    }
}

TEST(Hessian, ChunkedAccumulationEqualsOneShot) {
    const int64_t cols = 20, n = 3 * kHessianBlockRows + 5;
    const std::vector<float> x = random_values(n * cols, 11);
    HessianAccumulator one(cols), chunked(cols), flushed(cols);
    one.add_rows(x.data(), n);
    std::mt19937 gen(12);
    for (int64_t i = 0; i < n;) {
        const int64_t take = std::min<int64_t>(n - i, std::uniform_int_distribution<int64_t>(0, 1500)(gen));
        chunked.add_rows(x.data() + i * cols, take);
        flushed.add_rows(x.data() + i * cols, take);
        (void)flushed.hessian();  // a mid-stream read ends the float block early
        i += take;
    }
    // block boundaries are fixed by the global row count: exactly the same float blocks
    EXPECT_EQ(one.hessian(), chunked.hessian());
    EXPECT_LE(max_abs_diff(one.hessian(), flushed.hessian()), kFloatBlockTolerance * one.hessian().cwiseAbs().maxCoeff());
    EXPECT_EQ(chunked.rows_seen(), n);
}

TEST(Hessian, ConvInputMatchesNaiveIm2col) {
    struct Case {
        int64_t n, c, h, w;
        HessianAccumulator::ConvGeometry g;
    };
    const std::vector<Case> cases = {
        {2, 3, 7, 6, {3, 3, 1, 1, 1, 1, 1, 1, 1, 1}},    // same padding
        {3, 2, 9, 8, {3, 2, 2, 3, 0, 2, 1, 0, 1, 1}},    // strides, asymmetric pads, rectangular kernel
        {2, 4, 10, 11, {3, 3, 1, 2, 2, 1, 0, 3, 2, 3}},  // dilation
        {1, 5, 4, 4, {1, 1, 1, 1, 0, 0, 0, 0, 1, 1}},    // pointwise
        {700, 2, 5, 5, {2, 2, 2, 2, 0, 0, 1, 1, 1, 1}},  // several buffer blocks, runs cut mid-row
    };
    for (const Case& t : cases) {
        const std::vector<float> x = random_values(t.n * t.c * t.h * t.w, static_cast<uint32_t>(t.n * 31 + t.c));
        HessianAccumulator acc(t.c * t.g.kh * t.g.kw);
        acc.add_conv_input(x.data(), t.n, t.c, t.h, t.w, t.g);
        const RowMatrixD m = naive_im2col(x, t.n, t.c, t.h, t.w, t.g);
        const Eigen::MatrixXd naive = m.transpose() * m;
        EXPECT_EQ(acc.rows_seen(), m.rows());
        EXPECT_LE(max_abs_diff(acc.hessian(), naive), kFloatBlockTolerance * naive.cwiseAbs().maxCoeff()) << t.n << "x" << t.c;
        // the same rows fed as a matrix give the same blocks, hence the same H
        HessianAccumulator rows(m.cols());
        const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> mf = m.cast<float>();
        rows.add_rows(mf.data(), mf.rows());
        EXPECT_EQ(acc.hessian(), rows.hessian());
    }
}

TEST(Hessian, IndependentOfThreadCount) {
    const std::vector<float> x = random_values(300 * 8 * 9 * 9, 21);
    const HessianAccumulator::ConvGeometry g{3, 3, 1, 1, 1, 1, 1, 1, 1, 1};
    const int saved = num_threads();
    Eigen::MatrixXd results[2];
    for (int threads : {1, 2}) {
        set_num_threads(threads);
        HessianAccumulator acc(8 * 9);
        acc.add_conv_input(x.data(), 300, 8, 9, 9, g);
        results[threads - 1] = acc.hessian();
    }
    set_num_threads(saved);
    EXPECT_EQ(results[0], results[1]);
}

TEST(Hessian, RejectsMismatchedGeometry) {
    HessianAccumulator acc(18);
    const std::vector<float> x(2 * 3 * 3, 1.f);
    EXPECT_THROW(acc.add_conv_input(x.data(), 1, 3, 3, 3, {3, 3, 1, 1, 0, 0, 0, 0, 1, 1}), Error);  // 27 columns
    EXPECT_THROW(acc.add_conv_input(x.data(), 1, 2, 3, 3, {3, 3, 1, 1, 0, 0, 0, 0, 2, 2}), Error);  // kernel too big
    EXPECT_THROW(HessianAccumulator(0), Error);
}

}  // namespace
}  // namespace qcp::quant
