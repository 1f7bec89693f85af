#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "qcp/pipeline/metrics.hpp"

namespace qcp {
namespace {

constexpr double kTol = 1e-9;

TEST(Metrics, TopKAgreementAndErrorsMatchNaive) {
    std::mt19937 gen(4);
    std::normal_distribution<float> n(0.f, 2.f);
    const int64_t samples = 37, classes = 10;
    std::vector<float> y(samples * classes), r(samples * classes);
    for (auto& v : r) v = n(gen);
    for (size_t i = 0; i < y.size(); ++i) y[i] = r[i] + 0.5f * n(gen);
    std::vector<int64_t> labels(samples);
    for (auto& l : labels) l = gen() % classes;

    Metrics m;  // fed in two uneven batches
    const int64_t split = 20;
    const Tensor y1 = Tensor::from_floats({split, classes}, {y.begin(), y.begin() + split * classes});
    const Tensor r1 = Tensor::from_floats({split, classes}, {r.begin(), r.begin() + split * classes});
    const Tensor y2 = Tensor::from_floats({samples - split, classes}, {y.begin() + split * classes, y.end()});
    const Tensor r2 = Tensor::from_floats({samples - split, classes}, {r.begin() + split * classes, r.end()});
    m.add(y1, labels.data(), &r1);
    m.add(y2, labels.data() + split, &r2);

    int top1 = 0, top5 = 0, agree = 0;
    double e2 = 0, r2s = 0, kl = 0;
    for (int64_t s = 0; s < samples; ++s) {
        const float* ys = &y[s * classes];
        const float* rs = &r[s * classes];
        std::vector<int64_t> order(classes);
        for (int64_t c = 0; c < classes; ++c) order[c] = c;
        std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return ys[a] > ys[b]; });
        top1 += order[0] == labels[s];
        top5 += std::find(order.begin(), order.begin() + 5, labels[s]) != order.begin() + 5;
        agree += std::max_element(rs, rs + classes) - rs == order[0];
        double zy = 0, zr = 0;
        for (int64_t c = 0; c < classes; ++c) {
            e2 += (double(ys[c]) - rs[c]) * (double(ys[c]) - rs[c]);
            r2s += double(rs[c]) * rs[c];
            zy += std::exp(double(ys[c]));
            zr += std::exp(double(rs[c]));
        }
        for (int64_t c = 0; c < classes; ++c) {
            const double p = std::exp(double(rs[c])) / zr, q = std::exp(double(ys[c])) / zy;
            kl += p * std::log(p / q);
        }
    }
    EXPECT_EQ(m.samples(), samples);
    EXPECT_NEAR(*m.top1(), double(top1) / samples, kTol);
    EXPECT_NEAR(*m.top5(), double(top5) / samples, kTol);
    EXPECT_NEAR(*m.agreement(), double(agree) / samples, kTol);
    EXPECT_NEAR(*m.output_rel_error(), std::sqrt(e2 / r2s), 1e-9);
    EXPECT_NEAR(*m.sqnr_db(), 10 * std::log10(r2s / e2), 1e-7);
    EXPECT_NEAR(*m.kl(), kl / samples, 1e-9);
}

TEST(Metrics, AbsentLabelsAndReferenceGiveNothing) {
    Metrics m;
    m.add(Tensor::from_floats({1, 3}, {0.f, 2.f, 1.f}), nullptr, nullptr);
    EXPECT_FALSE(m.top1());
    EXPECT_FALSE(m.agreement());
    EXPECT_EQ(m.predictions(), std::vector<int64_t>({1}));
}

}  // namespace
}  // namespace qcp
