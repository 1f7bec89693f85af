// Every output measured end to end on tests/pipeline/fixtures/three_outputs.onnx (a map, a
// sequence and a classifier, in that order): compress's check, eval --ref, the --max-drop gate
// without labels, and the errors for options that cannot apply.
#include <gtest/gtest.h>

#include <random>

#include "qcp/core/error.hpp"
#include "qcp/core/npy.hpp"
#include "qcp/pipeline/compress.hpp"
#include "qcp/pipeline/evaluate.hpp"
#include "qcp/pipeline/gate.hpp"
#include "test_util.hpp"

namespace qcp {
namespace {

constexpr int64_t kSamples = 24;

std::string fixture() { return std::string(QCP_PIPELINE_FIXTURES_DIR) + "/three_outputs.onnx"; }

struct ThreeOutputs : ::testing::Test {
    test::TempDir dir;
    std::filesystem::path data = dir / "x.npy";
    void SetUp() override {
        Tensor t(DType::Float32, {kSamples, 1, 8, 8});
        std::mt19937 gen(3);
        std::uniform_real_distribution<float> u(-1.f, 1.f);
        for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = u(gen);
        npy::save(data, t);
    }
    CompressOptions options() const {
        CompressOptions o;
        o.model = fixture();
        o.output = dir / "out.onnx";
        o.method = "rtn";
        o.bits = 2;  // enough damage for the metrics to be below 1
        o.calib = data;
        o.calib_count = kSamples;
        o.threads = 1;
        o.batch = 10;  // uneven batches
        return o;
    }
};

TEST_F(ThreeOutputs, CheckMeasuresEveryOutputByItsKind) {
    const CompressReport r = compress(options());
    ASSERT_EQ(r.check_outputs.size(), 3u);
    EXPECT_EQ(r.check_outputs[0].name, "prob");
    EXPECT_EQ(r.check_outputs[0].layout.kind, OutputKind::Map);
    EXPECT_EQ(r.check_outputs[1].name, "chars");
    EXPECT_EQ(r.check_outputs[1].layout.kind, OutputKind::Sequence);
    EXPECT_EQ(r.check_outputs[1].positions, 64);
    EXPECT_EQ(r.check_outputs[2].name, "logits");
    EXPECT_EQ(r.check_outputs[2].layout.kind, OutputKind::Classifier);
    for (const auto& o : r.check_outputs) {
        EXPECT_EQ(o.samples, kSamples);
        EXPECT_GT(o.rel_error, 0.0);
    }
    EXPECT_EQ(r.check_outputs[1].shape, Shape({kSamples, 64, 6}));
    EXPECT_FALSE(r.check_top1_agreement);  // the first output is a map, not (N, classes)
    ASSERT_TRUE(r.check_fidelity);
    EXPECT_EQ(r.check_fidelity->metric, "mask_iou");
    EXPECT_EQ(r.check_fidelity->output, "prob");
    const auto j = compress_to_json(r)["check"];
    EXPECT_TRUE(j["top1_agreement"].is_null());
    ASSERT_EQ(j["outputs"].size(), 3u);
    EXPECT_TRUE(j["outputs"][0]["metrics"].contains("mask_iou"));
    EXPECT_TRUE(j["outputs"][1]["metrics"].contains("position_agreement"));
    EXPECT_TRUE(j["outputs"][2]["metrics"].contains("top1_agreement"));
    const std::string table = compress_to_table(r);
    EXPECT_NE(table.find("check on 24 calibration samples: mask IoU "), std::string::npos) << table;
    EXPECT_NE(table.find("output 'chars' (24, 64, 6) sequence"), std::string::npos) << table;

    // eval --ref on the same samples measures the same numbers
    EvalOptions e;
    e.model = options().output;
    e.ref = fixture();
    e.data = data;
    e.threads = 1;
    e.batch = 7;
    const EvalReport ev = evaluate(e);
    ASSERT_EQ(ev.outputs.size(), 3u);
    for (size_t i = 0; i < 3; ++i) {
        EXPECT_NEAR(ev.outputs[i].rel_error, r.check_outputs[i].rel_error, 1e-12) << i;
        EXPECT_EQ(ev.outputs[i].mask_iou, r.check_outputs[i].mask_iou) << i;
        EXPECT_EQ(ev.outputs[i].position_agreement, r.check_outputs[i].position_agreement) << i;
        EXPECT_EQ(ev.outputs[i].top1_agreement, r.check_outputs[i].top1_agreement) << i;
    }
    EXPECT_FALSE(ev.agreement);  // legacy field: the first output's top-1 agreement, none for a map
    EXPECT_EQ(*ev.output_rel_error, ev.outputs[0].rel_error);
    EXPECT_EQ(eval_to_text(ev).find("agreement:  "), std::string::npos);
}

TEST_F(ThreeOutputs, GateWithoutLabelsUsesTheFirstOutputsIou) {
    CompressOptions o = options();
    o.calib = {};
    GateOptions g;
    g.data = data;
    g.max_drop = 100;
    EXPECT_NO_THROW(validate_gate(g, o));
    g.labels = dir / "labels.txt";
    std::string zeros;
    for (int64_t i = 0; i < kSamples; ++i) zeros += "0\n";
    test::write_bytes(g.labels, zeros);
    try {
        validate_gate(g, o);
        FAIL() << "labels on a map output";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("(N, classes)"), std::string::npos) << e.what();
    }
    g.labels.clear();
    (void)compress(o);
    const auto gate = run_gate(g, o);
    EXPECT_EQ(gate["metric"].get<std::string>(), "mask_iou");
    EXPECT_EQ(gate["output"].get<std::string>(), "prob");
    EXPECT_NEAR(gate["drop"].get<double>(), 100.0 - gate["after"].get<double>(), 1e-12);
    EXPECT_TRUE(gate["passed"].get<bool>());
    EXPECT_NE(gate_line(gate).find("mask IoU of 'prob' with the original 100.00% -> "), std::string::npos) << gate_line(gate);
}

void expect_same_outputs(const std::vector<OutputFidelity>& a, const std::vector<OutputFidelity>& b) {
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
        EXPECT_EQ(a[i].samples, b[i].samples) << i;
        EXPECT_EQ(a[i].rel_error, b[i].rel_error) << i;
        EXPECT_EQ(a[i].mask_iou, b[i].mask_iou) << i;
        EXPECT_EQ(a[i].position_agreement, b[i].position_agreement) << i;
        EXPECT_EQ(a[i].top1_agreement, b[i].top1_agreement) << i;
    }
}

// --target-drop's tries keep the original's outputs (ReferenceRun): the check and the evaluation
// against kept outputs give exactly what running the original again gives.
TEST_F(ThreeOutputs, KeptReferenceOutputsMeasureAsARerunDoes) {
    ReferenceRun check_original;
    CompressOptions o = options();
    o.force = true;  // the same output, written again
    const CompressReport first = compress(o, &check_original);
    EXPECT_TRUE(check_original.kept());
    expect_same_outputs(first.check_outputs, compress(o).check_outputs);
    o.bits = 3;
    const CompressReport kept = compress(o, &check_original), rerun = compress(o);
    expect_same_outputs(kept.check_outputs, rerun.check_outputs);
    EXPECT_NE(kept.check_outputs[0].rel_error, first.check_outputs[0].rel_error);  // another model, measured anew

    EvalOptions e;
    e.model = o.output;
    e.ref = fixture();
    e.data = data;
    e.threads = 1;
    e.batch = 7;
    const EvalReport plain = evaluate(e);
    ReferenceRun gate_original, tiny(1);  // tiny: nothing fits, the reference runs every time
    expect_same_outputs(evaluate(e, gate_original).outputs, plain.outputs);
    expect_same_outputs(evaluate(e, tiny).outputs, plain.outputs);
    EXPECT_TRUE(gate_original.kept());
    EXPECT_TRUE(tiny.filled());
    EXPECT_FALSE(tiny.kept());
    // kept: the reference file is not read again
    const auto copy = dir / "ref.onnx";
    std::filesystem::copy_file(fixture(), copy);
    e.ref = copy;
    ReferenceRun from_copy;
    (void)evaluate(e, from_copy);
    std::filesystem::remove(copy);
    expect_same_outputs(evaluate(e, from_copy).outputs, plain.outputs);
    EXPECT_THROW(evaluate(e, tiny), Error);  // not kept: it needs the file
}

TEST_F(ThreeOutputs, OptionsThatCannotApplyAreRefusedBeforeRunning) {
    EvalOptions e;
    e.model = fixture();
    e.ref = fixture();
    e.data = data;
    e.fidelity.class_axis = 3;  // chars is (N, 64, 6)
    try {
        (void)evaluate(e);
        FAIL();
    } catch (const Error& err) {
        EXPECT_NE(std::string(err.what()).find("'chars'"), std::string::npos) << err.what();
    }
    EXPECT_THROW(check_fidelity_options(fixture(), e.fidelity), Error);
    e.fidelity.class_axis = 1;  // fine for chars (64 classes); prob's axis 1 has one entry: still a map
    const EvalReport r = evaluate(e);
    EXPECT_EQ(r.outputs[0].layout.kind, OutputKind::Map);
    EXPECT_EQ(r.outputs[1].layout.class_axis, 1);
    EXPECT_EQ(*r.outputs[1].position_agreement, 1.0);  // the model against itself
    EXPECT_EQ(*r.outputs[0].mask_iou, 1.0);
}

}  // namespace
}  // namespace qcp
