// `qcp compress` as a user runs it: bad settings are refused before any work, outputs are
// written atomically and never over the input, and reruns are byte-identical at any thread count.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <regex>
#include <utility>
#include <vector>

#include "cli_util.hpp"

namespace qcp {
namespace {

using Result = test::CliResult;
Result qcp_run(const std::string& args) { return test::run_qcp(args); }

size_t lines(const std::string& s) { return static_cast<size_t>(std::count(s.begin(), s.end(), '\n')); }

const std::string kModel = test::models_dir() + "/fmnist_resnet.onnx";
// one small layer only, so the solve takes well under a second
const std::string kOneLayer = " --exclude '^/layer[23]' --exclude 'conv2' --exclude down --rank 8";

TEST(CliCompress, BadSettingsExitTwoBeforeWork) {
    test::TempDir dir;
    const std::string out = (dir / "o.onnx").string();
    for (const std::string bad : {"--bits 1", "--bits 9", "--rank 0", "--rank-ratio 0.5", "--method magic",
                                  "--layer '([=rank=3'", "--layer 'conv=rank=x'", "--layer 'conv=colour=red'",
                                  "--granularity row", "--format int3", "--rank 4 --rank-ratio 2"}) {
        SCOPED_TRACE(bad);
        const Result r = qcp_run("compress " + kModel + " -o " + out + " " + bad);
        EXPECT_EQ(r.code, 2);
        EXPECT_EQ(lines(r.err), 1u) << r.err;
        EXPECT_FALSE(std::filesystem::exists(out));
    }
    EXPECT_EQ(qcp_run("compress " + kModel).code, 2);  // no -o
}

TEST(CliCompress, BadActivationSettingsExitTwoWithoutOutput) {
    test::TempDir dir;
    const std::string out = (dir / "o.onnx").string();
    const std::string calib = " --calib " + test::kFashionTestImages + " --calib-count 8";
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"--method rtn --activations 8", "--activations needs calibration data (--calib)"},
        {"--method rtn --activations 8 --format float" + calib, "--activations 8 needs --format qdq"},
        {"--method rtn --activations 8 --format packed" + calib, "--activations 8 needs --format qdq"},
        {"--method rtn --activations 4" + calib, "--activations: 4 not in {8,none}"},
        {"--method rtn --activations 16" + calib, "--activations: 16 not in {8,none}"},
        {"--method rtn --activations 8 --asymmetric" + calib, "needs symmetric weights"},
        {"--method rtn --activations 8 --act-calib kl" + calib, "--act-calib: kl not in {minmax,percentile,mse,entropy}"},
        {"--method rtn --activations 8 --act-calib mse --act-percentile 99" + calib, "--act-percentile needs --act-calib percentile"},
        {"--method rtn --activations 8 --act-calib percentile --act-percentile 20" + calib, "--act-percentile must be in (50, 100]"},
        {"--method rtn --activations 8 --act-percentile 99" + calib, "--act-percentile needs --act-calib percentile"},
        {"--method rtn --act-calib minmax" + calib, "need --activations 8"},
    };
    for (const auto& [args, needle] : cases) {
        SCOPED_TRACE(args);
        const Result r = qcp_run("compress " + kModel + " -o " + out + " " + args);
        EXPECT_EQ(r.code, 2);
        EXPECT_EQ(lines(r.err), 1u) << r.err;
        EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
        EXPECT_FALSE(std::filesystem::exists(out));
    }
}

// ORT's u8s8 kernels on x86 without VNNI saturate on int8 weights beyond [-64, 63]: 8-bit weights
// under --activations 8 are warned about, 7-bit ones are not (docs/RESULTS.md).
TEST(CliCompress, ActivationsWarnAboutEightBitWeightsOnly) {
    test::TempDir dir;
    const std::string calib = " --calib " + test::kFashionTestImages + " --calib-count 8";
    const std::string warning = "can saturate on weights beyond [-64, 63]";
    for (const int bits : {8, 7}) {
        SCOPED_TRACE(bits);
        const std::string out = (dir / ("w" + std::to_string(bits) + ".onnx")).string();
        const Result r = qcp_run("compress " + kModel + " -o " + out + " --method rtn --activations 8 --bits " + std::to_string(bits) + calib);
        ASSERT_EQ(r.code, 0) << r.err;
        EXPECT_EQ(r.err.find(warning) != std::string::npos, bits == 8) << r.err;
    }
}

TEST(CliCompress, NeverOverwritesInputOrExistingOutput) {
    test::TempDir dir;
    const auto copy = dir / "m.onnx";
    std::filesystem::copy_file(kModel, copy);
    const std::string before = test::read_text(copy);
    Result same = qcp_run("compress " + copy.string() + " -o " + copy.string() + " --force" + kOneLayer);
    EXPECT_EQ(same.code, 2);
    EXPECT_NE(same.err.find("input"), std::string::npos) << same.err;
    EXPECT_EQ(test::read_text(copy), before);

    const auto existing = dir / "exists.onnx";
    test::write_bytes(existing, "keep me");
    Result exists = qcp_run("compress " + copy.string() + " -o " + existing.string() + kOneLayer);
    EXPECT_EQ(exists.code, 2);
    EXPECT_EQ(test::read_text(existing), "keep me");
    std::size_t entries = 0;
    for (auto it = std::filesystem::directory_iterator(dir.path()); it != std::filesystem::directory_iterator(); ++it) ++entries;
    EXPECT_EQ(entries, 2u);  // no temporary left behind
}

TEST(CliCompress, DryRunWritesNothing) {
    test::TempDir dir;
    const Result r = qcp_run("compress " + kModel + " -o " + (dir / "o.onnx").string() + " --dry-run --rank-ratio 3");
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("planned"), std::string::npos);
    EXPECT_NE(r.out.find("stem conv"), std::string::npos);
    EXPECT_FALSE(std::filesystem::exists(dir / "o.onnx"));
}

std::string without_timings(const std::string& json) {
    return std::regex_replace(json, std::regex("\"seconds\": [0-9.e+-]+"), "\"seconds\": 0");
}

TEST(CliCompress, ReportAndByteIdenticalReruns) {
    test::TempDir dir;
    std::string outputs[2], reports[2];
    for (int threads : {1, 2}) {
        const auto out = dir / ("t" + std::to_string(threads) + ".onnx");
        const auto rep = dir / ("t" + std::to_string(threads) + ".json");
        const Result r = qcp_run("compress " + kModel + " -o " + out.string() + " --report " + rep.string() +
                                 " --threads " + std::to_string(threads) + " --json" + kOneLayer);
        ASSERT_EQ(r.code, 0) << r.err;
        outputs[threads - 1] = test::read_text(out);
        reports[threads - 1] = test::read_text(rep);
        EXPECT_EQ(without_timings(r.out), without_timings(reports[threads - 1]));
        for (const char* field : {"\"qcp_version\"", "\"layers\"", "\"weight_bits_after\"", "\"compression_ratio\"",
                                  "\"rel_error\"", "\"sha256\"", "\"check\""})
            EXPECT_NE(reports[threads - 1].find(field), std::string::npos) << field;
        // the written model loads and inspects
        EXPECT_EQ(qcp_run("inspect " + out.string()).code, 0);
    }
    EXPECT_EQ(outputs[0], outputs[1]) << "compressed model differs between 1 and 2 threads";
    const std::string a = std::regex_replace(without_timings(reports[0]), std::regex("t1\\.onnx"), "tN.onnx");
    const std::string b = std::regex_replace(without_timings(reports[1]), std::regex("t2\\.onnx"), "tN.onnx");
    EXPECT_EQ(a, b);
}

// The PP-OCRv4-like fixtures (opset 9 rec, 11 det: weights as Constant nodes; tools/fixtures/gen_packed.py).
std::string fixture(int opset) { return test::models_dir() + "/../tests/rewrite/fixtures/packed_opset" + std::to_string(opset) + ".onnx"; }

TEST(CliCompress, PackedByDefaultAtEveryOpsetQdqOnlyFrom13) {
    test::TempDir dir;
    for (int opset : {7, 9, 11, 13}) {
        SCOPED_TRACE("opset " + std::to_string(opset));
        const std::string out = (dir / ("o" + std::to_string(opset) + ".onnx")).string();
        const Result r = qcp_run("compress " + fixture(opset) + " -o " + out + " --method rtn --bits 4 --threads 1 --json");
        ASSERT_EQ(r.code, 0) << r.err;
        for (const char* field : {"\"format\": \"packed\"", "\"storage\": \"packed-4\"", "\"runtime_weight_bytes\""})
            EXPECT_NE(r.out.find(field), std::string::npos) << field;
        EXPECT_LT(std::filesystem::file_size(out), std::filesystem::file_size(fixture(opset)));
        EXPECT_EQ(qcp_run("eval " + out + " --data " + test::models_dir() + "/../tests/rewrite/fixtures/packed_input.npy").code, 0);
        const Result pq = qcp_run("compress " + fixture(opset) + " -o " + out + " --force --method pq --centroids 16 --pq-iters 2 --threads 1");
        ASSERT_EQ(pq.code, 0) << pq.err;
        EXPECT_NE(pq.out.find("pq-packed-4"), std::string::npos) << pq.out;
        for (const std::string format : {"packed", "float", "auto"})
            EXPECT_EQ(qcp_run("compress " + fixture(opset) + " -o " + out + " --force --method rtn --format " + format).code, 0) << format;
        const Result qdq = qcp_run("compress " + fixture(opset) + " -o " + out + " --force --method rtn --format qdq");
        EXPECT_EQ(qdq.code, opset >= 13 ? 0 : 2) << qdq.err;
        if (opset < 13) {
            EXPECT_EQ(lines(qdq.err), 1u) << qdq.err;
        }
    }
}

}  // namespace
}  // namespace qcp
