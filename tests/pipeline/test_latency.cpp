// compress --measure-latency: the report's latency fields are present and consistent, the written
// model is the same bytes with and without the flag, regions fold their weight decoders, and bad
// values are refused. No assertion on any time's size: they are machine noise in a unit test.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <regex>

#include "cli/cli_util.hpp"
#include "qcp/core/error.hpp"
#include "qcp/engine/fold.hpp"
#include "qcp/onnx_io/onnx_io.hpp"
#include "qcp/pipeline/compress.hpp"
#include "qcp/pipeline/latency.hpp"
#include "test_util.hpp"

namespace qcp {
namespace {

constexpr int kReps = 3;
constexpr double kRatioTol = 1e-12;   // ratio is after / before of the same doubles
constexpr double kShareTol = 1e-9;    // shares are ms / Σ ms

std::string resnet() { return test::models_dir() + "/fmnist_resnet.onnx"; }
std::string mlp() { return test::models_dir() + "/fmnist_mlp.onnx"; }

// Two layers of fmnist_resnet factorized: a 3×3 conv (1×1 → depthwise → 1×1) and a 1×1 downsample
// (1×1 → 1×1); the rest excluded so the test takes well under a second.
// With `measure`, timed in kReps rounds on batch 2 (latency settings without measure_latency are refused).
CompressOptions resnet_cp(const std::filesystem::path& out, bool measure) {
    CompressOptions o;
    o.model = resnet();
    o.output = out;
    o.method = "admm-cp";
    o.rank = 8;
    o.excludes = {"^/(layer1|layer2/conv|layer3/conv1)"};
    o.threads = 1;
    o.measure_latency = measure;
    if (measure) {
        o.latency_reps = kReps;
        o.latency_batch = 2;
    }
    return o;
}

void expect_consistent(const nlohmann::ordered_json& lat, int reps) {
    ASSERT_TRUE(lat.is_object());
    const double before = lat["before_ms"].get<double>(), after = lat["after_ms"].get<double>();
    EXPECT_GT(before, 0);
    EXPECT_GT(after, 0);
    EXPECT_NEAR(lat["ratio"].get<double>(), after / before, kRatioTol * after / before);
    EXPECT_EQ(lat["reps"].get<int>(), reps);
    EXPECT_GT(lat["before_min_ms"].get<double>(), 0);
    EXPECT_LE(lat["before_min_ms"].get<double>(), before);
    EXPECT_GT(lat["after_min_ms"].get<double>(), 0);
    EXPECT_LE(lat["after_min_ms"].get<double>(), after);
}

TEST(MeasureLatency, FieldsPresentAndConsistent) {
    test::TempDir dir;
    CompressOptions o = resnet_cp(dir / "cp.onnx", true);
    const nlohmann::ordered_json r = compress_to_json(compress(o));
    EXPECT_EQ(r["settings"]["measure_latency"], true);
    EXPECT_EQ(r["settings"]["latency_reps"], kReps);
    double sum_before = 0, sum_after = 0;
    int timed = 0;
    for (const auto& l : r["layers"]) {
        if (l["status"] == "skipped") {
            EXPECT_TRUE(l["latency"].is_null()) << l["name"];
            continue;
        }
        SCOPED_TRACE(l["name"].get<std::string>());
        const auto& lat = l["latency"];
        expect_consistent(lat, kReps);
        EXPECT_EQ(lat["input_shape"][0], 2);  // --latency-batch 2 on the random input (no --calib)
        sum_before += lat["before_ms"].get<double>();
        sum_after += lat["after_ms"].get<double>();
        ++timed;
        const bool kxk = l["weight_shape"][2].get<int64_t>() > 1;
        const std::vector<std::string> names = kxk ? std::vector<std::string>{"expansion", "depthwise", "projection"}
                                                   : std::vector<std::string>{"expansion", "projection"};
        ASSERT_TRUE(lat["stages"].is_object());
        ASSERT_EQ(lat["stages"].size(), names.size());
        double share = 0;
        for (const auto& n : names) {
            ASSERT_TRUE(lat["stages"].contains(n)) << n;
            EXPECT_GT(lat["stages"][n]["ms"].get<double>(), 0);
            share += lat["stages"][n]["share"].get<double>();
        }
        EXPECT_NEAR(share, 1.0, kShareTol);
    }
    EXPECT_EQ(timed, 2);
    const auto& t = r["totals"]["latency"];
    ASSERT_TRUE(t.is_object());
    EXPECT_EQ(t["layers"], timed);
    EXPECT_EQ(t["threads"], 1);
    EXPECT_NEAR(t["layers_before_ms"].get<double>(), sum_before, 1e-9 * sum_before);
    EXPECT_NEAR(t["layers_after_ms"].get<double>(), sum_after, 1e-9 * sum_after);
    expect_consistent(t["model"], kReps);
    EXPECT_EQ(t["model"]["input_shape"], (std::vector<int64_t>{2, 1, 28, 28}));
}

TEST(MeasureLatency, OffByDefault) {
    test::TempDir dir;
    const nlohmann::ordered_json r = compress_to_json(compress(resnet_cp(dir / "cp.onnx", false)));
    EXPECT_TRUE(r["totals"]["latency"].is_null());
    EXPECT_TRUE(r["settings"]["latency_reps"].is_null());
    for (const auto& l : r["layers"]) EXPECT_TRUE(l["latency"].is_null());
}

// Gemm chains (two-layer FC) have two stages; quantized layers (rtn, qdq or packed) none; a qdq
// layer keeps its DequantizeLinear in the timed region, a packed one folds its decoder away.
TEST(MeasureLatency, FcChainAndQuantizedLayers) {
    test::TempDir dir;
    for (const char* method : {"admm-cp", "rtn"}) {
        SCOPED_TRACE(method);
        CompressOptions o;
        o.model = mlp();
        o.output = dir / (std::string(method) + ".onnx");
        o.method = method;
        if (std::string(method) == "admm-cp") o.rank = 8;
        o.threads = 1;
        o.measure_latency = true;
        o.latency_reps = kReps;
        const nlohmann::ordered_json r = compress_to_json(compress(o));
        for (const auto& l : r["layers"]) {
            if (l["status"] == "skipped") continue;
            expect_consistent(l["latency"], kReps);
            if (std::string(method) == "rtn") EXPECT_TRUE(l["latency"]["stages"].is_null());
            else EXPECT_EQ(l["latency"]["stages"].size(), 2u);
        }
    }
}

// Same inputs and seed, with and without the flag: the same file, at 1 and 2 threads.
TEST(MeasureLatency, OutputByteIdenticalWithAndWithoutFlag) {
    test::TempDir dir;
    std::string first;
    for (const int threads : {1, 2})
        for (const bool measure : {false, true}) {
            SCOPED_TRACE(std::to_string(threads) + (measure ? " with" : " without"));
            const auto out = dir / ("o" + std::to_string(threads) + (measure ? "m" : "") + ".onnx");
            CompressOptions o = resnet_cp(out, measure);
            o.threads = threads;
            compress(o);
            const std::string bytes = test::read_text(out);
            if (first.empty()) first = bytes;
            else EXPECT_TRUE(bytes == first) << out;
        }
}

// The region of a packed layer folds to the layer's one Conv; extract_region refuses a region
// that needs another run-time value.
TEST(MeasureLatency, RegionsFoldDecoders) {
    test::TempDir dir;
    CompressOptions o;
    o.model = resnet();
    o.output = dir / "rtn.onnx";
    o.method = "rtn";
    o.format = rewrite::WeightFormat::Packed;
    o.excludes = {"^/(layer1|layer2|layer3/conv1)"};
    o.threads = 1;
    compress(o);
    const ir::Model written = onnx_io::load_model(o.output);
    const ir::Model original = onnx_io::load_model(o.model);
    int conv = -1;
    for (size_t n = 0; n < original.graph.nodes.size(); ++n)
        if (original.graph.nodes[n].name == "/layer3/conv2/Conv") conv = static_cast<int>(n);
    ASSERT_GE(conv, 0);
    const ir::Node& node = original.graph.nodes[static_cast<size_t>(conv)];
    ir::Model region = extract_region(written, node.inputs[0], node.outputs[0]);
    EXPECT_GT(region.graph.nodes.size(), 1u);  // Conv and its weight decoder
    engine::fold_constants(region);
    ASSERT_EQ(region.graph.nodes.size(), 1u);
    EXPECT_EQ(region.graph.nodes[0].op_type, "Conv");
    EXPECT_THROW(extract_region(written, "no such value", node.outputs[0]), Error);
}

struct BadCase {
    const char* args;
    const char* message;
};

TEST(MeasureLatency, BadValuesRefusedWithOneLine) {
    test::TempDir dir;
    const std::string out = (dir / "o.onnx").string();
    for (const BadCase& c : {BadCase{"--measure-latency --latency-reps 0", "--latency-reps must be at least 1"},
                             BadCase{"--measure-latency --latency-reps -3", "--latency-reps must be at least 1"},
                             BadCase{"--measure-latency --latency-batch 0", "--latency-batch must be at least 1"},
                             BadCase{"--latency-reps 5", "are for --measure-latency"},
                             BadCase{"--measure-latency --dry-run", "--dry-run"}}) {
        SCOPED_TRACE(c.args);
        const test::CliResult r = test::run_cli("compress " + mlp() + " -o " + out + " --method rtn " + c.args);
        EXPECT_EQ(r.code, 2);
        EXPECT_NE(r.err.find(c.message), std::string::npos) << r.err;
        EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
        EXPECT_FALSE(std::filesystem::exists(out));
    }
}

}  // namespace
}  // namespace qcp
