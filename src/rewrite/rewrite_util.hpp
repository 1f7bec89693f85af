// Graph clean-up shared by the rewrite passes (internal to rewrite).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "qcp/ir/graph.hpp"

namespace qcp::rewrite {

// Removes each value that nothing reads any more (and is no graph output): its Identity or
// Constant producer (recursively up the chain) or its initializer. Other producers stay.
void remove_dead_values(ir::Graph& g, std::vector<std::string> values);
inline void remove_dead_value(ir::Graph& g, const std::string& value) { remove_dead_values(g, {value}); }

// The float32 per-channel constant an Add reads beside `value`, when that Add is the only reader
// of `value` (and `value` is no graph output) and the constant has `channels` values on its last
// axis (so it broadcasts along the output channels of a MatMul): the Add's node index and the
// constant's input slot, or {-1, -1}. (cp_rewrite.cpp)
std::pair<int, int> following_bias_add(const ir::Graph& g, const std::string& value, int64_t channels);

// A node of one output, attributes to be added by the caller.
ir::Node make_node(const std::string& op, const std::string& name, std::vector<std::string> inputs, std::string output);
// A Cast node to `to`.
ir::Node cast_node(const std::string& name, const std::string& in, const std::string& out, DType to);
// An integer constant of `dtype` (Int32 or Int64).
Tensor int_tensor(DType dtype, Shape shape, const std::vector<int64_t>& values);
// A constant shared model-wide (e.g. by every packed weight's decoder): the initializer `name`,
// added with value `t` when absent. Returns `name`.
std::string shared_constant(ir::Graph& g, const std::string& name, Tensor t);
// Sets (replacing) or adds an initializer.
void set_initializer(ir::Graph& g, const std::string& name, Tensor t);

}  // namespace qcp::rewrite
