#include "qcp/onnx_io/onnx_io.hpp"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <onnx/checker.h>
#include <onnx/defs/schema.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include <fcntl.h>
#include <unistd.h>

#include <climits>
#include <memory>
#include <ostream>

#include "qcp/core/error.hpp"
#include "qcp/core/fs.hpp"
#include "qcp/core/isolate.hpp"
#include "qcp/core/log.hpp"
#include "qcp/core/memory.hpp"
#include "qcp/core/version.hpp"
#include "from_proto.hpp"
#include "tensor_proto.hpp"
#include "to_proto.hpp"
#include "validate.hpp"

namespace qcp::onnx_io {

namespace stdfs = std::filesystem;
using detail::DataMode;
using detail::ExternalPlan;
using detail::kExternalAlignment;
using detail::model_to_proto;
using detail::tensor_bytes;
using detail::tensor_from_proto;

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

// Decodes a tensor, then frees the proto's copy of its bytes: loading holds each weight once.
Tensor take_tensor(onnx::TensorProto* p, const stdfs::path& base_dir, std::vector<std::string>* files) {
    Tensor t = tensor_from_proto(*p, base_dir, files);
    delete p->release_raw_data();
    return t;
}

ir::Attribute attribute_from_proto(onnx::AttributeProto& p, const stdfs::path& base_dir, const std::string& node,
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
        case onnx::AttributeProto::TENSOR: a.t = take_tensor(p.mutable_t(), base_dir, files); break;
        case onnx::AttributeProto::FLOATS: a.floats.assign(p.floats().begin(), p.floats().end()); break;
        case onnx::AttributeProto::INTS: a.ints.assign(p.ints().begin(), p.ints().end()); break;
        case onnx::AttributeProto::STRINGS: a.strings.assign(p.strings().begin(), p.strings().end()); break;
        case onnx::AttributeProto::TENSORS:
            for (auto& t : *p.mutable_tensors()) a.tensors.push_back(take_tensor(&t, base_dir, files));
            break;
        case onnx::AttributeProto::GRAPH:
            // kept serialized for saving; decoded from a copy, since decoding takes the tensors' bytes
            a.opaque = p.SerializeAsString();
            if (p.has_g()) {
                onnx::GraphProto body = p.g();
                a.graph = std::make_shared<const ir::Graph>(detail::graph_from_proto(body, base_dir, files));
            }
            break;
        case onnx::AttributeProto::UNDEFINED:
            if (!p.ref_attr_name().empty()) break;  // function attribute reference
            throw Error(node + ": attribute '" + p.name() + "' has no type");
        default: a.opaque = p.SerializeAsString(); break;
    }
    return a;
}

std::string verbatim_error(const std::exception& e) {
    std::string s = e.what();
    for (auto& c : s)
        if (c == '\n') c = ' ';
    return s;
}

}  // namespace

namespace detail {

ir::Graph graph_from_proto(onnx::GraphProto& g, const stdfs::path& base_dir, std::vector<std::string>* files) {
    ir::Graph graph;
    graph.name = g.name();
    graph.doc_string = g.doc_string();
    for (auto& n : *g.mutable_node()) {
        ir::Node node;
        node.name = n.name();
        node.op_type = n.op_type();
        node.domain = n.domain();
        node.doc_string = n.doc_string();
        node.inputs.assign(n.input().begin(), n.input().end());
        node.outputs.assign(n.output().begin(), n.output().end());
        if (node.op_type.empty()) throw Error("node '" + node.name + "' has no op_type");
        for (auto& a : *n.mutable_attribute()) node.attributes.push_back(attribute_from_proto(a, base_dir, node.describe(), files));
        graph.nodes.push_back(std::move(node));
    }
    for (const auto& v : g.input()) graph.inputs.push_back(value_info_from_proto(v));
    for (const auto& v : g.output()) graph.outputs.push_back(value_info_from_proto(v));
    for (const auto& v : g.value_info()) graph.value_info.push_back(value_info_from_proto(v));
    for (auto& t : *g.mutable_initializer())
        graph.initializers.push_back({t.name(), take_tensor(&t, base_dir, files), t.doc_string()});
    for (const auto& s : g.sparse_initializer()) graph.opaque_sparse_initializers.push_back(s.SerializeAsString());
    for (const auto& q : g.quantization_annotation())
        graph.opaque_quantization_annotation.push_back(q.SerializeAsString());
    graph.rebuild_index();
    return graph;
}

}  // namespace detail

// ---- public ---------------------------------------------------------------------------

namespace {

const char* const kParseFailed = ": not a valid ONNX model (protobuf parse failed; truncated or not ONNX?)";

void parse_proto(google::protobuf::io::ZeroCopyInputStream* raw, onnx::ModelProto* proto, const std::string& what) {
    google::protobuf::io::CodedInputStream coded(raw);
    coded.SetTotalBytesLimit(INT_MAX);
    if (!proto->ParseFromCodedStream(&coded) || !coded.ConsumedEntireMessage()) throw Error(what + kParseFailed);
}

// Builds the IR from a parsed proto, consuming the proto's tensor bytes as it goes.
ir::Model model_from_proto(onnx::ModelProto& proto, const stdfs::path& base_dir, const std::string& what,
                           const LoadOptions& options) {
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
    detail::validate_header(m, what);  // before decoding tensors: an opset-99 file is refused cheaply
    try {
        m.graph = detail::graph_from_proto(*proto.mutable_graph(), base_dir, &m.external_files);
    } catch (const Error& e) {
        throw Error(what + ": " + e.what());
    }
    detail::validate_graph(m, what);
    if (options.infer_shapes) infer_shapes(m);
    return m;
}

}  // namespace

ir::Model parse_model(const std::vector<uint8_t>& bytes, const stdfs::path& base_dir, const std::string& what,
                      const LoadOptions& options) {
    if (bytes.empty()) throw Error(what + ": file is empty, not an ONNX model");
    if (bytes.size() > INT_MAX) throw Error(what + kParseFailed);
    onnx::ModelProto proto;
    google::protobuf::io::ArrayInputStream raw(bytes.data(), static_cast<int>(bytes.size()));
    parse_proto(&raw, &proto, what);
    return model_from_proto(proto, base_dir, what, options);
}

ir::Model load_model(const stdfs::path& path, const LoadOptions& options) {
    const std::string what = path.string();
    std::error_code ec;
    if (!stdfs::exists(path, ec)) throw Error(what + ": no such file");
    if (stdfs::is_directory(path, ec)) throw Error(what + ": is a folder, expected an .onnx file");
    if (!stdfs::is_regular_file(path, ec)) throw Error(what + ": is not a regular file (a device or pipe?)");
    const uint64_t size = stdfs::file_size(path, ec);
    if (ec) throw Error(what + ": cannot read file size: " + ec.message());
    if (size == 0) throw Error(what + ": file is empty, not an ONNX model");
    if (size > INT_MAX)
        throw Error(what + ": file is over 2 GB, more than one protobuf can hold (large models keep their weights "
                           "in external data files)");
    // the parsed protobuf holds about the file's size until its tensors are taken over
    memory::require(size, "loading " + what);
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw Error(what + ": cannot open for reading");
    onnx::ModelProto proto;
    {
        google::protobuf::io::FileInputStream raw(fd);
        raw.SetCloseOnDelete(true);
        parse_proto(&raw, &proto, what);
    }
    return model_from_proto(proto, path.parent_path(), what, options);
}

int64_t checker_max_opset() {
    const auto& map = onnx::OpSchemaRegistry::DomainToVersionRange::Instance().Map();
    auto it = map.find("");
    return it == map.end() ? 0 : it->second.second;
}

bool check_model(const ir::Model& model) {
    if (model.opset("") > checker_max_opset() || model.ir_version > onnx::IR_VERSION) return false;
    onnx::ModelProto proto;
    model_to_proto(model, &proto, nullptr, DataMode::Placeholder);
    try {
        onnx::checker::check_model(proto);
    } catch (const std::exception& e) {
        throw Error("ONNX checker rejected the model: " + verbatim_error(e));
    }
    return true;
}

namespace {

// A shape inference child running longer than this is stuck on a hostile graph.
constexpr double kInferenceTimeoutSeconds = 120;

// Runs in the inference child: the value_info and outputs ONNX found, as a GraphProto; an
// exception stops inference part way (what was found so far is kept, its message in doc_string).
std::string run_onnx_inference(onnx::ModelProto& proto) {
    onnx::GraphProto shapes;
    try {
        onnx::shape_inference::InferShapes(proto, onnx::OpSchemaRegistry::Instance(),
                                           onnx::ShapeInferenceOptions(false, 0, true));
    } catch (const std::exception& e) {
        shapes.set_doc_string(verbatim_error(e));
    }
    *shapes.mutable_value_info() = proto.graph().value_info();
    *shapes.mutable_output() = proto.graph().output();
    return shapes.SerializeAsString();
}

}  // namespace

void infer_shapes(ir::Model& model) {
    model.graph.inferred.clear();
    onnx::GraphProto shapes;
    if (model.opset("") > checker_max_opset()) {
        spdlog::debug("shape inference skipped: opset {} is newer than the ONNX library's {}", model.opset(""),
                      checker_max_opset());
    } else {
        onnx::ModelProto proto;
        model_to_proto(model, &proto, nullptr, DataMode::ShapesOnly);
        proto.mutable_graph()->clear_value_info();
        (void)onnx::OpSchemaRegistry::Schema("Relu", 13, "");  // registers every schema here, once, not per child
        // ONNX 1.12's inference functions read out of bounds on some malformed graphs (found by
        // fuzz_onnx): they run in a child process (core/isolate.hpp), and a crash there only
        // leaves shapes unknown
        IsolatedResult r = run_isolated([&] { return run_onnx_inference(proto); }, kInferenceTimeoutSeconds);
        if (r.status == IsolatedResult::Status::Unavailable) {
            r.output = run_onnx_inference(proto);
            r.status = IsolatedResult::Status::Ok;
        }
        if (r.status == IsolatedResult::Status::Ok && shapes.ParseFromString(r.output)) {
            if (!shapes.doc_string().empty()) spdlog::debug("ONNX shape inference stopped: {}", shapes.doc_string());
        } else {
            spdlog::warn("ONNX shape inference {} on this model ({}); shapes of intermediate values are unknown",
                         r.status == IsolatedResult::Status::TimedOut ? "timed out" : "crashed", r.detail);
            shapes.Clear();
        }
    }
    for (const auto& v : shapes.value_info()) {
        ir::ValueInfo vi = value_info_from_proto(v);
        if (vi.has_shape) model.graph.inferred[vi.name] = std::move(vi);
    }
    for (const auto& v : shapes.output()) {
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
    model_to_proto(model, &proto, nullptr, DataMode::Full);
    std::string out;
    if (!proto.SerializeToString(&out)) throw Error("failed to serialize the model");
    return out;
}

namespace {

// The side file and the model must not replace a file the model was loaded from.
void refuse_overwriting_sources(const ir::Model& model, const std::vector<fs::PendingFile>& files) {
    for (const auto& f : files)
        for (const auto& source : model.external_files)
            if (fs::same_file(f.path, source))
                throw Error(f.path.string() + ": is an external data file of the input model; choose another output name");
}

}  // namespace

void save_model(const ir::Model& model, const stdfs::path& path, const SaveOptions& options) {
    if (options.run_checker && !check_model(model))
        spdlog::debug("ONNX checker skipped: opset {} / IR {} newer than the ONNX library knows", model.opset(""),
                      model.ir_version);

    ExternalPlan ext;
    ext.enabled = options.external_data || tensor_bytes(model) > kProtobufLimit;
    ext.threshold = options.external_data ? options.external_threshold : std::min<size_t>(options.external_threshold, 1024);
    ext.location = path.filename().string() + ".data";
    onnx::ModelProto proto;
    model_to_proto(model, &proto, &ext, DataMode::Full);
    proto.set_producer_name("qcp");
    proto.set_producer_version(kVersion);
    const std::string serialized = proto.SerializeAsString();
    if (serialized.empty()) throw Error(path.string() + ": failed to serialize the model");

    // the side file first, the model that refers to it last (the rename that commits)
    std::vector<fs::PendingFile> files;
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
    files.push_back({path, [&](std::ostream& os) { os.write(serialized.data(), static_cast<std::streamsize>(serialized.size())); }});
    refuse_overwriting_sources(model, files);
    fs::write_files_atomic(files, options.overwrite);
}

}  // namespace qcp::onnx_io
