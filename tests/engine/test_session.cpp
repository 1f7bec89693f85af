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
    ir::Model m;
    m.opset_import = {{"", 13}};
    ir::ValueInfo x;
    x.name = "x";
    x.dtype = DType::Float32;
    m.graph.inputs.push_back(x);
    ir::ValueInfo y = x;
    y.name = "y";
    m.graph.outputs.push_back(y);
    Tensor w(DType::Float32, {4, 3, 3, 3});
    for (int64_t i = 0; i < w.numel(); ++i) w.data<float>()[i] = static_cast<float>((i * 37) % 11) - 5.0f;
    m.graph.initializers.push_back({"w", w, ""});
    ir::Node conv;
    conv.op_type = "Conv";
    conv.name = "conv";
    conv.inputs = {"x", "w"};
    conv.outputs = {"c"};
    ir::Node relu;
    relu.op_type = "Relu";
    relu.inputs = {"c"};
    relu.outputs = {"y"};
    m.graph.nodes = {conv, relu};
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
