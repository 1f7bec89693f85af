// Issue 14, "Inputs", through the pipeline: layer MACs with --input-shape against a hand count,
// and calibration of a two-input model seeing each input's own tensors.
#include <gtest/gtest.h>

#include <Eigen/Core>

#include "calibration.hpp"
#include "inputs.hpp"
#include "qcp/core/npy.hpp"
#include "qcp/ir/layers.hpp"
#include "qcp/onnx_io/onnx_io.hpp"
#include "qcp/pipeline/compress.hpp"
#include "qcp/pipeline/inspect.hpp"

namespace qcp {
namespace {

// tools/fixtures/gen_two_inputs.py writes these
const std::filesystem::path kFixtures = std::filesystem::path(__FILE__).parent_path().parent_path() / "data" / "fixtures";
const std::filesystem::path kModel = kFixtures / "two_inputs.onnx";
constexpr double kHessianTol = 1e-6;  // relative; the accumulator sums float32 blocks

TEST(InputsInspect, MacsAtInputShapeMatchHandCount) {
    const InspectReport dynamic = inspect(InspectOptions{kModel, {}});
    ASSERT_EQ(dynamic.layers.size(), 4u);
    EXPECT_EQ(dynamic.layers[0].macs, -1);  // H, W unknown: no guess
    EXPECT_FALSE(dynamic.macs_complete);
    const InspectReport fixed = inspect(InspectOptions{kModel, {{"x", {1, 3, 8, 12}}}});
    // each output element costs Cin·kh·kw: c1 8·8·12 × 3·3·3, c2 8·8·12 × 8·3·3; g1 4·8, g2 8·10
    EXPECT_EQ(fixed.layers[0].macs, 8 * 8 * 12 * 27);
    EXPECT_EQ(fixed.layers[1].macs, 8 * 8 * 12 * 72);
    EXPECT_EQ(fixed.layers[2].macs, 32);
    EXPECT_EQ(fixed.layers[3].macs, 80);
    EXPECT_TRUE(fixed.macs_complete);
    EXPECT_EQ(fixed.macs, 20736 + 55296 + 32 + 80);
}

// compress reads the same MACs as inspect under --input-shape, and counts a CP chain's from the
// fixed shapes too: R·Cin·HW (1×1 in) + R·k·HW (depthwise) + Cout·R·HW (1×1 out), stride 1, same
// padding, so every HW is 8·12 here.
TEST(InputsCompress, MacsAtInputShapeMatchHandCount) {
    CompressOptions o;
    o.model = kModel;
    o.dry_run = true;
    o.method = "admm-cp";
    o.rank = 2;
    const CompressReport dynamic = compress(o);
    ASSERT_GE(dynamic.layers.size(), 2u);
    EXPECT_EQ(dynamic.layers[0].macs_before, -1);
    EXPECT_EQ(dynamic.layers[0].macs_after, -1);
    o.input_shapes = {{"x", {1, 3, 8, 12}}};
    const CompressReport fixed = compress(o);
    const int64_t hw = 8 * 12;
    EXPECT_EQ(fixed.input_macs, 20736 + 55296 + 32 + 80);
    EXPECT_EQ(fixed.layers[0].macs_before, hw * 8 * 27);
    EXPECT_EQ(fixed.layers[1].macs_before, hw * 8 * 72);
    // c1 is the stem (Cin 3), left as it is by default; c2 and g1 are factorized
    ASSERT_TRUE(fixed.layers[1].selected && fixed.layers[2].selected);
    EXPECT_EQ(fixed.layers[1].macs_after, 2 * 8 * hw + 2 * 9 * hw + 8 * 2 * hw);
    EXPECT_EQ(fixed.layers[2].macs_after, 2 * (4 + 8));  // Gemm (8, 4) at batch 1: R·(Cin + Cout)
    int64_t want = fixed.input_macs;
    for (const LayerPlan& p : fixed.layers) want += p.macs_after - p.macs_before;
    EXPECT_EQ(fixed.output_macs, want);
}

TEST(InputsCalibration, EachLayerSeesItsOwnInput) {
    const ir::Model model = onnx_io::load_model(kModel);
    RunOptions o;
    const data::Sources sources(std::vector<std::string>{"x=" + (kFixtures / "two_inputs_x.npy").string(),
                                                         "s=" + (kFixtures / "two_inputs_s.npy").string()});
    const std::vector<ir::Layer> layers = ir::find_layers(model.graph);
    ASSERT_EQ(layers[2].name, "g1");
    // reference: g1 = Gemm(s, ...) sees s itself, so H = SᵀS from the file
    const Tensor s = npy::load(kFixtures / "two_inputs_s.npy");
    Eigen::MatrixXd want = Eigen::MatrixXd::Zero(4, 4);
    for (int64_t n = 0; n < s.dim(0); ++n)
        for (int i = 0; i < 4; ++i)
            for (int j = 0; j < 4; ++j) want(i, j) += double(s.data<float>()[n * 4 + i]) * s.data<float>()[n * 4 + j];
    for (int64_t batch : {5, 24}) {  // batching does not change what a layer sees
        auto ds = open_model_data(model, sources, o);
        const auto hs = calibration::collect_hessians(model, layers, *ds, ds->size(), batch);
        EXPECT_LE((hs[2][0] - want).norm(), kHessianTol * want.norm()) << "batch " << batch;
        // c1 sees x: 3·3·3 im2col columns, 24 samples × 8·12 positions
        EXPECT_EQ(hs[0][0].rows(), 27);
        EXPECT_GT(hs[0][0].trace(), 0.0);
    }
    // with s left out it is a constant 0: g1's input Hessian vanishes
    auto zero = open_model_data(model, data::Sources(std::vector<std::string>{"x=" + (kFixtures / "two_inputs_x.npy").string()}), o);
    const auto hz = calibration::collect_hessians(model, layers, *zero, zero->size(), 8);
    EXPECT_EQ(hz[2][0].norm(), 0.0);
}

}  // namespace
}  // namespace qcp
