// The calibration stream (stream.hpp) against the per-layer re-runs it replaces, on a small residual
// network built here: two graph inputs, a Constant node, a multi-output Split, Conv → Relu pairs the
// engine fuses, a skip connection, a grouped conv and a Gemm head. Layers are rewritten (rtn) and
// weights changed in place between requests, as the solve does.
#include <gtest/gtest.h>

#include <random>

#include "calibration.hpp"
#include "qcp/core/error.hpp"
#include "qcp/quant/rtn.hpp"
#include "qcp/rewrite/quant_rewrite.hpp"
#include "stream.hpp"

namespace qcp {
namespace {

constexpr int64_t kSamples = 20;
constexpr int64_t kBatch = 6;            // the last batch is partial
constexpr double kHessianRelTol = 0.0;  // same kernels on the same batches: the very same bits

ir::ValueInfo float_value(const std::string& name) {
    ir::ValueInfo v;
    v.name = name;
    v.dtype = DType::Float32;
    return v;
}

Tensor random_tensor(const Shape& s, uint32_t seed, float scale = 1.0f) {
    Tensor t(DType::Float32, s);
    std::mt19937 gen(seed);
    std::normal_distribution<float> nd(0.f, scale);
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = nd(gen);
    return t;
}

ir::Node node(const std::string& op, const std::string& name, std::vector<std::string> in, std::vector<std::string> out,
              std::vector<ir::Attribute> attrs = {}) {
    ir::Node n;
    n.op_type = op;
    n.name = name;
    n.inputs = std::move(in);
    n.outputs = std::move(out);
    n.attributes = std::move(attrs);
    return n;
}

// x, y (N, 3, 8, 8) → Add → c1 → Relu → ·Constant → c2 → Split/Concat → + skip → Relu → c3 (depthwise)
// → c4 (1×1) → GlobalAveragePool → Flatten → fc (Gemm)
ir::Model residual_model() {
    ir::Model m;
    m.opset_import = {{"", 13}};
    m.graph.inputs = {float_value("x"), float_value("y")};
    m.graph.outputs = {float_value("logits")};
    auto& init = m.graph.initializers;
    init.push_back({"w1", random_tensor({8, 3, 3, 3}, 1, 0.3f), ""});
    init.push_back({"b1", random_tensor({8}, 2, 0.1f), ""});
    init.push_back({"w2", random_tensor({8, 8, 3, 3}, 3, 0.2f), ""});
    init.push_back({"w3", random_tensor({8, 1, 3, 3}, 4, 0.3f), ""});
    init.push_back({"w4", random_tensor({4, 8, 1, 1}, 5, 0.3f), ""});
    init.push_back({"wf", random_tensor({3, 4}, 6, 0.5f), ""});
    init.push_back({"bf", random_tensor({3}, 7, 0.1f), ""});
    Tensor sizes(DType::Int64, {2});
    sizes.data<int64_t>()[0] = 3, sizes.data<int64_t>()[1] = 5;
    init.push_back({"sizes", sizes, ""});
    Tensor half(DType::Float32, {});
    half.data<float>()[0] = 0.5f;
    const auto pads = ir::Attribute::make_ints("pads", {1, 1, 1, 1});
    m.graph.nodes = {
        node("Add", "in_add", {"x", "y"}, {"xy"}),
        node("Conv", "c1", {"xy", "w1", "b1"}, {"c1"}, {pads}),
        node("Relu", "r1", {"c1"}, {"r1"}),
        node("Constant", "k", {}, {"k"}, {ir::Attribute::make_tensor("value", half)}),
        node("Mul", "scale", {"r1", "k"}, {"s1"}),
        node("Conv", "c2", {"s1", "w2"}, {"c2"}, {pads}),
        node("Split", "split", {"c2", "sizes"}, {"c2a", "c2b"}, {ir::Attribute::make_int("axis", 1)}),
        node("Concat", "concat", {"c2b", "c2a"}, {"c2c"}, {ir::Attribute::make_int("axis", 1)}),
        node("Add", "skip", {"c2c", "s1"}, {"sum"}),
        node("Relu", "r2", {"sum"}, {"r2"}),
        node("Conv", "c3", {"r2", "w3"}, {"c3"}, {pads, ir::Attribute::make_int("group", 8)}),
        node("Conv", "c4", {"c3", "w4"}, {"c4"}),
        node("Relu", "r4", {"c4"}, {"r4"}),
        node("GlobalAveragePool", "gap", {"r4"}, {"gap"}),
        node("Flatten", "flat", {"gap"}, {"flat"}),
        node("Gemm", "fc", {"flat", "wf", "bf"}, {"logits"}, {ir::Attribute::make_int("transB", 1)}),
    };
    m.graph.rebuild_index();
    return m;
}

// Two model inputs per sample, as open_inputs() datasets give them.
class TwoInputs final : public data::Dataset {
public:
    TwoInputs() : x_(random_tensor({kSamples, 3, 8, 8}, 11)), y_(random_tensor({kSamples, 3, 8, 8}, 12)) {}
    int64_t size() const override { return kSamples; }
    Shape sample_shape() const override { return {3, 8, 8}; }
    Tensor read(int64_t begin, int64_t count) override { return slice(x_, begin, count); }
    std::vector<Tensor> read_inputs(int64_t begin, int64_t count) override { return {slice(x_, begin, count), slice(y_, begin, count)}; }
    std::string describe() const override { return "two random inputs"; }
    data::Layout layout() const override { return data::Layout::NCHW; }

private:
    static Tensor slice(const Tensor& t, int64_t begin, int64_t count) {
        Tensor s(DType::Float32, {count, 3, 8, 8});
        const int64_t n = 3 * 8 * 8;
        std::copy(t.data<float>() + begin * n, t.data<float>() + (begin + count) * n, s.data<float>());
        return s;
    }
    Tensor x_, y_;
};

double max_rel_diff(const std::vector<Eigen::MatrixXd>& a, const std::vector<Eigen::MatrixXd>& b) {
    EXPECT_EQ(a.size(), b.size());
    double worst = 0;
    for (size_t g = 0; g < std::min(a.size(), b.size()); ++g)
        worst = std::max(worst, (a[g] - b[g]).norm() / std::max(b[g].norm(), 1e-30));
    return worst;
}

ir::Layer layer_named(const ir::Model& m, const std::string& name) {
    for (const auto& l : ir::find_layers(m.graph))
        if (l.name == name) return l;
    throw Error("no layer " + name);
}

// Rewrites the layer as the solve's scalar methods do: 4-bit rtn weights behind DequantizeLinear.
void rtn_rewrite(ir::Model& m, const ir::Layer& l) {
    const rewrite::QuantTarget t = rewrite::quant_target(m.graph, l);
    quant::QuantScheme scheme;
    scheme.bits = 4;
    const quant::QuantizedMatrix q = quant::rtn_quantize(t.w.data(), t.rows, t.cols, scheme);
    (void)rewrite::rewrite_quantized(m, l, rewrite::grid_weight_for(l, t, q), rewrite::WeightFormat::Qdq);
    m.graph.rebuild_index();
}

TEST(CalibrationStream, HessiansEqualPerLayerRunsWhileLayersAreRewritten) {
    ir::Model m = residual_model();
    TwoInputs ds;
    calibration::Stream stream(m, ds, kSamples, kBatch);
    const std::vector<std::string> names = {"c1", "c2", "c3", "c4", "fc"};
    for (const auto& name : names) {
        const ir::Layer l = layer_named(m, name);
        const auto want = calibration::layer_hessians(m, l, ds, kSamples, kBatch);
        const auto got = stream.layer_hessians(l);
        ASSERT_TRUE(got.has_value()) << stream.reason();
        EXPECT_EQ(got->size(), name == "c3" ? 8u : 1u);
        EXPECT_LE(max_rel_diff(*got, want), kHessianRelTol) << name;
        rtn_rewrite(m, l);  // the next layers must see this layer's rewritten nodes
    }
    EXPECT_TRUE(stream.active());
    // every node ran once per batch: 16 nodes, plus the 5 DequantizeLinear of the rewrites but the
    // last (fc's output is never requested), minus the fc and the 2 Relus fused into c1 and c4
    const int64_t batches = (kSamples + kBatch - 1) / kBatch;
    EXPECT_EQ(stream.nodes_run(), (16 + 4 - 1 - 2) * batches);
}

TEST(CalibrationStream, StatisticsFollowInvalidatedWeightsAndFreeDeadValues) {
    ir::Model m = residual_model();
    TwoInputs ds;
    calibration::Stream stream(m, ds, kSamples, kBatch);
    const auto before = stream.stats("c2", 15);
    ASSERT_TRUE(before.has_value());
    const auto want_before = calibration::collect_stats(m, ds, 15, kBatch, {"c2"}).at("c2");
    for (size_t ch = 0; ch < want_before.sum.size(); ++ch) {
        EXPECT_DOUBLE_EQ(before->mean(ch), want_before.mean(ch));
        EXPECT_DOUBLE_EQ(before->stddev(ch), want_before.stddev(ch));
    }
    // c2's weight changes in place (as a correction folds into it): c2 and what follows re-run
    Tensor& w2 = m.graph.find_initializer("w2")->tensor;
    for (int64_t i = 0; i < w2.numel(); ++i) w2.data<float>()[i] *= 1.5f;
    stream.invalidate("c2");
    const ir::Layer c4 = layer_named(m, "c4");
    const auto got = stream.layer_hessians(c4);
    ASSERT_TRUE(got.has_value());
    EXPECT_LE(max_rel_diff(*got, calibration::layer_hessians(m, c4, ds, kSamples, kBatch)), kHessianRelTol);
    // live now: c4's input, and the inputs of its producer kept for invalidate(); the graph inputs,
    // c1, c2 and everything before them are gone
    for (size_t b = 0; b < stream.batches(); ++b) {
        EXPECT_NO_THROW((void)stream.value(b, "c3"));
        EXPECT_THROW((void)stream.value(b, "x"), Error);
        EXPECT_THROW((void)stream.value(b, "s1"), Error);
    }
    const uint64_t batch_bytes = 8 * 8 * 8 * sizeof(float);
    EXPECT_LE(stream.live_bytes(), 2 * kSamples * batch_bytes);
}

TEST(CalibrationStream, StopsWhenTheLiveSetPassesItsBudget) {
    ir::Model m = residual_model();
    TwoInputs ds;
    calibration::Stream stream(m, ds, kSamples, kBatch, /*max_live_bytes=*/4096);
    EXPECT_FALSE(stream.layer_hessians(layer_named(m, "c2")).has_value());
    EXPECT_FALSE(stream.active());
    EXPECT_NE(stream.reason().find("exceed"), std::string::npos) << stream.reason();
    EXPECT_EQ(stream.live_bytes(), 0u);
    // the caller's fallback: the per-layer run, the same Hessians
    const ir::Layer c2 = layer_named(m, "c2");
    EXPECT_LE(max_rel_diff(calibration::streamed_layer_hessians(&stream, m, c2, ds, kSamples, kBatch),
                           calibration::layer_hessians(m, c2, ds, kSamples, kBatch)),
              0.0);
}

}  // namespace
}  // namespace qcp
