#include "qcp/rewrite/cp_rewrite.hpp"

#include <algorithm>
#include <cmath>
#include <set>

#include "qcp/core/error.hpp"
#include "rewrite_util.hpp"

namespace qcp::rewrite {

using decomp::Matrix;
using decomp::QuantizedFactor;
using decomp::ScaleAxis;

FactorTarget factor_target(const ir::Graph& g, const ir::Layer& layer) {
    const ir::Node& node = g.nodes.at(static_cast<size_t>(layer.node));
    const Tensor* w = g.constant(layer.weight);
    if (!w) throw Error(node.describe() + ": weight is not constant");
    const Tensor wf = w->to_float32();
    const float* p = wf.data<float>();
    FactorTarget t;
    if (layer.op == "Conv") {
        t.i = wf.dim(0);
        t.j = wf.dim(1);
        t.k = wf.dim(2) * wf.dim(3);
        t.values.assign(p, p + wf.numel());
        return t;
    }
    // matrices oriented (out, in)
    const bool transposed = layer.op == "MatMul" || (layer.op == "Gemm" && node.attr_int("transB", 0) == 0);
    const int64_t rows = wf.dim(0), cols = wf.dim(1);
    t.i = transposed ? cols : rows;
    t.j = transposed ? rows : cols;
    t.values.resize(static_cast<size_t>(rows * cols));
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c)
            t.values[static_cast<size_t>(transposed ? c * rows + r : r * cols + c)] = p[r * cols + c];
    return t;
}

int rank_for_ratio(const FactorTarget& t, double ratio) {
    const int64_t sum = t.i + t.j + (t.k > 1 ? t.k : 0);
    const double r = std::floor(static_cast<double>(t.i * t.j * t.k) / static_cast<double>(sum) / ratio);
    return static_cast<int>(std::max(1.0, r));
}

int64_t factorized_params(const FactorTarget& t, int rank) { return rank * (t.i + t.j + (t.k > 1 ? t.k : 0)); }

namespace {

// A factor (rows × R) laid out as a weight of `shape`, transposed or not, on its grid.
GridWeight grid_of(const QuantizedFactor& q, bool transpose, Shape shape) {
    GridWeight w;
    w.shape = std::move(shape);
    w.bits = q.bits;
    w.scales = q.scales;
    const int64_t rows = q.codes.rows(), cols = q.codes.cols();
    w.codes.resize(static_cast<size_t>(rows * cols));
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c)
            w.codes[static_cast<size_t>(transpose ? c * rows + r : r * cols + c)] = q.codes(r, c);
    switch (q.axis) {
        case ScaleAxis::None: w.axis = -1; break;
        case ScaleAxis::Rows: w.axis = transpose ? 1 : 0; break;
        case ScaleAxis::Cols: w.axis = transpose ? 0 : 1; break;
    }
    return w;
}

Tensor dense_of(const Matrix& m, bool transpose, Shape shape) {
    Tensor t(DType::Float32, std::move(shape));
    float* p = t.data<float>();
    for (int64_t r = 0; r < m.rows(); ++r)
        for (int64_t c = 0; c < m.cols(); ++c) p[transpose ? c * m.rows() + r : r * m.cols() + c] = m(r, c);
    return t;
}

void copy_attrs(const ir::Node& from, ir::Node& to, std::initializer_list<const char*> names) {
    for (const char* name : names)
        if (const ir::Attribute* a = from.attr(name)) to.attributes.push_back(*a);
}

int64_t spatial(const Shape& s) {
    int64_t n = 1;
    for (size_t d = 2; d < s.size(); ++d) n *= s[d];
    return n;
}

}  // namespace

int64_t factorized_macs(const ir::Graph& g, const ir::Layer& layer, int rank_in) {
    const ir::Node& node = g.nodes.at(static_cast<size_t>(layer.node));
    if (layer.macs < 0) return -1;  // the original's spatial dims are unknown: so are the chain's
    const Shape& in_shape = layer.in_shape;
    const Shape& out_shape = layer.out_shape;
    const int64_t rank = rank_in;
    const Shape& w = layer.weight_shape;
    if (layer.op == "Conv") {
        const int64_t out = w[0], in = w[1], k = w.size() == 4 ? w[2] * w[3] : 1;
        if (out_shape.size() != 4) return -1;
        if (k == 1) return (rank * in + out * rank) * spatial(out_shape);
        if (in_shape.size() != 4) return -1;
        return rank * in * spatial(in_shape) + rank * k * spatial(out_shape) + out * rank * spatial(out_shape);
    }
    const bool transposed = layer.op == "MatMul" || node.attr_int("transB", 0) == 0;
    const int64_t out = transposed ? w[1] : w[0], in = transposed ? w[0] : w[1];
    int64_t rows = 1;
    if (layer.op == "Gemm") rows = in_shape.empty() ? 1 : in_shape[0];
    else
        for (size_t d = 0; d + 1 < in_shape.size(); ++d) rows *= in_shape[d];
    return rows * (in * rank + rank * out);
}

CpRewrite rewrite_cp(ir::Model& model, const ir::Layer& layer, const decomp::CpResult& cp, WeightFormat format) {
    ir::Graph& g = model.graph;
    const ir::Node orig = g.nodes.at(static_cast<size_t>(layer.node));
    const bool quantized = !cp.quantized.empty();
    const int64_t rank = cp.factors.at(0).cols();
    const int64_t out = cp.factors[0].rows(), in = cp.factors[1].rows();
    const std::string stem = "qcp/" + layer.name;
    const std::string x = orig.input(0);
    const std::string y = orig.outputs.at(0);

    CpRewrite rw;
    rw.macs = factorized_macs(g, layer, static_cast<int>(rank));
    auto weight = [&](int mode, bool transpose, Shape shape, const std::string& name, bool is_out) {
        std::string value;
        if (quantized) {
            GridWeight gw = grid_of(cp.quantized[static_cast<size_t>(mode)], transpose, shape);
            rw.storage_bits += gw.storage_bits();
            rw.storage = storage_name(gw, format, model.opset(""));
            value = emit_grid_weight(model, name, gw, format);
            if (is_out) rw.out_grid = std::move(gw);
        } else {
            Tensor t = dense_of(cp.factors[static_cast<size_t>(mode)], transpose, shape);
            rw.storage_bits += 32 * t.numel();
            rw.storage = "float";
            if (is_out) rw.out_dense = t;
            value = emit_float_weight(model, name, std::move(t));
        }
        if (is_out) rw.out_weight = value;
        return value;
    };
    std::string bias;
    if (!layer.bias.empty()) {
        const Tensor* b = g.constant(layer.bias);
        Tensor bf = b->to_float32();
        rw.storage_bits += 32 * bf.numel();
        bias = emit_float_weight(model, stem + "/bias", bf.reshaped({bf.numel()}));
    }
    rw.bias = bias;

    std::vector<ir::Node> chain;
    if (layer.op == "Conv" && cp.factors.size() == 3) {
        const int64_t kh = layer.weight_shape[2], kw = layer.weight_shape[3];
        const std::string w1 = weight(1, true, {rank, in, 1, 1}, stem + "/cp_in.w", false);
        const std::string w2 = weight(2, true, {rank, 1, kh, kw}, stem + "/cp_dw.w", false);
        const std::string w3 = weight(0, false, {out, rank, 1, 1}, stem + "/cp_out.w", true);
        ir::Node c1 = make_node("Conv", stem + "/cp_in", {x, w1}, {y + "/cp_in"});
        ir::Node c2 = make_node("Conv", stem + "/cp_dw", {y + "/cp_in", w2}, {y + "/cp_dw"});
        copy_attrs(orig, c2, {"strides", "pads", "dilations", "auto_pad", "kernel_shape"});
        c2.attributes.push_back(ir::Attribute::make_int("group", rank));
        std::vector<std::string> in3 = {y + "/cp_dw", w3};
        if (!bias.empty()) in3.push_back(bias);
        chain = {c1, c2, make_node("Conv", stem + "/cp_out", in3, {y})};
    } else if (layer.op == "Conv") {  // 1×1: two convs, stride on the first
        const std::string w1 = weight(1, true, {rank, in, 1, 1}, stem + "/cp_in.w", false);
        const std::string w2 = weight(0, false, {out, rank, 1, 1}, stem + "/cp_out.w", true);
        ir::Node c1 = make_node("Conv", stem + "/cp_in", {x, w1}, {y + "/cp_in"});
        copy_attrs(orig, c1, {"strides", "pads", "dilations", "auto_pad", "kernel_shape"});
        std::vector<std::string> in2 = {y + "/cp_in", w2};
        if (!bias.empty()) in2.push_back(bias);
        chain = {c1, make_node("Conv", stem + "/cp_out", in2, {y})};
    } else if (layer.op == "Gemm") {
        const std::string w1 = weight(1, true, {rank, in}, stem + "/cp_in.w", false);
        const std::string w2 = weight(0, false, {out, rank}, stem + "/cp_out.w", true);
        ir::Node g1 = make_node("Gemm", stem + "/cp_in", {x, w1}, {y + "/cp_in"});
        if (model.opset("") < 11) {  // Gemm's C is optional only from opset 11
            g1.inputs.push_back(emit_float_weight(model, stem + "/cp_in.zero_bias", Tensor(DType::Float32, {rank})));
            rw.storage_bits += 32 * rank;
        }
        g1.attributes.push_back(ir::Attribute::make_int("transB", 1));
        copy_attrs(orig, g1, {"alpha"});
        std::vector<std::string> in2 = {y + "/cp_in", w2};
        if (!bias.empty()) in2.push_back(bias);
        ir::Node g2 = make_node("Gemm", stem + "/cp_out", in2, {y});
        g2.attributes.push_back(ir::Attribute::make_int("transB", 1));
        copy_attrs(orig, g2, {"beta"});
        chain = {g1, g2};
    } else if (layer.op == "MatMul") {
        const std::string w1 = weight(1, false, {in, rank}, stem + "/cp_in.w", false);
        const std::string w2 = weight(0, true, {rank, out}, stem + "/cp_out.w", true);
        chain = {make_node("MatMul", stem + "/cp_in", {x, w1}, {y + "/cp_in"}),
                 make_node("MatMul", stem + "/cp_out", {y + "/cp_in", w2}, {y})};
    } else {
        throw Error(orig.describe() + ": CP rewrite supports Conv, Gemm and MatMul");
    }
    rw.output = y;
    rw.out_channel_axis = layer.op == "MatMul" ? 1 : 0;
    rw.supports_correction = true;
    if (layer.op == "MatMul") rw.bias_input = false;
    if (layer.op == "Gemm") {  // C is added times beta; without C (before opset 11, or beta 0) the shift goes after
        rw.bias_gain = orig.attr_float("beta", 1.0f);
        rw.bias_input = rw.bias_gain != 0.0f && (!bias.empty() || model.opset("") >= 11);
    }
    for (const auto& n : chain) rw.nodes.push_back(n.name);

    const std::vector<std::string> old_inputs = orig.inputs;
    g.nodes.erase(g.nodes.begin() + layer.node);
    g.rebuild_index();
    remove_dead_values(g, old_inputs);
    for (auto& n : chain) g.nodes.push_back(std::move(n));
    g.rebuild_index();
    return rw;
}

namespace {

constexpr const char* kPreBias = "/pre_bias";

// Index along `axis` of the flat index i of a row-major tensor of `shape`.
int64_t index_along(const Shape& shape, int axis, int64_t i) {
    int64_t stride = 1;
    for (size_t d = static_cast<size_t>(axis) + 1; d < shape.size(); ++d) stride *= shape[d];
    return (i / stride) % shape.at(static_cast<size_t>(axis));
}

// shift (with the scale already in the weights) into a bias outside the last node: the
// per-channel constant of the Add that follows it (a copy of its own), else a new Add.
void shift_after(ir::Model& model, CpRewrite& rw, int last, const std::vector<float>& shift) {
    ir::Graph& g = model.graph;
    const int64_t channels = static_cast<int64_t>(shift.size());
    rw.bias = rw.out_weight + ".bias";
    if (const auto [add, slot] = following_bias_add(g, rw.output, channels); add >= 0) {
        const std::string old = g.nodes[static_cast<size_t>(add)].inputs[static_cast<size_t>(slot)];
        Tensor c = g.constant(old)->to_float32();
        for (int64_t o = 0; o < channels; ++o) c.data<float>()[o] += shift[static_cast<size_t>(o)];
        g.nodes[static_cast<size_t>(add)].inputs[static_cast<size_t>(slot)] = emit_float_weight(model, rw.bias, std::move(c));
        g.rebuild_index();
        remove_dead_value(g, old);
        if (g.constant(old)) rw.storage_bits += 32 * channels;  // read elsewhere too: now stored twice
        return;
    }
    // the last node writes <output>/pre_bias; Add(·, bias) writes the output, name and readers unchanged
    const std::string pre = rw.output + kPreBias;
    g.nodes[static_cast<size_t>(last)].outputs[0] = pre;
    emit_float_weight(model, rw.bias, Tensor::from_floats({channels}, shift));
    const std::string name = rw.nodes.back() + "/bias_add";
    g.nodes.insert(g.nodes.begin() + last + 1, make_node("Add", name, {pre, rw.bias}, rw.output));
    rw.nodes.push_back(name);
    rw.storage_bits += 32 * channels;
    g.rebuild_index();
}

}  // namespace

// (rewrite_util.hpp)
std::pair<int, int> following_bias_add(const ir::Graph& g, const std::string& value, int64_t channels) {
    const std::vector<int>& readers = g.consumers(value);
    if (readers.size() != 1 || g.is_graph_output(value)) return {-1, -1};
    const ir::Node& add = g.nodes.at(static_cast<size_t>(readers[0]));
    if (add.op_type != "Add" || add.inputs.size() != 2 || add.outputs.size() != 1) return {-1, -1};
    const int slot = add.inputs[0] == value ? 1 : 0;
    if (add.inputs[static_cast<size_t>(slot)] == value) return {-1, -1};
    const Tensor* c = g.constant(add.inputs[static_cast<size_t>(slot)]);
    if (!c || c->dtype() != DType::Float32 || c->rank() < 1 || c->numel() != channels || c->dim(c->rank() - 1) != channels)
        return {-1, -1};
    return {readers[0], slot};
}

int correction_bias_add(const ir::Graph& g, const std::string& output) {
    const int p = g.producer(output);
    if (p < 0) return -1;
    const ir::Node& n = g.nodes[static_cast<size_t>(p)];
    if (n.op_type != "Add" || n.inputs.size() != 2 || n.inputs[0] != output + kPreBias || !g.constant(n.inputs[1])) return -1;
    return p;
}

void apply_channel_affine(ir::Model& model, CpRewrite& rw, const std::vector<float>& scale,
                          const std::vector<float>& shift, WeightFormat format) {
    if (!rw.supports_correction) throw Error("internal: correction on a layer that cannot take it");
    if (!rw.bias_input && !rw.bias.empty()) throw Error("internal: the bias after '" + rw.output + "' was corrected already");
    const size_t channels = scale.size();
    ir::Graph& g = model.graph;
    g.rebuild_index();
    const int last = g.producer(rw.output);
    if (last < 0) throw Error("internal: no node writes '" + rw.output + "' to correct");
    if (rw.scale_by_node) {
        // weight' = Mul(weight, scale along its output-channel axis) (out_grid.shape: the weight's
        // shape), read by the layer instead
        const size_t at = static_cast<size_t>(last);
        Shape shape(rw.out_grid.shape.size(), 1);
        shape.at(static_cast<size_t>(rw.out_channel_axis)) = static_cast<int64_t>(channels);
        const std::string factor = emit_float_weight(model, rw.out_weight + ".channel_scale", Tensor::from_floats(shape, scale));
        const std::string scaled = rw.out_weight + ".channel_scaled";
        g.nodes.insert(g.nodes.begin() + static_cast<std::ptrdiff_t>(at),
                       make_node("Mul", rw.out_weight + ".channel_scale_mul", {rw.out_weight, factor}, scaled));
        g.nodes[at + 1].inputs[1] = scaled;
        rw.storage_bits += 32 * static_cast<int64_t>(channels);
        g.rebuild_index();
    } else if (!rw.out_grid.codes.empty()) {
        GridWeight& w = rw.out_grid;
        // the grid becomes per output channel: scale_o · s(o, r) must still be one scale per o
        if (w.axis != rw.out_channel_axis && w.axis != -1)
            throw Error("internal: last factor's scales are not per output channel");
        std::vector<float> per_channel(channels);
        for (size_t o = 0; o < channels; ++o) per_channel[o] = (w.axis < 0 ? w.scales[0] : w.scales[o]) * scale[o];
        rw.storage_bits += 32 * static_cast<int64_t>(channels - w.scales.size());
        if (w.axis < 0 && w.zero_points.size() == 1) {  // a per-tensor zero point goes per channel with the scales
            rw.storage_bits += w.bits * static_cast<int64_t>(channels - 1);
            w.zero_points.assign(channels, w.zero_points[0]);
        }
        w.scales = per_channel;
        w.axis = rw.out_channel_axis;
        update_grid_weight(model, rw.out_weight, w, format);
    } else {
        Tensor& t = rw.out_dense;
        float* p = t.data<float>();
        for (int64_t i = 0; i < t.numel(); ++i) p[i] *= scale[static_cast<size_t>(index_along(t.shape(), rw.out_channel_axis, i))];
        emit_float_weight(model, rw.out_weight, t);
    }
    g.rebuild_index();
    if (!rw.bias_input) {
        shift_after(model, rw, g.producer(rw.output), shift);
        return;
    }
    // bias' = scale ⊙ bias + shift / gain (a fresh bias when the layer had none): the node adds gain · bias
    std::vector<float> b(channels, 0.0f);
    if (!rw.bias.empty()) b = g.find_initializer(rw.bias)->tensor.to_float_vector();
    for (size_t o = 0; o < channels; ++o) b[o] = scale[o] * b[o] + shift[o] / rw.bias_gain;
    if (rw.bias.empty()) {
        rw.bias = rw.out_weight + ".bias";
        g.nodes.at(static_cast<size_t>(g.producer(rw.output))).inputs.push_back(rw.bias);
        rw.storage_bits += 32 * static_cast<int64_t>(channels);
    }
    emit_float_weight(model, rw.bias, Tensor::from_floats({static_cast<int64_t>(channels)}, b));
}

}  // namespace qcp::rewrite
