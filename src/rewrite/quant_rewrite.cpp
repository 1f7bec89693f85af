#include "qcp/rewrite/quant_rewrite.hpp"

#include "qcp/core/error.hpp"
#include "rewrite_util.hpp"

namespace qcp::rewrite {

QuantTarget quant_target(const ir::Graph& g, const ir::Layer& layer) {
    const ir::Node& node = g.nodes.at(static_cast<size_t>(layer.node));
    const Tensor* w = g.constant(layer.weight);
    if (!w) throw Error(node.describe() + ": weight is not constant");
    if (layer.op == "ConvTranspose") throw Error(node.describe() + ": ConvTranspose weights are not quantized");
    const Tensor wf = w->to_float32();
    const float* p = wf.data<float>();
    QuantTarget t;
    t.transposed = layer.op == "MatMul" || (layer.op == "Gemm" && node.attr_int("transB", 0) == 0);
    const int64_t d0 = wf.dim(0), rest = wf.numel() / std::max<int64_t>(d0, 1);
    t.rows = t.transposed ? rest : d0;
    t.cols = t.transposed ? d0 : rest;
    t.w.resize(static_cast<size_t>(wf.numel()));
    for (int64_t r = 0; r < d0; ++r)
        for (int64_t c = 0; c < rest; ++c)
            t.w[static_cast<size_t>(t.transposed ? c * d0 + r : r * rest + c)] = p[r * rest + c];
    return t;
}

GridWeight grid_weight_for(const ir::Layer& layer, const QuantTarget& t, const quant::QuantizedMatrix& q) {
    GridWeight w;
    w.shape = layer.weight_shape;
    w.bits = q.scheme.bits;
    w.scales = q.scales;
    if (!q.scheme.symmetric) w.zero_points = q.zero_points;
    w.codes.resize(q.codes.size());
    for (int64_t r = 0; r < t.rows; ++r)
        for (int64_t c = 0; c < t.cols; ++c)
            w.codes[static_cast<size_t>(t.transposed ? c * t.rows + r : r * t.cols + c)] =
                q.codes[static_cast<size_t>(r * t.cols + c)];
    switch (q.scheme.granularity) {
        case quant::Granularity::Tensor: w.axis = -1; break;
        case quant::Granularity::Channel: w.axis = t.transposed ? 1 : 0; break;
        case quant::Granularity::Block: {
            if (w.shape.size() != 2) throw Error(layer.name + ": blocked scales need a 2-D (Gemm/MatMul) weight");
            w.axis = t.transposed ? 0 : 1;
            w.block_size = q.scheme.block_size;
            // q's scales run (row, block); the stored layout wants them in weight order
            const int64_t blocks = (t.cols + q.scheme.block_size - 1) / q.scheme.block_size;
            if (t.transposed) {  // scale shape (blocks, rows)
                std::vector<float> s(q.scales.size());
                std::vector<int32_t> z(w.zero_points.size());
                for (int64_t r = 0; r < t.rows; ++r)
                    for (int64_t b = 0; b < blocks; ++b) {
                        s[static_cast<size_t>(b * t.rows + r)] = q.scales[static_cast<size_t>(r * blocks + b)];
                        if (!z.empty()) z[static_cast<size_t>(b * t.rows + r)] = q.zero_points[static_cast<size_t>(r * blocks + b)];
                    }
                w.scales = s;
                w.zero_points = z;
            }
            break;
        }
    }
    return w;
}

int64_t rewrite_quantized(ir::Model& model, const ir::Layer& layer, const GridWeight& w, WeightFormat format) {
    ir::Graph& g = model.graph;
    const std::string old = layer.weight;
    const std::string value = emit_grid_weight(model, "qcp/" + layer.name + "/w", w, format);
    ir::Node& node = g.nodes.at(static_cast<size_t>(layer.node));
    node.inputs[1] = value;
    g.rebuild_index();
    remove_dead_value(g, old);
    return w.storage_bits();
}

namespace {

// How a statistics correction takes a layer whose node is `node`: its output-channel axis and
// count, and whether the shift goes into the node's own bias input (times bias_gain, a Gemm's
// beta) or after the node. nullopt when the layer cannot take the map: not a Conv/Gemm/MatMul, a
// 1-D output, a Conv bias that is not one value per output. correction_target rewrites by it and
// correction_bits counts by it.
struct CorrectionPlan {
    int out_axis = 0;
    int64_t channels = 0;
    bool bias_input = true;
    float bias_gain = 1.0f;
    const Tensor* bias = nullptr;  // the layer's own bias, if any
};

std::optional<CorrectionPlan> plan_correction(const ir::Graph& g, int64_t opset, const ir::Layer& layer, const ir::Node& node) {
    if (layer.op != "Conv" && layer.op != "Gemm" && layer.op != "MatMul") return std::nullopt;
    if (!layer.out_shape.empty() && layer.out_shape.size() < 2) return std::nullopt;  // no channel axis beside the batch
    CorrectionPlan cp;
    const bool transposed = layer.op == "MatMul" || (layer.op == "Gemm" && node.attr_int("transB", 0) == 0);
    cp.out_axis = transposed ? 1 : 0;
    cp.channels = layer.weight_shape.at(static_cast<size_t>(cp.out_axis));
    cp.bias = layer.bias.empty() ? nullptr : g.constant(layer.bias);
    const Tensor* b = cp.bias;
    const bool per_channel_bias =
        b && b->numel() == cp.channels && (b->rank() == 1 || (layer.op == "Gemm" && b->rank() == 2 && b->dim(0) == 1));
    if (layer.op == "MatMul") {
        cp.bias_input = false;
    } else if (layer.op == "Gemm") {
        // C is added times beta; a C that is not one value per output (or none before opset 11, or
        // beta 0) is left alone and the shift goes after the layer
        cp.bias_gain = node.attr_float("beta", 1.0f);
        cp.bias_input = cp.bias_gain != 0.0f && (layer.bias.empty() ? opset >= 11 : per_channel_bias);
    } else if (b && !per_channel_bias) {
        return std::nullopt;
    }
    return cp;
}

}  // namespace

std::optional<CpRewrite> correction_target(ir::Model& model, const ir::Layer& layer, const std::string& output,
                                           const GridWeight* grid, int64_t storage_bits) {
    ir::Graph& g = model.graph;
    g.rebuild_index();
    const int at = g.producer(output);
    if (at < 0) throw Error("internal: layer " + layer.name + " vanished during rewriting");
    const ir::Node& node = g.nodes.at(static_cast<size_t>(at));
    const std::optional<CorrectionPlan> cp = plan_correction(g, model.opset(""), layer, node);
    if (!cp) return std::nullopt;
    if (grid && (grid->block_size > 0 || (grid->axis >= 0 && grid->axis != cp->out_axis))) return std::nullopt;
    CpRewrite rw;
    rw.nodes = {node.name};  // copied before the bias below may grow the graph
    rw.output = output;
    rw.out_weight = node.inputs.at(1);
    if (grid) rw.out_grid = *grid;
    else rw.out_grid.shape = layer.weight_shape;  // no codes: only the shape, for the Mul's factor
    rw.scale_by_node = !grid;
    rw.out_channel_axis = cp->out_axis;
    rw.storage_bits = storage_bits;
    rw.supports_correction = true;
    rw.bias_input = cp->bias_input;
    rw.bias_gain = cp->bias_gain;
    if (rw.bias_input && cp->bias) {
        // a bias of its own: the correction rewrites it, and the old one may be read elsewhere
        const std::string old = layer.bias;
        rw.bias = emit_float_weight(model, "qcp/" + layer.name + "/bias", cp->bias->to_float32().reshaped({cp->channels}));
        g.nodes.at(static_cast<size_t>(at)).inputs[2] = rw.bias;
        g.rebuild_index();
        remove_dead_value(g, old);
    }
    return rw;
}

int64_t correction_bits(const ir::Graph& g, int64_t opset, const ir::Layer& layer, const quant::QuantizedMatrix* q) {
    const ir::Node& node = g.nodes.at(static_cast<size_t>(layer.node));
    const std::optional<CorrectionPlan> cp = plan_correction(g, opset, layer, node);
    if (!cp || (q && q->scheme.granularity == quant::Granularity::Block)) return 0;
    const int64_t channels = cp->channels;
    int64_t bits = 0;
    if (!q) {
        bits += 32 * channels;
    } else {
        const int64_t scales = static_cast<int64_t>(q->scales.size());
        bits += 32 * (channels - scales);
        if (scales == 1 && !q->scheme.symmetric) bits += q->scheme.bits * (channels - 1);
    }
    if (cp->bias_input) {
        if (layer.bias.empty()) bits += 32 * channels;
    } else if (const auto [add, slot] = following_bias_add(g, node.outputs.at(0), channels); add >= 0) {
        const std::string& c = g.nodes[static_cast<size_t>(add)].inputs[static_cast<size_t>(slot)];
        if (g.consumers(c).size() > 1) bits += 32 * channels;  // the Add gets a copy of its own
    } else {
        bits += 32 * channels;
    }
    return bits;
}

}  // namespace qcp::rewrite
