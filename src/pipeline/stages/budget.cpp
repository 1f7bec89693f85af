// budget: for --target-ratio / --target-size / --target-macs, per-layer settings from measured
// damage curves (budget.hpp) of each layer's method (with --method mixed: of every method that
// applies), optionally weighted by each layer's measured network-output sensitivity, allocated to
// meet the target with the least summed damage; then the CP layers spend what is left as rank.
#include <algorithm>

#include "../budget.hpp"
#include "../methods/common.hpp"
#include "../methods/method.hpp"
#include "context.hpp"
#include "qcp/core/log.hpp"
#include "qcp/core/parallel.hpp"
#include "qcp/engine/session.hpp"
#include "qcp/quant/rtn.hpp"
#include "qcp/rewrite/quant_rewrite.hpp"

namespace qcp::stages {

namespace {

// Sensitivity probe: every layer alone rounded to this many bits (rtn), on this many calibration samples.
constexpr int kProbeBits = 4;
constexpr int64_t kProbeSamples = 32;

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

// ‖a − b‖² / ‖b‖² over every float output (0 when b is all zero).
double output_error_sq(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
    double e = 0, norm = 0;
    for (size_t i = 0; i < b.size(); ++i) {
        if (b[i].dtype() != DType::Float32 || a[i].numel() != b[i].numel()) continue;
        const float *pa = a[i].data<float>(), *pb = b[i].data<float>();
        for (int64_t j = 0; j < b[i].numel(); ++j) {
            e += (double(pa[j]) - pb[j]) * (double(pa[j]) - pb[j]);
            norm += double(pb[j]) * pb[j];
        }
    }
    return norm > 0 ? e / norm : 0.0;
}

// Per curve: the network outputs' relative error² when its layer alone is rounded to the probe
// setting (the others left float), over that setting's layer damage on the scale its curve uses;
// the curve's damage is scaled by it, so layers compare by what reaches the output. One forward
// run per layer on the first kProbeSamples calibration samples; the layers' runs in parallel, one
// layer per task on one thread each (the engine's results do not depend on the thread count).
// With --cache the values are kept beside the curves (a --target-drop search asks again per try).
void measure_sensitivity(Context& c, const CompressOptions& key, std::vector<budget::LayerCurve>& curves,
                         const std::map<size_t, Eigen::MatrixXd>& metric) {
    const auto t0 = Clock::now();
    const int64_t n = std::min(kProbeSamples, c.calib_n);
    const std::string what = "sensitivity-v1|" + std::to_string(n) + "|" + std::to_string(kProbeBits);
    std::map<std::string, double> known = budget::load_cached(key, c.report.input_sha256, what);
    std::vector<size_t> todo;  // curves whose layer has no value yet
    for (size_t i = 0; i < curves.size(); ++i)
        if (!known.count(c.report.layers[curves[i].layer].name)) todo.push_back(i);
    struct Probe {
        double network = 0, layer = 0;  // error² at the output, damage of the layer
    };
    std::vector<Probe> probes(todo.size());
    if (!todo.empty()) {
        const std::vector<Tensor> x = c.calib->read_inputs(0, n);
        const std::vector<Tensor> y = engine::Session(c.model).run(x);
        parallel_for(static_cast<int64_t>(todo.size()), 1, [&](int64_t begin, int64_t end) {
            for (int64_t t = begin; t < end; ++t) {
                const budget::LayerCurve& cv = curves[todo[static_cast<size_t>(t)]];
                const ir::Layer& l = c.layers[cv.layer];
                const LayerPlan& p = c.report.layers[cv.layer];
                const rewrite::QuantTarget qt = rewrite::quant_target(c.model.graph, l);
                const quant::QuantizedMatrix q =
                    quant::rtn_quantize(qt.w.data(), qt.rows, qt.cols, methods::quant_scheme(c.options, kProbeBits));
                const std::vector<float> wq = q.dequantized();
                const auto h = metric.find(cv.layer);
                const bool through_h = h != metric.end() && methods::find(p.method).budget_uses_hessian(c.objective);
                Probe& r = probes[static_cast<size_t>(t)];
                r.layer = methods::relative_damage(qt.w.data(), wq.data(), qt.rows, qt.cols, through_h ? &h->second : nullptr);
                ir::Model probe = c.model;
                (void)rewrite::rewrite_quantized(probe, l, rewrite::grid_weight_for(l, qt, q), rewrite::WeightFormat::Float);
                r.network = output_error_sq(engine::Session(probe).run(x), y);
            }
        });
    }
    for (size_t t = 0; t < todo.size(); ++t) {
        const std::string& name = c.report.layers[curves[todo[t]].layer].name;
        const Probe& r = probes[t];
        known[name] = r.layer > 0 ? r.network / r.layer : 1.0;
        spdlog::debug("budget: {} sensitivity {:.4g} (network error² {:.4g} / layer damage {:.4g} at rtn {}-bit)", name, known[name],
                      r.network, r.layer, kProbeBits);
    }
    for (auto& cv : curves) {
        const double s = known.at(c.report.layers[cv.layer].name);
        cv.sensitivity = s;
        for (auto& k : cv.options) k.damage *= s;
    }
    if (!todo.empty()) {
        budget::store_cached(key, c.report.input_sha256, what, known);
        spdlog::info("budget: network-output sensitivity of {} layers measured on {} samples in {:.1f} s", todo.size(), n, since(t0));
    }
}

}  // namespace

bool sensitivity_enabled(const Context& c) {
    return c.calib && c.options.sensitivity.value_or(c.options.method == "mixed");
}

void budget(Context& c) {
    const CompressOptions& o = c.options;
    if (!o.target_ratio && !o.target_size && !o.target_macs) return;
    const auto t0 = Clock::now();
    collect_input_hessians(c, true);
    CompressOptions bo = o;
    bo.objective = c.objective;
    auto curves = budget::measure_curves(c.model.graph, c.layers, c.report.layers, bo, c.hessians, c.report.input_sha256,
                                         c.model.opset(""));
    if (sensitivity_enabled(c)) {
        measure_sensitivity(c, bo, curves, c.hessians);
        c.report.budget_sensitivity = true;
    }
    const auto [cost, limit] = target_limit(c, curves);
    const std::vector<int> pick = budget::allocate(curves, cost, limit);
    double damage = 0;
    for (size_t i = 0; i < curves.size(); ++i) {
        LayerPlan& p = c.report.layers[curves[i].layer];
        p.budgeted = true;
        p.sensitivity = curves[i].sensitivity;
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
        p.method = k.method;
        p.rank = k.rank;
        p.bits = k.bits;
        if (k.centroids > 0) p.centroids = k.centroids, p.subvector = k.subvector;
        p.params_after = k.params_after;
        p.weight_bits_after = k.weight_bits_after;
        p.macs_after = k.macs_after;
        p.predicted_damage = k.damage;
        damage += k.damage;
    }
    // the CP layers' top-up (the only method with one; it touches the layers the pick factorized)
    methods::admm_cp().budget_top_up({c.model.graph, c.layers, c.report.layers, curves, pick, cost, limit, o, c.model.opset("")});
    c.report.budget_predicted_damage = damage;
    spdlog::info("budget: {} layers planned in {:.1f} s (predicted damage {:.4g})", curves.size(), since(t0), damage);
}

}  // namespace qcp::stages
