#include "rewrite_util.hpp"

#include <algorithm>
#include <set>

#include "qcp/core/error.hpp"

namespace qcp::rewrite {

void remove_dead_values(ir::Graph& g, std::vector<std::string> values) {
    std::set<std::string> visited;
    while (!values.empty()) {
        const std::string v = values.back();
        values.pop_back();
        if (v.empty() || !visited.insert(v).second || !g.consumers(v).empty() || g.is_graph_output(v)) continue;
        const int p = g.producer(v);
        if (p >= 0) {
            const ir::Node& n = g.nodes[static_cast<size_t>(p)];
            if (n.op_type != "Identity" && n.op_type != "Constant") continue;
            const std::vector<std::string> more = n.inputs;
            g.nodes.erase(g.nodes.begin() + p);
            values.insert(values.end(), more.begin(), more.end());
        } else if (g.find_initializer(v) && !g.is_graph_input(v)) {
            g.initializers.erase(std::remove_if(g.initializers.begin(), g.initializers.end(),
                                                [&](const ir::Initializer& i) { return i.name == v; }),
                                 g.initializers.end());
        }
        g.rebuild_index();
    }
}

ir::Node make_node(const std::string& op, const std::string& name, std::vector<std::string> inputs, std::string output) {
    ir::Node n;
    n.op_type = op;
    n.name = name;
    n.inputs = std::move(inputs);
    n.outputs = {std::move(output)};
    return n;
}

ir::Node cast_node(const std::string& name, const std::string& in, const std::string& out, DType to) {
    ir::Node n = make_node("Cast", name, {in}, out);
    n.attributes.push_back(ir::Attribute::make_int("to", static_cast<int64_t>(to)));
    return n;
}

Tensor int_tensor(DType dtype, Shape shape, const std::vector<int64_t>& values) {
    if (dtype == DType::Int64) return Tensor::from_int64s(std::move(shape), values);
    Tensor t(DType::Int32, std::move(shape));
    if (static_cast<int64_t>(values.size()) != t.numel()) throw Error("int_tensor: value count mismatch");
    for (size_t i = 0; i < values.size(); ++i) t.data<int32_t>()[i] = static_cast<int32_t>(values[i]);
    return t;
}

std::string shared_constant(ir::Graph& g, const std::string& name, Tensor t) {
    g.rebuild_index();
    if (!g.find_initializer(name)) {
        g.initializers.push_back({name, std::move(t), ""});
        g.rebuild_index();
    }
    return name;
}

void set_initializer(ir::Graph& g, const std::string& name, Tensor t) {
    if (ir::Initializer* init = g.find_initializer(name)) {
        init->tensor = std::move(t);
        return;
    }
    g.initializers.push_back({name, std::move(t), ""});
}

}  // namespace qcp::rewrite
