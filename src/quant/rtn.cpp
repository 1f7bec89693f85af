#include "qcp/quant/rtn.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "qcp/core/error.hpp"
#include "qcp/core/grid.hpp"

namespace qcp::quant {
namespace {

// The asymmetric search mirrors core/grid.cpp's symmetric one: clip ratios log-spaced from
// kMinClip to 1 of the range [min(x, 0), max(x, 0)], then least-squares refinement.
constexpr int kClipCandidates = 40;
constexpr double kMinClip = 0.01;
constexpr int kRefineSteps = 4;

double group_error(const float* x, int64_t n, int64_t stride, GroupGrid g, const QuantScheme& s) {
    double err = 0;
    for (int64_t i = 0; i < n; ++i) {
        const float v = x[i * stride];
        const double d = static_cast<double>(v) - dequantize_value(quantize_value(v, g, s), g);
        err += d * d;
    }
    return err;
}

// The grid whose clip range is [lo, hi] (lo ≤ 0 ≤ hi, hi > lo), with 0 on the grid.
GroupGrid asymmetric_grid(double lo, double hi, int32_t qmax) {
    GroupGrid g;
    g.scale = static_cast<float>((hi - lo) / qmax);
    g.zero_point = static_cast<int32_t>(std::clamp<double>(std::nearbyint(-lo / g.scale), 0, qmax));
    return g;
}

// For fixed codes c the best affine fit x ≈ a·c + b gives scale a and zero point −b/a (rounded,
// so 0 stays on the grid); the scale is then refit for that zero point. Alternates with
// re-rounding while the error falls.
GroupGrid refine_asymmetric(const float* x, int64_t n, int64_t stride, const QuantScheme& s, GroupGrid best) {
    double best_err = group_error(x, n, stride, best, s);
    for (int step = 0; step < kRefineSteps; ++step) {
        double sc = 0, scc = 0, sx = 0, sxc = 0;
        for (int64_t i = 0; i < n; ++i) {
            const double v = x[i * stride];
            const double c = quantize_value(x[i * stride], best, s);
            sc += c;
            scc += c * c;
            sx += v;
            sxc += v * c;
        }
        const double det = static_cast<double>(n) * scc - sc * sc;
        if (!(det > 0)) break;
        const double a = (n * sxc - sc * sx) / det;
        const double b = (sx - a * sc) / static_cast<double>(n);
        if (!(a > 0)) break;
        GroupGrid g;
        g.zero_point = static_cast<int32_t>(std::clamp<double>(std::nearbyint(-b / a), 0, s.code_max()));
        double xq = 0, qq = 0;
        for (int64_t i = 0; i < n; ++i) {
            const double q = quantize_value(x[i * stride], best, s) - g.zero_point;
            xq += x[i * stride] * q;
            qq += q * q;
        }
        if (!(qq > 0) || !(xq > 0)) break;
        g.scale = static_cast<float>(xq / qq);
        const double err = group_error(x, n, stride, g, s);
        if (err >= best_err) break;
        best_err = err;
        best = g;
    }
    return best;
}

GroupGrid asymmetric_best_grid(const float* x, int64_t n, int64_t stride, const QuantScheme& s) {
    float lo = 0.0f, hi = 0.0f;
    for (int64_t i = 0; i < n; ++i) {
        lo = std::min(lo, x[i * stride]);
        hi = std::max(hi, x[i * stride]);
    }
    if (!(hi > lo) || !std::isfinite(hi - lo)) return GroupGrid{};
    const int32_t qmax = s.code_max();
    GroupGrid best = asymmetric_grid(lo, hi, qmax);
    double best_err = group_error(x, n, stride, best, s);
    for (int c = 0; c < kClipCandidates; ++c) {
        const double ratio = std::pow(kMinClip, 1.0 - static_cast<double>(c) / kClipCandidates);
        const GroupGrid g = asymmetric_grid(ratio * lo, ratio * hi, qmax);
        const double err = group_error(x, n, stride, g, s);
        if (err < best_err) {
            best_err = err;
            best = g;
        }
    }
    return refine_asymmetric(x, n, stride, s, best);
}

}  // namespace

const char* granularity_name(Granularity g) {
    switch (g) {
        case Granularity::Channel: return "channel";
        case Granularity::Tensor: return "tensor";
        case Granularity::Block: return "block";
    }
    return "?";
}

void check_scheme(const QuantScheme& s, const char* who) {
    if (s.bits < 2 || s.bits > 16)
        throw Error(std::string(who) + ": bits must be in 2..16, got " + std::to_string(s.bits));
    if (s.granularity == Granularity::Block && s.block_size <= 0)
        throw Error(std::string(who) + ": block granularity needs block_size > 0, got " + std::to_string(s.block_size));
}

int64_t group_count(const QuantScheme& s, int64_t rows, int64_t cols) {
    switch (s.granularity) {
        case Granularity::Tensor: return 1;
        case Granularity::Channel: return rows;
        case Granularity::Block: return rows * ((cols + s.block_size - 1) / s.block_size);
    }
    return 0;
}

int64_t group_of(const QuantScheme& s, int64_t cols, int64_t row, int64_t col) {
    switch (s.granularity) {
        case Granularity::Tensor: return 0;
        case Granularity::Channel: return row;
        case Granularity::Block: return row * ((cols + s.block_size - 1) / s.block_size) + col / s.block_size;
    }
    return 0;
}

int32_t quantize_value(float x, GroupGrid g, const QuantScheme& s) {
    if (s.symmetric) return grid_code(x, g.scale, GridRange{s.bits});
    float q = __builtin_nearbyintf(x / g.scale) + static_cast<float>(g.zero_point);
    q = std::clamp(q, 0.0f, static_cast<float>(s.code_max()));
    return static_cast<int32_t>(q);
}

GroupGrid rtn_group_grid(const float* x, int64_t n, int64_t stride, const QuantScheme& s) {
    if (s.symmetric) return GroupGrid{grid_best_scale(x, n, stride, GridRange{s.bits}), 0};
    return asymmetric_best_grid(x, n, stride, s);
}

std::vector<GroupGrid> rtn_grids(const float* w, int64_t rows, int64_t cols, const QuantScheme& s) {
    check_scheme(s, "rtn_grids");
    std::vector<GroupGrid> grids(static_cast<size_t>(group_count(s, rows, cols)));
    switch (s.granularity) {
        case Granularity::Tensor:
            grids[0] = rtn_group_grid(w, rows * cols, 1, s);
            break;
        case Granularity::Channel:
            for (int64_t r = 0; r < rows; ++r) grids[r] = rtn_group_grid(w + r * cols, cols, 1, s);
            break;
        case Granularity::Block: {
            const int64_t blocks = (cols + s.block_size - 1) / s.block_size;
            for (int64_t r = 0; r < rows; ++r)
                for (int64_t b = 0; b < blocks; ++b) {
                    const int64_t c0 = b * s.block_size, n = std::min(cols, c0 + s.block_size) - c0;
                    grids[r * blocks + b] = rtn_group_grid(w + r * cols + c0, n, 1, s);
                }
            break;
        }
    }
    return grids;
}

GroupGrid QuantizedMatrix::grid(int64_t row, int64_t col) const {
    const size_t g = static_cast<size_t>(group_of(scheme, cols, row, col));
    return GroupGrid{scales[g], zero_points[g]};
}

std::vector<float> QuantizedMatrix::dequantized() const {
    std::vector<float> out(codes.size());
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c) out[r * cols + c] = dequantize_value(codes[r * cols + c], grid(r, c));
    return out;
}

int64_t QuantizedMatrix::storage_bits() const {
    const int64_t groups = static_cast<int64_t>(scales.size());
    return rows * cols * scheme.bits + 32 * groups + (scheme.symmetric ? 0 : scheme.bits * groups);
}

QuantizedMatrix rtn_quantize(const float* w, int64_t rows, int64_t cols, const QuantScheme& s) {
    check_scheme(s, "rtn_quantize");
    for (int64_t i = 0; i < rows * cols; ++i)
        if (!std::isfinite(w[i])) throw Error("rtn_quantize: weight element " + std::to_string(i) + " is not finite");
    QuantizedMatrix q;
    q.rows = rows;
    q.cols = cols;
    q.scheme = s;
    const std::vector<GroupGrid> grids = rtn_grids(w, rows, cols, s);
    for (const GroupGrid& g : grids) {
        q.scales.push_back(g.scale);
        q.zero_points.push_back(g.zero_point);
    }
    q.codes.resize(static_cast<size_t>(rows * cols));
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c)
            q.codes[r * cols + c] = quantize_value(w[r * cols + c], grids[group_of(s, cols, r, c)], s);
    return q;
}

}  // namespace qcp::quant
