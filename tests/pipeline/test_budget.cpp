// budget::allocate: the multiple-choice allocation behind --target-*, against brute force.
#include <gtest/gtest.h>

#include <random>

#include "budget.hpp"
#include "qcp/core/error.hpp"

namespace qcp::budget {
namespace {

// Random monotone curves: cheaper settings do more damage, as rank/bit ladders do.
std::vector<LayerCurve> random_curves(std::mt19937& gen, int layers, int options) {
    std::uniform_real_distribution<double> u(0.0, 1.0);
    std::vector<LayerCurve> curves;
    for (int l = 0; l < layers; ++l) {
        LayerCurve c;
        c.layer = static_cast<size_t>(l);
        c.weight_bits_before = 1000 + static_cast<int64_t>(4000 * u(gen));
        c.macs_before = c.weight_bits_before;
        double bits = double(c.weight_bits_before), damage = 0;
        const double sensitivity = 0.1 + 10 * u(gen);
        for (int k = 0; k < options; ++k) {
            bits *= 0.4 + 0.5 * u(gen);
            damage += sensitivity * (0.01 + u(gen)) / bits * 100;
            Candidate o;
            o.weight_bits_after = o.stored_bits_after = static_cast<int64_t>(bits);
            o.macs_after = o.weight_bits_after;
            o.damage = damage;
            c.options.push_back(o);
        }
        curves.push_back(c);
    }
    return curves;
}

double cost(const std::vector<LayerCurve>& c, const std::vector<int>& pick) {
    double s = 0;
    for (size_t l = 0; l < c.size(); ++l)
        s += pick[l] < 0 ? double(c[l].weight_bits_before) : double(c[l].options[static_cast<size_t>(pick[l])].weight_bits_after);
    return s;
}
double damage(const std::vector<LayerCurve>& c, const std::vector<int>& pick) {
    double s = 0;
    for (size_t l = 0; l < c.size(); ++l) s += pick[l] < 0 ? 0.0 : c[l].options[static_cast<size_t>(pick[l])].damage;
    return s;
}

// The exact optimum by enumeration (options + "leave as is" per layer).
double brute_force(const std::vector<LayerCurve>& c, double budget) {
    std::vector<int> pick(c.size(), -1);
    double best = std::numeric_limits<double>::infinity();
    for (;;) {
        if (cost(c, pick) <= budget) best = std::min(best, damage(c, pick));
        size_t l = 0;
        while (l < c.size() && ++pick[l] == static_cast<int>(c[l].options.size())) pick[l++] = -1;
        if (l == c.size()) break;
    }
    return best;
}

TEST(Budget, MeetsTheBudgetAndIsCloseToTheOptimum) {
    std::mt19937 gen(11);
    for (int trial = 0; trial < 40; ++trial) {
        const auto curves = random_curves(gen, 4, 4);
        double before = 0, cheapest = 0;
        for (const auto& c : curves) before += double(c.weight_bits_before), cheapest += double(c.options.back().weight_bits_after);
        const double budget = cheapest + (before - cheapest) * std::uniform_real_distribution<double>(0.05, 0.6)(gen);
        const auto pick = allocate(curves, Cost::Bits, budget);
        ASSERT_EQ(pick.size(), curves.size());
        EXPECT_LE(cost(curves, pick), budget);
        const double opt = brute_force(curves, budget);
        EXPECT_LE(damage(curves, pick), 1.5 * opt + 1e-12) << "trial " << trial;
        // never worse than the best uniform setting that fits
        for (int k = 0; k < 4; ++k) {
            std::vector<int> uni(curves.size(), k);
            if (cost(curves, uni) <= budget) {
                EXPECT_LE(damage(curves, pick), damage(curves, uni) + 1e-12);
            }
        }
    }
}

TEST(Budget, AmpleBudgetLeavesEveryLayerAsItIs) {
    std::mt19937 gen(3);
    const auto curves = random_curves(gen, 5, 3);
    const auto pick = allocate(curves, Cost::Bits, 1e12);
    for (int p : pick) EXPECT_EQ(p, -1);
}

TEST(Budget, ImpossibleBudgetIsAnError) {
    std::mt19937 gen(4);
    const auto curves = random_curves(gen, 3, 3);
    EXPECT_THROW(allocate(curves, Cost::Bits, 1.0), Error);
}

TEST(Budget, MacsCostUsesMacs) {
    std::mt19937 gen(5);
    auto curves = random_curves(gen, 3, 3);
    for (auto& c : curves)  // MACs cost nothing to save: any budget above the cheapest MACs works
        for (auto& o : c.options) o.macs_after = 1;
    const auto pick = allocate(curves, Cost::Macs, 3.0);
    for (int p : pick) EXPECT_GE(p, 0);
}

}  // namespace
}  // namespace qcp::budget
