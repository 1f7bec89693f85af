#include "qcp/core/grid.hpp"

#include <algorithm>
#include <cmath>

namespace qcp {

double grid_error(const float* x, int64_t n, int64_t stride, float s, GridRange range) {
    double err = 0;
    for (int64_t i = 0; i < n; ++i) {
        const float v = x[i * stride];
        const double d = static_cast<double>(v) - static_cast<double>(s) * grid_code(v, s, range);
        err += d * d;
    }
    return err;
}

namespace {

constexpr int kClipCandidates = 40;   // clip ratios tried, log-spaced from kMinClip to 1 of max|x|
constexpr double kMinClip = 0.01;     // outliers can make the best clip far below max|x| at 2 bits
constexpr int kRefineSteps = 4;       // least-squares scale refinements for fixed codes

}  // namespace

float grid_best_scale(const float* x, int64_t n, int64_t stride, GridRange range) {
    float amax = 0.0f;
    for (int64_t i = 0; i < n; ++i) amax = std::max(amax, std::fabs(x[i * stride]));
    if (!(amax > 0.0f) || !std::isfinite(amax)) return 1.0f;
    const double qmax = range.qmax();
    float best_s = static_cast<float>(amax / qmax);
    double best_err = grid_error(x, n, stride, best_s, range);
    for (int c = 0; c < kClipCandidates; ++c) {
        const double ratio = std::pow(kMinClip, 1.0 - static_cast<double>(c) / kClipCandidates);
        const float s = static_cast<float>(amax * ratio / qmax);
        const double err = grid_error(x, n, stride, s, range);
        if (err < best_err) {
            best_err = err;
            best_s = s;
        }
    }
    return grid_refine_scale(x, n, stride, range, best_s);
}

float grid_refine_scale(const float* x, int64_t n, int64_t stride, GridRange range, float start) {
    float best_s = start > 0 && std::isfinite(start) ? start : 1.0f;
    double best_err = grid_error(x, n, stride, best_s, range);
    // For fixed codes q the optimal scale is <x, q> / <q, q>; alternate with re-rounding.
    for (int step = 0; step < kRefineSteps; ++step) {
        double xq = 0, qq = 0;
        for (int64_t i = 0; i < n; ++i) {
            const float v = x[i * stride];
            const double q = grid_code(v, best_s, range);
            xq += v * q;
            qq += q * q;
        }
        if (qq <= 0) break;
        const float s = static_cast<float>(xq / qq);
        if (!(s > 0)) break;
        const double err = grid_error(x, n, stride, s, range);
        if (err >= best_err) break;
        best_err = err;
        best_s = s;
    }
    return best_s;
}

}  // namespace qcp
