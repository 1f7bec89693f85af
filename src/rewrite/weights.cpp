#include "qcp/rewrite/weights.hpp"

#include "qcp/core/error.hpp"
#include "qcp/rewrite/packing.hpp"
#include "rewrite_util.hpp"

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

// ---- packed ------------------------------------------------------------------------------

constexpr int64_t kInt4Opset = 21;  // int4/uint4 tensors, and Cast from them

std::string codes_shape_name(const std::string& stem) { return stem + "_shape"; }

// The shape the codes decode to (D in the header): the weight's, or for blocked scales the axis
// split into (blocks, block_size), padded up to whole blocks.
Shape decode_shape(const GridWeight& w) {
    if (w.block_size <= 0) return w.shape;
    const auto a = static_cast<size_t>(w.axis);
    Shape d(w.shape.begin(), w.shape.begin() + static_cast<std::ptrdiff_t>(a));
    d.push_back((w.shape[a] + w.block_size - 1) / w.block_size);
    d.push_back(w.block_size);
    d.insert(d.end(), w.shape.begin() + static_cast<std::ptrdiff_t>(a) + 1, w.shape.end());
    return d;
}

// Scales (and zero points) shaped to broadcast against the decode shape.
Shape broadcast_scale_shape(const GridWeight& w) {
    if (w.axis < 0) return {1};
    const auto a = static_cast<size_t>(w.axis);
    if (w.block_size <= 0) {
        Shape s(w.shape.size() - a, 1);
        s[0] = w.shape[a];
        return s;
    }
    Shape s = decode_shape(w);
    s[a + 1] = 1;
    return s;
}

// u = code + offset in decode-shape order (padding codes 0), each in [0, 2^bits).
std::vector<int32_t> unsigned_codes(const GridWeight& w, int32_t offset) {
    if (w.block_size <= 0) {
        std::vector<int32_t> u(w.codes);
        for (int32_t& c : u) c += offset;
        return u;
    }
    const auto a = static_cast<size_t>(w.axis);
    int64_t outer = 1, inner = 1;
    for (size_t d = 0; d < a; ++d) outer *= w.shape[d];
    for (size_t d = a + 1; d < w.shape.size(); ++d) inner *= w.shape[d];
    const int64_t along = w.shape[a], padded = (along + w.block_size - 1) / w.block_size * w.block_size;
    std::vector<int32_t> u(static_cast<size_t>(outer * padded * inner), 0);
    for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < along; ++i)
            for (int64_t k = 0; k < inner; ++k)
                u[static_cast<size_t>((o * padded + i) * inner + k)] = w.codes[static_cast<size_t>((o * along + i) * inner + k)] + offset;
    return u;
}

int32_t symmetric_offset(const GridWeight& w) { return w.zero_points.empty() ? 1 << (w.bits - 1) : 0; }

// <stem>_scale, and for asymmetric grids <stem>_zero_point, in their broadcast shapes.
void set_packed_scales(ir::Graph& g, const std::string& stem, const GridWeight& w) {
    set_initializer(g, scale_name(stem), Tensor::from_floats(broadcast_scale_shape(w), w.scales));
    if (w.zero_points.empty()) return;
    Tensor zp(DType::UInt8, broadcast_scale_shape(w));
    for (size_t i = 0; i < w.zero_points.size(); ++i) zp.data<uint8_t>()[i] = static_cast<uint8_t>(w.zero_points[i]);
    set_initializer(g, zp_name(stem), std::move(zp));
}

std::string emit_packed_weight(ir::Model& model, const std::string& stem, const GridWeight& w) {
    if (w.bits < 1 || w.bits > 8) throw Error("--format packed stores 1- to 8-bit codes, not " + std::to_string(w.bits));
    if (shape_numel(w.shape) != static_cast<int64_t>(w.codes.size())) throw Error("internal: codes do not fill the weight '" + stem + "'");
    ir::Graph& g = model.graph;
    const bool symmetric = w.zero_points.empty();
    const Shape d = decode_shape(w);
    // 8-bit codes, and 4-bit ones from opset 21 (where Cast reads int4), need no unpacking: an
    // (u)int8 / (u)int4 tensor of the decode shape, cast
    const bool whole = w.bits == 8 || (w.bits == 4 && model.opset("") >= kInt4Opset);
    std::string prefix, codes;  // codes: int32 in shape D, to be centered
    if (whole) {
        prefix = decoder_prefix(g);
        g.initializers.push_back({stem + "_packed", integer_tensor(d, unsigned_codes(w, 0), symmetric, w.bits == 4), ""});
        g.nodes.push_back(cast_node("", stem + "_packed", prefix + (symmetric ? "x" : "r"), symmetric ? DType::Float32 : DType::Int32));
        codes = prefix + "r";
    } else {
        const CodeValue c = emit_packed_codes(model, stem, pack_codes(unsigned_codes(w, symmetric_offset(w)), w.bits));
        prefix = c.prefix;
        g.initializers.push_back({codes_shape_name(stem), Tensor::from_int64s({static_cast<int64_t>(d.size())}, d), ""});
        g.nodes.push_back(make_node("Reshape", "", {c.name, codes_shape_name(stem)}, prefix + "r"));
        codes = prefix + "r";
    }
    auto value = [&](const char* tag) { return prefix + tag; };
    auto add = [&](const std::string& op, std::vector<std::string> in, const std::string& out) {
        g.nodes.push_back(make_node(op, "", std::move(in), out));
    };
    set_packed_scales(g, stem, w);
    if (!(whole && symmetric)) {  // signed whole codes are cast to float as they are
        std::string zp;
        if (symmetric) {
            zp = shared_constant(g, "qcp/pack/i32_offset" + std::to_string(w.bits), int_tensor(DType::Int32, {1}, {symmetric_offset(w)}));
        } else {
            g.nodes.push_back(cast_node("", zp_name(stem), value("z"), DType::Int32));
            zp = value("z");
        }
        add("Sub", {codes, zp}, value("d"));
        g.nodes.push_back(cast_node("", value("d"), value("x"), DType::Float32));
    }
    if (w.block_size <= 0) {
        add("Mul", {value("x"), scale_name(stem)}, stem);
        g.rebuild_index();
        return stem;
    }
    // blocked: back to the weight's rank, then the padding along the axis cut off
    const auto a = static_cast<size_t>(w.axis);
    Shape padded = w.shape;
    padded[a] = d[a] * w.block_size;
    add("Mul", {value("x"), scale_name(stem)}, value("y"));
    g.initializers.push_back({stem + "_padded_shape", Tensor::from_int64s({static_cast<int64_t>(padded.size())}, padded), ""});
    const bool cut = padded[a] != w.shape[a];
    add("Reshape", {value("y"), stem + "_padded_shape"}, cut ? value("p") : stem);
    if (cut) {
        ir::Node slice = make_node("Slice", "", {value("p")}, stem);
        if (model.opset("") < 10) {
            slice.attributes.push_back(ir::Attribute::make_ints("starts", {0}));
            slice.attributes.push_back(ir::Attribute::make_ints("ends", {w.shape[a]}));
            slice.attributes.push_back(ir::Attribute::make_ints("axes", {w.axis}));
        } else {
            g.initializers.push_back({stem + "_cut_end", Tensor::from_int64s({1}, {w.shape[a]}), ""});
            slice.inputs.push_back(shared_constant(g, "qcp/pack/zero", Tensor::from_int64s({1}, {0})));
            slice.inputs.push_back(stem + "_cut_end");
            slice.inputs.push_back(shared_constant(g, "qcp/pack/axis" + std::to_string(w.axis), Tensor::from_int64s({1}, {w.axis})));
        }
        g.nodes.push_back(std::move(slice));
    }
    g.rebuild_index();
    return stem;
}

}  // namespace

const char* weight_format_name(WeightFormat f) {
    switch (f) {
        case WeightFormat::Qdq: return "qdq";
        case WeightFormat::Float: return "float";
        case WeightFormat::Packed: return "packed";
    }
    return "?";
}

std::string storage_name(const GridWeight& w, WeightFormat format, int64_t opset) {
    switch (format) {
        case WeightFormat::Float: return "float";
        case WeightFormat::Packed: return "packed-" + std::to_string(w.bits);
        case WeightFormat::Qdq: break;
    }
    return std::string("qdq-") + (w.zero_points.empty() ? "int" : "uint") + (w.bits <= 4 && opset >= 21 ? "4" : "8");
}

std::string emit_float_weight(ir::Model& model, const std::string& stem, Tensor w) {
    set_initializer(model.graph, stem, std::move(w));
    model.graph.rebuild_index();
    return stem;
}

std::string emit_grid_weight(ir::Model& model, const std::string& stem, const GridWeight& w, WeightFormat format) {
    if (format == WeightFormat::Float) return emit_float_weight(model, stem, w.dequantized());
    if (format == WeightFormat::Packed) return emit_packed_weight(model, stem, w);
    const int64_t opset = model.opset("");
    if (opset < 10 || (w.axis >= 0 && opset < 13))
        throw Error("--format qdq needs opset 13 or later for per-channel scales (model has opset " +
                    std::to_string(opset) + "); use --format packed (the default) or float");
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
    if (format == WeightFormat::Packed) {
        // the codes keep their decode shape: blocked scales stay blocked, the same blocks
        const ir::Initializer* s = g.find_initializer(scale_name(stem));
        const bool was_blocked = s && s->tensor.rank() > w.shape.size();
        if (!s || was_blocked != (w.block_size > 0) || (was_blocked && s->tensor.shape() != broadcast_scale_shape(w)))
            throw Error("internal: packed weight '" + stem + "' cannot change its decode shape");
        set_packed_scales(g, stem, w);
        return;
    }
    set_initializer(g, scale_name(stem), scale_tensor(w));
    if (!w.zero_points.empty()) {  // its shape follows the scales'
        const Tensor* q = g.constant(q_name(stem));
        const bool four_bit = q && (q->dtype() == DType::Int4 || q->dtype() == DType::UInt4);
        set_initializer(g, zp_name(stem), integer_tensor(w.scale_shape(), w.zero_points, false, four_bit));
    }
    for (auto& n : g.nodes) {
        if (n.name != dq_node_name(stem)) continue;
        n.attributes.clear();
        if (w.axis >= 0) n.attributes.push_back(ir::Attribute::make_int("axis", w.axis));
        return;
    }
    throw Error("internal: no DequantizeLinear for weight '" + stem + "'");
}

}  // namespace qcp::rewrite
