// NonMaxSuppression and Unique against naive references: greedy selection that rescans every
// remaining box for the best score, and std::map bookkeeping of the distinct values.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>

#include "kernel_test_util.hpp"

namespace qcp {
namespace {

using A = ir::Attribute;

double naive_iou(const float* a, const float* b) {
    const double ay1 = std::min(a[0], a[2]), ay2 = std::max(a[0], a[2]), ax1 = std::min(a[1], a[3]), ax2 = std::max(a[1], a[3]);
    const double by1 = std::min(b[0], b[2]), by2 = std::max(b[0], b[2]), bx1 = std::min(b[1], b[3]), bx2 = std::max(b[1], b[3]);
    const double inter = std::max(0.0, std::min(ay2, by2) - std::max(ay1, by1)) * std::max(0.0, std::min(ax2, bx2) - std::max(ax1, bx1));
    const double uni = (ay2 - ay1) * (ax2 - ax1) + (by2 - by1) * (bx2 - bx1) - inter;
    return uni <= 0 ? 0 : inter / uni;
}

TEST(SelectOps, NonMaxSuppressionMatchesNaiveGreedySelection) {
    std::mt19937 gen(21);
    std::uniform_real_distribution<float> pos(0, 10), size(1, 4), score(0, 1);
    const int64_t B = 2, C = 2, N = 12, kMax = 4;
    std::vector<float> bv, sv;
    for (int64_t i = 0; i < B * N; ++i) {
        const float y = pos(gen), x = pos(gen);
        bv.insert(bv.end(), {y, x, y + size(gen), x + size(gen)});
    }
    for (int64_t i = 0; i < B * C * N; ++i) sv.push_back(score(gen));
    const Tensor boxes = Tensor::from_floats({B, N, 4}, bv), scores = Tensor::from_floats({B, C, N}, sv);
    const Tensor max_out = Tensor::from_int64s({1}, {kMax});
    const Tensor iou_t = Tensor::from_floats({1}, {0.3f}), score_t = Tensor::from_floats({1}, {0.2f});
    const Tensor y = test::run_op1("NonMaxSuppression", {&boxes, &scores, &max_out, &iou_t, &score_t}, {}, 11);
    std::vector<int64_t> want;
    for (int64_t b = 0; b < B; ++b)
        for (int64_t c = 0; c < C; ++c) {
            std::vector<bool> gone(static_cast<size_t>(N), false);
            std::vector<int64_t> kept;
            while (static_cast<int64_t>(kept.size()) < kMax) {
                int64_t best = -1;
                for (int64_t i = 0; i < N; ++i) {
                    const float s = sv[static_cast<size_t>((b * C + c) * N + i)];
                    if (!gone[static_cast<size_t>(i)] && s > 0.2f && (best < 0 || s > sv[static_cast<size_t>((b * C + c) * N + best)])) best = i;
                }
                if (best < 0) break;
                gone[static_cast<size_t>(best)] = true;
                bool suppressed = false;
                for (int64_t k : kept) suppressed |= naive_iou(&bv[static_cast<size_t>((b * N + k) * 4)], &bv[static_cast<size_t>((b * N + best) * 4)]) > 0.3;
                if (suppressed) continue;
                kept.push_back(best);
                want.insert(want.end(), {b, c, best});
            }
        }
    ASSERT_EQ(y.shape(), (Shape{static_cast<int64_t>(want.size() / 3), 3}));
    EXPECT_EQ(y.to_int64_vector(), want);
}

TEST(SelectOps, UniqueWithoutAxisMatchesMapBookkeeping) {
    std::mt19937 gen(22);
    std::uniform_int_distribution<int> dist(-3, 3);
    std::vector<float> v(40);
    for (auto& x : v) x = static_cast<float>(dist(gen));
    const Tensor x = Tensor::from_floats({5, 8}, v);
    for (int sorted : {0, 1}) {
        const auto out = test::run_op("Unique", {&x}, {A::make_int("sorted", sorted)}, 11, 4);
        std::vector<float> order;  // distinct values, first occurrence order
        std::map<float, int64_t> first, count;
        for (size_t i = 0; i < v.size(); ++i) {
            if (!first.count(v[i])) first[v[i]] = static_cast<int64_t>(i), order.push_back(v[i]);
            ++count[v[i]];
        }
        if (sorted) std::sort(order.begin(), order.end());
        EXPECT_EQ(out[0].to_float_vector(), order);
        for (size_t k = 0; k < order.size(); ++k) {
            EXPECT_EQ(out[1].data<int64_t>()[k], first[order[k]]);
            EXPECT_EQ(out[3].data<int64_t>()[k], count[order[k]]);
        }
        for (size_t i = 0; i < v.size(); ++i) EXPECT_EQ(order[static_cast<size_t>(out[2].data<int64_t>()[i])], v[i]);
    }
}

TEST(SelectOps, UniqueAlongAxisComparesWholeSlices) {
    const Tensor x = Tensor::from_floats({3, 3}, {1, 0, 0, 1, 0, 0, 2, 3, 4});
    const auto out = test::run_op("Unique", {&x}, {A::make_int("axis", 0)}, 11, 4);
    EXPECT_EQ(out[0].shape(), (Shape{2, 3}));
    EXPECT_EQ(out[0].to_float_vector(), (std::vector<float>{1, 0, 0, 2, 3, 4}));
    EXPECT_EQ(out[2].to_int64_vector(), (std::vector<int64_t>{0, 0, 1}));
    EXPECT_EQ(out[3].to_int64_vector(), (std::vector<int64_t>{2, 1}));
}

TEST(SelectOps, UniqueSortsNaNsLastAsOneValue) {
    const Tensor x = Tensor::from_floats({5}, {1.0f, NAN, -2.0f, NAN, 1.0f});
    const auto out = test::run_op("Unique", {&x}, {}, 11, 4);
    ASSERT_EQ(out[0].numel(), 3);
    EXPECT_EQ(out[0].data<float>()[0], -2.0f);
    EXPECT_EQ(out[0].data<float>()[1], 1.0f);
    EXPECT_TRUE(std::isnan(out[0].data<float>()[2]));
    EXPECT_EQ(out[3].to_int64_vector(), (std::vector<int64_t>{1, 2, 2}));
}

}  // namespace
}  // namespace qcp
