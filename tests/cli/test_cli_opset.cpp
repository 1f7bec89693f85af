// `qcp compress --opset N` and `qcp convert`: bad targets refused before any output, the upgrade
// reported, outputs identical at any thread count.
#include <gtest/gtest.h>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "cli_util.hpp"

namespace qcp {
namespace {

using test::run_qcp;

const std::string kMlp = test::models_dir() + "/fmnist_mlp.onnx";  // opset 13
// opset 7, IR 3: Conv with initializer weights
const std::string kConv7 = std::string(QCP_SOURCE_DIR) + "/tests/engine/fixtures/conv/conv2d_opset7/model.onnx";
// opset 9: Conv, BatchNormalization, Gemm, Softmax; outputs declared with shapes
const std::string kNet9 = std::string(QCP_SOURCE_DIR) + "/tests/engine/fixtures/opset/conv_net_op9/model.onnx";

int64_t file_opset(const std::string& model) {
    const auto r = run_qcp("inspect " + model + " --json");
    return nlohmann::json::parse(r.out)["totals"]["opset"].get<int64_t>();
}

TEST(CliOpset, BadTargetsExitTwoWithoutOutput) {
    test::TempDir dir;
    const std::string out = (dir / "o.onnx").string();
    for (const std::string& cmd : {"compress " + kMlp + " --method rtn --opset 11", "compress " + kMlp + " --method rtn --opset 22",
                                  "compress " + kMlp + " --method rtn --opset 0", "convert " + kMlp + " --opset 9",
                                  "convert " + kMlp + " --opset 99"}) {
        SCOPED_TRACE(cmd);
        const auto r = run_qcp(cmd + " -o " + out);
        EXPECT_EQ(r.code, 2);
        EXPECT_EQ(test::line_count(r.err), 1u) << r.err;
        EXPECT_FALSE(std::filesystem::exists(out));
    }
    const auto lower = run_qcp("convert " + kMlp + " -o " + out + " --opset 12");
    EXPECT_NE(lower.err.find("lower than the model's opset 13"), std::string::npos) << lower.err;
}

TEST(CliOpset, CompressReportsTheUpgrade) {
    test::TempDir dir;
    const std::string out = (dir / "o.onnx").string();
    // per-channel qdq needs opset 13: the opset-9 model gets there first (packed, the default, needs no upgrade)
    EXPECT_EQ(run_qcp("compress " + kNet9 + " -o " + out + " --method rtn --bits 8 --format qdq").code, 2);
    const auto r = run_qcp("compress " + kNet9 + " -o " + out + " --method rtn --bits 8 --format qdq --opset 13 --json");
    ASSERT_EQ(r.code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["settings"]["opset"], 13);
    EXPECT_EQ(j["input"]["opset"], 9);
    EXPECT_EQ(j["conversion"]["from"], 9);
    EXPECT_EQ(j["conversion"]["to"], 13);
    EXPECT_TRUE(j["conversion"]["check"]["ran"].get<bool>());
    EXPECT_LE(j["conversion"]["check"]["max_rel_error"].get<double>(), 1e-5);
    EXPECT_EQ(file_opset(out), 13);

    const auto table = run_qcp("compress " + kNet9 + " -o " + out + " --method rtn --bits 4 --opset 21 --force");
    ASSERT_EQ(table.code, 0) << table.err;
    EXPECT_NE(table.out.find("opset 9 -> 21"), std::string::npos) << table.out;
    EXPECT_EQ(file_opset(out), 21);

    const auto same = run_qcp("compress " + kMlp + " -o " + out + " --method rtn --opset 13 --force --json");
    ASSERT_EQ(same.code, 0) << same.err;
    const auto js = nlohmann::json::parse(same.out);
    EXPECT_EQ(js["conversion"]["from"], js["conversion"]["to"]);  // equal: nothing to do
    EXPECT_FALSE(js["conversion"]["check"]["ran"].get<bool>());

    const auto none = run_qcp("compress " + kMlp + " -o " + out + " --method rtn --force --json");
    ASSERT_EQ(none.code, 0) << none.err;
    const auto jn = nlohmann::json::parse(none.out);
    EXPECT_TRUE(jn["settings"]["opset"].is_null());
    EXPECT_EQ(jn["input"]["opset"], 13);
    EXPECT_TRUE(jn["conversion"].is_null());
}

TEST(CliOpset, ConvertIsByteIdenticalAtAnyThreadCount) {
    test::TempDir dir;
    const auto one = dir / "one.onnx", four = dir / "four.onnx";
    ASSERT_EQ(run_qcp("convert " + kConv7 + " -o " + one.string() + " --opset 21 --threads 1").code, 0);
    ASSERT_EQ(run_qcp("convert " + kConv7 + " -o " + four.string() + " --opset 21 --threads 4").code, 0);
    EXPECT_EQ(test::read_text(one), test::read_text(four));
    EXPECT_EQ(file_opset(one.string()), 21);
    // an existing output needs --force
    const auto again = run_qcp("convert " + kConv7 + " -o " + one.string() + " --opset 21");
    EXPECT_EQ(again.code, 2);
}

}  // namespace
}  // namespace qcp
