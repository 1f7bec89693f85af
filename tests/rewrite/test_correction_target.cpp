// The statistics correction on layers the scalar quantizers and pq rewrote: correction_target()
// + apply_channel_affine() make the layer compute exactly y' = a ⊙ y + d per output channel (y:
// the quantized layer's output), in every weight format; layers that cannot take the map are
// refused.
#include <gtest/gtest.h>

#include <cmath>

#include "qcp/engine/session.hpp"
#include "qcp/ir/layers.hpp"
#include "qcp/quant/pq.hpp"
#include "qcp/quant/rtn.hpp"
#include "qcp/rewrite/cp_rewrite.hpp"
#include "qcp/rewrite/pq_rewrite.hpp"
#include "qcp/rewrite/quant_rewrite.hpp"
#include "rewrite_test_util.hpp"

namespace qcp {
namespace {

constexpr double kRelTol = 1e-5;

struct Case {
    std::string name, op;
    Shape x, w, y;
    std::vector<ir::Attribute> attrs;
    bool bias;
    int64_t out_channels;
};

ir::Model layer_model(const Case& c, const Tensor& w, int64_t opset = 13) {
    ir::Model m = test::one_layer_model(c.op, c.attrs, c.x, c.y, w, opset, "corr_" + c.name);
    if (c.bias) {
        m.graph.initializers.push_back({"b", test::normal_tensor({c.out_channels}, 9), ""});
        m.graph.nodes[0].inputs.push_back("b");
        m.graph.rebuild_index();
    }
    return m;
}

// y' = a ⊙ y + d along the output-channel axis (1 for convs and 2-D outputs alike).
Tensor affine(const Tensor& y, const std::vector<float>& a, const std::vector<float>& d) {
    Tensor out = y;
    const int64_t channels = static_cast<int64_t>(a.size());
    const int64_t inner = y.numel() / (y.dim(0) * channels);
    for (int64_t i = 0; i < y.numel(); ++i) {
        const size_t o = static_cast<size_t>((i / inner) % channels);
        out.data<float>()[i] = a[o] * y.data<float>()[i] + d[o];
    }
    return out;
}

enum class Kind { RtnChannel, RtnTensor, RtnTensorAsym, Pq };

class CorrectionTargetCase : public ::testing::TestWithParam<Case> {};

TEST_P(CorrectionTargetCase, AffineMapFoldsExactly) {
    const Case& c = GetParam();
    const Tensor w = test::normal_tensor(c.w, 1), x = test::normal_tensor(c.x, 2);
    std::vector<float> a(static_cast<size_t>(c.out_channels)), d(a.size());
    for (size_t o = 0; o < a.size(); ++o) a[o] = 0.5f + 0.1f * static_cast<float>(o), d[o] = 0.25f * static_cast<float>(o) - 1.f;
    for (Kind kind : {Kind::RtnChannel, Kind::RtnTensor, Kind::RtnTensorAsym, Kind::Pq}) {
        for (auto format : {rewrite::WeightFormat::Float, rewrite::WeightFormat::Qdq, rewrite::WeightFormat::Packed}) {
            SCOPED_TRACE(c.name + " kind " + std::to_string(static_cast<int>(kind)) + " " + rewrite::weight_format_name(format));
            ir::Model m = layer_model(c, w);
            const auto layers = ir::find_layers(m.graph);
            ASSERT_EQ(layers.size(), 1u);
            const auto t = rewrite::quant_target(m.graph, layers[0]);
            std::optional<rewrite::CpRewrite> target;
            if (kind == Kind::Pq) {
                quant::PqOptions po;
                po.d = c.w.size() == 4 ? c.w[2] * c.w[3] : 4;
                if (po.d == 1) po.d = 2;
                po.k = 8;
                po.iters = 3;
                const quant::PqResult pq = quant::pq_quantize(t.w.data(), t.rows, t.cols, {}, po);
                const auto bits = rewrite::rewrite_pq(m, layers[0], t, pq, format);
                target = rewrite::correction_target(m, layers[0], "y", nullptr, bits.storage_bits);
            } else {
                quant::QuantScheme s;
                s.bits = 4;
                s.granularity = kind == Kind::RtnChannel ? quant::Granularity::Channel : quant::Granularity::Tensor;
                s.symmetric = kind != Kind::RtnTensorAsym;
                const auto q = quant::rtn_quantize(t.w.data(), t.rows, t.cols, s);
                const auto gw = rewrite::grid_weight_for(layers[0], t, q);
                const int64_t bits = rewrite::rewrite_quantized(m, layers[0], gw, format);
                target = rewrite::correction_target(m, layers[0], "y", &gw, bits);
            }
            ASSERT_TRUE(target.has_value());
            const Tensor want = affine(engine::Session(m).run({x}).at(0), a, d);
            const int64_t bits_before = target->storage_bits;
            rewrite::apply_channel_affine(m, *target, a, d, format);
            m.graph.rebuild_index();
            const Tensor got = engine::Session(m).run({x}).at(0);
            ASSERT_EQ(got.shape(), want.shape());
            EXPECT_LT(test::rel_error(got, want), kRelTol);
            // the stored bits grow by what was added: per-channel scales / factors, a new bias
            const int64_t added = target->storage_bits - bits_before;
            const int64_t scales = kind == Kind::RtnChannel ? 0 : kind == Kind::Pq ? c.out_channels : c.out_channels - 1;
            const int64_t zero_points = kind == Kind::RtnTensorAsym ? 4 * (c.out_channels - 1) : 0;  // 4-bit, now per channel
            EXPECT_EQ(added, 32 * (scales + (c.bias ? 0 : c.out_channels)) + zero_points);
        }
    }
}

std::vector<ir::Attribute> conv_attrs(std::vector<int64_t> strides, std::vector<int64_t> pads) {
    return {ir::Attribute::make_ints("strides", strides), ir::Attribute::make_ints("pads", pads)};
}

INSTANTIATE_TEST_SUITE_P(
    Layers, CorrectionTargetCase,
    ::testing::Values(Case{"conv3x3_bias", "Conv", {2, 6, 9, 9}, {8, 6, 3, 3}, {2, 8, 9, 9}, conv_attrs({1, 1}, {1, 1, 1, 1}), true, 8},
                      Case{"conv3x3_stride2_nobias", "Conv", {1, 4, 9, 9}, {6, 4, 3, 3}, {1, 6, 4, 4}, conv_attrs({2, 2}, {0, 0, 0, 0}), false, 6},
                      Case{"conv1x1", "Conv", {2, 8, 5, 5}, {10, 8, 1, 1}, {2, 10, 5, 5}, conv_attrs({1, 1}, {0, 0, 0, 0}), true, 10},
                      Case{"gemm_transB", "Gemm", {4, 12}, {9, 12}, {4, 9}, {ir::Attribute::make_int("transB", 1)}, true, 9},
                      Case{"gemm_nobias", "Gemm", {4, 12}, {12, 9}, {4, 9}, {}, false, 9}),
    [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });

TEST(CorrectionTarget, RefusesLayersThatCannotTakeTheMap) {
    const Tensor w = test::normal_tensor({12, 9}, 1);
    quant::QuantScheme s;
    s.bits = 4;
    auto target_of = [&](const std::string& op, std::vector<ir::Attribute> attrs, int64_t opset, quant::QuantScheme scheme) {
        ir::Model m = test::one_layer_model(op, attrs, {4, 12}, {4, 9}, w, opset);
        const auto layers = ir::find_layers(m.graph);
        const auto t = rewrite::quant_target(m.graph, layers.at(0));
        const auto gw = rewrite::grid_weight_for(layers[0], t, quant::rtn_quantize(t.w.data(), t.rows, t.cols, scheme));
        const int64_t bits = rewrite::rewrite_quantized(m, layers[0], gw, rewrite::WeightFormat::Packed);
        return rewrite::correction_target(m, layers[0], "y", &gw, bits);
    };
    EXPECT_TRUE(target_of("Gemm", {}, 13, s).has_value());
    EXPECT_FALSE(target_of("MatMul", {}, 13, s).has_value());                                 // no bias to shift
    EXPECT_FALSE(target_of("Gemm", {ir::Attribute::make_float("beta", 2.f)}, 13, s).has_value());  // C is scaled by beta
    EXPECT_FALSE(target_of("Gemm", {}, 9, s).has_value());                                    // no C before opset 11
    quant::QuantScheme blocked = s;
    blocked.granularity = quant::Granularity::Block;
    blocked.block_size = 4;
    EXPECT_FALSE(target_of("Gemm", {}, 13, blocked).has_value());  // scales along the inputs
}

}  // namespace
}  // namespace qcp
