#include <gtest/gtest.h>

#include "qcp/core/error.hpp"
#include "qcp/core/fs.hpp"
#include "test_util.hpp"

namespace qcp {
namespace {

size_t count_entries(const std::filesystem::path& dir) {
    size_t n = 0;
    for (auto it = std::filesystem::directory_iterator(dir); it != std::filesystem::directory_iterator(); ++it) ++n;
    return n;
}

TEST(AtomicWrite, WritesAndRefusesToOverwrite) {
    test::TempDir dir;
    const auto target = dir / "out.bin";
    fs::write_file_atomic(target, "first", false);
    EXPECT_EQ(test::read_text(target), "first");
    EXPECT_THROW(fs::write_file_atomic(target, "second", false), Error);
    EXPECT_EQ(test::read_text(target), "first");
    fs::write_file_atomic(target, "second", true);
    EXPECT_EQ(test::read_text(target), "second");
    EXPECT_EQ(count_entries(dir.path()), 1u);
}

TEST(AtomicWrite, FailureLeavesNothingBehind) {
    test::TempDir dir;
    const auto a = dir / "a.onnx";
    const auto b = dir / "a.onnx.data";
    std::vector<fs::PendingFile> files = {
        {a, [](std::ostream& os) { os << "model"; }},
        {b, [](std::ostream&) { throw Error("injected failure"); }},
    };
    EXPECT_THROW(fs::write_files_atomic(files, false), Error);
    EXPECT_EQ(count_entries(dir.path()), 0u);
}

TEST(AtomicWrite, FailedRenameRestoresEveryOldFile) {
    // two targets in two folders; while the second file is written its folder is moved away, so
    // its rename fails after the first target was already replaced: that must be undone
    test::TempDir dir;
    std::filesystem::create_directories(dir / "x");
    std::filesystem::create_directories(dir / "y");
    test::write_bytes(dir / "x" / "a", "old a");
    std::vector<fs::PendingFile> files = {
        {dir / "x" / "a", [](std::ostream& os) { os << "new a"; }},
        {dir / "y" / "b", [&](std::ostream& os) {
             os << "new b";
             std::filesystem::rename(dir / "y", dir / "y-moved");
         }},
    };
    EXPECT_THROW(fs::write_files_atomic(files, true), Error);
    EXPECT_EQ(test::read_text(dir / "x" / "a"), "old a");
    EXPECT_EQ(count_entries(dir / "x"), 1u);  // no temporary, no moved-aside copy
    EXPECT_FALSE(std::filesystem::exists(dir / "y" / "b"));
}

TEST(AtomicWrite, OverwriteReplacesAllTargetsAndLeavesNoBackups) {
    test::TempDir dir;
    test::write_bytes(dir / "m.onnx", "old model");
    test::write_bytes(dir / "m.onnx.data", "old data");
    fs::write_files_atomic({{dir / "m.onnx.data", [](std::ostream& os) { os << "new data"; }},
                            {dir / "m.onnx", [](std::ostream& os) { os << "new model"; }}},
                           true);
    EXPECT_EQ(test::read_text(dir / "m.onnx"), "new model");
    EXPECT_EQ(test::read_text(dir / "m.onnx.data"), "new data");
    EXPECT_EQ(count_entries(dir.path()), 2u);
}

TEST(AtomicWrite, TargetThatIsAFolderIsRefused) {
    test::TempDir dir;
    std::filesystem::create_directories(dir / "out.onnx" / "inner");
    EXPECT_THROW(fs::write_file_atomic(dir / "out.onnx", "x", true), Error);
    EXPECT_TRUE(std::filesystem::is_directory(dir / "out.onnx" / "inner"));
    EXPECT_THROW(fs::check_writable(dir / "out.onnx", true), Error);
    EXPECT_THROW(fs::check_writable(dir / "missing" / "out.onnx", true), Error);
    EXPECT_NO_THROW(fs::check_writable(dir / "new.onnx", false));
}

TEST(AtomicWrite, MissingFolderIsAnError) {
    test::TempDir dir;
    EXPECT_THROW(fs::write_file_atomic(dir / "no/such/dir/x", "x", false), Error);
}

TEST(ReadFile, MissingAndDirectory) {
    test::TempDir dir;
    EXPECT_THROW(fs::read_file(dir / "missing"), Error);
    EXPECT_THROW(fs::read_file(dir.path()), Error);
}

}  // namespace
}  // namespace qcp
