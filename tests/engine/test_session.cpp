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
