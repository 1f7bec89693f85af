// qcp IR -> onnx::ModelProto (internal to onnx_io): for writing files, for the checker and
// for ONNX shape inference, each wanting a different amount of tensor data.
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <string>
#include <vector>

#include "qcp/ir/graph.hpp"

namespace qcp::onnx_io::detail {

// Offsets of tensors in a side file are multiples of this (lets readers map them aligned).
constexpr uint64_t kExternalAlignment = 64;

// Tensors that go to the side file: recorded with where to find their bytes.
struct ExternalPlan {
    std::string location;  // side file name, relative to the model's folder
    size_t threshold = 0;  // tensors of at least this many bytes go to the side file
    bool enabled = false;
    std::vector<const Tensor*> tensors;  // in file order, each at the next aligned offset
    uint64_t next_offset = 0;
};

// How much tensor data a proto carries: all of it (files), dims and type only except small
// int64 tensors (shape inference reads Reshape shapes), or a one-byte stand-in for large
// tensors (onnx::checker wants a non-empty data field but does not read raw bytes, and copying
// gigabytes for it would double the memory a large model needs).
enum class DataMode { Full, ShapesOnly, Placeholder };

// `ext`, when given and enabled, moves large tensors to the side file plan instead of the proto.
void model_to_proto(const ir::Model& m, onnx::ModelProto* p, ExternalPlan* ext, DataMode mode);

// Bytes of all initializers and Constant-node tensors.
uint64_t tensor_bytes(const ir::Model& m);

}  // namespace qcp::onnx_io::detail
