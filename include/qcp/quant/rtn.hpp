// Weight quantization to uniform integer grids, and round-to-nearest (RTN) with MSE-chosen grids.
//
// A weight is a row-major float matrix W of shape (rows = output channels, cols = inputs); a conv
// weight (Cout, Cin, kh, kw) is viewed as Cout × (Cin·kh·kw), column ((ci·kh)+ky)·kw+kx (the
// im2col order). Elements are split into groups that share one grid
//     Ŵ = scale · (code − zero_point),
// symmetric: code ∈ [−2^(b−1), 2^(b−1)−1], zero_point = 0 (core/grid.hpp's grid);
// asymmetric: code ∈ [0, 2^b−1], zero_point ∈ [0, 2^b−1] (0 is always exactly representable).
// Codes round half to even and saturate. Each group's grid minimises that group's squared
// error ‖x − Ŵ‖² (a sweep of clip ratios plus least-squares refinement), not plain min/max.
#pragma once

#include <cstdint>
#include <vector>

namespace qcp::quant {

// Channel: one grid per output row; Tensor: one for the matrix; Block: one per `block_size`
// consecutive columns within each row (the last block of a row may be shorter).
enum class Granularity { Channel, Tensor, Block };
const char* granularity_name(Granularity g);

struct QuantScheme {
    int bits = 8;             // 2..16
    bool symmetric = true;
    Granularity granularity = Granularity::Channel;
    int64_t block_size = 0;   // Block only; > 0

    int32_t code_min() const { return symmetric ? -(1 << (bits - 1)) : 0; }
    int32_t code_max() const { return symmetric ? (1 << (bits - 1)) - 1 : (1 << bits) - 1; }
};

// Throws qcp::Error naming `who` when the scheme is unusable (bits, block size).
void check_scheme(const QuantScheme& s, const char* who);

// Number of groups (= scales) of a rows × cols matrix, and the group of element (row, col):
// Tensor 0; Channel row; Block row · ceil(cols / block_size) + col / block_size.
int64_t group_count(const QuantScheme& s, int64_t rows, int64_t cols);
int64_t group_of(const QuantScheme& s, int64_t cols, int64_t row, int64_t col);

// One group's grid.
struct GroupGrid {
    float scale = 1.0f;       // > 0
    int32_t zero_point = 0;   // 0 when symmetric
};

// The code of x on grid g (round half to even, saturating to [code_min, code_max]).
int32_t quantize_value(float x, GroupGrid g, const QuantScheme& s);
inline float dequantize_value(int32_t code, GroupGrid g) {
    return g.scale * static_cast<float>(code - g.zero_point);
}

// The MSE-optimal grid for values x[0..n) with stride `stride`, as RTN chooses it.
GroupGrid rtn_group_grid(const float* x, int64_t n, int64_t stride, const QuantScheme& s);

// The grids RTN chooses for every group of W (rows × cols, row-major), in group_of order.
std::vector<GroupGrid> rtn_grids(const float* w, int64_t rows, int64_t cols, const QuantScheme& s);

struct QuantizedMatrix {      // W ≈ scale ⊙ (codes − zero_point)
    int64_t rows = 0, cols = 0;
    std::vector<int32_t> codes;        // rows·cols, row-major
    std::vector<float> scales;         // group_count(scheme, rows, cols), in group_of order
    std::vector<int32_t> zero_points;  // same count as scales; all 0 when symmetric
    QuantScheme scheme;

    GroupGrid grid(int64_t row, int64_t col) const;
    std::vector<float> dequantized() const;  // rows·cols, row-major
    // Codes at `bits` each + 32 per scale + `bits` per zero point when asymmetric.
    int64_t storage_bits() const;
};

// Round-to-nearest with each group's grid from rtn_group_grid. Throws qcp::Error on a bad
// scheme or non-finite weights.
QuantizedMatrix rtn_quantize(const float* w, int64_t rows, int64_t cols, const QuantScheme& s);

}  // namespace qcp::quant
