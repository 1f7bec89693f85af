// ONNX's backend node tests (Debian's libonnx-testdata, ONNX 1.12) through qcp's engine.
//
// Every test folder holds model.onnx and test_data_set_*/{input,output}_*.pb (TensorProto). Each
// test is classified:
//   excluded    outside the engine's scope, by a rule below (kExcludedOps, the dtype rule, ...);
//   pass        every output has the expected dtype and shape, and values within ONNX's own
//               backend-runner tolerance (|got - want| <= kAtol + kRtol * |want|; NaN matches NaN;
//               integer and bool outputs exactly);
//   wrong       it ran and an output differs;
//   refused     the session refused it for a missing kernel ("has no kernel for OP");
//   unsupported a kernel or the loader threw qcp::Error (an attribute or dtype it does not handle).
// The suite fails on any wrong result, on any refusal for an op not in kKnownGaps, and on any
// unsupported test not in kKnownUnsupported. One summary line goes to stdout; with
// QCP_NODE_SUITE_VERBOSE=1 every test's outcome too.
//
// The data folder is QCP_NODE_TESTS_DIR (compile time) or $QCP_NODE_TESTS_DIR; without it the test
// is skipped with a message saying which package to install.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "onnx_io/tensor_proto.hpp"
#include "qcp/core/error.hpp"
#include "qcp/engine/session.hpp"
#include "qcp/onnx_io/onnx_io.hpp"

namespace qcp {
namespace {

namespace stdfs = std::filesystem;

// onnx/backend/test/runner: np.testing.assert_allclose(rtol=1e-3, atol=1e-7)
constexpr double kRtol = 1e-3;
constexpr double kAtol = 1e-7;

struct Reasoned {
    const char* name;
    const char* reason;
};

// Ops outside the engine's scope: every test using one is excluded.
const Reasoned kExcludedOps[] = {
    // training (ai.onnx.preview.training is caught by the domain rule too)
    {"Gradient", "training"}, {"Adagrad", "training"}, {"Adam", "training"}, {"Momentum", "training"},
    // sequences
    {"SequenceAt", "sequence"}, {"SequenceConstruct", "sequence"}, {"SequenceEmpty", "sequence"},
    {"SequenceErase", "sequence"}, {"SequenceInsert", "sequence"}, {"SequenceLength", "sequence"},
    {"SequenceMap", "sequence"}, {"SplitToSequence", "sequence"}, {"ConcatFromSequence", "sequence"},
    // optionals
    {"Optional", "optional"}, {"OptionalHasElement", "optional"}, {"OptionalGetElement", "optional"},
    // random outputs that no seed makes reproducible across implementations
    {"Bernoulli", "random"}, {"RandomUniformLike", "random"}, {"RandomNormalLike", "random"},
    {"RandomUniform", "random"}, {"RandomNormal", "random"}, {"Multinomial", "random"},
};

// Tests excluded whatever their ops: names containing one of these.
const Reasoned kExcludedTests[] = {
    {"test_training_", "training"},  // Dropout with training_mode=1: random masks
    {"_training_mode", "training"},  // BatchNormalization's running-statistics update
};

// Ops the engine does not have yet: a refusal naming one of these is reported, not a failure.
const Reasoned kKnownGaps[] = {
    {"", ""},  // none today
};

// Tests the engine refuses with a qcp::Error although it has the op (an attribute or mode it
// does not implement), or gets wrong: reported, not a failure. Names starting with these.
const Reasoned kKnownUnsupported[] = {
    {"", ""},  // none today
};
// ONNX 1.12's reference maps align_corners through the unrounded scale, x * (in - 1) / (in * scale - 1);
// qcp follows ONNX Runtime, which uses the output size, x * (in - 1) / (out - 1).
const Reasoned kKnownWrong[] = {
    {"test_resize_downsample_scales_linear_align_corners", "reference differs from ONNX Runtime"},
    {"test_resize_downsample_scales_cubic_align_corners", "reference differs from ONNX Runtime"},
};

template <size_t N>
const char* lookup(const Reasoned (&table)[N], const std::string& name) {
    for (const auto& r : table)
        if (*r.name && name == r.name) return r.reason;
    return nullptr;
}

template <size_t N>
const char* lookup_prefix(const Reasoned (&table)[N], const std::string& name) {
    for (const auto& r : table)
        if (*r.name && name.rfind(r.name, 0) == 0) return r.reason;
    return nullptr;
}

stdfs::path data_dir() {
    if (const char* env = std::getenv("QCP_NODE_TESTS_DIR")) return env;
    return QCP_NODE_TESTS_DIR;
}

struct NamedTensor {
    std::string name;
    Tensor tensor;
};

NamedTensor load_pb(const stdfs::path& path) {
    std::ifstream f(path, std::ios::binary);
    onnx::TensorProto proto;
    if (!f || !proto.ParseFromIstream(&f)) throw Error(path.string() + ": not a TensorProto");
    return {proto.name(), onnx_io::detail::tensor_from_proto(proto, path.parent_path())};
}

std::vector<NamedTensor> load_numbered(const stdfs::path& dir, const std::string& prefix) {
    std::vector<NamedTensor> out;
    for (int i = 0;; ++i) {
        const auto p = dir / (prefix + std::to_string(i) + ".pb");
        if (!stdfs::exists(p)) break;
        out.push_back(load_pb(p));
    }
    return out;
}

bool is_float_type(DType t) {
    return t == DType::Float32 || t == DType::Float64 || t == DType::Float16 || t == DType::BFloat16;
}

// Why the model is out of scope, or "" when it is in.
std::string exclusion(const std::string& test, const ir::Model& model) {
    for (const auto& r : kExcludedTests)
        if (test.find(r.name) != std::string::npos) return r.reason;
    const ir::Graph& g = model.graph;
    for (const auto& node : g.nodes) {
        if (!node.domain.empty() && node.domain != "ai.onnx") return "non-default domain";
        if (const char* why = lookup(kExcludedOps, node.op_type)) return why;
    }
    bool float_input = false;
    for (const auto* list : {&g.inputs, &g.outputs}) {
        for (const auto& v : *list) {
            if (!v.opaque_type.empty()) return "sequence/optional/map value";
            if (g.find_initializer(v.name)) continue;
            const DType t = v.dtype;
            // bfloat16 expected outputs are stored as uint16 in ONNX 1.12's test data
            const bool ok = t == DType::Float32 || t == DType::Int64 || t == DType::Int32 || t == DType::Bool ||
                            (list == &g.outputs && t != DType::BFloat16 && dtype_traits(t).bits >= 8);
            if (!ok) return "dtype " + std::string(dtype_name(t));
            if (list == &g.inputs && t == DType::Float32) float_input = true;
        }
    }
    if (!float_input) return "no float input";
    return "";
}

// "" when `got` matches `want`, else what differs.
std::string compare(const Tensor& got, const Tensor& want) {
    if (got.dtype() != want.dtype())
        return std::string("dtype ") + dtype_name(got.dtype()) + ", expected " + dtype_name(want.dtype());
    if (got.shape() != want.shape()) return "shape " + shape_str(got.shape()) + ", expected " + shape_str(want.shape());
    if (!is_float_type(want.dtype())) return got.bytes() == want.bytes() ? "" : "integer values differ";
    for (int64_t i = 0; i < want.numel(); ++i) {
        const double g = got.get_as_double(i), w = want.get_as_double(i);
        if (std::isnan(w) && std::isnan(g)) continue;
        if (std::isinf(w) && g == w) continue;
        if (!(std::fabs(g - w) <= kAtol + kRtol * std::fabs(w))) {
            std::ostringstream s;
            s << "element " << i << ": " << g << ", expected " << w;
            return s.str();
        }
    }
    return "";
}

enum class Outcome { Pass, Wrong, Refused, Unsupported, Excluded };

struct Result {
    Outcome outcome = Outcome::Pass;
    std::string detail;  // exclusion reason, missing op, or what differs
};

Result run_test(const stdfs::path& dir) {
    const std::string name = dir.filename().string();
    ir::Model model;
    try {
        model = onnx_io::load_model(dir / "model.onnx");
    } catch (const Error& e) {
        // qcp loads opsets 7 to 21 of the default domain (DESIGN.md); the rest is out of scope
        const std::string msg = e.what();
        if (msg.find("unsupported opset") != std::string::npos) return {Outcome::Excluded, "opset below 7"};
        if (msg.find("no opset of the default ONNX domain") != std::string::npos)
            return {Outcome::Excluded, "non-default domain"};
        return {Outcome::Unsupported, "load: " + msg};
    }
    if (auto why = exclusion(name, model); !why.empty()) return {Outcome::Excluded, why};
    try {
        const engine::Session session(model);
        std::vector<stdfs::path> sets;
        for (const auto& entry : stdfs::directory_iterator(dir))
            if (entry.is_directory() && entry.path().filename().string().rfind("test_data_set_", 0) == 0)
                sets.push_back(entry.path());
        std::sort(sets.begin(), sets.end());
        for (const auto& set : sets) {
            auto inputs = load_numbered(set, "input_");
            const auto expected = load_numbered(set, "output_");
            // by name where the files carry names (optional inputs may be left out), else by position
            const auto& names = session.input_names();
            std::vector<Tensor> feed(names.size());
            std::vector<bool> fed(names.size(), false);
            for (size_t i = 0; i < inputs.size(); ++i) {
                size_t k = i;
                if (!inputs[i].name.empty()) {
                    const auto it = std::find(names.begin(), names.end(), inputs[i].name);
                    if (it == names.end()) return {Outcome::Unsupported, "input " + inputs[i].name + " not in graph"};
                    k = static_cast<size_t>(it - names.begin());
                }
                if (k >= names.size()) return {Outcome::Unsupported, "more inputs than the graph has"};
                feed[k] = std::move(inputs[i].tensor);
                fed[k] = true;
            }
            if (std::find(fed.begin(), fed.end(), false) != fed.end())
                return {Outcome::Unsupported, "not every graph input has data"};
            const auto outputs = session.run(feed);
            if (outputs.size() != expected.size())
                return {Outcome::Wrong, std::to_string(outputs.size()) + " outputs, expected " + std::to_string(expected.size())};
            for (size_t o = 0; o < outputs.size(); ++o)
                if (auto diff = compare(outputs[o], expected[o].tensor); !diff.empty())
                    return {Outcome::Wrong, set.filename().string() + " output " + std::to_string(o) + ": " + diff};
        }
    } catch (const Error& e) {
        const std::string msg = e.what();
        const std::string key = "has no kernel for ";
        const auto at = msg.find(key);
        if (at != std::string::npos) {
            const auto start = at + key.size();
            return {Outcome::Refused, msg.substr(start, msg.find(' ', start) - start)};
        }
        return {Outcome::Unsupported, msg};
    }
    return {};
}

TEST(NodeSuite, DefaultDomainFloatTestsMatchExpectedOutputs) {
    const stdfs::path root = data_dir();
    if (!stdfs::is_directory(root))
        GTEST_SKIP() << "ONNX node tests not found at " << root
                     << ": install Debian's libonnx-testdata (tools/install_deps.sh does) or set QCP_NODE_TESTS_DIR";
    std::vector<stdfs::path> dirs;
    for (const auto& entry : stdfs::directory_iterator(root))
        if (entry.is_directory() && stdfs::exists(entry.path() / "model.onnx")) dirs.push_back(entry.path());
    std::sort(dirs.begin(), dirs.end());
    ASSERT_FALSE(dirs.empty()) << "no node tests under " << root;

    const char* verbose_env = std::getenv("QCP_NODE_SUITE_VERBOSE");
    const bool verbose = verbose_env && std::string(verbose_env) == "1";
    std::map<Outcome, int> count;
    std::map<std::string, int> excluded_by, refused_by;
    for (const auto& dir : dirs) {
        const std::string name = dir.filename().string();
        const Result r = run_test(dir);
        ++count[r.outcome];
        switch (r.outcome) {
            case Outcome::Excluded: ++excluded_by[r.detail]; break;
            case Outcome::Refused:
                ++refused_by[r.detail];
                if (!lookup(kKnownGaps, r.detail)) ADD_FAILURE() << name << ": no kernel for " << r.detail;
                break;
            case Outcome::Unsupported:
                if (!lookup_prefix(kKnownUnsupported, name)) ADD_FAILURE() << name << ": " << r.detail;
                break;
            case Outcome::Wrong:
                if (!lookup_prefix(kKnownWrong, name)) ADD_FAILURE() << name << ": wrong result: " << r.detail;
                break;
            case Outcome::Pass: break;
        }
        if (verbose) {
            static const char* label[] = {"pass", "wrong", "refused", "unsupported", "excluded"};
            std::printf("%-60s %s %s\n", name.c_str(), label[static_cast<int>(r.outcome)], r.detail.c_str());
        }
    }
    const int in_scope = static_cast<int>(dirs.size()) - count[Outcome::Excluded];
    std::ostringstream s;
    s << "node suite: " << count[Outcome::Pass] << " of " << in_scope << " in-scope tests pass, "
      << count[Outcome::Wrong] << " wrong, " << count[Outcome::Refused] << " refused (no kernel), "
      << count[Outcome::Unsupported] << " unsupported; " << count[Outcome::Excluded] << " of " << dirs.size()
      << " excluded (";
    bool first = true;
    for (const auto& [why, n] : excluded_by) s << (first ? "" : ", ") << why << " " << n, first = false;
    s << ")";
    if (!refused_by.empty()) {
        s << "; missing:";
        for (const auto& [op, n] : refused_by) s << " " << op << "(" << n << ")";
    }
    std::printf("%s\n", s.str().c_str());
}

}  // namespace
}  // namespace qcp
