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
