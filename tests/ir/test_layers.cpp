#include <gtest/gtest.h>

#include "ir_builders.hpp"
#include "qcp/ir/layers.hpp"

namespace qcp::ir {
namespace {

using test::make_node;
using test::make_value;

TEST(Layers, ConvMacsMatchHandCount) {
    // Conv 4 -> 8 channels, 3x3, stride 2, pad 1 on 10x10: output 5x5.
    // MACs = Cout * Hout * Wout * Cin * kh * kw = 8 * 5 * 5 * 4 * 3 * 3 = 7200
    Graph g;
    g.inputs.push_back(make_value("x", {1, 4, 10, 10}));
    g.outputs.push_back(make_value("y", {1, 8, 5, 5}));
    g.initializers.push_back({"w", Tensor(DType::Float32, {8, 4, 3, 3}), ""});
    g.initializers.push_back({"b", Tensor(DType::Float32, {8}), ""});
    Node conv = make_node("Conv", {"x", "w", "b"}, {"y"}, "conv");
    conv.attributes.push_back(Attribute::make_ints("strides", {2, 2}));
    conv.attributes.push_back(Attribute::make_ints("pads", {1, 1, 1, 1}));
    g.nodes.push_back(conv);
    g.rebuild_index();
    auto layers = find_layers(g);
    ASSERT_EQ(layers.size(), 1u);
    EXPECT_EQ(layers[0].macs, 7200);
    EXPECT_EQ(layers[0].params, 8 * 4 * 9 + 8);
    EXPECT_EQ(layers[0].unusable, "");
    EXPECT_EQ(count_params(g), 8 * 4 * 9 + 8);
}

TEST(Layers, GemmMatMulAndDepthwise) {
    Graph g;
    ir::ValueInfo x = make_value("x", {1, 16});
    x.dims[0] = {-1, "batch"};  // dynamic batch counts as 1
    g.inputs.push_back(x);
    g.inputs.push_back(make_value("img", {1, 6, 8, 8}));
    g.outputs.push_back(make_value("y", {1, 8}));
    g.outputs.push_back(make_value("z", {1, 4}));
    g.outputs.push_back(make_value("d", {1, 6, 8, 8}));
    g.initializers.push_back({"wg", Tensor(DType::Float32, {8, 16}), ""});
    g.initializers.push_back({"wm", Tensor(DType::Float32, {8, 4}), ""});
    g.initializers.push_back({"wd", Tensor(DType::Float32, {6, 1, 3, 3}), ""});
    Node gemm = make_node("Gemm", {"x", "wg"}, {"y"}, "fc");
    gemm.attributes.push_back(Attribute::make_int("transB", 1));
    g.nodes.push_back(gemm);
    g.nodes.push_back(make_node("MatMul", {"y", "wm"}, {"z"}, "mm"));
    Node dw = make_node("Conv", {"img", "wd"}, {"d"}, "dw");
    dw.attributes.push_back(Attribute::make_int("group", 6));
    dw.attributes.push_back(Attribute::make_ints("pads", {1, 1, 1, 1}));
    g.nodes.push_back(dw);
    g.rebuild_index();
    auto layers = find_layers(g);
    ASSERT_EQ(layers.size(), 3u);
    EXPECT_EQ(layers[0].macs, 16 * 8);
    EXPECT_EQ(layers[1].macs, 8 * 4);
    EXPECT_EQ(layers[2].macs, 6 * 64 * 9);
    EXPECT_EQ(layers[2].groups, 6);  // which methods take a depthwise conv: tests/pipeline (MethodTable)
    EXPECT_EQ(layers[2].unusable, "");
}

TEST(Layers, SharedAndQuantizedWeightsAreNotCompressed) {
    Graph g;
    g.inputs.push_back(make_value("x", {1, 4}));
    g.outputs.push_back(make_value("y1", {1, 4}));
    g.outputs.push_back(make_value("y2", {1, 4}));
    g.outputs.push_back(make_value("y3", {1, 4}));
    g.initializers.push_back({"w", Tensor(DType::Float32, {4, 4}), ""});
    g.initializers.push_back({"q", Tensor(DType::Int8, {4, 4}), ""});
    g.nodes.push_back(make_node("MatMul", {"x", "w"}, {"y1"}));
    g.nodes.push_back(make_node("Identity", {"w"}, {"w2"}));
    g.nodes.push_back(make_node("MatMul", {"x", "w2"}, {"y2"}));
    g.nodes.push_back(make_node("MatMul", {"x", "q"}, {"y3"}));
    g.nodes.push_back(make_node("MatMul", {"x", "y1"}, {"act"}));  // not a constant weight
    g.rebuild_index();
    auto layers = find_layers(g);
    ASSERT_EQ(layers.size(), 3u);
    EXPECT_EQ(layers[0].unusable, "weight shared by 2 nodes");
    EXPECT_EQ(layers[1].unusable, "weight shared by 2 nodes");
    EXPECT_NE(layers[2].unusable.find("int8"), std::string::npos);
}

}  // namespace
}  // namespace qcp::ir
