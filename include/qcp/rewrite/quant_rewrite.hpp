// Scalar-quantized weights (rtn, gptq): the layer's weight input becomes a DequantizeLinear of
// integer codes (or, in Float format, the dequantized float32 values); the op itself is kept.
#pragma once

#include <optional>
#include <vector>

#include "qcp/ir/layers.hpp"
#include "qcp/quant/rtn.hpp"
#include "qcp/rewrite/cp_rewrite.hpp"
#include "qcp/rewrite/weights.hpp"

namespace qcp::rewrite {

// The weight as a matrix of rows = output channels, cols = inputs (a conv's (Cout, Cin/g·kh·kw),
// im2col order), float32. `transposed`: stored as (inputs, outputs) (Gemm transB=0, MatMul).
struct QuantTarget {
    std::vector<float> w;
    int64_t rows = 0, cols = 0;
    bool transposed = false;
};
QuantTarget quant_target(const ir::Graph& g, const ir::Layer& layer);

// The quantized matrix laid out as the layer's stored weight: per-channel scales along the
// output-channel axis, blocks along the input axis (2-D weights only).
GridWeight grid_weight_for(const ir::Layer& layer, const QuantTarget& t, const quant::QuantizedMatrix& q);

// Replaces the layer's weight input; the old weight (and Identity/Constant chains only it used)
// are removed. Returns the new weight's stored bits.
int64_t rewrite_quantized(ir::Model& model, const ir::Layer& layer, const GridWeight& w, WeightFormat format);

// After rewrite_quantized or rewrite_pq: the layer (the node writing `output`) as a target of the
// statistics correction (apply_channel_affine). `grid`: its weight as rewrite_quantized wrote it
// (the channel scales fold into its scales); null for a weight other nodes compute (pq's lookup:
// a per-channel Mul is put on it, which ORT and the engine fold into the weight when loading).
// `storage_bits`: all its stored bits (weight and bias). A Conv, or a Gemm whose C is one value
// per output, gets a bias of its own (a copy of the old one; the correction adds one when it had
// none); a MatMul, or a Gemm whose C cannot take the shift (beta 0, not per output, or absent
// before opset 11), gets it in the Add after it (apply_channel_affine). nullopt when its output
// channels cannot take the map: blocked scales (not per output channel), a 1-D output, a Conv
// bias that is not one value per output.
std::optional<CpRewrite> correction_target(ir::Model& model, const ir::Layer& layer, const std::string& output,
                                           const GridWeight* grid, int64_t storage_bits);

// The stored bits a statistics correction adds to a layer quantized to `q` (nullptr: a weight
// without a grid, which takes the scale as a Mul's factor), as correction_target and
// apply_channel_affine add them: a scale per output channel where the grid has fewer (with its
// zero points when asymmetric), and a bias where the layer has none that takes the shift (a new
// one, or a new Add after a MatMul with no per-channel Add behind it, or a copy of an Add's
// constant that is read elsewhere too). 0 when the layer cannot be corrected. The budget counts
// them, so that the ratio it plans is the one written.
int64_t correction_bits(const ir::Graph& g, int64_t opset, const ir::Layer& layer, const quant::QuantizedMatrix* q);

}  // namespace qcp::rewrite
