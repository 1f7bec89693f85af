// `qcp sweep` without running models: option resolution and validation, the combination list,
// the CSV (parsed back), and the charts built from a report.
#include <gtest/gtest.h>

#include <algorithm>

#include "qcp/core/error.hpp"
#include "qcp/pipeline/compress.hpp"
#include "qcp/pipeline/sweep.hpp"
#include "sweep_test_util.hpp"

namespace qcp {
namespace {

bool method_known(const std::string& name) {
    const auto& m = compress_methods();
    return std::any_of(m.begin(), m.end(), [&](const MethodInfo& k) { return name == k.name; });
}

SweepOptions base_options() {
    SweepOptions o;
    o.model = "m.onnx";
    o.data = "d";
    o.labels = "l";
    o.out = "out";
    return o;
}

std::vector<std::string> names(const std::vector<SweepCombo>& combos) {
    std::vector<std::string> n;
    for (const auto& c : combos) n.push_back(c.name);
    return n;
}

TEST(SweepOptions, CombinationsInOrderWithNames) {
    SweepOptions o = base_options();
    o.methods = {"admm-cp", "rtn"};
    o.bits = {4, 8};
    o.rank_ratios = {2, 1.5};
    const auto combos = sweep_combinations(sweep_resolve(o));
    EXPECT_EQ(names(combos), (std::vector<std::string>{"admm-cp-b4-r2", "admm-cp-b4-r1.5", "admm-cp-b8-r2", "admm-cp-b8-r1.5",
                                                       "rtn-b4", "rtn-b8"}));
    EXPECT_EQ(*combos[1].rank_ratio, 1.5);
    EXPECT_FALSE(combos[4].rank_ratio);
    EXPECT_EQ(*combos[5].bits, 8);
}

TEST(SweepOptions, PqCombinationsIgnoreBitsAndRatios) {
    SweepOptions o = base_options();  // resolved by hand: pq may not be in this build's method table
    o.methods = {"pq"};
    o.centroids = {256, 64};
    const auto combos = sweep_combinations(o);
    EXPECT_EQ(names(combos), (std::vector<std::string>{"pq-k256", "pq-k64"}));
    EXPECT_FALSE(combos[0].bits);
    EXPECT_EQ(*combos[1].centroids, 64);
}

TEST(SweepOptions, DefaultsSkipCalibrationMethodsWithoutCalib) {
    std::vector<std::string> skipped;
    const SweepOptions r = sweep_resolve(base_options(), &skipped);
    EXPECT_EQ(r.methods, (std::vector<std::string>{"admm-cp", "cp-als", "rtn"}));
    ASSERT_FALSE(skipped.empty());
    EXPECT_EQ(skipped[0], "gptq: needs --calib");
    EXPECT_EQ(sweep_combinations(r).size(), 2 * kSweepDefaultCpBits.size() * kSweepDefaultRankRatios.size() +
                                                 kSweepDefaultQuantBits.size());

    SweepOptions with_calib = base_options();
    with_calib.calib = "c";
    skipped.clear();
    const SweepOptions rc = sweep_resolve(with_calib, &skipped);
    EXPECT_TRUE(skipped.empty());
    std::vector<std::string> want = {"admm-cp", "cp-als", "rtn", "gptq"};
    if (method_known("pq")) want.push_back("pq");
    EXPECT_EQ(rc.methods, want);
}

TEST(SweepOptions, BadSettingsThrowOneLine) {
    auto expect_error = [](SweepOptions o, const std::string& fragment) {
        try {
            (void)sweep_resolve(o);
            ADD_FAILURE() << "no error for " << fragment;
        } catch (const Error& e) {
            const std::string what = e.what();
            EXPECT_NE(what.find(fragment), std::string::npos) << what;
            EXPECT_EQ(what.find('\n'), std::string::npos) << what;
        }
    };
    SweepOptions o = base_options();
    o.methods = {"rtn", "magic"};
    expect_error(o, "--methods: unknown method 'magic'");
    o.methods = {"gptq"};
    expect_error(o, "gptq needs calibration data");
    o.methods = {"rtn", "rtn"};
    expect_error(o, "listed twice");
    o.methods = {"mixed"};  // a budget's choice, not a grid
    expect_error(o, "--methods mixed: not swept");
    o = base_options();
    o.bits = {4, 9};
    expect_error(o, "between 2 and 8");
    o = base_options();
    o.rank_ratios = {2, 1};
    expect_error(o, "greater than 1");
    o = base_options();
    o.rank_ratios = {2, 2};
    expect_error(o, "listed twice");
    o = base_options();
    o.centroids = {1};
    expect_error(o, "--centroids");
    o = base_options();
    o.data = {};
    expect_error(o, "--data");
    o = base_options();
    o.labels.clear();  // no labels: ranked by fidelity to fp32
    EXPECT_NO_THROW(sweep_resolve(o));
    o.fidelity.mask_threshold = INFINITY;
    expect_error(o, "--mask-threshold");
    o = base_options();
    o.out.clear();
    expect_error(o, "--out");
}

SweepReport hand_report() {
    SweepReport r;
    r.options = sweep_resolve([] {
        SweepOptions o = base_options();
        o.methods = {"admm-cp", "rtn"};
        return o;
    }());
    r.reference = {"m.onnx", 1000, 93.5, 400000, 5000000, 100000, 0.5};
    SweepRow ok;
    ok.combo = {"admm-cp", 4, 2.0, std::nullopt, "admm-cp-b4-r2"};
    ok.path = "models/admm-cp-b4-r2.onnx";
    ok.top1 = 93.1, ok.top1_drop = 0.4, ok.agreement = 98.25, ok.output_rel_error = 0.05;
    ok.file_bytes = 60000, ok.compression_ratio = 15.0, ok.file_ratio = 6.6667, ok.macs = 2000000, ok.macs_ratio = 2.5;
    ok.params = 40000;
    SweepRow bad;
    bad.combo = {"rtn", 2, std::nullopt, std::nullopt, "rtn-b2"};
    bad.path = "models/rtn-b2.onnx";
    bad.status = "failed";
    bad.error = "x.onnx: bad \"thing\", line 2\nsecond line";
    r.rows = {ok, bad};
    return r;
}

TEST(SweepReport, CsvParsesBack) {
    const SweepReport r = hand_report();
    const auto rows = test::parse_csv(sweep_to_csv(r));
    ASSERT_EQ(rows.size(), 3u);
    EXPECT_EQ(rows[0], kSweepCsvColumns);
    for (const auto& row : rows) EXPECT_EQ(row.size(), kSweepCsvColumns.size());
    auto col = [&](size_t row, const std::string& name) {
        return rows[row][static_cast<size_t>(std::find(kSweepCsvColumns.begin(), kSweepCsvColumns.end(), name) - kSweepCsvColumns.begin())];
    };
    EXPECT_EQ(col(1, "method"), "admm-cp");
    EXPECT_EQ(col(1, "bits"), "4");
    EXPECT_EQ(col(1, "rank_ratio"), "2");
    EXPECT_EQ(col(1, "centroids"), "");
    EXPECT_EQ(col(1, "top1"), "93.10");
    EXPECT_EQ(col(1, "top1_drop"), "0.40");
    EXPECT_EQ(col(1, "file_bytes"), "60000");
    EXPECT_EQ(col(1, "file_ratio"), "6.667");
    EXPECT_EQ(col(1, "status"), "ok");
    EXPECT_EQ(col(2, "status"), "failed");
    EXPECT_EQ(col(2, "top1"), "");
    EXPECT_EQ(col(2, "error"), r.rows[1].error);
    const auto json = sweep_to_json(r);
    EXPECT_EQ(json["reference"]["top1"].get<double>(), 93.5);
    EXPECT_EQ(json["rows"].size(), 2u);
    EXPECT_TRUE(json["rows"][1]["top1"].is_null());
    const std::string md = sweep_to_markdown(r);
    EXPECT_NE(md.find("| fp32 |"), std::string::npos);
    EXPECT_NE(md.find("| admm-cp | b4 r2 | 93.10 | 0.40 |"), std::string::npos);
}

TEST(SweepReport, JsonRoundTripRedrawsTheSameFiles) {
    const SweepReport r = hand_report();
    const SweepReport back = sweep_from_json(nlohmann::json::parse(sweep_to_json(r).dump()));
    EXPECT_EQ(sweep_to_csv(back), sweep_to_csv(r));
    EXPECT_EQ(sweep_to_markdown(back), sweep_to_markdown(r));
    EXPECT_EQ(plot::render_svg(sweep_chart(back, SweepAxis::FileBytes)), plot::render_svg(sweep_chart(r, SweepAxis::FileBytes)));
    EXPECT_EQ(sweep_to_json(back).dump(), sweep_to_json(r).dump());
    nlohmann::json broken = nlohmann::json::parse(sweep_to_json(r).dump());
    broken["rows"][0].erase("top1");
    EXPECT_THROW((void)sweep_from_json(broken), Error);
}

TEST(SweepReport, ChartsHaveOneSeriesPerMethodWithPoints) {
    const SweepReport r = hand_report();
    const plot::Chart bytes = sweep_chart(r, SweepAxis::FileBytes);
    ASSERT_EQ(bytes.series.size(), 1u);  // rtn's only run failed
    EXPECT_EQ(bytes.series[0].name, "admm-cp");
    EXPECT_EQ(bytes.series[0].points[0].x, 60000);
    EXPECT_EQ(bytes.series[0].points[0].label, "b4 r2");
    EXPECT_EQ(*bytes.reference_y, 93.5);
    EXPECT_EQ(bytes.x.scale, plot::Scale::Log);
    EXPECT_EQ(sweep_chart(r, SweepAxis::Macs).series[0].points[0].x, 2000000);
    EXPECT_EQ(*bytes.y_floor, 75.0);  // 93.5 − 15 = 78.5, down to a multiple of 5
}

// A sweep without labels of a model with an (N, T, C) output: ranked by position agreement with fp32.
SweepReport fidelity_report() {
    SweepReport r = hand_report();
    r.options.labels.clear();
    r.reference.top1 = 0;
    r.reference.metric = "position_agreement";
    r.rows[0].top1.reset();
    r.rows[0].top1_drop.reset();
    r.rows[0].agreement.reset();
    r.rows[0].fidelity = PrimaryFidelity{"position_agreement", "softmax", 97.5, true};
    return r;
}

TEST(SweepReport, WithoutLabelsRanksByTheModelsFidelity) {
    const SweepReport r = fidelity_report();
    EXPECT_EQ(*sweep_score(r, r.rows[0]), 97.5);
    EXPECT_EQ(*sweep_drop(r, r.rows[0]), 2.5);
    EXPECT_FALSE(sweep_score(r, r.rows[1]));  // failed
    const std::string md = sweep_to_markdown(r);
    EXPECT_NE(md.find("position agreement %"), std::string::npos) << md;
    EXPECT_NE(md.find("| fp32 | – | 100.00 |"), std::string::npos) << md;
    EXPECT_NE(md.find("| admm-cp | b4 r2 | 97.50 | 2.50 |"), std::string::npos) << md;
    EXPECT_EQ(md.find("top-1"), std::string::npos);
    const std::string table = sweep_to_table(r);
    EXPECT_NE(table.find("97.50%"), std::string::npos) << table;
    const plot::Chart c = sweep_chart(r, SweepAxis::FileBytes);
    ASSERT_EQ(c.series.size(), 1u);
    EXPECT_EQ(c.series[0].points[0].y, 97.5);
    EXPECT_EQ(*c.reference_y, 100.0);
    EXPECT_NE(c.title.find("Position agreement"), std::string::npos) << c.title;
    const auto rows = test::parse_csv(sweep_to_csv(r));
    EXPECT_EQ(rows[1][kSweepCsvColumns.size() - 2], "position_agreement");
    EXPECT_EQ(rows[1][kSweepCsvColumns.size() - 1], "97.5000");
    const auto json = sweep_to_json(r);
    EXPECT_TRUE(json["reference"]["top1"].is_null());
    EXPECT_EQ(json["reference"]["metric"].get<std::string>(), "position_agreement");
    EXPECT_EQ(json["rows"][0]["fidelity"]["value"].get<double>(), 97.5);
    const SweepReport back = sweep_from_json(nlohmann::json::parse(json.dump()));
    EXPECT_EQ(sweep_to_markdown(back), md);
    EXPECT_EQ(plot::render_svg(sweep_chart(back, SweepAxis::Macs)), plot::render_svg(sweep_chart(r, SweepAxis::Macs)));
}

TEST(SweepReport, SqnrFidelityHasNoReferenceLine) {
    SweepReport r = fidelity_report();
    r.reference.metric = "sqnr_db";
    r.rows[0].fidelity = PrimaryFidelity{"sqnr_db", "y", 31.25, false};
    EXPECT_EQ(*sweep_score(r, r.rows[0]), 31.25);
    EXPECT_FALSE(sweep_drop(r, r.rows[0]));
    const plot::Chart c = sweep_chart(r, SweepAxis::FileBytes);
    EXPECT_FALSE(c.reference_y);
    EXPECT_EQ(c.y.format, plot::TickFormat::Number);
    EXPECT_NE(sweep_to_markdown(r).find("SQNR dB"), std::string::npos);
}

TEST(PlotSvgFloor, PointsUnderTheFloorAreHollowOnTheBottomEdge) {
    plot::Chart c;
    c.x.scale = plot::Scale::Log;
    c.y_floor = 75;
    c.series = {{"a", {{1000, 90, "", ""}, {2000, 30, "", ""}}}};
    const std::string svg = plot::render_svg(c);
    EXPECT_NE(svg.find("fill=\"white\" fill-opacity=\"0.85\""), std::string::npos);  // the hollow one
    EXPECT_NE(svg.find("Hollow markers: below 75"), std::string::npos);
    EXPECT_EQ(svg.find(">30<"), std::string::npos);  // the axis does not reach down to 30
    c.y_floor = 10;
    EXPECT_EQ(plot::render_svg(c).find("Hollow markers"), std::string::npos);
}

}  // namespace
}  // namespace qcp
