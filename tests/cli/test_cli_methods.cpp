// `qcp compress` methods and planning as a user runs them: pq, the output objective, and the
// global budget (--target-*), on the shipped models with a small random calibration set.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <random>
#include <regex>

#include <nlohmann/json.hpp>

#include "qcp/core/npy.hpp"
#include "cli_util.hpp"

namespace qcp {
namespace {

constexpr double kRatioTolerance = 0.02;  // the "target met within 2%"

using Result = test::CliResult;
Result qcp_run(const std::string& args) { return test::run_qcp(args); }

// n random 28×28 images in [0, 1]: unlabelled calibration data of the right shape.
std::string write_calib(const test::TempDir& dir, int64_t n) {
    std::mt19937 gen(5);
    std::uniform_real_distribution<float> u(0.f, 1.f);
    std::vector<float> v(static_cast<size_t>(n * 28 * 28));
    for (auto& x : v) x = u(gen) * u(gen);
    const auto path = dir / "calib.npy";
    npy::save(path, Tensor::from_floats({n, 1, 28, 28}, v));
    return path.string();
}

const std::string kMlp = test::models_dir() + "/fmnist_mlp.onnx";
const std::string kResnet = test::models_dir() + "/fmnist_resnet.onnx";

TEST(CliMethods, PqWritesGatherCodebooksDeterministically) {
    test::TempDir dir;
    const std::string calib = write_calib(dir, 64);
    std::string bytes[2];
    for (int threads : {1, 2}) {
        const auto out = dir / ("pq" + std::to_string(threads) + ".onnx");
        const Result r = qcp_run("compress " + kMlp + " -o " + out.string() + " --method pq --pq-iters 5 --calib " + calib +
                                 " --calib-count 64 --json --threads " + std::to_string(threads));
        ASSERT_EQ(r.code, 0) << r.err;
        const auto j = nlohmann::json::parse(r.out);
        int pq_layers = 0;
        for (const auto& l : j["layers"]) {
            if (l["method"] != "pq") continue;
            ++pq_layers;
            EXPECT_EQ(l["subvector"], 4);
            EXPECT_LE(l["centroids"].get<int>(), 256);
            EXPECT_LT(l["weight_bits_after"].get<int64_t>(), l["weight_bits_before"].get<int64_t>());
            EXPECT_LT(l["rel_error"].get<double>(), 1.0);
        }
        EXPECT_GE(pq_layers, 2);
        EXPECT_GT(j["totals"]["compression_ratio"].get<double>(), 6.0);  // uint8 per 4 weights, fp16 codebook
        bytes[threads - 1] = test::read_text(out);
        EXPECT_NE(bytes[threads - 1].find("Gather"), std::string::npos);
        EXPECT_EQ(qcp_run("inspect " + out.string()).code, 0);
    }
    EXPECT_EQ(bytes[0], bytes[1]) << "pq output differs between 1 and 2 threads";
}

TEST(CliMethods, OutputObjectiveNeedsCalibrationAndIsReported) {
    test::TempDir dir;
    const std::string out = (dir / "o.onnx").string();
    const Result no_calib = qcp_run("compress " + kResnet + " -o " + out + " --objective output --rank 8");
    EXPECT_EQ(no_calib.code, 2);
    EXPECT_NE(no_calib.err.find("calib"), std::string::npos) << no_calib.err;
    EXPECT_EQ(qcp_run("compress " + kResnet + " -o " + out + " --objective outputs --rank 8").code, 2);

    const std::string calib = write_calib(dir, 32);
    const Result r = qcp_run("compress " + kResnet + " -o " + out + " --objective output --calib " + calib +
                             " --calib-count 32 --json --exclude '^/layer[23]' --exclude conv2 --exclude down --rank 8");
    ASSERT_EQ(r.code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["settings"]["objective"], "output");
    int solved = 0;
    for (const auto& l : j["layers"])
        if (l["method"] == "admm-cp") {
            ++solved;
            EXPECT_EQ(l["objective"], "output");
            EXPECT_GT(l["output_rel_error"].get<double>(), 0.0);
            EXPECT_LT(l["output_rel_error"].get<double>(), 1.0);
        }
    EXPECT_EQ(solved, 1);
}

TEST(CliMethods, TargetRatioIsMetWithinTwoPercent) {
    test::TempDir dir;
    for (const double target : {6.0, 20.0}) {
        SCOPED_TRACE(target);
        const Result r = qcp_run("compress " + kMlp + " --dry-run --json --target-ratio " + std::to_string(target));
        ASSERT_EQ(r.code, 0) << r.err;
        const auto j = nlohmann::json::parse(r.out);
        const auto& b = j["budget"];
        ASSERT_TRUE(b.is_object()) << r.out;
        EXPECT_EQ(b["target"], "ratio");
        EXPECT_NEAR(b["achieved"].get<double>(), target, kRatioTolerance * target);
        EXPECT_GE(b["achieved"].get<double>(), target * (1 - 1e-9));  // never over the budget
    }
}

// --target-size is a ceiling on the written file: the nodes and names a rewrite adds are not in
// the budget's per-layer counts, so the run plans again when the serialized model comes out over.
TEST(CliMethods, TargetSizeIsACeilingOnTheWrittenFile) {
    test::TempDir dir;
    const std::string mobilenet = test::models_dir() + "/fmnist_mobilenet.onnx";
    const int64_t target = 100000;
    const auto out = dir / "m.onnx";
    const Result r = qcp_run("compress " + mobilenet + " --method admm-cp --json --target-size " + std::to_string(target) +
                             " -o " + out.string());
    ASSERT_EQ(r.code, 0) << r.err;
    const auto bytes = static_cast<int64_t>(std::filesystem::file_size(out));
    EXPECT_LE(bytes, target);
    EXPECT_GE(bytes, target * 97 / 100);  // and close to it
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["budget"]["target"], "size");
    EXPECT_EQ(j["budget"]["achieved"].get<int64_t>(), bytes);
}

// The measured sensitivities are cached beside the curves (a --target-drop search re-plans per try).
TEST(CliMethods, BudgetCacheKeepsTheSensitivities) {
    test::TempDir dir;
    const std::string cache = (dir / "cache").string();
    const std::string run = "compress " + kMlp + " --dry-run --json --method mixed --target-ratio 8 --calib " + test::kFashionTestImages +
                            " --calib-count 48 --cache " + cache;
    const Result first = qcp_run("-v " + run);
    ASSERT_EQ(first.code, 0) << first.err;
    EXPECT_NE(first.err.find("network-output sensitivity of"), std::string::npos) << first.err;
    std::size_t files = 0;
    for (auto it = std::filesystem::directory_iterator(cache); it != std::filesystem::directory_iterator(); ++it) ++files;
    EXPECT_EQ(files, 2u);  // curves, sensitivities
    const Result second = qcp_run("-v " + run);
    ASSERT_EQ(second.code, 0) << second.err;
    EXPECT_NE(second.err.find("sensitivity-v2"), std::string::npos) << second.err;
    EXPECT_EQ(second.err.find("network-output sensitivity of"), std::string::npos) << second.err;  // not measured again
    auto strip = [](const std::string& s) { return std::regex_replace(s, std::regex("\"seconds\": [0-9.e+-]+"), ""); };
    EXPECT_EQ(strip(first.out), strip(second.out));
    const auto layers = nlohmann::json::parse(second.out)["layers"];
    int with = 0;
    for (const auto& l : layers) with += l.contains("sensitivity") && l["sensitivity"].is_number() && l["sensitivity"].get<double>() > 0;
    EXPECT_GT(with, 0);
}

TEST(CliMethods, BudgetCacheIsReusedAndBadTargetsRefused) {
    test::TempDir dir;
    const std::string cache = (dir / "cache").string();
    const Result first = qcp_run("compress " + kMlp + " --dry-run --json --bits auto --target-ratio 12 --cache " + cache);
    ASSERT_EQ(first.code, 0) << first.err;
    std::size_t files = 0;
    for (auto it = std::filesystem::directory_iterator(cache); it != std::filesystem::directory_iterator(); ++it) ++files;
    EXPECT_EQ(files, 1u);
    const Result second = qcp_run("-v compress " + kMlp + " --dry-run --json --bits auto --target-ratio 12 --cache " + cache);
    ASSERT_EQ(second.code, 0) << second.err;
    EXPECT_NE(second.err.find("damage curves from"), std::string::npos) << second.err;
    auto strip = [](const std::string& s) { return std::regex_replace(s, std::regex("\"seconds\": [0-9.e+-]+"), ""); };
    EXPECT_EQ(strip(first.out), strip(second.out));
    for (const std::string bad : {"--bits auto", "--target-ratio 0.5", "--target-ratio 4 --target-macs 0.5", "--target-macs 2",
                                  "--target-ratio 4 --rank 3", "--target-ratio 1e9", "--method mixed",
                                  "--method mixed --target-ratio 8 --sensitivity", "--target-ratio 8 --sensitivity --no-sensitivity",
                                  "--layer fc1=method=mixed"}) {
        SCOPED_TRACE(bad);
        const Result r = qcp_run("compress " + kMlp + " --dry-run " + bad);
        EXPECT_EQ(r.code, 2);
        EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    }
}

}  // namespace
}  // namespace qcp
