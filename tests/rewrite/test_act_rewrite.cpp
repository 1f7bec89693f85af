// Activation QDQ insertion on small graphs: which tensors get Q/DQ, the int32 bias, the Gemm
// weight zero point, int4 widening, the ORT fusion each node gets by the selector rules, and
// that the rewritten graph still computes the layer (within the activation grids' error).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "qcp/engine/session.hpp"
#include "qcp/rewrite/act_rewrite.hpp"
#include "qcp/rewrite/weights.hpp"
#include "rewrite_test_util.hpp"

namespace qcp {
namespace {

using rewrite::ActSite;
// relative L2 error of the QDQ graph against the float one: 8-bit activations on two layers
constexpr double kQdqRelTol = 0.05;

// Symmetric int8 codes with one scale per index of `axis` (-1: one scale).
rewrite::GridWeight grid(Shape shape, int axis, int bits, uint32_t seed) {
    rewrite::GridWeight w;
    w.shape = shape;
    w.bits = bits;
    w.axis = axis;
    std::mt19937 gen(seed);
    const int32_t hi = (1 << (bits - 1)) - 1;
    std::uniform_int_distribution<int32_t> code(-hi, hi);
    for (int64_t i = 0; i < shape_numel(shape); ++i) w.codes.push_back(code(gen));
    const int64_t n = axis < 0 ? 1 : shape[static_cast<size_t>(axis)];
    for (int64_t i = 0; i < n; ++i) w.scales.push_back(0.01f * static_cast<float>(i + 1));
    return w;
}

ir::Node node(std::string op, std::vector<std::string> in, std::vector<std::string> out) {
    ir::Node n;
    n.op_type = op;
    n.name = out.at(0);
    n.inputs = std::move(in);
    n.outputs = std::move(out);
    return n;
}

ir::Model empty_model(const Shape& x, const Shape& y, int64_t opset = 13) {
    ir::Model m;
    m.opset_import = {{"", opset}};
    m.graph.inputs.push_back(test::float_value("x", x));
    m.graph.outputs.push_back(test::float_value("y", y));
    return m;
}

// x → conv1 (int8 per channel, float bias) → Relu → conv2 (int8 per tensor) → y
ir::Model conv_relu_conv() {
    ir::Model m = empty_model({1, 2, 4, 4}, {1, 2, 4, 4});
    const std::string w1 = rewrite::emit_grid_weight(m, "w1", grid({3, 2, 3, 3}, 0, 8, 1), rewrite::WeightFormat::Qdq);
    const std::string w2 = rewrite::emit_grid_weight(m, "w2", grid({2, 3, 1, 1}, -1, 8, 2), rewrite::WeightFormat::Qdq);
    m.graph.initializers.push_back({"b1", Tensor::from_floats({3}, {0.5f, -0.25f, 0.125f}), ""});
    ir::Node c1 = node("Conv", {"x", w1, "b1"}, {"c1"});
    c1.attributes.push_back(ir::Attribute::make_ints("pads", {1, 1, 1, 1}));
    m.graph.nodes.push_back(c1);
    m.graph.nodes.push_back(node("Relu", {"c1"}, {"r1"}));
    m.graph.nodes.push_back(node("Conv", {"r1", w2}, {"y"}));
    m.graph.rebuild_index();
    return m;
}

int node_of(const ir::Graph& g, const std::string& output) { return g.producer(output); }

const ir::Node& producer_of(const ir::Graph& g, const std::string& value) {
    const int p = g.producer(value);
    EXPECT_GE(p, 0) << value;
    return g.nodes.at(static_cast<size_t>(p));
}

// uint8 parameters from the min/max each site takes on input x (graph inputs from x itself).
std::map<std::string, quant::ActParams> minmax_params(const ir::Model& m, const std::vector<ActSite>& sites, const Tensor& x) {
    std::map<std::string, quant::ActHistogram> h;
    engine::Session s(m);
    for (const auto& site : sites) {
        const int p = m.graph.producer(site.value);
        if (p < 0) {
            h[site.value].add(x.data<float>(), x.numel());
            continue;
        }
        s.observe(p, [&h, v = site.value](const ir::Node&, const std::vector<const Tensor*>&, const std::vector<Tensor>& out) {
            h[v].add(out[0].data<float>(), out[0].numel());
        });
    }
    (void)s.run(x);
    std::map<std::string, quant::ActParams> params;
    for (const auto& [v, hist] : h) params[v] = quant::act_params(quant::act_range(hist, quant::ActCalib::MinMax, 100));
    return params;
}

TEST(ActRewrite, SitesAreTheInputAndTheFoldableReluOutput) {
    const ir::Model m = conv_relu_conv();
    EXPECT_EQ(rewrite::act_target_blocker(m.graph, node_of(m.graph, "c1")), "");
    EXPECT_EQ(rewrite::act_target_blocker(m.graph, node_of(m.graph, "y")), "");
    const std::vector<ActSite> sites = rewrite::plan_act_sites(m.graph, {"c1", "y"});
    ASSERT_EQ(sites.size(), 2u);  // conv2's output is a graph output: no Q
    EXPECT_EQ(sites[0].value, "x");
    EXPECT_TRUE(std::isinf(sites[0].lo_bound));
    EXPECT_EQ(sites[1].value, "r1");  // after the Relu, which ORT then folds into conv1
    EXPECT_EQ(sites[1].lo_bound, 0.0);
}

TEST(ActRewrite, InsertsQdqAndAnInt32BiasOnScaleSxSw) {
    ir::Model m = conv_relu_conv();
    const Tensor x = test::normal_tensor({1, 2, 4, 4}, 7);
    const Tensor want = engine::Session(m).run(x).at(0);
    const auto sites = rewrite::plan_act_sites(m.graph, {"c1", "y"});
    const auto params = minmax_params(m, sites, x);
    const float sx = params.at("x").scale;
    EXPECT_EQ(params.at("r1").zero_point, 0);
    rewrite::insert_act_qdq(m, sites, params);
    const auto rw = rewrite::prepare_act_targets(m, {"c1", "y"});
    EXPECT_EQ(rw.saturated_biases, 0);
    ir::Graph& g = m.graph;
    // conv1 reads DQ(Q(x)); the Relu still reads conv1; conv2 reads DQ(Q(r1))
    const ir::Node& dx = producer_of(g, g.nodes[static_cast<size_t>(node_of(g, "c1"))].input(0));
    EXPECT_EQ(dx.op_type, "DequantizeLinear");
    EXPECT_EQ(producer_of(g, dx.input(0)).op_type, "QuantizeLinear");
    EXPECT_EQ(producer_of(g, dx.input(0)).input(0), "x");
    EXPECT_EQ(producer_of(g, "r1").input(0), "c1");
    EXPECT_EQ(producer_of(g, g.nodes[static_cast<size_t>(node_of(g, "y"))].input(0)).op_type, "DequantizeLinear");
    // bias: round(b / (sx · sw_c)) as int32 behind a DequantizeLinear of scale sx · sw_c, axis 0
    const ir::Node& db = producer_of(g, g.nodes[static_cast<size_t>(node_of(g, "c1"))].input(2));
    ASSERT_EQ(db.op_type, "DequantizeLinear");
    const Tensor* codes = g.constant(db.input(0));
    const Tensor* scales = g.constant(db.input(1));
    ASSERT_TRUE(codes && scales);
    ASSERT_EQ(codes->dtype(), DType::Int32);
    const std::vector<float> b = {0.5f, -0.25f, 0.125f};
    for (int c = 0; c < 3; ++c) {
        const float s = sx * 0.01f * static_cast<float>(c + 1);
        EXPECT_EQ(scales->data<float>()[c], s);
        EXPECT_EQ(codes->data<int32_t>()[c], static_cast<int32_t>(std::nearbyint(b[c] / double(s))));
    }
    EXPECT_EQ(db.attr_int("axis", 1), 0);
    EXPECT_EQ(g.find_initializer("b1"), nullptr) << "float bias left behind";
    // ORT: conv1 with its Relu folded into the Q → QLinearConv; conv2 writes a graph output
    EXPECT_EQ(rewrite::ort_qdq_fusion(g, node_of(g, "c1")), "QLinearConv");
    EXPECT_EQ(rewrite::ort_qdq_fusion(g, node_of(g, "y")), "none: output is a graph output");
    // and the graph still computes the layers
    g.sort_topologically();
    EXPECT_LE(test::rel_error(engine::Session(m).run(x).at(0), want), kQdqRelTol);
}

TEST(ActRewrite, DeadChannelGetsItsWeightScaleRaisedInsteadOfASaturatedBias) {
    ir::Model m = empty_model({1, 2, 4, 4}, {1, 2, 4, 4});
    rewrite::GridWeight gw = grid({2, 2, 1, 1}, 0, 8, 5);
    gw.scales[1] = 1e-20f;  // channel 1: weights of 1e-18 at most, bias 0.5
    const std::string w = rewrite::emit_grid_weight(m, "w", gw, rewrite::WeightFormat::Qdq);
    m.graph.initializers.push_back({"b", Tensor::from_floats({2}, {0.25f, 0.5f}), ""});
    m.graph.nodes.push_back(node("Conv", {"x", w, "b"}, {"c"}));
    m.graph.nodes.push_back(node("Relu", {"c"}, {"y"}));
    m.graph.rebuild_index();
    const auto sites = rewrite::plan_act_sites(m.graph, {"c"});
    const float sx = 0.02f;
    rewrite::insert_act_qdq(m, sites, {{"x", {sx, 128}}, {"c", {0.05f, 0}}});
    const auto rw = rewrite::prepare_act_targets(m, {"c"});
    EXPECT_EQ(rw.saturated_biases, 0);
    const ir::Graph& g = m.graph;
    const ir::Node& dw = producer_of(g, w);
    const Tensor* sw = g.constant(dw.input(1));
    const Tensor* codes = g.constant(dw.input(0));
    const float raised = static_cast<float>(0.5 / (double(sx) * double(1 << 30)));
    EXPECT_EQ(sw->data<float>()[0], gw.scales[0]);  // the live channel is untouched
    EXPECT_EQ(sw->data<float>()[1], raised);
    for (int i = 2; i < 4; ++i) EXPECT_EQ(codes->data<int8_t>()[i], 0);  // 1e-18-sized weights round to 0 on the new scale
    const Tensor* bias = g.constant(producer_of(g, g.nodes[static_cast<size_t>(node_of(g, "c"))].input(2)).input(0));
    EXPECT_EQ(bias->data<int32_t>()[1], static_cast<int32_t>(std::nearbyint(0.5 / double(sx * raised))));
}

TEST(ActRewrite, GemmGetsAWeightZeroPointAndBetaFolded) {
    ir::Model m = empty_model({2, 4}, {2, 3});
    const std::string w = rewrite::emit_grid_weight(m, "w", grid({3, 4}, 0, 8, 3), rewrite::WeightFormat::Qdq);
    m.graph.initializers.push_back({"b", Tensor::from_floats({3}, {1.0f, 2.0f, 3.0f}), ""});
    ir::Node gemm = node("Gemm", {"x", w, "b"}, {"y"});
    gemm.attributes.push_back(ir::Attribute::make_int("transB", 1));
    gemm.attributes.push_back(ir::Attribute::make_float("beta", 0.5f));
    m.graph.nodes.push_back(gemm);
    m.graph.rebuild_index();
    const Tensor x = test::normal_tensor({2, 4}, 9);
    const Tensor want = engine::Session(m).run(x).at(0);
    ir::Graph& g = m.graph;
    const auto sites = rewrite::plan_act_sites(g, {"y"});
    ASSERT_EQ(sites.size(), 1u);
    const auto params = minmax_params(m, sites, x);
    const float sx = params.at("x").scale;
    rewrite::insert_act_qdq(m, sites, params);
    const auto rw = rewrite::prepare_act_targets(m, {"y"});
    ASSERT_EQ(rw.extra_bits.size(), 1u);
    EXPECT_EQ(rw.extra_bits[0], 3 * 8);
    const ir::Node& n = g.nodes[static_cast<size_t>(node_of(g, "y"))];
    EXPECT_EQ(n.attr_float("beta", 0), 1.0f);
    const ir::Node& dw = producer_of(g, n.input(1));
    ASSERT_EQ(dw.inputs.size(), 3u);
    const Tensor* zp = g.constant(dw.input(2));
    ASSERT_TRUE(zp);
    EXPECT_EQ(zp->dtype(), DType::Int8);
    EXPECT_EQ(zp->shape(), Shape({3}));
    const Tensor* codes = g.constant(producer_of(g, n.input(2)).input(0));
    EXPECT_EQ(codes->data<int32_t>()[2], static_cast<int32_t>(std::nearbyint(0.5 * 3.0 / double(sx * 0.03f))));
    EXPECT_EQ(rewrite::ort_qdq_fusion(g, node_of(g, "y")), "QGemm (float output)");
    g.sort_topologically();
    EXPECT_LE(test::rel_error(engine::Session(m).run(x).at(0), want), kQdqRelTol);
}

TEST(ActRewrite, MatMulNeedsItsOutputQuantized) {
    ir::Model m = empty_model({2, 4}, {2, 2});
    const std::string w1 = rewrite::emit_grid_weight(m, "w1", grid({4, 3}, 1, 8, 4), rewrite::WeightFormat::Qdq);
    const std::string w2 = rewrite::emit_grid_weight(m, "w2", grid({3, 2}, 1, 8, 5), rewrite::WeightFormat::Qdq);
    m.graph.nodes.push_back(node("MatMul", {"x", w1}, {"h"}));
    m.graph.nodes.push_back(node("MatMul", {"h", w2}, {"y"}));
    m.graph.rebuild_index();
    const auto sites = rewrite::plan_act_sites(m.graph, {"h", "y"});
    ASSERT_EQ(sites.size(), 2u);
    rewrite::insert_act_qdq(m, sites, {{"x", {0.03f, 128}}, {"h", {0.05f, 120}}});
    (void)rewrite::prepare_act_targets(m, {"h", "y"});
    EXPECT_EQ(rewrite::ort_qdq_fusion(m.graph, node_of(m.graph, "h")), "QLinearMatMul");
    EXPECT_EQ(rewrite::ort_qdq_fusion(m.graph, node_of(m.graph, "y")), "none: output is a graph output");
}

// x → conv (int8) → Clip(0, 6) → conv2 (int8) → y, with the clip output's grid given.
std::string clip_fusion(float scale, int32_t zero_point) {
    ir::Model m = empty_model({1, 2, 4, 4}, {1, 2, 4, 4});
    const std::string w1 = rewrite::emit_grid_weight(m, "w1", grid({2, 2, 1, 1}, 0, 8, 6), rewrite::WeightFormat::Qdq);
    const std::string w2 = rewrite::emit_grid_weight(m, "w2", grid({2, 2, 1, 1}, 0, 8, 7), rewrite::WeightFormat::Qdq);
    m.graph.initializers.push_back({"lo", Tensor::scalar_float(0.0f), ""});
    m.graph.initializers.push_back({"hi", Tensor::scalar_float(6.0f), ""});
    m.graph.nodes.push_back(node("Conv", {"x", w1}, {"c"}));
    m.graph.nodes.push_back(node("Clip", {"c", "lo", "hi"}, {"z"}));
    m.graph.nodes.push_back(node("Conv", {"z", w2}, {"y"}));
    m.graph.rebuild_index();
    const auto sites = rewrite::plan_act_sites(m.graph, {"c", "y"});
    EXPECT_EQ(sites.at(1).value, "z");
    EXPECT_EQ(sites.at(1).hi_bound, 6.0);
    rewrite::insert_act_qdq(m, sites, {{"x", {0.02f, 128}}, {"z", {scale, zero_point}}});
    (void)rewrite::prepare_act_targets(m, {"c", "y"});
    return rewrite::ort_qdq_fusion(m.graph, node_of(m.graph, "c"));
}

TEST(ActRewrite, ClipIsFoldedOnlyWhenTheQuantizeLinearMakesItRedundant) {
    EXPECT_EQ(clip_fusion(6.0f / 255.0f, 0), "QLinearConv");  // Q's range is the clip's
    EXPECT_EQ(clip_fusion(4.0f / 255.0f, 0), "QLinearConv");  // narrower: the Q clips harder
    EXPECT_EQ(clip_fusion(8.0f / 255.0f, 0), "none: the Clip after it is not made redundant by a QuantizeLinear");
    EXPECT_EQ(clip_fusion(6.0f / 255.0f, 10), "none: the Clip after it is not made redundant by a QuantizeLinear");
}

TEST(ActRewrite, FourBitWeightCodesAreWidenedToInt8) {
    ir::Model m = empty_model({1, 2, 4, 4}, {1, 2, 4, 4}, 21);
    const rewrite::GridWeight gw = grid({2, 2, 1, 1}, 0, 4, 8);
    const std::string w = rewrite::emit_grid_weight(m, "w", gw, rewrite::WeightFormat::Qdq);
    m.graph.nodes.push_back(node("Conv", {"x", w}, {"c"}));
    m.graph.nodes.push_back(node("Relu", {"c"}, {"y"}));
    m.graph.rebuild_index();
    const std::string codes = producer_of(m.graph, w).input(0);
    ASSERT_EQ(m.graph.constant(codes)->dtype(), DType::Int4);
    EXPECT_EQ(rewrite::act_target_blocker(m.graph, node_of(m.graph, "c")), "");
    const auto sites = rewrite::plan_act_sites(m.graph, {"c"});
    ASSERT_EQ(sites.size(), 2u);  // the Relu writes the graph output: the conv's own output is quantized
    EXPECT_EQ(sites[1].value, "c");
    rewrite::insert_act_qdq(m, sites, {{"x", {0.02f, 128}}, {"c", {0.02f, 128}}});
    (void)rewrite::prepare_act_targets(m, {"c"});
    const Tensor* wide = m.graph.constant(codes);
    ASSERT_EQ(wide->dtype(), DType::Int8);
    for (int64_t i = 0; i < wide->numel(); ++i) EXPECT_EQ(wide->data<int8_t>()[i], gw.codes[static_cast<size_t>(i)]);
    EXPECT_EQ(rewrite::ort_qdq_fusion(m.graph, node_of(m.graph, "c")), "QLinearConv");
}

TEST(ActRewrite, BlockersNameWhatTheInt8KernelsCannotTake) {
    ir::Model m = empty_model({1, 2, 4, 4}, {1, 2, 4, 4});
    m.graph.initializers.push_back({"wf", test::normal_tensor({2, 2, 1, 1}, 1), ""});
    const std::string wc = rewrite::emit_grid_weight(m, "wc", grid({2, 2, 1, 1}, 1, 8, 2), rewrite::WeightFormat::Qdq);
    // pq's shape of weight: a Gather of a codebook, reshaped
    m.graph.initializers.push_back({"book", test::normal_tensor({4, 2}, 3), ""});
    m.graph.initializers.push_back({"idx", Tensor::from_int64s({2}, {0, 3}), ""});
    m.graph.initializers.push_back({"shape", Tensor::from_int64s({4}, {2, 2, 1, 1}), ""});
    m.graph.nodes.push_back(node("Gather", {"book", "idx"}, {"g"}));
    m.graph.nodes.push_back(node("Reshape", {"g", "shape"}, {"wpq"}));
    m.graph.nodes.push_back(node("Conv", {"x", "wf"}, {"a"}));
    m.graph.nodes.push_back(node("Conv", {"a", wc}, {"b"}));
    m.graph.nodes.push_back(node("Conv", {"b", "wpq"}, {"y"}));
    m.graph.rebuild_index();
    EXPECT_EQ(rewrite::act_target_blocker(m.graph, node_of(m.graph, "a")), "weight is not integer codes behind a DequantizeLinear");
    EXPECT_EQ(rewrite::act_target_blocker(m.graph, node_of(m.graph, "b")), "weight scales are not per output channel");
    EXPECT_EQ(rewrite::act_target_blocker(m.graph, node_of(m.graph, "y")), "weight is a Gather of a float codebook (pq), not integer codes");
}

TEST(ActRewrite, FloatLayerBetweenQuantizedNeighboursIsWhatOrtWouldQuantize) {
    // x → t1 (int8) → f (float) → Relu → t2 (int8) → y
    ir::Model m = empty_model({1, 2, 4, 4}, {1, 2, 4, 4});
    const std::string w1 = rewrite::emit_grid_weight(m, "w1", grid({2, 2, 1, 1}, 0, 8, 1), rewrite::WeightFormat::Qdq);
    const std::string w2 = rewrite::emit_grid_weight(m, "w2", grid({2, 2, 1, 1}, 0, 8, 2), rewrite::WeightFormat::Qdq);
    m.graph.initializers.push_back({"wf", test::normal_tensor({2, 2, 1, 1}, 3), ""});
    m.graph.nodes.push_back(node("Conv", {"x", w1}, {"t1"}));
    m.graph.nodes.push_back(node("Conv", {"t1", "wf"}, {"f"}));
    m.graph.nodes.push_back(node("Relu", {"f"}, {"r"}));
    m.graph.nodes.push_back(node("Conv", {"r", w2}, {"y"}));
    m.graph.rebuild_index();
    EXPECT_FALSE(rewrite::ort_quantizes_float_weights(m.graph, node_of(m.graph, "f")));  // float input yet
    const auto sites = rewrite::plan_act_sites(m.graph, {"t1", "y"});
    ASSERT_EQ(sites.size(), 3u);  // x, t1 (its only reader is the float conv), r
    std::map<std::string, quant::ActParams> params;
    for (const auto& s : sites) params[s.value] = {0.02f, s.value == "r" ? 0 : 128};
    rewrite::insert_act_qdq(m, sites, params);
    EXPECT_TRUE(rewrite::ort_quantizes_float_weights(m.graph, node_of(m.graph, "f")));
    EXPECT_FALSE(rewrite::ort_quantizes_float_weights(m.graph, node_of(m.graph, "t1")));  // integer weight already
}

}  // namespace
}  // namespace qcp
