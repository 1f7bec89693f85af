// Shape kernels against naive references: element-by-element index arithmetic (Transpose,
// Slice with Python slice semantics, Gather, Concat, Expand) and explicit expected shapes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <limits>
#include <numeric>
#include <random>

#include "qcp/core/error.hpp"
#include "qcp/core/parallel.hpp"
#include "qcp/engine/kernel.hpp"
#include "kernel_test_util.hpp"

namespace qcp {
namespace {

using A = ir::Attribute;

constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();
constexpr int64_t kInt64Min = std::numeric_limits<int64_t>::min();

using test::run_op;

// Distinct values 0, 1, 2, ... so every misplaced element shows.
Tensor iota_floats(const Shape& shape) {
    std::vector<float> v(static_cast<size_t>(shape_numel(shape)));
    std::iota(v.begin(), v.end(), 0.0f);
    return Tensor::from_floats(shape, v);
}

Tensor ints(const std::vector<int64_t>& v) { return Tensor::from_int64s({static_cast<int64_t>(v.size())}, v); }

std::vector<int64_t> strides_of(const Shape& s) {
    std::vector<int64_t> st(s.size(), 1);
    for (size_t d = s.size(); d-- > 1;) st[d - 1] = st[d] * s[d];
    return st;
}

void for_each_index(const Shape& shape, const std::function<void(int64_t, const std::vector<int64_t>&)>& f) {
    std::vector<int64_t> idx(shape.size(), 0);
    const int64_t n = shape_numel(shape);
    for (int64_t i = 0; i < n; ++i) {
        f(i, idx);
        for (size_t d = shape.size(); d-- > 0;) {
            if (++idx[d] < shape[d]) break;
            idx[d] = 0;
        }
    }
}

TEST(ShapeOps, ReshapeCopiesZeroAndInfersMinusOne) {
    const Tensor x = iota_floats({2, 3, 4});
    const Tensor s1 = ints({0, -1});
    EXPECT_EQ(run_op("Reshape", {&x, &s1})[0].shape(), (Shape{2, 12}));
    const Tensor s2 = ints({-1, 3, 2});
    const Tensor y = run_op("Reshape", {&x, &s2})[0];
    EXPECT_EQ(y.shape(), (Shape{4, 3, 2}));
    EXPECT_TRUE(y.bytes() == x.bytes());
    const Tensor empty(DType::Float32, {0, 3});
    const Tensor s3 = ints({3, 0});
    EXPECT_EQ(run_op("Reshape", {&empty, &s3}, {A::make_int("allowzero", 1)}, 14)[0].shape(), (Shape{3, 0}));
    const Tensor two_infer = ints({-1, -1});
    EXPECT_THROW(run_op("Reshape", {&x, &two_infer}), Error);
    const Tensor bad = ints({5, -1});
    EXPECT_THROW(run_op("Reshape", {&x, &bad}), Error);
}

TEST(ShapeOps, FlattenSqueezeUnsqueezeShapes) {
    const Tensor x = iota_floats({2, 3, 4, 5});
    auto flat = [&](int64_t axis) { return run_op("Flatten", {&x}, {A::make_int("axis", axis)}, 13)[0].shape(); };
    EXPECT_EQ(run_op("Flatten", {&x})[0].shape(), (Shape{2, 60}));
    EXPECT_EQ(flat(0), (Shape{1, 120}));
    EXPECT_EQ(flat(2), (Shape{6, 20}));
    EXPECT_EQ(flat(-1), (Shape{24, 5}));
    EXPECT_EQ(flat(4), (Shape{120, 1}));

    const Tensor y = iota_floats({1, 3, 1, 4});
    EXPECT_EQ(run_op("Squeeze", {&y})[0].shape(), (Shape{3, 4}));
    EXPECT_EQ(run_op("Squeeze", {&y}, {A::make_ints("axes", {0, -2})}, 11)[0].shape(), (Shape{3, 4}));
    const Tensor axis2 = ints({2});
    EXPECT_EQ(run_op("Squeeze", {&y, &axis2}, {}, 13)[0].shape(), (Shape{1, 3, 4}));
    const Tensor axis1 = ints({1});
    EXPECT_THROW(run_op("Squeeze", {&y, &axis1}, {}, 13), Error);

    EXPECT_EQ(run_op("Unsqueeze", {&x}, {A::make_ints("axes", {0, 5})}, 11)[0].shape(), (Shape{1, 2, 3, 4, 5, 1}));
    const Tensor neg = ints({-1, 1});
    EXPECT_EQ(run_op("Unsqueeze", {&x, &neg}, {}, 13)[0].shape(), (Shape{2, 1, 3, 4, 5, 1}));
    const Tensor dup = ints({1, 1});
    EXPECT_THROW(run_op("Unsqueeze", {&x, &dup}, {}, 13), Error);
}

TEST(ShapeOps, TransposeMatchesNaiveForEveryPermutation) {
    const Shape shape = {2, 3, 4, 5};
    std::vector<int64_t> perm = {0, 1, 2, 3};
    const Tensor x = iota_floats(shape);
    const auto in_strides = strides_of(shape);
    do {
        const Tensor y = run_op("Transpose", {&x}, {A::make_ints("perm", perm)})[0];
        Shape want_shape;
        for (int64_t p : perm) want_shape.push_back(shape[static_cast<size_t>(p)]);
        ASSERT_EQ(y.shape(), want_shape);
        for_each_index(want_shape, [&](int64_t i, const std::vector<int64_t>& idx) {
            int64_t src = 0;
            for (size_t d = 0; d < perm.size(); ++d) src += idx[d] * in_strides[static_cast<size_t>(perm[d])];
            ASSERT_EQ(y.data<float>()[i], x.data<float>()[src]);
        });
    } while (std::next_permutation(perm.begin(), perm.end()));
    const Tensor m = iota_floats({3, 7});
    const Tensor t = run_op("Transpose", {&m})[0];  // default: reversed axes
    EXPECT_EQ(t.shape(), (Shape{7, 3}));
    EXPECT_EQ(t.data<float>()[1], 7.0f);
}

TEST(ShapeOps, TransposeOfOtherDtypesAndLargeTensorsIsThreadIndependent) {
    const Tensor x8 = Tensor(DType::Int64, {3, 4, 2}, std::vector<uint8_t>(3 * 4 * 2 * 8, 0));
    EXPECT_EQ(run_op("Transpose", {&x8}, {A::make_ints("perm", {2, 0, 1})})[0].shape(), (Shape{2, 3, 4}));
    std::vector<uint8_t> bytes(6);
    std::iota(bytes.begin(), bytes.end(), uint8_t{0});
    const Tensor u8(DType::UInt8, {2, 3}, bytes);
    const Tensor tu8 = run_op("Transpose", {&u8})[0];
    EXPECT_EQ(std::vector<uint8_t>(tu8.data<uint8_t>(), tu8.data<uint8_t>() + 6), (std::vector<uint8_t>{0, 3, 1, 4, 2, 5}));
    const Tensor big = iota_floats({2, 64, 48, 40});
    const std::vector<ir::Attribute> nhwc = {A::make_ints("perm", {0, 2, 3, 1})};
    set_num_threads(1);
    const Tensor one = run_op("Transpose", {&big}, nhwc)[0];
    set_num_threads(2);
    const Tensor two = run_op("Transpose", {&big}, nhwc)[0];
    set_num_threads(0);
    EXPECT_TRUE(one == two);
    EXPECT_EQ(one.data<float>()[1], 48.0f * 40.0f);
}

// The indices a Slice picks along one axis, enumerated one by one. ONNX clamps like Python's
// slice.indices() except that a start below -dim becomes 0 (not -1) when stepping backwards,
// so [-8::-2] on 5 elements picks element 0 (ORT agrees).
std::vector<int64_t> slice_indices(int64_t start, int64_t end, int64_t step, int64_t dim) {
    auto fix = [&](int64_t v, int64_t lo, int64_t hi) { return std::clamp(v < 0 ? v + dim : v, lo, hi); };
    std::vector<int64_t> out;
    if (step > 0) {
        for (int64_t i = fix(start, 0, dim), e = fix(end, 0, dim); i < e; i += step) out.push_back(i);
    } else {
        for (int64_t i = fix(start, 0, dim - 1), e = fix(end, -1, dim - 1); i > e; i += step) out.push_back(i);
    }
    return out;
}

TEST(ShapeOps, SliceMatchesIndexEnumeration) {
    const Shape shape = {5, 6, 7};
    const Tensor x = iota_floats(shape);
    const auto st = strides_of(shape);
    std::mt19937 gen(13);
    const int64_t specials[] = {kInt64Min, kInt64Max, -100, 100};
    std::uniform_int_distribution<int64_t> pos(-9, 9), step_d(-3, 3), pick(0, 5);
    for (int trial = 0; trial < 300; ++trial) {
        std::vector<int64_t> starts, ends, axes, steps;
        std::vector<std::vector<int64_t>> picked(3);
        for (size_t d = 0; d < 3; ++d) picked[d] = slice_indices(0, kInt64Max, 1, shape[d]);
        for (int64_t d = 0; d < 3; ++d) {
            if (pick(gen) == 0) continue;  // axis left whole
            auto value = [&] { return pick(gen) < 4 ? pos(gen) : specials[pick(gen) % 4]; };
            int64_t s = 0;
            while (s == 0) s = step_d(gen);
            starts.push_back(value());
            ends.push_back(value());
            axes.push_back(pick(gen) % 2 ? d : d - 3);
            steps.push_back(s);
            picked[static_cast<size_t>(d)] = slice_indices(starts.back(), ends.back(), s, shape[static_cast<size_t>(d)]);
        }
        const Tensor ts = ints(starts), te = ints(ends), ta = ints(axes), tp = ints(steps);
        const Tensor y = run_op("Slice", {&x, &ts, &te, &ta, &tp})[0];
        const Shape want = {int64_t(picked[0].size()), int64_t(picked[1].size()), int64_t(picked[2].size())};
        std::string spec;
        for (size_t i = 0; i < starts.size(); ++i)
            spec += " [axis " + std::to_string(axes[i]) + ": " + std::to_string(starts[i]) + ":" +
                    std::to_string(ends[i]) + ":" + std::to_string(steps[i]) + "]";
        ASSERT_EQ(y.shape(), want) << spec;
        for_each_index(want, [&](int64_t i, const std::vector<int64_t>& idx) {
            int64_t src = 0;
            for (size_t d = 0; d < 3; ++d) src += picked[d][static_cast<size_t>(idx[d])] * st[d];
            ASSERT_EQ(y.data<float>()[i], x.data<float>()[src]) << spec;
        });
    }
}

TEST(ShapeOps, SliceAttributeFormBeforeOpset10) {
    const Tensor x = iota_floats({4, 6});
    const Tensor y = run_op("Slice", {&x}, {A::make_ints("starts", {1, -2}), A::make_ints("ends", {3, 1000})}, 9)[0];
    EXPECT_EQ(y.shape(), (Shape{2, 2}));
    EXPECT_EQ(y.to_float_vector(), (std::vector<float>{10, 11, 16, 17}));
    const Tensor s = ints({0}), e = ints({1}), a = ints({0}), zero = ints({0});
    EXPECT_THROW(run_op("Slice", {&x, &s, &e, &a, &zero}), Error);
}

TEST(ShapeOps, ConcatAndSplitRoundTrip) {
    const Tensor a = iota_floats({2, 3, 4});
    const Tensor b = iota_floats({2, 1, 4});
    const Tensor y = run_op("Concat", {&a, &b}, {A::make_int("axis", -2)})[0];
    ASSERT_EQ(y.shape(), (Shape{2, 4, 4}));
    for_each_index(y.shape(), [&](int64_t i, const std::vector<int64_t>& idx) {
        const float want = idx[1] < 3 ? a.data<float>()[idx[0] * 12 + idx[1] * 4 + idx[2]] : b.data<float>()[idx[0] * 4 + idx[2]];
        ASSERT_EQ(y.data<float>()[i], want);
    });
    const Tensor sizes = ints({3, 1});
    const auto parts = run_op("Split", {&y, &sizes}, {A::make_int("axis", 1)}, 13, 2);
    EXPECT_TRUE(parts[0] == a);
    EXPECT_TRUE(parts[1] == b);
    const auto old = run_op("Split", {&y}, {A::make_int("axis", 1), A::make_ints("split", {3, 1})}, 11, 2);
    EXPECT_TRUE(old[0] == a);
    const auto halves = run_op("Split", {&y}, {A::make_int("axis", 1)}, 13, 2);
    EXPECT_EQ(halves[0].shape(), (Shape{2, 2, 4}));
    const Tensor seven = iota_floats({7, 2});
    EXPECT_THROW(run_op("Split", {&seven}, {}, 13, 3), Error);  // uneven equal split needs opset 18
    const auto uneven = run_op("Split", {&seven}, {A::make_int("num_outputs", 3)}, 18, 3);
    EXPECT_EQ(uneven[0].shape(), (Shape{3, 2}));
    EXPECT_EQ(uneven[2].shape(), (Shape{1, 2}));
    EXPECT_EQ(uneven[2].to_float_vector(), (std::vector<float>{12, 13}));
    // num_outputs (opset 18) must be the node's output count
    EXPECT_THROW(run_op("Split", {&seven}, {A::make_int("num_outputs", 2)}, 18, 3), Error);
    const Tensor c = iota_floats({2, 3});
    EXPECT_THROW(run_op("Concat", {&a, &c}, {A::make_int("axis", 1)}), Error);
}

TEST(ShapeOps, GatherMatchesNaiveOnEveryAxis) {
    const Shape shape = {4, 5, 3};
    const Tensor x = iota_floats(shape);
    const auto st = strides_of(shape);
    for (int64_t axis = -3; axis < 3; ++axis) {
        const size_t ax = static_cast<size_t>(axis < 0 ? axis + 3 : axis);
        const int64_t dim = shape[ax];
        const Tensor idx = Tensor::from_int64s({2, 2}, {0, dim - 1, -1, -dim});
        const Tensor y = run_op("Gather", {&x, &idx}, {A::make_int("axis", axis)})[0];
        Shape want(shape.begin(), shape.begin() + ax);
        want.insert(want.end(), {2, 2});
        want.insert(want.end(), shape.begin() + ax + 1, shape.end());
        ASSERT_EQ(y.shape(), want);
        for_each_index(want, [&](int64_t i, const std::vector<int64_t>& o) {
            int64_t k = idx.data<int64_t>()[o[ax] * 2 + o[ax + 1]];
            if (k < 0) k += dim;
            int64_t src = 0;
            for (size_t d = 0, od = 0; d < 3; ++d, ++od) {
                if (d == ax) {
                    src += k * st[d];
                    ++od;
                } else {
                    src += o[od] * st[d];
                }
            }
            ASSERT_EQ(y.data<float>()[i], x.data<float>()[src]) << "axis " << axis;
        });
    }
    const std::vector<int32_t> i32 = {2, 0};
    std::vector<uint8_t> raw(8);
    std::memcpy(raw.data(), i32.data(), 8);
    const Tensor idx32(DType::Int32, {2}, raw);
    EXPECT_EQ(run_op("Gather", {&x, &idx32})[0].to_float_vector()[0], 30.0f);
    const Tensor scalar = Tensor::from_int64s({}, {1});
    EXPECT_EQ(run_op("Gather", {&x, &scalar})[0].shape(), (Shape{5, 3}));
    const Tensor out_of_range = Tensor::from_int64s({1}, {4});
    EXPECT_THROW(run_op("Gather", {&x, &out_of_range}), Error);
    const Tensor codebook = iota_floats({16, 9}).cast_from_float32(DType::Float16);
    const Tensor codes = Tensor::from_int64s({2}, {15, 3});
    const Tensor picked = run_op("Gather", {&codebook, &codes})[0];
    EXPECT_EQ(picked.dtype(), DType::Float16);
    EXPECT_EQ(picked.to_float_vector()[0], 135.0f);
}

TEST(ShapeOps, ShapeConstantsAndExpand) {
    const Tensor x = iota_floats({2, 3, 4, 5});
    EXPECT_EQ(run_op("Shape", {&x})[0].to_int64_vector(), (std::vector<int64_t>{2, 3, 4, 5}));
    EXPECT_EQ(run_op("Shape", {&x}, {A::make_int("start", 1)}, 15)[0].to_int64_vector(), (std::vector<int64_t>{3, 4, 5}));
    EXPECT_EQ(run_op("Shape", {&x}, {A::make_int("start", -3), A::make_int("end", -1)}, 15)[0].to_int64_vector(),
              (std::vector<int64_t>{3, 4}));
    EXPECT_EQ(run_op("Shape", {&x}, {A::make_int("start", 3), A::make_int("end", 1)}, 15)[0].numel(), 0);

    EXPECT_TRUE(run_op("Constant", {}, {A::make_tensor("value", x)})[0] == x);
    EXPECT_EQ(run_op("Constant", {}, {A::make_float("value_float", 2.5f)})[0].to_float_vector(), (std::vector<float>{2.5f}));
    EXPECT_EQ(run_op("Constant", {}, {A::make_ints("value_ints", {1, 2})})[0].to_int64_vector(), (std::vector<int64_t>{1, 2}));
    EXPECT_EQ(run_op("Constant", {}, {A::make_int("value_int", -7)})[0].shape(), Shape{});
    EXPECT_THROW(run_op("Constant", {}, {A::make_string("value_string", "x")}), Error);

    const Tensor dims = ints({2, 3});
    const Tensor zeros = run_op("ConstantOfShape", {&dims})[0];
    EXPECT_EQ(zeros.dtype(), DType::Float32);
    EXPECT_EQ(zeros.to_float_vector(), std::vector<float>(6, 0.0f));
    const Tensor sevens = run_op("ConstantOfShape", {&dims}, {A::make_tensor("value", Tensor::from_int64s({1}, {7}))})[0];
    EXPECT_EQ(sevens.to_int64_vector(), std::vector<int64_t>(6, 7));

    const Tensor col = iota_floats({3, 1});
    const Tensor target = ints({2, 1, 4});
    const Tensor e = run_op("Expand", {&col, &target})[0];
    ASSERT_EQ(e.shape(), (Shape{2, 3, 4}));
    for_each_index(e.shape(), [&](int64_t i, const std::vector<int64_t>& idx) { ASSERT_EQ(e.data<float>()[i], float(idx[1])); });
}

}  // namespace
}  // namespace qcp
