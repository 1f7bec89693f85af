// compress() stage by stage, in process, on the shipped fmnist_mlp (4 Gemm layers) with a small
// seeded calibration set: what each stage leaves in the context, checked against independent
// references (naive XᵀX, the original network's channel statistics, the file on disk), and the
// stages run one by one against compress(opts).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <set>

#include "methods/method.hpp"
#include "qcp/core/error.hpp"
#include "qcp/core/memory.hpp"
#include "qcp/core/npy.hpp"
#include "qcp/core/sha256.hpp"
#include "qcp/engine/session.hpp"
#include "qcp/onnx_io/onnx_io.hpp"
#include "qcp/pipeline/compress.hpp"
#include "qcp/pipeline/evaluate.hpp"
#include "qcp/pipeline/gate.hpp"
#include "stages/context.hpp"
#include "calibration.hpp"
#include "stream.hpp"
#include "test_util.hpp"

namespace qcp {
namespace {

constexpr int64_t kCalibSamples = 64;
constexpr double kHessianTol = 1e-5;        // relative: the accumulator multiplies in float tiles
constexpr double kRtn8MaxRelError = 0.01;   // 8-bit per-channel rounding of a trained layer
constexpr double kMeanTol = 2e-3;           // corrected channel means vs the original's (relative to std)

std::string mlp() { return test::models_dir() + "/fmnist_mlp.onnx"; }

// Uniform [0, 1) images of (N, 1, 28, 28), as pixel/255 inputs look.
Tensor calib_tensor() {
    Tensor t(DType::Float32, {kCalibSamples, 1, 28, 28});
    std::mt19937 gen(7);
    std::uniform_real_distribution<float> u(0.f, 1.f);
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = u(gen);
    return t;
}

struct Fixture : ::testing::Test {
    test::TempDir dir;
    std::filesystem::path calib = dir / "calib.npy";
    Tensor x = calib_tensor();
    void SetUp() override { npy::save(calib, x); }
    CompressOptions options(const std::string& method) const {
        CompressOptions o;
        o.model = mlp();
        o.output = dir / (method + ".onnx");
        o.method = method;
        o.calib = calib;
        o.calib_count = kCalibSamples;
        o.bits = 8;
        o.threads = 1;
        return o;
    }
};

using CompressStages = Fixture;

// The stages every later one needs: load, plan, calibrate.
void prepare(stages::Context& c) {
    stages::load(c);
    stages::plan(c);
    stages::calibrate(c);
}

// Every stage of compress() up to the save, one by one.
void run_through_save(stages::Context& c) {
    prepare(c);
    stages::budget(c);
    stages::solve(c);
    stages::correct(c);
    stages::quantize_activations(c);
    stages::save(c);
}

TEST(MethodTable, EveryRowIsFoundByNameAndListedInOrder) {
    const auto& infos = compress_methods();
    ASSERT_EQ(infos.size(), methods::table().size());
    std::set<std::string> names;
    for (size_t i = 0; i < infos.size(); ++i) {
        EXPECT_EQ(std::string(infos[i].name), methods::table()[i]->name());
        EXPECT_EQ(&methods::find(infos[i].name), methods::table()[i]);
        names.insert(infos[i].name);
    }
    EXPECT_EQ(names.size(), infos.size());
    EXPECT_EQ(methods::lookup("none"), nullptr);
    EXPECT_THROW(methods::find("nope"), Error);
    EXPECT_NE(methods::lookup(kDefaultMethod), nullptr);
    EXPECT_EQ(method_names(true), "admm-cp, cp-als");
}

// Which method takes which layer is the methods' policy (ir only says whether a weight can be
// rewritten at all).
TEST(MethodTable, BlockersSayWhichMethodTakesALayer) {
    ir::Layer dw;
    dw.op = "Conv";
    dw.weight_shape = {6, 1, 3, 3};
    dw.groups = 6;
    EXPECT_EQ(methods::admm_cp().blocker(dw), "depthwise conv");
    EXPECT_EQ(methods::cp_als().blocker(dw), "depthwise conv");
    EXPECT_EQ(methods::rtn().blocker(dw), "");
    EXPECT_EQ(methods::gptq().blocker(dw), "");
    EXPECT_EQ(methods::pq().blocker(dw), "");
    ir::Layer grouped = dw;
    grouped.weight_shape = {8, 2, 3, 3};
    grouped.groups = 2;
    EXPECT_EQ(methods::admm_cp().blocker(grouped), "grouped conv");
    ir::Layer deconv = dw;
    deconv.op = "ConvTranspose";
    deconv.groups = 1;
    EXPECT_EQ(methods::admm_cp().blocker(deconv), "ConvTranspose is not factorized");
    EXPECT_EQ(methods::rtn().blocker(deconv), "ConvTranspose is not quantized");
    ir::Layer shared = dw;
    shared.unusable = "weight shared by 2 nodes";
    for (const methods::Method* m : methods::table()) EXPECT_EQ(m->blocker(shared), "weight shared by 2 nodes") << m->name();
}

TEST(MethodTable, StatusNamesAreDistinct) {
    std::set<std::string> seen;
    for (int s = 0; s < kLayerStatusCount; ++s) seen.insert(layer_status_name(static_cast<LayerStatus>(s)));
    EXPECT_EQ(seen.size(), static_cast<size_t>(kLayerStatusCount));
    EXPECT_STREQ(layer_status_name(LayerStatus::MaxIterations), "max-iterations");
}

TEST_F(CompressStages, LoadReadsTheModelAndRefusesAnExistingOutput) {
    stages::Context c(options("rtn"));
    stages::load(c);
    ASSERT_EQ(c.layers.size(), 4u);
    ASSERT_EQ(c.layer_outputs.size(), 4u);
    EXPECT_EQ(c.report.input_bytes, std::filesystem::file_size(mlp()));
    EXPECT_EQ(c.report.input_sha256, sha256_file(mlp()));
    for (size_t i = 0; i < c.layers.size(); ++i) EXPECT_EQ(c.model.graph.producer(c.layer_outputs[i]), c.layers[i].node);

    test::write_bytes(c.options.output, "keep me");
    stages::Context again(options("rtn"));
    EXPECT_THROW(stages::load(again), Error);
    EXPECT_EQ(std::filesystem::file_size(c.options.output), 7u);
}

TEST_F(CompressStages, PlanAppliesMethodPolicyAndRules) {
    CompressOptions o = options("admm-cp");
    stages::Context cp(o);
    stages::load(cp);
    stages::plan(cp);
    ASSERT_EQ(cp.report.layers.size(), 4u);
    EXPECT_TRUE(cp.report.layers[0].selected);
    EXPECT_GT(cp.report.layers[0].rank, 0);
    EXPECT_LT(cp.report.layers[0].params_after, cp.report.layers[0].params_before);
    EXPECT_FALSE(cp.report.layers[3].selected);  // the classifier, by default
    EXPECT_EQ(cp.report.layers[3].reason, "last classifier, excluded by default");
    EXPECT_EQ(cp.report.layers[3].method, "none");

    o.layer_rules = {"fc4=rank=3", "fc1=method=rtn"};
    o.excludes = {"fc2"};
    stages::Context ruled(o);
    stages::load(ruled);
    stages::plan(ruled);
    EXPECT_EQ(ruled.report.layers[0].method, "rtn");
    EXPECT_EQ(ruled.report.layers[0].rank, 0);
    EXPECT_EQ(ruled.report.layers[1].reason, "excluded by --exclude");
    EXPECT_TRUE(ruled.report.layers[3].selected);
    EXPECT_EQ(ruled.report.layers[3].rank, 3);
}

// Ranks a rule picks (--rank-ratio, a budget) are multiples of --rank-align, rounded down from
// the exact rule; an explicit rank is kept as given.
TEST_F(CompressStages, PlanRoundsRuleRanksDownToTheAlignment) {
    CompressOptions o = options("admm-cp");
    o.rank_ratio = 3;
    o.rank_align = 1;
    stages::Context exact(o);
    stages::load(exact);
    stages::plan(exact);
    o.rank_align = 8;
    o.layer_rules = {"fc4=rank=3"};
    stages::Context aligned(o);
    stages::load(aligned);
    stages::plan(aligned);
    int checked = 0;
    for (size_t i = 0; i + 1 < aligned.report.layers.size(); ++i) {
        const LayerPlan& a = aligned.report.layers[i];
        const LayerPlan& e = exact.report.layers[i];
        if (!a.selected) continue;
        ASSERT_GE(e.rank, 8) << a.name;
        EXPECT_EQ(a.rank, e.rank / 8 * 8) << a.name;
        EXPECT_LE(a.params_after, e.params_after) << a.name;
        ++checked;
    }
    EXPECT_GT(checked, 0);
    EXPECT_EQ(aligned.report.layers.back().rank, 3);

    o.layer_rules.clear();
    o.rank_ratio.reset();
    o.target_ratio = 6;
    o.rank_align = 4;
    stages::Context budget(o);
    prepare(budget);
    stages::budget(budget);
    for (const auto& p : budget.report.layers) {
        if (p.selected && p.rank >= 4) {
            EXPECT_EQ(p.rank % 4, 0) << p.name;
        }
    }

    o.rank_align = 0;
    stages::Context bad(o);
    EXPECT_THROW(stages::load(bad), Error);
}

TEST_F(CompressStages, CalibrateCollectsTheFirstLayersHessianAsXtX) {
    stages::Context c(options("rtn"));
    prepare(c);
    EXPECT_EQ(c.calib_n, kCalibSamples);
    EXPECT_EQ(c.objective, "weight");
    stages::collect_input_hessians(c, false);
    EXPECT_TRUE(c.hessians.empty());  // rtn's solve reads no Hessian
    stages::collect_input_hessians(c, true);
    ASSERT_EQ(c.hessians.size(), 4u);
    // fc1 sees the flattened image: H = XᵀX of the (N, 784) data, computed here in a naive loop
    const Eigen::MatrixXd& h = c.hessians.at(0);
    ASSERT_EQ(h.rows(), 784);
    double worst = 0, scale = 0;
    const float* p = x.data<float>();
    for (int64_t i = 0; i < 784; i += 37)
        for (int64_t j = 0; j < 784; j += 41) {
            double s = 0;
            for (int64_t n = 0; n < kCalibSamples; ++n) s += double(p[n * 784 + i]) * p[n * 784 + j];
            worst = std::max(worst, std::abs(s - h(i, j)));
            scale = std::max(scale, std::abs(s));
        }
    EXPECT_LT(worst, kHessianTol * scale);
}

TEST_F(CompressStages, BudgetMeetsItsRatioOnlyWhenAsked) {
    CompressOptions o = options("rtn");
    stages::Context none(o);
    prepare(none);
    stages::budget(none);
    EXPECT_FALSE(none.report.budget_target.has_value());

    o.target_ratio = 6;
    stages::Context c(o);
    prepare(c);
    stages::budget(c);
    ASSERT_EQ(c.report.budget_target.value_or(""), "ratio");
    int64_t before = 0, after = 0;
    for (const auto& p : c.report.layers) {
        EXPECT_TRUE(p.budgeted);
        before += p.weight_bits_before;
        after += p.weight_bits_after;
        if (p.selected) {
            EXPECT_GE(p.bits, 2);
            EXPECT_LE(p.bits, 8);
        }
    }
    EXPECT_GE(double(before) / double(after), 6.0);
}

TEST_F(CompressStages, SolveRewritesEverySelectedLayerAndKeepsTheOriginal) {
    for (const auto format : {rewrite::WeightFormat::Qdq, rewrite::WeightFormat::Packed}) {
        CompressOptions o = options("rtn");
        o.format = format;
        stages::Context c(o);
        prepare(c);
        stages::solve(c);
        int dq = 0, decoded = 0;
        for (const auto& n : c.out.graph.nodes) {
            dq += n.op_type == "DequantizeLinear";
            decoded += n.op_type == "Mul" && n.outputs[0].rfind("qcp/", 0) == 0;  // a packed decoder's last step
        }
        EXPECT_EQ(dq, format == rewrite::WeightFormat::Qdq ? 4 : 0);
        EXPECT_EQ(decoded, format == rewrite::WeightFormat::Packed ? 4 : 0);
        for (const auto& n : c.model.graph.nodes) EXPECT_NE(n.op_type, "DequantizeLinear");  // calib given: a copy was rewritten
        for (const auto& p : c.report.layers) {
            ASSERT_TRUE(p.selected);
            EXPECT_EQ(p.status, LayerStatus::Done);
            EXPECT_EQ(p.storage, format == rewrite::WeightFormat::Qdq ? "qdq-int8" : "packed-8");
            ASSERT_TRUE(p.rel_error.has_value());
            EXPECT_LT(*p.rel_error, kRtn8MaxRelError);
        }
        // with calibration data each rewritten Gemm is a correction target, corrected in the solve
        ASSERT_EQ(c.correctable.size(), 4u);
        for (const auto& d : c.correctable) EXPECT_TRUE(c.report.layers[d.plan_index].corrected);
    }
}

TEST_F(CompressStages, CorrectMatchesTheOriginalChannelMeans) {
    CompressOptions o = options("cp-als");
    o.rank = 4;
    o.bits = 3;
    stages::Context c(o);
    prepare(c);
    stages::solve(c);
    ASSERT_EQ(c.correctable.size(), 3u);
    stages::correct(c);
    const std::string& value = c.correctable[0].output;  // fc1: what it sees is the same data in both networks
    c.out.graph.rebuild_index();
    const auto want = calibration::collect_stats(c.model, *c.calib, c.calib_n, o.batch, {value}).at(value);
    const auto have = calibration::collect_stats(c.out, *c.calib, c.calib_n, o.batch, {value}).at(value);
    ASSERT_EQ(want.sum.size(), 512u);
    for (size_t ch = 0; ch < want.sum.size(); ++ch)
        EXPECT_NEAR(have.mean(ch), want.mean(ch), kMeanTol * std::max(1.0, want.stddev(ch))) << "channel " << ch;
    EXPECT_TRUE(c.report.layers[0].corrected);
}

// The correction of scalar-quantized layers (their output channels re-matched to the original's,
// the scale folded into the grid's scales, the shift into the bias) lowers the output error on
// data it was not fitted on.
TEST_F(CompressStages, CorrectionLowersTheOutputErrorOfScalarQuantizers) {
    const auto held_out = dir / "held_out.npy";
    {
        Tensor t(DType::Float32, {kCalibSamples, 1, 28, 28});
        std::mt19937 gen(11);
        std::uniform_real_distribution<float> u(0.f, 1.f);
        for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = u(gen);
        npy::save(held_out, t);
    }
    for (const std::string method : {"rtn", "gptq"}) {
        double err[2] = {0, 0};
        for (int corrected = 0; corrected < 2; ++corrected) {
            CompressOptions o = options(method);
            o.bits = 3;
            o.centroids = 16;
            o.correct = corrected == 1;
            o.output = dir / (method + std::to_string(corrected) + ".onnx");
            const CompressReport r = compress(o);
            int n = 0;
            for (const auto& p : r.layers) n += p.corrected;
            EXPECT_EQ(n, corrected ? 4 : 0) << method;
            EvalOptions e;
            e.model = o.output;
            e.ref = mlp();
            e.data = held_out;
            e.threads = 1;
            const EvalReport ev = evaluate(e);
            ASSERT_TRUE(ev.output_rel_error.has_value());
            err[corrected] = *ev.output_rel_error;
        }
        EXPECT_LT(err[1], err[0]) << method << ": corrected " << err[1] << " against " << err[0];
    }
}

// The solve on the calibration stream writes the very file the per-layer network runs write (the
// path it falls back to when the live set would not fit): same kernels on the same batches.
TEST_F(CompressStages, StreamedSolveWritesWhatPerLayerRunsWrite) {
    for (const std::string method : {"gptq", "pq", "cp-als"}) {
        std::string bytes[2];
        for (int fallback = 0; fallback < 2; ++fallback) {
            CompressOptions o = options(method);
            o.batch = 24;  // three batches, the last one partial
            o.bits = method == "cp-als" ? 3 : 4;
            o.rank = 4;
            o.output = dir / (method + std::to_string(fallback) + ".onnx");
            stages::Context c(o);
            prepare(c);
            if (fallback) c.stream_max_live_bytes = 0;
            stages::solve(c);
            EXPECT_TRUE(c.calib_streamed != bool(fallback)) << method;
            EXPECT_EQ(c.stream_stopped.empty(), !fallback) << method << ": " << c.stream_stopped;
            if (method == "cp-als") {
                ASSERT_EQ(c.correctable.size(), 3u);
                for (const auto& d : c.correctable) EXPECT_TRUE(c.report.layers[d.plan_index].corrected);  // in the solve
            }
            stages::correct(c);
            stages::save(c);
            bytes[fallback] = test::read_text(o.output);
        }
        EXPECT_FALSE(bytes[0].empty());
        EXPECT_TRUE(bytes[0] == bytes[1]) << method << ": streamed and per-layer outputs differ";
    }
}

TEST(CalibrationStreamMemory, TakesHalfOfWhatTheLimitLeaves) {
    const uint64_t before = memory::limit();
    constexpr uint64_t kLeft = 64u << 20;
    memory::set_limit(memory::in_use() + kLeft);
    EXPECT_EQ(calibration::Stream::default_max_live_bytes(), kLeft / 2);
    memory::set_limit(0);
    EXPECT_EQ(calibration::Stream::default_max_live_bytes(), std::numeric_limits<uint64_t>::max());
    memory::set_limit(before);
}

TEST_F(CompressStages, ActivationsGetRangesFromTheCompressedNetwork) {
    CompressOptions o = options("cp-als");
    o.rank = 4;
    o.bits = 4;
    o.activations = 8;
    o.act_calib = "minmax";
    stages::Context c(o);
    prepare(c);
    stages::solve(c);
    stages::correct(c);
    // the tensor inside fc1's factor chain exists only in the compressed graph: its min/max there
    c.out.graph.rebuild_index();
    const std::string inner = c.layer_outputs[0] + "/cp_in";
    const ir::Model before = c.out;
    double lo = 0, hi = 0;
    engine::Session s(before);
    s.observe(before.graph.producer(inner), [&](const ir::Node&, const std::vector<const Tensor*>&, const std::vector<Tensor>& out) {
        for (int64_t i = 0; i < out[0].numel(); ++i)
            lo = std::min(lo, double(out[0].data<float>()[i])), hi = std::max(hi, double(out[0].data<float>()[i]));
    });
    for (int64_t b = 0; b < c.calib_n; b += o.batch) (void)s.run(c.calib->read(b, std::min(o.batch, c.calib_n - b)));
    stages::quantize_activations(c);
    const ir::Graph& g = c.out.graph;
    const ir::Node* q = nullptr;
    for (int r : g.consumers(inner))
        if (g.nodes[static_cast<size_t>(r)].op_type == "QuantizeLinear") q = &g.nodes[static_cast<size_t>(r)];
    ASSERT_NE(q, nullptr);
    EXPECT_EQ(g.constant(q->input(1))->data<float>()[0], static_cast<float>((hi - lo) / 255.0));
    EXPECT_EQ(c.report.layers[0].activation_fusion, std::vector<std::string>({"QGemm", "QGemm"}));
    EXPECT_EQ(c.report.layers[3].activation_fusion, std::vector<std::string>());  // the classifier is not factorized
    EXPECT_GT(c.report.act_tensors, 0);
}

TEST_F(CompressStages, StagesOneByOneWriteWhatCompressWrites) {
    CompressOptions o = options("admm-cp");
    o.bits = 4;
    o.output = dir / "staged.onnx";
    stages::Context c(o);
    run_through_save(c);
    stages::check(c);
    EXPECT_EQ(c.report.output_bytes, std::filesystem::file_size(o.output));
    EXPECT_EQ(c.report.check_samples.value_or(0), kCalibSamples);
    ASSERT_TRUE(c.report.check_output_rel_error.has_value());
    // every output measured; the mlp's one (N, 10) output is a classifier
    ASSERT_EQ(c.report.check_outputs.size(), 1u);
    EXPECT_EQ(c.report.check_outputs[0].layout.kind, OutputKind::Classifier);
    EXPECT_EQ(c.report.check_outputs[0].top1_agreement, c.report.check_top1_agreement);
    EXPECT_EQ(c.report.check_outputs[0].rel_error, *c.report.check_output_rel_error);
    ASSERT_TRUE(c.report.check_fidelity);
    EXPECT_EQ(c.report.check_fidelity->metric, "top1_agreement");
    const auto check_json = compress_to_json(c.report)["check"];
    EXPECT_EQ(check_json["outputs"].size(), 1u);
    EXPECT_EQ(check_json["outputs"][0]["kind"].get<std::string>(), "classifier");
    EXPECT_EQ(check_json["fidelity"]["metric"].get<std::string>(), "top1_agreement");

    CompressOptions whole = o;
    whole.output = dir / "whole.onnx";
    const CompressReport r = compress(whole);
    EXPECT_EQ(sha256_file(whole.output), sha256_file(o.output));
    EXPECT_EQ(r.output_bytes, c.report.output_bytes);
    EXPECT_DOUBLE_EQ(*r.check_output_rel_error, *c.report.check_output_rel_error);
}

// The run that measures the original's statistics for the correction keeps its network outputs,
// and the check compares with them instead of running the original again: the same measurement
// as a check that runs it.
TEST_F(CompressStages, CheckTakesTheOriginalOutputsFromTheCorrectionsRun) {
    CompressOptions o = options("rtn");
    o.bits = 4;
    stages::Context c(o);
    prepare(c);
    stages::solve(c);
    ASSERT_TRUE(c.original_outputs.kept());
    stages::correct(c);
    stages::save(c);
    stages::check(c);
    ASSERT_TRUE(c.report.check_output_rel_error.has_value());
    const double kept = *c.report.check_output_rel_error;
    EXPECT_GT(kept, 0.0);

    // the check reads the kept outputs: doubled, they are twice as far from the output
    ReferenceRun doubled;
    doubled.start();
    for (size_t b = 0; b * o.batch < static_cast<size_t>(kCalibSamples); ++b) {
        std::vector<Tensor> y = c.original_outputs.batch(b);
        for (Tensor& t : y)
            for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] *= 2.f;
        doubled.add(std::move(y));
    }
    doubled.finish(std::nullopt);
    std::swap(c.original_outputs, doubled);
    stages::check(c);
    EXPECT_GT(*c.report.check_output_rel_error, 0.4);
    std::swap(c.original_outputs, doubled);

    c.original_outputs = ReferenceRun();  // nothing kept: the check runs the original itself
    stages::check(c);
    EXPECT_FALSE(c.original_outputs.filled());
    EXPECT_NEAR(*c.report.check_output_rel_error, kept, 1e-6 * kept);

    CompressOptions off = o;
    off.correct = false;
    off.output = dir / "uncorrected.onnx";
    stages::Context d(off);
    prepare(d);
    stages::solve(d);
    EXPECT_FALSE(d.original_outputs.filled());
}

TEST_F(CompressStages, DryRunWritesNothing) {
    CompressOptions o = options("rtn");
    o.dry_run = true;
    const CompressReport r = compress(o);
    EXPECT_FALSE(r.written);
    EXPECT_FALSE(std::filesystem::exists(o.output));
    for (const auto& p : r.layers) EXPECT_EQ(p.status, LayerStatus::Planned);
}

TEST_F(CompressStages, GateRefusesWhatCannotRun) {
    CompressOptions o = options("rtn");
    GateOptions g;
    EXPECT_THROW(validate_gate(g, o), Error);  // no data
    g.data = calib;
    g.labels = dir / "missing.txt";
    EXPECT_THROW(validate_gate(g, o), Error);
    g.labels = calib;
    g.max_drop = -1;
    EXPECT_THROW(validate_gate(g, o), Error);
    g.max_drop = 1;
    o.dry_run = true;
    EXPECT_THROW(validate_gate(g, o), Error);
    o.dry_run = false;
    EXPECT_NO_THROW(validate_gate(g, o));
    g.labels.clear();  // the (N, 10) output: gated on top-1 agreement with the original
    EXPECT_NO_THROW(validate_gate(g, o));
    o.fidelity.mask_threshold = NAN;
    EXPECT_THROW(validate_gate(g, o), Error);
}

// The checks the CLI and the Python module share: compress() and the gate request make them, with
// the CLI's flag spelling, before anything is written.
TEST_F(CompressStages, CrossOptionChecksAreTheLibrarys) {
    const auto message = [](const auto& call) {
        try {
            call();
        } catch (const Error& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    CompressOptions o = options("rtn");
    o.bits_auto = true;
    EXPECT_EQ(message([&] { compress(o); }), "--bits auto needs a --target-ratio, --target-size or --target-macs");
    o = options("rtn");
    o.latency_batch = 4;
    EXPECT_EQ(message([&] { compress(o); }), "--latency-reps and --latency-batch are for --measure-latency: give it too");
    o.measure_latency = true;
    o.dry_run = true;  // the latency flags are fine with --measure-latency (which a dry run refuses)
    EXPECT_NE(message([&] { compress(o); }).find("--measure-latency times the rewritten layers"), std::string::npos);
    o = options("rtn");
    o.fidelity.class_axis = 5;  // the (N, 10) output has no axis 5: refused before any work
    EXPECT_NE(message([&] { compress(o); }).find("--class-axis"), std::string::npos);
    EXPECT_FALSE(std::filesystem::exists(o.output));

    o = options("rtn");
    GateOptions g;
    EXPECT_FALSE(validate_gate_request(g, false, o));  // no gate asked for
    const std::string gate_inputs = "--data, --labels and --count are for the accuracy gate: give --max-drop P too";
    g.count = 10;
    EXPECT_EQ(message([&] { validate_gate_request(g, false, o); }), gate_inputs);
    g = GateOptions{};
    g.labels = calib;
    EXPECT_EQ(message([&] { validate_gate_request(g, false, o); }), gate_inputs);
    EXPECT_NE(message([&] { validate_gate_request(g, true, o); }).find("--max-drop needs --data"), std::string::npos);
    g.data = calib;
    EXPECT_TRUE(validate_gate_request(g, true, o));

    EvalOptions e;
    EXPECT_EQ(message([&] { validate_min_top1(50, e); }), "--min-top1 needs --labels");
    e.labels = calib;
    EXPECT_EQ(message([&] { validate_min_top1(100.5, e); }), "--min-top1 is a percentage between 0 and 100");
    EXPECT_EQ(message([&] { validate_min_top1(NAN, e); }), "--min-top1 is a percentage between 0 and 100");
    EXPECT_NO_THROW(validate_min_top1(0, e));
    EvalReport r;
    r.top1 = 0.75;
    EXPECT_EQ(min_top1_gate(r, 75).dump(), R"({"min_top1":75.0,"top1":75.0,"passed":true})");
    EXPECT_FALSE(min_top1_gate(r, 75.01)["passed"].get<bool>());
}

// The check takes the calibration stream's outputs for the written file's once the file
// reproduces them on its first samples: the same fidelity as running the file on every sample.
// Outputs the file does not reproduce (here: planted wrong) make it run the file on every sample.
TEST_F(CompressStages, CheckTakesTheStreamsOutputsOnlyWhenTheFileReproducesThem) {
    auto run = [&](const std::string& name, int mode) {  // 0: as compress, 1: no stream outputs, 2: wrong ones
        CompressOptions o = options("gptq");
        o.bits = 4;
        o.output = dir / name;
        stages::Context c(o);
        run_through_save(c);
        EXPECT_TRUE(c.streamed_outputs.has_value()) << name;
        if (mode == 1) c.streamed_outputs.reset();
        if (mode == 2 && c.streamed_outputs)
            for (auto& batch : *c.streamed_outputs)
                for (auto& t : batch) t.data<float>()[0] += 1.0f;
        stages::check(c);
        return std::move(c.report);
    };
    const CompressReport streamed = run("streamed.onnx", 0), full = run("full.onnx", 1), planted = run("planted.onnx", 2);
    EXPECT_EQ(streamed.check_samples.value_or(0), kCalibSamples);
    EXPECT_EQ(streamed.check_file_samples.value_or(0), 8);
    EXPECT_EQ(full.check_file_samples.value_or(0), kCalibSamples);
    EXPECT_EQ(planted.check_file_samples.value_or(0), kCalibSamples);
    ASSERT_TRUE(streamed.check_output_rel_error && full.check_output_rel_error && planted.check_output_rel_error);
    EXPECT_GT(*full.check_output_rel_error, 0.0);
    EXPECT_NEAR(*streamed.check_output_rel_error, *full.check_output_rel_error, 1e-6 * *full.check_output_rel_error);
    EXPECT_DOUBLE_EQ(*planted.check_output_rel_error, *full.check_output_rel_error);
    EXPECT_EQ(streamed.check_top1_agreement, full.check_top1_agreement);
}


}  // namespace
}  // namespace qcp
