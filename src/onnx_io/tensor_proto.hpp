// TensorProto <-> qcp::Tensor (internal to onnx_io).
#pragma once

#include <filesystem>
#include <onnx/onnx_pb.h>

#include "qcp/core/tensor.hpp"

namespace qcp::onnx_io::detail {

// Decodes a TensorProto; external data is read relative to `base_dir` and must stay inside it.
// Each external file read is added to `files_read` when given.
Tensor tensor_from_proto(const onnx::TensorProto& proto, const std::filesystem::path& base_dir,
                         std::vector<std::string>* files_read = nullptr);

// Encodes as raw_data (no data when `with_data` is false: dims and type only).
void tensor_to_proto(const Tensor& t, const std::string& name, onnx::TensorProto* proto, bool with_data = true);

}  // namespace qcp::onnx_io::detail
