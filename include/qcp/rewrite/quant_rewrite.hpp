// Scalar-quantized weights (rtn, gptq): the layer's weight input becomes a DequantizeLinear of
// integer codes (or, in Float format, the dequantized float32 values); the op itself is kept.
#pragma once

#include <vector>

#include "qcp/ir/layers.hpp"
#include "qcp/quant/rtn.hpp"
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

}  // namespace qcp::rewrite
