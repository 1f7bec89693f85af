// Load-time refusals that keep later stages from reading garbage: layer weights that are empty
// or not finite, sizes that overflow, and sizes far beyond the data behind them.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "proto_builders.hpp"
#include "qcp/core/error.hpp"
#include "qcp/core/memory.hpp"
#include "qcp/onnx_io/onnx_io.hpp"

namespace qcp {
namespace {

ir::Model parse(const onnx::ModelProto& p) {
    const std::string bytes = p.SerializeAsString();
    return onnx_io::parse_model(std::vector<uint8_t>(bytes.begin(), bytes.end()), ".", "m.onnx");
}

std::string refusal(const onnx::ModelProto& p) {
    try {
        parse(p);
    } catch (const Error& e) {
        return e.what();
    }
    return "accepted";
}

onnx::TensorProto* find_initializer(onnx::ModelProto& m, const std::string& name) {
    for (auto& t : *m.mutable_graph()->mutable_initializer())
        if (t.name() == name) return &t;
    return nullptr;
}

void set_floats(onnx::TensorProto* t, const std::vector<float>& v) {
    t->set_raw_data(v.data(), v.size() * sizeof(float));
}

TEST(LoadValidation, NonFiniteLayerWeightsAreRefusedWithTheirPlace) {
    for (const char* via : {"initializer", "constant", "identity"}) {
        SCOPED_TRACE(via);
        onnx::ModelProto m = test::small_conv_model(via);
        std::vector<float> w(8 * 4 * 9, 0.25f);
        w[17] = std::numeric_limits<float>::quiet_NaN();
        w[40] = -std::numeric_limits<float>::infinity();
        onnx::TensorProto* t = find_initializer(m, "w");
        if (!t) t = m.mutable_graph()->mutable_node(0)->mutable_attribute(0)->mutable_t();
        set_floats(t, w);
        const std::string what = refusal(m);
        EXPECT_NE(what.find("Conv 'conv0'"), std::string::npos) << what;
        EXPECT_NE(what.find("has 2 NaN or infinite values (first at element 17)"), std::string::npos) << what;
    }
    onnx::ModelProto bias = test::small_conv_model("initializer");
    std::vector<float> b(8, 0.f);
    b[5] = std::numeric_limits<float>::infinity();
    set_floats(find_initializer(bias, "b"), b);
    EXPECT_NE(refusal(bias).find("bias 'b' has 1 NaN or infinite value"), std::string::npos) << refusal(bias);
}

TEST(LoadValidation, InfinityOutsideLayersIsAllowed) {
    // attention masks and Clip bounds legitimately hold ±inf
    onnx::ModelProto m = test::small_conv_model("initializer");
    auto* g = m.mutable_graph();
    *g->add_initializer() = test::float_tensor("mask", {1}, {-std::numeric_limits<float>::infinity()});
    auto* add = g->add_node();
    add->set_op_type("Add");
    add->add_input("y");
    add->add_input("mask");
    add->add_output("masked");
    test::set_value(g->add_output(), "masked", {-1, 8, 8, 8});
    EXPECT_NO_THROW(parse(m));
}

TEST(LoadValidation, EmptyLayerWeightIsRefusedOtherEmptyTensorsAreNot) {
    onnx::ModelProto m = test::small_conv_model("initializer");
    onnx::TensorProto* w = find_initializer(m, "w");
    w->set_dims(0, 0);
    w->clear_raw_data();
    EXPECT_NE(refusal(m).find("weight 'w' is empty (shape (0, 4, 3, 3))"), std::string::npos) << refusal(m);

    onnx::ModelProto ok = test::small_conv_model("initializer");
    *ok.mutable_graph()->add_initializer() = test::float_tensor("roi", {0}, {});  // Resize's empty roi
    EXPECT_NO_THROW(parse(ok));
}

TEST(LoadValidation, SizesThatOverflowOrExceedTheDataAreRefusedWithoutAllocating) {
    const uint64_t before = memory::in_use();
    memory::reset_peak();
    struct Case {
        std::vector<int64_t> dims;
        int dtype;
        std::string needle;
    };
    const std::vector<Case> cases = {
        {{int64_t(1) << 20, int64_t(1) << 20}, onnx::TensorProto::FLOAT, "need 4398046511104"},  // 4 TiB
        {{int64_t(1) << 40, int64_t(1) << 40}, onnx::TensorProto::FLOAT, "too many elements"},
        {{int64_t(1) << 61}, onnx::TensorProto::DOUBLE, "do not fit in memory"},  // 2^67 bytes
        {{3, -2}, onnx::TensorProto::FLOAT, "negative dimension"},
    };
    for (const auto& c : cases) {
        onnx::TensorProto t;
        t.set_name("big");
        t.set_data_type(c.dtype);
        for (int64_t d : c.dims) t.add_dims(d);
        t.set_raw_data(std::string(16, '\0'));
        const std::string what = refusal(test::model_with_initializer(t));
        EXPECT_NE(what.find("tensor 'big'"), std::string::npos) << what;
        EXPECT_NE(what.find(c.needle), std::string::npos) << what;
    }
    EXPECT_LT(memory::peak_in_use(), before + (uint64_t(1) << 20));
}

TEST(LoadValidation, ShapeInferenceCrashIsContained) {
    // found by fuzz_onnx: ONNX 1.12's Conv shape inference reads out of bounds when the input's
    // rank (3) and the weight's (4) differ; it runs in a child process, so loading survives with
    // the shapes it could not infer left unknown
    onnx::ModelProto m;
    m.set_ir_version(8);
    m.add_opset_import()->set_version(13);
    auto* g = m.mutable_graph();
    g->set_name("conv");
    auto* conv = g->add_node();
    conv->set_op_type("Conv");
    conv->add_input("x");
    conv->add_input("w");
    conv->add_output("y");
    test::set_value(g->add_input(), "x", {2, 3, 7});
    test::set_value(g->add_input(), "w", {5, 3, 2, 3});
    g->add_output()->set_name("y");
    g->mutable_output(0)->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
    ir::Model loaded;
    ASSERT_NO_THROW(loaded = parse(m));
    EXPECT_EQ(loaded.graph.nodes.size(), 1u);
}

TEST(LoadValidation, CheckerStillRejectsBadModelsWithoutTheirWeights) {
    ir::Model m = parse(test::small_conv_model("initializer"));
    EXPECT_TRUE(onnx_io::check_model(m));
    m.graph.nodes[0].op_type = "NoSuchOp";
    try {
        onnx_io::check_model(m);
        ADD_FAILURE() << "checker accepted an unknown op";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("NoSuchOp"), std::string::npos) << e.what();
    }
}

}  // namespace
}  // namespace qcp
