// Emitting weights into a graph: b-bit codes packed in bytes with a decoder that runtimes fold at
// load (Packed), integers on a grid with a DequantizeLinear (Qdq), or float32 (Float).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "qcp/core/tensor.hpp"
#include "qcp/ir/graph.hpp"

namespace qcp::rewrite {

enum class WeightFormat { Qdq, Float, Packed };
// "qdq", "float", "packed".
const char* weight_format_name(WeightFormat f);

// A weight on a grid: value[i] = scale(i) · (codes[i] − zero_point(i)).
//   per tensor (axis −1): one scale; per axis: shape[axis] scales (ONNX per-axis, 1-D);
//   blocked (block_size > 0, opset 21): scales shaped like the weight with dim[axis] divided by
//   block_size (rounded up), one per block of block_size consecutive indices along axis.
// Symmetric grids (no zero points) hold signed codes; asymmetric ones unsigned codes in
// [0, 2^b − 1] with one zero point per scale.
struct GridWeight {
    Shape shape;
    std::vector<int32_t> codes;  // row-major, shape_numel(shape) values
    std::vector<float> scales;
    std::vector<int32_t> zero_points;  // empty: symmetric
    int axis = -1;
    int64_t block_size = 0;
    int bits = 8;

    Shape scale_shape() const;
    float scale_of(int64_t flat_index) const;
    Tensor dequantized() const;  // float32
    // Stored bits: codes at `bits` each, 32 per scale, `bits` per zero point (what the report counts).
    int64_t storage_bits() const;
};

// Adds what produces the float weight `stem` and returns that value's name.
//   Qdq: an int8 (or, at opset ≥ 21 and bits ≤ 4, int4) initializer, a float scale initializer
//     and a DequantizeLinear node (appended to graph.nodes). Needs opset ≥ 13 for per-axis
//     scales (≥ 10 per tensor).
//   Packed (opset ≥ 7): the codes u = code + 2^(b−1) (symmetric) or code (asymmetric), in
//     [0, 2^b), packed at `bits` (rewrite/packing.hpp), then
//       Reshape(codes, D) ─Sub(zero point)─Cast(float)─Mul(<stem>_scale)─▶ <stem>
//     with the zero point 2^(b−1) (symmetric, a shared int scalar) or the zero points
//     (<stem>_zero_point, uint8, cast) and the scales shaped to broadcast: (1) per tensor,
//     (C, 1, …, 1) along the axis. 8-bit codes, and 4-bit ones from opset 21, need no unpacking:
//     <stem>_packed is then an int8/int4 (symmetric: Cast(float)─Mul) or uint8/uint4 (Cast(int32)
//     ─Sub─Cast─Mul) tensor of shape D. D is the weight shape; blocked scales decode as
//     D = (…, blocks, block_size, …), padded when the axis is not a multiple of block_size,
//     reshaped back and sliced. Integer Sub, Cast and one float Mul give exactly
//     GridWeight::dequantized() wherever the chain runs.
//   Float: one float32 initializer.
std::string emit_grid_weight(ir::Model& model, const std::string& stem, const GridWeight& w, WeightFormat format);
std::string emit_float_weight(ir::Model& model, const std::string& stem, Tensor w);

// Replaces the scales of a weight emitted by emit_grid_weight (e.g. after a correction made
// them per output channel): the scale initializer and the DequantizeLinear axis (Qdq), the
// scale (and zero-point) initializers (Packed; the decode shape must stay the same), or the
// float initializer (Float).
void update_grid_weight(ir::Model& model, const std::string& stem, const GridWeight& w, WeightFormat format);

// How the weight is stored, for the report: "packed-4", "qdq-int8", "qdq-uint4", "float".
std::string storage_name(const GridWeight& w, WeightFormat format, int64_t opset);

}  // namespace qcp::rewrite
