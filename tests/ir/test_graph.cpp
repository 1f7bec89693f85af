#include <gtest/gtest.h>

#include "ir_builders.hpp"
#include "qcp/core/error.hpp"

namespace qcp::ir {
namespace {

using test::make_node;
using test::make_value;

Graph chain_graph() {
    // nodes listed out of order: c needs b needs a
    Graph g;
    g.inputs.push_back(make_value("x", {1, 4}));
    g.outputs.push_back(make_value("z", {1, 4}));
    g.nodes.push_back(make_node("Relu", {"y2"}, {"z"}, "c"));
    g.nodes.push_back(make_node("Abs", {"y1"}, {"y2"}, "b"));
    g.nodes.push_back(make_node("Neg", {"x"}, {"y1"}, "a"));
    g.rebuild_index();
    return g;
}

TEST(Graph, TopologicalOrderPutsProducersFirst) {
    Graph g = chain_graph();
    EXPECT_EQ(g.topological_order(), std::vector<int>({2, 1, 0}));
    EXPECT_EQ(g.producer("y2"), 1);
    EXPECT_EQ(g.consumers("x"), std::vector<int>({2}));
    EXPECT_EQ(g.producer("x"), -1);
}

TEST(Graph, CycleAndMissingInputAreErrors) {
    Graph g = chain_graph();
    g.nodes[2].inputs[0] = "z";  // a reads c's output: a cycle
    g.rebuild_index();
    EXPECT_THROW(g.topological_order(), Error);
    Graph h = chain_graph();
    h.nodes[2].inputs[0] = "nowhere";
    h.rebuild_index();
    try {
        h.topological_order();
        FAIL() << "expected an error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("nowhere"), std::string::npos);
    }
}

TEST(Graph, ConstantsThroughInitializersConstantNodesAndIdentity) {
    Graph g;
    g.initializers.push_back({"w", Tensor::from_floats({2}, {1.f, 2.f}), ""});
    g.nodes.push_back(make_node("Identity", {"w"}, {"w_id"}));
    g.nodes.push_back(make_node("Identity", {"w_id"}, {"w_id2"}));
    Node c = make_node("Constant", {}, {"k"});
    c.attributes.push_back(Attribute::make_tensor("value", Tensor::from_floats({1}, {5.f})));
    g.nodes.push_back(c);
    Node cf = make_node("Constant", {}, {"kf"});
    cf.attributes.push_back(Attribute::make_floats("value_floats", {1.f, 2.f, 3.f}));
    g.nodes.push_back(cf);
    g.nodes.push_back(make_node("Relu", {"w"}, {"r"}));
    g.rebuild_index();
    ASSERT_NE(g.constant("w_id2"), nullptr);
    EXPECT_EQ(g.constant("w_id2")->to_float_vector(), std::vector<float>({1.f, 2.f}));
    EXPECT_EQ(g.constant_source("w_id2"), "w");
    ASSERT_NE(g.constant("k"), nullptr);
    EXPECT_EQ(g.constant("k")->to_float_vector(), std::vector<float>({5.f}));
    ASSERT_NE(g.constant("kf"), nullptr);
    EXPECT_EQ(g.constant("kf")->shape(), Shape({3}));
    EXPECT_EQ(g.constant("r"), nullptr);
}

TEST(Graph, UniqueNameAvoidsExistingValues) {
    Graph g = chain_graph();
    EXPECT_EQ(g.unique_name("fresh"), "fresh");
    EXPECT_EQ(g.unique_name("y1"), "y1_1");
}

TEST(Model, OpsetAndMetadata) {
    Model m;
    m.opset_import = {{"", 13}, {"com.microsoft", 1}};
    EXPECT_EQ(m.opset(""), 13);
    EXPECT_EQ(m.opset("ai.onnx"), 13);
    EXPECT_EQ(m.opset("com.microsoft"), 1);
    m.set_opset("", 21);
    EXPECT_EQ(m.opset(""), 21);
    m.set_metadata("a", "1");
    m.set_metadata("a", "2");
    ASSERT_EQ(m.metadata_props.size(), 1u);
    EXPECT_EQ(m.metadata_props[0].second, "2");
}

}  // namespace
}  // namespace qcp::ir
