// The compression methods behind `--method` (internal to pipeline). Each family lives in its own
// file beside this one (cp.cpp: admm-cp, cp-als; scalar.cpp: rtn, gptq; pq.cpp: pq; mixed.cpp:
// mixed, the budget's per-layer choice among the others) and is one
// row of the explicit table in table.cpp, which parsing, --help, inspect, sweep, the budget and
// the report all read. Adding a method = one new file + one table row.
//
// A method is asked, per layer and in this order:
//   plan        whether it applies (else LayerPlan::reason) and the planned sizes;
//   candidates  its settings for a --target-* budget, with measured damage;
//   apply       solve and rewrite the layer in the output model, returning a typed result;
//   report_*    its own fields of the JSON report and the table.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <Eigen/Core>
#include <nlohmann/json.hpp>

#include "../budget.hpp"
#include "../stream.hpp"
#include "qcp/data/dataset.hpp"
#include "qcp/ir/layers.hpp"
#include "qcp/pipeline/compress.hpp"
#include "qcp/rewrite/cp_rewrite.hpp"

namespace qcp::methods {

// What plan() gets for one layer: the settings after --layer rules are merged.
struct PlanInput {
    const ir::Graph& graph;
    const ir::Layer& layer;
    const CompressOptions& options;
    bool last_layer = false;       // the model's last conv/FC layer (its classifier), of several
    bool explicit_rule = false;    // a --layer rule names this layer
    std::optional<int> rank;       // --rank / rank=
    std::optional<double> rank_ratio;
};

// What candidates() gets: the layer, its plan, the bits to try, and the input Hessian (null:
// damage on the weights).
struct BudgetInput {
    const ir::Graph& graph;
    const ir::Layer& layer;
    const LayerPlan& plan;
    const CompressOptions& options;
    const std::vector<int>& bits;
    const Eigen::MatrixXd* hessian = nullptr;
    int64_t opset = 0;
};

// What apply() gets: the output model with the layer's node at `layer.node` (resolved by its
// output name, which no rewrite changes), calibration data, the Hessians the calibrate stage
// collected for methods that asked (uses_input_hessian), by plan index, and the calibration
// stream over the output model (null without data): the layer inputs of the partly compressed
// network, read through calibration::streamed_layer_hessians.
struct SolveInput {
    ir::Model& out;
    const ir::Layer& layer;
    size_t index = 0;
    const CompressOptions& options;
    const std::string& objective;          // the resolved CP objective: "weight" or "output"
    data::Dataset* calib = nullptr;
    int64_t calib_n = 0;
    std::map<size_t, Eigen::MatrixXd>& hessians;
    calibration::Stream* stream = nullptr;
};

// A solved layer. The method fills its own LayerPlan fields (scheme, errors, sizes); these are
// the fields every method returns.
struct LayerResult {
    LayerStatus status = LayerStatus::Done;
    int iterations = 0;
    double rel_error = 0;                       // ‖W − Ŵ‖_F / ‖W‖_F
    std::optional<rewrite::CpRewrite> rewrite;  // the factorized chain, when its output statistics can be corrected
    std::string progress;                       // one line for the log: "admm-cp rank 12 4-bit: ..."
};

// How a budget's leftover is spent after allocation (CP: extra rank); see budget_top_up.
struct TopUpInput {
    const ir::Graph& graph;
    const std::vector<ir::Layer>& layers;
    std::vector<LayerPlan>& plans;
    const std::vector<budget::LayerCurve>& curves;
    const std::vector<int>& pick;
    budget::Cost cost;
    double limit = 0;
    const CompressOptions& options;
    int64_t opset = 0;  // the model's default-domain opset: the stored code width depends on it
};

class Method {
public:
    virtual ~Method() = default;
    virtual const MethodInfo& info() const = 0;
    const char* name() const { return info().name; }

    // Why the method cannot take the layer under any setting ("" when it can); for inspect.
    virtual std::string blocker(const ir::Layer& l) const = 0;
    // Sets p.reason when the method cannot (or should not) compress the layer, else selects it
    // and fills the planned rank/bits/sizes.
    virtual void plan(const PlanInput& in, LayerPlan& p) const = 0;
    // Settings a budget chooses among, each with its measured damage.
    virtual std::vector<budget::Candidate> candidates(const BudgetInput& in) const = 0;
    // A budget over this method also chooses bits (quantizers always do; CP with --bits auto).
    virtual bool budget_chooses_bits() const { return !info().factorizes; }
    // The budget measures damage through the layer inputs' Hessian for this objective.
    virtual bool budget_uses_hessian(const std::string& objective) const { (void)objective; return true; }
    // Spends what the allocation left of the budget (after the plans took their picks).
    virtual void budget_top_up(const TopUpInput& in) const { (void)in; }
    // The solve needs the layer's input Hessian collected up front (single-group layers).
    virtual bool uses_input_hessian(const std::string& objective) const { (void)objective; return false; }
    virtual LayerResult apply(const SolveInput& in, LayerPlan& p) const = 0;

    // Its options in the report's "settings" and its fields in each layer row: the keys exist
    // already (null) in the contract's order; a method overwrites its own.
    virtual void report_settings(nlohmann::ordered_json& settings, const CompressOptions& o) const { (void)settings, (void)o; }
    virtual void report_layer(nlohmann::ordered_json& row, const LayerPlan& p) const { (void)row, (void)p; }
    // Appended to the table's status column.
    virtual std::string table_note(const LayerPlan& p) const { (void)p; return ""; }
};

// The table, in --help order; find() throws qcp::Error naming the known methods.
const std::vector<const Method*>& table();
const Method& find(const std::string& name);
const Method* lookup(const std::string& name);  // null for "none" and unknown names

// Per-family accessors, one per row of table.cpp.
const Method& admm_cp();
const Method& cp_als();
const Method& rtn();
const Method& gptq();
const Method& pq();
const Method& mixed();

}  // namespace qcp::methods
