#include "qcp/pipeline/plot.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>

#include "qcp/core/error.hpp"
#include "qcp/pipeline/table.hpp"

namespace qcp::plot {

namespace {

// Relative slack when comparing computed tick values with bounds (log10/pow round-off).
constexpr double kTickSlack = 1e-9;
// Log axes over more decades than this label only the 10^k ticks.
constexpr double kMaxDecadesAllLabelled = 2.5;
// Log axes with fewer 1-2-5 ticks than this in range use every m·10^k instead.
constexpr size_t kMinLogTicks = 3;
// Linear axes aim at about this many intervals.
constexpr int kLinearTickTarget = 6;
// Padding around the data, so no marker sits on the frame: factor (log) or fraction of range (linear).
constexpr double kLogPadFactor = 1.08;
constexpr double kLinearPadFraction = 0.04;

double pow10i(int e) { return std::pow(10.0, e); }

}  // namespace

double log_floor_nice(double v) {
    if (!(v > 0) || !std::isfinite(v)) throw Error("log axis: value must be positive and finite");
    const int e = static_cast<int>(std::floor(std::log10(v)));
    const double p = pow10i(e), m = v / p;
    double best = 1;
    for (double c : {1.0, 2.0, 5.0, 10.0})
        if (c <= m * (1 + kTickSlack)) best = c;
    return best * p;
}

double log_ceil_nice(double v) {
    if (!(v > 0) || !std::isfinite(v)) throw Error("log axis: value must be positive and finite");
    const int e = static_cast<int>(std::floor(std::log10(v)));
    const double p = pow10i(e), m = v / p;
    for (double c : {1.0, 2.0, 5.0, 10.0})
        if (c >= m * (1 - kTickSlack)) return c * p;
    return 10 * p;
}

std::vector<double> log_ticks(double lo, double hi) {
    if (!(lo > 0) || !(hi >= lo)) throw Error("log axis: need 0 < lo <= hi");
    std::vector<double> ticks;
    const int e0 = static_cast<int>(std::floor(std::log10(lo))) - 1, e1 = static_cast<int>(std::floor(std::log10(hi))) + 1;
    for (int e = e0; e <= e1; ++e)
        for (double m : {1.0, 2.0, 5.0}) {
            const double t = m * pow10i(e);
            if (t >= lo * (1 - kTickSlack) && t <= hi * (1 + kTickSlack)) ticks.push_back(t);
        }
    return ticks;
}

double nice_step(double range, int target) {
    if (!(range > 0) || target < 1) throw Error("linear axis: need a positive range");
    const double raw = range / target;
    const double p = pow10i(static_cast<int>(std::floor(std::log10(raw))));
    const double m = raw / p;
    return (m < 1.5 ? 1 : m < 3 ? 2 : m < 7 ? 5 : 10) * p;
}

std::vector<double> linear_ticks(double lo, double hi, double step) {
    std::vector<double> ticks;
    const auto k0 = static_cast<long long>(std::ceil(lo / step - kTickSlack));
    const auto k1 = static_cast<long long>(std::floor(hi / step + kTickSlack));
    for (long long k = k0; k <= k1; ++k) ticks.push_back(static_cast<double>(k) * step);
    return ticks;
}

double AxisMap::operator()(double v) const {
    const double t = scale == Scale::Log ? (std::log10(v) - std::log10(lo)) / (std::log10(hi) - std::log10(lo))
                                         : (v - lo) / (hi - lo);
    return px_lo + t * (px_hi - px_lo);
}

AxisRange axis_range(double lo, double hi, Scale scale) {
    AxisRange r;
    if (scale == Scale::Log) {
        if (!(lo > 0)) throw Error("log axis: values must be positive");
        r.lo = lo / kLogPadFactor;
        r.hi = hi * kLogPadFactor;
        r.ticks = log_ticks(r.lo, r.hi);
        if (r.ticks.size() < kMinLogTicks) {  // less than a decade: every m·10^k, m = 1..9
            r.ticks.clear();
            for (int e = static_cast<int>(std::floor(std::log10(r.lo))); e <= static_cast<int>(std::floor(std::log10(r.hi))); ++e)
                for (int m = 1; m <= 9; ++m) {
                    const double t = m * pow10i(e);
                    if (t >= r.lo && t <= r.hi) r.ticks.push_back(t);
                }
        }
        const bool all = std::log10(r.hi / r.lo) <= kMaxDecadesAllLabelled;
        for (double t : r.ticks) {
            const double m = t / pow10i(static_cast<int>(std::floor(std::log10(t) + kTickSlack)));
            r.labelled.push_back(all || std::abs(m - 1) < 1e-6);
        }
        return r;
    }
    if (hi - lo < 1e-12 * std::max(1.0, std::abs(hi))) {
        const double half = std::max(1e-3, std::abs(lo) * 0.05);
        lo -= half, hi += half;
    }
    const double pad = kLinearPadFraction * (hi - lo);
    const double step = nice_step(hi - lo + 2 * pad, kLinearTickTarget);
    r.lo = std::floor((lo - pad) / step) * step;
    r.hi = std::ceil((hi + pad) / step) * step;
    r.ticks = linear_ticks(r.lo, r.hi, step);
    r.labelled.assign(r.ticks.size(), true);
    return r;
}

namespace {

// "%g"-like with at most `digits` significant digits and no trailing zeros.
std::string short_number(double v, int digits = 3) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*g", digits, v);
    return buf;
}

std::string si(double v, const char* space, const char* unit) {
    static const struct { double f; const char* p; } prefixes[] = {{1e12, "T"}, {1e9, "G"}, {1e6, "M"}, {1e3, "k"}};
    for (const auto& p : prefixes)
        if (std::abs(v) >= p.f * (1 - kTickSlack)) return short_number(v / p.f) + space + p.p + unit;
    return short_number(v) + (*unit ? space : "") + unit;
}

}  // namespace

std::string format_tick(double v, TickFormat format) {
    if (std::abs(v) < 1e-12) v = 0;  // no "-0"
    switch (format) {
        case TickFormat::Count: return si(v, "", "");
        case TickFormat::Bytes: return si(v, " ", "B");
        case TickFormat::Percent: return short_number(v, 4) + "%";
        case TickFormat::Number: break;
    }
    return short_number(v, 4);
}

std::vector<size_t> pareto_front(const std::vector<XY>& points) {
    std::vector<size_t> order;
    for (size_t i = 0; i < points.size(); ++i)
        if (std::isfinite(points[i].x) && std::isfinite(points[i].y)) order.push_back(i);
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
        if (points[a].x != points[b].x) return points[a].x < points[b].x;
        if (points[a].y != points[b].y) return points[a].y > points[b].y;
        return a < b;
    });
    // Walk groups of equal x: within a group only its best y can survive, and it survives when
    // every point of strictly smaller x has a strictly smaller y.
    std::vector<size_t> front;
    double best_before = -INFINITY;
    for (size_t g = 0; g < order.size();) {
        size_t end = g;
        while (end < order.size() && points[order[end]].x == points[order[g]].x) ++end;
        const double group_best = points[order[g]].y;
        if (group_best > best_before)
            for (size_t k = g; k < end && points[order[k]].y == group_best; ++k) front.push_back(order[k]);
        best_before = std::max(best_before, group_best);
        g = end;
    }
    return front;
}

std::string xml_escape(const std::string& text) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&apos;"; break;
            default: out += c;
        }
    }
    return out;
}

}  // namespace qcp::plot
