// mixed: no solver of its own. A --target-* budget chooses per layer among the settings of every
// method that applies to it (rtn and gptq at 2–8 bits, admm-cp at the budget's ranks × bits, pq at
// a few codeword counts), each measured on the same scale (the layer-output error through the
// input Hessian, budget.hpp; CP through its Kronecker approximation, exact for FC and 1×1 layers)
// and tagged with its method; the solve then runs each layer's own
// method. A --layer rule that names a method takes the layer out of the mix.
#include <algorithm>

#include "common.hpp"
#include "method.hpp"
#include "qcp/core/error.hpp"
#include "qcp/quant/gptq.hpp"
#include "qcp/quant/pq.hpp"
#include "qcp/rewrite/pq_rewrite.hpp"
#include "qcp/rewrite/quant_rewrite.hpp"

namespace qcp::methods {

namespace {

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

// gptq at each bit width, on the layer's input Hessian (single-group layers; gptq needs --calib).
std::vector<budget::Candidate> gptq_candidates(const BudgetInput& in) {
    const auto t = rewrite::quant_target(in.graph, in.layer);
    const int64_t bias = in.layer.params - t.rows * t.cols;
    std::vector<budget::Candidate> out;
    for (int b : kQuantBits) {
        quant::GptqOptions go;
        go.scheme = quant_scheme(in.options, b);
        go.damp = in.options.damp;
        go.act_order = in.options.act_order;
        const quant::GptqResult g = quant::gptq_quantize(t.w.data(), t.rows, t.cols, *in.hessian, go);
        const std::vector<float> wq = g.q.dequantized();
        budget::Candidate c;
        c.method = "gptq";
        c.bits = b;
        c.params_after = in.layer.params;
        c.weight_bits_after = g.q.storage_bits() + 32 * bias;
        c.stored_bits_after = c.weight_bits_after + (code_width(b, in.options, in.opset) - b) * t.rows * t.cols;
        c.macs_after = in.layer.macs;
        c.damage = relative_damage(t.w.data(), wq.data(), t.rows, t.cols, in.hessian);
        out.push_back(c);
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
    std::vector<int64_t> ks;
    for (int64_t k : kPqCentroids) ks.push_back(std::min(k, subvectors));
    ks.erase(std::unique(ks.begin(), ks.end()), ks.end());
    for (int64_t k : ks) {
        const rewrite::PqBits bits = rewrite::pq_bits(t.rows, t.cols / d, k, d, resolved_format(in.options));
        if (bits.storage_bits + 32 * bias >= in.plan.weight_bits_before) continue;  // no smaller: not worth the k-means
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
        c.weight_bits_after = c.stored_bits_after = bits.storage_bits + 32 * bias;
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
        auto add = [&all](std::vector<budget::Candidate> v) { all.insert(all.end(), v.begin(), v.end()); };
        const BudgetInput quant{in.graph, in.layer, in.plan, in.options, kQuantBits, in.hessian, in.opset};
        add(tagged(rtn().candidates(quant), "rtn"));
        if (in.hessian && !in.options.calib.empty()) add(gptq_candidates(quant));
        if (admm_cp().blocker(in.layer).empty()) {
            const BudgetInput cp{in.graph, in.layer, in.plan, in.options, kCpBits, in.hessian, in.opset};
            add(tagged(admm_cp().candidates(cp), "admm-cp"));
        }
        add(pq_candidates(in));
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
