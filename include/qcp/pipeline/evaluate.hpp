// `qcp eval` and `qcp compare`: run models on a dataset with qcp's engine and measure accuracy,
// agreement and output fidelity.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "qcp/data/dataset.hpp"
#include "qcp/pipeline/metrics.hpp"
#include "qcp/pipeline/run_options.hpp"

namespace qcp {

struct EvalOptions : RunOptions {
    std::filesystem::path model;
    data::Sources data;            // PATH, or NAME=PATH per input (data/inputs.hpp)
    std::filesystem::path labels;  // empty: no accuracy
    std::filesystem::path ref;     // empty: no agreement/fidelity
    FidelityOptions fidelity;      // --class-axis, --mask-threshold, --ctc-blank (metrics.hpp)
    int64_t count = 0;             // 0: every sample
    std::filesystem::path dump_outputs;  // write the model's first output for every sample (.npy)
    bool force = false;                  // overwrite dump_outputs
};

// top1/top5 need labels and a (N, classes) first output. With --ref: `outputs` has every graph
// output's fidelity (metrics.hpp); agreement and kl are the first output's top-1 agreement and KL
// when it is a classifier (absent otherwise), output_rel_error and sqnr_db the first output's.
struct EvalReport {
    std::string model;
    int64_t samples = 0;
    std::optional<double> top1, top5, agreement, output_rel_error, sqnr_db, kl;
    std::vector<OutputFidelity> outputs;     // with --ref
    std::optional<PrimaryFidelity> fidelity; // with --ref: primary_fidelity(outputs)
    double seconds = 0;            // time spent running the model (not the reference)
    double samples_per_second = 0;
};

EvalReport evaluate(const EvalOptions& options);

// The reference's side of evaluations repeated against one reference model on one data set (the
// tries of `compress --target-drop`, each gated and checked against the original): its graph
// outputs, batch after batch, and its own top-1 on the labels, so the reference runs once. The
// outputs are kept while they fit in `max_bytes`; past it none are, and later evaluations run the
// reference again (its top-1 is kept either way).
class ReferenceRun {
public:
    explicit ReferenceRun(uint64_t max_bytes = uint64_t{1} << 30) : max_bytes_(max_bytes) {}
    // The reference has run once on the set, and its outputs are kept.
    bool filled() const { return filled_; }
    bool kept() const { return filled_ && !over_; }
    const std::vector<Tensor>& batch(size_t b) const { return batches_.at(b); }
    const std::optional<double>& top1() const { return top1_; }
    // Starts the first run again (what an interrupted one left is dropped); no-op once filled.
    void start();
    // While filling: one more batch's outputs (dropped, with all before, past max_bytes).
    void add(std::vector<Tensor> outputs);
    // Ends the first run.
    void finish(std::optional<double> top1);

private:
    uint64_t max_bytes_ = 0, bytes_ = 0;
    bool filled_ = false, over_ = false;
    std::optional<double> top1_;
    std::vector<std::vector<Tensor>> batches_;
};
// evaluate(), taking o.ref's outputs from `reference` when kept and filling it on first use; the
// caller keeps data, count, batch and ref the same across the calls.
EvalReport evaluate(const EvalOptions& options, ReferenceRun& reference);
nlohmann::ordered_json eval_to_json(const EvalReport& r);
std::string eval_to_text(const EvalReport& r);

struct CompareOptions : RunOptions {
    std::filesystem::path model_a, model_b;
    data::Sources data;
    std::filesystem::path labels;
    int64_t count = 0;
    FidelityOptions fidelity;
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
    std::optional<double> agreement, output_rel_error, sqnr_db, kl;  // B measured against A (as EvalReport)
    std::vector<OutputFidelity> outputs;                              // every output of B against A's
    std::optional<PrimaryFidelity> fidelity;
};

// The "fidelity" object of a report: {"metric", "output", "value", "unit"} (null when absent).
nlohmann::ordered_json primary_fidelity_json(const std::optional<PrimaryFidelity>& f);
// Refuses fidelity options that cannot apply to `model`'s declared output shapes (e.g. --class-axis
// out of range), before anything runs; outputs without declared shapes are checked when they run.
void check_fidelity_options(const std::filesystem::path& model, const FidelityOptions& o);

CompareReport compare(const CompareOptions& options);
nlohmann::ordered_json compare_to_json(const CompareReport& r);
std::string compare_to_text(const CompareReport& r);

}  // namespace qcp
