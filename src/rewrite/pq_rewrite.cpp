#include "qcp/rewrite/pq_rewrite.hpp"

#include <string>

#include "qcp/core/error.hpp"
#include "qcp/rewrite/packing.hpp"
#include "rewrite_util.hpp"

namespace qcp::rewrite {
namespace {

constexpr int64_t kPqMaxUint8Codes = 256;
constexpr int64_t kPqMaxCodes = 65536;
constexpr int64_t kPqMinOpset = 6;  // Cast with a `to` attribute, Reshape with a shape input

void check_match(const ir::Layer& layer, const QuantTarget& t, const quant::PqResult& pq) {
    const std::string who = "pq rewrite of '" + layer.name + "': ";
    if (pq.rows != t.rows || pq.cols != t.cols)
        throw Error(who + "the codes are for a " + std::to_string(pq.rows) + "x" + std::to_string(pq.cols) + " weight, the layer's is " +
                    std::to_string(t.rows) + "x" + std::to_string(t.cols));
    if (pq.d < 1 || pq.cols % pq.d != 0 || pq.k < 1) throw Error(who + "bad sub-vector length or codeword count");
    if (pq.k > kPqMaxCodes) throw Error(who + std::to_string(pq.k) + " codewords; at most 65536 fit uint16 indices");
    if (static_cast<int64_t>(pq.codebook.size()) != pq.k * pq.d || static_cast<int64_t>(pq.codes.size()) != pq.rows * (pq.cols / pq.d))
        throw Error(who + "codebook or codes have the wrong size");
    for (int32_t c : pq.codes)
        if (c < 0 || c >= pq.k) throw Error(who + "code " + std::to_string(c) + " outside 0.." + std::to_string(pq.k - 1));
    if (shape_numel(layer.weight_shape) != t.rows * t.cols) throw Error(who + "the weight shape does not match the matrix");
    if (t.transposed && layer.weight_shape.size() != 2) throw Error(who + "a weight stored as (inputs, outputs) must be 2-D");
}

// The codebook as stored: float16, and the float values it stands for.
Tensor half_codebook(const quant::PqResult& pq) {
    Tensor t(DType::Float16, {pq.k, pq.d});
    uint16_t* h = t.data<uint16_t>();
    for (size_t i = 0; i < pq.codebook.size(); ++i) h[i] = float_to_half(pq.codebook[i]);
    return t;
}

// Ŵ with the float16 codebook, in the layer's stored layout (transposed for (inputs, outputs)).
Tensor stored_weight(const ir::Layer& layer, const QuantTarget& t, const quant::PqResult& pq) {
    quant::PqResult rounded = pq;
    for (float& x : rounded.codebook) x = half_to_float(float_to_half(x));
    const std::vector<float> w = rounded.dequantized();
    Tensor out(DType::Float32, layer.weight_shape);
    float* p = out.data<float>();
    for (int64_t r = 0; r < t.rows; ++r)
        for (int64_t c = 0; c < t.cols; ++c) p[t.transposed ? c * t.rows + r : r * t.cols + c] = w[static_cast<size_t>(r * t.cols + c)];
    return out;
}

Tensor index_tensor(const quant::PqResult& pq) {
    const Shape shape{pq.rows, pq.cols / pq.d};
    if (pq.k <= kPqMaxUint8Codes) {
        Tensor t(DType::UInt8, shape);
        for (size_t i = 0; i < pq.codes.size(); ++i) t.data<uint8_t>()[i] = static_cast<uint8_t>(pq.codes[i]);
        return t;
    }
    Tensor t(DType::UInt16, shape);
    for (size_t i = 0; i < pq.codes.size(); ++i) t.data<uint16_t>()[i] = static_cast<uint16_t>(pq.codes[i]);
    return t;
}

// Packed indices (the Packed format below 8 bits per index) or byte-aligned ones.
bool packs_indices(int64_t k, WeightFormat format) { return format == WeightFormat::Packed && pq_index_bits(k) < 8; }

// Emits the lookup graph producing `stem` (see the header).
void emit_lookup(ir::Model& model, const std::string& stem, const ir::Layer& layer, const QuantTarget& t,
                 const quant::PqResult& pq, WeightFormat format) {
    ir::Graph& g = model.graph;
    const std::string codebook = stem + "_codebook", indices = stem + "_indices", shape = stem + "_shape";
    g.initializers.push_back({codebook, half_codebook(pq), ""});
    // the lookup's nodes go unnamed and its values are ~<n><letter>, as the packed decoder's: a few
    // hundred bytes a layer, whatever its name (rewrite/packing.hpp)
    std::string index_value, prefix;
    if (packs_indices(pq.k, format)) {  // Gather takes the codes in any shape: (n) or (m, G)
        const CodeValue codes = emit_packed_codes(model, indices, pack_codes(pq.codes, pq_index_bits(pq.k)));
        index_value = codes.name;
        prefix = codes.prefix;
    } else {
        prefix = decoder_prefix(g);
        index_value = prefix + "i";
        g.initializers.push_back({indices, index_tensor(pq), ""});
        g.nodes.push_back(cast_node("", indices, index_value, DType::Int32));
    }
    const Shape target = t.transposed ? Shape{t.rows, t.cols} : layer.weight_shape;
    g.initializers.push_back({shape, Tensor::from_int64s({static_cast<int64_t>(target.size())}, target), ""});

    ir::Node gather = make_node("Gather", "", {prefix + "k", index_value}, prefix + "g");
    gather.attributes.push_back(ir::Attribute::make_int("axis", 0));
    g.nodes.push_back(cast_node("", codebook, prefix + "k", DType::Float32));
    g.nodes.push_back(std::move(gather));
    g.nodes.push_back(make_node("Reshape", "", {prefix + "g", shape}, t.transposed ? prefix + "o" : stem));
    if (t.transposed) {
        ir::Node transpose = make_node("Transpose", "", {prefix + "o"}, stem);
        transpose.attributes.push_back(ir::Attribute::make_ints("perm", {1, 0}));
        g.nodes.push_back(std::move(transpose));
    }
    g.rebuild_index();
}

}  // namespace

int pq_index_bits(int64_t k) {
    int bits = 1;
    while ((int64_t{1} << bits) < k) ++bits;
    return bits;
}

PqBits pq_bits(int64_t rows, int64_t blocks, int64_t k, int64_t d, WeightFormat format) {
    if (k < 1 || k > kPqMaxCodes) throw Error("pq: codeword count " + std::to_string(k) + " outside 1..65536");
    int64_t index_bits = 0;  // ⌈log2 k⌉
    while ((int64_t{1} << index_bits) < k) ++index_bits;
    PqBits b;
    const int64_t codebook_bits = 16 * k * d, indices = rows * blocks;
    b.storage_bits = (packs_indices(k, format) ? 8 * packed_bytes(indices, pq_index_bits(k)) : indices * (k <= kPqMaxUint8Codes ? 8 : 16)) +
                     codebook_bits;
    b.ideal_bits = indices * index_bits + codebook_bits;
    return b;
}

std::string pq_storage_name(int64_t k, WeightFormat format) {
    if (format == WeightFormat::Float) return "float";
    return packs_indices(k, format) ? "pq-packed-" + std::to_string(pq_index_bits(k)) : "pq-gather";
}

PqBits rewrite_pq(ir::Model& model, const ir::Layer& layer, const QuantTarget& t, const quant::PqResult& pq,
                  WeightFormat format) {
    check_match(layer, t, pq);
    ir::Graph& g = model.graph;
    const std::string old = layer.weight;
    const std::string stem = "qcp/" + layer.name + "/w";
    if (format == WeightFormat::Float) {
        emit_float_weight(model, stem, stored_weight(layer, t, pq));
    } else {
        const int64_t opset = model.opset("");
        if (opset < kPqMinOpset)
            throw Error("pq rewrite of '" + layer.name + "' needs opset " + std::to_string(kPqMinOpset) + " or later (model has " +
                        std::to_string(opset) + ")");
        emit_lookup(model, stem, layer, t, pq, format);
    }
    ir::Node& n = g.nodes.at(static_cast<size_t>(layer.node));
    n.inputs[1] = stem;
    g.rebuild_index();
    remove_dead_value(g, old);
    return pq_bits(pq.rows, pq.cols / pq.d, pq.k, pq.d, format);
}

}  // namespace qcp::rewrite
