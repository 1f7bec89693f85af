// GatherElements, GatherND, ScatterElements, ScatterND, Tile, Compress, DepthToSpace, SpaceToDepth,
// OneHot, Range and Size against naive references: explicit index loops written from the ONNX
// definitions (DepthToSpace as the spec's reshape + transpose), on random inputs.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "kernel_test_util.hpp"
#include "qcp/core/error.hpp"

namespace qcp {
namespace {

using A = ir::Attribute;
using test::run_op1;

A int_attr(const std::string& name, int64_t v) {
    A a;
    a.name = name;
    a.type = ir::AttrType::Int;
    a.i = v;
    return a;
}

A string_attr(const std::string& name, const std::string& v) {
    A a;
    a.name = name;
    a.type = ir::AttrType::String;
    a.s = v;
    return a;
}

Tensor random_floats(const Shape& shape, std::mt19937& gen) {
    std::uniform_real_distribution<float> dist(-2.0f, 2.0f);
    std::vector<float> v(static_cast<size_t>(shape_numel(shape)));
    for (auto& x : v) x = dist(gen);
    return Tensor::from_floats(shape, v);
}

Tensor random_indices(const Shape& shape, int64_t dim, std::mt19937& gen) {
    std::uniform_int_distribution<int64_t> dist(-dim, dim - 1);  // negatives count from the end
    std::vector<int64_t> v(static_cast<size_t>(shape_numel(shape)));
    for (auto& x : v) x = dist(gen);
    return Tensor::from_int64s(shape, v);
}

int64_t wrap(int64_t i, int64_t dim) { return i < 0 ? i + dim : i; }

TEST(IndexOps, GatherElementsAndScatterElementsMatchNaiveLoops) {
    std::mt19937 gen(1);
    const Tensor data = random_floats({4, 5}, gen);
    for (int64_t axis : {0, 1}) {
        const Tensor ind = random_indices({3, 2}, data.dim(static_cast<size_t>(axis)), gen);
        const Tensor g = run_op1("GatherElements", {&data, &ind}, {int_attr("axis", axis)});
        ASSERT_EQ(g.shape(), (Shape{3, 2}));
        for (int64_t i = 0; i < 3; ++i)
            for (int64_t j = 0; j < 2; ++j) {
                const int64_t k = wrap(ind.data<int64_t>()[i * 2 + j], data.dim(static_cast<size_t>(axis)));
                EXPECT_EQ(g.data<float>()[i * 2 + j], data.data<float>()[axis == 0 ? k * 5 + j : i * 5 + k]);
            }
        const Tensor upd = random_floats({3, 2}, gen);
        const Tensor s = run_op1("ScatterElements", {&data, &ind, &upd}, {int_attr("axis", axis), string_attr("reduction", "add")}, 16);
        std::vector<float> want = data.to_float_vector();
        for (int64_t i = 0; i < 3; ++i)
            for (int64_t j = 0; j < 2; ++j) {
                const int64_t k = wrap(ind.data<int64_t>()[i * 2 + j], data.dim(static_cast<size_t>(axis)));
                want[static_cast<size_t>(axis == 0 ? k * 5 + j : i * 5 + k)] += upd.data<float>()[i * 2 + j];
            }
        EXPECT_EQ(s.to_float_vector(), want);
    }
    const Tensor bad = Tensor::from_int64s({1, 1}, {7});
    EXPECT_THROW(run_op1("GatherElements", {&data, &bad}), Error);
}

TEST(IndexOps, GatherNdAndScatterNdMatchNaiveLoops) {
    std::mt19937 gen(2);
    const Tensor data = random_floats({3, 4, 2}, gen);
    const Tensor ind = Tensor::from_int64s({2, 2}, {2, 1, 0, -1});  // rows (2, 1) and (0, 3)
    const Tensor g = run_op1("GatherND", {&data, &ind});
    ASSERT_EQ(g.shape(), (Shape{2, 2}));
    const int64_t rows[2][2] = {{2, 1}, {0, 3}};
    for (int r = 0; r < 2; ++r)
        for (int64_t e = 0; e < 2; ++e)
            EXPECT_EQ(g.data<float>()[r * 2 + e], data.data<float>()[(rows[r][0] * 4 + rows[r][1]) * 2 + e]);
    const Tensor upd = random_floats({2, 2}, gen);
    const Tensor s = run_op1("ScatterND", {&data, &ind, &upd});
    std::vector<float> want = data.to_float_vector();
    for (int r = 0; r < 2; ++r)
        for (int64_t e = 0; e < 2; ++e) want[static_cast<size_t>((rows[r][0] * 4 + rows[r][1]) * 2 + e)] = upd.data<float>()[r * 2 + e];
    EXPECT_EQ(s.to_float_vector(), want);
    // batch_dims = 1: each batch row indexes its own (4, 2) slice
    const Tensor bind = Tensor::from_int64s({3, 1}, {1, 3, 0});
    const Tensor gb = run_op1("GatherND", {&data, &bind}, {int_attr("batch_dims", 1)}, 12);
    ASSERT_EQ(gb.shape(), (Shape{3, 2}));
    for (int64_t b = 0; b < 3; ++b)
        for (int64_t e = 0; e < 2; ++e)
            EXPECT_EQ(gb.data<float>()[b * 2 + e], data.data<float>()[(b * 4 + bind.data<int64_t>()[b]) * 2 + e]);
}

TEST(IndexOps, TileAndCompressMatchNaiveLoops) {
    std::mt19937 gen(3);
    const Tensor x = random_floats({2, 3}, gen);
    const Tensor reps = Tensor::from_int64s({2}, {2, 3});
    const Tensor t = run_op1("Tile", {&x, &reps});
    ASSERT_EQ(t.shape(), (Shape{4, 9}));
    for (int64_t i = 0; i < 4; ++i)
        for (int64_t j = 0; j < 9; ++j) EXPECT_EQ(t.data<float>()[i * 9 + j], x.data<float>()[(i % 2) * 3 + j % 3]);
    const Tensor cond(DType::Bool, {3}, std::vector<uint8_t>{1, 0, 1});
    const Tensor c = run_op1("Compress", {&x, &cond}, {int_attr("axis", 1)});
    ASSERT_EQ(c.shape(), (Shape{2, 2}));
    EXPECT_EQ(c.to_float_vector(), (std::vector<float>{x.data<float>()[0], x.data<float>()[2], x.data<float>()[3], x.data<float>()[5]}));
    const Tensor flat = run_op1("Compress", {&x, &cond});
    EXPECT_EQ(flat.to_float_vector(), (std::vector<float>{x.data<float>()[0], x.data<float>()[2]}));
}

// The spec: DCR reshapes to (N, b, b, C/b², H, W) and transposes (0, 3, 4, 1, 5, 2); CRD reshapes
// to (N, C/b², b, b, H, W) and transposes (0, 1, 4, 2, 5, 3).
TEST(IndexOps, DepthToSpaceMatchesSpecReshapeTransposeAndSpaceToDepthInvertsDcr) {
    std::mt19937 gen(4);
    const int64_t N = 2, C = 8, H = 3, W = 2, b = 2, Cp = C / (b * b);
    const Tensor x = random_floats({N, C, H, W}, gen);
    for (const char* mode : {"DCR", "CRD"}) {
        const Tensor y = run_op1("DepthToSpace", {&x}, {int_attr("blocksize", b), string_attr("mode", mode)}, 13);
        ASSERT_EQ(y.shape(), (Shape{N, Cp, H * b, W * b}));
        const bool dcr = std::string(mode) == "DCR";
        for (int64_t n = 0; n < N; ++n)
            for (int64_t c = 0; c < Cp; ++c)
                for (int64_t h = 0; h < H; ++h)
                    for (int64_t i = 0; i < b; ++i)
                        for (int64_t w = 0; w < W; ++w)
                            for (int64_t j = 0; j < b; ++j) {
                                const int64_t in_c = dcr ? (i * b + j) * Cp + c : (c * b + i) * b + j;
                                const float want = x.data<float>()[((n * C + in_c) * H + h) * W + w];
                                EXPECT_EQ(y.data<float>()[((n * Cp + c) * H * b + h * b + i) * W * b + w * b + j], want);
                            }
        if (dcr) {
            EXPECT_EQ(run_op1("SpaceToDepth", {&y}, {int_attr("blocksize", b)}), x);
        }
    }
    const Tensor odd = random_floats({1, 3, 2, 2}, gen);
    EXPECT_THROW(run_op1("DepthToSpace", {&odd}, {int_attr("blocksize", 2)}), Error);
}

TEST(IndexOps, OneHotRangeAndSize) {
    const Tensor ind = Tensor::from_int64s({3}, {0, 2, -1});
    const Tensor depth = Tensor::from_floats({}, {3.0f});
    const Tensor values = Tensor::from_floats({2}, {-1.0f, 5.0f});
    const Tensor y = run_op1("OneHot", {&ind, &depth, &values}, {int_attr("axis", 0)}, 11);
    ASSERT_EQ(y.shape(), (Shape{3, 3}));  // depth first: y[k][i] = on where ind[i] == k
    EXPECT_EQ(y.to_float_vector(), (std::vector<float>{5, -1, -1, -1, -1, -1, -1, 5, 5}));
    const Tensor start = Tensor::from_floats({}, {1.0f}), limit = Tensor::from_floats({}, {2.0f}), delta = Tensor::from_floats({}, {0.3f});
    const Tensor r = run_op1("Range", {&start, &limit, &delta}, {}, 11);
    ASSERT_EQ(r.numel(), 4);  // ceil(1 / 0.3)
    for (int64_t i = 0; i < 4; ++i) EXPECT_FLOAT_EQ(r.data<float>()[i], 1.0f + static_cast<float>(i) * 0.3f);
    const Tensor s = run_op1("Size", {&y});
    EXPECT_EQ(s.dtype(), DType::Int64);
    EXPECT_EQ(s.data<int64_t>()[0], 9);
}

}  // namespace
}  // namespace qcp
