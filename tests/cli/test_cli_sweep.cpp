// `qcp sweep` from the command line: settings are checked before any work with a one-line error,
// a small sweep writes its files, and an existing result needs --force.
#include <gtest/gtest.h>

#include <filesystem>

#include "cli_util.hpp"

namespace qcp {
namespace {

using test::run_qcp;

const std::string kMlp = test::models_dir() + "/fmnist_mlp.onnx";
const std::string kEvalSet = " --data " + test::kFashionTestImages + " --labels " + test::kFashionTestLabels + " --count 200";

TEST(CliSweep, BadSettingsExitTwoWithOneLine) {
    test::TempDir dir;
    const std::string out = " --out " + (dir / "s").string();
    for (const std::string bad : {"--methods rtn,magic", "--methods gptq", "--bits 4,9", "--rank-ratios 0.5"}) {
        SCOPED_TRACE(bad);
        const auto r = run_qcp("sweep " + kMlp + kEvalSet + out + " " + bad);
        EXPECT_EQ(r.code, 2);
        EXPECT_EQ(test::line_count(r.err), 1u) << r.err;
        EXPECT_FALSE(std::filesystem::exists(dir / "s" / "results.csv"));
    }
    EXPECT_NE(run_qcp("sweep " + kMlp + kEvalSet + out + " --methods magic").err.find("--methods: magic not in {admm-cp,"), std::string::npos);
    EXPECT_EQ(run_qcp("sweep " + kMlp + kEvalSet + out + " --bits x").code, 2);  // CLI11 adds a usage hint line
    EXPECT_EQ(run_qcp("sweep " + kMlp + kEvalSet).code, 2);  // no --out
}

TEST(CliSweep, SmallSweepWritesFilesAndNeedsForceToRepeat) {
    test::TempDir dir;
    const std::string args = "sweep " + kMlp + kEvalSet + " --methods rtn --bits 8,4 --out " + (dir / "s").string();
    const auto r = run_qcp(args);
    ASSERT_EQ(r.code, 0) << r.err;
    for (const char* f : {"results.csv", "results.json", "results.md", "pareto.svg", "pareto_macs.svg", "models/rtn-b8.onnx",
                          "models/rtn-b4.onnx"})
        EXPECT_TRUE(std::filesystem::exists(dir / "s" / f)) << f;
    EXPECT_NE(r.out.find("rtn-b8"), std::string::npos);
    EXPECT_NE(r.out.find("Pareto front (file size):"), std::string::npos);
    const auto again = run_qcp(args);
    EXPECT_EQ(again.code, 2);
    EXPECT_NE(again.err.find("--force"), std::string::npos) << again.err;
    EXPECT_EQ(run_qcp(args + " --force").code, 0);

    // --replot redraws the charts from results.json alone
    const std::string svg = test::read_text(dir / "s/pareto.svg");
    std::filesystem::remove(dir / "s/pareto.svg");
    const auto replot = run_qcp("sweep --replot --out " + (dir / "s").string());
    EXPECT_EQ(replot.code, 0) << replot.err;
    EXPECT_EQ(test::read_text(dir / "s/pareto.svg"), svg);
    EXPECT_EQ(run_qcp("sweep --replot --out " + (dir / "none").string()).code, 2);
}

}  // namespace
}  // namespace qcp
