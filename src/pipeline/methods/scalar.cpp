// The scalar quantizers: rtn (round-to-nearest, MSE-chosen clipping) and gptq (data-aware, with
// the layer-input Hessian). Both keep the op and replace its weight by integer codes
// (rewrite/quant_rewrite.hpp).
#include "../stream.hpp"
#include "common.hpp"
#include "method.hpp"
#include "qcp/core/log.hpp"
#include "qcp/quant/gptq.hpp"
#include "qcp/quant/rtn.hpp"
#include "qcp/rewrite/quant_rewrite.hpp"

namespace qcp::methods {

namespace {

// GPTQ on each group of rows with its own H (a grouped conv's output channels see only their
// group's inputs); the groups' codes and per-row (or per-block) scales concatenate in row order.
quant::GptqResult gptq_grouped(const float* w, int64_t rows, int64_t cols, const std::vector<Eigen::MatrixXd>& hs,
                               const quant::GptqOptions& go) {
    if (hs.size() == 1) return quant::gptq_quantize(w, rows, cols, hs[0], go);
    const int64_t groups = static_cast<int64_t>(hs.size()), rg = rows / groups;
    quant::GptqResult all;
    all.q.rows = rows;
    all.q.cols = cols;
    all.q.scheme = go.scheme;
    for (int64_t g = 0; g < groups; ++g) {
        const quant::GptqResult r = quant::gptq_quantize(w + g * rg * cols, rg, cols, hs[static_cast<size_t>(g)], go);
        all.q.codes.insert(all.q.codes.end(), r.q.codes.begin(), r.q.codes.end());
        all.q.scales.insert(all.q.scales.end(), r.q.scales.begin(), r.q.scales.end());
        all.q.zero_points.insert(all.q.zero_points.end(), r.q.zero_points.begin(), r.q.zero_points.end());
        all.loss_before += r.loss_before;
        all.loss_after += r.loss_after;
    }
    return all;
}

class ScalarMethod : public Method {
public:
    std::string blocker(const ir::Layer& l) const override { return quantizer_blocker(l, CompressOptions{}); }
    void plan(const PlanInput& in, LayerPlan& p) const override {
        p.reason = quantizer_blocker(in.layer, in.options);
        if (!p.reason.empty()) return;
        p.selected = true;
        const int64_t weights = shape_numel(in.layer.weight_shape);
        p.weight_bits_after = weights * p.bits + 32 * (in.layer.params - weights);  // scales added after
    }

    // Round-to-nearest at each bit width (what GPTQ improves on, roughly uniformly).
    std::vector<budget::Candidate> candidates(const BudgetInput& in) const override {
        const auto t = rewrite::quant_target(in.graph, in.layer);
        const int64_t bias = in.layer.params - t.rows * t.cols;
        std::vector<budget::Candidate> out;
        for (int b : in.bits) {
            const quant::QuantizedMatrix q = quant::rtn_quantize(t.w.data(), t.rows, t.cols, quant_scheme(in.options, b));
            const std::vector<float> wq = q.dequantized();
            budget::Candidate c;
            c.bits = b;
            c.params_after = in.layer.params;
            c.weight_bits_after = q.storage_bits() + 32 * bias + correction_bits(in.graph, in.opset, in.layer, in.options, &q);
            c.stored_bits_after = c.weight_bits_after + (code_width(b, in.options, in.opset) - b) * t.rows * t.cols;
            c.macs_after = in.layer.macs;
            c.damage = relative_damage(t.w.data(), wq.data(), t.rows, t.cols, in.hessian);
            out.push_back(c);
        }
        return out;
    }

    LayerResult apply(const SolveInput& in, LayerPlan& p) const override {
        const CompressOptions& o = in.options;
        const rewrite::QuantTarget t = rewrite::quant_target(in.out.graph, in.layer);
        const quant::QuantScheme scheme = quant_scheme(o, p.bits);
        p.scheme = std::string(o.symmetric ? "sym " : "asym ") + quant::granularity_name(scheme.granularity) +
                   (o.block_size > 0 ? " " + std::to_string(o.block_size) : "");
        LayerResult r;
        const quant::QuantizedMatrix q = quantize(in, t, scheme, p, r);
        r.rel_error = weight_rel_error(t.w, q.dequantized());
        const int64_t bias = p.params_before - t.rows * t.cols;
        const rewrite::GridWeight w = rewrite::grid_weight_for(in.layer, t, q);
        p.storage = rewrite::storage_name(w, resolved_format(o), in.out.opset(""));
        const std::string output = in.out.graph.nodes.at(static_cast<size_t>(in.layer.node)).outputs.at(0);
        p.weight_bits_after = rewrite::rewrite_quantized(in.out, in.layer, w, resolved_format(o)) + 32 * bias;
        // the statistics correction (stages/correct.cpp) may re-match this layer's output channels
        if (in.calib && o.correct.value_or(true))
            r.rewrite = rewrite::correction_target(in.out, in.layer, output, &w, p.weight_bits_after);
        r.progress = fmt::format("{} {}-bit {}: rel. error {:.4f}", name(), p.bits, p.scheme, r.rel_error);
        return r;
    }

protected:
    virtual quant::QuantizedMatrix quantize(const SolveInput& in, const rewrite::QuantTarget& t, const quant::QuantScheme& scheme,
                                            LayerPlan& p, LayerResult& r) const = 0;
};

class Rtn final : public ScalarMethod {
public:
    const MethodInfo& info() const override {
        static const MethodInfo i{"rtn", "round-to-nearest weights, MSE-chosen clipping, per channel/tensor/block", false,
                                  CalibUse::Optional, SweepAxes::Bits, "Conv, Gemm, MatMul"};
        return i;
    }

protected:
    quant::QuantizedMatrix quantize(const SolveInput&, const rewrite::QuantTarget& t, const quant::QuantScheme& scheme, LayerPlan&,
                                    LayerResult&) const override {
        return quant::rtn_quantize(t.w.data(), t.rows, t.cols, scheme);
    }
};

class Gptq final : public ScalarMethod {
public:
    const MethodInfo& info() const override {
        static const MethodInfo i{"gptq", "data-aware scalar quantization with the layer-input Hessian (needs --calib)", false,
                                  CalibUse::Required, SweepAxes::Bits, "Conv, Gemm, MatMul"};
        return i;
    }

protected:
    quant::QuantizedMatrix quantize(const SolveInput& in, const rewrite::QuantTarget& t, const quant::QuantScheme& scheme, LayerPlan& p,
                                    LayerResult& r) const override {
        // one scale for all groups of a grouped conv couples them: GPTQ per group cannot keep it
        if (in.layer.groups > 1 && scheme.granularity == quant::Granularity::Tensor) {
            r.status = LayerStatus::RtnFallback;
            return quant::rtn_quantize(t.w.data(), t.rows, t.cols, scheme);
        }
        const auto hs = calibration::streamed_layer_hessians(in.stream, in.out, in.layer, *in.calib, in.calib_n, in.options.batch);
        quant::GptqOptions go;
        go.scheme = scheme;
        go.damp = in.options.damp;
        go.act_order = in.options.act_order;
        const quant::GptqResult g = gptq_grouped(t.w.data(), t.rows, t.cols, hs, go);
        p.output_error_before = g.loss_before;
        p.output_error_after = g.loss_after;
        return g.q;
    }
};

}  // namespace

const Method& rtn() {
    static const Rtn m;
    return m;
}

const Method& gptq() {
    static const Gptq m;
    return m;
}

}  // namespace qcp::methods
