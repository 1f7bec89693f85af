// Per-layer latency in qcp's engine (`compress --measure-latency`, issue 13).
//
// A rewritten layer is timed as two regions cut out of their models: the nodes that compute the
// layer's output value from its input value and constants, in the original and in the written
// model. The written region is constant-folded first, as a runtime does at load (ONNX Runtime's
// constant folding, engine/fold.hpp): a packed or pq weight decoder costs nothing per run, a
// DequantizeLinear stays (ORT keeps it). Both regions run on the same tensor, the layer's real
// input captured from one run of the original model; rounds are interleaved (original, written,
// then each stage of a chain) so that drift hits them alike, and each time is a median in ms.
// Numbers are qcp's engine's, not a deployment runtime's: the engine is NCHW throughout (no
// NCHWc layout, so it cannot see ORT's rank-alignment effect) and runs Q/DQ pairs in float;
// docs/BENCHMARKS.md compares them with ONNX Runtime's.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "qcp/core/tensor.hpp"
#include "qcp/ir/graph.hpp"

namespace qcp {

// One compute node of a factorized chain: "expansion" (1×1 Cin→R, or the first Gemm/MatMul),
// "depthwise" (k×k, R groups), "projection" (R→Cout). share = ms / Σ ms of the chain's stages.
struct LatencyStage {
    std::string name;
    double ms = 0;
    double share = 0;
};

struct LayerLatency {
    Shape input_shape;                  // the tensor both regions ran on
    double before_ms = 0, after_ms = 0; // medians over `reps` interleaved rounds
    double before_min_ms = 0, after_min_ms = 0;  // fastest rounds (robust to a loaded machine)
    int reps = 0;
    std::vector<LatencyStage> stages;   // factorized chains only (empty otherwise)
    double ratio() const { return before_ms > 0 ? after_ms / before_ms : 0; }
};

// The whole model before and after (the written one folded), on the graph input that the layer
// inputs were captured from.
struct ModelLatency {
    Shape input_shape;
    double before_ms = 0, after_ms = 0;
    double before_min_ms = 0, after_min_ms = 0;
    int reps = 0;
    int threads = 0;
    double ratio() const { return before_ms > 0 ? after_ms / before_ms : 0; }
};

// The nodes of `model` that compute `output` from `input` and constants, as a model of their own
// with that one input and one output (opsets and IR version kept; constants copied). Throws
// qcp::Error when `output` needs any other value computed at run time. The graph's index must
// be current (Graph::rebuild_index).
ir::Model extract_region(const ir::Model& model, const std::string& input, const std::string& output);

// One model to time on its input tensor (both must outlive the call).
struct TimedRun {
    const ir::Model* model = nullptr;
    const Tensor* input = nullptr;
};
struct Timing {
    double median_ms = 0, min_ms = 0;
};
// Each run's median and fastest ms over `reps` rounds (each round runs them all in order) after
// one warm-up.
std::vector<Timing> time_interleaved(const std::vector<TimedRun>& runs, int reps);

// The latency of one layer: `before` is its region of the original model, `after` its region of
// the written one (folded here), both read `x`. With `chain_stages`, each Conv/Gemm/MatMul of the
// folded `after` region is also timed on its own input (stage names by position, see
// LatencyStage). reps ≥ 1.
LayerLatency measure_layer_latency(const ir::Model& before, const ir::Model& after, const Tensor& x, int reps,
                                   bool chain_stages);

}  // namespace qcp
