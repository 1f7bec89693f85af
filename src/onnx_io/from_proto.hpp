// onnx::GraphProto -> qcp IR (internal to onnx_io): the loader's graph decoding, also used to take
// back what ONNX's version converter wrote.
#pragma once

#include <onnx/onnx_pb.h>

#include <filesystem>
#include <string>
#include <vector>

#include "qcp/ir/graph.hpp"

namespace qcp::onnx_io::detail {

// Decodes nodes, values and tensors (external data resolved against `base_dir`, the side files
// read listed in `files` when given), consuming the proto's tensor bytes; rebuilds the index.
ir::Graph graph_from_proto(onnx::GraphProto& g, const std::filesystem::path& base_dir, std::vector<std::string>* files);

}  // namespace qcp::onnx_io::detail
