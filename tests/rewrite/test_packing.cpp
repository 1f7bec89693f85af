// The packed weight format: b-bit code streams against a naive bit writer, the decoder graph run
// by qcp's engine at the opsets it targets, packed grid weights bit-identical to
// GridWeight::dequantized(), and what a runtime holds after constant folding.
#include <gtest/gtest.h>

#include <random>
#include <set>

#include "qcp/core/error.hpp"
#include "qcp/engine/fold.hpp"
#include "qcp/engine/session.hpp"
#include "qcp/rewrite/packing.hpp"
#include "qcp/rewrite/weights.hpp"

namespace qcp {
namespace {

const std::vector<int64_t> kOpsets = {7, 9, 11, 13, 17, 21};

std::vector<int32_t> random_codes(int64_t n, int bits, uint32_t seed) {
    std::mt19937 gen(seed);
    std::uniform_int_distribution<int32_t> u(0, (1 << bits) - 1);
    std::vector<int32_t> c(static_cast<size_t>(n));
    for (auto& v : c) v = u(gen);
    return c;
}

// The reference: codes written LSB first into one bit stream, whole words only.
std::vector<uint8_t> naive_bit_stream(const std::vector<int32_t>& codes, int bits, int64_t count) {
    std::vector<uint8_t> out(static_cast<size_t>((count * bits + 7) / 8), 0);
    for (int64_t i = 0; i < count; ++i)
        for (int b = 0; b < bits; ++b)
            if ((codes[static_cast<size_t>(i)] >> b) & 1) {
                const int64_t bit = i * bits + b;
                out[static_cast<size_t>(bit / 8)] |= static_cast<uint8_t>(1u << (bit % 8));
            }
    return out;
}

// Lengths around the word size: none, one, a word less one, a word, a word and one, many.
std::vector<int64_t> lengths_for(int group) { return {0, 1, group - 1, group, group + 1, 1000 * group + 3, 100003}; }

TEST(Packing, LayoutFillsWholeBytes) {
    const int group[] = {8, 4, 8, 2, 8, 4, 8, 1}, bytes[] = {1, 1, 3, 1, 5, 3, 7, 1};
    for (int b = 1; b <= 8; ++b) {
        const rewrite::PackLayout l = rewrite::pack_layout(b);
        EXPECT_EQ(l.group, group[b - 1]) << b;
        EXPECT_EQ(l.bytes, bytes[b - 1]) << b;
    }
    EXPECT_THROW(rewrite::pack_layout(0), Error);
    EXPECT_THROW(rewrite::pack_layout(9), Error);
}

TEST(Packing, RoundTripsAndMatchesTheBitStream) {
    for (int bits = 1; bits <= 8; ++bits) {
        const rewrite::PackLayout l = rewrite::pack_layout(bits);
        for (int64_t n : lengths_for(l.group)) {
            SCOPED_TRACE("bits " + std::to_string(bits) + " n " + std::to_string(n));
            const std::vector<int32_t> codes = random_codes(n, bits, static_cast<uint32_t>(bits * 1000 + n));
            const rewrite::PackedCodes p = rewrite::pack_codes(codes, bits);
            EXPECT_EQ(rewrite::unpack_codes(p), codes);
            const int64_t words = n / l.group;
            EXPECT_EQ(static_cast<int64_t>(p.words.size() + p.tail.size()), rewrite::packed_bytes(n, bits));
            // the words are the stream of their codes; the tail holds one code a byte
            EXPECT_EQ(p.words, naive_bit_stream(codes, bits, words * l.group));
            ASSERT_EQ(static_cast<int64_t>(p.tail.size()), n - words * l.group);
            for (size_t t = 0; t < p.tail.size(); ++t) EXPECT_EQ(p.tail[t], codes[static_cast<size_t>(words * l.group) + t]);
        }
    }
}

TEST(Packing, RefusesCodesOutsideTheBits) {
    EXPECT_THROW(rewrite::pack_codes({0, 4}, 2), Error);
    EXPECT_THROW(rewrite::pack_codes({-1}, 8), Error);
    EXPECT_NO_THROW(rewrite::pack_codes({3, 0}, 2));
}

// A model with no inputs whose one output is `value` (int codes or a float weight).
ir::Model empty_model(int64_t opset) {
    ir::Model m;
    m.opset_import = {{"", opset}};
    return m;
}

void set_output(ir::Model& m, const std::string& value, DType dtype) {
    ir::ValueInfo v;
    v.name = value;
    v.dtype = dtype;
    m.graph.outputs = {v};
    m.graph.rebuild_index();
}

// Single static assignment, as the ONNX checker requires: each value produced once.
void expect_ssa(const ir::Graph& g) {
    std::set<std::string> seen;
    for (const auto& n : g.nodes)
        for (const auto& out : n.outputs) EXPECT_TRUE(seen.insert(out).second) << out << " produced twice";
    for (const auto& i : g.initializers) EXPECT_TRUE(seen.insert(i.name).second) << i.name << " produced twice";
}

Tensor run_output(ir::Model& m, const std::string& value, DType dtype) {
    set_output(m, value, dtype);
    return engine::Session(m).run(std::vector<Tensor>{}).at(0);
}

TEST(Packing, DecoderInTheEngineGivesTheCodesAtEveryOpset) {
    for (int64_t opset : kOpsets)
        for (int bits = 1; bits <= 8; ++bits) {
            const rewrite::PackLayout l = rewrite::pack_layout(bits);
            for (int64_t n : lengths_for(l.group)) {
                if (n == 0 || n > 10000) continue;  // no weight is empty; the large case is the round trip's
                SCOPED_TRACE("opset " + std::to_string(opset) + " bits " + std::to_string(bits) + " n " + std::to_string(n));
                const std::vector<int32_t> codes = random_codes(n, bits, static_cast<uint32_t>(opset * 100 + bits));
                ir::Model m = empty_model(opset);
                const rewrite::CodeValue c = rewrite::emit_packed_codes(m, "w", rewrite::pack_codes(codes, bits));
                const Tensor got = run_output(m, c.name, DType::Int32);
                ASSERT_EQ(got.dtype(), DType::Int32);
                ASSERT_EQ(got.numel(), n);
                const std::vector<int64_t> values = got.to_int64_vector();
                for (int64_t i = 0; i < n; ++i) ASSERT_EQ(values[static_cast<size_t>(i)], codes[static_cast<size_t>(i)]) << i;
                expect_ssa(m.graph);
            }
        }
    ir::Model old = empty_model(6);
    EXPECT_THROW(rewrite::emit_packed_codes(old, "w", rewrite::pack_codes({1, 2, 3}, 2)), Error);
}

// A grid weight of `shape` with random codes on `bits` (signed when symmetric) and positive scales.
rewrite::GridWeight grid(Shape shape, int bits, bool symmetric, int axis, int64_t block, uint32_t seed) {
    rewrite::GridWeight w;
    w.shape = std::move(shape);
    w.bits = bits;
    w.axis = axis;
    w.block_size = block;
    const int64_t n = shape_numel(w.shape);
    w.codes = random_codes(n, bits, seed);
    if (symmetric)
        for (auto& c : w.codes) c -= 1 << (bits - 1);
    std::mt19937 gen(seed + 1);
    std::uniform_real_distribution<float> s(0.01f, 0.2f);
    w.scales.resize(static_cast<size_t>(shape_numel(w.scale_shape())));
    for (auto& v : w.scales) v = s(gen);
    if (!symmetric) w.zero_points = random_codes(static_cast<int64_t>(w.scales.size()), bits, seed + 2);
    return w;
}

void expect_bit_identical(const Tensor& got, const Tensor& want) {
    ASSERT_EQ(got.shape(), want.shape());
    for (int64_t i = 0; i < want.numel(); ++i) ASSERT_EQ(got.data<float>()[i], want.data<float>()[i]) << "element " << i;
}

struct GridCase {
    std::string name;
    Shape shape;
    int bits;
    bool symmetric;
    int axis;
    int64_t block;
};

class PackedGridCase : public ::testing::TestWithParam<GridCase> {};

TEST_P(PackedGridCase, DecodesToTheDequantizedWeightAtEveryOpset) {
    const GridCase& c = GetParam();
    for (int64_t opset : kOpsets) {
        SCOPED_TRACE("opset " + std::to_string(opset));
        const rewrite::GridWeight w = grid(c.shape, c.bits, c.symmetric, c.axis, c.block, static_cast<uint32_t>(opset));
        ir::Model m = empty_model(opset);
        const std::string value = rewrite::emit_grid_weight(m, "qcp/l/w", w, rewrite::WeightFormat::Packed);
        rewrite::emit_grid_weight(m, "qcp/l2/w", w, rewrite::WeightFormat::Packed);  // a second decoder beside it
        expect_ssa(m.graph);
        expect_bit_identical(run_output(m, value, DType::Float32), w.dequantized());
        EXPECT_EQ(rewrite::storage_name(w, rewrite::WeightFormat::Packed, opset), "packed-" + std::to_string(c.bits));
        // a runtime that folds the decoder holds the float32 weight, nothing else (the other
        // decoder feeds nothing)
        EXPECT_EQ(engine::runtime_weight_bytes(m), 4 * shape_numel(c.shape));
    }
}

INSTANTIATE_TEST_SUITE_P(
    Grids, PackedGridCase,
    ::testing::Values(GridCase{"sym4_tensor", {6, 5, 3, 3}, 4, true, -1, 0},
                      GridCase{"sym3_channel", {7, 5, 3, 3}, 3, true, 0, 0},
                      GridCase{"sym2_cols", {5, 9}, 2, true, 1, 0},
                      GridCase{"sym5_rank_axis", {3, 11, 1, 1}, 5, true, 1, 0},
                      GridCase{"sym6_channel", {4, 13}, 6, true, 0, 0},
                      GridCase{"sym7_tensor", {3, 7}, 7, true, -1, 0},
                      GridCase{"sym8_channel", {5, 3, 3, 3}, 8, true, 0, 0},
                      GridCase{"asym4_channel", {6, 4, 3, 3}, 4, false, 0, 0},
                      GridCase{"asym8_tensor", {6, 4}, 8, false, -1, 0},
                      GridCase{"block_even", {5, 12}, 4, true, 1, 4},
                      GridCase{"block_padded_cols", {5, 10}, 3, true, 1, 4},
                      GridCase{"block_padded_rows_asym", {10, 6}, 4, false, 0, 3}),
    [](const ::testing::TestParamInfo<GridCase>& info) { return info.param.name; });

TEST(PackedGrid, NewScalesReplaceTheOldOnesInPlace) {
    rewrite::GridWeight w = grid({6, 4, 3, 3}, 4, true, -1, 0, 5);
    ir::Model m = empty_model(9);
    const std::string value = rewrite::emit_grid_weight(m, "qcp/l/w", w, rewrite::WeightFormat::Packed);
    const size_t nodes = m.graph.nodes.size();
    w.axis = 0;  // a correction made the scales per output channel
    w.scales = {0.5f, 0.25f, 1.5f, 2.0f, 0.125f, 3.0f};
    rewrite::update_grid_weight(m, value, w, rewrite::WeightFormat::Packed);
    EXPECT_EQ(m.graph.nodes.size(), nodes);
    expect_bit_identical(run_output(m, value, DType::Float32), w.dequantized());
    w.axis = 1;
    w.block_size = 2;
    w.scales.assign(static_cast<size_t>(shape_numel(w.scale_shape())), 1.0f);
    EXPECT_THROW(rewrite::update_grid_weight(m, value, w, rewrite::WeightFormat::Packed), Error);
}

TEST(RuntimeWeightBytes, QdqKeepsItsIntegersAndFloatItsValues) {
    const rewrite::GridWeight w = grid({8, 4, 3, 3}, 4, true, 0, 0, 7);
    ir::Model qdq = empty_model(13);
    rewrite::emit_grid_weight(qdq, "w", w, rewrite::WeightFormat::Qdq);
    set_output(qdq, "w", DType::Float32);
    EXPECT_EQ(engine::runtime_weight_bytes(qdq), 288 + 4 * 8);  // int8 codes + scales: DequantizeLinear is not folded
    ir::Model qdq4 = empty_model(21);
    rewrite::emit_grid_weight(qdq4, "w", w, rewrite::WeightFormat::Qdq);
    set_output(qdq4, "w", DType::Float32);
    EXPECT_EQ(engine::runtime_weight_bytes(qdq4), 144 + 4 * 8);  // int4: half a byte a code
    ir::Model flt = empty_model(13);
    rewrite::emit_grid_weight(flt, "w", w, rewrite::WeightFormat::Float);
    set_output(flt, "w", DType::Float32);
    EXPECT_EQ(engine::runtime_weight_bytes(flt), 4 * 288);
}

}  // namespace
}  // namespace qcp
