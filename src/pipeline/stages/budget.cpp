// budget: for --target-ratio / --target-size / --target-macs, per-layer settings of the chosen
// method from measured damage curves (budget.hpp), allocated to meet the target with the least
// summed damage; then the method spends what is left (CP: extra rank).
#include "../budget.hpp"
#include "../methods/method.hpp"
#include "context.hpp"
#include "qcp/core/log.hpp"

namespace qcp::stages {

namespace {

// The cost the target limits and its limit over the curves' layers.
std::pair<budget::Cost, double> target_limit(Context& c, const std::vector<budget::LayerCurve>& curves) {
    const CompressOptions& o = c.options;
    CompressReport& r = c.report;
    int64_t bits_sel = 0, macs_sel = 0;
    for (const auto& cv : curves) {
        bits_sel += cv.weight_bits_before;
        macs_sel += std::max<int64_t>(cv.macs_before, 0);
    }
    if (o.target_ratio) {
        r.budget_target = "ratio";
        r.budget_value = *o.target_ratio;
        return {budget::Cost::Bits, double(bits_sel) / *o.target_ratio};
    }
    if (o.target_size) {
        r.budget_target = "size";
        r.budget_value = double(*o.target_size);
        return {budget::Cost::StoredBits,
                8.0 * double(*o.target_size) - (8.0 * double(r.input_bytes) - double(bits_sel)) - double(c.size_slack_bits)};
    }
    r.budget_target = "macs";
    r.budget_value = *o.target_macs;
    return {budget::Cost::Macs, *o.target_macs * double(r.input_macs) - double(r.input_macs - macs_sel)};
}

}  // namespace

void budget(Context& c) {
    const CompressOptions& o = c.options;
    if (!o.target_ratio && !o.target_size && !o.target_macs) return;
    const auto t0 = Clock::now();
    const methods::Method& method = methods::find(o.method);
    collect_input_hessians(c, true);
    std::map<size_t, Eigen::MatrixXd> metric;  // damage through the layer inputs only where the method measures it so
    if (method.budget_uses_hessian(c.objective)) metric = c.hessians;
    CompressOptions bo = o;
    bo.objective = c.objective;
    bo.bits_auto = o.bits_auto || method.budget_chooses_bits();
    const auto curves = budget::measure_curves(c.model.graph, c.layers, c.report.layers, bo, metric, c.report.input_sha256,
                                               c.model.opset(""));
    const auto [cost, limit] = target_limit(c, curves);
    const std::vector<int> pick = budget::allocate(curves, cost, limit);
    double damage = 0;
    for (size_t i = 0; i < curves.size(); ++i) {
        LayerPlan& p = c.report.layers[curves[i].layer];
        p.budgeted = true;
        if (pick[i] < 0) {
            p.selected = false;
            p.reason = "left as it is by the budget";
            p.method = "none";
            p.rank = p.bits = 0;
            p.params_after = p.params_before;
            p.weight_bits_after = p.weight_bits_before;
            p.macs_after = p.macs_before;
            continue;
        }
        const budget::Candidate& k = curves[i].options[static_cast<size_t>(pick[i])];
        p.rank = k.rank;
        p.bits = k.bits;
        p.params_after = k.params_after;
        p.weight_bits_after = k.weight_bits_after;
        p.macs_after = k.macs_after;
        p.predicted_damage = k.damage;
        damage += k.damage;
    }
    method.budget_top_up({c.model.graph, c.layers, c.report.layers, curves, pick, cost, limit, o, c.model.opset("")});
    c.report.budget_predicted_damage = damage;
    spdlog::info("budget: {} layers planned in {:.1f} s (predicted damage {:.4g})", curves.size(), since(t0), damage);
}

}  // namespace qcp::stages
