// Same inputs and seed give byte-identical ONNX and JSON (minus timing fields) across reruns
// and across --threads 1 and 2, for every compression method, calibration and check included.
#include <gtest/gtest.h>

#include <regex>

#include "cli_util.hpp"

namespace qcp {
namespace {

struct MethodRun {
    const char* method;
    const char* args;  // method-specific settings that keep the run short
};

// One line per method: adding a method to the determinism guarantee is one line here.
const MethodRun kMethods[] = {
    {"admm-cp", "--rank 8"},
    {"cp-als", "--rank 8"},
    {"rtn", "--bits 4 --asymmetric"},
    {"gptq", "--bits 4 --act-order"},
    {"pq", "--centroids 64 --pq-iters 10"},
    {"admm-cp", "--target-ratio 12 --bits auto --objective output"},
    {"mixed", "--target-ratio 8"},  // every method's candidates, the sensitivity probe, per-layer solves
    {"rtn", "--bits 8 --activations 8 --act-calib mse"},
    {"admm-cp", "--rank 8 --activations 8 --act-calib entropy"},
};

void PrintTo(const MethodRun& m, std::ostream* os) { *os << m.method << " " << m.args; }

constexpr uint32_t kCalibSamples = 48;

std::string without_timings(const std::string& json) {
    return std::regex_replace(json, std::regex("\"seconds\": [0-9.e+-]+"), "\"seconds\": 0");
}

class Determinism : public ::testing::TestWithParam<MethodRun> {};

TEST_P(Determinism, ByteIdenticalAcrossRerunsAndThreadCounts) {
    const MethodRun& m = GetParam();
    test::TempDir dir;
    test::write_bytes(dir / "calib.idx", test::random_idx_images(kCalibSamples, 7));
    const std::string out = (dir / "out.onnx").string(), report = (dir / "r.json").string();
    std::string first_model, first_report;
    for (const int threads : {1, 2, 2}) {
        SCOPED_TRACE("threads " + std::to_string(threads));
        const test::CliResult r = test::run_cli(
            "compress " + test::models_dir() + "/fmnist_mlp.onnx -o " + out + " --force --method " + m.method + " " + m.args +
            " --calib " + (dir / "calib.idx").string() + " --batch 16 --seed 3 --json --report " + report +
            " --threads " + std::to_string(threads));
        ASSERT_EQ(r.code, 0) << r.err;
        const std::string model = test::read_text(out), json = without_timings(test::read_text(report));
        ASSERT_NE(json.find("\"top1_agreement\""), std::string::npos);  // the check ran
        EXPECT_EQ(without_timings(r.out), json);
        if (first_model.empty()) {
            first_model = model;
            first_report = json;
            continue;
        }
        EXPECT_TRUE(model == first_model) << "compressed model differs from the --threads 1 run";
        EXPECT_EQ(json, first_report);
    }
}

INSTANTIATE_TEST_SUITE_P(Methods, Determinism, ::testing::ValuesIn(kMethods),
                         [](const ::testing::TestParamInfo<MethodRun>& info) {
                             return std::regex_replace(std::string(info.param.method) + "_" + std::to_string(info.index),
                                                       std::regex("[^A-Za-z0-9]"), "_");
                         });

}  // namespace
}  // namespace qcp
