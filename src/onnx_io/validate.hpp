// Load-time checks of a decoded model (internal to onnx_io). Each throws a one-line qcp::Error
// that starts with `what` (the file) and names the value, node or tensor at fault.
#pragma once

#include <string>

#include "qcp/ir/graph.hpp"

namespace qcp::onnx_io::detail {

// IR version and default-domain opset inside what qcp reads; cheap, so it runs before any
// tensor is decoded (an opset-99 file is refused without reading its weights).
void validate_header(const ir::Model& model, const std::string& what);

// The graph: every value defined once, every input defined somewhere, no cycle, at least one
// output; and the constant weights of Conv/ConvTranspose/Gemm/MatMul (non-empty, all finite),
// which no later stage can make sense of otherwise.
void validate_graph(const ir::Model& model, const std::string& what);

}  // namespace qcp::onnx_io::detail
