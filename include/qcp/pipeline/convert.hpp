// Opset upgrades checked in the engine: `qcp convert MODEL -o OUT --opset N`, and the first step
// of `qcp compress --opset N` (onnx_io::convert_opset does the rewriting).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "qcp/data/dataset.hpp"
#include "qcp/ir/graph.hpp"
#include "qcp/onnx_io/opset.hpp"
#include "qcp/pipeline/run_options.hpp"

namespace qcp {

// Largest difference allowed between a model and its converted copy, per output:
// max |a - b| / max |a| (integer and bool outputs must be equal).
constexpr double kOpsetCheckTolerance = 1e-5;
// Samples the check runs: the first of the calibration data, or random ones.
constexpr int64_t kOpsetCheckSamples = 4;
// Size given to a symbolic input dimension other than the first (batch) one for random inputs.
constexpr int64_t kOpsetCheckFreeDim = 64;

// The engine's run of the original against the converted model.
struct OpsetCheck {
    bool ran = false;
    std::string skipped;      // why it did not run (the engine cannot run the original)
    std::string inputs;       // "calibration data" or "random"
    int64_t samples = 0;
    double max_rel_error = 0;  // largest over outputs
    std::string worst_output;
};

struct OpsetUpgrade {
    onnx_io::OpsetConversion conversion;
    OpsetCheck check;
};

// Converts `model` to opset `target` and checks it against the model as it was on the first
// kOpsetCheckSamples samples of `calib` when given, else on deterministic random inputs shaped like
// the model's (uniform [0, 1) floats, zero integers; a symbolic batch is kOpsetCheckSamples, other symbolic dims
// kOpsetCheckFreeDim). A conversion that changes an output by more than kOpsetCheckTolerance
// throws a one-line qcp::Error naming the first such output. When the engine cannot run the
// original the check is skipped with a warning (check.skipped says why).
OpsetUpgrade upgrade_opset(ir::Model& model, int64_t target, data::Dataset* calib);
// The calibration data for upgrade_opset's check, fed to the model's inputs as the options say
// (data/inputs.hpp) and checked against them; nullptr when `calib` is empty.
std::unique_ptr<data::Dataset> open_check_data(const ir::Model& model, const data::Sources& calib, const RunOptions& o);

struct ConvertOptions : RunOptions {
    std::filesystem::path model, output;
    int64_t opset = 0;
    std::filesystem::path calib;  // samples for the check (else random inputs)
    bool external_data = false;
    bool force = false;
};

struct ConvertReport {
    ConvertOptions options;
    int64_t input_opset = 0;
    OpsetUpgrade upgrade;
    uint64_t output_bytes = 0;
    double seconds = 0;
};

// Loads, upgrades, checks and writes (atomically; an existing output needs `force`).
ConvertReport convert(const ConvertOptions& options);
nlohmann::ordered_json convert_to_json(const ConvertReport& r);
std::string convert_to_table(const ConvertReport& r);
// The conversion and check as a JSON object (also the compress report's "conversion").
nlohmann::ordered_json opset_upgrade_to_json(const OpsetUpgrade& u);
// One line for tables: "opset 9 -> 13 (...); check on 4 random sample(s): max rel. error 1.2e-07".
std::string opset_upgrade_line(const OpsetUpgrade& u);

}  // namespace qcp
