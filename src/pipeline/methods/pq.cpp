// pq: activation-aware product quantization. Sub-vectors of the weight (one kernel slice of a
// k×k conv, 4 inputs otherwise) clustered into ≤ 65536 fp16 codewords by a k-means measured
// through the layer's calibration inputs; the weight becomes a codebook lookup
// (rewrite/pq_rewrite.hpp).
#include <algorithm>

#include "../stream.hpp"
#include "common.hpp"
#include "method.hpp"
#include "qcp/core/log.hpp"
#include "qcp/quant/pq.hpp"
#include "qcp/rewrite/pq_rewrite.hpp"
#include "qcp/rewrite/quant_rewrite.hpp"

namespace qcp::methods {

namespace {

// The weight matrix shape quant_target() gives: rows = outputs, cols = inputs per output.
std::pair<int64_t, int64_t> quant_matrix_shape(const ir::Graph& g, const ir::Layer& l) {
    const ir::Node& node = g.nodes.at(static_cast<size_t>(l.node));
    const int64_t d0 = l.weight_shape.at(0), rest = shape_numel(l.weight_shape) / std::max<int64_t>(d0, 1);
    const bool transposed = l.op == "MatMul" || (l.op == "Gemm" && node.attr_int("transB", 0) == 0);
    return transposed ? std::make_pair(rest, d0) : std::make_pair(d0, rest);
}

class Pq final : public Method {
public:
    const MethodInfo& info() const override {
        static const MethodInfo i{"pq", "product quantization: fp16 codebook + uint8 indices, k-means in the metric of the layer inputs (--calib)",
                                  false, CalibUse::Recommended, SweepAxes::Centroids, "Conv, Gemm, MatMul"};
        return i;
    }

    std::string blocker(const ir::Layer& l) const override { return quantizer_blocker(l, CompressOptions{}); }

    // The sub-vector length (one kernel slice for k×k convs, 4 inputs otherwise, or as asked),
    // codewords clamped to the sub-vectors there are, and the stored size; selects the layer when
    // that is smaller than the float weight.
    void plan(const PlanInput& in, LayerPlan& p) const override {
        p.reason = quantizer_blocker(in.layer, in.options);
        if (!p.reason.empty()) return;
        const ir::Layer& l = in.layer;
        const auto [rows, cols] = quant_matrix_shape(in.graph, l);
        const int64_t kernel =
            l.op == "Conv" && l.weight_shape.size() > 2 ? shape_numel(l.weight_shape) / l.weight_shape[0] / l.weight_shape[1] : 1;
        const int64_t d = p.subvector > 0 ? p.subvector : kernel > 1 ? kernel : 4;
        p.subvector = d;
        if (cols % d != 0) {
            p.reason = "sub-vector length " + std::to_string(d) + " does not divide the " + std::to_string(cols) + " inputs per output";
            return;
        }
        p.centroids = std::min(p.centroids, rows * (cols / d));
        const rewrite::PqBits bits = rewrite::pq_bits(rows, cols / d, p.centroids, d, resolved_format(in.options));
        const int64_t bias = l.params - rows * cols;
        if (bits.storage_bits >= 32 * rows * cols) {
            p.reason = std::to_string(p.centroids) + " codewords of " + std::to_string(d) + " would not reduce size";
            return;
        }
        p.selected = true;
        p.bits = 0;
        p.weight_bits_after = bits.storage_bits + 32 * bias;
        p.ideal_bits_after = bits.ideal_bits + 32 * bias;
    }

    // Budgets measure pq layers as scalar grids of the same bits (rtn's damage curve).
    std::vector<budget::Candidate> candidates(const BudgetInput& in) const override { return rtn().candidates(in); }

    // With calibration data and the metric on, k-means runs in the metric of the layer's inputs in
    // the partly compressed output model (earlier layers already quantized).
    LayerResult apply(const SolveInput& in, LayerPlan& p) const override {
        const CompressOptions& o = in.options;
        const rewrite::QuantTarget t = rewrite::quant_target(in.out.graph, in.layer);
        std::vector<Eigen::MatrixXd> hs;
        if (in.calib && o.pq_metric)
            hs = calibration::streamed_layer_hessians(in.stream, in.out, in.layer, *in.calib, in.calib_n, o.batch);
        quant::PqOptions po;
        po.d = p.subvector;
        po.k = p.centroids;
        po.iters = o.pq_iters;
        po.seed = o.seed;
        po.damp = o.damp;
        po.refit = o.pq_refit;
        const quant::PqResult q = quant::pq_quantize(t.w.data(), t.rows, t.cols, hs, po);
        LayerResult r;
        r.rel_error = weight_rel_error(t.w, q.dequantized());
        r.iterations = q.iterations;
        r.status = q.converged ? LayerStatus::Converged : LayerStatus::KmeansMaxIterations;
        p.centroids = q.k;
        p.scheme = "k " + std::to_string(q.k) + " d " + std::to_string(q.d) + (hs.empty() ? " weight" : " activation") +
                   (q.refit_applied ? " refit" : "");
        p.loss_init = q.loss_init;
        p.loss_em = q.loss_em;
        p.output_error_before = q.loss_em;  // before the joint refit
        p.output_error_after = q.loss_final;
        const std::string output = in.out.graph.nodes.at(static_cast<size_t>(in.layer.node)).outputs.at(0);
        const rewrite::PqBits bits = rewrite::rewrite_pq(in.out, in.layer, t, q, resolved_format(o));
        p.storage = rewrite::pq_storage_name(q.k, resolved_format(o));
        const int64_t bias = p.params_before - t.rows * t.cols;
        p.weight_bits_after = bits.storage_bits + 32 * bias;
        p.ideal_bits_after = bits.ideal_bits + 32 * bias;
        // the statistics correction (stages/correct.cpp) may re-match this layer's output channels:
        // the scale is a Mul on the lookup, which ORT and the engine fold into the weight at load.
        // Not on MatMul layers: there it cost PP-OCRv4 rec 19.6% -> 12.1% of lines (docs/RESULTS.md).
        if (in.calib && o.correct.value_or(true) && in.layer.op != "MatMul")
            r.rewrite = rewrite::correction_target(in.out, in.layer, output, nullptr, p.weight_bits_after);
        r.progress = fmt::format("pq {}: rel. error {:.4f}", p.scheme, r.rel_error);
        return r;
    }

    void report_settings(nlohmann::ordered_json& s, const CompressOptions& o) const override {
        s["centroids"] = o.centroids;
        if (o.pq_block > 0) s["pq_block"] = o.pq_block;
        s["pq_iters"] = o.pq_iters;
        s["pq_metric"] = o.pq_metric;
        s["pq_refit"] = o.pq_refit;
    }

    void report_layer(nlohmann::ordered_json& row, const LayerPlan& p) const override {
        if (!p.selected) return;
        row["centroids"] = p.centroids;
        row["subvector"] = p.subvector;
    }

    std::string table_note(const LayerPlan& p) const override {
        return " (k " + std::to_string(p.centroids) + ", d " + std::to_string(p.subvector) + ")";
    }
};

}  // namespace

const Method& pq() {
    static const Pq m;
    return m;
}

}  // namespace qcp::methods
