// `qcp eval` and `qcp compare`: run models on a dataset with qcp's engine and measure accuracy,
// agreement and output fidelity.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "qcp/data/dataset.hpp"
#include "qcp/pipeline/run_options.hpp"

namespace qcp {

struct EvalOptions : RunOptions {
    std::filesystem::path model;
    data::Sources data;            // PATH, or NAME=PATH per input (data/inputs.hpp)
    std::filesystem::path labels;  // empty: no accuracy
    std::filesystem::path ref;     // empty: no agreement/fidelity
    int64_t count = 0;             // 0: every sample
    std::filesystem::path dump_outputs;  // write the model's first output for every sample (.npy)
    bool force = false;                  // overwrite dump_outputs
};

struct EvalReport {
    std::string model;
    int64_t samples = 0;
    std::optional<double> top1, top5, agreement, output_rel_error, sqnr_db, kl;
    double seconds = 0;            // time spent running the model (not the reference)
    double samples_per_second = 0;
};

EvalReport evaluate(const EvalOptions& options);
nlohmann::ordered_json eval_to_json(const EvalReport& r);
std::string eval_to_text(const EvalReport& r);

struct CompareOptions : RunOptions {
    std::filesystem::path model_a, model_b;
    data::Sources data;
    std::filesystem::path labels;
    int64_t count = 0;
};

struct CompareSide {
    std::string model;
    uint64_t bytes = 0;
    int64_t params = 0, macs = 0;
    std::optional<double> top1, top5;
    double seconds_per_batch = 0;  // median over batches
    double samples_per_second = 0;
};

struct CompareReport {
    CompareSide a, b;
    int64_t samples = 0;
    int64_t batch = 0;
    std::optional<double> agreement, output_rel_error, sqnr_db, kl;  // B measured against A
};

CompareReport compare(const CompareOptions& options);
nlohmann::ordered_json compare_to_json(const CompareReport& r);
std::string compare_to_text(const CompareReport& r);

}  // namespace qcp
