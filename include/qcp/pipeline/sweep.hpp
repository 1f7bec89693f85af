// `qcp sweep`: compress one model with every combination of methods and settings, evaluate each
// result, and write the table and the Pareto charts.
//
// Combinations (in this order): for each method of `methods`,
//   CP methods (MethodInfo::factorizes: admm-cp, cp-als)  × bits × rank_ratios
//   scalar quantizers (rtn, gptq)                         × bits
//   pq                                                    × centroids (bits and ratios do not apply)
// Each compressed model is kept as OUT/models/<method>-b<bits>[-r<ratio>].onnx or
// OUT/models/pq-k<centroids>.onnx. The fp32 model is evaluated once on DATA/LABELS as the reference;
// each compressed model is evaluated on the same samples with the fp32 model as `--ref`.
// What the table and charts rank by (SweepReference::metric): top-1 with LABELS; without them the
// model's primary fidelity against fp32 (metrics.hpp primary_fidelity: top-1 agreement for (N, C),
// position agreement for sequences, mask IoU for maps, else SQNR in dB), fp32 scoring 100%.
// A combination that throws is recorded (status "failed", error message) and the sweep goes on.
//
// Files written to OUT (each atomically, at the end):
//   results.csv      one row per combination (columns: kSweepCsvColumns); top1 and agreement in
//                    percent, top1_drop in percentage points, sizes in bytes, MACs at batch 1;
//                    fidelity_metric and fidelity (the primary fidelity against fp32)
//   results.json     {"reference": {...}, "settings": {...}, "rows": [row + "compress": report]}
//   results.md       the table as Markdown (no timings), for docs
//   pareto.svg       top-1 against file size (log axis), one series per method, front, fp32 line
//   pareto_macs.svg  top-1 against MACs (log axis)
// Apart from the seconds columns (and "seconds" fields in the JSON), the files depend only on the
// inputs and the seed, not on the thread count.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "qcp/data/dataset.hpp"
#include "qcp/pipeline/metrics.hpp"
#include "qcp/pipeline/plot.hpp"
#include "qcp/pipeline/run_options.hpp"

namespace qcp {

// Defaults when a list is left empty (methods: every row of compress_methods()).
// Bits: 3,4,8 for CP methods (2-bit factors rarely keep a usable network), 2,3,4,8 for rtn/gptq.
inline const std::vector<int> kSweepDefaultCpBits = {3, 4, 8};
inline const std::vector<int> kSweepDefaultQuantBits = {2, 3, 4, 8};
inline const std::vector<double> kSweepDefaultRankRatios = {1.5, 2, 3};
inline const std::vector<int64_t> kSweepDefaultCentroids = {256, 64};

struct SweepOptions : RunOptions {
    std::filesystem::path model;
    data::Sources data;                  // evaluation set (required); NAME=PATH per input
    std::filesystem::path labels;        // labels: top-1, else fidelity to the original
    FidelityOptions fidelity;            // --class-axis, --mask-threshold, --ctc-blank
    data::Sources calib;                 // calibration data: correction, check, gptq/pq statistics
    int64_t calib_count = 1000;
    int64_t count = 0;                   // evaluation samples (0: all)
    std::vector<std::string> methods;    // empty: every method of compress_methods() (gptq/pq skipped without calib)
    std::vector<int> bits;               // empty: per-method defaults above
    std::vector<double> rank_ratios;     // empty: kSweepDefaultRankRatios
    std::vector<int64_t> centroids;      // empty: kSweepDefaultCentroids
    std::filesystem::path out;           // output folder (created)
    bool force = false;                  // replace results and models already in `out`
    uint64_t seed = 0;
};

// One planned compression.
struct SweepCombo {
    std::string method;
    std::optional<int> bits;             // absent for pq
    std::optional<double> rank_ratio;    // CP methods only
    std::optional<int64_t> centroids;    // pq only
    std::string name;                    // "admm-cp-b4-r2", "rtn-b8", "pq-k256"
};

struct SweepRow {
    SweepCombo combo;
    std::string path;                    // relative to `out`: models/<name>.onnx
    std::string status = "ok";           // ok | failed
    std::string error;                   // the failure's message
    std::optional<double> top1, top1_drop, agreement;  // percent, points, percent
    std::optional<double> output_rel_error;
    std::optional<PrimaryFidelity> fidelity;  // the primary fidelity against fp32 (percent or dB)
    nlohmann::ordered_json outputs;           // every output's fidelity (fidelity_to_json); null when failed
    uint64_t file_bytes = 0;
    std::optional<double> compression_ratio, file_ratio, macs_ratio;
    int64_t macs = 0, params = 0;
    double seconds_compress = 0, seconds_eval = 0;
    nlohmann::ordered_json compress_report;  // compress_to_json of the run (null when it failed)
};

struct SweepReference {
    std::string model;
    int64_t samples = 0;
    double top1 = 0;                     // percent (0 without labels)
    uint64_t file_bytes = 0;
    int64_t macs = 0, params = 0;
    double seconds_eval = 0;
    std::string metric = "top1";         // what the table and charts rank by: "top1" or a PrimaryFidelity metric
};

struct SweepReport {
    SweepOptions options;                // with the defaults filled in
    SweepReference reference;
    std::vector<SweepRow> rows;
    std::vector<std::string> skipped;    // methods left out, with the reason
    double seconds = 0;
};

// Fills defaults and validates every setting (one qcp::Error naming the first problem), without
// touching any file. Explicitly requested gptq/pq without calib is an error; defaulted ones are
// listed in `skipped`.
SweepOptions sweep_resolve(const SweepOptions& options, std::vector<std::string>* skipped = nullptr);
// The combinations of resolved options, in run order.
std::vector<SweepCombo> sweep_combinations(const SweepOptions& resolved);

// Runs the sweep and writes the files listed above. Throws qcp::Error on bad options or when the
// reference cannot be evaluated; failed combinations are rows, not exceptions.
SweepReport sweep(const SweepOptions& options);

extern const std::vector<std::string> kSweepCsvColumns;
std::string sweep_to_csv(const SweepReport& r);
nlohmann::ordered_json sweep_to_json(const SweepReport& r);
std::string sweep_to_markdown(const SweepReport& r);
std::string sweep_to_table(const SweepReport& r);

// The report back from sweep_to_json's output (for re-drawing the charts and tables of a finished
// sweep without running it again); throws qcp::Error when a field is missing or mistyped.
SweepReport sweep_from_json(const nlohmann::json& j);
// Rewrites results.csv, results.md and both charts in `out` from its results.json.
SweepReport sweep_replot(const std::filesystem::path& out);

// A row's score in the reference's metric (top-1 %, fidelity % or dB) and its drop from fp32 in
// points (none for dB).
std::optional<double> sweep_score(const SweepReport& r, const SweepRow& row);
std::optional<double> sweep_drop(const SweepReport& r, const SweepRow& row);

enum class SweepAxis { FileBytes, Macs };
plot::Chart sweep_chart(const SweepReport& r, SweepAxis axis);

}  // namespace qcp
