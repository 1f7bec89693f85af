// `qcp compress` as named stages over one context (internal to pipeline):
//   load → plan → calibrate → budget → solve → correct → activations → save → check → report
// Each stage is a function in its own file of this folder; compress() (compress.cpp) runs them
// in order, and tests call them one by one. A stage reads what the earlier ones left in the
// context and adds its own part; none of them writes a file but save.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "../calibration.hpp"
#include "../plan.hpp"
#include "qcp/data/dataset.hpp"
#include "qcp/ir/graph.hpp"
#include "qcp/ir/layers.hpp"
#include "qcp/pipeline/compress.hpp"
#include "qcp/pipeline/evaluate.hpp"
#include "qcp/rewrite/cp_rewrite.hpp"

namespace qcp::stages {

using Clock = std::chrono::steady_clock;
inline double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// A factorized layer whose last weight the correction may rescale.
struct Correctable {
    size_t plan_index = 0;
    std::string output;  // the layer's output value
    rewrite::CpRewrite rw;
};

// --measure-latency: one layer's region of the original model and its real input.
struct LatencyProbe {
    size_t plan_index = 0;
    std::string input;  // the layer's data input value
    ir::Model before;   // extract_region of the original, layer input -> layer output
    Tensor x;           // that input on the latency graph input
};

struct Context {
    explicit Context(const CompressOptions& o) : options(o) { report.options = o; }

    const CompressOptions options;
    const Clock::time_point started = Clock::now();
    CompressReport report;                  // report.layers[i] is the plan of layers[i]

    // load
    ir::Model model;                        // the input, as loaded (moved into `out` when nothing reads it again)
    std::vector<ir::Layer> layers;          // its conv/FC layers, in graph order
    std::vector<std::string> layer_outputs; // layers[i]'s output value: its handle in the rewritten graph
    std::vector<plan::LayerRule> rules;
    std::vector<std::regex> excludes;

    // calibrate
    std::unique_ptr<data::Dataset> calib;
    int64_t calib_n = 0;
    std::string objective;                  // CP objective, resolved: "weight" or "output"
    std::map<size_t, Eigen::MatrixXd> hessians;  // input Hessians of single-group layers, by plan index

    // solve, correct
    ir::Model out;                          // the rewritten copy
    std::vector<Correctable> correctable;
    std::map<std::string, calibration::ChannelStats> original_stats;  // of layer outputs in `model`, for correction
    std::optional<uint64_t> stream_max_live_bytes;  // the stream's memory (unset: Stream::default_max_live_bytes())
    bool calib_streamed = false;            // the solve read the calibration stream (not per-layer re-runs) ...
    std::string stream_stopped;             // ... until it stopped for this reason ("" if it never did)
    // c.out's graph outputs (in c.out.graph.outputs order) per calibration batch of
    // options.batch, as the stream computed them after the last layer; the check takes them for
    // the written file's once the file reproduces them on its first samples. Reset by any later
    // change to what c.out computes (correct, activations).
    std::optional<std::vector<std::vector<Tensor>>> streamed_outputs;

    // --target-size: bits the budget holds back for what its per-layer counts miss (graph nodes,
    // names, headers), measured on an earlier attempt's serialized output
    int64_t size_slack_bits = 0;

    // latency (--measure-latency), captured before the solve
    std::vector<LatencyProbe> latency_probes;
    Tensor latency_input;                   // the graph input the layer inputs came from
    ir::Model latency_original;             // the input model, kept when solve moves c.model away

    // check: the original's outputs on the calibration samples, kept across compressions (or null)
    ReferenceRun* check_original = nullptr;
    // ... or, without one, kept from the run that measured the original's statistics for the
    // correction when it ran on the same samples (so the check need not run the original again)
    ReferenceRun original_outputs;
};

// load: validates the options, refuses an unsafe output, reads the model and its sizes.
void load(Context& c);
// plan: per layer, the --layer rules merged and the method's plan (selected or why not).
void plan(Context& c);
// calibrate: opens --calib and resolves the CP objective.
void calibrate(Context& c);
// --objective, or the default one.
std::string resolved_objective(const CompressOptions& o);
// Collects the input Hessians of selected single-group layers not collected yet: all of them
// (`all_selected`), or those whose method uses_input_hessian(). One pass over the calibration data.
void collect_input_hessians(Context& c, bool all_selected);
// budget: per-layer settings from measured damage for --target-ratio/size/macs (no-op without).
void budget(Context& c);
// --sensitivity / --no-sensitivity with calibration data, else on for --method mixed.
bool sensitivity_enabled(const Context& c);
// The report's output params/MACs from the plans (after a dry run or a save).
void total_sizes(Context& c);
// solve: every selected layer, in network order, solved and rewritten into c.out.
void solve(Context& c);
// correct: per-channel statistics of factorized layers re-matched to the original's.
void correct(Context& c);
// --correct / --no-correct, else on with calibration data.
bool correction_enabled(const Context& c);
// Samples the correction measures statistics on.
int64_t correction_samples(const Context& c);
// Layer outputs whose channels are on the last axis (MatMul layers'), for ChannelStats.
std::set<std::string> channels_last_values(const Context& c);
// The original network's statistics of `value`, collected on first use together with those of
// `more` (one run of c.model) and kept in c.original_stats.
const calibration::ChannelStats& original_stats(Context& c, const std::string& value, const std::vector<std::string>& more);
// Re-matches d's output statistics, `have` as measured on c.out, to the original's: folds the
// per-channel affine map into d's last weight and bias and marks the layer corrected.
void correct_layer(Context& c, Correctable& d, const calibration::ChannelStats& have);
// activations (--activations 8): calibrated uint8 Q/DQ on the inputs and outputs of every
// compressed Conv/Gemm/MatMul of c.out, ranges measured on c.out itself; per layer the fusion
// ORT will apply.
void quantize_activations(Context& c);
// --act-calib, or the default one.
std::string resolved_act_calib(const CompressOptions& o);
double resolved_act_percentile(const CompressOptions& o);
// --latency-reps / --latency-batch / --measure-latency checked before any work.
void validate_latency_options(const CompressOptions& o);
// latency, before the solve (--measure-latency): each selected layer's original region and its
// input on one run of the original model (latency.hpp).
void capture_latency_inputs(Context& c);
// latency, after the save: the written regions folded and timed against the originals, and the
// whole model before and after; fills LayerPlan::latency and CompressReport::latency.
void measure_latency(Context& c);
// save: writes c.out atomically and records the output size.
void save(Context& c);
// The bytes save() would write (the rewritten model finished as save finishes it, serialized).
int64_t output_bytes(Context& c);
// check: original against the written file on the calibration samples; removes the file when
// the check itself fails.
void check(Context& c);

}  // namespace qcp::stages
