// The statistics correction on layers the scalar quantizers and pq rewrote: correction_target()
// + apply_channel_affine() make the layer compute exactly y' = a ⊙ y + d per output channel (y:
// the quantized layer's output; channels on axis 1, or on the last axis of a MatMul's), in every
// weight format: the shift in the layer's bias, in the Add after a MatMul, or in a new Add; the
// saved files pass the ONNX checker; layers that cannot take the map are refused.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <tuple>

#include "qcp/core/error.hpp"
#include "qcp/engine/session.hpp"
#include "qcp/ir/layers.hpp"
#include "qcp/onnx_io/onnx_io.hpp"
#include "qcp/quant/pq.hpp"
#include "qcp/quant/rtn.hpp"
#include "qcp/rewrite/cp_rewrite.hpp"
#include "qcp/rewrite/pq_rewrite.hpp"
#include "qcp/rewrite/quant_rewrite.hpp"
#include "rewrite_test_util.hpp"

namespace qcp {
namespace {

constexpr double kRelTol = 1e-5;

struct Case {
    std::string name, op;
    Shape x, w, y;
    std::vector<ir::Attribute> attrs;
    bool bias;
    int64_t out_channels;
};

ir::Model layer_model(const Case& c, const Tensor& w, int64_t opset = 13) {
    ir::Model m = test::one_layer_model(c.op, c.attrs, c.x, c.y, w, opset, "corr_" + c.name);
    if (c.bias) {
        m.graph.initializers.push_back({"b", test::normal_tensor({c.out_channels}, 9), ""});
        m.graph.nodes[0].inputs.push_back("b");
        m.graph.rebuild_index();
    }
    return m;
}

enum class Kind { RtnChannel, RtnTensor, RtnTensorAsym, Pq };

class CorrectionTargetCase : public ::testing::TestWithParam<Case> {};

TEST_P(CorrectionTargetCase, AffineMapFoldsExactly) {
    const Case& c = GetParam();
    const Tensor w = test::normal_tensor(c.w, 1), x = test::normal_tensor(c.x, 2);
    std::vector<float> a(static_cast<size_t>(c.out_channels)), d(a.size());
    for (size_t o = 0; o < a.size(); ++o) a[o] = 0.5f + 0.1f * static_cast<float>(o), d[o] = 0.25f * static_cast<float>(o) - 1.f;
    for (Kind kind : {Kind::RtnChannel, Kind::RtnTensor, Kind::RtnTensorAsym, Kind::Pq}) {
        for (auto format : {rewrite::WeightFormat::Float, rewrite::WeightFormat::Qdq, rewrite::WeightFormat::Packed}) {
            SCOPED_TRACE(c.name + " kind " + std::to_string(static_cast<int>(kind)) + " " + rewrite::weight_format_name(format));
            ir::Model m = layer_model(c, w);
            const auto layers = ir::find_layers(m.graph);
            ASSERT_EQ(layers.size(), 1u);
            const auto t = rewrite::quant_target(m.graph, layers[0]);
            const ir::Graph before = m.graph;
            std::optional<rewrite::CpRewrite> target;
            int64_t planned = -1;  // what the budget counts for the correction (correction_bits)
            if (kind == Kind::Pq) {
                planned = rewrite::correction_bits(before, 13, layers[0], nullptr);
                quant::PqOptions po;
                po.d = c.w.size() == 4 ? c.w[2] * c.w[3] : 4;
                if (po.d == 1) po.d = 2;
                po.k = 8;
                po.iters = 3;
                const quant::PqResult pq = quant::pq_quantize(t.w.data(), t.rows, t.cols, {}, po);
                const auto bits = rewrite::rewrite_pq(m, layers[0], t, pq, format);
                target = rewrite::correction_target(m, layers[0], "y", nullptr, bits.storage_bits);
            } else {
                quant::QuantScheme s;
                s.bits = 4;
                s.granularity = kind == Kind::RtnChannel ? quant::Granularity::Channel : quant::Granularity::Tensor;
                s.symmetric = kind != Kind::RtnTensorAsym;
                const auto q = quant::rtn_quantize(t.w.data(), t.rows, t.cols, s);
                planned = rewrite::correction_bits(before, 13, layers[0], &q);
                const auto gw = rewrite::grid_weight_for(layers[0], t, q);
                const int64_t bits = rewrite::rewrite_quantized(m, layers[0], gw, format);
                target = rewrite::correction_target(m, layers[0], "y", &gw, bits);
            }
            ASSERT_TRUE(target.has_value());
            const Tensor want = test::channel_affine(engine::Session(m).run({x}).at(0), a, d, c.op == "MatMul");
            const int64_t bits_before = target->storage_bits;
            rewrite::apply_channel_affine(m, *target, a, d, format);
            m.graph.rebuild_index();
            const Tensor got = engine::Session(m).run({x}).at(0);
            ASSERT_EQ(got.shape(), want.shape());
            EXPECT_LT(test::rel_error(got, want), kRelTol);
            // the stored bits grow by what was added: per-channel scales / factors, a new bias
            const int64_t added = target->storage_bits - bits_before;
            const int64_t scales = kind == Kind::RtnChannel ? 0 : kind == Kind::Pq ? c.out_channels : c.out_channels - 1;
            const int64_t zero_points = kind == Kind::RtnTensorAsym ? 4 * (c.out_channels - 1) : 0;  // 4-bit, now per channel
            EXPECT_EQ(added, 32 * (scales + (c.bias ? 0 : c.out_channels)) + zero_points);
            EXPECT_EQ(planned, added);
        }
    }
}

std::vector<ir::Attribute> conv_attrs(std::vector<int64_t> strides, std::vector<int64_t> pads) {
    return {ir::Attribute::make_ints("strides", strides), ir::Attribute::make_ints("pads", pads)};
}

INSTANTIATE_TEST_SUITE_P(
    Layers, CorrectionTargetCase,
    ::testing::Values(Case{"conv3x3_bias", "Conv", {2, 6, 9, 9}, {8, 6, 3, 3}, {2, 8, 9, 9}, conv_attrs({1, 1}, {1, 1, 1, 1}), true, 8},
                      Case{"conv3x3_stride2_nobias", "Conv", {1, 4, 9, 9}, {6, 4, 3, 3}, {1, 6, 4, 4}, conv_attrs({2, 2}, {0, 0, 0, 0}), false, 6},
                      Case{"conv1x1", "Conv", {2, 8, 5, 5}, {10, 8, 1, 1}, {2, 10, 5, 5}, conv_attrs({1, 1}, {0, 0, 0, 0}), true, 10},
                      Case{"gemm_transB", "Gemm", {4, 12}, {9, 12}, {4, 9}, {ir::Attribute::make_int("transB", 1)}, true, 9},
                      Case{"gemm_nobias", "Gemm", {4, 12}, {12, 9}, {4, 9}, {}, false, 9},
                      Case{"gemm_beta", "Gemm", {4, 12}, {9, 12}, {4, 9},
                           {ir::Attribute::make_int("transB", 1), ir::Attribute::make_float("beta", 0.5f)}, true, 9},
                      Case{"matmul", "MatMul", {4, 12}, {12, 9}, {4, 9}, {}, false, 9},
                      Case{"matmul_sequence", "MatMul", {2, 5, 12}, {12, 9}, {2, 5, 9}, {}, false, 9}),
    [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });

// rtn 4-bit per channel on the model's one layer, as a correction target on `output`.
std::optional<rewrite::CpRewrite> rtn_target(ir::Model& m, const std::string& output, quant::QuantScheme s = {}) {
    s.bits = 4;
    const auto layers = ir::find_layers(m.graph);
    const auto t = rewrite::quant_target(m.graph, layers.at(0));
    const auto gw = rewrite::grid_weight_for(layers[0], t, quant::rtn_quantize(t.w.data(), t.rows, t.cols, s));
    const int64_t bits = rewrite::rewrite_quantized(m, layers[0], gw, rewrite::WeightFormat::Packed);
    return rewrite::correction_target(m, layers[0], output, &gw, bits);
}

TEST(CorrectionTarget, RefusesLayersThatCannotTakeTheMap) {
    const Tensor w = test::normal_tensor({12, 9}, 1);
    auto target_of = [&](const std::string& op, std::vector<ir::Attribute> attrs, int64_t opset, quant::QuantScheme scheme) {
        ir::Model m = test::one_layer_model(op, attrs, {4, 12}, {4, 9}, w, opset);
        return rtn_target(m, "y", scheme);
    };
    const quant::QuantScheme s;
    EXPECT_TRUE(target_of("Gemm", {}, 13, s).has_value());
    // no bias input, or one the shift cannot go into: it goes into an Add after the layer
    for (const auto& [op, attrs, opset] : {std::make_tuple("MatMul", std::vector<ir::Attribute>{}, 13),
                                           std::make_tuple("Gemm", std::vector<ir::Attribute>{ir::Attribute::make_float("beta", 0.f)}, 13),
                                           std::make_tuple("Gemm", std::vector<ir::Attribute>{}, 9)}) {  // no C before opset 11
        const auto t = target_of(op, attrs, opset, s);
        ASSERT_TRUE(t.has_value()) << op << " opset " << opset;
        EXPECT_FALSE(t->bias_input) << op << " opset " << opset;
    }
    const auto beta = target_of("Gemm", {ir::Attribute::make_float("beta", 2.f)}, 13, s);  // C is added times beta
    ASSERT_TRUE(beta.has_value());
    EXPECT_TRUE(beta->bias_input);
    EXPECT_EQ(beta->bias_gain, 2.f);
    quant::QuantScheme blocked = s;
    blocked.granularity = quant::Granularity::Block;
    blocked.block_size = 4;
    EXPECT_FALSE(target_of("Gemm", {}, 13, blocked).has_value());  // scales along the inputs
    EXPECT_FALSE(target_of("MatMul", {}, 13, blocked).has_value());
}

// x (2, 5, 12) · w (12, 9) → mm, then Add(mm, c) → y with c a Constant node (as PP-OCRv4 rec's
// linear layers are exported); `mm_is_output`: mm is a graph output too.
ir::Model matmul_add_model(bool mm_is_output) {
    ir::Model m = test::one_layer_model("MatMul", {}, {2, 5, 12}, {2, 5, 9}, test::normal_tensor({12, 9}, 1), 13, "matmul_add");
    m.graph.nodes[0].outputs = {"mm"};
    ir::Node c;
    c.op_type = "Constant";
    c.name = "c";
    c.outputs = {"c"};
    c.attributes.push_back(ir::Attribute::make_tensor("value", test::normal_tensor({9}, 5)));
    ir::Node add;
    add.op_type = "Add";
    add.name = "add";
    add.inputs = {"mm", "c"};
    add.outputs = {"y"};
    m.graph.nodes.push_back(c);
    m.graph.nodes.push_back(add);
    if (mm_is_output) m.graph.outputs.push_back(test::float_value("mm", {2, 5, 9}));
    m.graph.rebuild_index();
    return m;
}

int count_op(const ir::Graph& g, const std::string& op) {
    return static_cast<int>(std::count_if(g.nodes.begin(), g.nodes.end(), [&](const ir::Node& n) { return n.op_type == op; }));
}

// Saved (the ONNX checker runs) and loaded back, the model computes what it did before.
void expect_saved_model_runs(ir::Model m, const std::string& name, const Tensor& x, const Tensor& want) {
    m.graph.sort_topologically();  // the rewrites append their decoders, as the pipeline's save does
    const std::filesystem::path dir = QCP_TEST_TMP;
    std::filesystem::create_directories(dir);
    onnx_io::SaveOptions so;
    so.overwrite = true;
    onnx_io::save_model(m, dir / ("correction_" + name + ".onnx"), so);
    const ir::Model loaded = onnx_io::load_model(dir / ("correction_" + name + ".onnx"));
    EXPECT_LT(test::rel_error(engine::Session(loaded).run({x}).at(0), want), kRelTol) << name;
}

std::vector<float> ramp(size_t n, float base, float step) {
    std::vector<float> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = base + step * static_cast<float>(i);
    return v;
}

// MatMul → Add(c): the shift goes into (a copy of) c, no node is added; mm keeps its producer.
TEST(CorrectionTarget, MatMulShiftFoldsIntoTheFollowingAdd) {
    ir::Model m = matmul_add_model(false);
    {  // counted as the budget counts it: pq's weight takes 9 scales; rtn per channel, nothing
        const auto layer = ir::find_layers(m.graph).at(0);
        EXPECT_EQ(rewrite::correction_bits(m.graph, 13, layer, nullptr), 32 * 9);
        const auto t = rewrite::quant_target(m.graph, layer);
        quant::QuantScheme s;
        s.bits = 4;
        const auto q = quant::rtn_quantize(t.w.data(), t.rows, t.cols, s);
        EXPECT_EQ(rewrite::correction_bits(m.graph, 13, layer, &q), 0);
    }
    const Tensor x = test::normal_tensor({2, 5, 12}, 2), c = test::normal_tensor({9}, 5);
    const std::vector<float> a = ramp(9, 0.5f, 0.1f), d = ramp(9, -1.f, 0.25f);
    auto target = rtn_target(m, "mm");
    ASSERT_TRUE(target.has_value());
    EXPECT_FALSE(target->bias_input);
    const Tensor y = engine::Session(m).run({x}).at(0);  // mm + c
    Tensor mm = y;
    for (int64_t i = 0; i < mm.numel(); ++i) mm.data<float>()[i] -= c.data<float>()[i % 9];
    Tensor want = test::channel_affine(mm, a, d, true);
    for (int64_t i = 0; i < want.numel(); ++i) want.data<float>()[i] += c.data<float>()[i % 9];
    const size_t nodes = m.graph.nodes.size();
    const int64_t bits = target->storage_bits;
    rewrite::apply_channel_affine(m, *target, a, d, rewrite::WeightFormat::Packed);
    m.graph.rebuild_index();
    EXPECT_EQ(count_op(m.graph, "Add"), 1);
    EXPECT_EQ(count_op(m.graph, "Constant"), 0);  // the old c was read only there
    EXPECT_EQ(m.graph.nodes.size(), nodes - 1);
    EXPECT_EQ(target->storage_bits, bits);       // per-channel scales already; c replaced, not added
    EXPECT_EQ(m.graph.nodes[static_cast<size_t>(m.graph.producer("mm"))].op_type, "MatMul");
    EXPECT_LT(rewrite::correction_bias_add(m.graph, "mm"), 0);
    EXPECT_LT(test::rel_error(engine::Session(m).run({x}).at(0), want), kRelTol);
    expect_saved_model_runs(m, "matmul_fold", x, want);
}

// MatMul whose output is read elsewhere too (here: a graph output): a new Add writes it, the
// MatMul writes <output>/pre_bias; the Add's constant is counted in the layer's bits.
TEST(CorrectionTarget, MatMulWithoutAnAddOfItsOwnGetsANewAdd) {
    for (bool other_reader : {false, true}) {
        SCOPED_TRACE(other_reader ? "mm read by an Add and the graph" : "one MatMul");
        ir::Model m = other_reader ? matmul_add_model(true)
                                   : test::one_layer_model("MatMul", {}, {2, 5, 12}, {2, 5, 9}, test::normal_tensor({12, 9}, 1), 13, "matmul");
        const std::string out = other_reader ? "mm" : "y";
        // counted as the budget counts it: no scales (per channel already), the new Add's constant
        quant::QuantScheme per_channel;
        per_channel.bits = 4;
        const auto layer = ir::find_layers(m.graph).at(0);
        const auto t = rewrite::quant_target(m.graph, layer);
        const auto q = quant::rtn_quantize(t.w.data(), t.rows, t.cols, per_channel);
        EXPECT_EQ(rewrite::correction_bits(m.graph, 13, layer, &q), 32 * 9);
        const Tensor x = test::normal_tensor({2, 5, 12}, 2);
        const std::vector<float> a = ramp(9, 0.5f, 0.1f), d = ramp(9, -1.f, 0.25f);
        auto target = rtn_target(m, out);
        ASSERT_TRUE(target.has_value());
        // the value the map applies to: mm (graph output 1 in the two-output model), or y
        auto value_of = [&](const ir::Model& model) {
            auto outs = engine::Session(model).run({x});
            return outs.at(other_reader ? 1 : 0);
        };
        const Tensor want = test::channel_affine(value_of(m), a, d, true);
        const int adds = count_op(m.graph, "Add");
        const int64_t bits = target->storage_bits;
        rewrite::apply_channel_affine(m, *target, a, d, rewrite::WeightFormat::Packed);
        m.graph.rebuild_index();
        EXPECT_EQ(count_op(m.graph, "Add"), adds + 1);
        const int add = rewrite::correction_bias_add(m.graph, out);
        ASSERT_GE(add, 0);
        EXPECT_EQ(m.graph.nodes[static_cast<size_t>(m.graph.producer(out + "/pre_bias"))].op_type, "MatMul");
        EXPECT_EQ(target->storage_bits, bits + 32 * 9);
        EXPECT_LT(test::rel_error(value_of(m), want), kRelTol);
        // a second correction of the same chain is refused, not applied to the wrong value
        EXPECT_THROW(rewrite::apply_channel_affine(m, *target, a, d, rewrite::WeightFormat::Packed), Error);
        if (!other_reader) expect_saved_model_runs(m, "matmul_new_add", x, want);
    }
}

}  // namespace
}  // namespace qcp
