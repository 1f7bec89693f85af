// Symmetric uniform quantization grids: Q_b(x) = s · clamp(round(x / s), −2^(b−1), 2^(b−1) − 1).
//
// The scale s is chosen to minimise the projection error ‖x − Q_b(x)‖² (not plain max|x|):
// a coarse search over clip ratios followed by least-squares refinement of s for fixed codes.
#pragma once

#include <cstdint>
#include <vector>

namespace qcp {

struct GridRange {
    int bits = 8;
    int32_t qmin() const { return -(1 << (bits - 1)); }
    int32_t qmax() const { return (1 << (bits - 1)) - 1; }
};

// MSE-optimal scale for values x[0..n) with stride `stride` (for matrix columns). Returns a
// positive scale even for all-zero input.
float grid_best_scale(const float* x, int64_t n, int64_t stride, GridRange range);

// Integer code of x on the grid with scale s (round half to even, saturating).
inline int32_t grid_code(float x, float s, GridRange range) {
    float q = __builtin_nearbyintf(x / s);
    if (q < static_cast<float>(range.qmin())) q = static_cast<float>(range.qmin());
    if (q > static_cast<float>(range.qmax())) q = static_cast<float>(range.qmax());
    return static_cast<int32_t>(q);
}

// Like grid_best_scale, but starting from a known good scale: only the least-squares
// refinement runs (for repeated projections of slowly changing values, as in ADMM).
float grid_refine_scale(const float* x, int64_t n, int64_t stride, GridRange range, float start);

// Squared projection error of x onto the grid with scale s.
double grid_error(const float* x, int64_t n, int64_t stride, float s, GridRange range);

}  // namespace qcp
