#include "qcp/engine/session.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>

#include "qcp/core/error.hpp"
#include "qcp/engine/epilogue.hpp"

namespace qcp::engine {

KernelFn bind_kernel(const ir::Node& node, int64_t opset) {
    if (!node.domain.empty() && node.domain != "ai.onnx")
        throw Error(node.describe() + ": op domain '" + node.domain + "' is not supported by qcp's engine");
    const KernelDef* def = cpu_kernels().find(node.op_type, opset);
    if (!def)
        throw Error(node.describe() + ": qcp's engine has no kernel for " + node.op_type + " at opset " + std::to_string(opset));
    return def->fn;
}

std::vector<Tensor> run_node(const ir::Node& node, int64_t opset, const std::vector<const Tensor*>& inputs, bool fused_relu) {
    const KernelFn fn = bind_kernel(node, opset);
    KernelContext ctx(node, opset);
    ctx.fused_relu = fused_relu && node.op_type == "Conv";
    ctx.inputs = inputs;
    ctx.outputs.resize(node.outputs.size());
    fn(ctx);
    return std::move(ctx.outputs);
}

namespace {

// QCP_PROFILE's row for a node: its op type, and for a Conv its kind (depthwise, 1×1 or k×k),
// kernel, stride and fused epilogue, which differ in cost far more than convs do from other ops.
std::string profile_key(const ir::Node& node, const KernelContext& ctx) {
    if (node.op_type != "Conv" || !ctx.has_input(1) || ctx.inputs[1]->rank() != 4) return node.op_type;
    const Shape& w = ctx.inputs[1]->shape();
    const int64_t group = node.attr_int("group", 1);
    const auto strides = node.attr_ints("strides", {1, 1});
    std::string key = "Conv ";
    key += group > 1 && w[1] == 1 ? "dw " : w[2] * w[3] == 1 ? "1x1 " : "kxk ";
    key += std::to_string(w[2]) + "x" + std::to_string(w[3]);
    for (size_t i = 0; i < strides.size(); ++i) key += (i ? "," : " s") + std::to_string(strides[i]);
    if (ctx.epilogue) key += " +epi";
    if (ctx.fused_relu) key += " +relu";
    return key;
}

}  // namespace

Session::~Session() {
    if (!profile_) return;
    for (const auto& [op, s] : profile_seconds_) std::fprintf(stderr, "qcp profile: %-26s %8.3f s\n", op.c_str(), s);
}

Session::Session(const ir::Model& model) : Session(model.graph, model.opset(""), {}) {}

Session::Session(const ir::Graph& graph, int64_t opset, const std::vector<std::string>& outer) : graph_(graph), opset_(opset) {
    const char* profile = std::getenv("QCP_PROFILE");
    profile_ = profile && std::string(profile) == "1";
    const ir::Graph& g = graph;
    kernels_.resize(g.nodes.size(), nullptr);
    for (size_t n = 0; n < g.nodes.size(); ++n) kernels_[n] = bind_kernel(g.nodes[n], opset_);
    order_ = g.topological_order(outer);
    for (const auto& in : g.inputs)
        if (!g.find_initializer(in.name)) input_names_.push_back(in.name);
    for (const auto& out : g.outputs) output_names_.push_back(out.name);

    // last reader of every computed value, so it can be freed right after
    std::set<std::string> keep(output_names_.begin(), output_names_.end());
    std::map<std::string, size_t> last_use;
    for (size_t pos = 0; pos < order_.size(); ++pos) {
        const ir::Node& node = g.nodes[static_cast<size_t>(order_[pos])];
        for (const auto& in : node.inputs)
            if (!in.empty() && !g.find_initializer(in)) last_use[in] = pos;
        for (const auto& in : node.implicit_inputs())  // read by its sub-graphs while it runs
            if (!g.find_initializer(in)) last_use[in] = pos;
    }
    epilogue_nodes_.assign(g.nodes.size(), {});
    epilogues_.assign(g.nodes.size(), Epilogue());
    for (size_t pos = 0; pos < order_.size(); ++pos) {
        const auto n = static_cast<size_t>(order_[pos]);
        const ir::Node& node = g.nodes[n];
        if (node.op_type != "Conv" || node.outputs.size() != 1 || keep.count(node.outputs[0])) continue;
        epilogue_nodes_[n] = conv_epilogue_nodes(g, opset_, order_, pos, output_names_, epilogues_[n]);
    }
    release_after_.assign(order_.size(), {});
    for (const auto& [value, pos] : last_use)
        if (!keep.count(value)) release_after_[pos].push_back(value);
}

void Session::observe(int node_index, Observer observer) { observers_.emplace_back(node_index, std::move(observer)); }

std::vector<Tensor> Session::run(const std::vector<Tensor>& inputs, const Scope* outer) const {
    const ir::Graph& g = graph_;
    if (inputs.size() != input_names_.size())
        throw Error("model expects " + std::to_string(input_names_.size()) + " input(s), got " +
                    std::to_string(inputs.size()));
    std::unordered_map<std::string, Tensor> values;
    for (size_t i = 0; i < inputs.size(); ++i) values[input_names_[i]] = inputs[i];
    auto observed = [&](int n) {
        return std::any_of(observers_.begin(), observers_.end(), [n](const auto& o) { return o.first == n; });
    };
    std::vector<char> fused(g.nodes.size(), 0);  // nodes run as a Conv's epilogue

    auto find = [&](const std::string& name) -> const Tensor* {
        auto it = values.find(name);
        if (it != values.end()) return &it->second;
        if (const ir::Initializer* init = g.find_initializer(name)) return &init->tensor;
        return outer ? (*outer)(name) : nullptr;
    };
    auto lookup = [&](const std::string& name, const ir::Node& node) -> const Tensor* {
        if (name.empty()) return nullptr;
        if (const Tensor* t = find(name)) return t;
        throw Error(node.describe() + ": input '" + name + "' has no value");
    };
    const Scope scope = find;  // what the nodes' sub-graphs see of this graph

    for (size_t pos = 0; pos < order_.size(); ++pos) {
        const int n = order_[pos];
        const ir::Node& node = g.nodes[static_cast<size_t>(n)];
        if (fused[static_cast<size_t>(n)]) {  // its output came with the Conv's
            for (const auto& dead : release_after_[pos]) values.erase(dead);
            continue;
        }
        KernelContext ctx(node, opset_);
        ctx.scope = &scope;
        // a Conv runs the elementwise nodes after it as its epilogue unless an observer watches one
        const std::vector<int>& chain = epilogue_nodes_[static_cast<size_t>(n)];
        const bool fuse = !chain.empty() && !observed(n) && std::none_of(chain.begin(), chain.end(), observed);
        if (fuse) {
            // a lone Relu keeps the kernel's own fused Relu
            if (chain.size() == 1 && g.nodes[static_cast<size_t>(chain[0])].op_type == "Relu")
                ctx.fused_relu = true;
            else
                ctx.epilogue = &epilogues_[static_cast<size_t>(n)];
            for (int c : chain) fused[static_cast<size_t>(c)] = 1;
        }
        ctx.inputs.reserve(node.inputs.size());
        for (const auto& in : node.inputs) ctx.inputs.push_back(lookup(in, node));
        ctx.outputs.resize(node.outputs.size());
        if (profile_) {
            const auto t0 = std::chrono::steady_clock::now();
            kernels_[static_cast<size_t>(n)](ctx);
            profile_seconds_[profile_key(node, ctx)] +=
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        } else {
            kernels_[static_cast<size_t>(n)](ctx);
        }
        for (const auto& [index, observer] : observers_)
            if (index == n) observer(node, ctx.inputs, ctx.outputs);
        if (fuse) {
            values[g.nodes[static_cast<size_t>(chain.back())].outputs[0]] = std::move(ctx.outputs[0]);
        } else {
            for (size_t o = 0; o < node.outputs.size(); ++o)
                if (!node.outputs[o].empty()) values[node.outputs[o]] = std::move(ctx.outputs[o]);
        }
        for (const auto& dead : release_after_[pos]) values.erase(dead);
    }
    std::vector<Tensor> outputs;
    for (const auto& name : output_names_) {
        const Tensor* t = find(name);
        if (!t) throw Error("graph output '" + name + "' was not computed");
        outputs.push_back(*t);
    }
    return outputs;
}

}  // namespace qcp::engine
