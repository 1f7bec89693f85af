// The accuracy gates as a CI job uses them: `compress --max-drop` (on top-1 with labels, on agreement
// with the original without) and `eval --min-top1` exit 0 when
// the model is good enough, 1 (output kept, "gate" in the JSON) when it is not, 2 on bad usage.
#include <gtest/gtest.h>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "cli_util.hpp"

namespace qcp {
namespace {

using test::run_qcp;

const std::string kModel = test::models_dir() + "/fmnist_resnet.onnx";
const std::string kEvalSet = " --data " + test::kFashionTestImages + " --labels " + test::kFashionTestLabels + " --count 200";
// one small layer only, so the solve takes well under a second
const std::string kOneLayer = " --exclude '^/layer[23]' --exclude 'conv2' --exclude down --rank 8";

TEST(CliGate, CompressWithinMaxDropPasses) {
    test::TempDir dir;
    const auto out = dir / "o.onnx";
    const auto r = run_qcp("compress " + kModel + " -o " + out.string() + kOneLayer + " --json --max-drop 5" + kEvalSet);
    ASSERT_EQ(r.code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    const auto& g = j["gate"];
    EXPECT_TRUE(g["passed"].get<bool>());
    EXPECT_EQ(g["max_drop"].get<double>(), 5.0);
    EXPECT_EQ(g["samples"].get<int64_t>(), 200);
    EXPECT_NEAR(g["drop"].get<double>(), g["top1_before"].get<double>() - g["top1_after"].get<double>(), 1e-9);
    EXPECT_GT(g["top1_before"].get<double>(), 80.0);  // percent
    EXPECT_TRUE(std::filesystem::exists(out));
    // the table says it too
    const auto t = run_qcp("compress " + kModel + " -o " + (dir / "t.onnx").string() + kOneLayer + " --max-drop 5" + kEvalSet);
    EXPECT_EQ(t.code, 0) << t.err;
    EXPECT_NE(t.out.find("gate on 200 samples"), std::string::npos) << t.out;
    EXPECT_NE(t.out.find("passed"), std::string::npos);
}

TEST(CliGate, CompressBeyondMaxDropExitsOneAndKeepsTheOutput) {
    test::TempDir dir;
    const auto out = dir / "o.onnx", report = dir / "r.json";
    // 2-bit per-tensor round-to-nearest of every layer wrecks the network
    const auto r = run_qcp("compress " + kModel + " -o " + out.string() + " --method rtn --bits 2 --granularity tensor --report " +
                           report.string() + " --max-drop 1" + kEvalSet);
    EXPECT_EQ(r.code, 1) << r.err;
    EXPECT_EQ(test::line_count(r.err), 1u) << r.err;
    EXPECT_NE(r.err.find("accuracy gate failed"), std::string::npos) << r.err;
    EXPECT_NE(r.out.find("FAILED"), std::string::npos);
    EXPECT_TRUE(std::filesystem::exists(out));
    const auto g = nlohmann::json::parse(test::read_text(report))["gate"];
    EXPECT_FALSE(g["passed"].get<bool>());
    EXPECT_GT(g["drop"].get<double>(), 1.0);
}

TEST(CliGate, CompressGateBadUsageExitsTwoBeforeWork) {
    test::TempDir dir;
    const std::string out = (dir / "o.onnx").string();
    for (const std::string& bad : {std::string(" --max-drop 1"), " --max-drop 1 --class-axis 2" + kEvalSet,
                                  " --max-drop 1 --mask-threshold nan" + kEvalSet, " --data " + test::kFashionTestImages + " --labels " + test::kFashionTestLabels,
                                  " --max-drop -1" + kEvalSet, " --max-drop 1 --dry-run" + kEvalSet,
                                  " --max-drop 1 --data " + (dir / "none").string() + " --labels " + test::kFashionTestLabels}) {
        SCOPED_TRACE(bad);
        const auto r = run_qcp("compress " + kModel + " -o " + out + kOneLayer + bad);
        EXPECT_EQ(r.code, 2);
        EXPECT_EQ(test::line_count(r.err), 1u) << r.err;
        EXPECT_FALSE(std::filesystem::exists(out));
    }
}

TEST(CliGate, CompressWithoutLabelsGatesOnTop1Agreement) {
    test::TempDir dir;
    const auto out = dir / "o.onnx";
    const auto r = run_qcp("compress " + kModel + " -o " + out.string() + kOneLayer + " --json --max-drop 5 --count 200 --data " +
                           test::kFashionTestImages);
    ASSERT_EQ(r.code, 0) << r.err;
    const auto g = nlohmann::json::parse(r.out)["gate"];
    EXPECT_EQ(g["metric"].get<std::string>(), "top1_agreement");
    EXPECT_EQ(g["before"].get<double>(), 100.0);
    EXPECT_NEAR(g["drop"].get<double>(), 100.0 - g["after"].get<double>(), 1e-9);
    EXPECT_TRUE(g["passed"].get<bool>());
    EXPECT_FALSE(g.contains("top1_before"));
    const auto t = run_qcp("compress " + kModel + " -o " + (dir / "t.onnx").string() + kOneLayer + " --max-drop 5 --count 200 --data " +
                           test::kFashionTestImages);
    EXPECT_EQ(t.code, 0) << t.err;
    EXPECT_NE(t.out.find("top-1 agreement of "), std::string::npos) << t.out;
}

TEST(CliGate, FidelityOptionsThatCannotApplyExitTwoWithOneLine) {
    const std::string ref = " --ref " + kModel + " --data " + test::kFashionTestImages + " --count 20";
    for (const std::string& bad : {std::string(" --class-axis 2"), std::string(" --mask-threshold nan"), std::string(" --ctc-blank -1")}) {
        for (const std::string& cmd : {"eval " + kModel + ref, "compare " + kModel + " " + kModel + " --data " + test::kFashionTestImages}) {
            SCOPED_TRACE(cmd + bad);
            const auto r = run_qcp(cmd + bad);
            EXPECT_EQ(r.code, 2);
            EXPECT_EQ(test::line_count(r.err), 1u) << r.err;
            EXPECT_TRUE(r.out.empty()) << r.out;
        }
    }
}

TEST(CliGate, EvalMinTop1) {
    const auto pass = run_qcp("eval " + kModel + kEvalSet + " --min-top1 50 --json");
    ASSERT_EQ(pass.code, 0) << pass.err;
    const auto g = nlohmann::json::parse(pass.out)["gate"];
    EXPECT_TRUE(g["passed"].get<bool>());
    EXPECT_EQ(g["min_top1"].get<double>(), 50.0);
    EXPECT_GT(g["top1"].get<double>(), 50.0);

    const auto fail = run_qcp("eval " + kModel + kEvalSet + " --min-top1 99.9");
    EXPECT_EQ(fail.code, 1);
    EXPECT_EQ(test::line_count(fail.err), 1u) << fail.err;
    EXPECT_NE(fail.err.find("below --min-top1"), std::string::npos) << fail.err;
    EXPECT_NE(fail.out.find("FAILED"), std::string::npos);

    EXPECT_EQ(run_qcp("eval " + kModel + kEvalSet + " --min-top1 150").code, 2);
    EXPECT_EQ(run_qcp("eval " + kModel + " --data " + test::kFashionTestImages + " --count 10 --min-top1 50").code, 2);
}

// --target-drop: the target ratio searched against the gate; the largest ratio that passed is
// kept, every other try's file removed.
TEST(CliGate, TargetDropKeepsTheLargestRatioWithinTheDrop) {
    test::TempDir dir;
    const auto out = dir / "o.onnx";
    const auto r = run_qcp("compress " + kModel + " -o " + out.string() + " --method rtn --bits auto --json --target-drop 1 --target-drop-tries 5" +
                           kEvalSet);
    ASSERT_EQ(r.code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    const auto& s = j["target_drop"];
    ASSERT_TRUE(s["passed"].get<bool>());
    const double chosen = s["chosen_ratio"].get<double>();
    ASSERT_GE(s["tries"].size(), 2u);
    EXPECT_LE(s["tries"].size(), 5u);
    EXPECT_EQ(s["tries"][0]["ratio"].get<double>(), 2.0);
    bool seen = false;
    for (const auto& t : s["tries"]) {
        if (t.contains("error")) continue;
        EXPECT_EQ(t["passed"].get<bool>(), t["drop"].get<double>() <= 1.0 + 1e-9) << t;
        if (t["passed"].get<bool>()) {
            EXPECT_LE(t["ratio"].get<double>(), chosen) << t;  // the largest that passed
        }
        if (t["ratio"].get<double>() == chosen) seen = true;
    }
    EXPECT_TRUE(seen);
    EXPECT_GT(chosen, 2.0);  // 4-bit rtn of this network stays within a point
    // the kept file is the chosen try's: its ratio met, its gate within the drop
    EXPECT_GE(j["totals"]["compression_ratio"].get<double>(), chosen * (1 - 1e-9));
    EXPECT_TRUE(j["gate"]["passed"].get<bool>());
    EXPECT_LE(j["gate"]["drop"].get<double>(), 1.0 + 1e-9);
    EXPECT_TRUE(std::filesystem::exists(out));
    EXPECT_EQ(j["output"]["path"].get<std::string>(), out.string());  // not the try's file
    const auto files = std::distance(std::filesystem::directory_iterator(dir.path()), std::filesystem::directory_iterator());
    EXPECT_EQ(files, 1);  // no try left behind
    // the kept model evaluates as the gate said
    const auto e = run_qcp("eval " + out.string() + kEvalSet + " --json");
    ASSERT_EQ(e.code, 0) << e.err;
    EXPECT_NEAR(nlohmann::json::parse(e.out)["top1"].get<double>() * 100, j["gate"]["top1_after"].get<double>(), 1e-6);
    // and the original as its top-1 before (the original ran once for all tries)
    const auto before = run_qcp("eval " + kModel + kEvalSet + " --json");
    ASSERT_EQ(before.code, 0) << before.err;
    EXPECT_NEAR(nlohmann::json::parse(before.out)["top1"].get<double>() * 100, j["gate"]["top1_before"].get<double>(), 1e-6);
}

TEST(CliGate, TargetDropBadUsageExitsTwoBeforeWork) {
    test::TempDir dir;
    const std::string out = (dir / "o.onnx").string();
    for (const std::string& bad : {std::string(" --target-drop 1"), " --target-drop 1 --target-ratio 4" + kEvalSet,
                                  " --target-drop 1 --max-drop 1" + kEvalSet, " --target-drop -1" + kEvalSet,
                                  " --target-drop 1 --dry-run" + kEvalSet, " --target-drop 1 --external-data" + kEvalSet,
                                  " --target-drop 1 --target-drop-tries 0" + kEvalSet}) {
        SCOPED_TRACE(bad);
        const auto r = run_qcp("compress " + kModel + " -o " + out + " --method rtn" + bad);
        EXPECT_EQ(r.code, 2);
        EXPECT_EQ(test::line_count(r.err), 1u) << r.err;
        EXPECT_FALSE(std::filesystem::exists(out));
    }
}

}  // namespace
}  // namespace qcp
