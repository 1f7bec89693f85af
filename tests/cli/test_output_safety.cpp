// What `qcp compress` leaves on disk when writing fails or would hit something it must not:
// a failure injected mid-write (a file-size limit, as a full disk would), an output folder or
// report folder that does not exist, and outputs that would replace one of the input's files.
#include <gtest/gtest.h>

#include "cli_util.hpp"

namespace qcp {
namespace {

namespace stdfs = std::filesystem;

const std::string kMlp = test::models_dir() + "/fmnist_mlp.onnx";
// Writes past this many KiB fail with EFBIG (SIGXFSZ ignored, so the write returns the error):
// the model's side file is ~570 KiB at 8 bits, so the failure lands in the middle of it.
const std::string kFileSizeLimit = "trap \"\" XFSZ; ulimit -f 64;";

TEST(OutputSafety, WriteFailureMidFileLeavesNothingBehind) {
    test::TempDir dir;
    const std::string out = (dir / "out.onnx").string();
    const auto before = test::snapshot(dir.path());
    const test::CliResult r = test::run_cli("compress " + kMlp + " -o " + out + " --method rtn --bits 8 --external-data --report " +
                                                (dir / "r.json").string(),
                                            kFileSizeLimit);
    EXPECT_EQ(r.code, 2) << r.err;
    EXPECT_EQ(test::line_count(r.err), 1u) << r.err;
    EXPECT_NE(r.err.find("write failed"), std::string::npos) << r.err;
    EXPECT_EQ(test::snapshot(dir.path()), before);  // no model, no side file, no report, no temporary
}

TEST(OutputSafety, WriteFailureKeepsTheOldOutputsOnForce) {
    test::TempDir dir;
    const std::string out = (dir / "out.onnx").string();
    test::write_bytes(dir / "out.onnx", "old model");
    test::write_bytes(dir / "out.onnx.data", "old weights");
    const auto before = test::snapshot(dir.path());
    const test::CliResult r =
        test::run_cli("compress " + kMlp + " -o " + out + " --method rtn --bits 8 --external-data --force", kFileSizeLimit);
    EXPECT_EQ(r.code, 2) << r.err;
    EXPECT_EQ(test::snapshot(dir.path()), before);

    // the same command without the limit replaces both files
    const test::CliResult ok = test::run_cli("compress " + kMlp + " -o " + out + " --method rtn --bits 8 --external-data --force");
    ASSERT_EQ(ok.code, 0) << ok.err;
    EXPECT_GT(stdfs::file_size(dir / "out.onnx.data"), 400000u);
    EXPECT_EQ(test::run_cli("inspect " + out).code, 0);
}

TEST(OutputSafety, MissingFoldersAreRefusedBeforeAnyWork) {
    test::TempDir dir;
    const auto before = test::snapshot(dir.path());
    const test::CliResult no_out_dir = test::run_cli("compress " + kMlp + " -o " + (dir / "no/such/out.onnx").string() + " --method rtn");
    EXPECT_EQ(no_out_dir.code, 2);
    EXPECT_NE(no_out_dir.err.find("output folder does not exist"), std::string::npos) << no_out_dir.err;
    const test::CliResult no_report_dir = test::run_cli("compress " + kMlp + " -o " + (dir / "out.onnx").string() +
                                                        " --method rtn --report " + (dir / "no/such/r.json").string());
    EXPECT_EQ(no_report_dir.code, 2);
    EXPECT_NE(no_report_dir.err.find("output folder does not exist"), std::string::npos) << no_report_dir.err;
    EXPECT_EQ(test::snapshot(dir.path()), before);  // in particular no out.onnx without its report
}

TEST(OutputSafety, NeverReplacesTheInputsSideFile) {
    test::TempDir dir;
    // in.onnx keeps its weights in in.onnx.data; a copy under another name still points there
    ASSERT_EQ(test::run_cli("compress " + kMlp + " -o " + (dir / "in.onnx").string() + " --method rtn --external-data").code, 0);
    stdfs::rename(dir / "in.onnx", dir / "renamed.onnx");
    const auto before = test::snapshot(dir.path());
    for (const std::string& args :
         {"-o " + (dir / "in.onnx").string() + " --external-data --force",  // its side file is in.onnx.data
          "-o " + (dir / "in.onnx.data").string() + " --force"}) {         // the model itself over the side file
        SCOPED_TRACE(args);
        const test::CliResult r = test::run_cli("compress " + (dir / "renamed.onnx").string() + " --method rtn " + args);
        EXPECT_EQ(r.code, 2) << r.err;
        EXPECT_NE(r.err.find("external data file of the input model"), std::string::npos) << r.err;
        EXPECT_EQ(test::snapshot(dir.path()), before);
    }
}

}  // namespace
}  // namespace qcp
