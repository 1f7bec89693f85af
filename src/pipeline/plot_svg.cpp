// render_svg: the chart's layout and drawing (axes and ticks are computed in plot.cpp).
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "qcp/core/error.hpp"
#include "qcp/pipeline/plot.hpp"

namespace qcp::plot {

namespace {

// Page layout in pixels (see the header).
constexpr double kPlotLeft = 84, kPlotTop = 64, kPlotBottom = 72, kLegendWidth = 250;
constexpr double kMarkerRadius = 5.5;
constexpr double kTickFont = 11, kLabelFont = 10, kAxisFont = 13, kLegendFont = 12;
// Width of a character as a fraction of the font size: a generous estimate for DejaVu Sans /
// Helvetica, so estimated label boxes contain the real ones.
constexpr double kCharWidth = 0.62;
// Okabe–Ito colours (distinguishable with colour-vision deficiencies), then black.
constexpr const char* kColours[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"};
constexpr int kShapes = 7;  // circle, square, triangle up, diamond, triangle down, pentagon, cross

struct Box {
    double x0, y0, x1, y1;
    bool overlaps(const Box& o) const { return x0 < o.x1 && o.x0 < x1 && y0 < o.y1 && o.y0 < y1; }
    bool inside(const Box& o) const { return x0 >= o.x0 && x1 <= o.x1 && y0 >= o.y0 && y1 <= o.y1; }
};

std::string num(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f", v);
    return buf;
}

double text_width(const std::string& s, double font) { return kCharWidth * font * static_cast<double>(s.size()); }

std::string text(double x, double y, const std::string& s, double font, const std::string& attrs = "") {
    return "<text x=\"" + num(x) + "\" y=\"" + num(y) + "\" font-size=\"" + num(font) + "\"" +
           (attrs.empty() ? "" : " " + attrs) + ">" + xml_escape(s) + "</text>\n";
}

std::string polygon_points(double cx, double cy, double r, int sides, double rotation_deg) {
    std::string pts;
    for (int k = 0; k < sides; ++k) {
        const double a = (rotation_deg + 360.0 * k / sides) * M_PI / 180.0;
        pts += (k ? " " : "") + num(cx + r * std::sin(a)) + "," + num(cy - r * std::cos(a));
    }
    return pts;
}

// One marker element of shape `shape`, centred at (cx, cy); `cls` and `title` become its class and <title>.
std::string marker(int shape, double cx, double cy, const char* colour, const std::string& cls, const std::string& title,
                   bool hollow = false) {
    const double r = kMarkerRadius;
    std::string head;
    switch (shape % kShapes) {
        case 0: head = "<circle cx=\"" + num(cx) + "\" cy=\"" + num(cy) + "\" r=\"" + num(r * 0.9) + "\""; break;
        case 1: head = "<rect x=\"" + num(cx - r * 0.8) + "\" y=\"" + num(cy - r * 0.8) + "\" width=\"" + num(1.6 * r) +
                       "\" height=\"" + num(1.6 * r) + "\""; break;
        case 2: head = "<polygon points=\"" + polygon_points(cx, cy + 1, r * 1.15, 3, 0) + "\""; break;
        case 3: head = "<polygon points=\"" + polygon_points(cx, cy, r * 1.1, 4, 0) + "\""; break;
        case 4: head = "<polygon points=\"" + polygon_points(cx, cy - 1, r * 1.15, 3, 180) + "\""; break;
        case 5: head = "<polygon points=\"" + polygon_points(cx, cy, r, 5, 0) + "\""; break;
        default: {
            const double a = r * 0.95, b = r * 0.35;  // an "x" made of one polygon
            std::string pts;
            const double xy[12][2] = {{-a, -a + b}, {-a + b, -a}, {0, -b}, {a - b, -a}, {a, -a + b}, {b, 0},
                                      {a, a - b},   {a - b, a},   {0, b},  {-a + b, a}, {-a, a - b}, {-b, 0}};
            for (int k = 0; k < 12; ++k) pts += (k ? " " : "") + num(cx + xy[k][0]) + "," + num(cy + xy[k][1]);
            head = "<polygon points=\"" + pts + "\"";
        }
    }
    head += " class=\"" + cls + "\" fill=\"" + (hollow ? "white" : colour) + "\" fill-opacity=\"0.85\" stroke=\"" + colour +
            "\" stroke-width=\"" + (hollow ? "1.5" : "1") + "\"";
    return title.empty() ? head + "/>\n" : head + "><title>" + xml_escape(title) + "</title></" +
                                               head.substr(1, head.find(' ') - 1) + ">\n";
}

// Places a text box of size (w, h) near (cx, cy) at the first candidate position that stays in
// `area` and overlaps nothing in `taken`; returns the text anchor point and anchor name.
struct Placement {
    bool ok = false;
    double x = 0, y = 0;
    const char* anchor = "start";
    Box box{};
};
Placement place_label(double cx, double cy, double w, double h, const Box& area, const std::vector<Box>& taken) {
    const double gap = kMarkerRadius + 3;
    struct Candidate {
        double bx, by;  // box top-left relative to (cx, cy)
        const char* anchor;
    };
    const Candidate cands[] = {
        {gap, -h / 2, "start"},          {-gap - w, -h / 2, "start"},     {-w / 2, -gap - h, "start"},
        {-w / 2, gap, "start"},          {gap * 0.7, -gap * 0.7 - h, "start"}, {gap * 0.7, gap * 0.7, "start"},
        {-gap * 0.7 - w, -gap * 0.7 - h, "start"}, {-gap * 0.7 - w, gap * 0.7, "start"},
    };
    for (const auto& c : cands) {
        const Box b{cx + c.bx, cy + c.by, cx + c.bx + w, cy + c.by + h};
        if (!b.inside(area)) continue;
        if (std::any_of(taken.begin(), taken.end(), [&](const Box& t) { return t.overlaps(b); })) continue;
        // baseline sits ~20% of the font size above the box bottom
        return {true, b.x0, b.y1 - 0.2 * h, c.anchor, b};
    }
    return {};
}

}  // namespace

std::string render_svg(const Chart& c) {
    const double W = c.width, H = c.height;
    const double L = kPlotLeft, T = kPlotTop, R = W - kLegendWidth, B = H - kPlotBottom;
    if (R - L < 100 || B - T < 100) throw Error("chart: " + std::to_string(c.width) + "x" + std::to_string(c.height) + " is too small");

    // ---- domains ----------------------------------------------------------------------
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    std::vector<XY> all;
    bool clipped = false;
    for (const auto& s : c.series)
        for (const auto& p : s.points) {
            if (!std::isfinite(p.x) || !std::isfinite(p.y)) continue;
            if (c.x.scale == Scale::Log && p.x <= 0)
                throw Error("chart '" + c.title + "': " + c.x.label + " is on a log axis and must be positive, got " + std::to_string(p.x));
            xlo = std::min(xlo, p.x), xhi = std::max(xhi, p.x);
            yhi = std::max(yhi, p.y);
            if (c.y_floor && p.y < *c.y_floor) clipped = true;
            else ylo = std::min(ylo, p.y);
            all.push_back({p.x, p.y});
        }
    if (all.empty()) xlo = 1, xhi = 10, ylo = 0, yhi = 100;
    if (clipped && !std::isfinite(ylo)) ylo = std::min(*c.y_floor, yhi);  // every point under the floor
    if (c.reference_y) ylo = std::min(ylo, *c.reference_y), yhi = std::max(yhi, *c.reference_y);
    const AxisRange xr = axis_range(xlo, xhi, c.x.scale), yr = axis_range(ylo, yhi, c.y.scale);
    const AxisMap mx{xr.lo, xr.hi, L, R, c.x.scale}, my_axis{yr.lo, yr.hi, B, T, c.y.scale};
    // points under the floor sit on the bottom edge
    auto my = [&](double y) { return c.y_floor && y < *c.y_floor ? B - kMarkerRadius - 2 : my_axis(y); };

    std::string svg = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    svg += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + num(W) + "\" height=\"" + num(H) + "\" viewBox=\"0 0 " +
           num(W) + " " + num(H) + "\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n";
    svg += "<rect x=\"0\" y=\"0\" width=\"" + num(W) + "\" height=\"" + num(H) + "\" fill=\"white\"/>\n";
    svg += text(L, 28, c.title, 17, "font-weight=\"bold\"");
    if (!c.subtitle.empty()) svg += text(L, 48, c.subtitle, 12, "fill=\"#555555\"");

    // ---- grid, ticks, frame, axis labels ------------------------------------------------
    svg += "<g class=\"grid\" stroke=\"#e3e3e3\" stroke-width=\"1\">\n";
    for (size_t i = 0; i < xr.ticks.size(); ++i) {
        const double x = mx(xr.ticks[i]);
        svg += "<line x1=\"" + num(x) + "\" y1=\"" + num(T) + "\" x2=\"" + num(x) + "\" y2=\"" + num(B) + "\"" +
               (xr.labelled[i] ? "" : " stroke-dasharray=\"2 3\"") + "/>\n";
    }
    for (double t : yr.ticks)
        svg += "<line x1=\"" + num(L) + "\" y1=\"" + num(my_axis(t)) + "\" x2=\"" + num(R) + "\" y2=\"" + num(my_axis(t)) + "\"/>\n";
    svg += "</g>\n<g class=\"ticks\" fill=\"#333333\">\n";
    double last_right = -INFINITY;  // drop x labels that would touch the previous one
    for (size_t i = 0; i < xr.ticks.size(); ++i) {
        if (!xr.labelled[i]) continue;
        const std::string s = format_tick(xr.ticks[i], c.x.format);
        const double x = mx(xr.ticks[i]), w = text_width(s, kTickFont);
        if (x - w / 2 < last_right + 6) continue;
        svg += text(x, B + 18, s, kTickFont, "text-anchor=\"middle\"");
        last_right = x + w / 2;
    }
    for (double t : yr.ticks) svg += text(L - 8, my_axis(t) + 4, format_tick(t, c.y.format), kTickFont, "text-anchor=\"end\"");
    svg += "</g>\n";
    svg += "<rect class=\"frame\" x=\"" + num(L) + "\" y=\"" + num(T) + "\" width=\"" + num(R - L) + "\" height=\"" + num(B - T) +
           "\" fill=\"none\" stroke=\"#333333\" stroke-width=\"1\"/>\n";
    svg += text((L + R) / 2, H - 24, c.x.label, kAxisFont, "text-anchor=\"middle\"");
    svg += "<text x=\"0\" y=\"0\" font-size=\"" + num(kAxisFont) + "\" text-anchor=\"middle\" transform=\"translate(24 " +
           num((T + B) / 2) + ") rotate(-90)\">" + xml_escape(c.y.label) + "</text>\n";

    // ---- obstacles for labels: every marker ---------------------------------------------
    const Box area{L + 2, T + 2, R - 2, B - 2};
    std::vector<Box> taken;
    for (const auto& p : all) {
        const double x = mx(p.x), y = my(p.y);
        taken.push_back({x - kMarkerRadius, y - kMarkerRadius, x + kMarkerRadius, y + kMarkerRadius});
    }

    // ---- the front (computed here: its lines are obstacles for labels too) ------------------
    std::vector<std::pair<size_t, size_t>> index;  // (series, point) for every entry of `all`
    for (size_t s = 0; s < c.series.size(); ++s)
        for (size_t k = 0; k < c.series[s].points.size(); ++k)
            if (std::isfinite(c.series[s].points[k].x) && std::isfinite(c.series[s].points[k].y)) index.emplace_back(s, k);
    const std::vector<size_t> front = c.pareto_front ? pareto_front(all) : std::vector<size_t>{};
    auto add_segment = [&](double x0, double y0, double x1, double y1) {
        taken.push_back({std::min(x0, x1) - 1, std::min(y0, y1) - 1, std::max(x0, x1) + 1, std::max(y0, y1) + 1});
    };
    for (size_t i = 1; i < front.size(); ++i) {
        add_segment(mx(all[front[i - 1]].x), my(all[front[i - 1]].y), mx(all[front[i]].x), my(all[front[i - 1]].y));
        add_segment(mx(all[front[i]].x), my(all[front[i - 1]].y), mx(all[front[i]].x), my(all[front[i]].y));
    }
    if (!front.empty()) add_segment(mx(all[front.back()].x), my(all[front.back()].y), R, my(all[front.back()].y));
    if (c.reference_y) add_segment(L, my_axis(*c.reference_y), R, my_axis(*c.reference_y));

    // ---- reference line and its label (left end first: small models rarely reach fp32) ----
    if (c.reference_y) {
        const double y = my_axis(*c.reference_y);
        svg += "<line class=\"reference\" x1=\"" + num(L) + "\" y1=\"" + num(y) + "\" x2=\"" + num(R) + "\" y2=\"" + num(y) +
               "\" stroke=\"#555555\" stroke-width=\"1.2\" stroke-dasharray=\"6 4\"/>\n";
        const double w = text_width(c.reference_label, kLabelFont), h = kLabelFont + 2;
        auto try_at = [&](double bx, double by) {
            const Box b{bx, by, bx + w, by + h};
            if (!b.inside(area) || std::any_of(taken.begin(), taken.end(), [&](const Box& t) { return t.overlaps(b); })) return false;
            svg += text(bx, b.y1 - 0.2 * h, c.reference_label, kLabelFont, "fill=\"#555555\"");
            taken.push_back(b);
            return true;
        };
        bool placed = false;
        for (const double bx : {L + 6, R - 6 - w, (L + R - w) / 2})
            for (const double by : {y - 3 - h, y + 3}) placed = placed || try_at(bx, by);
    }

    // ---- Pareto front as a step line (attainable top-1 for a given size) ----------------
    if (!front.empty()) {
        std::string pts = num(mx(all[front[0]].x)) + "," + num(my(all[front[0]].y));
        for (size_t i = 1; i < front.size(); ++i)
            pts += " " + num(mx(all[front[i]].x)) + "," + num(my(all[front[i - 1]].y)) + " " + num(mx(all[front[i]].x)) + "," +
                   num(my(all[front[i]].y));
        pts += " " + num(R) + "," + num(my(all[front.back()].y));
        svg += "<polyline class=\"pareto\" points=\"" + pts + "\" fill=\"none\" stroke=\"#222222\" stroke-opacity=\"0.55\" stroke-width=\"1.5\"/>\n";
    }

    // ---- markers --------------------------------------------------------------------------
    for (size_t s = 0; s < c.series.size(); ++s) {
        const char* colour = kColours[s % (sizeof kColours / sizeof *kColours)];
        svg += "<g class=\"series\" id=\"series-" + std::to_string(s) + "\">\n";
        for (const auto& p : c.series[s].points) {
            if (!std::isfinite(p.x) || !std::isfinite(p.y)) continue;
            const bool hollow = c.y_floor && p.y < *c.y_floor;
            svg += marker(static_cast<int>(s), mx(p.x), my(p.y), colour, "marker", p.tooltip.empty() ? c.series[s].name : p.tooltip,
                          hollow);
        }
        svg += "</g>\n";
    }

    // ---- labels of the front's points, greedily, never overlapping -----------------------
    if (c.label_front && !front.empty()) {
        svg += "<g class=\"point-labels\">\n";
        for (size_t f : front) {
            const Point& p = c.series[index[f].first].points[index[f].second];
            if (p.label.empty()) continue;
            const double w = text_width(p.label, kLabelFont), h = kLabelFont + 2;
            const Placement pl = place_label(mx(p.x), my(p.y), w, h, area, taken);
            if (!pl.ok) continue;
            // in the series' colour, so that two runs with the same label stay apart
            svg += text(pl.x, pl.y, p.label, kLabelFont, std::string("fill=\"") + kColours[index[f].first % (sizeof kColours / sizeof *kColours)] + "\"");
            taken.push_back(pl.box);
        }
        svg += "</g>\n";
    }

    // ---- legend, right of the plot area ---------------------------------------------------
    const double lx = R + 20, row = 22;
    const size_t extras = (front.empty() ? 0 : 1) + (c.reference_y ? 1 : 0);
    svg += "<g class=\"legend\">\n";
    svg += "<rect x=\"" + num(lx) + "\" y=\"" + num(T) + "\" width=\"" + num(kLegendWidth - 32) + "\" height=\"" +
           num(row * static_cast<double>(c.series.size() + extras) + 12) + "\" fill=\"white\" stroke=\"#cccccc\"/>\n";
    double ly = T + 6 + row / 2;
    for (size_t s = 0; s < c.series.size(); ++s, ly += row) {
        svg += "<g class=\"legend-series\">\n";
        svg += marker(static_cast<int>(s), lx + 16, ly, kColours[s % (sizeof kColours / sizeof *kColours)], "legend-marker", "");
        svg += text(lx + 30, ly + 4, c.series[s].name, kLegendFont);
        svg += "</g>\n";
    }
    auto line_entry = [&](const std::string& label, const std::string& style) {
        svg += "<g class=\"legend-extra\">\n<line x1=\"" + num(lx + 6) + "\" y1=\"" + num(ly) + "\" x2=\"" + num(lx + 26) + "\" y2=\"" +
               num(ly) + "\" " + style + "/>\n" + text(lx + 30, ly + 4, label, kLegendFont) + "</g>\n";
        ly += row;
    };
    if (!front.empty()) line_entry("Pareto front", "stroke=\"#222222\" stroke-opacity=\"0.55\" stroke-width=\"1.5\"");
    if (c.reference_y) line_entry(c.reference_label, "stroke=\"#555555\" stroke-width=\"1.2\" stroke-dasharray=\"6 4\"");
    ly += 16;
    std::vector<std::string> notes = c.notes;
    if (clipped) {
        notes.push_back("Hollow markers: below " + format_tick(*c.y_floor, c.y.format) + ",");
        notes.push_back("drawn on the bottom edge.");
    }
    for (const auto& note : notes) {
        svg += text(lx + 2, ly, note, kTickFont, "fill=\"#555555\"");
        ly += kTickFont + 5;
    }
    svg += "</g>\n</svg>\n";
    return svg;
}

}  // namespace qcp::plot
