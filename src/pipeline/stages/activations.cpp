// activations: with --activations 8, every compressed Conv/Gemm/MatMul of the output model (each
// node of a factorized chain on its own) gets uint8 QuantizeLinear → DequantizeLinear pairs on
// its input and output, laid out for ONNX Runtime's QDQ fusion (rewrite/act_rewrite.hpp). The
// ranges come from the calibration data run through the compressed, corrected network, so the
// tensors inside a factor chain (which exist only there) get their own; histograms are streamed
// batch by batch (quant/act_calib.hpp), memory fixed per tensor.
#include <algorithm>

#include "context.hpp"
#include "qcp/core/error.hpp"
#include "qcp/core/log.hpp"
#include "qcp/engine/session.hpp"
#include "qcp/quant/act_calib.hpp"
#include "qcp/quant/rtn.hpp"
#include "qcp/rewrite/act_rewrite.hpp"
#include "qcp/rewrite/quant_rewrite.hpp"

namespace qcp::stages {

namespace {

// Weights of uncompressed layers between quantized activations (the int8 kernels' width).
constexpr int kSandwichBits = 8;
// A rewritten layer is at most this many nodes (a CP chain is 2 or 3).
constexpr size_t kMaxLayerNodes = 8;

bool is_layer_op(const std::string& op) { return op == "Conv" || op == "ConvTranspose" || op == "Gemm" || op == "MatMul"; }

// The nodes layer li became in c.out (one for a quantized layer, the chain of a factorized one),
// found from its output back to its input, in graph order; an Add the correction put after it
// is not one of them.
std::vector<int> layer_nodes(const Context& c, size_t li) {
    const ir::Graph& g = c.out.graph;
    const std::string& x = c.model.graph.nodes.at(static_cast<size_t>(c.layers[li].node)).input(0);
    std::vector<int> nodes;
    int last = g.producer(c.layer_outputs[li]);
    if (const int add = rewrite::correction_bias_add(g, c.layer_outputs[li]); add >= 0)
        last = g.producer(g.nodes[static_cast<size_t>(add)].input(0));
    for (int n = last; n >= 0 && nodes.size() < kMaxLayerNodes;) {
        const ir::Node& node = g.nodes[static_cast<size_t>(n)];
        if (!is_layer_op(node.op_type)) break;
        nodes.push_back(n);
        if (node.input(0) == x) break;
        n = g.producer(node.input(0));
    }
    std::reverse(nodes.begin(), nodes.end());
    return nodes;
}

// One streamed histogram per site, over the first calib_n calibration samples through c.out.
std::vector<quant::ActHistogram> site_histograms(Context& c, const std::vector<rewrite::ActSite>& sites) {
    const ir::Graph& g = c.out.graph;
    std::vector<quant::ActHistogram> hists(sites.size());  // sized once: observers keep references
    engine::Session session(c.out);
    for (size_t i = 0; i < sites.size(); ++i) {
        const std::string& v = sites[i].value;
        auto add = [&h = hists[i], v](const Tensor& t) {
            if (t.dtype() != DType::Float32) throw Error("activation '" + v + "' is " + dtype_name(t.dtype()) + ", not float32");
            h.add(t.data<float>(), t.numel());
        };
        const int p = g.producer(v);
        if (p >= 0) {
            const auto& outs = g.nodes[static_cast<size_t>(p)].outputs;
            const size_t k = static_cast<size_t>(std::find(outs.begin(), outs.end(), v) - outs.begin());
            session.observe(p, [add, k](const ir::Node&, const std::vector<const Tensor*>&, const std::vector<Tensor>& out) { add(out[k]); });
            continue;
        }
        // a graph input: seen as its first reader's input
        const int r = g.consumers(v).at(0);
        const auto& ins = g.nodes[static_cast<size_t>(r)].inputs;
        const size_t k = static_cast<size_t>(std::find(ins.begin(), ins.end(), v) - ins.begin());
        session.observe(r, [add, k](const ir::Node&, const std::vector<const Tensor*>& in, const std::vector<Tensor>&) { add(*in[k]); });
    }
    for (int64_t begin = 0; begin < c.calib_n; begin += c.options.batch)
        (void)session.run(c.calib->read_inputs(begin, std::min(c.options.batch, c.calib_n - begin)));
    return hists;
}

// Layer li's node `output` gets rtn 8-bit per-channel weights when ORT would otherwise quantize
// its float weights itself; false when it would not (or cannot be: ConvTranspose, warned).
bool quantize_sandwiched(Context& c, size_t li, const std::string& output) {
    const int node = c.out.graph.producer(output);
    if (!rewrite::ort_quantizes_float_weights(c.out.graph, node)) return false;
    ir::Layer layer = c.layers[li];
    layer.node = node;
    if (layer.op == "ConvTranspose" || !layer.unusable.empty()) {
        spdlog::warn("activations: ONNX Runtime will quantize {}'s float weights itself (per tensor); qcp's engine does not",
                     layer.name);
        return false;
    }
    const rewrite::QuantTarget t = rewrite::quant_target(c.out.graph, layer);
    quant::QuantScheme scheme;
    scheme.bits = kSandwichBits;
    const quant::QuantizedMatrix q = quant::rtn_quantize(t.w.data(), t.rows, t.cols, scheme);
    LayerPlan& p = c.report.layers[li];
    p.weight_bits_after = rewrite::rewrite_quantized(c.out, layer, rewrite::grid_weight_for(layer, t, q), rewrite::WeightFormat::Qdq) +
                          32 * (p.params_before - t.rows * t.cols);
    return true;
}

}  // namespace

std::string resolved_act_calib(const CompressOptions& o) {
    return o.act_calib.empty() ? quant::act_calib_name(quant::kDefaultActCalib) : o.act_calib;
}
double resolved_act_percentile(const CompressOptions& o) { return o.act_percentile.value_or(quant::kDefaultActPercentile); }

void quantize_activations(Context& c) {
    const CompressOptions& o = c.options;
    if (o.activations == 0) return;
    if (!c.calib) throw Error("--activations needs calibration data (--calib)");
    c.streamed_outputs.reset();  // the Q/DQ pairs change what c.out computes
    const auto t0 = Clock::now();
    ir::Graph& g = c.out.graph;
    g.rebuild_index();

    // per layer, its nodes by output name (the insertion keeps those) and why each is no target
    struct LayerNodes {
        size_t layer;
        std::vector<std::string> outputs;
        std::vector<std::string> blockers;  // "" for a target
    };
    std::vector<LayerNodes> per_layer;
    std::vector<std::string> targets;
    for (size_t li = 0; li < c.layers.size(); ++li) {
        const LayerPlan& p = c.report.layers[li];
        LayerNodes ln{li, {}, {}};
        for (int n : layer_nodes(c, li)) {
            const std::string why = p.selected ? rewrite::act_target_blocker(g, n) : "not compressed";
            ln.outputs.push_back(g.nodes[static_cast<size_t>(n)].outputs.at(0));
            ln.blockers.push_back(why);
            if (why.empty()) targets.push_back(ln.outputs.back());
        }
        per_layer.push_back(std::move(ln));
    }
    const std::vector<rewrite::ActSite> sites = rewrite::plan_act_sites(g, targets);

    const quant::ActCalib calib = quant::parse_act_calib(resolved_act_calib(o));
    const double pct = resolved_act_percentile(o);
    const std::vector<quant::ActHistogram> hists = sites.empty() ? std::vector<quant::ActHistogram>{} : site_histograms(c, sites);
    if (sites.empty()) spdlog::warn("activations: no compressed layer can take uint8 activations (see activation_fusion)");
    std::map<std::string, quant::ActParams> params;
    for (size_t i = 0; i < sites.size(); ++i) {
        quant::ActRange r = quant::act_range(hists[i], calib, pct);
        r.lo = std::min(std::max(r.lo, sites[i].lo_bound), 0.0);  // inside a Relu/Clip's bounds, so ORT folds it
        r.hi = std::max(std::min(r.hi, sites[i].hi_bound), 0.0);
        params[sites[i].value] = quant::act_params(r);
    }
    rewrite::insert_act_qdq(c.out, sites, params);

    // A float layer now between quantized neighbours would be quantized by ORT itself (per tensor,
    // unseen by the engine): it gets 8-bit per-channel weights in the file instead.
    size_t sandwiched = 0;
    for (auto& ln : per_layer)
        for (size_t k = 0; k < ln.outputs.size(); ++k) {
            if (ln.blockers[k].empty() || !quantize_sandwiched(c, ln.layer, ln.outputs[k])) continue;
            ln.blockers[k].clear();
            targets.push_back(ln.outputs[k]);
            ++sandwiched;
        }
    const rewrite::ActRewrite rw = rewrite::prepare_act_targets(c.out, targets);
    if (rw.saturated_biases > 0)
        spdlog::warn("activations: {} bias values saturated at the int32 range (bias far larger than input scale x weight scale)",
                     rw.saturated_biases);

    std::map<std::string, int64_t> extra_bits;
    for (size_t i = 0; i < targets.size(); ++i) extra_bits[targets[i]] = rw.extra_bits[i];
    size_t fused = 0, full_int8 = 0;
    for (const auto& ln : per_layer) {
        LayerPlan& p = c.report.layers[ln.layer];
        for (size_t k = 0; k < ln.outputs.size(); ++k) {
            if (!ln.blockers[k].empty()) {
                if (p.selected) p.activation_fusion.push_back("none: " + ln.blockers[k]);
                continue;
            }
            p.weight_bits_after += extra_bits.at(ln.outputs[k]);
            if (p.storage == "qdq-int4") p.storage = "qdq-int8";  // widened for the int8 kernels
            std::string f = rewrite::ort_qdq_fusion(g, g.producer(ln.outputs[k]));
            if (!p.selected) f += " (weights given rtn 8-bit for it)";
            const bool fuses = f.rfind("none", 0) != 0;
            fused += fuses;
            full_int8 += fuses && (p.selected ? p.bits : kSandwichBits) >= 8;
            p.activation_fusion.push_back(std::move(f));
        }
    }
    c.report.act_tensors = static_cast<int64_t>(sites.size());
    spdlog::info("activations: {} tensors quantized to uint8 ({}), {} of {} layer nodes fuse into int8 kernels, "
                 "{} uncompressed layers given 8-bit weights ({:.1f} s)",
                 sites.size(), resolved_act_calib(o), fused, targets.size(), sandwiched, since(t0));
    // ORT's x86 u8s8 kernels without VNNI add pairs of u8 × s8 products in int16 (vpmaddubsw):
    // 255 · 127 · 2 overflows it, 255 · 64 · 2 does not (microsoft/onnxruntime#6004). Measured on
    // an AVX2 AMD EPYC: fmnist_resnet rtn 8-bit W8A8, ORT's stem codes up to 38 steps off qcp's.
    if (full_int8 > 0)
        spdlog::warn("activations: {} int8 kernels have 8-bit weights; ONNX Runtime on x86 CPUs without VNNI (AVX2, AVX-512 "
                     "without VNNI) can saturate on weights beyond [-64, 63], with wrong outputs there (--bits 7 avoids it)",
                     full_int8);
}

}  // namespace qcp::stages
