// --activations 8 models in ONNX Runtime 1.30 (CPU) against qcp's engine:
//   - ORT fuses exactly the kernels the report predicts (its optimized-model dump);
//   - kernel by kernel, fed the same uint8 input codes, ORT's integer kernel and the engine's
//     float emulation (DQ → op → Q) agree within one step of the output grid, on a bounded
//     fraction of the elements (rounding ties of the int32 requantization against float sums);
//   - the whole model's logits agree closely and its predictions almost always.
// Needs tools/install_deps.sh --ort (skipped otherwise).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "qcp/core/npy.hpp"
#include "qcp/engine/session.hpp"
#include "qcp/onnx_io/onnx_io.hpp"
#include "qcp/pipeline/compress.hpp"
#include "qcp/pipeline/metrics.hpp"
#include "qcp/rewrite/act_rewrite.hpp"
#include "test_util.hpp"

namespace qcp {
namespace {

namespace stdfs = std::filesystem;

constexpr int kMaxCodeStep = 1;            // |ORT code − engine code| on the same input codes
constexpr double kMaxOffFraction = 1e-4;   // of a kernel's output codes one step off (seen: ≤ 7.5e-6)
constexpr double kFloatOutTol = 1e-4;      // QGemm's float output, relative to its largest magnitude
constexpr double kLogitsRelTol = 0.01;     // whole model: ‖Δlogits‖ / ‖logits‖ over the 64 images (seen: 0.0023)
constexpr int kMinTop1Agree = 63;          // of 64

const stdfs::path kSource(QCP_SOURCE_DIR);
const std::string kCalib = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz";

struct Case {
    std::string name, model, method;
    int bits;
    std::vector<std::string> excludes;
    bool full_int8 = false;  // int8 weights beyond [-64, 63]: ORT's x86 kernels saturate without VNNI
};

// Whether ORT's u8s8 kernels on this CPU may saturate: x86 without VNNI (AVX-VNNI, AVX512-VNNI or
// AMX), where the AVX2 / AVX512BW kernels sum pairs of u8 × s8 products in int16 (vpmaddubsw;
// microsoft/onnxruntime#6004, #24220). With weights in [-64, 63] no pair can overflow.
bool ort_int8_may_saturate() {
#if defined(__x86_64__) || defined(__i386__)
    const std::string info = test::read_text("/proc/cpuinfo");
    for (const char* flag : {" avx512_vnni", " avx_vnni", " amx_int8"})
        if (info.find(flag) != std::string::npos) return false;
    return true;
#else
    return false;
#endif
}

// A fused node's group as ORT sees it: the uint8 codes it reads and what it writes.
struct Group {
    std::string kernel, in_codes, out;
    bool float_out = false;
};

std::vector<Group> fused_groups(const ir::Graph& g) {
    std::vector<Group> groups;
    for (size_t i = 0; i < g.nodes.size(); ++i) {
        const std::string f = rewrite::ort_qdq_fusion(g, static_cast<int>(i));
        if (f.rfind("none", 0) == 0) continue;
        const ir::Node& n = g.nodes[i];
        Group gr;
        gr.kernel = f.substr(0, f.find(' '));
        gr.in_codes = g.nodes[static_cast<size_t>(g.producer(n.input(0)))].input(0);
        std::string y = n.outputs[0];
        for (int hop = 0; hop < 2 && !g.is_graph_output(y) && gr.out.empty(); ++hop) {
            const ir::Node& c = g.nodes[static_cast<size_t>(g.consumers(y).at(0))];
            if (c.op_type == "QuantizeLinear") gr.out = c.outputs[0];
            y = c.outputs[0];  // through the folded Relu/Clip
        }
        if (gr.out.empty()) gr.out = n.outputs[0], gr.float_out = true;
        groups.push_back(gr);
    }
    return groups;
}

// Every group as its own sub-graph, reading `g<k>/in` (its input codes) and writing `g<k>/out`.
ir::Model groups_model(const ir::Model& m, const std::vector<Group>& groups, const std::map<std::string, Shape>& code_shapes) {
    const ir::Graph& g = m.graph;
    ir::Model out;
    out.opset_import = m.opset_import;
    out.ir_version = m.ir_version;
    out.graph.name = "kernels";
    std::set<std::string> inits;
    for (size_t k = 0; k < groups.size(); ++k) {
        const Group& gr = groups[k];
        const std::string prefix = "g" + std::to_string(k) + "/";
        auto rename = [&](const std::string& v) {
            if (v.empty() || g.find_initializer(v)) return v;
            return v == gr.in_codes ? prefix + "in" : prefix + v;
        };
        std::vector<int> stack = {g.producer(gr.out)};
        std::set<int> seen;
        while (!stack.empty()) {
            const int p = stack.back();
            stack.pop_back();
            if (!seen.insert(p).second) continue;
            ir::Node n = g.nodes[static_cast<size_t>(p)];
            for (auto& v : n.inputs) {
                if (v.empty()) continue;
                if (const ir::Initializer* init = g.find_initializer(v)) {
                    if (inits.insert(v).second) out.graph.initializers.push_back(*init);
                } else if (v != gr.in_codes) {
                    stack.push_back(g.producer(v));
                }
                v = rename(v);
            }
            for (auto& v : n.outputs) v = rename(v);
            n.name = prefix + n.name;
            out.graph.nodes.push_back(n);
        }
        ir::ValueInfo in;
        in.name = prefix + "in";
        in.dtype = DType::UInt8;
        in.has_shape = true;
        for (int64_t d : code_shapes.at(gr.in_codes)) in.dims.push_back({d, ""});
        out.graph.inputs.push_back(in);
        ir::ValueInfo o;
        o.name = rename(gr.out);
        o.dtype = gr.float_out ? DType::Float32 : DType::UInt8;
        o.has_shape = true;  // the input's rank: Conv keeps NCHW, Gemm/MatMul the rows
        for (size_t d = 0; d < in.dims.size(); ++d) o.dims.push_back({-1, "d" + std::to_string(d)});
        out.graph.outputs.push_back(o);
    }
    out.graph.rebuild_index();
    out.graph.sort_topologically();
    return out;
}

// Runs tools/ort/ort_run.js; returns its outputs by name.
std::map<std::string, Tensor> run_ort(const stdfs::path& model, const stdfs::path& dir, const std::vector<std::string>& inputs,
                                      const stdfs::path& optimized = {}) {
    std::string cmd = "node " + (kSource / "tools/ort/ort_run.js").string() + " " + model.string() + " " + dir.string();
    for (const auto& in : inputs) cmd += " --input '" + in + "'";
    if (!optimized.empty()) cmd += " --optimized " + optimized.string();
    cmd += " 2>" + (dir.string() + ".err");
    EXPECT_EQ(std::system(cmd.c_str()), 0) << test::read_text(dir.string() + ".err");
    std::map<std::string, Tensor> out;
    for (const auto& o : nlohmann::json::parse(test::read_text(dir / "outputs.json")))
        out[o["name"].get<std::string>()] = npy::load(dir / o["file"].get<std::string>());
    return out;
}

class ActVsOrt : public ::testing::TestWithParam<Case> {};

TEST_P(ActVsOrt, FusesAsPredictedAndAgreesWithinOneStep) {
    if (!stdfs::exists(kSource / "tools/ort/node_modules/onnxruntime-node")) GTEST_SKIP() << "ONNX Runtime not installed";
    const Case& c = GetParam();
    if (c.full_int8 && ort_int8_may_saturate())
        GTEST_SKIP() << "this CPU has no VNNI: ONNX Runtime's u8s8 kernels saturate on 8-bit weights (the 7-bit case runs)";
    test::TempDir dir;
    CompressOptions o;
    o.model = test::models_dir() + "/" + c.model + ".onnx";
    o.output = dir / "m.onnx";
    o.method = c.method;
    o.bits = c.bits;
    o.excludes = c.excludes;
    o.rank_ratio = 4;
    o.calib = kCalib;
    o.calib_count = 128;
    o.activations = 8;
    const CompressReport r = compress(o);
    std::map<std::string, int> predicted;
    for (const auto& p : r.layers)
        for (const auto& f : p.activation_fusion)
            if (f.rfind("none", 0) != 0) ++predicted[f.substr(0, f.find(' '))];
    ASSERT_FALSE(predicted.empty());

    const ir::Model m = onnx_io::load_model(o.output);
    const Tensor x = npy::load(kSource / "tests/engine/model_fixtures/input_64.npy");
    npy::save(dir / "x.npy", x);
    const auto ort = run_ort(o.output, dir / "ort", {(dir / "x.npy").string()}, dir / "opt.onnx");
    // the kernels ORT chose
    std::map<std::string, int> chosen;
    for (const auto& n : onnx_io::load_model(dir / "opt.onnx").graph.nodes)
        if (predicted.count(n.op_type)) ++chosen[n.op_type];
    EXPECT_EQ(chosen, predicted);

    // the whole model
    const Tensor want = ort.at(m.graph.outputs[0].name);
    const Tensor got = engine::Session(m).run(x).at(0);
    double e = 0, ref = 0;
    int agree = 0;
    const int64_t classes = want.dim(1);
    for (int64_t s = 0; s < want.dim(0); ++s) {
        const float* gs = got.data<float>() + s * classes;
        const float* ws = want.data<float>() + s * classes;
        for (int64_t k = 0; k < classes; ++k) e += std::pow(double(gs[k]) - ws[k], 2), ref += double(ws[k]) * ws[k];
        agree += argmax(gs, classes) == argmax(ws, classes);
    }
    EXPECT_LE(std::sqrt(e / ref), kLogitsRelTol);
    EXPECT_GE(agree, kMinTop1Agree);

    // kernel by kernel, on the engine's own input codes
    const std::vector<Group> groups = fused_groups(m.graph);
    ir::Model taps = m;
    std::set<std::string> tapped;
    for (const auto& gr : groups)
        if (tapped.insert(gr.in_codes).second) taps.graph.outputs.push_back(ir::ValueInfo{gr.in_codes, DType::UInt8, false, {}, "", ""});
    taps.graph.rebuild_index();
    const std::vector<Tensor> codes = engine::Session(taps).run(x);
    std::map<std::string, Shape> shapes;
    std::map<std::string, Tensor> by_value;
    for (size_t i = 1; i < taps.graph.outputs.size(); ++i) {
        by_value[taps.graph.outputs[i].name] = codes[i];
        shapes[taps.graph.outputs[i].name] = codes[i].shape();
    }
    const ir::Model sub = groups_model(m, groups, shapes);
    onnx_io::save_model(sub, dir / "groups.onnx");
    std::vector<std::string> inputs;
    std::vector<Tensor> feeds;
    for (size_t k = 0; k < groups.size(); ++k) {
        const std::string file = (dir / ("in" + std::to_string(k) + ".npy")).string();
        npy::save(file, by_value.at(groups[k].in_codes));
        inputs.push_back("g" + std::to_string(k) + "/in=" + file);
        feeds.push_back(by_value.at(groups[k].in_codes));
    }
    const auto ort_k = run_ort(dir / "groups.onnx", dir / "ort_groups", inputs);
    const std::vector<Tensor> eng_k = engine::Session(sub).run(feeds);
    for (size_t k = 0; k < groups.size(); ++k) {
        const std::string& name = sub.graph.outputs[k].name;
        const Tensor& a = eng_k[k];
        const Tensor& b = ort_k.at(name);
        ASSERT_EQ(a.shape(), b.shape()) << name;
        if (groups[k].float_out) {
            double max_ref = 0, max_diff = 0;
            for (int64_t i = 0; i < a.numel(); ++i) {
                max_ref = std::max(max_ref, std::fabs(double(b.data<float>()[i])));
                max_diff = std::max(max_diff, std::fabs(double(a.data<float>()[i]) - b.data<float>()[i]));
            }
            EXPECT_LE(max_diff, kFloatOutTol * max_ref) << groups[k].kernel << " " << name;
            continue;
        }
        int64_t off = 0, worst = 0;
        for (int64_t i = 0; i < a.numel(); ++i) {
            const int64_t d = std::abs(int64_t(a.data<uint8_t>()[i]) - int64_t(b.data<uint8_t>()[i]));
            off += d > 0;
            worst = std::max(worst, d);
        }
        EXPECT_LE(worst, kMaxCodeStep) << groups[k].kernel << " " << name;
        EXPECT_LE(double(off) / double(a.numel()), kMaxOffFraction) << groups[k].kernel << " " << name << ": " << off << " of "
                                                                    << a.numel() << " codes one step off";
    }
}

INSTANTIATE_TEST_SUITE_P(
    Models, ActVsOrt,
    ::testing::Values(Case{"resnet_rtn_w8a8", "fmnist_resnet", "rtn", 8, {}, true},
                      Case{"resnet_rtn_w7a8", "fmnist_resnet", "rtn", 7, {}},
                      Case{"mlp_gptq_w4a8", "fmnist_mlp", "gptq", 4, {}},
                      // two factorized 1×1 convs with the (uncompressed) depthwise conv between them
                      Case{"mobilenet_admm_w4a8", "fmnist_mobilenet", "admm-cp", 4, {"features\\.[5-7]"}}),
    [](const ::testing::TestParamInfo<Case>& i) { return i.param.name; });

}  // namespace
}  // namespace qcp
