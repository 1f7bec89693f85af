#include <gtest/gtest.h>

#include "qcp/core/error.hpp"
#include "qcp/engine/session.hpp"

namespace qcp {
namespace {

ir::Model one_node_model(const std::string& op) {
    ir::Model m;
    m.opset_import = {{"", 13}};
    ir::ValueInfo x;
    x.name = "x";
    x.dtype = DType::Float32;
    m.graph.inputs.push_back(x);
    ir::ValueInfo y = x;
    y.name = "y";
    m.graph.outputs.push_back(y);
    ir::Node n;
    n.op_type = op;
    n.name = "the_node";
    n.inputs = {"x"};
    n.outputs = {"y"};
    m.graph.nodes.push_back(n);
    m.graph.rebuild_index();
    return m;
}

// Conv ("conv": x, w → c, no bias) then Relu (c → relu_out), opset 13, float input "x" and float
// graph outputs `outputs` (relu_out among them, or the outputs of nodes the caller appends before
// calling rebuild_index). The 4×3×3×3 weight "w" holds small integers, element i being
// (i·w_step mod w_mod) − ⌊w_mod/2⌋, so sums are exact and the Conv's output has both signs.
ir::Model conv_relu_model(const std::vector<std::string>& outputs, const std::string& relu_out, int64_t w_step,
                          int64_t w_mod) {
    ir::Model m;
    m.opset_import = {{"", 13}};
    ir::ValueInfo x;
    x.name = "x";
    x.dtype = DType::Float32;
    m.graph.inputs.push_back(x);
    for (const std::string& name : outputs) {
        ir::ValueInfo o = x;
        o.name = name;
        m.graph.outputs.push_back(o);
    }
    Tensor w(DType::Float32, {4, 3, 3, 3});
    for (int64_t i = 0; i < w.numel(); ++i) w.data<float>()[i] = static_cast<float>((i * w_step) % w_mod - w_mod / 2);
    m.graph.initializers.push_back({"w", w, ""});
    ir::Node conv;
    conv.op_type = "Conv";
    conv.name = "conv";
    conv.inputs = {"x", "w"};
    conv.outputs = {"c"};
    ir::Node relu;
    relu.op_type = "Relu";
    relu.inputs = {"c"};
    relu.outputs = {relu_out};
    m.graph.nodes = {conv, relu};
    return m;
}

TEST(Session, UnknownOpIsRefusedBeforeRunningNamingNodeAndOp) {
    const ir::Model m = one_node_model("NoSuchOp");
    try {
        engine::Session s(m);
        FAIL() << "accepted";
    } catch (const Error& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("the_node"), std::string::npos) << what;
        EXPECT_NE(what.find("NoSuchOp"), std::string::npos) << what;
    }
}

}  // namespace
}  // namespace qcp

namespace qcp {
namespace {

// Conv → Relu runs fused; an observer on the Conv must still see the un-rectified output.
TEST(Session, FusedConvReluMatchesUnfusedAndObserversSeePreActivation) {
    ir::Model m = conv_relu_model({"y"}, "y", 37, 11);
    m.graph.rebuild_index();
    Tensor in(DType::Float32, {2, 3, 6, 6});
    for (int64_t i = 0; i < in.numel(); ++i) in.data<float>()[i] = static_cast<float>((i * 13) % 7) - 3.0f;

    engine::Session fused(m);
    const Tensor a = fused.run(in).at(0);
    engine::Session watched(m);
    float min_seen = 0.0f;
    watched.observe(0, [&](const ir::Node&, const std::vector<const Tensor*>&, const std::vector<Tensor>& out) {
        const float* p = out[0].data<float>();
        for (int64_t i = 0; i < out[0].numel(); ++i) min_seen = std::min(min_seen, p[i]);
    });
    const Tensor b = watched.run(in).at(0);
    EXPECT_TRUE(a == b);
    EXPECT_LT(min_seen, 0.0f) << "the observer saw rectified values";
    for (int64_t i = 0; i < a.numel(); ++i) ASSERT_GE(a.data<float>()[i], 0.0f);
}

}  // namespace
}  // namespace qcp

namespace qcp {
namespace {

// run_node: one node outside a Session gives what the Session computes for it, fused Relu and
// multi-output nodes included.
TEST(RunNode, MatchesSessionForFusedConvAndMultiOutputSplit) {
    ir::Model m = conv_relu_model({"a", "b"}, "r", 29, 13);
    ir::Node split;
    split.op_type = "Split";
    split.inputs = {"r", "sizes"};
    split.outputs = {"a", "b"};
    split.attributes.push_back(ir::Attribute::make_int("axis", 1));
    Tensor sizes(DType::Int64, {2});
    sizes.data<int64_t>()[0] = 1, sizes.data<int64_t>()[1] = 3;
    m.graph.initializers.push_back({"sizes", sizes, ""});
    m.graph.nodes.push_back(split);
    m.graph.rebuild_index();
    const Tensor& w = m.graph.find_initializer("w")->tensor;
    Tensor in(DType::Float32, {2, 3, 5, 5});
    for (int64_t i = 0; i < in.numel(); ++i) in.data<float>()[i] = static_cast<float>((i * 17) % 9) - 4.0f;

    const std::vector<Tensor> want = engine::Session(m).run(in);
    const std::vector<Tensor> c = engine::run_node(m.graph.nodes[0], 13, {&in, &w}, true);  // Conv with the Relu fused
    ASSERT_EQ(c.size(), 1u);
    const std::vector<Tensor> ab = engine::run_node(m.graph.nodes[2], 13, {&c[0], &sizes});
    ASSERT_EQ(ab.size(), 2u);
    for (size_t o = 0; o < 2; ++o) {
        ASSERT_EQ(ab[o].shape(), want[o].shape());
        for (int64_t i = 0; i < want[o].numel(); ++i) ASSERT_EQ(ab[o].data<float>()[i], want[o].data<float>()[i]) << o << " " << i;
    }
    // unfused: the Conv's own output keeps its negatives
    const std::vector<Tensor> raw = engine::run_node(m.graph.nodes[0], 13, {&in, &w});
    bool negative = false;
    for (int64_t i = 0; i < raw[0].numel(); ++i) negative |= raw[0].data<float>()[i] < 0;
    EXPECT_TRUE(negative);
}

TEST(RunNode, UnknownOpIsRefusedNamingNodeAndOp) {
    ir::Node n;
    n.op_type = "NoSuchOp";
    n.name = "odd";
    try {
        (void)engine::bind_kernel(n, 13);
        FAIL() << "accepted";
    } catch (const Error& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("odd"), std::string::npos) << what;
        EXPECT_NE(what.find("NoSuchOp"), std::string::npos) << what;
    }
}

}  // namespace
}  // namespace qcp
