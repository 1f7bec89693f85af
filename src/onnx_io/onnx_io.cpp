#include "qcp/onnx_io/onnx_io.hpp"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <onnx/checker.h>
#include <onnx/defs/schema.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include <climits>
#include <ostream>
#include <set>

#include "qcp/core/error.hpp"
#include "qcp/core/fs.hpp"
#include "qcp/core/log.hpp"
#include "qcp/core/version.hpp"
#include "tensor_proto.hpp"

namespace qcp::onnx_io {

namespace stdfs = std::filesystem;
using detail::tensor_from_proto;
using detail::tensor_to_proto;

namespace {

// ---- protobuf -> IR -------------------------------------------------------------------

ir::ValueInfo value_info_from_proto(const onnx::ValueInfoProto& p) {
    ir::ValueInfo v;
    v.name = p.name();
    v.doc_string = p.doc_string();
    if (!p.has_type()) return v;
    if (!p.type().has_tensor_type() || p.type().has_denotation()) {
        v.opaque_type = p.type().SerializeAsString();
        return v;
    }
    const auto& tt = p.type().tensor_type();
    v.dtype = static_cast<DType>(tt.elem_type());
    if (tt.has_shape()) {
        v.has_shape = true;
        for (const auto& d : tt.shape().dim()) {
            ir::Dim dim;
            if (d.has_dim_value()) dim.value = d.dim_value();
            if (d.has_dim_param()) dim.param = d.dim_param();
            v.dims.push_back(dim);
        }
    }
    return v;
}

ir::Attribute attribute_from_proto(const onnx::AttributeProto& p, const stdfs::path& base_dir, const std::string& node,
                                   std::vector<std::string>* files) {
    ir::Attribute a;
    a.name = p.name();
    a.type = static_cast<ir::AttrType>(p.type());
    a.doc_string = p.doc_string();
    a.ref_attr_name = p.ref_attr_name();
    switch (p.type()) {
        case onnx::AttributeProto::FLOAT: a.f = p.f(); break;
        case onnx::AttributeProto::INT: a.i = p.i(); break;
        case onnx::AttributeProto::STRING: a.s = p.s(); break;
        case onnx::AttributeProto::TENSOR: a.t = tensor_from_proto(p.t(), base_dir, files); break;
        case onnx::AttributeProto::FLOATS: a.floats.assign(p.floats().begin(), p.floats().end()); break;
        case onnx::AttributeProto::INTS: a.ints.assign(p.ints().begin(), p.ints().end()); break;
        case onnx::AttributeProto::STRINGS: a.strings.assign(p.strings().begin(), p.strings().end()); break;
        case onnx::AttributeProto::TENSORS:
            for (const auto& t : p.tensors()) a.tensors.push_back(tensor_from_proto(t, base_dir, files));
            break;
        case onnx::AttributeProto::UNDEFINED:
            if (!p.ref_attr_name().empty()) break;  // function attribute reference
            throw Error(node + ": attribute '" + p.name() + "' has no type");
        default: a.opaque = p.SerializeAsString(); break;
    }
    return a;
}

ir::Graph graph_from_proto(const onnx::GraphProto& g, const stdfs::path& base_dir, std::vector<std::string>* files) {
    ir::Graph graph;
    graph.name = g.name();
    graph.doc_string = g.doc_string();
    for (const auto& n : g.node()) {
        ir::Node node;
        node.name = n.name();
        node.op_type = n.op_type();
        node.domain = n.domain();
        node.doc_string = n.doc_string();
        node.inputs.assign(n.input().begin(), n.input().end());
        node.outputs.assign(n.output().begin(), n.output().end());
        if (node.op_type.empty()) throw Error("node '" + node.name + "' has no op_type");
        for (const auto& a : n.attribute()) node.attributes.push_back(attribute_from_proto(a, base_dir, node.describe(), files));
        graph.nodes.push_back(std::move(node));
    }
    for (const auto& v : g.input()) graph.inputs.push_back(value_info_from_proto(v));
    for (const auto& v : g.output()) graph.outputs.push_back(value_info_from_proto(v));
    for (const auto& v : g.value_info()) graph.value_info.push_back(value_info_from_proto(v));
    for (const auto& t : g.initializer())
        graph.initializers.push_back({t.name(), tensor_from_proto(t, base_dir, files), t.doc_string()});
    for (const auto& s : g.sparse_initializer()) graph.opaque_sparse_initializers.push_back(s.SerializeAsString());
    for (const auto& q : g.quantization_annotation())
        graph.opaque_quantization_annotation.push_back(q.SerializeAsString());
    graph.rebuild_index();
    return graph;
}

// Structural checks that keep later stages from reading garbage: every name produced once,
// every input produced somewhere, no cycles.
void validate_header(const ir::Model& model, const std::string& what) {
    const int64_t opset = model.opset("");
    if (model.ir_version < 3 || model.ir_version > kMaxIrVersion)
        throw Error(what + ": unsupported ONNX IR version " + std::to_string(model.ir_version) + " (qcp reads 3 to " +
                    std::to_string(kMaxIrVersion) + ")");
    if (opset == 0) throw Error(what + ": model imports no opset of the default ONNX domain");
    if (opset < kMinOpset || opset > kMaxOpset)
        throw Error(what + ": unsupported opset " + std::to_string(opset) + " (qcp supports " +
                    std::to_string(kMinOpset) + " to " + std::to_string(kMaxOpset) + ")");
}

void validate(const ir::Model& model, const std::string& what) {
    validate_header(model, what);
    const ir::Graph& g = model.graph;
    if (g.outputs.empty()) throw Error(what + ": graph has no outputs");
    std::set<std::string> defined;
    auto define = [&](const std::string& name, const std::string& by) {
        if (name.empty()) return;
        if (!defined.insert(name).second) throw Error(what + ": value '" + name + "' is defined more than once (" + by + ")");
    };
    std::set<std::string> init_names;
    for (const auto& init : g.initializers) {
        if (!init_names.insert(init.name).second)
            throw Error(what + ": initializer '" + init.name + "' is defined more than once");
    }
    for (const auto& in : g.inputs)
        if (!init_names.count(in.name)) define(in.name, "graph input");
    for (const auto& name : init_names) define(name, "initializer");
    for (const auto& n : g.nodes)
        for (const auto& out : n.outputs) define(out, n.describe());
    for (const auto& out : g.outputs)
        if (!defined.count(out.name)) throw Error(what + ": graph output '" + out.name + "' is not produced by any node");
    try {
        (void)g.topological_order();
    } catch (const Error& e) {
        throw Error(what + ": " + e.what());
    }
}

// ---- IR -> protobuf -------------------------------------------------------------------

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

// Tensors that go to the side file: recorded with where to find their bytes.
struct ExternalPlan {
    std::string location;  // side file name, relative to the model's folder
    size_t threshold = 0;
    bool enabled = false;
    std::vector<const Tensor*> tensors;
    uint64_t next_offset = 0;
};

constexpr uint64_t kExternalAlignment = 64;

void tensor_to_proto_maybe_external(const Tensor& t, const std::string& name, onnx::TensorProto* p, ExternalPlan* ext,
                                    bool with_data) {
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
    tensor_to_proto(t, name, p, with_data);
}

void attribute_to_proto(const ir::Attribute& a, onnx::AttributeProto* p, ExternalPlan* ext, bool with_data) {
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
        case ir::AttrType::Tensor: tensor_to_proto_maybe_external(a.t, "", p->mutable_t(), ext, with_data); break;
        case ir::AttrType::Floats: for (float f : a.floats) p->add_floats(f); break;
        case ir::AttrType::Ints: for (int64_t i : a.ints) p->add_ints(i); break;
        case ir::AttrType::Strings: for (const auto& s : a.strings) p->add_strings(s); break;
        case ir::AttrType::Tensors:
            for (const auto& t : a.tensors) tensor_to_proto(t, "", p->add_tensors(), with_data);
            break;
        default: break;
    }
}

// `with_data` false: tensors carry dims and type only, for the checker and shape inference,
// except small integer tensors whose values shape inference may read (Reshape shapes).
void model_to_proto(const ir::Model& m, onnx::ModelProto* p, ExternalPlan* ext, bool with_data) {
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
        for (const auto& a : n.attributes) attribute_to_proto(a, np->add_attribute(), ext, with_data);
    }
    for (const auto& init : g.initializers) {
        const bool small_int = init.tensor.dtype() == DType::Int64 && init.tensor.numel() <= 64;
        auto* tp = gp->add_initializer();
        tensor_to_proto_maybe_external(init.tensor, init.name, tp, ext, with_data || small_int);
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

std::string verbatim_error(const std::exception& e) {
    std::string s = e.what();
    for (auto& c : s)
        if (c == '\n') c = ' ';
    return s;
}

}  // namespace

// ---- public ---------------------------------------------------------------------------

ir::Model parse_model(const std::vector<uint8_t>& bytes, const stdfs::path& base_dir, const std::string& what,
                      const LoadOptions& options) {
    if (bytes.empty()) throw Error(what + ": file is empty, not an ONNX model");
    onnx::ModelProto proto;
    {
        google::protobuf::io::ArrayInputStream raw(bytes.data(), static_cast<int>(std::min<size_t>(bytes.size(), INT_MAX)));
        google::protobuf::io::CodedInputStream coded(&raw);
        coded.SetTotalBytesLimit(INT_MAX);
        if (bytes.size() > INT_MAX || !proto.ParseFromCodedStream(&coded) || !coded.ConsumedEntireMessage())
            throw Error(what + ": not a valid ONNX model (protobuf parse failed; truncated or not ONNX?)");
    }
    if (!proto.has_graph() || !proto.has_ir_version())
        throw Error(what + ": not an ONNX model (no graph or IR version)");

    ir::Model m;
    m.ir_version = proto.ir_version();
    for (const auto& o : proto.opset_import()) m.opset_import.push_back({o.domain(), o.version()});
    m.producer_name = proto.producer_name();
    m.producer_version = proto.producer_version();
    m.domain = proto.domain();
    m.model_version = proto.model_version();
    m.doc_string = proto.doc_string();
    for (const auto& kv : proto.metadata_props()) m.metadata_props.emplace_back(kv.key(), kv.value());
    for (const auto& f : proto.functions()) m.opaque_functions.push_back(f.SerializeAsString());
    for (const auto& t : proto.training_info()) m.opaque_training_info.push_back(t.SerializeAsString());
    validate_header(m, what);  // before decoding tensors: an opset-99 file is refused cheaply
    try {
        m.graph = graph_from_proto(proto.graph(), base_dir, &m.external_files);
    } catch (const Error& e) {
        throw Error(what + ": " + e.what());
    }
    validate(m, what);
    if (options.infer_shapes) infer_shapes(m);
    return m;
}

ir::Model load_model(const stdfs::path& path, const LoadOptions& options) {
    const auto bytes = fs::read_file(path);
    return parse_model(bytes, path.parent_path(), path.string(), options);
}

int64_t checker_max_opset() {
    const auto& map = onnx::OpSchemaRegistry::DomainToVersionRange::Instance().Map();
    auto it = map.find("");
    return it == map.end() ? 0 : it->second.second;
}

bool check_model(const ir::Model& model) {
    if (model.opset("") > checker_max_opset() || model.ir_version > onnx::IR_VERSION) return false;
    onnx::ModelProto proto;
    model_to_proto(model, &proto, nullptr, true);  // the checker wants every tensor's data field
    try {
        onnx::checker::check_model(proto);
    } catch (const std::exception& e) {
        throw Error("ONNX checker rejected the model: " + verbatim_error(e));
    }
    return true;
}

void infer_shapes(ir::Model& model) {
    model.graph.inferred.clear();
    if (model.opset("") > checker_max_opset()) {
        spdlog::debug("shape inference skipped: opset {} is newer than the ONNX library's {}", model.opset(""),
                      checker_max_opset());
        return;
    }
    onnx::ModelProto proto;
    model_to_proto(model, &proto, nullptr, false);
    proto.mutable_graph()->clear_value_info();
    try {
        onnx::shape_inference::InferShapes(proto, onnx::OpSchemaRegistry::Instance(),
                                           onnx::ShapeInferenceOptions(false, 0, true));
    } catch (const std::exception& e) {
        spdlog::debug("ONNX shape inference stopped: {}", verbatim_error(e));
    }
    for (const auto& v : proto.graph().value_info()) {
        ir::ValueInfo vi = value_info_from_proto(v);
        if (vi.has_shape) model.graph.inferred[vi.name] = std::move(vi);
    }
    for (const auto& v : proto.graph().output()) {
        ir::ValueInfo vi = value_info_from_proto(v);
        if (vi.has_shape) model.graph.inferred[vi.name] = std::move(vi);
    }
    for (const auto& init : model.graph.initializers) {
        ir::ValueInfo vi;
        vi.name = init.name;
        vi.dtype = init.tensor.dtype();
        vi.has_shape = true;
        for (int64_t d : init.tensor.shape()) vi.dims.push_back({d, ""});
        model.graph.inferred[init.name] = std::move(vi);
    }
}

std::string serialize_model(const ir::Model& model) {
    if (tensor_bytes(model) > kProtobufLimit)
        throw Error("model is larger than 2 GB; save it with external data");
    onnx::ModelProto proto;
    model_to_proto(model, &proto, nullptr, true);
    std::string out;
    if (!proto.SerializeToString(&out)) throw Error("failed to serialize the model");
    return out;
}

void save_model(const ir::Model& model_in, const stdfs::path& path, const SaveOptions& options) {
    ir::Model model = model_in;  // shallow enough: tensors copy, but save is not a hot path
    model.producer_name = "qcp";
    model.producer_version = kVersion;
    if (options.run_checker && !check_model(model))
        spdlog::debug("ONNX checker skipped: opset {} / IR {} newer than the ONNX library knows", model.opset(""),
                      model.ir_version);

    ExternalPlan ext;
    ext.enabled = options.external_data || tensor_bytes(model) > kProtobufLimit;
    ext.threshold = options.external_data ? options.external_threshold : std::min<size_t>(options.external_threshold, 1024);
    ext.location = path.filename().string() + ".data";
    onnx::ModelProto proto;
    model_to_proto(model, &proto, &ext, true);
    const std::string serialized = proto.SerializeAsString();
    if (serialized.empty()) throw Error(path.string() + ": failed to serialize the model");

    std::vector<fs::PendingFile> files;
    files.push_back({path, [&](std::ostream& os) { os.write(serialized.data(), static_cast<std::streamsize>(serialized.size())); }});
    if (ext.enabled && !ext.tensors.empty()) {
        files.push_back({path.parent_path() / ext.location, [&](std::ostream& os) {
                             uint64_t pos = 0;
                             static const char zeros[kExternalAlignment] = {};
                             for (const Tensor* t : ext.tensors) {
                                 const uint64_t aligned = (pos + kExternalAlignment - 1) / kExternalAlignment * kExternalAlignment;
                                 os.write(zeros, static_cast<std::streamsize>(aligned - pos));
                                 os.write(reinterpret_cast<const char*>(t->bytes().data()), static_cast<std::streamsize>(t->nbytes()));
                                 pos = aligned + t->nbytes();
                             }
                         }});
    }
    fs::write_files_atomic(files, options.overwrite);
}

}  // namespace qcp::onnx_io
