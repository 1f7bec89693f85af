#include "qcp/engine/fold.hpp"

#include <map>
#include <set>
#include <string>

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

}  // namespace

int64_t runtime_weight_bytes(const ir::Model& model) {
    const ir::Graph& g = model.graph;
    const int64_t opset = model.opset("");
    const bool overridable = model.ir_version >= 4;
    std::map<std::string, Tensor> folded;
    auto constant = [&](const std::string& name) -> const Tensor* {
        if (auto it = folded.find(name); it != folded.end()) return &it->second;
        const ir::Initializer* init = g.find_initializer(name);
        return init && !(overridable && g.is_graph_input(name)) ? &init->tensor : nullptr;
    };
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
        auto drop_dead = [&] {
            for (const auto& in : node.inputs)
                if (last_read[in] == pos) folded.erase(in);
        };
        bool all_constant = foldable_op(node);
        for (const auto& in : node.inputs) all_constant = all_constant && (in.empty() || constant(in));
        const KernelDef* def = all_constant ? cpu_kernels().find(node.op_type, opset) : nullptr;
        KernelContext ctx(node, opset);
        if (def) {
            for (const auto& in : node.inputs) ctx.inputs.push_back(in.empty() ? nullptr : constant(in));
            ctx.outputs.resize(node.outputs.size());
            try {
                def->fn(ctx);
            } catch (const Error&) {  // a kernel that refuses these inputs: left to run, as ORT leaves a node it cannot fold
                def = nullptr;
            }
        }
        if (def) {
            for (size_t o = 0; o < node.outputs.size(); ++o)
                if (!node.outputs[o].empty() && last_read.count(node.outputs[o])) folded[node.outputs[o]] = std::move(ctx.outputs[o]);
        } else {
            for (const auto& in : node.inputs) hold(in);
        }
        drop_dead();
    }
    for (const auto& out : g.outputs) hold(out.name);
    return bytes;
}

}  // namespace qcp::engine
