#include <gtest/gtest.h>
#include <google/protobuf/util/message_differencer.h>

#include "proto_builders.hpp"
#include "qcp/core/error.hpp"
#include "qcp/ir/layers.hpp"
#include "qcp/onnx_io/onnx_io.hpp"
#include "test_util.hpp"

namespace qcp {
namespace {

ir::Model parse(const onnx::ModelProto& p) {
    const std::string bytes = p.SerializeAsString();
    return onnx_io::parse_model(std::vector<uint8_t>(bytes.begin(), bytes.end()), ".", "test");
}

onnx::ModelProto reparse(const std::string& bytes) {
    onnx::ModelProto p;
    EXPECT_TRUE(p.ParseFromString(bytes));
    return p;
}

// A model exercising every attribute kind, metadata, value_info, doc strings and two opsets.
onnx::ModelProto rich_model() {
    onnx::ModelProto m = test::small_conv_model("initializer");
    m.set_doc_string("model doc");
    m.set_domain("org.example");
    m.set_model_version(7);
    auto* op = m.add_opset_import();
    op->set_domain("com.example");
    op->set_version(2);
    auto* kv = m.add_metadata_props();
    kv->set_key("author");
    kv->set_value("tests");
    auto* g = m.mutable_graph();
    g->set_doc_string("graph doc");
    auto* conv = g->mutable_node(0);
    conv->set_doc_string("conv doc");
    auto add_attr = [&](const char* name, onnx::AttributeProto::AttributeType type) {
        auto* a = conv->add_attribute();
        a->set_name(name);
        a->set_type(type);
        return a;
    };
    add_attr("f", onnx::AttributeProto::FLOAT)->set_f(0.5f);
    add_attr("i", onnx::AttributeProto::INT)->set_i(-3);
    add_attr("s", onnx::AttributeProto::STRING)->set_s("text");
    auto* fs = add_attr("fs", onnx::AttributeProto::FLOATS);
    fs->add_floats(1.f);
    fs->add_floats(2.f);
    auto* ss = add_attr("ss", onnx::AttributeProto::STRINGS);
    ss->add_strings("a");
    ss->add_strings("b");
    *add_attr("t", onnx::AttributeProto::TENSOR)->mutable_t() = test::float_tensor("", {2}, {3.f, 4.f});
    // a sub-graph attribute on a custom-domain node: carried opaquely
    auto* custom = g->add_node();
    custom->set_op_type("Custom");
    custom->set_domain("com.example");
    custom->add_input("y");
    custom->add_output("y2");
    auto* sub = custom->add_attribute();
    sub->set_name("body");
    sub->set_type(onnx::AttributeProto::GRAPH);
    sub->mutable_g()->set_name("inner");
    test::set_value(g->add_output(), "y2", {-1, 8, 8, 8});
    test::set_value(g->add_value_info(), "c", {-1, 8, 8, 8});
    return m;
}

TEST(LoadSave, RoundTripIsLossless) {
    const onnx::ModelProto original = rich_model();
    ir::Model m = parse(original);
    onnx::ModelProto saved = reparse(onnx_io::serialize_model(m));
    // serialize_model keeps the producer; save_model would record qcp there
    google::protobuf::util::MessageDifferencer diff;
    std::string report;
    diff.ReportDifferencesToString(&report);
    EXPECT_TRUE(diff.Compare(original, saved)) << report;
    // and a second trip through the IR is byte-identical
    EXPECT_EQ(onnx_io::serialize_model(parse(saved)), saved.SerializeAsString());
}

TEST(LoadSave, SaveRecordsQcpAndPassesChecker) {
    test::TempDir dir;
    ir::Model m = parse(test::small_conv_model("initializer"));
    onnx_io::save_model(m, dir / "out.onnx");
    ir::Model back = onnx_io::load_model(dir / "out.onnx");
    EXPECT_EQ(back.producer_name, "qcp");
    EXPECT_TRUE(onnx_io::check_model(back));
    EXPECT_THROW(onnx_io::save_model(m, dir / "out.onnx"), Error);  // exists, no overwrite
    onnx_io::SaveOptions force;
    force.overwrite = true;
    EXPECT_NO_THROW(onnx_io::save_model(m, dir / "out.onnx", force));
}

TEST(LoadSave, WeightsBehindConstantAndIdentityAreConstant) {
    for (const char* via : {"initializer", "constant", "identity"}) {
        SCOPED_TRACE(via);
        ir::Model m = parse(test::small_conv_model(via));
        const auto layers = ir::find_layers(m.graph);
        ASSERT_EQ(layers.size(), 1u);
        EXPECT_EQ(layers[0].weight_shape, Shape({8, 4, 3, 3}));
        EXPECT_EQ(layers[0].unusable, "");
        // shape inference gave the conv's output shape: MACs = 8*8*8 * 4*3*3
        EXPECT_EQ(layers[0].macs, 8 * 64 * 36);
        const Tensor* w = m.graph.constant(m.graph.nodes[static_cast<size_t>(layers[0].node)].input(1));
        ASSERT_NE(w, nullptr);
        EXPECT_FLOAT_EQ(static_cast<float>(w->get_as_double(1)), 0.01f - 0.05f);
    }
}

TEST(LoadSave, ShapeInferenceFillsIntermediateValues) {
    ir::Model m = parse(test::small_conv_model("initializer"));
    const ir::ValueInfo* c = m.graph.shape_info("c");
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c->concrete_shape(1), Shape({1, 8, 8, 8}));
    EXPECT_EQ(c->dims[0].param, "batch");
}

TEST(LoadSave, BrokenModelsAreRefused) {
    const std::string good = test::small_conv_model("initializer").SerializeAsString();
    auto expect_refused = [](const std::string& bytes, const std::string& needle) {
        try {
            onnx_io::parse_model(std::vector<uint8_t>(bytes.begin(), bytes.end()), ".", "m.onnx");
            ADD_FAILURE() << "accepted: " << needle;
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
        }
    };
    expect_refused("", "empty");
    expect_refused(good.substr(0, good.size() / 2), "not a valid ONNX model");
    expect_refused(std::string("\x08\x07garbage\xff\xff", 11), "ONNX");

    onnx::ModelProto p = test::small_conv_model("initializer");
    p.mutable_opset_import(0)->set_version(99);
    expect_refused(p.SerializeAsString(), "unsupported opset 99");
    p.mutable_opset_import(0)->set_version(1);
    expect_refused(p.SerializeAsString(), "unsupported opset 1");

    onnx::ModelProto missing = test::small_conv_model("initializer");
    missing.mutable_graph()->mutable_node(1)->set_input(0, "ghost");
    expect_refused(missing.SerializeAsString(), "ghost");

    onnx::ModelProto dup = test::small_conv_model("initializer");
    dup.mutable_graph()->mutable_node(1)->set_output(0, "c");
    expect_refused(dup.SerializeAsString(), "more than once");

    onnx::ModelProto cycle = test::small_conv_model("initializer");
    cycle.mutable_graph()->mutable_node(0)->set_input(0, "y");
    expect_refused(cycle.SerializeAsString(), "cycle");

    onnx::ModelProto ir = test::small_conv_model("initializer");
    ir.set_ir_version(99);
    expect_refused(ir.SerializeAsString(), "IR version");
}

}  // namespace
}  // namespace qcp
