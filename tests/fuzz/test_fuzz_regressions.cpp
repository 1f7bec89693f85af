// Replays fuzzer inputs through the fuzz targets' own code (fuzz_targets.hpp) in plain CI and in
// the sanitizer build, without clang: every input that once crashed (tests/fuzz/regressions/,
// one file per finding, named after it) and the seed corpus (the bad-input corpus and the
// reference models). A crash fails the run; an exception other than qcp::Error fails the test.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "fuzz_targets.hpp"
#include "test_util.hpp"

namespace qcp {
namespace {

namespace stdfs = std::filesystem;

// Regular files under `dir` (recursively) whose name passes `keep`, sorted.
std::vector<stdfs::path> files_under(const stdfs::path& dir, bool (*keep)(const stdfs::path&)) {
    std::vector<stdfs::path> out;
    if (!stdfs::is_directory(dir)) return out;
    for (const auto& e : stdfs::recursive_directory_iterator(dir))
        if (e.is_regular_file() && keep(e.path())) out.push_back(e.path());
    std::sort(out.begin(), out.end());
    return out;
}

bool is_onnx(const stdfs::path& p) { return p.extension() == ".onnx"; }
bool is_data(const stdfs::path& p) { return p.extension() != ".onnx" && p.filename() != "cases.tsv" && p.extension() != ".md"; }
bool any_file(const stdfs::path& p) { return p.filename() != "README.md"; }

void replay(const std::vector<stdfs::path>& files, void (*target)(const uint8_t*, size_t)) {
    for (const auto& f : files) {
        SCOPED_TRACE(f.string());
        const std::string bytes = test::read_text(f);
        EXPECT_NO_THROW(target(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
    }
}

const stdfs::path kFuzzDir = stdfs::path(QCP_SOURCE_DIR) / "tests" / "fuzz" / "regressions";
const stdfs::path kBadInputs = stdfs::path(QCP_SOURCE_DIR) / "tests" / "bad_inputs";

TEST(FuzzRegressions, OnnxTargetHandlesEverySavedInput) {
    auto files = files_under(kFuzzDir / "onnx", any_file);
    for (const auto& f : files_under(kBadInputs, is_onnx)) files.push_back(f);
    for (const auto& f : files_under(QCP_MODELS_DIR, is_onnx)) files.push_back(f);
    ASSERT_GE(files.size(), 40u);  // the corpus is there: this test is not vacuous
    replay(files, fuzz::onnx_input);
}

TEST(FuzzRegressions, DataTargetHandlesEverySavedInput) {
    auto files = files_under(kFuzzDir / "data", any_file);
    for (const auto& f : files_under(kBadInputs, is_data)) files.push_back(f);
    ASSERT_GE(files.size(), 25u);
    replay(files, fuzz::data_input);
}

}  // namespace
}  // namespace qcp
