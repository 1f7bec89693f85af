// A small end-to-end sweep on the shipped MLP: the files appear with the expected rows, the CSV
// parses back, the charts carry one marker per run, the output does not depend on the thread
// count, and a combination that fails is recorded while the sweep goes on.
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>

#include <nlohmann/json.hpp>

#include "qcp/core/error.hpp"
#include "qcp/pipeline/sweep.hpp"
#include "sweep_test_util.hpp"
#include "test_util.hpp"

namespace qcp {
namespace {

constexpr int64_t kSamples = 200;

SweepOptions mlp_sweep(const std::filesystem::path& out, int threads) {
    SweepOptions o;
    o.model = test::models_dir() + "/fmnist_mlp.onnx";
    o.data = test::kTestImages;
    o.labels = test::kTestLabels;
    o.count = kSamples;
    o.methods = {"rtn", "admm-cp"};
    o.bits = {8};
    o.rank_ratios = {3};  // the quickest admm-cp solve
    o.out = out;
    o.threads = threads;
    return o;
}

size_t column(const std::string& name) {
    return static_cast<size_t>(std::find(kSweepCsvColumns.begin(), kSweepCsvColumns.end(), name) - kSweepCsvColumns.begin());
}

// The CSV with the two timing columns blanked.
std::string without_seconds(const std::string& csv) {
    std::string out;
    for (auto row : test::parse_csv(csv)) {
        row[column("seconds_compress")] = row[column("seconds_eval")] = "";
        for (const auto& cell : row) out += cell + ",";
        out += "\n";
    }
    return out;
}

TEST(SweepModel, MlpTwoCombinationsWritesEveryFile) {
    test::TempDir dir;
    const SweepReport r = sweep(mlp_sweep(dir / "s1", 1));
    for (const char* f : {"results.csv", "results.json", "results.md", "pareto.svg", "pareto_macs.svg"})
        EXPECT_TRUE(std::filesystem::exists(dir / "s1" / f)) << f;
    EXPECT_TRUE(std::filesystem::exists(dir / "s1/models/rtn-b8.onnx"));
    EXPECT_TRUE(std::filesystem::exists(dir / "s1/models/admm-cp-b8-r3.onnx"));

    const auto rows = test::parse_csv(test::read_text(dir / "s1/results.csv"));
    ASSERT_EQ(rows.size(), 3u);
    EXPECT_EQ(rows[0], kSweepCsvColumns);
    EXPECT_EQ(rows[1][column("method")], "rtn");
    EXPECT_EQ(rows[2][column("method")], "admm-cp");
    EXPECT_EQ(rows[2][column("rank_ratio")], "3");
    const double ref_top1 = r.reference.top1;
    EXPECT_EQ(r.reference.samples, kSamples);
    EXPECT_GT(ref_top1, 80.0);  // the MLP scores 88.45% on all 10,000
    for (size_t i = 1; i < rows.size(); ++i) {
        EXPECT_EQ(rows[i][column("status")], "ok") << rows[i][column("error")];
        const double top1 = std::stod(rows[i][column("top1")]);
        EXPECT_GT(top1, 50.0);
        EXPECT_NEAR(std::stod(rows[i][column("top1_drop")]), ref_top1 - top1, 0.011);
        EXPECT_GT(std::stod(rows[i][column("file_ratio")]), 1.5);
        EXPECT_GT(std::stod(rows[i][column("compression_ratio")]), 1.5);
        EXPECT_LT(std::stoll(rows[i][column("file_bytes")]), static_cast<long long>(r.reference.file_bytes));
    }
    EXPECT_EQ(rows[1][column("macs_ratio")], "1.000");  // rtn keeps the graph's MACs

    const auto json = nlohmann::json::parse(test::read_text(dir / "s1/results.json"));
    EXPECT_EQ(json["rows"].size(), 2u);
    EXPECT_EQ(json["reference"]["samples"].get<int64_t>(), kSamples);
    EXPECT_EQ(json["rows"][1]["compress"]["method"], "admm-cp");
    EXPECT_TRUE(json["rows"][1]["compress"]["layers"].is_array());

    const std::string svg = test::read_text(dir / "s1/pareto.svg");
    size_t markers = 0;
    for (size_t p = svg.find("class=\"marker\""); p != std::string::npos; p = svg.find("class=\"marker\"", p + 1)) ++markers;
    EXPECT_EQ(markers, 2u);
    EXPECT_NE(svg.find("class=\"legend-series\""), std::string::npos);

    // same inputs and seed at another thread count: same files apart from timings
    (void)sweep(mlp_sweep(dir / "s2", 2));
    EXPECT_EQ(without_seconds(test::read_text(dir / "s1/results.csv")), without_seconds(test::read_text(dir / "s2/results.csv")));
    EXPECT_EQ(test::read_text(dir / "s1/pareto.svg"), test::read_text(dir / "s2/pareto.svg"));
    EXPECT_EQ(test::read_text(dir / "s1/models/admm-cp-b8-r3.onnx"), test::read_text(dir / "s2/models/admm-cp-b8-r3.onnx"));

    // a second run into the same folder needs force
    EXPECT_THROW((void)sweep(mlp_sweep(dir / "s1", 1)), Error);
}

TEST(SweepModel, WithoutLabelsRanksByTopOneAgreement) {
    test::TempDir dir;
    SweepOptions o = mlp_sweep(dir / "s", 1);
    o.labels.clear();
    o.methods = {"rtn"};
    o.bits = {2, 8};
    const SweepReport r = sweep(o);
    EXPECT_EQ(r.reference.metric, "top1_agreement");  // the MLP's (N, 10) output
    ASSERT_EQ(r.rows.size(), 2u);
    for (const auto& row : r.rows) {
        ASSERT_TRUE(row.fidelity) << row.error;
        EXPECT_EQ(row.fidelity->metric, "top1_agreement");
        EXPECT_FALSE(row.top1);
        EXPECT_EQ(*sweep_score(r, row), *row.agreement);  // the same number, in percent
        ASSERT_TRUE(row.outputs.is_array());
        EXPECT_EQ(row.outputs[0]["kind"].get<std::string>(), "classifier");
    }
    EXPECT_LT(*sweep_score(r, r.rows[0]), *sweep_score(r, r.rows[1]));  // 2 bits agree less than 8
    const std::string md = test::read_text(dir / "s/results.md");
    EXPECT_NE(md.find("top-1 agreement %"), std::string::npos) << md;
    const std::string svg = test::read_text(dir / "s/pareto.svg");
    EXPECT_NE(svg.find("Top-1 agreement with fp32"), std::string::npos);
}

TEST(SweepModel, FailedCombinationIsRecordedAndTheSweepGoesOn) {
    test::TempDir dir;
    SweepOptions o = mlp_sweep(dir / "s", 0);
    o.calib = test::kTestLabels;  // not images: every compression fails once it opens the calibration data
    const SweepReport r = sweep(o);
    ASSERT_EQ(r.rows.size(), 2u);
    for (const auto& row : r.rows) {
        EXPECT_EQ(row.status, "failed");
        EXPECT_FALSE(row.error.empty());
        EXPECT_FALSE(std::filesystem::exists(dir / "s" / row.path));
    }
    const auto rows = test::parse_csv(test::read_text(dir / "s/results.csv"));
    ASSERT_EQ(rows.size(), 3u);
    EXPECT_EQ(rows[2][column("status")], "failed");
    EXPECT_TRUE(std::filesystem::exists(dir / "s/pareto.svg"));
}

}  // namespace
}  // namespace qcp
