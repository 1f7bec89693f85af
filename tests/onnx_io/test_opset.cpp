// onnx_io::convert_opset: what each adapter writes and what is refused. Whether converted models
// compute what the originals did is tested on every engine fixture (engine/test_ort_fixtures.cpp
// in the engine, tools/opset_ort_check.sh in ONNX Runtime).
#include <gtest/gtest.h>

#include <algorithm>

#include "qcp/core/error.hpp"
#include "qcp/onnx_io/onnx_io.hpp"
#include "qcp/onnx_io/opset.hpp"

namespace qcp {
namespace {

ir::ValueInfo float_value(const std::string& name, std::vector<ir::Dim> dims) {
    ir::ValueInfo v;
    v.name = name;
    v.dtype = DType::Float32;
    v.has_shape = true;
    v.dims = std::move(dims);
    return v;
}

ir::Node make_node(const std::string& op, std::vector<std::string> inputs, std::vector<std::string> outputs,
                   std::vector<ir::Attribute> attrs = {}) {
    ir::Node n;
    n.op_type = op;
    n.name = op + "_0";
    n.inputs = std::move(inputs);
    n.outputs = std::move(outputs);
    n.attributes = std::move(attrs);
    return n;
}

// x (dims) → one node → outputs; shapes inferred as after loading.
ir::Model one_node(int64_t opset, ir::Node node, std::vector<ir::Dim> dims = {{2, ""}, {3, ""}, {4, ""}}) {
    ir::Model m;
    m.ir_version = 7;
    m.opset_import = {{"", opset}};
    m.graph.inputs = {float_value("x", std::move(dims))};
    for (const auto& o : node.outputs) m.graph.outputs.push_back(float_value(o, {}));
    for (auto& o : m.graph.outputs) o.has_shape = false;
    m.graph.nodes.push_back(std::move(node));
    m.graph.rebuild_index();
    onnx_io::infer_shapes(m);
    return m;
}

const ir::Node& only(const ir::Model& m, const std::string& op) {
    const auto it = std::find_if(m.graph.nodes.begin(), m.graph.nodes.end(), [&](const ir::Node& n) { return n.op_type == op; });
    EXPECT_NE(it, m.graph.nodes.end()) << "no " << op;
    return *it;
}

std::string refusal(ir::Model m, int64_t target) {
    try {
        onnx_io::convert_opset(m, target);
    } catch (const Error& e) {
        return e.what();
    }
    return "(converted)";
}

TEST(Opset, SameOpsetIsANoOp) {
    ir::Model m = one_node(13, make_node("Relu", {"x"}, {"y"}));
    const auto r = onnx_io::convert_opset(m, 13);
    EXPECT_EQ(r.from, 13);
    EXPECT_EQ(r.to, 13);
    EXPECT_EQ(m.opset(""), 13);
    EXPECT_EQ(m.graph.nodes.size(), 1u);
}

TEST(Opset, LowerOrOutOfRangeTargetsAreRefused) {
    const ir::Model m = one_node(13, make_node("Relu", {"x"}, {"y"}));
    EXPECT_NE(refusal(m, 11).find("lower than the model's opset 13"), std::string::npos) << refusal(m, 11);
    EXPECT_NE(refusal(m, 22).find("out of range"), std::string::npos);
    EXPECT_NE(refusal(m, 6).find("out of range"), std::string::npos);
}

TEST(Opset, StepsUpToTheTargetAndRaisesTheIrVersion) {
    ir::Model m = one_node(9, make_node("Relu", {"x"}, {"y"}));
    m.ir_version = 4;
    const auto r = onnx_io::convert_opset(m, 21);
    EXPECT_EQ(m.opset(""), 21);
    EXPECT_EQ(m.ir_version, 10);  // the IR version ONNX 1.16 introduced opset 21 with
    EXPECT_EQ(r.onnx_steps, 2);   // Relu changed at 13 and 14: ONNX's converter ran for those steps
    EXPECT_TRUE(r.nodes.empty());
}

TEST(Opset, ReduceAxesBecomeAnInputAt18) {
    ir::Model m = one_node(17, make_node("ReduceMean", {"x"}, {"y"}, {ir::Attribute::make_ints("axes", {1, -1})}));
    onnx_io::convert_opset(m, 18);
    const ir::Node& n = only(m, "ReduceMean");
    EXPECT_EQ(n.attr("axes"), nullptr);
    ASSERT_EQ(n.inputs.size(), 2u);
    const Tensor* axes = m.graph.constant(n.inputs[1]);
    ASSERT_NE(axes, nullptr);
    EXPECT_EQ(axes->to_int64_vector(), (std::vector<int64_t>{1, -1}));
}

TEST(Opset, ReduceSumAxesBecomeAnInputAt13ByOnnxConverter) {
    ir::Model m = one_node(11, make_node("ReduceSum", {"x"}, {"y"}, {ir::Attribute::make_ints("axes", {2})}));
    onnx_io::convert_opset(m, 13);
    const ir::Node& n = only(m, "ReduceSum");
    ASSERT_EQ(n.inputs.size(), 2u);
    ASSERT_NE(m.graph.constant(n.inputs[1]), nullptr);
    EXPECT_EQ(m.graph.constant(n.inputs[1])->to_int64_vector(), std::vector<int64_t>{2});
}

TEST(Opset, EqualSplitGetsNumOutputsAt18) {
    ir::Model m = one_node(13, make_node("Split", {"x"}, {"a", "b"}, {ir::Attribute::make_int("axis", 2)}));
    onnx_io::convert_opset(m, 18);
    EXPECT_EQ(only(m, "Split").attr_int("num_outputs", 0), 2);
}

TEST(Opset, SoftmaxOnAnInnerAxisIsFlattenedAndReshapedToTheRuntimeShape) {
    ir::Model m = one_node(11, make_node("Softmax", {"x"}, {"y"}, {ir::Attribute::make_int("axis", 1)}),
                           {{-1, "N"}, {3, ""}, {4, ""}});
    const auto r = onnx_io::convert_opset(m, 13);
    ASSERT_EQ(r.nodes.size(), 1u);
    EXPECT_EQ(only(m, "Flatten").attr_int("axis", 0), 1);
    EXPECT_EQ(only(m, "Softmax").attr_int("axis", 0), -1);
    const ir::Node& reshape = only(m, "Reshape");
    EXPECT_EQ(reshape.outputs.at(0), "y");  // the graph output keeps its name
    EXPECT_EQ(m.graph.nodes[static_cast<size_t>(m.graph.producer(reshape.inputs.at(1)))].op_type, "Shape");
}

TEST(Opset, SoftmaxOnTheLastAxisOnlyGetsAxisMinusOne) {
    ir::Model m = one_node(11, make_node("Softmax", {"x"}, {"y"}, {ir::Attribute::make_int("axis", 2)}));
    onnx_io::convert_opset(m, 13);
    EXPECT_EQ(m.graph.nodes.size(), 1u);
    EXPECT_EQ(only(m, "Softmax").attr_int("axis", 0), -1);
}

TEST(Opset, PadWithoutValueGetsPadsInputAndTheDefaultValue) {
    ir::Model m = one_node(10, make_node("Pad", {"x"}, {"y"}, {ir::Attribute::make_ints("pads", {0, 1, 0, 0, 1, 0})}));
    onnx_io::convert_opset(m, 11);
    const ir::Node& n = only(m, "Pad");
    ASSERT_EQ(n.inputs.size(), 2u);  // no constant_value: 0 is its default
    EXPECT_EQ(m.graph.constant(n.inputs[1])->to_int64_vector(), (std::vector<int64_t>{0, 1, 0, 0, 1, 0}));
    EXPECT_EQ(n.attr("pads"), nullptr);
}

TEST(Opset, ResizeAt10BecomesAsymmetricWithItsRounding) {
    ir::Model m = one_node(10, make_node("Resize", {"x", "scales"}, {"y"}), {{1, ""}, {1, ""}, {4, ""}, {4, ""}});
    m.graph.initializers.push_back({"scales", Tensor::from_floats({4}, {1, 1, 0.5f, 0.5f}), ""});
    m.graph.rebuild_index();
    onnx_io::convert_opset(m, 11);
    const ir::Node& n = only(m, "Resize");
    EXPECT_EQ(n.attr_string("coordinate_transformation_mode", ""), "asymmetric");
    EXPECT_EQ(n.attr_string("nearest_mode", ""), "ceil");  // ONNX Runtime's opset-10 rounding when shrinking
    ASSERT_EQ(n.inputs.size(), 3u);
    EXPECT_EQ(n.inputs[2], "scales");
}

TEST(Opset, ResizeAt10WithMixedScalesIsRefused) {
    ir::Model m = one_node(10, make_node("Resize", {"x", "scales"}, {"y"}), {{1, ""}, {1, ""}, {4, ""}, {4, ""}});
    m.graph.initializers.push_back({"scales", Tensor::from_floats({4}, {1, 1, 2, 0.5f}), ""});
    m.graph.rebuild_index();
    EXPECT_NE(refusal(m, 13).find("Resize 'Resize_0'"), std::string::npos) << refusal(m, 13);
}

TEST(Opset, OpWithoutAdapterIsRefusedNamingOpAndOpsets) {
    ir::Model m = one_node(18, make_node("GroupNormalization", {"x", "s", "b"}, {"y"}, {ir::Attribute::make_int("num_groups", 1)}));
    m.graph.initializers.push_back({"s", Tensor::from_floats({1}, {1}), ""});
    m.graph.initializers.push_back({"b", Tensor::from_floats({1}, {0}), ""});
    m.graph.rebuild_index();
    const std::string e = refusal(m, 21);
    EXPECT_NE(e.find("GroupNormalization"), std::string::npos) << e;
    EXPECT_NE(e.find("20→21"), std::string::npos) << e;
    EXPECT_EQ(refusal(m, 20), "(converted)");  // unchanged until 21
}

TEST(Opset, UsedDropoutMaskIsRefused) {
    ir::Model m = one_node(9, make_node("Dropout", {"x"}, {"y", "mask"}));
    EXPECT_NE(refusal(m, 13).find("mask"), std::string::npos);
}

TEST(Opset, SubGraphsAreRefused) {
    ir::Node n = make_node("If", {"x"}, {"y"});
    ir::Attribute g;
    g.name = "then_branch";
    g.type = ir::AttrType::Graph;
    n.attributes.push_back(g);
    ir::Model m = one_node(11, std::move(n));
    EXPECT_NE(refusal(m, 13).find("sub-graph"), std::string::npos) << refusal(m, 13);
}

TEST(Opset, NodesOfOtherDomainsAreLeftAlone) {
    // named like an ONNX op that changes at 13: ONNX 1.12's converter would adapt it
    ir::Node custom = make_node("Split", {"x"}, {"a", "b"}, {ir::Attribute::make_ints("split", {1, 2})});
    custom.domain = "com.example";
    ir::Model m = one_node(11, std::move(custom));
    m.opset_import.push_back({"com.example", 1});
    m.graph.nodes.push_back(make_node("Unsqueeze", {"a"}, {"u"}, {ir::Attribute::make_ints("axes", {0})}));
    m.graph.outputs.push_back(float_value("u", {}));
    m.graph.rebuild_index();
    onnx_io::convert_opset(m, 13);
    const ir::Node& c = only(m, "Split");
    EXPECT_EQ(c.domain, "com.example");
    EXPECT_EQ(c.attr_ints("split"), (std::vector<int64_t>{1, 2}));
    EXPECT_EQ(c.inputs.size(), 1u);
    EXPECT_EQ(only(m, "Unsqueeze").inputs.size(), 2u);  // the default-domain node was converted
    EXPECT_EQ(m.opset("com.example"), 1);
}

TEST(Opset, UnknownDefaultDomainOpIsRefused) {
    ir::Model m = one_node(11, make_node("NoSuchOp", {"x"}, {"y"}));
    EXPECT_NE(refusal(m, 13).find("not an ONNX operator"), std::string::npos);
}

}  // namespace
}  // namespace qcp
