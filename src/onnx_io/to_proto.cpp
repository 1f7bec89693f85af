#include "to_proto.hpp"

#include "tensor_proto.hpp"

namespace qcp::onnx_io::detail {

namespace {

void value_info_to_proto(const ir::ValueInfo& v, onnx::ValueInfoProto* p) {
    p->set_name(v.name);
    if (!v.doc_string.empty()) p->set_doc_string(v.doc_string);
    if (!v.opaque_type.empty()) {
        p->mutable_type()->ParseFromString(v.opaque_type);
        return;
    }
    if (v.dtype == DType::Undefined && !v.has_shape) return;
    auto* tt = p->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(static_cast<int32_t>(v.dtype));
    if (!v.has_shape) return;
    auto* shape = tt->mutable_shape();
    for (const auto& d : v.dims) {
        auto* dim = shape->add_dim();
        if (d.known()) dim->set_dim_value(d.value);
        if (!d.param.empty()) dim->set_dim_param(d.param);
    }
}

// int64 tensors up to this many elements keep their values for shape inference (Reshape shapes).
constexpr int64_t kShapeTensorMax = 64;
// Tensors up to this size keep their bytes for the checker; larger ones get a one-byte stand-in.
constexpr size_t kPlaceholderBytes = 64;

void tensor_with_mode(const Tensor& t, const std::string& name, onnx::TensorProto* p, DataMode mode) {
    switch (mode) {
        case DataMode::Full: tensor_to_proto(t, name, p, true); return;
        case DataMode::ShapesOnly:
            tensor_to_proto(t, name, p, t.dtype() == DType::Int64 && t.numel() <= kShapeTensorMax);
            return;
        case DataMode::Placeholder: {
            const bool small = t.nbytes() <= kPlaceholderBytes;
            tensor_to_proto(t, name, p, small);
            if (!small) p->set_raw_data(std::string(1, '\0'));
            return;
        }
    }
}

void tensor_to_proto_maybe_external(const Tensor& t, const std::string& name, onnx::TensorProto* p, ExternalPlan* ext,
                                    DataMode mode) {
    if (ext && ext->enabled && t.nbytes() >= ext->threshold) {
        tensor_to_proto(t, name, p, false);
        p->set_data_location(onnx::TensorProto::EXTERNAL);
        const uint64_t offset = (ext->next_offset + kExternalAlignment - 1) / kExternalAlignment * kExternalAlignment;
        auto add = [&](const char* k, const std::string& v) {
            auto* kv = p->add_external_data();
            kv->set_key(k);
            kv->set_value(v);
        };
        add("location", ext->location);
        add("offset", std::to_string(offset));
        add("length", std::to_string(t.nbytes()));
        ext->tensors.push_back(&t);
        ext->next_offset = offset + t.nbytes();
        return;
    }
    tensor_with_mode(t, name, p, mode);
}

void attribute_to_proto(const ir::Attribute& a, onnx::AttributeProto* p, ExternalPlan* ext, DataMode mode) {
    if (!a.opaque.empty()) {
        p->ParseFromString(a.opaque);
        return;
    }
    p->set_name(a.name);
    if (!a.doc_string.empty()) p->set_doc_string(a.doc_string);
    if (!a.ref_attr_name.empty()) p->set_ref_attr_name(a.ref_attr_name);
    p->set_type(static_cast<onnx::AttributeProto::AttributeType>(a.type));
    switch (a.type) {
        case ir::AttrType::Float: p->set_f(a.f); break;
        case ir::AttrType::Int: p->set_i(a.i); break;
        case ir::AttrType::String: p->set_s(a.s); break;
        case ir::AttrType::Tensor: tensor_to_proto_maybe_external(a.t, "", p->mutable_t(), ext, mode); break;
        case ir::AttrType::Floats: for (float f : a.floats) p->add_floats(f); break;
        case ir::AttrType::Ints: for (int64_t i : a.ints) p->add_ints(i); break;
        case ir::AttrType::Strings: for (const auto& s : a.strings) p->add_strings(s); break;
        case ir::AttrType::Tensors:
            for (const auto& t : a.tensors) tensor_with_mode(t, "", p->add_tensors(), mode);
            break;
        default: break;
    }
}

}  // namespace

void model_to_proto(const ir::Model& m, onnx::ModelProto* p, ExternalPlan* ext, DataMode mode) {
    p->set_ir_version(m.ir_version);
    for (const auto& o : m.opset_import) {
        auto* op = p->add_opset_import();
        if (!o.domain.empty()) op->set_domain(o.domain);
        op->set_version(o.version);
    }
    // proto2 keeps field presence: write only what the source had (empty means absent)
    if (!m.producer_name.empty()) p->set_producer_name(m.producer_name);
    if (!m.producer_version.empty()) p->set_producer_version(m.producer_version);
    if (!m.domain.empty()) p->set_domain(m.domain);
    if (m.model_version != 0) p->set_model_version(m.model_version);
    if (!m.doc_string.empty()) p->set_doc_string(m.doc_string);
    for (const auto& kv : m.metadata_props) {
        auto* e = p->add_metadata_props();
        e->set_key(kv.first);
        e->set_value(kv.second);
    }
    for (const auto& f : m.opaque_functions) p->add_functions()->ParseFromString(f);
    for (const auto& t : m.opaque_training_info) p->add_training_info()->ParseFromString(t);

    const ir::Graph& g = m.graph;
    auto* gp = p->mutable_graph();
    if (!g.name.empty()) gp->set_name(g.name);
    if (!g.doc_string.empty()) gp->set_doc_string(g.doc_string);
    for (const auto& n : g.nodes) {
        auto* np = gp->add_node();
        for (const auto& in : n.inputs) np->add_input(in);
        for (const auto& out : n.outputs) np->add_output(out);
        if (!n.name.empty()) np->set_name(n.name);
        np->set_op_type(n.op_type);
        if (!n.domain.empty()) np->set_domain(n.domain);
        if (!n.doc_string.empty()) np->set_doc_string(n.doc_string);
        for (const auto& a : n.attributes) attribute_to_proto(a, np->add_attribute(), ext, mode);
    }
    for (const auto& init : g.initializers) {
        auto* tp = gp->add_initializer();
        tensor_to_proto_maybe_external(init.tensor, init.name, tp, ext, mode);
        if (!init.doc_string.empty()) tp->set_doc_string(init.doc_string);
    }
    for (const auto& s : g.opaque_sparse_initializers) gp->add_sparse_initializer()->ParseFromString(s);
    for (const auto& v : g.inputs) value_info_to_proto(v, gp->add_input());
    for (const auto& v : g.outputs) value_info_to_proto(v, gp->add_output());
    for (const auto& v : g.value_info) value_info_to_proto(v, gp->add_value_info());
    for (const auto& q : g.opaque_quantization_annotation) gp->add_quantization_annotation()->ParseFromString(q);
}

uint64_t tensor_bytes(const ir::Model& m) {
    uint64_t total = 0;
    for (const auto& init : m.graph.initializers) total += init.tensor.nbytes();
    for (const auto& n : m.graph.nodes)
        for (const auto& a : n.attributes) total += a.t.nbytes();
    return total;
}

}  // namespace qcp::onnx_io::detail
