// Emitting weights into a graph: integers on a grid with a DequantizeLinear, or float32.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "qcp/core/tensor.hpp"
#include "qcp/ir/graph.hpp"

namespace qcp::rewrite {

enum class WeightFormat { Qdq, Float };

// A weight on a symmetric grid: value[i] = scale(axis index of i) · codes[i].
struct GridWeight {
    Shape shape;
    std::vector<int32_t> codes;  // row-major, shape_numel(shape) values in [−2^(b−1), 2^(b−1) − 1]
    std::vector<float> scales;   // one (axis == -1) or shape[axis] values
    int axis = -1;
    int bits = 8;

    float scale_of(int64_t flat_index) const;
    Tensor dequantized() const;  // float32
    // Stored bits: codes at `bits` each plus 32 per scale (what the report counts).
    int64_t storage_bits() const;
};

// Adds what produces the float weight `stem` and returns that value's name. Qdq: an int8 (or,
// at opset ≥ 21 and bits ≤ 4, int4) initializer, a float scale initializer and a
// DequantizeLinear node (appended to graph.nodes); Float: one float32 initializer.
// Qdq needs opset ≥ 13 for per-axis scales (≥ 10 per tensor).
std::string emit_grid_weight(ir::Model& model, const std::string& stem, const GridWeight& w, WeightFormat format);
std::string emit_float_weight(ir::Model& model, const std::string& stem, Tensor w);

// Replaces the scales of a weight emitted by emit_grid_weight (e.g. after a correction made
// them per output channel), rewriting the scale initializer and the DequantizeLinear axis, or
// the float initializer in Float format.
void update_grid_weight(ir::Model& model, const std::string& stem, const GridWeight& w, WeightFormat format);

}  // namespace qcp::rewrite
