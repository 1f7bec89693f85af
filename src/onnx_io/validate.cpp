#include "validate.hpp"

#include <cmath>
#include <set>

#include "qcp/core/error.hpp"
#include "qcp/onnx_io/onnx_io.hpp"

namespace qcp::onnx_io::detail {

namespace {

bool is_float_dtype(DType t) {
    return t == DType::Float32 || t == DType::Float64 || t == DType::Float16 || t == DType::BFloat16;
}

// Elements that are NaN or ±Inf, and the index of the first.
struct NonFinite {
    int64_t count = 0;
    int64_t first = -1;
};

NonFinite count_non_finite(const Tensor& t) {
    NonFinite r;
    auto note = [&r](bool finite, int64_t i) {
        if (finite) return;
        if (r.count++ == 0) r.first = i;
    };
    if (t.dtype() == DType::Float32) {
        const float* p = t.data<float>();
        for (int64_t i = 0; i < t.numel(); ++i) note(std::isfinite(p[i]), i);
    } else {
        for (int64_t i = 0; i < t.numel(); ++i) note(std::isfinite(t.get_as_double(i)), i);
    }
    return r;
}

// Inputs of a layer op that hold its parameters when they are constant: weight, bias (and A of
// Gemm/MatMul, which can be the constant side).
bool is_layer_op(const ir::Node& n) {
    const bool default_domain = n.domain.empty() || n.domain == "ai.onnx";
    return default_domain && (n.op_type == "Conv" || n.op_type == "ConvTranspose" || n.op_type == "Gemm" ||
                              n.op_type == "MatMul");
}

void check_layer_constants(const ir::Graph& g, const ir::Node& node, const std::string& what) {
    for (size_t i = 0; i < node.inputs.size() && i < 3; ++i) {
        const std::string& name = node.inputs[i];
        if (name.empty()) continue;
        const Tensor* t = g.constant(name);
        if (!t || !is_float_dtype(t->dtype())) continue;
        const char* role = i == 1 ? "weight" : i == 2 ? "bias" : "input";
        if (i == 1 && t->empty())
            throw Error(what + ": " + node.describe() + ": " + role + " '" + name + "' is empty (shape " +
                        shape_str(t->shape()) + ")");
        const NonFinite bad = count_non_finite(*t);
        if (bad.count > 0)
            throw Error(what + ": " + node.describe() + ": " + role + " '" + name + "' has " + std::to_string(bad.count) +
                        " NaN or infinite value" + (bad.count > 1 ? "s" : "") + " (first at element " +
                        std::to_string(bad.first) + ")");
    }
}

}  // namespace

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

void validate_graph(const ir::Model& model, const std::string& what) {
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
    for (const auto& n : g.nodes)
        if (is_layer_op(n)) check_layer_constants(g, n, what);
}

}  // namespace qcp::onnx_io::detail
