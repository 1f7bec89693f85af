// `qcp compress`: plan which layers to compress and how, solve, rewrite, correct, verify, save.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "qcp/core/error.hpp"
#include "qcp/data/dataset.hpp"
#include "qcp/decomp/cp.hpp"
#include "qcp/pipeline/convert.hpp"
#include "qcp/pipeline/latency.hpp"
#include "qcp/pipeline/metrics.hpp"
#include "qcp/pipeline/run_options.hpp"
#include "qcp/rewrite/weights.hpp"

namespace qcp {

// A --target-* the budget cannot meet even with every layer at its cheapest setting.
class UnreachableTarget : public Error {
public:
    using Error::Error;
};

// The method used when --method is not given (a row of the method table).
extern const char* const kDefaultMethod;

struct CompressOptions : RunOptions {
    CompressOptions() { batch = 128; }  // calibration batches
    std::filesystem::path model;
    std::filesystem::path output;
    std::string method = kDefaultMethod;
    std::optional<int> rank;            // --rank N
    std::optional<double> rank_ratio;   // --rank-ratio r (default 2 when neither is given)
    int bits = 4;
    // CP methods: tensor (default) or channel; rtn/gptq: channel (default), tensor, or blocks
    // of block_size input channels when block_size > 0 (Gemm/MatMul; opset 21 in qdq format)
    std::optional<decomp::Granularity> granularity;
    bool symmetric = true;            // rtn/gptq: symmetric (int8/int4) or asymmetric (uint8/uint4)
    int64_t block_size = 0;
    double damp = 0.01;               // gptq: damping relative to mean(diag H)
    bool act_order = false;           // gptq: quantize columns by decreasing H_ii
    // pq: codewords per layer (≤ 65536), sub-vector size (0: kh·kw for k×k convs, 4 otherwise),
    // EM iterations, activation metric (else plain weight k-means), joint codeword refit
    int64_t centroids = 256;
    int64_t pq_block = 0;
    int pq_iters = 50;
    bool pq_metric = true;
    bool pq_refit = true;
    // admm-cp/cp-als: ranks that a --rank-ratio or a budget picks are rounded down to a multiple
    // of rank_align (1: exact). ORT's CPU convs run the chain's R-channel tensors on their fast
    // (NCHWc / blocked GEMM) paths only when R is a multiple of 4: an unaligned chain is 1.2–1.6×
    // slower than the original conv, an aligned one 0.4–0.7× (docs/BENCHMARKS.md). --rank N is exact.
    int rank_align = 4;
    // admm-cp/cp-als: "weight" (‖W − Ŵ‖) or "output" (‖X(W − Ŵ)‖ on calibration inputs)
    std::string objective;            // empty: weight, with or without --calib (why: docs/RESULTS.md, issue 7)
    // global budget (at most one): weights X× smaller over the layers the method may compress (the
    // compression ratio, one definition everywhere: budget.hpp), output file of at most N bytes, or
    // MACs at most F × the input's; per-layer ranks (CP) and, with bits_auto (--bits auto) or a
    // quantizer, bits are chosen by budget::allocate; with --method mixed, the method as well
    std::optional<double> target_ratio;
    std::optional<uint64_t> target_size;
    std::optional<double> target_macs;
    bool bits_auto = false;
    // budget: each layer's damage scaled by its measured network-output sensitivity (needs --calib;
    // default: on for --method mixed with --calib, off otherwise)
    std::optional<bool> sensitivity;
    std::filesystem::path cache;        // damage curves cached here (--cache DIR)
    data::Sources calib;                // calibration data (enables correction and the check); NAME=PATH per input
    int64_t calib_count = 1000;
    FidelityOptions fidelity;           // how the check (and --max-drop) measures each output
    std::optional<bool> correct;        // default: on when calib is given
    std::vector<std::string> layer_rules;  // 'REGEX=key=value,...'
    std::vector<std::string> excludes;     // REGEX
    // --format qdq|float|packed; unset (--format auto, the default): resolved_format() chooses
    std::optional<rewrite::WeightFormat> format;
    // --activations 8: static uint8 activations as QDQ around the compressed layers, ranges from
    // --calib on the compressed network (--act-calib; empty: the default); 0: weights only
    int activations = 0;
    std::string act_calib;
    std::optional<double> act_percentile;  // --act-calib percentile: p (default 99.99)
    bool external_data = false;
    uint64_t seed = 0;
    bool dry_run = false;
    bool force = false;
    std::optional<int64_t> opset;       // --opset N: upgrade the default-domain opset first
    // --measure-latency: after writing, each compressed layer (and the whole model) timed in qcp's
    // engine before and after, on the first latency_batch calibration samples (else a random
    // input of the model's shape, batch latency_batch), median of latency_reps interleaved rounds
    // (qcp/pipeline/latency.hpp). Changes the report only, never the written model.
    bool measure_latency = false;
    int latency_reps = 20;
    int64_t latency_batch = 1;
};

// The weight format compress writes: --format when given, else the one `auto` stands for (packed:
// the smallest file at any opset, folded to float32 at load by ONNX Runtime). The one place
// where that default is decided.
rewrite::WeightFormat resolved_format(const CompressOptions& o);

// How a layer's solve ended; the report's "status" is layer_status_name() of it.
enum class LayerStatus {
    Planned,               // selected, not solved (--dry-run)
    Done,                  // a one-shot quantizer (rtn, gptq) finished
    Converged,             // an iterative solver met its tolerance
    MaxIterations,         // a CP solver stopped at its iteration limit ("max-iterations")
    Diverged,              // a CP solver's error grew; its best iterate is kept
    KmeansMaxIterations,   // pq's k-means stopped at --pq-iters ("max_iterations", as reports have always said)
    RtnFallback,           // gptq on a grouped conv with one scale per tensor: rounded instead
};
inline constexpr int kLayerStatusCount = 7;
const char* layer_status_name(LayerStatus s);

struct LayerPlan {
    std::string name, op;
    std::vector<int64_t> weight_shape;
    bool selected = false;
    std::string reason;                 // why not selected
    std::string method;
    int rank = 0;
    int bits = 0;
    decomp::Granularity granularity = decomp::Granularity::Tensor;
    int64_t params_before = 0, params_after = 0;
    int64_t weight_bits_before = 0, weight_bits_after = 0;
    int64_t macs_before = -1, macs_after = -1;
    // filled by the solve
    std::optional<double> rel_error, rel_error_init;
    LayerStatus status = LayerStatus::Planned;
    std::string scheme;                     // rtn/gptq: "sym channel", "asym block 32", ...
    std::optional<double> output_error_before, output_error_after;  // gptq: tr(ΔW H ΔWᵀ) of RTN and of GPTQ
    std::string objective;                  // admm-cp: "weight" or "output"
    std::optional<double> output_rel_error; // admm-cp, output objective: ‖W − Ŵ‖_M / ‖W‖_M (Kronecker metric)
    std::optional<double> predicted_damage; // budget: the relative output error² the plan expected
    bool budgeted = false;                  // its setting was chosen by a --target-* budget
    std::optional<double> sensitivity;      // budget: network-output error² / layer damage of an rtn 4-bit probe
    // pq: codewords, sub-vector length, and the bits an entropy-free packed index stream would take
    int64_t centroids = 0, subvector = 0;
    std::optional<int64_t> ideal_bits_after;
    std::optional<double> loss_init, loss_em;  // pq: layer-output error after k-means++ / EM (damped H)
    std::string storage;                    // how its weights are stored: "packed-4", "qdq-int8", "pq-gather", "float", ...
    int iterations = 0;
    double seconds = 0;
    bool corrected = false;
    // --activations: per node of the layer, the kernel ORT CPU fuses it into ("QLinearConv"), or "none: why"
    std::vector<std::string> activation_fusion;
    std::optional<LayerLatency> latency;    // --measure-latency
};

struct CompressReport {
    CompressOptions options;
    std::string input_sha256;
    int64_t input_opset = 0;                   // the model's, before any --opset upgrade
    std::optional<OpsetUpgrade> opset_upgrade; // with --opset
    uint64_t input_bytes = 0, output_bytes = 0;
    // what a runtime that folds constants at load holds of the weights (engine/fold.hpp)
    int64_t input_runtime_bytes = 0, output_runtime_bytes = 0;
    int64_t input_params = 0, output_params = 0;
    int64_t input_macs = 0, output_macs = 0;
    std::vector<LayerPlan> layers;
    double seconds = 0;
    // check on calibration samples (when --calib): every output of the written model against the
    // original's (metrics.hpp); top1_agreement only when the first output is (N, classes),
    // output_rel_error the first output's
    std::optional<int64_t> check_samples;
    // ... of which the written file itself ran on: all of them, or its first few when the
    // outputs of the solve's calibration stream, which it reproduced on those, stand for the rest
    std::optional<int64_t> check_file_samples;
    std::optional<double> check_top1_agreement, check_output_rel_error;
    std::vector<OutputFidelity> check_outputs;
    std::optional<PrimaryFidelity> check_fidelity;
    bool written = false;
    int64_t act_tensors = 0;  // --activations: tensors given a QuantizeLinear/DequantizeLinear pair
    // global budget (--target-*): which target, its value, the summed predicted damage
    std::optional<std::string> budget_target;
    double budget_value = 0, budget_predicted_damage = 0;
    bool budget_sensitivity = false;        // the damage was scaled by measured per-layer sensitivity
    std::optional<ModelLatency> latency;    // --measure-latency: the whole model
};

CompressReport compress(const CompressOptions& options);
class ReferenceRun;  // evaluate.hpp
// compress() whose check stage takes the original's outputs on the calibration samples from
// `check_original` when kept there, and fills it on first use (several compressions of one model
// with one --calib, --calib-count and --batch: the tries of --target-drop).
CompressReport compress(const CompressOptions& options, ReferenceRun* check_original);
nlohmann::ordered_json compress_to_json(const CompressReport& r);
std::string compress_to_table(const CompressReport& r);

// What a method needs of calibration data: none, better with it (runs without, weaker), or refused without.
enum class CalibUse { Optional, Recommended, Required };
// What `qcp sweep` varies for a method.
// None: not swept (mixed needs a --target-*).
enum class SweepAxes { Bits, BitsAndRankRatio, Centroids, None };

// One row of the method table that `--method`, --help, inspect, sweep and the budget read.
struct MethodInfo {
    const char* name;
    const char* description;
    bool factorizes;      // CP method: replaces the layer by a factorized chain (changes MACs)
    CalibUse calib;
    SweepAxes sweep;
    const char* ops;      // the ops it compresses, for --help
};
// In table order.
const std::vector<MethodInfo>& compress_methods();
// The names of the methods, joined by ", " (those that factorize only, when asked).
std::string method_names(bool factorizing_only = false);

}  // namespace qcp
