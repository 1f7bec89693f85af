// ONNX files in and out. The only module that sees protobuf.
//
// load_model() parses a .onnx file into qcp's IR, decodes every initializer (raw_data or
// typed fields, little-endian; external data read from side files inside the model's folder),
// validates the graph and runs ONNX shape inference into Graph::inferred. save_model()
// writes the IR back, atomically, with tensors as raw_data and optionally in a side file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "qcp/ir/graph.hpp"

namespace qcp::onnx_io {

// Opsets of the default domain that qcp accepts.
constexpr int64_t kMinOpset = 7;
constexpr int64_t kMaxOpset = 21;
// Highest IR version qcp reads (ONNX 1.16+ writes 10, ONNX 1.18 writes 11).
constexpr int64_t kMaxIrVersion = 11;
// Size past which protobuf cannot hold a model: tensors must move to external data.
constexpr uint64_t kProtobufLimit = (uint64_t{1} << 31) - (uint64_t{1} << 20);

struct LoadOptions {
    bool infer_shapes = true;
};

ir::Model load_model(const std::filesystem::path& path, const LoadOptions& options = {});
// Parses bytes already in memory; external data locations resolve against `base_dir`.
ir::Model parse_model(const std::vector<uint8_t>& bytes, const std::filesystem::path& base_dir,
                      const std::string& what, const LoadOptions& options = {});

struct SaveOptions {
    // Write tensors of at least external_threshold bytes to `<output name>.data` beside the
    // model. Forced on when the model would pass protobuf's 2 GB limit.
    bool external_data = false;
    size_t external_threshold = 1024;
    bool overwrite = false;  // replace an existing file (--force)
    bool run_checker = true;  // run the ONNX checker first when it knows the model's opset
};

// Records qcp in producer_name/producer_version, runs the checker, writes atomically.
void save_model(const ir::Model& model, const std::filesystem::path& path, const SaveOptions& options = {});

// The model as .onnx bytes with every tensor inline (no external data). For tests and
// in-memory round trips; throws when the model is too large for one protobuf.
std::string serialize_model(const ir::Model& model);

// Runs onnx::checker on the model (tensor data omitted for speed). Throws qcp::Error with the
// checker's message. Returns false without checking when the checker does not know the
// model's opset or IR version.
bool check_model(const ir::Model& model);
// Highest default-domain opset the linked ONNX library's checker and shape inference know.
int64_t checker_max_opset();

// Re-runs ONNX shape inference and replaces graph.inferred. Never throws for inference
// failures (they only leave shapes unknown); a debug log line names them.
void infer_shapes(ir::Model& model);

}  // namespace qcp::onnx_io
