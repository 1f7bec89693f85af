// qcp's own opset adapters (internal to onnx_io): one step `to - 1 → to` of one node, on qcp's IR.
//
// Past opset 17 (the last one the linked libonnx knows) they are the only adapters, and the table
// lists every default-domain op whose schema changed at 18, 19, 20 or 21 (docs/Changelog.md of
// ONNX), with the adapter or none. Up to 17 ONNX's version converter does the work, except for the
// steps where its adapter is wrong for inference and qcp's replaces it (see opset_adapters.cpp).
#pragma once

#include <cstdint>
#include <string>

#include "qcp/ir/graph.hpp"

namespace qcp::onnx_io::detail {

// Rewrites node `node` of `g` from the op's form at `to - 1` to its form at `to`. May append
// nodes (Constant, Flatten, ...) to g.nodes, so callers sort the graph afterwards; rebuilds the
// index. Throws qcp::Error naming the node when its attributes have no equivalent at `to`.
using AdaptFn = void (*)(ir::Graph& g, size_t node, int64_t to);

struct StepAdapter {
    const char* op;
    int64_t to;          // the opset the op's schema changed in
    AdaptFn adapt;       // nullptr: qcp has no adapter, the step is refused
    const char* change;  // what changed, for logs and refusals
};

// The adapter qcp has for `op` at step `to - 1 → to`, or nullptr when the table has no row (up to
// 17: ONNX's converter handles the step; past 17: the op did not change).
const StepAdapter* own_adapter(const std::string& op, int64_t to);
// False for the rows whose change leaves existing nodes valid as they are (new types, new
// attributes or inputs with defaults that keep the old meaning).
bool rewrites_nodes(const StepAdapter& a);

// The last opset ONNX's version converter is used for; qcp's table covers the steps after it.
constexpr int64_t kLibonnxLastOpset = 17;

}  // namespace qcp::onnx_io::detail
