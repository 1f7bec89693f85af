// The statistics correction on MatMul layers (rtn, gptq) and on pq convs, end to end through compress() on small
// models built here with planted data: inputs whose features have large means, so that the
// quantization error of a weight shifts every output channel's mean, which the correction
// removes. The output error against the original network on held-out samples (same
// distribution, other seed) must fall; the written files pass the ONNX checker (save_model) and
// load in the engine (evaluate).
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "qcp/core/npy.hpp"
#include "qcp/ir/graph.hpp"
#include "qcp/onnx_io/onnx_io.hpp"
#include "qcp/pipeline/compress.hpp"
#include "qcp/pipeline/evaluate.hpp"
#include "qcp/rewrite/cp_rewrite.hpp"
#include "ir/ir_builders.hpp"
#include "stages/context.hpp"
#include "test_util.hpp"

namespace qcp {
namespace {

constexpr int64_t kSamples = 48;
constexpr int64_t kSeq = 6, kIn = 16, kHidden = 24, kOut = 8;  // the MatMul model: (N, T, C) activations
constexpr int64_t kCin = 4, kSide = 10, kMid = 16;              // the conv model: (N, C, H, W)
// The corrected output error is at most this fraction of the uncorrected one: the planted means
// make most of the error a per-channel shift.
constexpr double kMaxErrorRatio = 0.9;
constexpr float kMeanLo = 2.f, kMeanSpan = 4.f;  // feature means, in units of the noise
constexpr float kDeadWeight = 1e-20f;

Tensor normal(Shape shape, uint32_t seed, float scale) {
    std::mt19937 gen(seed);
    std::normal_distribution<float> n(0.f, scale);
    Tensor t(DType::Float32, std::move(shape));
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = n(gen);
    return t;
}

// Features with means kMeanLo … kMeanLo + kMeanSpan along `axis` (1: channels of an image, 2: the last axis of a
// sequence) and unit noise.
Tensor planted_inputs(Shape shape, int axis, uint32_t seed) {
    Tensor t = normal(shape, seed, 1.f);
    const int64_t c = shape[static_cast<size_t>(axis)];
    int64_t inner = 1;
    for (size_t d = static_cast<size_t>(axis) + 1; d < shape.size(); ++d) inner *= shape[d];
    for (int64_t i = 0; i < t.numel(); ++i)
        t.data<float>()[i] += kMeanLo + kMeanSpan * static_cast<float>((i / inner) % c) / static_cast<float>(c);
    return t;
}

// A float input or output of shape (N, rest...), N dynamic.
ir::ValueInfo batched(const std::string& name, Shape rest) {
    ir::ValueInfo v = test::make_value(name, rest);
    v.dims.insert(v.dims.begin(), ir::Dim{-1, "N"});
    return v;
}

ir::Node node(const std::string& op, const std::string& name, std::vector<std::string> in, const std::string& out,
              std::vector<ir::Attribute> attrs = {}) {
    ir::Node n = test::make_node(op, std::move(in), {out}, name);
    n.attributes = std::move(attrs);
    return n;
}

ir::Model model_of(ir::Graph g) {
    ir::Model m;
    m.opset_import = {{"", 13}};
    m.graph = std::move(g);
    m.graph.rebuild_index();
    return m;
}

// x (N, T, 16) → MatMul (16, 24) → Add c1 → Relu → MatMul (24, 24) → Relu → MatMul (24, 8) → y:
// mm1's shift folds into c1, mm2 (read by a Relu) and mm3 (the graph output) get an Add of their
// own.
ir::Model sequence_model() {
    ir::Graph g;
    g.name = "planted_matmul";
    g.inputs.push_back(batched("x", {kSeq, kIn}));
    g.outputs.push_back(batched("y", {kSeq, kOut}));
    g.initializers.push_back({"w1", normal({kIn, kHidden}, 1, 0.3f), ""});
    g.initializers.push_back({"c1", normal({kHidden}, 2, 0.5f), ""});
    g.initializers.push_back({"w2", normal({kHidden, kHidden}, 3, 0.3f), ""});
    g.initializers.push_back({"w3", normal({kHidden, kOut}, 4, 0.3f), ""});
    g.nodes = {node("MatMul", "mm1", {"x", "w1"}, "h0"), node("Add", "add1", {"h0", "c1"}, "h1"), node("Relu", "relu1", {"h1"}, "h2"),
               node("MatMul", "mm2", {"h2", "w2"}, "h3"), node("Relu", "relu2", {"h3"}, "h4"), node("MatMul", "mm3", {"h4", "w3"}, "y")};
    return model_of(std::move(g));
}

// x (N, 4, 10, 10) → Conv 3×3 (16, bias) → Relu → Conv 3×3 (8) → y, conv2's output channel 0
// dead: its weights 1e-20 of the others' (constant output up to float noise).
ir::Model conv_model() {
    ir::Graph g;
    g.name = "planted_conv";
    g.inputs.push_back(batched("x", {kCin, kSide, kSide}));
    g.outputs.push_back(batched("y", {kOut, kSide, kSide}));
    g.initializers.push_back({"w1", normal({kMid, kCin, 3, 3}, 4, 0.3f), ""});
    g.initializers.push_back({"b1", normal({kMid}, 5, 0.5f), ""});
    Tensor w2 = normal({kOut, kMid, 3, 3}, 6, 0.2f);
    for (int64_t i = 0; i < kMid * 9; ++i) w2.data<float>()[i] *= kDeadWeight;
    g.initializers.push_back({"w2", w2, ""});
    const std::vector<ir::Attribute> pads = {ir::Attribute::make_ints("pads", {1, 1, 1, 1})};
    g.nodes = {node("Conv", "conv1", {"x", "w1", "b1"}, "h0", pads), node("Relu", "relu", {"h0"}, "h1"),
               node("Conv", "conv2", {"h1", "w2"}, "y", pads)};
    return model_of(std::move(g));
}

struct Planted : ::testing::Test {
    test::TempDir dir;

    // Writes `m` and its calibration and held-out inputs; returns the model's path.
    std::filesystem::path write(const ir::Model& m, Shape x_shape, int axis) {
        const auto path = dir / (m.graph.name + ".onnx");
        onnx_io::save_model(m, path);
        npy::save(dir / "calib.npy", planted_inputs(x_shape, axis, 7));
        npy::save(dir / "held_out.npy", planted_inputs(x_shape, axis, 8));
        return path;
    }

    struct Run {
        CompressReport report;
        ir::Model written;
        double output_rel_error = 0;
    };

    // compress with or without the correction, then the output error on the held-out samples.
    Run run(const std::filesystem::path& model, CompressOptions o, bool correct) {
        o.model = model;
        o.output = dir / (model.stem().string() + "-" + o.method + (correct ? "-corrected" : "") + ".onnx");
        o.calib = dir / "calib.npy";
        o.calib_count = kSamples;
        o.correct = correct;
        o.force = true;  // the same model is compressed at several settings
        o.threads = 1;
        Run r;
        r.report = compress(o);
        r.written = onnx_io::load_model(o.output);
        EvalOptions e;
        e.model = o.output;
        e.ref = model;
        e.data = dir / "held_out.npy";
        e.threads = 1;
        const EvalReport ev = evaluate(e);
        EXPECT_TRUE(ev.output_rel_error.has_value());
        r.output_rel_error = ev.output_rel_error.value_or(0);
        return r;
    }
};

int count_corrected(const CompressReport& r) {
    return static_cast<int>(std::count_if(r.layers.begin(), r.layers.end(), [](const LayerPlan& p) { return p.corrected; }));
}

// The per-channel Muls the correction put on pq lookups.
int count_scale_muls(const ir::Graph& g) {
    const std::string tail = ".channel_scale_mul";
    return static_cast<int>(std::count_if(g.nodes.begin(), g.nodes.end(), [&](const ir::Node& n) {
        return n.op_type == "Mul" && n.name.size() > tail.size() && n.name.compare(n.name.size() - tail.size(), tail.size(), tail) == 0;
    }));
}

// The op writing `value`.
std::string producer_op(const ir::Graph& g, const std::string& value) {
    const int p = g.producer(value);
    return p < 0 ? "" : g.nodes[static_cast<size_t>(p)].op_type;
}

// rtn and gptq on MatMul layers of (N, T, C) activations: channels on the last axis. pq leaves
// MatMul layers uncorrected (measured on PP-OCRv4 rec).
TEST_F(Planted, CorrectionOnMatMulLayersLowersTheOutputError) {
    const auto model = write(sequence_model(), {kSamples, kSeq, kIn}, 2);
    for (const std::string method : {"rtn", "gptq", "pq"}) {
        CompressOptions o;
        o.method = method;
        o.bits = 3;
        o.centroids = 8;
        const Run before = run(model, o, false), after = run(model, o, true);
        EXPECT_EQ(count_corrected(before.report), 0) << method;
        if (method == "pq") {
            EXPECT_EQ(count_corrected(after.report), 0);
            continue;
        }
        EXPECT_EQ(count_corrected(after.report), 3) << method;
        // the first MatMul's shift went into add1's constant, the others' into new Adds
        const ir::Graph& g = after.written.graph;
        EXPECT_EQ(producer_op(g, "h0"), "MatMul") << method;
        EXPECT_EQ(producer_op(g, "h1"), "Add") << method;
        EXPECT_EQ(g.find_initializer("c1"), nullptr) << method;  // replaced by the corrected copy
        for (const std::string v : {"h3", "y"}) {
            EXPECT_GE(rewrite::correction_bias_add(g, v), 0) << method << " " << v;
            EXPECT_EQ(producer_op(g, v + "/pre_bias"), "MatMul") << method << " " << v;
        }
        EXPECT_LT(after.output_rel_error, kMaxErrorRatio * before.output_rel_error)
            << method << ": corrected " << after.output_rel_error << " against " << before.output_rel_error;
    }
}

// pq on convs (plain weight k-means, as above): the scale is a Mul on the decoded lookup (folded
// at load), the shift the bias.
TEST_F(Planted, CorrectionOnPqConvsLowersTheOutputError) {
    const auto model = write(conv_model(), {kSamples, kCin, kSide, kSide}, 1);
    CompressOptions o;
    o.method = "pq";
    o.centroids = 8;
    o.pq_metric = false;
    const Run before = run(model, o, false), after = run(model, o, true);
    EXPECT_EQ(count_corrected(before.report), 0);
    EXPECT_EQ(count_corrected(after.report), 2);
    EXPECT_EQ(count_scale_muls(before.written.graph), 0);
    EXPECT_EQ(count_scale_muls(after.written.graph), 2);
    // the dead channel is scaled by 0 exactly (its constant is the bias), not by ~1e-20, whose
    // products turn subnormal and slow ONNX Runtime down; the live ones are scaled
    const ir::Initializer* scale = after.written.graph.find_initializer("qcp/conv2/w.channel_scale");
    ASSERT_NE(scale, nullptr);
    const std::vector<float> s = scale->tensor.to_float_vector();
    ASSERT_EQ(s.size(), static_cast<size_t>(kOut));
    EXPECT_EQ(s[0], 0.f);
    for (size_t o = 1; o < s.size(); ++o) EXPECT_GT(s[o], 0.1f) << "channel " << o;
    EXPECT_LT(after.output_rel_error, kMaxErrorRatio * before.output_rel_error)
        << "corrected " << after.output_rel_error << " against " << before.output_rel_error;
}

// The solve on the calibration stream writes the very file the per-layer runs write when the
// correction adds Adds: the stream re-runs the rescaled MatMul behind the new Add, not a stale
// weight (mm3's Hessian and statistics come through mm2's new Add).
TEST_F(Planted, StreamedSolveWritesWhatPerLayerRunsWriteWithAddedBiases) {
    const auto model = write(sequence_model(), {kSamples, kSeq, kIn}, 2);
    for (const std::string method : {"gptq", "cp-als"}) {
        std::string bytes[2];
        for (int fallback = 0; fallback < 2; ++fallback) {
            CompressOptions o;
            o.model = model;
            o.output = dir / (method + std::to_string(fallback) + ".onnx");
            o.method = method;
            o.calib = dir / "calib.npy";
            o.calib_count = kSamples;
            o.batch = 20;  // three batches, the last one partial
            o.bits = 3;
            o.rank = 4;
            o.centroids = 8;
            o.threads = 1;
            stages::Context c(o);
            stages::load(c);
            stages::plan(c);
            stages::calibrate(c);
            if (fallback) c.stream_max_live_bytes = 0;
            stages::solve(c);
            EXPECT_TRUE(c.calib_streamed != bool(fallback)) << method;
            ASSERT_GE(c.correctable.size(), 2u) << method;  // cp keeps the last layer as it is
            for (const auto& d : c.correctable) EXPECT_TRUE(c.report.layers[d.plan_index].corrected) << method;  // in the solve
            stages::correct(c);
            stages::save(c);
            bytes[fallback] = test::read_text(o.output);
        }
        EXPECT_FALSE(bytes[0].empty());
        EXPECT_TRUE(bytes[0] == bytes[1]) << method << ": streamed and per-layer outputs differ";
    }
}

}  // namespace
}  // namespace qcp
