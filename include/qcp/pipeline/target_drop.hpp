// `qcp compress --target-drop P`: the smallest model whose accuracy gate (gate.hpp) stays within P
// points. The budget's target ratio is searched: doubled from 2× while the gate passes (or until
// the budget cannot meet it), then bisected in log space between the largest ratio that passed
// and the smallest that failed, each try a whole compress to a temporary file beside the output
// and one gate evaluation. The best passing try is renamed onto the output (atomic); the others
// are removed. The tries share the budget's damage curves and sensitivities (--cache, or a
// temporary folder beside the output). When none passes, the try with the smallest drop is kept and `passed` is false, as
// with --max-drop. The method must take a --target-ratio budget (mixed, admm-cp, cp-als, rtn and
// gptq with bits chosen, pq).
#pragma once

#include <optional>
#include <vector>

#include <nlohmann/json.hpp>

#include "qcp/pipeline/compress.hpp"
#include "qcp/pipeline/gate.hpp"

namespace qcp {

struct DropSearchOptions {
    double target_drop = 0;    // percentage points (the gate's max_drop)
    int max_tries = 8;         // whole compress + gate runs at most
    double max_ratio = 256;    // the doubling stops here
    double resolution = 1.1;   // bisection stops when failed / passed ratio is below this
};

struct DropSearchResult {
    CompressReport report;             // of the try that was kept
    nlohmann::ordered_json gate;       // run_gate of that try
    nlohmann::ordered_json search;     // target_drop, chosen_ratio, tries: [{ratio, output_bytes, drop, passed}] or error
    bool passed = false;
};

// Refuses what cannot be searched: an explicit --target-*, --dry-run, --external-data (the side
// file's name is inside the model), a gate that cannot run (validate_gate), a non-finite P.
void validate_target_drop(const CompressOptions& o, const GateOptions& g, const DropSearchOptions& s);
DropSearchResult compress_to_target_drop(const CompressOptions& o, GateOptions g, const DropSearchOptions& s);
// What a front end (the CLI, the Python module) runs for `compress`: the gate's checks
// (validate_gate_request; validate_target_drop with `search`, which excludes --max-drop), then
// compress() and the gate, or the --target-drop search. `json` is compress_to_json of the kept
// report with "gate" and "target_drop" added when they ran; `passed` is the gate's (true without).
struct GatedCompress {
    CompressReport report;
    nlohmann::ordered_json json;
    bool gated = false;
    bool passed = true;
};
GatedCompress compress_gated(const CompressOptions& o, const GateOptions& g, bool max_drop_given,
                             const std::optional<DropSearchOptions>& search);

// "--target-drop P: kept 7.93x (drop 0.41 points) after 6 tries: 2x 0.1 ok, 4x 0.2 ok, ..."
std::string target_drop_line(const nlohmann::ordered_json& search);

}  // namespace qcp
