// Upgrading a model's default-domain opset (`qcp compress --opset N`, `qcp convert`).
//
// Steps one opset at a time. Up to opset 17 a step runs ONNX's own version converter (libonnx
// 1.12, onnx::version_conversion) over the nodes whose op changed in that opset, except where
// qcp's adapter replaces a wrong one (src/onnx_io/opset_adapters.cpp); from 17 to 21 qcp's
// adapters do every step. The result computes what the input did: the caller checks that by
// running both (pipeline/convert.hpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "qcp/ir/graph.hpp"

namespace qcp::onnx_io {

struct OpsetConversion {
    int64_t from = 0, to = 0;
    int64_t onnx_steps = 0;          // steps that ran ONNX's version converter
    std::vector<std::string> nodes;  // "Softmax 'sm' 12→13 (qcp)" for every node qcp adapted
};

// Rewrites `model` to import default-domain opset `target` (kMinOpset..kMaxOpset, not below the
// model's; equal is a no-op). Throws a one-line qcp::Error before changing anything observable
// to the caller when the target is out of range or lower, when a node holds a sub-graph, and,
// part way (the model is then to be dropped), when a node's op has no adapter for a step or an
// adapter cannot express the node: the message names the op, its node and the two opsets.
// Raises ir_version to the one that ONNX release introduced the target opset with, if lower.
// Shape facts (graph.inferred) are re-inferred when the target is at most 17, else kept.
OpsetConversion convert_opset(ir::Model& model, int64_t target);

}  // namespace qcp::onnx_io
