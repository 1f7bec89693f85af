// The factorized chain computes exactly the original op with the reconstructed weight.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "qcp/core/parallel.hpp"
#include "qcp/engine/session.hpp"
#include "qcp/ir/layers.hpp"
#include "qcp/rewrite/cp_rewrite.hpp"
#include "rewrite_test_util.hpp"

namespace qcp {
namespace {

constexpr double kRelTol = 1e-5;

Tensor random_tensor(Shape shape, uint32_t seed) { return test::normal_tensor(std::move(shape), seed); }
ir::ValueInfo value(const std::string& name, const Shape& s) { return test::float_value(name, s); }

struct Case {
    std::string name;
    std::string op;
    Shape x, w;
    std::vector<ir::Attribute> attrs;
    Shape y;
};

ir::Model one_layer(const Case& c, const Tensor& w, const Tensor* bias) {
    ir::Model m;
    m.opset_import = {{"", 13}};
    m.graph.inputs.push_back(value("x", c.x));
    m.graph.outputs.push_back(value("y", c.y));
    m.graph.initializers.push_back({"w", w, ""});
    ir::Node n;
    n.op_type = c.op;
    n.name = "layer";
    n.inputs = {"x", "w"};
    if (bias) {
        m.graph.initializers.push_back({"b", *bias, ""});
        n.inputs.push_back("b");
    }
    n.outputs = {"y"};
    n.attributes = c.attrs;
    m.graph.nodes.push_back(n);
    m.graph.rebuild_index();
    return m;
}

// The reconstructed weight in the layer's own layout.
Tensor reconstructed_weight(const Case& c, const ir::Node& node, const decomp::CpResult& cp) {
    const std::vector<float> dense = decomp::cp_reconstruct(cp.factors);  // (out, in[, k]) row-major
    Tensor w(DType::Float32, c.w);
    const bool transposed = c.op == "MatMul" || (c.op == "Gemm" && node.attr_int("transB", 0) == 0);
    if (!transposed) {
        std::copy(dense.begin(), dense.end(), w.data<float>());
    } else {  // stored (in, out)
        const int64_t in = c.w[0], out = c.w[1];
        for (int64_t i = 0; i < in; ++i)
            for (int64_t o = 0; o < out; ++o) w.data<float>()[i * out + o] = dense[static_cast<size_t>(o * in + i)];
    }
    return w;
}

class CpRewriteCase : public ::testing::TestWithParam<Case> {};

TEST_P(CpRewriteCase, ChainEqualsLayerWithReconstructedWeight) {
    const Case& c = GetParam();
    const Tensor w = random_tensor(c.w, 1);
    const int64_t out_ch = c.op == "MatMul" ? c.w[1] : (c.op == "Gemm" && c.attrs.empty()) ? c.w[1] : c.w[0];
    const Tensor b = random_tensor({out_ch}, 2);
    const Tensor x = random_tensor(c.x, 3);
    for (auto format : {rewrite::WeightFormat::Float, rewrite::WeightFormat::Qdq, rewrite::WeightFormat::Packed}) {
        for (bool quantized : {false, true}) {
            SCOPED_TRACE(c.name + (quantized ? " quantized " : " float ") + rewrite::weight_format_name(format));
            ir::Model m = one_layer(c, w, c.op == "MatMul" ? nullptr : &b);
            const auto layers = ir::find_layers(m.graph);
            ASSERT_EQ(layers.size(), 1u);
            const auto target = rewrite::factor_target(m.graph, layers[0]);
            decomp::CpResult cp;
            if (quantized) {
                decomp::AdmmOptions opt;
                opt.bits = 5;
                opt.max_outer = 3;
                opt.granularity = decomp::Granularity::Channel;
                cp = decomp::cp_admm(target.view(), 3, opt);
            } else {
                cp = decomp::cp_als(target.view(), 3);
            }
            const ir::Model ref = one_layer(c, reconstructed_weight(c, m.graph.nodes[0], cp), c.op == "MatMul" ? nullptr : &b);
            auto rw = rewrite::rewrite_cp(m, layers[0], cp, quantized ? format : rewrite::WeightFormat::Float);
            m.graph.sort_topologically();
            EXPECT_GE(m.graph.nodes.size(), 2u);
            const Tensor got = engine::Session(m).run(x).at(0);
            const Tensor want = engine::Session(ref).run(x).at(0);
            ASSERT_EQ(got.shape(), want.shape());
            EXPECT_LT(test::rel_error(got, want), kRelTol);

            if (rw.supports_correction) {  // y' = a ⊙ y + d per output channel
                std::vector<float> a(static_cast<size_t>(out_ch)), d(static_cast<size_t>(out_ch));
                for (int64_t o = 0; o < out_ch; ++o) a[o] = 0.5f + 0.1f * o, d[o] = 0.25f * o - 1.f;
                rewrite::apply_channel_affine(m, rw, a, d, quantized ? format : rewrite::WeightFormat::Float);
                const Tensor corrected = engine::Session(m).run(x).at(0);
                EXPECT_LT(test::rel_error(corrected, test::channel_affine(want, a, d, c.op == "MatMul")), kRelTol);
            }
            EXPECT_TRUE(rw.supports_correction);  // every chain takes the map (MatMul's shift in an Add after it)
        }
    }
}

std::vector<ir::Attribute> conv_attrs(std::vector<int64_t> strides, std::vector<int64_t> pads, std::vector<int64_t> dil) {
    return {ir::Attribute::make_ints("strides", strides), ir::Attribute::make_ints("pads", pads),
            ir::Attribute::make_ints("dilations", dil)};
}

INSTANTIATE_TEST_SUITE_P(
    Layers, CpRewriteCase,
    ::testing::Values(
        Case{"conv3x3", "Conv", {2, 6, 9, 9}, {8, 6, 3, 3}, conv_attrs({1, 1}, {1, 1, 1, 1}, {1, 1}), {2, 8, 9, 9}},
        Case{"conv3x3_stride2_dilated", "Conv", {2, 5, 11, 10}, {7, 5, 3, 3}, conv_attrs({2, 2}, {2, 1, 2, 1}, {2, 1}), {2, 7, 6, 5}},
        Case{"conv1x5", "Conv", {1, 4, 6, 12}, {6, 4, 1, 5}, conv_attrs({1, 1}, {0, 2, 0, 2}, {1, 1}), {1, 6, 6, 12}},
        Case{"conv1x1_stride2", "Conv", {2, 8, 8, 8}, {10, 8, 1, 1}, conv_attrs({2, 2}, {0, 0, 0, 0}, {1, 1}), {2, 10, 4, 4}},
        Case{"gemm_transB", "Gemm", {4, 12}, {9, 12}, {ir::Attribute::make_int("transB", 1)}, {4, 9}},
        Case{"gemm", "Gemm", {4, 12}, {12, 9}, {}, {4, 9}},
        Case{"matmul", "MatMul", {3, 4, 12}, {12, 7}, {}, {3, 4, 7}}),
    [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });

}  // namespace
}  // namespace qcp
