#include "qcp/engine/fold.hpp"

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "qcp/core/error.hpp"
#include "qcp/engine/kernel.hpp"

namespace qcp::engine {

namespace {

bool foldable_op(const ir::Node& n) {
    if (!n.domain.empty() && n.domain != "ai.onnx") return false;
    if (n.op_type == "DequantizeLinear") return false;
    for (const auto& a : n.attributes)
        if (a.type == ir::AttrType::Graph || a.type == ir::AttrType::Graphs) return false;
    return true;
}

// The constants of a graph as folding proceeds: initializers (not overridable graph inputs from
// IR 4 on) and the values folded so far.
struct Constants {
    const ir::Graph& g;
    bool overridable;
    std::map<std::string, Tensor> folded;
    const Tensor* operator()(const std::string& name) const {
        if (auto it = folded.find(name); it != folded.end()) return &it->second;
        const ir::Initializer* init = g.find_initializer(name);
        return init && !(overridable && g.is_graph_input(name)) ? &init->tensor : nullptr;
    }
};

// The outputs of `node` computed with qcp's kernels when ONNX Runtime would fold it (a foldable op
// whose inputs are all constant, with a kernel that accepts them); nullopt when it is left to run.
std::optional<std::vector<Tensor>> fold_node(const ir::Node& node, int64_t opset, const Constants& constant) {
    if (!foldable_op(node)) return std::nullopt;
    for (const auto& in : node.inputs)
        if (!in.empty() && !constant(in)) return std::nullopt;
    const KernelDef* def = cpu_kernels().find(node.op_type, opset);
    if (!def) return std::nullopt;
    KernelContext ctx(node, opset);
    for (const auto& in : node.inputs) ctx.inputs.push_back(in.empty() ? nullptr : constant(in));
    ctx.outputs.resize(node.outputs.size());
    try {
        def->fn(ctx);
    } catch (const Error&) {  // a kernel that refuses these inputs: left to run, as ORT leaves a node it cannot fold
        return std::nullopt;
    }
    return std::move(ctx.outputs);
}

}  // namespace

int64_t runtime_weight_bytes(const ir::Model& model) {
    const ir::Graph& g = model.graph;
    const int64_t opset = model.opset("");
    Constants constant{g, model.ir_version >= 4, {}};
    std::set<std::string> held;
    int64_t bytes = 0;
    auto hold = [&](const std::string& name) {
        const Tensor* t = constant(name);
        if (t && held.insert(name).second) bytes += static_cast<int64_t>(t->nbytes());
    };
    const std::vector<int> order = g.topological_order();
    std::map<std::string, size_t> last_read;  // folded values are dropped after their last reader
    for (size_t pos = 0; pos < order.size(); ++pos)
        for (const auto& in : g.nodes[static_cast<size_t>(order[pos])].inputs) last_read[in] = pos;
    for (const auto& out : g.outputs) last_read[out.name] = order.size();
    for (size_t pos = 0; pos < order.size(); ++pos) {
        const ir::Node& node = g.nodes[static_cast<size_t>(order[pos])];
        if (auto outputs = fold_node(node, opset, constant)) {
            for (size_t o = 0; o < node.outputs.size(); ++o)
                if (!node.outputs[o].empty() && last_read.count(node.outputs[o])) constant.folded[node.outputs[o]] = std::move((*outputs)[o]);
        } else {
            for (const auto& in : node.inputs) hold(in);
        }
        for (const auto& in : node.inputs)
            if (last_read[in] == pos) constant.folded.erase(in);
    }
    for (const auto& out : g.outputs) hold(out.name);
    return bytes;
}

void fold_constants(ir::Model& model) {
    ir::Graph& g = model.graph;
    const int64_t opset = model.opset("");
    Constants constant{g, model.ir_version >= 4, {}};
    std::vector<char> dropped(g.nodes.size(), 0);
    for (const int n : g.topological_order()) {
        const ir::Node& node = g.nodes[static_cast<size_t>(n)];
        auto outputs = fold_node(node, opset, constant);
        if (!outputs) continue;
        for (size_t o = 0; o < node.outputs.size(); ++o)
            if (!node.outputs[o].empty()) constant.folded[node.outputs[o]] = std::move((*outputs)[o]);
        dropped[static_cast<size_t>(n)] = 1;
    }
    std::vector<ir::Node> kept;
    std::set<std::string> read;
    for (size_t n = 0; n < g.nodes.size(); ++n) {
        if (dropped[n]) continue;
        for (const auto& in : g.nodes[n].inputs) read.insert(in);
        kept.push_back(std::move(g.nodes[n]));
    }
    for (const auto& out : g.outputs) read.insert(out.name);
    g.nodes = std::move(kept);
    for (auto& [name, t] : constant.folded)
        if (read.count(name) && !g.find_initializer(name)) g.initializers.push_back({name, std::move(t), ""});
    g.rebuild_index();
}

}  // namespace qcp::engine
