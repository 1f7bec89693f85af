// Global budgets for `qcp compress --target-ratio / --target-size / --target-macs` (internal to
// pipeline): per-layer damage curves measured on the weights (and calibration inputs), then a
// multiple-choice allocation that meets the target with the least summed damage.
//
// Damage of a setting s of layer l is its relative layer-output error
//     d_l(s) = ‖X_l (W_l − Ŵ_l(s))ᵀ‖² / ‖X_l W_lᵀ‖²    (X_l: calibration inputs; the weight error
// ‖W − Ŵ‖²/‖W‖² without calibration data), so layers are compared on the same scale. The settings
// and their damage come from the method's candidates() (methods/): CP settings are (rank, bits)
// measured by CP-ALS rounded to the grid (for a matrix, its truncated SVD, the point CP-ALS
// converges to; through the Kronecker metric, as the output objective);
// quantizer settings are bits measured by round-to-nearest. Both overestimate what AO-ADMM / GPTQ
// reach, roughly uniformly, which is what a ranking needs. --method mixed offers every applicable
// method's settings per layer (methods/mixed.cpp), each tagged with its method. A setting that
// would not make the layer smaller in weight bits and stored bits, or that would give it more
// params or MACs than it has, is never offered: leaving the layer as it is dominates it.
// The budget stage (stages/budget.cpp) turns a --target-* into a cost and a limit and applies the
// allocation to the plans.
//
// The compression ratio (the budget's, the report's totals, the table's and sweep's, one
// definition): Σ weight bits before / Σ weight bits after over the layers the method may compress
// (those the plan selected, including those a budget then leaves as they are).
//
// The layers' curves are measured in parallel, one layer per task: each curve is computed on
// one thread, so the curves (and the allocation) are the same at any --threads.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "qcp/ir/graph.hpp"
#include "qcp/ir/layers.hpp"
#include "qcp/pipeline/compress.hpp"

namespace qcp::budget {

struct Candidate {
    std::string method;    // the method that realizes it ("" for the layer's own)
    int rank = 0;          // 0 for quantizers
    int bits = 0;          // 0 for pq
    int64_t centroids = 0, subvector = 0;  // pq
    int64_t params_after = 0, weight_bits_after = 0, macs_after = -1;
    int64_t stored_bits_after = 0;  // as written: codes at their storage width (8, 4 at opset ≥ 21, 32 as float)
    double damage = 0;
};

struct LayerCurve {
    size_t layer = 0;                     // index into the plan
    int64_t params_before = 0;
    int64_t weight_bits_before = 0, macs_before = -1;  // stored bits before = weight bits before
    std::vector<Candidate> options;       // leaving the layer as it is is always allowed
    // network-output sensitivity: Δ(network output)² / layer damage of one probe setting; the
    // options' damage is scaled by it (1 when not measured)
    std::optional<double> sensitivity;
};

// Whether a setting makes the layer smaller: fewer weight bits and stored bits than before, and
// no more params or MACs.
bool reduces(const Candidate& k, int64_t params_before, int64_t weight_bits_before, int64_t macs_before);

enum class Cost { Bits, StoredBits, Macs };

// One choice per curve: an index into options, or −1 to leave the layer as it is, with
// Σ cost ≤ budget and the least Σ damage found (Lagrangian relaxation, then greedy upgrades
// while the budget allows). Throws qcp::Error when even the cheapest choices exceed the budget.
std::vector<int> allocate(const std::vector<LayerCurve>& curves, Cost cost, double budget);

// The damage curves of every selected layer of `plans` (layers[i] ↔ plans[i]), each from the
// candidates() of the layer's own method (a --layer rule's, else --method's); settings that do not
// reduce the layer are dropped. `hessians`: input Hessians by plan index (empty map: weight
// error), used where the layer's method measures through them. With `cache_dir`, curves are read
// from / written to a JSON file keyed by the model hash and every setting they depend on.
std::vector<LayerCurve> measure_curves(const ir::Graph& g, const std::vector<ir::Layer>& layers,
                                       const std::vector<LayerPlan>& plans, const CompressOptions& o,
                                       const std::map<size_t, Eigen::MatrixXd>& hessians, const std::string& model_sha256,
                                       int64_t opset);

// Per-layer values (by layer name) cached beside the damage curves under --cache, keyed by the
// same settings as the curves plus `what` (e.g. "sensitivity"): empty when absent, unreadable or
// keyed otherwise; store_cached writes them atomically. Without --cache both do nothing.
std::map<std::string, double> load_cached(const CompressOptions& o, const std::string& model_sha256, const std::string& what);
void store_cached(const CompressOptions& o, const std::string& model_sha256, const std::string& what,
                  const std::map<std::string, double>& values);

// Bits set for --bits auto.
const std::vector<int>& auto_bits();

}  // namespace qcp::budget
