// Graph clean-up shared by the rewrite passes (internal to rewrite).
#pragma once

#include <string>
#include <vector>

#include "qcp/ir/graph.hpp"

namespace qcp::rewrite {

// Removes each value that nothing reads any more (and is no graph output): its Identity or
// Constant producer (recursively up the chain) or its initializer. Other producers stay.
void remove_dead_values(ir::Graph& g, std::vector<std::string> values);
inline void remove_dead_value(ir::Graph& g, const std::string& value) { remove_dead_values(g, {value}); }

}  // namespace qcp::rewrite
