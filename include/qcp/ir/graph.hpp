// qcp's in-memory model: a plain data structure mirroring ONNX's ModelProto.
//
// Values are named by strings as in ONNX. A Graph owns its nodes, initializers and value
// infos; rebuild_index() derives the producer/consumer links that passes and the engine
// read. Anything ONNX can hold that qcp does not model (sub-graph attributes, functions,
// sparse initializers, training info) is kept as opaque serialized protobuf bytes so that
// load -> save is lossless. Only onnx_io converts to and from protobuf.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "qcp/core/tensor.hpp"

namespace qcp::ir {

// Numbered as onnx::AttributeProto::AttributeType.
enum class AttrType : int32_t {
    Undefined = 0, Float = 1, Int = 2, String = 3, Tensor = 4, Graph = 5, Floats = 6, Ints = 7,
    Strings = 8, Tensors = 9, Graphs = 10, SparseTensor = 11, SparseTensors = 12, TypeProto = 13,
    TypeProtos = 14,
};

class Graph;

struct Attribute {
    std::string name;
    AttrType type = AttrType::Undefined;
    float f = 0.0f;
    int64_t i = 0;
    std::string s;
    qcp::Tensor t;
    std::vector<float> floats;
    std::vector<int64_t> ints;
    std::vector<std::string> strings;
    std::vector<qcp::Tensor> tensors;
    std::string doc_string;
    std::string ref_attr_name;
    // Serialized onnx::AttributeProto for Graph/Graphs/Sparse*/TypeProto* attributes.
    std::string opaque;
    // A Graph attribute (Loop/Scan/If bodies) decoded, for the engine to run; read-only and
    // shared by copies. Saving writes `opaque`, so load -> save stays lossless.
    std::shared_ptr<const Graph> graph;

    static Attribute make_int(std::string name, int64_t v);
    static Attribute make_float(std::string name, float v);
    static Attribute make_string(std::string name, std::string v);
    static Attribute make_ints(std::string name, std::vector<int64_t> v);
    static Attribute make_floats(std::string name, std::vector<float> v);
    static Attribute make_tensor(std::string name, qcp::Tensor v);
};

struct Node {
    std::string name;
    std::string op_type;
    std::string domain;  // "" is the default ONNX domain ("ai.onnx")
    std::string doc_string;
    std::vector<std::string> inputs;   // "" marks an omitted optional input
    std::vector<std::string> outputs;
    std::vector<Attribute> attributes;

    const Attribute* attr(const std::string& name) const;
    int64_t attr_int(const std::string& name, int64_t fallback) const;
    float attr_float(const std::string& name, float fallback) const;
    std::string attr_string(const std::string& name, const std::string& fallback) const;
    std::vector<int64_t> attr_ints(const std::string& name, std::vector<int64_t> fallback = {}) const;
    void set_attr(Attribute a);  // replaces an attribute of the same name
    // Input i's name, or "" when absent or omitted.
    const std::string& input(size_t i) const;
    // "Conv 'layer1.conv1'" for error messages.
    std::string describe() const;
    // What the node's sub-graphs (Graph attributes) read from enclosing scopes: values the node
    // depends on without naming them as inputs. Empty for nodes without sub-graphs.
    std::vector<std::string> implicit_inputs() const;
};

// A dimension: a known size, a symbolic name ("batch"), or unknown.
struct Dim {
    int64_t value = -1;  // >= 0 when known
    std::string param;
    bool known() const { return value >= 0; }
};

struct ValueInfo {
    std::string name;
    DType dtype = DType::Undefined;
    bool has_shape = false;  // false: rank unknown
    std::vector<Dim> dims;
    std::string doc_string;
    std::string opaque_type;  // serialized TypeProto when the type is not a plain tensor

    // Shape with unknown/symbolic dims replaced by `unknown_as` (e.g. batch treated as 1).
    Shape concrete_shape(int64_t unknown_as) const;
    bool fully_known() const;
    std::string shape_str() const;  // "(batch, 1, 28, 28)"
};

struct Initializer {
    std::string name;
    qcp::Tensor tensor;
    std::string doc_string;
};

struct OpsetImport {
    std::string domain;
    int64_t version = 0;
};

class Graph {
public:
    std::string name;
    std::string doc_string;
    std::vector<Node> nodes;
    std::vector<ValueInfo> inputs;
    std::vector<ValueInfo> outputs;
    std::vector<ValueInfo> value_info;
    std::vector<Initializer> initializers;
    std::vector<std::string> opaque_sparse_initializers;     // serialized SparseTensorProto
    std::vector<std::string> opaque_quantization_annotation;  // serialized TensorAnnotation

    // Derives producer/consumer links and name lookups; call after any structural change.
    void rebuild_index();

    // Index of the node producing `value`, or -1 (graph input, initializer, or unknown).
    int producer(const std::string& value) const;
    // Indices of nodes reading `value` (a node reading it twice appears twice).
    const std::vector<int>& consumers(const std::string& value) const;
    bool is_graph_output(const std::string& value) const;
    bool is_graph_input(const std::string& value) const;

    const Initializer* find_initializer(const std::string& name) const;
    Initializer* find_initializer(const std::string& name);

    // The constant behind `value`: an initializer, a Constant node's value, or either reached
    // through Identity nodes. nullptr when the value is computed at run time. Constant nodes in
    // value_float(s)/value_int(s) form are materialised once and cached.
    const qcp::Tensor* constant(const std::string& value) const;
    // Name of the initializer that ultimately holds `value` (through Identity), or "".
    std::string constant_source(const std::string& value) const;

    // Declared or inferred type/shape of a value (inputs, outputs, value_info, inferred,
    // initializers), or nullptr.
    const ValueInfo* shape_info(const std::string& value) const;
    // Shape facts found by shape inference; kept apart from value_info so that saving a model
    // writes back exactly the value_info it came with.
    std::map<std::string, ValueInfo> inferred;

    // Node indices in an order where every producer precedes its consumers (a sub-graph's
    // reads of this graph's values count as its node's inputs). Throws qcp::Error naming a node
    // on a cycle or a value that nobody produces. `outer`: values of enclosing graphs, which a
    // sub-graph may read as given.
    std::vector<int> topological_order(const std::vector<std::string>& outer = {}) const;
    // Reorders `nodes` topologically (ONNX requires it in files); rebuilds the index.
    void sort_topologically();

    // Values this graph reads but does not define (not an input, initializer or node output of
    // it), its nested sub-graphs' included: for a sub-graph, what it takes from enclosing scopes.
    std::vector<std::string> outer_reads() const;

    // A value name not yet used in this graph, starting from `stem`.
    std::string unique_name(const std::string& stem) const;

private:
    std::map<std::string, int> producer_;
    std::map<std::string, std::vector<int>> consumers_;
    std::map<std::string, size_t> initializer_index_;
    mutable std::map<std::string, qcp::Tensor> materialised_;
};

struct Model {
    int64_t ir_version = 8;
    std::vector<OpsetImport> opset_import;
    std::string producer_name;
    std::string producer_version;
    std::string domain;
    int64_t model_version = 0;
    std::string doc_string;
    std::vector<std::pair<std::string, std::string>> metadata_props;
    std::vector<std::string> opaque_functions;      // serialized FunctionProto
    std::vector<std::string> opaque_training_info;  // serialized TrainingInfoProto
    Graph graph;
    // Side files the loader read external tensor data from (not written back as such).
    std::vector<std::string> external_files;

    // Opset version imported for `domain` ("" or "ai.onnx" = default domain), 0 if none.
    int64_t opset(const std::string& domain = "") const;
    void set_opset(const std::string& domain, int64_t version);
    void set_metadata(const std::string& key, const std::string& value);
};

}  // namespace qcp::ir
