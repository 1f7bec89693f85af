// Issue 14, "Inputs", through the binary: bad --input-shape / --data NAME=PATH give one line, exit
// 2 and write nothing; a two-input model compresses with per-input calibration data.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "cli_util.hpp"

namespace qcp {
namespace {

const std::string kFix = QCP_SOURCE_DIR "/tests/data/fixtures/";
const std::string kModel = kFix + "two_inputs.onnx";
const std::string kData = " --calib x=" + kFix + "two_inputs_x.npy --calib s=" + kFix + "two_inputs_s.npy";

void expect_refused(const std::string& args, const std::string& part) {
    const test::CliResult r = test::run_qcp("-q " + args);
    EXPECT_EQ(r.code, 2) << args << "\n" << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find(part), std::string::npos) << r.err;
}

TEST(CliInputs, BadInputsAreOneLineAndWriteNothing) {
    test::TempDir dir;
    const std::string out = (dir / "out.onnx").string();
    const std::string compress = "compress " + kModel + " -o " + out + " --method rtn";
    expect_refused("inspect " + kModel + " --input-shape x=1,4,8,12", "fixes it to 3");
    expect_refused("inspect " + kModel + " --input-shape x=1,3,8", "rank 4");
    expect_refused("inspect " + kModel + " --input-shape y=1,3,8,8", "no input 'y'");
    expect_refused("inspect " + kModel + " --input-shape x=1,3,0,8", "positive dims");
    expect_refused(compress + kData + " --input-shape x=2,3,9", "rank 4");
    expect_refused(compress + " --calib s=" + kFix + "two_inputs_s.npy", "input 'x'");
    expect_refused(compress + kData + " --input-value s=1", "already has data");
    expect_refused(compress + kData + " --channel-order grb", "--channel-order: grb not in {rgb,bgr}");
    expect_refused(compress + kData + " --resize crop", "--resize: crop not in {stretch,fit}");
    expect_refused("eval " + kModel + " --data s=" + kFix + "two_inputs_x.npy", "model input");
    // the gate's data is checked per input before any work
    expect_refused(compress + kData + " --max-drop 5 --data x=" + kFix + "two_inputs_x.npy --data s=" + kFix + "missing.npy",
                   "missing.npy: no such file");
    EXPECT_FALSE(std::filesystem::exists(out));
}

TEST(CliInputs, TwoInputModelCompressesAndEvaluates) {
    test::TempDir dir;
    const std::string out = (dir / "out.onnx").string();
    const test::CliResult c = test::run_qcp("-q compress " + kModel + " -o " + out + " --method rtn --json" + kData);
    ASSERT_EQ(c.code, 0) << c.err;
    EXPECT_NE(c.out.find("\"samples\": 24"), std::string::npos);  // the check ran on both inputs
    const test::CliResult e = test::run_qcp("-q eval " + out + " --data x=" + kFix + "two_inputs_x.npy --input-value s=0.5 --json");
    ASSERT_EQ(e.code, 0) << e.err;
    EXPECT_NE(e.out.find("\"samples\": 24"), std::string::npos);
    // --max-drop on a two-input model: its --data per input, gating on the output's agreement
    const test::CliResult g = test::run_qcp("-q compress " + kModel + " -o " + out + " --force --method rtn --bits 8 --json" + kData +
                                            " --max-drop 50 --data x=" + kFix + "two_inputs_x.npy --data s=" + kFix + "two_inputs_s.npy");
    ASSERT_EQ(g.code, 0) << g.err;
    EXPECT_NE(g.out.find("\"passed\": true"), std::string::npos) << g.out;
    EXPECT_NE(g.out.find("\"samples\": 24"), std::string::npos) << g.out;
}

}  // namespace
}  // namespace qcp
