// A quantized weight written as DequantizeLinear computes exactly the layer with Ŵ.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "qcp/engine/session.hpp"
#include "qcp/ir/layers.hpp"
#include "qcp/rewrite/quant_rewrite.hpp"
#include "rewrite_test_util.hpp"

namespace qcp {
namespace {

constexpr double kRelTol = 1e-6;

Tensor random_tensor(Shape shape, uint32_t seed) { return test::normal_tensor(std::move(shape), seed); }

struct Case {
    std::string name, op;
    Shape x, w, y;
    std::vector<ir::Attribute> attrs;
    int64_t opset;
    quant::QuantScheme scheme;
};

ir::Model one_layer(const Case& c, const Tensor& w) { return test::one_layer_model(c.op, c.attrs, c.x, c.y, w, c.opset); }

class QuantRewriteCase : public ::testing::TestWithParam<Case> {};

TEST_P(QuantRewriteCase, DequantizeLinearGraphEqualsDequantizedWeight) {
    const Case& c = GetParam();
    const Tensor w = random_tensor(c.w, 1);
    const Tensor x = random_tensor(c.x, 2);
    for (auto format : {rewrite::WeightFormat::Qdq, rewrite::WeightFormat::Float, rewrite::WeightFormat::Packed}) {
        ir::Model m = one_layer(c, w);
        const auto layers = ir::find_layers(m.graph);
        ASSERT_EQ(layers.size(), 1u);
        const auto t = rewrite::quant_target(m.graph, layers[0]);
        const auto q = quant::rtn_quantize(t.w.data(), t.rows, t.cols, c.scheme);
        // the reference: the same layer with the dequantized weight in the stored layout
        const std::vector<float> deq = q.dequantized();
        Tensor w_hat(DType::Float32, c.w);
        for (int64_t r = 0; r < t.rows; ++r)
            for (int64_t col = 0; col < t.cols; ++col)
                w_hat.data<float>()[t.transposed ? col * t.rows + r : r * t.cols + col] = deq[static_cast<size_t>(r * t.cols + col)];
        const ir::Model ref = one_layer(c, w_hat);
        const auto gw = rewrite::grid_weight_for(layers[0], t, q);
        EXPECT_EQ(gw.storage_bits(), q.storage_bits());
        rewrite::rewrite_quantized(m, layers[0], gw, format);
        m.graph.sort_topologically();
        EXPECT_EQ(m.graph.find_initializer("w"), nullptr) << "old weight left behind";
        const Tensor got = engine::Session(m).run(x).at(0);
        const Tensor want = engine::Session(ref).run(x).at(0);
        double e = 0, r = 0;
        for (int64_t i = 0; i < want.numel(); ++i) {
            e += std::pow(double(got.data<float>()[i]) - want.data<float>()[i], 2);
            r += std::pow(double(want.data<float>()[i]), 2);
        }
        EXPECT_LE(std::sqrt(e / r), kRelTol) << c.name;
    }
}

quant::QuantScheme scheme(int bits, bool sym, quant::Granularity g, int64_t block = 0) {
    quant::QuantScheme s;
    s.bits = bits;
    s.symmetric = sym;
    s.granularity = g;
    s.block_size = block;
    return s;
}

INSTANTIATE_TEST_SUITE_P(
    Layers, QuantRewriteCase,
    ::testing::Values(
        Case{"conv_channel_sym8", "Conv", {2, 4, 7, 7}, {6, 4, 3, 3}, {2, 6, 5, 5}, {}, 13, scheme(8, true, quant::Granularity::Channel)},
        Case{"conv_tensor_asym4", "Conv", {2, 4, 7, 7}, {6, 4, 3, 3}, {2, 6, 5, 5}, {}, 13, scheme(4, false, quant::Granularity::Tensor)},
        Case{"conv_channel_int4_opset21", "Conv", {1, 4, 7, 7}, {6, 4, 3, 3}, {1, 6, 5, 5}, {}, 21, scheme(3, true, quant::Granularity::Channel)},
        Case{"gemm_transB_asym", "Gemm", {3, 10}, {5, 10}, {3, 5}, {ir::Attribute::make_int("transB", 1)}, 13, scheme(4, false, quant::Granularity::Channel)},
        Case{"gemm_block_opset21", "Gemm", {3, 10}, {5, 10}, {3, 5}, {ir::Attribute::make_int("transB", 1)}, 21, scheme(4, true, quant::Granularity::Block, 4)},
        Case{"matmul_block_asym_opset21", "MatMul", {2, 3, 10}, {10, 6}, {2, 3, 6}, {}, 21, scheme(4, false, quant::Granularity::Block, 3)},
        Case{"matmul_channel", "MatMul", {2, 3, 10}, {10, 6}, {2, 3, 6}, {}, 13, scheme(8, true, quant::Granularity::Channel)}),
    [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });

}  // namespace
}  // namespace qcp
