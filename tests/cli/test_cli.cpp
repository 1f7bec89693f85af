// The qcp binary as a user runs it: exit codes, one-line errors, outputs.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>

#include "cli_util.hpp"

namespace qcp {
namespace {

using Result = test::CliResult;
Result run_qcp(const std::string& args) { return test::run_qcp(args); }

size_t count_lines(const std::string& s) {
    size_t n = 0;
    for (char c : s) n += c == '\n';
    return n;
}

TEST(Cli, HelpAndVersion) {
    Result help = run_qcp("--help");
    EXPECT_EQ(help.code, 0);
    EXPECT_NE(help.out.find("inspect"), std::string::npos);
    Result version = run_qcp("--version");
    EXPECT_EQ(version.code, 0);
    EXPECT_EQ(version.out.rfind("qcp ", 0), 0u);
    Result inspect_help = run_qcp("inspect --help");
    EXPECT_EQ(inspect_help.code, 0);
    EXPECT_NE(inspect_help.out.find("--json"), std::string::npos);
}

TEST(Cli, BadUsageExitsTwo) {
    EXPECT_EQ(run_qcp("").code, 2);
    EXPECT_EQ(run_qcp("frobnicate").code, 2);
    EXPECT_EQ(run_qcp("inspect").code, 2);
    EXPECT_EQ(run_qcp("inspect --no-such-flag x.onnx").code, 2);
    // a parse error is one line naming the problem, like every other error
    for (const std::string bad : {"inspect --no-such-flag x.onnx", "compress", "compress x.onnx --bits", "frobnicate"}) {
        SCOPED_TRACE(bad);
        const Result r = run_qcp(bad);
        EXPECT_EQ(r.code, 2);
        EXPECT_EQ(count_lines(r.err), 1u) << r.err;
        EXPECT_EQ(r.err.rfind("qcp: error: ", 0), 0u) << r.err;
        EXPECT_TRUE(r.out.empty()) << r.out;
    }
}

TEST(Cli, MissingAndCorruptFilesGiveOneLineAndExitTwo) {
    test::TempDir dir;
    Result missing = run_qcp("inspect " + (dir / "missing.onnx").string());
    EXPECT_EQ(missing.code, 2);
    EXPECT_EQ(count_lines(missing.err), 1u) << missing.err;
    EXPECT_NE(missing.err.find("no such file"), std::string::npos);
    EXPECT_TRUE(missing.out.empty());

    test::write_bytes(dir / "junk.onnx", std::string("\x12\x34 definitely not protobuf \xff\xfe", 30));
    Result junk = run_qcp("inspect " + (dir / "junk.onnx").string());
    EXPECT_EQ(junk.code, 2);
    EXPECT_EQ(count_lines(junk.err), 1u) << junk.err;

    const std::string model = test::read_text(test::models_dir() + "/fmnist_resnet.onnx");
    ASSERT_GT(model.size(), 1000u);
    test::write_bytes(dir / "truncated.onnx", model.substr(0, model.size() / 3));
    Result truncated = run_qcp("inspect " + (dir / "truncated.onnx").string());
    EXPECT_EQ(truncated.code, 2);
    EXPECT_EQ(count_lines(truncated.err), 1u) << truncated.err;
}

TEST(Cli, InspectReferenceModel) {
    Result table = run_qcp("inspect " + test::models_dir() + "/fmnist_resnet.onnx");
    EXPECT_EQ(table.code, 0) << table.err;
    EXPECT_NE(table.out.find("Conv"), std::string::npos);
    EXPECT_NE(table.out.find("params:"), std::string::npos);
    Result json = run_qcp("inspect --json " + test::models_dir() + "/fmnist_resnet.onnx");
    EXPECT_EQ(json.code, 0) << json.err;
    EXPECT_NE(json.out.find("\"layers\""), std::string::npos);
    EXPECT_NE(json.out.find("\"totals\""), std::string::npos);
}

}  // namespace
}  // namespace qcp
