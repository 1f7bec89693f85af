// What a runtime holds of a model's constants once it has folded them at load, as ONNX Runtime
// does when it creates a session (onnxruntime/core/optimizer/constant_folding.cc).
#pragma once

#include <cstdint>

#include "qcp/ir/graph.hpp"

namespace qcp::engine {

// Bytes of the constant tensors that the nodes left to run read (each counted once), after every
// node whose inputs are all constant has been evaluated with qcp's kernels and replaced by its
// outputs. Constants are initializers (not overridable graph inputs from IR 4 on), Constant
// nodes and folded values. Like ONNX Runtime, DequantizeLinear is not folded (ORT keeps QDQ
// units for its quantized kernels, so a weight-only DequantizeLinear decodes at every run), nor
// nodes with subgraphs, in other domains, or without a qcp kernel; constant graph outputs count.
// A packed or pq weight thus counts as its float32 values, a qdq one as its integers and scales.
int64_t runtime_weight_bytes(const ir::Model& model);

// Replaces every node that runtime_weight_bytes folds by initializers holding its outputs (the
// same rule), as ONNX Runtime's graph looks after load; what --measure-latency times.
void fold_constants(ir::Model& model);

}  // namespace qcp::engine
