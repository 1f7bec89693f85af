// mixed: no solver of its own. A --target-* budget chooses per layer among the settings of every
// method that applies to it (rtn and gptq at 2–8 bits, admm-cp at the budget's ranks × bits, pq at
// a few codeword counts), each measured on the same scale (the layer-output error through the
// input Hessian, budget.hpp; CP through its Kronecker approximation, exact for FC and 1×1 layers)
// and tagged with its method; the solve then runs each layer's own
// method. A --layer rule that names a method takes the layer out of the mix.
#include <algorithm>
#include <chrono>

#include "common.hpp"
#include "method.hpp"
#include "qcp/core/error.hpp"
#include "qcp/core/log.hpp"
#include "qcp/quant/gptq.hpp"
#include "qcp/quant/pq.hpp"
#include "qcp/rewrite/pq_rewrite.hpp"
#include "qcp/rewrite/quant_rewrite.hpp"

namespace qcp::methods {

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Bits the scalar quantizers are offered at; CP factor bits (2-bit factors rarely leave a usable
// network, and each CP setting's damage through H costs a dense product); codewords pq is offered
// at (clamped to the sub-vectors).
const std::vector<int> kQuantBits = {2, 3, 4, 5, 6, 7, 8};
const std::vector<int> kCpBits = {3, 4, 6, 8};
const std::vector<int64_t> kPqCentroids = {16, 64, 256};
// EM iterations of pq's budget k-means (in the weight space; the damage is measured through H):
// the ranking settles long before the clustering does.
constexpr int kPqBudgetIters = 15;

std::vector<budget::Candidate> tagged(std::vector<budget::Candidate> v, const char* method) {
    for (auto& k : v) k.method = method;
    return v;
}

// rtn and gptq at each bit width, on the layer's input Hessian (single-group layers; gptq needs
// --calib). One GPTQ run per width gives both: its loss_before is rtn's layer-output error
// tr(ΔW H ΔWᵀ) and its loss_after gptq's, the same sums relative_damage() takes (so the values
// equal rtn's candidates() and a separate damage pass bit for bit), over tr(W H Wᵀ) once.
struct ScalarCandidates {
    std::vector<budget::Candidate> rtn, gptq;
};
ScalarCandidates scalar_candidates(const BudgetInput& in) {
    const auto t = rewrite::quant_target(in.graph, in.layer);
    const int64_t bias = in.layer.params - t.rows * t.cols;
    const std::vector<float> zero(t.w.size(), 0.0f);
    const double den = quant::gptq_layer_loss(t.w.data(), zero.data(), t.rows, t.cols, *in.hessian);
    ScalarCandidates out;
    for (int b : kQuantBits) {
        quant::GptqOptions go;
        go.scheme = quant_scheme(in.options, b);
        go.damp = in.options.damp;
        go.act_order = in.options.act_order;
        const quant::GptqResult g = quant::gptq_quantize(t.w.data(), t.rows, t.cols, *in.hessian, go);
        budget::Candidate c;
        c.bits = b;
        c.params_after = in.layer.params;
        // rtn's grids: the same for both
        c.weight_bits_after = g.q.storage_bits() + 32 * bias + correction_bits(in.graph, in.opset, in.layer, in.options, &g.q);
        c.stored_bits_after = c.weight_bits_after + (code_width(b, in.options, in.opset) - b) * t.rows * t.cols;
        c.macs_after = in.layer.macs;
        c.method = "rtn";
        c.damage = den > 0 ? g.loss_before / den : 0.0;
        out.rtn.push_back(c);
        c.method = "gptq";
        c.damage = den > 0 ? g.loss_after / den : 0.0;
        out.gptq.push_back(c);
    }
    return out;
}

// pq at a few codeword counts with pq's own sub-vector length (one kernel slice of a k×k conv, 4
// inputs otherwise, or --pq-block); none when that length does not divide the inputs.
std::vector<budget::Candidate> pq_candidates(const BudgetInput& in) {
    const ir::Layer& l = in.layer;
    const auto t = rewrite::quant_target(in.graph, l);
    const int64_t kernel = l.op == "Conv" && l.weight_shape.size() > 2 ? shape_numel(l.weight_shape) / l.weight_shape[0] / l.weight_shape[1] : 1;
    const int64_t d = in.options.pq_block > 0 ? in.options.pq_block : kernel > 1 ? kernel : 4;
    std::vector<budget::Candidate> out;
    if (t.cols % d != 0) return out;
    const int64_t bias = l.params - t.rows * t.cols, subvectors = t.rows * (t.cols / d);
    // pq's correction runs on convs only (methods/pq.cpp)
    const int64_t corr = l.op == "MatMul" ? 0 : correction_bits(in.graph, in.opset, l, in.options, nullptr);
    std::vector<int64_t> ks;
    for (int64_t k : kPqCentroids) ks.push_back(std::min(k, subvectors));
    ks.erase(std::unique(ks.begin(), ks.end()), ks.end());
    for (int64_t k : ks) {
        const rewrite::PqBits bits = rewrite::pq_bits(t.rows, t.cols / d, k, d, resolved_format(in.options));
        if (bits.storage_bits + 32 * bias + corr >= in.plan.weight_bits_before) continue;  // no smaller: not worth the k-means
        quant::PqOptions po;
        po.d = d;
        po.k = k;
        po.iters = std::min(in.options.pq_iters, kPqBudgetIters);
        po.seed = in.options.seed;
        po.damp = in.options.damp;
        po.refit = false;
        const quant::PqResult q = quant::pq_quantize(t.w.data(), t.rows, t.cols, {}, po);
        const std::vector<float> wq = q.dequantized();
        budget::Candidate c;
        c.method = "pq";
        c.centroids = q.k;
        c.subvector = d;
        c.params_after = l.params;
        c.weight_bits_after = c.stored_bits_after = bits.storage_bits + 32 * bias + corr;
        c.macs_after = l.macs;
        c.damage = relative_damage(t.w.data(), wq.data(), t.rows, t.cols, in.hessian);
        out.push_back(c);
    }
    return out;
}

class Mixed final : public Method {
public:
    const MethodInfo& info() const override {
        static const MethodInfo i{"mixed", "per-layer choice of method (rtn, gptq, admm-cp, pq) by the budget (needs a --target-*)",
                                  false, CalibUse::Recommended, SweepAxes::None, "Conv, Gemm, MatMul"};
        return i;
    }
    std::string blocker(const ir::Layer& l) const override { return quantizer_blocker(l, CompressOptions{}); }
    // Every layer some method takes (rtn takes the most); the budget sets the method and sizes.
    void plan(const PlanInput& in, LayerPlan& p) const override {
        p.reason = quantizer_blocker(in.layer, in.options);
        if (!p.reason.empty()) return;
        p.selected = true;
    }
    std::vector<budget::Candidate> candidates(const BudgetInput& in) const override {
        std::vector<budget::Candidate> all;
        std::string times;  // per method: seconds (settings), for the debug log
        auto add = [&all, &times](const char* what, const std::vector<budget::Candidate>& v, Clock::time_point t0) {
            times += fmt::format(" {} {:.2f} s ({})", what, since(t0), v.size());
            all.insert(all.end(), v.begin(), v.end());
        };
        auto t0 = Clock::now();
        const BudgetInput quant{in.graph, in.layer, in.plan, in.options, kQuantBits, in.hessian, in.opset};
        if (in.hessian && !in.options.calib.empty()) {
            const ScalarCandidates scalar = scalar_candidates(quant);
            all.insert(all.end(), scalar.rtn.begin(), scalar.rtn.end());
            add("rtn+gptq", scalar.gptq, t0);
        } else {
            add("rtn", tagged(rtn().candidates(quant), "rtn"), t0);
        }
        if (admm_cp().blocker(in.layer).empty()) {
            t0 = Clock::now();
            const BudgetInput cp{in.graph, in.layer, in.plan, in.options, kCpBits, in.hessian, in.opset};
            add("admm-cp", tagged(admm_cp().candidates(cp), "admm-cp"), t0);
        }
        t0 = Clock::now();
        add("pq", pq_candidates(in), t0);
        spdlog::debug("budget: {}:{}", in.layer.name, times);
        return all;
    }
    bool budget_chooses_bits() const override { return true; }
    LayerResult apply(const SolveInput& in, LayerPlan&) const override {
        throw Error("internal: layer " + in.layer.name + " reached the solve as 'mixed' (the budget assigns each layer a method)");
    }
};

}  // namespace

const Method& mixed() {
    static const Mixed m;
    return m;
}

}  // namespace qcp::methods
