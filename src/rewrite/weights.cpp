#include "qcp/rewrite/weights.hpp"

#include "qcp/core/error.hpp"

namespace qcp::rewrite {

Shape GridWeight::scale_shape() const {
    if (axis < 0) return {};
    if (block_size <= 0) return {shape[static_cast<size_t>(axis)]};
    Shape s = shape;
    s[static_cast<size_t>(axis)] = (s[static_cast<size_t>(axis)] + block_size - 1) / block_size;
    return s;
}

namespace {

// Index into `scales` (and `zero_points`) of element i.
size_t group_index(const GridWeight& w, int64_t i) {
    if (w.axis < 0) return 0;
    const size_t axis = static_cast<size_t>(w.axis);
    int64_t inner = 1;
    for (size_t d = axis + 1; d < w.shape.size(); ++d) inner *= w.shape[d];
    const int64_t a = (i / inner) % w.shape[axis];
    if (w.block_size <= 0) return static_cast<size_t>(a);
    const int64_t blocks = (w.shape[axis] + w.block_size - 1) / w.block_size;
    const int64_t outer = i / (inner * w.shape[axis]);
    return static_cast<size_t>((outer * blocks + a / w.block_size) * inner + i % inner);
}

}  // namespace

float GridWeight::scale_of(int64_t i) const { return scales.at(group_index(*this, i)); }

Tensor GridWeight::dequantized() const {
    Tensor t(DType::Float32, shape);
    float* out = t.data<float>();
    for (int64_t i = 0; i < t.numel(); ++i) {
        const size_t g = group_index(*this, i);
        const int32_t zp = zero_points.empty() ? 0 : zero_points[g];
        out[i] = scales[g] * static_cast<float>(codes[static_cast<size_t>(i)] - zp);
    }
    return t;
}

int64_t GridWeight::storage_bits() const {
    return static_cast<int64_t>(codes.size()) * bits + 32 * static_cast<int64_t>(scales.size()) +
           static_cast<int64_t>(zero_points.size()) * bits;
}

namespace {

std::string q_name(const std::string& stem) { return stem + "_q"; }
std::string scale_name(const std::string& stem) { return stem + "_scale"; }
std::string dq_node_name(const std::string& stem) { return stem + "_dq"; }
std::string zp_name(const std::string& stem) { return stem + "_zero_point"; }

Tensor scale_tensor(const GridWeight& w) { return Tensor::from_floats(w.scale_shape(), w.scales); }

// int8/uint8 codes, or int4/uint4 packed two per byte (low nibble first) when `four_bit`.
Tensor integer_tensor(const Shape& shape, const std::vector<int32_t>& values, bool is_signed, bool four_bit) {
    if (!four_bit) {
        Tensor t(is_signed ? DType::Int8 : DType::UInt8, shape);
        uint8_t* p = t.data<uint8_t>();
        for (size_t i = 0; i < values.size(); ++i) p[i] = static_cast<uint8_t>(values[i] & 0xFF);
        return t;
    }
    Tensor t(is_signed ? DType::Int4 : DType::UInt4, shape);
    uint8_t* p = t.data<uint8_t>();
    for (size_t i = 0; i < values.size(); ++i) p[i / 2] |= static_cast<uint8_t>((values[i] & 0xF) << (4 * (i % 2)));
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
    if (w.block_size > 0 && opset < 21)
        throw Error("blocked scales need opset 21 (model has opset " + std::to_string(opset) + ")");
    if (w.bits > 8) throw Error("--format qdq stores at most 8-bit codes");
    const bool four_bit = w.bits <= 4 && opset >= 21;
    const bool is_signed = w.zero_points.empty();
    set_initializer(model.graph, q_name(stem), integer_tensor(w.shape, w.codes, is_signed, four_bit));
    set_initializer(model.graph, scale_name(stem), scale_tensor(w));
    ir::Node dq;
    dq.op_type = "DequantizeLinear";
    dq.name = dq_node_name(stem);
    dq.inputs = {q_name(stem), scale_name(stem)};
    if (!is_signed) {
        set_initializer(model.graph, zp_name(stem), integer_tensor(w.scale_shape(), w.zero_points, false, four_bit));
        dq.inputs.push_back(zp_name(stem));
    }
    dq.outputs = {stem};
    if (w.axis >= 0) dq.attributes.push_back(ir::Attribute::make_int("axis", w.axis));
    if (w.block_size > 0) dq.attributes.push_back(ir::Attribute::make_int("block_size", w.block_size));
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
