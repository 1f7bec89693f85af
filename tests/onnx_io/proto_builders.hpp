// Builds ONNX protobuf models for onnx_io tests (tests of the loader may see protobuf).
#pragma once

#include <onnx/onnx_pb.h>

#include <string>
#include <vector>

namespace qcp::test {

inline void set_value(onnx::ValueInfoProto* v, const std::string& name, std::vector<int64_t> dims,
                      int elem = onnx::TensorProto::FLOAT) {
    v->set_name(name);
    auto* tt = v->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(elem);
    auto* shape = tt->mutable_shape();
    for (int64_t d : dims) {
        if (d < 0) shape->add_dim()->set_dim_param("batch");
        else shape->add_dim()->set_dim_value(d);
    }
}

// y = Identity(w) with w an initializer: lets a test load any tensor through the real loader.
inline onnx::ModelProto model_with_initializer(const onnx::TensorProto& w, int64_t opset = 13) {
    onnx::ModelProto m;
    m.set_ir_version(8);
    auto* op = m.add_opset_import();  // domain left absent: the default ONNX domain
    op->set_version(opset);
    auto* g = m.mutable_graph();
    g->set_name("g");
    *g->add_initializer() = w;
    auto* n = g->add_node();
    n->set_op_type("Identity");
    n->add_input(w.name());
    n->add_output("y");
    std::vector<int64_t> dims(w.dims().begin(), w.dims().end());
    set_value(g->add_output(), "y", dims, w.data_type());
    return m;
}

inline onnx::TensorProto float_tensor(const std::string& name, std::vector<int64_t> dims, std::vector<float> values) {
    onnx::TensorProto t;
    if (!name.empty()) t.set_name(name);  // proto2 presence: an empty name is an absent one
    t.set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t d : dims) t.add_dims(d);
    t.set_raw_data(values.data(), values.size() * sizeof(float));
    return t;
}

// x (batch, 4, 8, 8) -> Conv 3x3 (8 filters, weight behind `weight_via`) -> Relu -> y
// weight_via: "initializer", "constant" (Constant node) or "identity" (initializer + Identity)
inline onnx::ModelProto small_conv_model(const std::string& weight_via) {
    onnx::ModelProto m;
    m.set_ir_version(8);
    m.set_producer_name("test");
    auto* op = m.add_opset_import();
    op->set_version(13);
    auto* g = m.mutable_graph();
    g->set_name("small");
    std::vector<float> w(8 * 4 * 9);
    for (size_t i = 0; i < w.size(); ++i) w[i] = 0.01f * static_cast<float>(i % 17) - 0.05f;
    onnx::TensorProto wt = float_tensor("w", {8, 4, 3, 3}, w);
    std::string conv_weight = "w";
    if (weight_via == "constant") {
        auto* c = g->add_node();
        c->set_op_type("Constant");
        c->add_output("w");
        auto* a = c->add_attribute();
        a->set_name("value");
        a->set_type(onnx::AttributeProto::TENSOR);
        *a->mutable_t() = wt;
    } else {
        *g->add_initializer() = wt;
        if (weight_via == "identity") {
            auto* id = g->add_node();
            id->set_op_type("Identity");
            id->add_input("w");
            id->add_output("w_id");
            conv_weight = "w_id";
        }
    }
    *g->add_initializer() = float_tensor("b", {8}, std::vector<float>(8, 0.5f));
    auto* conv = g->add_node();
    conv->set_op_type("Conv");
    conv->set_name("conv0");
    conv->add_input("x");
    conv->add_input(conv_weight);
    conv->add_input("b");
    conv->add_output("c");
    auto* pads = conv->add_attribute();
    pads->set_name("pads");
    pads->set_type(onnx::AttributeProto::INTS);
    for (int i = 0; i < 4; ++i) pads->add_ints(1);
    auto* relu = g->add_node();
    relu->set_op_type("Relu");
    relu->add_input("c");
    relu->add_output("y");
    set_value(g->add_input(), "x", {-1, 4, 8, 8});
    set_value(g->add_output(), "y", {-1, 8, 8, 8});
    return m;
}

}  // namespace qcp::test
