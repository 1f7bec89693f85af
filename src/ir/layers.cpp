#include "qcp/ir/layers.hpp"

#include "qcp/core/error.hpp"

namespace qcp::ir {
namespace {

bool is_float(DType t) {
    return t == DType::Float32 || t == DType::Float16 || t == DType::BFloat16 || t == DType::Float64;
}

// Concrete shape of a value at batch 1, or empty when unknown.
Shape known_shape(const Graph& g, const std::string& value) {
    const ValueInfo* vi = g.shape_info(value);
    if (!vi || !vi->has_shape) return {};
    return vi->concrete_shape(1);
}

int64_t product(const Shape& s, size_t from, size_t to) {
    int64_t p = 1;
    for (size_t i = from; i < to && i < s.size(); ++i) p *= s[i];
    return p;
}

}  // namespace

int64_t layer_macs(const Graph& g, const Node& node, const Shape& w) {
    const Shape out = known_shape(g, node.outputs.empty() ? "" : node.outputs[0]);
    const Shape in = known_shape(g, node.input(0));
    if (node.op_type == "Conv") {
        // out: (N, Cout, spatial...); each output element costs Cin/groups * prod(kernel)
        if (out.size() < 2 || w.size() < 2) return -1;
        return product(out, 1, out.size()) * product(w, 1, w.size());
    }
    if (node.op_type == "ConvTranspose") {
        // each input element scatters into Cout/groups * prod(kernel) outputs
        if (in.size() < 2 || w.size() < 2) return -1;
        return product(in, 1, in.size()) * product(w, 1, w.size());
    }
    if (node.op_type == "Gemm") {
        if (w.size() != 2) return -1;
        int64_t m = 1;
        if (!in.empty()) m = node.attr_int("transA", 0) ? in.back() : in.front();
        return m * w[0] * w[1];
    }
    if (node.op_type == "MatMul") {
        if (w.size() < 2) return -1;
        const int64_t rows = in.size() >= 2 ? product(in, 0, in.size() - 1) : 1;
        return rows * product(w, 0, w.size());
    }
    return -1;
}

std::vector<Layer> find_layers(const Graph& g) {
    std::vector<Layer> layers;
    for (size_t n = 0; n < g.nodes.size(); ++n) {
        const Node& node = g.nodes[n];
        if (!node.domain.empty() && node.domain != "ai.onnx") continue;
        const std::string& op = node.op_type;
        if (op != "Conv" && op != "ConvTranspose" && op != "Gemm" && op != "MatMul") continue;
        const std::string& weight = node.input(1);
        const Tensor* w = weight.empty() ? nullptr : g.constant(weight);
        if (!w) continue;  // activations x activations, or a weight computed at run time

        Layer layer;
        layer.node = static_cast<int>(n);
        layer.name = node.name.empty() ? node.outputs.at(0) : node.name;
        layer.op = op;
        layer.weight = weight;
        layer.weight_shape = w->shape();
        layer.groups = (op == "Conv" || op == "ConvTranspose") ? node.attr_int("group", 1) : 1;
        const std::string& bias = node.input(2);
        const Tensor* b = bias.empty() || op == "MatMul" ? nullptr : g.constant(bias);
        if (b) layer.bias = bias;
        layer.params = w->numel() + (b ? b->numel() : 0);
        layer.macs = layer_macs(g, node, w->shape());
        layer.in_shape = known_shape(g, node.input(0));
        layer.out_shape = known_shape(g, node.outputs.at(0));

        // Why the weight cannot be rewritten, most fundamental reason first.
        std::string why;
        const std::string source = g.constant_source(weight);
        const size_t users = source.empty() ? g.consumers(weight).size() : g.consumers(source).size();
        if (!is_float(w->dtype())) why = std::string("weight is ") + dtype_name(w->dtype()) + " (already quantized)";
        else if (users > 1) why = "weight shared by " + std::to_string(users) + " nodes";
        else if (op == "Gemm" && node.attr_int("transA", 0) != 0) why = "Gemm with transA";
        else if ((op == "Gemm" || op == "MatMul") && w->rank() != 2) why = "weight is not a matrix";
        else if ((op == "Conv" || op == "ConvTranspose") && w->rank() < 3) why = "conv weight of rank < 3";
        if (why.empty() && w->numel() == 0) why = "empty weight";
        layer.unusable = why;
        layers.push_back(std::move(layer));
    }
    return layers;
}

int64_t count_params(const Graph& g) {
    // scalars are hyper-parameters (Clip bounds, epsilons), not weights
    auto counts = [](const Tensor& t) { return is_float(t.dtype()) && t.numel() > 1; };
    int64_t total = 0;
    for (const auto& init : g.initializers)
        if (counts(init.tensor)) total += init.tensor.numel();
    for (const auto& node : g.nodes)
        if (node.op_type == "Constant")
            if (const Attribute* a = node.attr("value"); a && counts(a->t)) total += a->t.numel();
    return total;
}

}  // namespace qcp::ir
