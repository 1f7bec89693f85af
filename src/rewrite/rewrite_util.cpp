#include "rewrite_util.hpp"

#include <algorithm>
#include <set>

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

}  // namespace qcp::rewrite
