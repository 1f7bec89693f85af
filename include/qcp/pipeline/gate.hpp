// The accuracy gate of `qcp compress --max-drop P`: after the output is written, top-1 of the
// original and of the output on an evaluation set; the gate fails when it fell by more than P
// percentage points (the output is kept either way).
#pragma once

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "qcp/pipeline/compress.hpp"
#include "qcp/pipeline/evaluate.hpp"

namespace qcp {

// Accuracy gates compare percentages computed from sample counts; this absorbs their round-off.
inline constexpr double kGateSlack = 1e-9;

struct GateOptions {
    std::filesystem::path data, labels;  // the evaluation set
    int64_t count = 0;                   // first N samples; 0: all
    double max_drop = 0;                 // percentage points
};

// Refuses a gate that cannot run: no data or labels, a negative or non-finite drop, a dry run.
void validate_gate(const GateOptions& g, const CompressOptions& o);
// Evaluates o.model and o.output (batch, threads and image options from `o`); returns the
// report's "gate" object: max_drop, samples, top1_before, top1_after, drop, agreement, passed.
nlohmann::ordered_json run_gate(const GateOptions& g, const CompressOptions& o);
// "gate on N samples: top-1 A% -> B% (drop D points, --max-drop P): passed|FAILED"
std::string gate_line(const nlohmann::ordered_json& gate);

}  // namespace qcp
