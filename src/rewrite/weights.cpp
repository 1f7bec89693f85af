#include "qcp/rewrite/weights.hpp"

#include "qcp/core/error.hpp"

namespace qcp::rewrite {

float GridWeight::scale_of(int64_t i) const {
    if (axis < 0) return scales.at(0);
    int64_t inner = 1;
    for (size_t d = static_cast<size_t>(axis) + 1; d < shape.size(); ++d) inner *= shape[d];
    return scales.at(static_cast<size_t>((i / inner) % shape[static_cast<size_t>(axis)]));
}

Tensor GridWeight::dequantized() const {
    Tensor t(DType::Float32, shape);
    float* out = t.data<float>();
    for (int64_t i = 0; i < t.numel(); ++i) out[i] = scale_of(i) * static_cast<float>(codes[static_cast<size_t>(i)]);
    return t;
}

int64_t GridWeight::storage_bits() const {
    return static_cast<int64_t>(codes.size()) * bits + 32 * static_cast<int64_t>(scales.size());
}

namespace {

std::string q_name(const std::string& stem) { return stem + "_q"; }
std::string scale_name(const std::string& stem) { return stem + "_scale"; }
std::string dq_node_name(const std::string& stem) { return stem + "_dq"; }

Tensor scale_tensor(const GridWeight& w) {
    return w.axis < 0 ? Tensor::from_floats({}, {w.scales[0]})
                      : Tensor::from_floats({static_cast<int64_t>(w.scales.size())}, w.scales);
}

Tensor code_tensor(const GridWeight& w, bool int4) {
    if (!int4) {
        Tensor t(DType::Int8, w.shape);
        int8_t* p = t.data<int8_t>();
        for (size_t i = 0; i < w.codes.size(); ++i) p[i] = static_cast<int8_t>(w.codes[i]);
        return t;
    }
    Tensor t(DType::Int4, w.shape);
    uint8_t* p = t.data<uint8_t>();
    for (size_t i = 0; i < w.codes.size(); ++i) p[i / 2] |= static_cast<uint8_t>((w.codes[i] & 0xF) << (4 * (i % 2)));
    return t;
}

void set_initializer(ir::Graph& g, const std::string& name, Tensor t) {
    if (ir::Initializer* init = g.find_initializer(name)) {
        init->tensor = std::move(t);
        return;
    }
    g.initializers.push_back({name, std::move(t), ""});
}

}  // namespace

std::string emit_float_weight(ir::Model& model, const std::string& stem, Tensor w) {
    set_initializer(model.graph, stem, std::move(w));
    model.graph.rebuild_index();
    return stem;
}

std::string emit_grid_weight(ir::Model& model, const std::string& stem, const GridWeight& w, WeightFormat format) {
    if (format == WeightFormat::Float) return emit_float_weight(model, stem, w.dequantized());
    const int64_t opset = model.opset("");
    if (opset < 10 || (w.axis >= 0 && opset < 13))
        throw Error("--format qdq needs opset 13 or later for per-channel scales (model has opset " +
                    std::to_string(opset) + "); use --format float");
    const bool int4 = w.bits <= 4 && opset >= 21;
    set_initializer(model.graph, q_name(stem), code_tensor(w, int4));
    set_initializer(model.graph, scale_name(stem), scale_tensor(w));
    ir::Node dq;
    dq.op_type = "DequantizeLinear";
    dq.name = dq_node_name(stem);
    dq.inputs = {q_name(stem), scale_name(stem)};
    dq.outputs = {stem};
    if (w.axis >= 0) dq.attributes.push_back(ir::Attribute::make_int("axis", w.axis));
    model.graph.nodes.push_back(std::move(dq));
    model.graph.rebuild_index();
    return stem;
}

void update_grid_weight(ir::Model& model, const std::string& stem, const GridWeight& w, WeightFormat format) {
    ir::Graph& g = model.graph;
    if (format == WeightFormat::Float) {
        set_initializer(g, stem, w.dequantized());
        return;
    }
    set_initializer(g, scale_name(stem), scale_tensor(w));
    for (auto& n : g.nodes) {
        if (n.name != dq_node_name(stem)) continue;
        n.attributes.clear();
        if (w.axis >= 0) n.attributes.push_back(ir::Attribute::make_int("axis", w.axis));
        return;
    }
    throw Error("internal: no DequantizeLinear for weight '" + stem + "'");
}

}  // namespace qcp::rewrite
