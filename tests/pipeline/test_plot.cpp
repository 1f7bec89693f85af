// The SVG chart writer: tick placement and coordinate mapping against hand-computed values, the
// Pareto front against brute force, and the document's structure (balanced tags, one marker per
// point, one legend entry per series).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <regex>

#include "qcp/core/error.hpp"
#include "qcp/pipeline/plot.hpp"

namespace qcp::plot {
namespace {

constexpr double kTol = 1e-9;  // relative tolerance on computed tick and pixel values

void expect_values(const std::vector<double>& got, const std::vector<double>& want) {
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], kTol * std::abs(want[i])) << "at " << i;
}

TEST(PlotTicks, LogTicksAreOneTwoFiveTimesPowersOfTen) {
    expect_values(log_ticks(30, 2000), {50, 100, 200, 500, 1000, 2000});
    expect_values(log_ticks(0.15, 3), {0.2, 0.5, 1, 2});
    expect_values(log_ticks(1000, 1000), {1000});
    expect_values(log_ticks(600, 900), {});
    EXPECT_THROW(log_ticks(0, 10), Error);
}

TEST(PlotTicks, NiceBoundsEncloseTheValue) {
    EXPECT_NEAR(log_floor_nice(350), 200, kTol);
    EXPECT_NEAR(log_ceil_nice(350), 500, kTol);
    EXPECT_NEAR(log_floor_nice(1000), 1000, kTol * 1000);
    EXPECT_NEAR(log_ceil_nice(1000), 1000, kTol * 1000);
    EXPECT_NEAR(log_ceil_nice(1001), 2000, kTol * 2000);
    EXPECT_NEAR(log_ceil_nice(6e5), 1e6, kTol * 1e6);
    EXPECT_NEAR(log_floor_nice(0.07), 0.05, kTol);
}

TEST(PlotTicks, LinearStepsAndTicks) {
    EXPECT_NEAR(nice_step(10, 6), 2, kTol);     // raw 1.67 -> 2
    EXPECT_NEAR(nice_step(0.7, 6), 0.1, kTol);  // raw 0.117 -> 0.1
    EXPECT_NEAR(nice_step(83, 6), 10, kTol);    // raw 13.8 -> 10
    EXPECT_NEAR(nice_step(30, 6), 5, kTol);     // raw 5 -> 5
    expect_values(linear_ticks(0.15, 1.02, 0.2), {0.2, 0.4, 0.6, 0.8, 1.0});
    expect_values(linear_ticks(-3, 3, 2), {-2, 0, 2});
}

TEST(PlotTicks, AxisRangesPadAndLabel) {
    const AxisRange a = axis_range(9000, 110000, Scale::Log);  // padded by 1.08: 8333.3 .. 118800
    EXPECT_NEAR(a.lo, 9000 / 1.08, kTol * 9000);
    EXPECT_NEAR(a.hi, 118800, kTol * 118800);
    expect_values(a.ticks, {10000, 20000, 50000, 100000});
    EXPECT_EQ(std::count(a.labelled.begin(), a.labelled.end(), true), 4);
    // under half a decade (197.2k .. 643.7k): 1-2-5 leaves two ticks, so every m·10^k
    expect_values(axis_range(213000, 596000, Scale::Log).ticks, {200000, 300000, 400000, 500000, 600000});
    const AxisRange wide = axis_range(100, 1e6, Scale::Log);  // 92.6 .. 1.08e6: 4.1 decades, only 10^k labelled
    ASSERT_EQ(wide.ticks.size(), wide.labelled.size());
    for (size_t i = 0; i < wide.ticks.size(); ++i) {
        const double m = wide.ticks[i] / std::pow(10.0, std::floor(std::log10(wide.ticks[i]) + 1e-9));
        EXPECT_EQ(wide.labelled[i], std::abs(m - 1) < 1e-6) << wide.ticks[i];
    }
    const AxisRange y = axis_range(88.5, 93.5, Scale::Linear);  // pad 0.2 -> 88.3..93.7, step 1
    EXPECT_NEAR(y.lo, 88, kTol);
    EXPECT_NEAR(y.hi, 94, kTol);
    EXPECT_EQ(y.ticks.size(), 7u);
}

TEST(PlotTicks, AxisMapMatchesHandValues) {
    const AxisMap lx{10, 1000, 100, 300, Scale::Log};
    EXPECT_NEAR(lx(10), 100, kTol);
    EXPECT_NEAR(lx(100), 200, kTol);
    EXPECT_NEAR(lx(1000), 300, kTol);
    EXPECT_NEAR(lx(std::sqrt(10.0) * 10), 150, 1e-9);
    const AxisMap ly{80, 100, 500, 100, Scale::Linear};  // y grows upwards
    EXPECT_NEAR(ly(90), 300, kTol);
    EXPECT_NEAR(ly(95), 200, kTol);
    EXPECT_NEAR(ly(100), 100, kTol);
}

TEST(PlotTicks, TickLabels) {
    EXPECT_EQ(format_tick(20000, TickFormat::Bytes), "20 kB");
    EXPECT_EQ(format_tick(1e6, TickFormat::Bytes), "1 MB");
    EXPECT_EQ(format_tick(500, TickFormat::Bytes), "500 B");
    EXPECT_EQ(format_tick(2e9, TickFormat::Count), "2G");
    EXPECT_EQ(format_tick(1.5e6, TickFormat::Count), "1.5M");
    EXPECT_EQ(format_tick(50, TickFormat::Count), "50");
    EXPECT_EQ(format_tick(92.5, TickFormat::Percent), "92.5%");
    EXPECT_EQ(format_tick(-1e-15, TickFormat::Number), "0");
}

std::vector<size_t> brute_force_front(const std::vector<XY>& p) {
    std::vector<size_t> front;
    for (size_t i = 0; i < p.size(); ++i) {
        if (!std::isfinite(p[i].x) || !std::isfinite(p[i].y)) continue;
        bool dominated = false;
        for (size_t j = 0; j < p.size() && !dominated; ++j)
            dominated = std::isfinite(p[j].x) && std::isfinite(p[j].y) && p[j].x <= p[i].x && p[j].y >= p[i].y &&
                        (p[j].x < p[i].x || p[j].y > p[i].y);
        if (!dominated) front.push_back(i);
    }
    return front;
}

TEST(PlotPareto, MatchesBruteForceOnRandomPointsWithTies) {
    std::mt19937 rng(7);
    for (int trial = 0; trial < 200; ++trial) {
        const int n = 1 + static_cast<int>(rng() % 40);
        const int grid = 2 + static_cast<int>(rng() % 12);  // small grids make ties and duplicates common
        std::vector<XY> pts;
        for (int i = 0; i < n; ++i) pts.push_back({double(rng() % grid) + 1, double(rng() % grid)});
        if (trial % 10 == 0) pts.push_back({NAN, 5});
        const auto got = pareto_front(pts);
        std::vector<size_t> sorted = got;
        std::sort(sorted.begin(), sorted.end());
        EXPECT_EQ(sorted, brute_force_front(pts)) << "trial " << trial;
        for (size_t i = 1; i < got.size(); ++i) EXPECT_LE(pts[got[i - 1]].x, pts[got[i]].x);
    }
}

// A minimal XML structure check: every element closed in order, quotes balanced inside tags,
// no bare '<' or '&' in text. Returns an empty string when well-formed, else what went wrong.
std::string xml_problem(const std::string& s) {
    std::vector<std::string> stack;
    size_t i = 0;
    while (i < s.size()) {
        if (s[i] == '&') {
            const size_t semi = s.find(';', i);
            if (semi == std::string::npos || !std::regex_match(s.substr(i, semi - i + 1), std::regex("&(amp|lt|gt|quot|apos);")))
                return "bare & at " + std::to_string(i);
            i = semi + 1;
            continue;
        }
        if (s[i] != '<') { ++i; continue; }
        if (s.compare(i, 2, "<?") == 0) {
            const size_t end = s.find("?>", i);
            if (end == std::string::npos) return "unterminated <?";
            i = end + 2;
            continue;
        }
        size_t j = i + 1;
        bool quoted = false;
        while (j < s.size() && (quoted || s[j] != '>')) {
            if (s[j] == '"') quoted = !quoted;
            if (!quoted && s[j] == '<') return "'<' inside a tag at " + std::to_string(j);
            ++j;
        }
        if (j >= s.size()) return "unterminated tag at " + std::to_string(i);
        const std::string tag = s.substr(i + 1, j - i - 1);
        i = j + 1;
        if (tag.empty()) return "empty tag";
        if (tag[0] == '/') {
            if (stack.empty() || stack.back() != tag.substr(1)) return "</" + tag.substr(1) + "> closes " + (stack.empty() ? "nothing" : stack.back());
            stack.pop_back();
        } else if (tag.back() != '/') {
            stack.push_back(tag.substr(0, tag.find_first_of(" \n\t")));
        }
    }
    return stack.empty() ? "" : "<" + stack.back() + "> never closed";
}

size_t occurrences(const std::string& s, const std::string& what) {
    size_t n = 0;
    for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
    return n;
}

Chart sample_chart() {
    Chart c;
    c.title = "Top-1 vs size <test> & more";
    c.subtitle = "subtitle";
    c.x = {"size (bytes, log scale)", Scale::Log, TickFormat::Bytes};
    c.y = {"top-1 (%)", Scale::Linear, TickFormat::Percent};
    c.reference_y = 93.5;
    c.reference_label = "fp32 93.50%";
    std::mt19937 rng(3);
    const char* names[] = {"admm-cp", "cp-als", "rtn", "gptq", "a \"quoted\" <name>", "six", "seven", "eight"};
    for (int s = 0; s < 8; ++s) {
        Series series{names[s], {}};
        for (int k = 0; k < 3 + s; ++k)
            series.points.push_back({20000.0 * std::pow(10.0, (rng() % 1000) / 500.0), 80 + (rng() % 1400) / 100.0,
                                     "b" + std::to_string(k), "tip & <" + std::to_string(k) + ">"});
        c.series.push_back(series);
    }
    return c;
}

TEST(PlotSvg, WellFormedWithOneMarkerPerPointAndOneLegendEntryPerSeries) {
    const Chart c = sample_chart();
    const std::string svg = render_svg(c);
    EXPECT_EQ(xml_problem(svg), "");
    size_t points = 0;
    for (const auto& s : c.series) points += s.points.size();
    EXPECT_EQ(occurrences(svg, "class=\"marker\""), points);
    EXPECT_EQ(occurrences(svg, "class=\"legend-series\""), c.series.size());
    EXPECT_EQ(occurrences(svg, "class=\"legend-extra\""), 2u);  // Pareto front, fp32
    EXPECT_EQ(occurrences(svg, "class=\"pareto\""), 1u);
    EXPECT_EQ(occurrences(svg, "class=\"reference\""), 1u);
    EXPECT_NE(svg.find("a &quot;quoted&quot; &lt;name&gt;"), std::string::npos);
    EXPECT_NE(svg.find("Top-1 vs size &lt;test&gt; &amp; more"), std::string::npos);
    EXPECT_NE(svg.find(">fp32 93.50%<"), std::string::npos);
    EXPECT_EQ(render_svg(c), svg) << "same chart, same bytes";
}

TEST(PlotSvg, NoPointsStillRendersAndLogAxisRejectsNonPositive) {
    Chart empty;
    empty.x.scale = Scale::Log;
    EXPECT_EQ(xml_problem(render_svg(empty)), "");
    Chart bad = sample_chart();
    bad.series[0].points[0].x = 0;
    EXPECT_THROW(render_svg(bad), Error);
}

TEST(PlotSvg, CheckerCatchesBrokenDocuments) {
    EXPECT_EQ(xml_problem("<a><b/></a>"), "");
    EXPECT_NE(xml_problem("<a><b></a>"), "");
    EXPECT_NE(xml_problem("<a>x & y</a>"), "");
    EXPECT_NE(xml_problem("<a>"), "");
}

}  // namespace
}  // namespace qcp::plot
