// A product-quantized weight written as Cast → Gather → Reshape (→ Transpose) computes exactly
// the layer with the dequantized weight, before and after a save/load round trip.
#include <gtest/gtest.h>

#include <filesystem>

#include "qcp/core/error.hpp"
#include "qcp/core/npy.hpp"
#include "qcp/engine/session.hpp"
#include "qcp/ir/layers.hpp"
#include "qcp/onnx_io/onnx_io.hpp"
#include "qcp/rewrite/packing.hpp"
#include "qcp/rewrite/pq_rewrite.hpp"
#include "rewrite_test_util.hpp"

namespace qcp {
namespace {

struct Case {
    std::string name, op;
    Shape x, w, y;
    std::vector<ir::Attribute> attrs;
    int64_t d, k;
};

ir::Model one_layer(const Case& c, const Tensor& w) {
    return test::one_layer_model(c.op, c.attrs, c.x, c.y, w, 13, "pq_" + c.name);
}

// Bit-for-bit: both graphs hand the op the same float32 weight values.
void expect_identical(const Tensor& got, const Tensor& want, const std::string& what) {
    ASSERT_EQ(got.shape(), want.shape()) << what;
    for (int64_t i = 0; i < want.numel(); ++i)
        ASSERT_EQ(got.data<float>()[i], want.data<float>()[i]) << what << " element " << i;
}

class PqRewriteCase : public ::testing::TestWithParam<Case> {};

TEST_P(PqRewriteCase, GatherGraphEqualsDequantizedWeight) {
    const Case& c = GetParam();
    const Tensor w = test::normal_tensor(c.w, 1);
    const Tensor x = test::normal_tensor(c.x, 2);
    for (auto format : {rewrite::WeightFormat::Qdq, rewrite::WeightFormat::Float, rewrite::WeightFormat::Packed}) {
        const bool qdq = format == rewrite::WeightFormat::Qdq;
        const bool packed = format == rewrite::WeightFormat::Packed && c.k <= 128;
        ir::Model m = one_layer(c, w);
        const auto layers = ir::find_layers(m.graph);
        ASSERT_EQ(layers.size(), 1u);
        const auto t = rewrite::quant_target(m.graph, layers[0]);
        quant::PqOptions o;
        o.d = c.d;
        o.k = c.k;
        o.iters = 5;
        const quant::PqResult pq = quant::pq_quantize(t.w.data(), t.rows, t.cols, {}, o);
        ASSERT_EQ(pq.k, c.k) << "the case should use every codeword it asks for";
        // the reference: the same layer with Ŵ in the stored layout
        const std::vector<float> deq = pq.dequantized();
        Tensor w_hat(DType::Float32, c.w);
        for (int64_t r = 0; r < t.rows; ++r)
            for (int64_t col = 0; col < t.cols; ++col)
                w_hat.data<float>()[t.transposed ? col * t.rows + r : r * t.cols + col] = deq[static_cast<size_t>(r * t.cols + col)];
        const Tensor want = engine::Session(one_layer(c, w_hat)).run(x).at(0);

        const rewrite::PqBits bits = rewrite::rewrite_pq(m, layers[0], t, pq, format);
        const int64_t subvectors = t.rows * t.cols / c.d;
        EXPECT_EQ(bits.storage_bits, (packed ? 8 * rewrite::packed_bytes(subvectors, rewrite::pq_index_bits(c.k))
                                             : subvectors * (c.k <= 256 ? 8 : 16)) + 16 * c.k * c.d);
        EXPECT_LE(bits.ideal_bits, bits.storage_bits);
        m.graph.sort_topologically();
        EXPECT_EQ(m.graph.find_initializer("w"), nullptr) << "old weight left behind";
        if (qdq) {
            const ir::Initializer* codebook = m.graph.find_initializer("qcp/layer/w_codebook");
            const ir::Initializer* indices = m.graph.find_initializer("qcp/layer/w_indices");
            ASSERT_TRUE(codebook && indices);
            EXPECT_EQ(codebook->tensor.dtype(), DType::Float16);
            EXPECT_EQ(codebook->tensor.shape(), (Shape{c.k, c.d}));
            EXPECT_EQ(indices->tensor.dtype(), c.k <= 256 ? DType::UInt8 : DType::UInt16);
            EXPECT_EQ(indices->tensor.shape(), (Shape{t.rows, t.cols / c.d}));
        }
        if (packed) {
            EXPECT_EQ(m.graph.find_initializer("qcp/layer/w_indices"), nullptr);
            EXPECT_NE(m.graph.find_initializer("qcp/layer/w_indices_packed"), nullptr);
            EXPECT_EQ(rewrite::pq_storage_name(c.k, format), "pq-packed-" + std::to_string(rewrite::pq_index_bits(c.k)));
        }
        expect_identical(engine::Session(m).run(x).at(0), want, c.name);

        // the saved file passes the ONNX checker (save_model runs it) and loads back the same
        const std::filesystem::path dir = QCP_TEST_TMP;
        std::filesystem::create_directories(dir);
        const auto path = dir / ("pq_rewrite_" + c.name + "_" + rewrite::weight_format_name(format) + ".onnx");
        onnx_io::SaveOptions so;
        so.overwrite = true;
        onnx_io::save_model(m, path, so);
        const ir::Model loaded = onnx_io::load_model(path);
        expect_identical(engine::Session(loaded).run(x).at(0), want, c.name + " (loaded)");
        if (qdq) {  // for a manual ONNX Runtime check: node tools/ort/ort_run.js MODEL OUT --input x=...
            npy::save(dir / ("pq_rewrite_" + c.name + "_x.npy"), x);
            npy::save(dir / ("pq_rewrite_" + c.name + "_y.npy"), want);
        }
    }
}

INSTANTIATE_TEST_SUITE_P(
    Layers, PqRewriteCase,
    ::testing::Values(
        Case{"conv3x3", "Conv", {2, 4, 7, 7}, {6, 4, 3, 3}, {2, 6, 5, 5}, {}, 9, 16},
        Case{"conv1x1", "Conv", {2, 8, 5, 5}, {6, 8, 1, 1}, {2, 6, 5, 5}, {}, 4, 8},
        Case{"conv_grouped", "Conv", {2, 4, 7, 7}, {6, 2, 3, 3}, {2, 6, 5, 5}, {ir::Attribute::make_int("group", 2)}, 9, 6},
        Case{"conv_depthwise", "Conv", {1, 4, 6, 6}, {4, 1, 3, 3}, {1, 4, 4, 4}, {ir::Attribute::make_int("group", 4)}, 9, 3},
        Case{"gemm_transB1", "Gemm", {3, 12}, {5, 12}, {3, 5}, {ir::Attribute::make_int("transB", 1)}, 4, 8},
        Case{"gemm_transB0", "Gemm", {3, 12}, {12, 5}, {3, 5}, {}, 4, 8},
        Case{"matmul", "MatMul", {2, 3, 12}, {12, 6}, {2, 3, 6}, {}, 3, 10},
        Case{"gemm_uint16_indices", "Gemm", {2, 64}, {40, 64}, {2, 40}, {ir::Attribute::make_int("transB", 1)}, 4, 300}),
    [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });

TEST(PqRewrite, BitsAndBadInputs) {
    using rewrite::WeightFormat;
    EXPECT_EQ(rewrite::pq_bits(10, 4, 256, 9, WeightFormat::Qdq).storage_bits, 40 * 8 + 16 * 256 * 9);
    EXPECT_EQ(rewrite::pq_bits(10, 4, 256, 9, WeightFormat::Qdq).ideal_bits, 40 * 8 + 16 * 256 * 9);
    EXPECT_EQ(rewrite::pq_bits(10, 4, 100, 9, WeightFormat::Qdq).ideal_bits, 40 * 7 + 16 * 100 * 9);
    EXPECT_EQ(rewrite::pq_bits(10, 4, 257, 9, WeightFormat::Qdq).storage_bits, 40 * 16 + 16 * 257 * 9);
    EXPECT_EQ(rewrite::pq_bits(10, 4, 1, 9, WeightFormat::Qdq).ideal_bits, 16 * 9);
    EXPECT_THROW(rewrite::pq_bits(10, 4, 65537, 9, WeightFormat::Qdq), Error);
    // packed: 40 indices in 7-bit words of 8 (35 bytes), 6 bits (30 bytes), 1 bit for k = 1 (5 bytes)
    EXPECT_EQ(rewrite::pq_bits(10, 4, 100, 9, WeightFormat::Packed).storage_bits, 35 * 8 + 16 * 100 * 9);
    EXPECT_EQ(rewrite::pq_bits(10, 4, 64, 9, WeightFormat::Packed).storage_bits, 30 * 8 + 16 * 64 * 9);
    EXPECT_EQ(rewrite::pq_bits(10, 4, 1, 9, WeightFormat::Packed).storage_bits, 5 * 8 + 16 * 9);
    EXPECT_EQ(rewrite::pq_bits(10, 4, 256, 9, WeightFormat::Packed).storage_bits, 40 * 8 + 16 * 256 * 9);
    EXPECT_EQ(rewrite::pq_storage_name(256, WeightFormat::Packed), "pq-gather");
    EXPECT_EQ(rewrite::pq_storage_name(300, WeightFormat::Qdq), "pq-gather");
    EXPECT_EQ(rewrite::pq_storage_name(16, WeightFormat::Float), "float");

    const Case c{"gemm", "Gemm", {3, 12}, {5, 12}, {3, 5}, {ir::Attribute::make_int("transB", 1)}, 4, 8};
    ir::Model m = one_layer(c, test::normal_tensor(c.w, 3));
    const auto layers = ir::find_layers(m.graph);
    const auto t = rewrite::quant_target(m.graph, layers[0]);
    quant::PqOptions o;
    o.d = 4;
    o.k = 8;
    const quant::PqResult pq = quant::pq_quantize(t.w.data(), t.rows, t.cols, {}, o);
    quant::PqResult bad = pq;
    bad.rows = 4;
    EXPECT_THROW(rewrite::rewrite_pq(m, layers[0], t, bad, rewrite::WeightFormat::Qdq), Error);
    bad = pq;
    bad.codes[0] = 8;
    EXPECT_THROW(rewrite::rewrite_pq(m, layers[0], t, bad, rewrite::WeightFormat::Qdq), Error);
    m.opset_import = {{"", 5}};
    EXPECT_THROW(rewrite::rewrite_pq(m, layers[0], t, pq, rewrite::WeightFormat::Qdq), Error);
    EXPECT_NE(m.graph.find_initializer("w"), nullptr) << "a refused rewrite leaves the graph alone";
}

}  // namespace
}  // namespace qcp
