// The bad-input corpus (tests/bad_inputs/, written by tools/gen_bad_inputs.py) through the qcp
// binary: each case must exit 2 with one line on stderr naming the problem, print nothing on
// stdout, and leave its folder exactly as it was (no output, no report, no temporary, inputs
// untouched).
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

#include "cli_util.hpp"

namespace qcp {
namespace {

namespace stdfs = std::filesystem;

const stdfs::path kCorpus = stdfs::path(QCP_SOURCE_DIR) / "tests" / "bad_inputs";
// The issue asks for at least this many distinct broken inputs.
constexpr size_t kMinCases = 30;

struct BadInput {
    std::string name, args, needle;
};

void PrintTo(const BadInput& c, std::ostream* os) { *os << c.name; }

std::vector<BadInput> load_cases() {
    std::vector<BadInput> cases;
    std::ifstream in(kCorpus / "cases.tsv");
    for (std::string line; std::getline(in, line);) {
        if (line.empty() || line[0] == '#') continue;
        std::istringstream fields(line);
        BadInput c;
        std::getline(fields, c.name, '\t');
        std::getline(fields, c.args, '\t');
        std::getline(fields, c.needle, '\t');
        cases.push_back(c);
    }
    return cases;
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
    for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) s.replace(at, from.size(), to);
    return s;
}

TEST(BadInputs, CorpusHasEnoughCases) {
    std::set<std::string> names;
    for (const auto& c : load_cases()) names.insert(c.name.substr(0, c.name.find(':')));
    EXPECT_GE(names.size(), kMinCases);
}

class BadInputCase : public ::testing::TestWithParam<BadInput> {};

TEST_P(BadInputCase, OneLineExitTwoNothingWritten) {
    const BadInput& c = GetParam();
    test::TempDir dir;
    const stdfs::path work = dir / "case";
    stdfs::copy(kCorpus / c.name.substr(0, c.name.find(':')), work, stdfs::copy_options::recursive);
    const auto before = test::snapshot(dir.path());
    const auto models_before = stdfs::last_write_time(stdfs::path(QCP_MODELS_DIR) / "fmnist_mlp.onnx");
    const std::string args = replace_all(replace_all(c.args, "{case}", work.string()), "{models}", QCP_MODELS_DIR);

    const test::CliResult r = test::run_cli(args);
    EXPECT_EQ(r.code, 2) << args << "\n" << r.err;
    EXPECT_EQ(test::line_count(r.err), 1u) << r.err;
    EXPECT_EQ(r.err.rfind("qcp: error: ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find(c.needle), std::string::npos) << "expected '" << c.needle << "' in: " << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
    EXPECT_EQ(test::snapshot(dir.path()), before) << "the failed run created, changed or removed a file";
    EXPECT_EQ(stdfs::last_write_time(stdfs::path(QCP_MODELS_DIR) / "fmnist_mlp.onnx"), models_before);
}

std::string case_name(const ::testing::TestParamInfo<BadInput>& info) {
    std::string s = info.param.name;
    for (char& ch : s)
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
    return s;
}

INSTANTIATE_TEST_SUITE_P(Corpus, BadInputCase, ::testing::ValuesIn(load_cases()), case_name);

}  // namespace
}  // namespace qcp
