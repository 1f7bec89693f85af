// Every ONNX Runtime fixture (tests/engine/fixtures/<group>/<case>/) through qcp's engine, as it
// is and upgraded to opsets 13, 17, 18 and 21 (onnx_io::convert_opset; tools/opset_ort_check.sh runs
// the upgraded models in ORT). Float outputs must match ORT within kRelTol (relative L2 error),
// integer outputs exactly.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "qcp/core/error.hpp"
#include "qcp/core/npy.hpp"
#include "qcp/core/parallel.hpp"
#include "qcp/engine/session.hpp"
#include "qcp/onnx_io/onnx_io.hpp"
#include "qcp/onnx_io/opset.hpp"
#include "onnx_io/opset_refusals.hpp"

namespace qcp {
namespace {

namespace stdfs = std::filesystem;

constexpr double kRelTol = 1e-5;
// per-element slack for values near zero, relative to the output's largest magnitude
constexpr double kElemTol = 1e-5;

std::vector<std::string> fixture_cases() {
    std::vector<std::string> cases;
    const stdfs::path root(QCP_FIXTURES_DIR);
    if (!stdfs::exists(root)) return cases;
    for (const auto& entry : stdfs::recursive_directory_iterator(root))
        if (entry.is_regular_file() && entry.path().filename() == "model.onnx")
            cases.push_back(stdfs::relative(entry.path().parent_path(), root).string());
    std::sort(cases.begin(), cases.end());
    return cases;
}

std::vector<Tensor> load_numbered(const stdfs::path& dir, const std::string& prefix) {
    std::vector<Tensor> out;
    for (int i = 0;; ++i) {
        const auto p = dir / (prefix + std::to_string(i) + ".npy");
        if (!stdfs::exists(p)) break;
        out.push_back(npy::load(p));
    }
    return out;
}

void expect_close(const Tensor& got, const Tensor& want, const std::string& what) {
    ASSERT_EQ(got.shape(), want.shape()) << what;
    ASSERT_EQ(got.dtype(), want.dtype()) << what << ": got " << dtype_name(got.dtype());
    if (want.dtype() != DType::Float32) {
        EXPECT_TRUE(got.bytes() == want.bytes()) << what << ": integer output differs";
        return;
    }
    const float* g = got.data<float>();
    const float* w = want.data<float>();
    double err2 = 0, ref2 = 0, max_ref = 0;
    for (int64_t i = 0; i < want.numel(); ++i) {
        if (std::isnan(w[i])) {
            EXPECT_TRUE(std::isnan(g[i])) << what << " element " << i;
            continue;
        }
        err2 += (double(g[i]) - w[i]) * (double(g[i]) - w[i]);
        ref2 += double(w[i]) * w[i];
        max_ref = std::max(max_ref, std::fabs(double(w[i])));
    }
    EXPECT_LE(std::sqrt(err2), kRelTol * std::sqrt(ref2) + 1e-12) << what << ": relative L2 error too large";
    int bad = 0;
    for (int64_t i = 0; i < want.numel() && bad < 5; ++i) {
        if (std::isnan(w[i])) continue;
        const double tol = kElemTol * std::max(max_ref, std::fabs(double(w[i]))) + 1e-7;
        if (std::fabs(double(g[i]) - w[i]) > tol) {
            ADD_FAILURE() << what << " element " << i << ": qcp " << g[i] << ", ORT " << w[i];
            ++bad;
        }
    }
}

class OrtFixture : public ::testing::TestWithParam<std::string> {};

TEST_P(OrtFixture, MatchesOnnxRuntime) {
    const stdfs::path dir = stdfs::path(QCP_FIXTURES_DIR) / GetParam();
    const ir::Model model = onnx_io::load_model(dir / "model.onnx");
    const engine::Session session(model);
    const auto inputs = load_numbered(dir, "in_");
    const auto want = load_numbered(dir, "out_");
    ASSERT_FALSE(want.empty());
    for (int threads : {1, 2}) {
        set_num_threads(threads);
        const auto got = session.run(inputs);
        ASSERT_EQ(got.size(), want.size());
        for (size_t i = 0; i < want.size(); ++i)
            expect_close(got[i], want[i], GetParam() + " output " + std::to_string(i) + " threads " + std::to_string(threads));
    }
}

std::string case_name(const ::testing::TestParamInfo<std::string>& info) {
    std::string s = info.param;
    for (auto& c : s)
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
    return s;
}

INSTANTIATE_TEST_SUITE_P(Ort, OrtFixture, ::testing::ValuesIn(fixture_cases()), case_name);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(OrtFixture);

std::vector<std::string> fixture_groups() {
    std::vector<std::string> groups;
    for (const auto& c : fixture_cases()) {
        const std::string g = c.substr(0, c.find('/'));
        if (groups.empty() || groups.back() != g) groups.push_back(g);
    }
    return groups;
}

// One test per group: each case upgraded to every target above its opset gives ORT's outputs of
// the original in the engine (or is refused, for the cases opset_refusals.hpp lists).
class OrtFixtureUpgraded : public ::testing::TestWithParam<std::string> {};

TEST_P(OrtFixtureUpgraded, MatchesOnnxRuntimeOfTheOriginal) {
    int checked = 0;
    for (const auto& c : fixture_cases()) {
        if (c.compare(0, GetParam().size() + 1, GetParam() + "/") != 0) continue;
        const stdfs::path dir = stdfs::path(QCP_FIXTURES_DIR) / c;
        const ir::Model original = onnx_io::load_model(dir / "model.onnx");
        const auto inputs = load_numbered(dir, "in_");
        const auto want = load_numbered(dir, "out_");
        for (int64_t target : test::kOpsetTargets) {
            if (original.opset("") >= target) continue;
            const std::string what = c + " at opset " + std::to_string(target);
            ir::Model m = original;
            if (test::opset_upgrade_refused(c)) {
                EXPECT_THROW(onnx_io::convert_opset(m, target), Error) << what;
                continue;
            }
            try {
                onnx_io::convert_opset(m, target);
            } catch (const Error& e) {
                ADD_FAILURE() << what << ": " << e.what();
                continue;
            }
            ASSERT_EQ(m.opset(""), target) << what;
            const engine::Session session(m);
            const auto got = session.run(inputs);
            ASSERT_EQ(got.size(), want.size()) << what;
            for (size_t i = 0; i < want.size(); ++i) expect_close(got[i], want[i], what + " output " + std::to_string(i));
            ++checked;
        }
    }
    EXPECT_GT(checked, 0);
}

INSTANTIATE_TEST_SUITE_P(Ort, OrtFixtureUpgraded, ::testing::ValuesIn(fixture_groups()), case_name);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(OrtFixtureUpgraded);

}  // namespace
}  // namespace qcp
