// A small SVG chart writer for sweep results: scatter series on a log or linear x axis, a y axis
// in percent, the Pareto front as a step line, and a horizontal reference line (the fp32 model).
// No plotting dependency: the SVG is assembled as text.
//
// Layout (pixels): the plot area sits at [kPlotLeft, width - kLegendWidth] × [kPlotTop,
// height - kPlotBottom]; the legend lives to the right of the plot area so it never covers a
// point. Point labels are placed greedily next to their marker and left out where they would
// overlap another label, a marker, or leave the plot area.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace qcp::plot {

enum class Scale { Linear, Log };

// How tick labels are written: plain numbers ("0.5", "200"), SI counts ("20k", "1.5M", "2G"),
// SI bytes ("20 kB", "1 MB"), or percent ("92.5%").
enum class TickFormat { Number, Count, Bytes, Percent };

struct Axis {
    std::string label;
    Scale scale = Scale::Linear;
    TickFormat format = TickFormat::Number;
};

struct Point {
    double x = 0, y = 0;
    std::string label;    // drawn next to the marker when the point is on the Pareto front
    std::string tooltip;  // SVG <title> of the marker (shown on hover in a browser)
};

struct Series {
    std::string name;
    std::vector<Point> points;
};

struct Chart {
    std::string title, subtitle;
    Axis x, y;
    std::vector<Series> series;
    std::optional<double> reference_y;  // horizontal dashed line, e.g. fp32 top-1
    std::string reference_label;        // e.g. "fp32 93.48%"
    bool pareto_front = true;           // draw the front over all series (smaller x, larger y is better)
    bool label_front = true;            // label the front's points (Point::label)
    std::vector<std::string> notes;     // short lines drawn under the legend (e.g. what labels mean)
    // The y axis starts no lower than this; points below it are drawn hollow on the bottom edge
    // (their tooltips keep the real value) and a note under the legend says so.
    std::optional<double> y_floor;
    int width = 960, height = 600;
};

// Ticks at m·10^k, m ∈ {1, 2, 5}, that lie in [lo, hi] (0 < lo ≤ hi), ascending.
std::vector<double> log_ticks(double lo, double hi);
// The largest m·10^k ≤ v and the smallest m·10^k ≥ v (v > 0, m ∈ {1, 2, 5}).
double log_floor_nice(double v);
double log_ceil_nice(double v);

// A "nice" step (1, 2 or 5 × 10^k) that splits `range` into about `target` intervals.
double nice_step(double range, int target);
// Ticks k·step in [lo, hi] (k integer), ascending.
std::vector<double> linear_ticks(double lo, double hi, double step);

// Maps data values in [lo, hi] to pixels [px_lo, px_hi] (px_hi < px_lo for a y axis growing up):
// linear: px_lo + (v − lo)/(hi − lo)·(px_hi − px_lo); log: the same in log10(v).
struct AxisMap {
    double lo = 0, hi = 1;
    double px_lo = 0, px_hi = 1;
    Scale scale = Scale::Linear;
    double operator()(double v) const;
};

// The domain an axis shows for data in [lo, hi], padded so no marker sits on the frame: log axes
// by a factor 1.08 each way, with ticks at 1, 2, 5 × 10^k (every 1..9 × 10^k when that gives fewer
// than three); linear axes out to multiples of a nice step.
struct AxisRange {
    double lo = 0, hi = 1;
    std::vector<double> ticks;        // gridlines
    std::vector<bool> labelled;       // which ticks carry a label (log axes over many decades: 10^k only)
};
AxisRange axis_range(double lo, double hi, Scale scale);

std::string format_tick(double v, TickFormat format);

// Indices of the points no other point dominates, sorted by x ascending. q dominates p when
// q.x ≤ p.x and q.y ≥ p.y with one of them strict; identical points all stay on the front.
// Non-finite points are ignored.
struct XY {
    double x = 0, y = 0;
};
std::vector<size_t> pareto_front(const std::vector<XY>& points);

// The whole chart as an SVG document. Throws qcp::Error when a log axis meets a value ≤ 0.
std::string render_svg(const Chart& chart);

// Text with &, <, >, " and ' escaped for SVG/XML.
std::string xml_escape(const std::string& text);

}  // namespace qcp::plot
