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

// What the sensitivity probe compares, per graph output: the output itself (relative error²), or
// the logits before a final Softmax / LogSoftmax (by the margins of the top classes) or Sigmoid
// (relative error²). Probabilities hide what decoding loses: a saturated softmax barely moves while
// its argmax flips, and the error² of PP-OCRv4 rec's probabilities ranked a plan that kept 31% of
// the CTC strings above gptq 4-bit, which keeps 91% (docs/RESULTS.md, "mixed on PP-OCRv4").
struct ProbeOutput {
    bool margin = false;       // compare by top-class margins (a Softmax / LogSoftmax's logits)
    int64_t axis = -1;         // the softmax axis, as the node has it
    bool coerce_2d = false;    // opset < 13: the axis and everything after it are one class axis
};

// `m` with each graph output that a final Softmax, LogSoftmax or Sigmoid writes replaced by that
// node's input (the node stays and runs, unread; no node index moves), and what to compare per output.
ir::Model logit_model(const ir::Model& m, std::vector<ProbeOutput>& kinds) {
    ir::Model out = m;
    ir::Graph& g = out.graph;
    g.rebuild_index();
    kinds.assign(g.outputs.size(), ProbeOutput{});
    const int64_t opset = out.opset("");
    for (size_t i = 0; i < g.outputs.size(); ++i) {
        const int p = g.producer(g.outputs[i].name);
        if (p < 0) continue;
        const ir::Node& n = g.nodes[static_cast<size_t>(p)];
        const bool softmax = n.op_type == "Softmax" || n.op_type == "LogSoftmax";
        if (!n.domain.empty() || (!softmax && n.op_type != "Sigmoid") || n.input(0).empty() || g.is_graph_input(n.input(0)) ||
            g.constant(n.input(0)))
            continue;
        if (softmax) kinds[i] = {true, n.attr_int("axis", opset < 13 ? 1 : -1), opset < 13};
        g.outputs[i] = ir::ValueInfo{n.input(0), DType::Float32, false, {}, "", ""};
    }
    g.rebuild_index();
    return out;
}

// Rows per class vector: the margin's classes of row r, class j at r's base + j · stride.
struct ClassRows {
    int64_t outer = 0, n = 0, inner = 0;
};
ClassRows class_rows(const Tensor& t, const ProbeOutput& k) {
    const int64_t rank = static_cast<int64_t>(t.rank());
    if (rank == 0) return {1, 1, 1};
    const int64_t axis = k.axis < 0 ? k.axis + rank : k.axis;
    if (axis < 0 || axis >= rank) return {0, 0, 0};
    int64_t outer = 1, n = 1, inner = 1;
    for (int64_t d = 0; d < rank; ++d) {
        const int64_t v = t.dim(static_cast<size_t>(d));
        if (d < axis) outer *= v;
        else if (d == axis || k.coerce_2d) n *= v;
        else inner *= v;
    }
    return {outer, n, inner};
}

// Competitors of the top class a margin is measured against, and the floor of a margin as a
// fraction of the median top-two margin (rows fp32 itself barely decides count, but not infinitely).
constexpr int kMarginClasses = 4;
constexpr double kMarginFloor = 0.1;

// Mean over the rows of max_j ((δ_j − δ_t) / max(z_t − z_j, floor))²: t the reference's top class,
// j its next kMarginClasses, z the reference logits, δ the probe's change; the square of how far
// the probe moves the row towards flipping its argmax, in units of the margin it had.
double margin_error_sq(const Tensor& a, const Tensor& b, const ProbeOutput& k) {
    const ClassRows cr = class_rows(b, k);
    if (cr.n < 2 || cr.outer * cr.inner == 0) return 0.0;
    const float *pa = a.data<float>(), *pb = b.data<float>();
    const int64_t rows = cr.outer * cr.inner;
    const auto at = [&](int64_t r, int64_t j) { return (r / cr.inner) * cr.n * cr.inner + j * cr.inner + r % cr.inner; };
    const int64_t kc = std::min<int64_t>(kMarginClasses, cr.n - 1);
    std::vector<int64_t> top(static_cast<size_t>(rows * (kc + 1)));  // per row: t, then its competitors
    std::vector<double> gap(static_cast<size_t>(rows));
    std::vector<int64_t> idx(static_cast<size_t>(cr.n));
    for (int64_t r = 0; r < rows; ++r) {
        for (int64_t j = 0; j < cr.n; ++j) idx[static_cast<size_t>(j)] = j;
        std::partial_sort(idx.begin(), idx.begin() + kc + 1, idx.end(), [&](int64_t x, int64_t y) {
            const float vx = pb[at(r, x)], vy = pb[at(r, y)];
            return vx != vy ? vx > vy : x < y;
        });
        std::copy(idx.begin(), idx.begin() + kc + 1, top.begin() + r * (kc + 1));
        gap[static_cast<size_t>(r)] = double(pb[at(r, idx[0])]) - pb[at(r, idx[1])];
    }
    std::nth_element(gap.begin(), gap.begin() + rows / 2, gap.end());  // the median; gap is not read after
    const double floor = std::max(kMarginFloor * gap[static_cast<size_t>(rows / 2)], 1e-6);
    double e = 0;
    for (int64_t r = 0; r < rows; ++r) {
        const int64_t* tr = &top[static_cast<size_t>(r * (kc + 1))];
        const double zt = pb[at(r, tr[0])], dt = double(pa[at(r, tr[0])]) - zt;
        double worst = 0;
        for (int64_t c = 1; c <= kc; ++c) {
            const double zj = pb[at(r, tr[c])], dj = double(pa[at(r, tr[c])]) - zj;
            const double g = (dj - dt) / std::max(zt - zj, floor);
            worst = std::max(worst, g * g);
        }
        e += worst;
    }
    return e / double(rows);
}

// The probe's error: per float output, its margin error or its ‖a − b‖² / ‖b‖² (0 when b is all
// zero), summed.
double output_error_sq(const std::vector<Tensor>& a, const std::vector<Tensor>& b, const std::vector<ProbeOutput>& kinds) {
    double total = 0;
    for (size_t i = 0; i < b.size(); ++i) {
        if (b[i].dtype() != DType::Float32 || a[i].numel() != b[i].numel()) continue;
        if (kinds[i].margin) {
            total += margin_error_sq(a[i], b[i], kinds[i]);
            continue;
        }
        const float *pa = a[i].data<float>(), *pb = b[i].data<float>();
        double e = 0, norm = 0;
        for (int64_t j = 0; j < b[i].numel(); ++j) {
            e += (double(pa[j]) - pb[j]) * (double(pa[j]) - pb[j]);
            norm += double(pb[j]) * pb[j];
        }
        if (norm > 0) total += e / norm;
    }
    return total;
}

// Per curve: the network outputs' error (output_error_sq, on the logits where a final softmax or
// sigmoid has them) when its layer alone is rounded to the probe setting (the others left float),
// over that setting's layer damage on the scale its curve uses; the curve's damage is scaled by it,
// so layers compare by what reaches the output. One forward run per layer on the first
// kProbeSamples calibration samples; the layers' runs in parallel, one layer per task on one
// thread each (the engine's results do not depend on the thread count). With --cache the values
// are kept beside the curves (a --target-drop search asks again per try).
void measure_sensitivity(Context& c, const CompressOptions& key, std::vector<budget::LayerCurve>& curves,
                         const std::map<size_t, Eigen::MatrixXd>& metric) {
    const auto t0 = Clock::now();
    const int64_t n = std::min(kProbeSamples, c.calib_n);
    const std::string what = "sensitivity-v2|" + std::to_string(n) + "|" + std::to_string(kProbeBits);
    std::map<std::string, double> known = budget::load_cached(key, c.report.input_sha256, what);
    std::vector<size_t> todo;  // curves whose layer has no value yet
    for (size_t i = 0; i < curves.size(); ++i)
        if (!known.count(c.report.layers[curves[i].layer].name)) todo.push_back(i);
    struct Probe {
        double network = 0, layer = 0;  // error at the output, damage of the layer
    };
    std::vector<Probe> probes(todo.size());
    if (!todo.empty()) {
        const std::vector<Tensor> x = c.calib->read_inputs(0, n);
        std::vector<ProbeOutput> kinds;
        const ir::Model logits = logit_model(c.model, kinds);
        const std::vector<Tensor> y = engine::Session(logits).run(x);
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
                ir::Model probe = logits;
                (void)rewrite::rewrite_quantized(probe, l, rewrite::grid_weight_for(l, qt, q), rewrite::WeightFormat::Float);
                r.network = output_error_sq(engine::Session(probe).run(x), y, kinds);
            }
        });
    }
    for (size_t t = 0; t < todo.size(); ++t) {
        const std::string& name = c.report.layers[curves[todo[t]].layer].name;
        const Probe& r = probes[t];
        known[name] = r.layer > 0 ? r.network / r.layer : 1.0;
        spdlog::debug("budget: {} sensitivity {:.4g} (network error {:.4g} / layer damage {:.4g} at rtn {}-bit)", name, known[name],
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
