// The scalar formulas of the activation kernels, shared by their nodes (elementwise.cpp) and by
// Conv epilogues (epilogue.cpp), so a fused op gives the same bits as its node (internal).
#pragma once

#include <algorithm>
#include <cmath>

namespace qcp::engine::kernels {

inline float relu_value(float v) { return v > 0.0f ? v : 0.0f; }
// exp(-v) overflows to inf for v < -88, giving the right limit 0
inline float sigmoid_value(float v) { return 1.0f / (1.0f + std::exp(-v)); }
inline float leaky_relu_value(float v, float alpha) { return v >= 0.0f ? v : alpha * v; }
inline float hard_sigmoid_value(float v, float alpha, float beta) {
    return std::max(0.0f, std::min(1.0f, alpha * v + beta));
}
inline float hard_swish_value(float v) {
    constexpr float alpha = 1.0f / 6.0f;
    return v * std::max(0.0f, std::min(1.0f, alpha * v + 0.5f));
}
// BatchNormalization (inference) as y = x·a + b per channel.
inline void batch_norm_affine(float scale, float bias, float mean, float var, float eps, float& a, float& b) {
    a = scale / std::sqrt(var + eps);
    b = bias - mean * a;
}

template <typename T>
T clip_value(T v, T lo, T hi) {
    return std::min(std::max(v, lo), hi);
}

}  // namespace qcp::engine::kernels
