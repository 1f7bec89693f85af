#include <gtest/gtest.h>

#include <Eigen/Core>
#include <cmath>
#include <random>
#include <vector>

#include "qcp/core/error.hpp"
#include "qcp/quant/gptq.hpp"

namespace qcp::quant {
namespace {

constexpr double kGptqMargin = 0.9;      // GPTQ's output error must be at most this times RTN's
constexpr double kLossRelTolerance = 1e-9;

using RowMatrixD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// A layer: weights W (rows × cols) and correlated inputs X = Z·L (n × cols), Z and L Gaussian.
struct Layer {
    int64_t rows, cols;
    std::vector<float> w;
    RowMatrixD x;
    Eigen::MatrixXd h;
};

Layer random_layer(int64_t rows, int64_t cols, int64_t n, uint32_t seed) {
    std::mt19937 gen(seed);
    std::normal_distribution<double> normal(0., 1.);
    Layer layer{rows, cols, std::vector<float>(static_cast<size_t>(rows * cols)), RowMatrixD(n, cols), {}};
    for (auto& v : layer.w) v = static_cast<float>(normal(gen));
    RowMatrixD z(n, cols), mix(cols, cols);
    for (int64_t i = 0; i < z.size(); ++i) z.data()[i] = normal(gen);
    for (int64_t i = 0; i < mix.size(); ++i) mix.data()[i] = normal(gen);
    layer.x = z * mix;
    layer.h = layer.x.transpose() * layer.x;
    return layer;
}

// ‖X (W − Ŵ)ᵀ‖_F computed directly from X.
double output_error(const Layer& layer, const std::vector<float>& w_hat) {
    RowMatrixD e(layer.rows, layer.cols);
    for (int64_t i = 0; i < e.size(); ++i) e.data()[i] = static_cast<double>(layer.w[i]) - w_hat[i];
    return (layer.x * e.transpose()).norm();
}

std::string describe(const GptqOptions& o) {
    return std::to_string(o.scheme.bits) + " bits, " + (o.scheme.symmetric ? "symmetric " : "asymmetric ") +
           granularity_name(o.scheme.granularity) + (o.act_order ? ", act_order" : "");
}

TEST(Gptq, BeatsRtnOnCorrelatedInputs) {
    const Layer layer = random_layer(24, 64, 512, 1);
    std::vector<GptqOptions> variants;
    for (int bits : {3, 4})
        for (bool symmetric : {true, false})
            for (bool act_order : {false, true}) {
                variants.push_back({{bits, symmetric, Granularity::Channel, 0}, 0.01, act_order, 128});
                variants.push_back({{bits, symmetric, Granularity::Block, 16}, 0.01, act_order, 128});
            }
    variants.push_back({{4, true, Granularity::Tensor, 0}, 0.01, false, 128});
    variants.push_back({{3, true, Granularity::Block, 16}, 0.01, false, 24});  // batches straddle blocks
    for (const GptqOptions& o : variants) {
        SCOPED_TRACE(describe(o));
        const GptqResult r = gptq_quantize(layer.w.data(), layer.rows, layer.cols, layer.h, o);
        const double rtn = output_error(layer, rtn_quantize(layer.w.data(), layer.rows, layer.cols, o.scheme).dequantized());
        const double gptq = output_error(layer, r.q.dequantized());
        EXPECT_LE(gptq, kGptqMargin * rtn);
        EXPECT_NEAR(r.loss_before, rtn * rtn, kLossRelTolerance * rtn * rtn);
        EXPECT_NEAR(r.loss_after, gptq * gptq, kLossRelTolerance * gptq * gptq);
        for (int32_t c : r.q.codes) {
            ASSERT_GE(c, o.scheme.code_min());
            ASSERT_LE(c, o.scheme.code_max());
        }
    }
}

TEST(Gptq, DiagonalHessianGivesRtnCodes) {
    const Layer layer = random_layer(10, 40, 16, 2);
    std::mt19937 gen(3);
    std::uniform_real_distribution<double> u(0.1, 10.0);
    Eigen::MatrixXd diagonal = Eigen::MatrixXd::Zero(40, 40);
    for (int64_t i = 0; i < 40; ++i) diagonal(i, i) = u(gen);
    for (const Eigen::MatrixXd& h : {Eigen::MatrixXd(Eigen::MatrixXd::Identity(40, 40)), diagonal})
        for (const Granularity g : {Granularity::Channel, Granularity::Tensor, Granularity::Block})
            for (bool symmetric : {true, false})
                for (bool act_order : {false, true}) {
                    const GptqOptions o{{3, symmetric, g, 12}, 0.01, act_order, 16};
                    SCOPED_TRACE(describe(o));
                    const GptqResult r = gptq_quantize(layer.w.data(), 10, 40, h, o);
                    const QuantizedMatrix rtn = rtn_quantize(layer.w.data(), 10, 40, o.scheme);
                    EXPECT_EQ(r.q.codes, rtn.codes);
                    EXPECT_EQ(r.q.scales, rtn.scales);
                    EXPECT_EQ(r.q.zero_points, rtn.zero_points);
                    EXPECT_EQ(r.loss_after, r.loss_before);
                }
}

TEST(Gptq, LazyBatchSizeDoesNotChangeTheResult) {
    const Layer layer = random_layer(8, 48, 200, 4);
    for (const Granularity g : {Granularity::Channel, Granularity::Block}) {
        const GptqOptions whole{{4, false, g, 16}, 0.01, true, 128};
        GptqOptions small = whole;
        small.block = 5;
        const GptqResult a = gptq_quantize(layer.w.data(), 8, 48, layer.h, whole);
        const GptqResult b = gptq_quantize(layer.w.data(), 8, 48, layer.h, small);
        int64_t differing = 0;
        for (size_t i = 0; i < a.q.codes.size(); ++i) differing += a.q.codes[i] != b.q.codes[i];
        EXPECT_LE(differing, 1) << granularity_name(g);  // only rounding ties could flip
        EXPECT_NEAR(a.loss_after, b.loss_after, 1e-3 * a.loss_after);
    }
}

TEST(Gptq, DeadInputsAreZeroedAndTheRestStillBeatsRtn) {
    Layer layer = random_layer(16, 48, 400, 5);
    for (int64_t dead : {0, 7, 30}) layer.x.col(dead).setZero();
    layer.h = layer.x.transpose() * layer.x;
    for (bool act_order : {false, true}) {
        const GptqOptions o{{3, false, Granularity::Channel, 0}, 0.01, act_order, 128};
        const GptqResult r = gptq_quantize(layer.w.data(), 16, 48, layer.h, o);
        const std::vector<float> deq = r.q.dequantized();
        for (int64_t row = 0; row < 16; ++row)
            for (int64_t dead : {0, 7, 30}) EXPECT_EQ(deq[row * 48 + dead], 0.f);
        const double gptq = output_error(layer, deq);
        EXPECT_NEAR(r.loss_after, gptq * gptq, kLossRelTolerance * gptq * gptq);
        EXPECT_LE(r.loss_after, kGptqMargin * kGptqMargin * r.loss_before);
    }
}

TEST(Gptq, AllDeadInputs) {
    const std::vector<float> w(4 * 6, 0.5f);
    const GptqResult r = gptq_quantize(w.data(), 4, 6, Eigen::MatrixXd::Zero(6, 6), {});
    for (float v : r.q.dequantized()) EXPECT_EQ(v, 0.f);
    EXPECT_EQ(r.loss_after, 0.0);
}

TEST(Gptq, RejectsBadArguments) {
    const Layer layer = random_layer(4, 8, 16, 6);
    EXPECT_THROW(gptq_quantize(layer.w.data(), 4, 8, Eigen::MatrixXd::Identity(7, 7), {}), Error);
    GptqOptions o;
    o.block = 0;
    EXPECT_THROW(gptq_quantize(layer.w.data(), 4, 8, layer.h, o), Error);
    o = {};
    o.scheme.bits = 1;
    EXPECT_THROW(gptq_quantize(layer.w.data(), 4, 8, layer.h, o), Error);
    Eigen::MatrixXd indefinite = Eigen::MatrixXd::Identity(8, 8);
    indefinite(2, 2) = -5;
    EXPECT_THROW(gptq_quantize(layer.w.data(), 4, 8, indefinite, {}), Error);
}

}  // namespace
}  // namespace qcp::quant
