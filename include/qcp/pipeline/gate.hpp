// The gate of `qcp compress --max-drop P`: after the output is written, the original and the
// output are evaluated on an evaluation set; the gate fails when the model's fidelity fell by more
// than P percentage points (the output is kept either way). What is gated:
//   with --labels    top-1 accuracy of the original and of the output (the first output must be
//                    (N, classes))
//   without labels   the output against the original on the first graph output, by its kind
//                    (metrics.hpp): top-1 agreement (N, C), position agreement (N, T, C) or with
//                    --class-axis, mask IoU (N, 1, H, W) or with --mask-threshold; the original
//                    scores 100% against itself, so the drop is 100 − that percentage. An output of
//                    none of these kinds (SQNR only) cannot be gated in points: an error.
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
    data::Sources data;                  // the evaluation set: PATH, or NAME=PATH per model input
    std::filesystem::path labels;        // may be empty (fidelity gate)
    int64_t count = 0;                   // first N samples; 0: all
    double max_drop = 0;                 // percentage points
};

// Refuses a gate that cannot run: no data, a negative or non-finite drop, a dry run, and without
// labels a first output (as the model declares it) that has no metric in percent.
void validate_gate(const GateOptions& g, const CompressOptions& o);
// The gate as a front end takes it (the CLI's flags, the Python module's keywords), checked before
// compressing: without max_drop (`max_drop_given` false) data, labels or a count are refused
// ("... give --max-drop P too"); with it, validate_gate. Returns whether the gate is to run.
bool validate_gate_request(const GateOptions& g, bool max_drop_given, const CompressOptions& o);
// Evaluates o.model and o.output (batch, threads, image and fidelity options from `o`); returns the
// report's "gate" object: max_drop, samples, metric ("top1" or the fidelity metric), output (the
// graph output gated), before, after, drop, passed; with labels also top1_before, top1_after and
// agreement (the first output's top-1 agreement in percent, null when not (N, classes)).
nlohmann::ordered_json run_gate(const GateOptions& g, const CompressOptions& o);
// run_gate() for several outputs of one original on one set (`--target-drop`'s tries): the
// original's outputs and top-1 are computed on the first call and kept in `original`.
nlohmann::ordered_json run_gate(const GateOptions& g, const CompressOptions& o, ReferenceRun& original);
// "gate on N samples: top-1 A% -> B% (drop D points, --max-drop P): passed|FAILED", or
// "gate on N samples: position agreement with the original 100.00% -> B% (…)".
std::string gate_line(const nlohmann::ordered_json& gate);

// `qcp eval --min-top1 A`: refuses A outside [0, 100] and a gate without labels, before evaluating.
void validate_min_top1(double min_top1, const EvalOptions& o);
// The eval report's "gate" object: {"min_top1", "top1" (percent), "passed"} (top-1 at least A, up to kGateSlack).
nlohmann::ordered_json min_top1_gate(const EvalReport& r, double min_top1);

}  // namespace qcp
