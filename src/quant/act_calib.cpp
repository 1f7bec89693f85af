#include "qcp/quant/act_calib.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "qcp/core/error.hpp"

namespace qcp::quant {

namespace {

constexpr int64_t H = kActHalfBins;
constexpr std::array<const char*, kActCalibCount> kActCalibNames = {"minmax", "percentile", "mse", "entropy"};
// t steps of the mse search: ranges t·[min, max], t = k / kMseSteps
constexpr int kMseSteps = 100;
// count moved onto each empty bin before the KL divergence (ORT's smooth_distribution eps)
constexpr double kKlSmoothing = 1e-4;

ActRange with_zero(ActRange r) { return {std::min(r.lo, 0.0), std::max(r.hi, 0.0)}; }

ActRange percentile_range(const ActHistogram& h, double p) {
    const double n = double(h.count());
    const double want_hi = n * p / 100.0, want_lo = n * (100.0 - p) / 100.0;
    double cum = 0;
    ActRange r{h.min(), h.max()};
    bool lo_found = false;
    for (int64_t k = -H; k < H; ++k) {
        cum += double(h.bin(k));
        if (!lo_found && cum > want_lo) {
            r.lo = std::max(h.lower_edge(k), h.min());
            lo_found = true;
        }
        if (cum >= want_hi) {
            r.hi = std::min(h.upper_edge(k), h.max());
            break;
        }
    }
    return r;
}

ActRange mse_range(const ActHistogram& h) {
    const ActRange full = with_zero({h.min(), h.max()});
    ActRange best = full;
    double best_err = std::numeric_limits<double>::infinity();
    for (int step = kMseSteps; step >= 1; --step) {  // from the full range down: ties keep the wider one
        const double t = double(step) / kMseSteps;
        const double lo = t * full.lo, hi = t * full.hi;
        const double s = (hi - lo) / 255.0;
        double err = 0;
        for (int64_t k = -H; k < H; ++k) {
            const int64_t c = h.bin(k);
            if (c == 0) continue;
            const double v = std::clamp(0.5 * (h.lower_edge(k) + h.upper_edge(k)), h.min(), h.max());
            const double d = v < lo ? lo - v : v > hi ? v - hi : 0.0;
            err += double(c) * (d > 0 ? d * d : s * s / 12.0);
        }
        if (err < best_err) best_err = err, best = {lo, hi};
    }
    return best;
}

// Moves kKlSmoothing of mass onto every empty bin, taken evenly from the others (as ORT's and
// TVM's calibrators do), so KL stays finite where P has mass that Q lacks.
void smooth(std::vector<double>& d) {
    const double zeros = double(std::count(d.begin(), d.end(), 0.0)), nonzeros = double(d.size()) - zeros;
    if (nonzeros == 0) return;
    const double take = kKlSmoothing * zeros / nonzeros;
    for (double& x : d) x = x == 0 ? kKlSmoothing : x - take;
}

double kl_divergence(const std::vector<double>& p, const std::vector<double>& q) {
    double ps = 0, qs = 0, kl = 0;
    for (size_t j = 0; j < p.size(); ++j) ps += p[j], qs += q[j];
    for (size_t j = 0; j < p.size(); ++j)
        if (p[j] > 0 && q[j] > 0) kl += p[j] / ps * std::log((p[j] / ps) / (q[j] / qs));
    return kl;
}

ActRange entropy_range(const ActHistogram& h) {
    std::vector<double> a(static_cast<size_t>(H));
    for (int64_t j = 0; j < H; ++j) a[static_cast<size_t>(j)] = double(h.bin(j) + h.bin(-j - 1));
    const bool one_signed = h.min() >= 0 || h.max() <= 0;
    const size_t i = kl_threshold_bins(a, one_signed ? 256 : 128);
    const double t = double(i) * h.width();
    return {std::max(h.min(), -t), std::min(h.max(), t)};
}

}  // namespace

void ActHistogram::grow_to(double max_abs) {
    if (width_ == 0) {
        width_ = std::ldexp(1.0, std::ilogb(max_abs / double(H)) + 1);
        while (double(H) * width_ <= max_abs) width_ *= 2;
        return;
    }
    while (double(H) * width_ <= max_abs) {
        std::vector<int64_t> merged(bins_.size(), 0);
        for (int64_t k = -H; k < H; ++k) {
            const int64_t half = k >= 0 ? k / 2 : -((-k + 1) / 2);  // floor(k / 2)
            merged[static_cast<size_t>(half + H)] += bins_[static_cast<size_t>(k + H)];
        }
        bins_ = std::move(merged);
        width_ *= 2;
    }
}

void ActHistogram::add(const float* x, int64_t n) {
    double lo = std::numeric_limits<double>::infinity(), hi = -lo;
    for (int64_t i = 0; i < n; ++i)
        if (std::isfinite(x[i])) lo = std::min(lo, double(x[i])), hi = std::max(hi, double(x[i]));
    if (lo > hi) return;  // nothing finite
    const double max_abs = std::max(std::fabs(lo), std::fabs(hi));
    if (max_abs > 0) grow_to(max_abs);
    min_ = count_ ? std::min(min_, lo) : lo;
    max_ = count_ ? std::max(max_, hi) : hi;
    for (int64_t i = 0; i < n; ++i) {
        if (!std::isfinite(x[i])) continue;
        ++count_;
        // before any nonzero value every value is 0: bin 0, whatever width comes later
        const int64_t k = width_ > 0 ? static_cast<int64_t>(std::floor(double(x[i]) / width_)) : 0;
        ++bins_[static_cast<size_t>(std::clamp<int64_t>(k, -H, H - 1) + H)];
    }
}

size_t kl_threshold_bins(const std::vector<double>& abs_bins, size_t levels) {
    size_t used = 0;
    for (size_t j = 0; j < abs_bins.size(); ++j)
        if (abs_bins[j] > 0) used = j + 1;
    if (used <= levels) return used;
    double best_kl = std::numeric_limits<double>::infinity();
    size_t best = used;
    std::vector<double> p, q;
    for (size_t i = levels; i <= used; ++i) {
        p.assign(abs_bins.begin(), abs_bins.begin() + static_cast<std::ptrdiff_t>(i));
        for (size_t j = i; j < used; ++j) p[i - 1] += abs_bins[j];
        q.assign(i, 0.0);
        const size_t merged = i / levels;
        for (size_t g = 0; g < levels; ++g) {
            const size_t begin = g * merged, end = g + 1 == levels ? i : begin + merged;
            double total = 0, nonzero = 0;
            for (size_t j = begin; j < end; ++j) total += abs_bins[j], nonzero += p[j] > 0 ? 1 : 0;
            for (size_t j = begin; j < end; ++j)
                if (p[j] > 0) q[j] = total / nonzero;
        }
        smooth(p);
        smooth(q);
        const double kl = kl_divergence(p, q);
        if (kl < best_kl) best_kl = kl, best = i;
    }
    return best;
}

const char* act_calib_name(ActCalib c) { return kActCalibNames[static_cast<size_t>(c)]; }

ActCalib parse_act_calib(const std::string& name) {
    for (size_t i = 0; i < kActCalibNames.size(); ++i)
        if (name == kActCalibNames[i]) return static_cast<ActCalib>(i);
    throw Error("--act-calib must be minmax, percentile, mse or entropy, got '" + name + "'");
}

ActRange act_range(const ActHistogram& h, ActCalib calib, double percentile) {
    if (h.count() == 0) return {0, 0};
    switch (calib) {
        case ActCalib::MinMax: return with_zero({h.min(), h.max()});
        case ActCalib::Percentile: return with_zero(percentile_range(h, percentile));
        case ActCalib::Mse: return with_zero(mse_range(h));
        case ActCalib::Entropy: return with_zero(entropy_range(h));
    }
    return {0, 0};
}

ActParams act_params(ActRange r) {
    ActParams p;
    const float scale = static_cast<float>((r.hi - r.lo) / 255.0);
    p.scale = scale > 0 && std::isfinite(scale) ? scale : 1.0f;
    p.zero_point = std::clamp(static_cast<int32_t>(std::nearbyint(-r.lo / double(p.scale))), 0, 255);
    return p;
}

}  // namespace qcp::quant
