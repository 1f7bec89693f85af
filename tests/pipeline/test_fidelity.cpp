// Per-output fidelity (metrics.hpp) against naive float64 loops written here, independently of
// the accumulator's strided indexing: (N, C), (N, T, C), (N, C, A, B) with a negative class axis,
// (N, 1, H, W) maps, ties, empty masks and multi-output models.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "qcp/core/error.hpp"
#include "qcp/pipeline/metrics.hpp"

namespace qcp {
namespace {

constexpr double kTol = 1e-9;       // fractions and cosines
constexpr double kDbTol = 1e-7;     // SQNR in dB

struct Pair {
    Shape shape;
    std::vector<float> y, ref;
};

// ref ~ N(0, 1), y = ref + noise·N(0, 1)
Pair random_pair(const Shape& shape, float noise, unsigned seed) {
    std::mt19937 gen(seed);
    std::normal_distribution<float> nd(0.f, 1.f);
    int64_t numel = 1;
    for (int64_t d : shape) numel *= d;
    Pair p{shape, std::vector<float>(static_cast<size_t>(numel)), std::vector<float>(static_cast<size_t>(numel))};
    for (auto& v : p.ref) v = nd(gen);
    for (size_t i = 0; i < p.y.size(); ++i) p.y[i] = p.ref[i] + noise * nd(gen);
    return p;
}

// The first samples [begin, begin + n) of a pair's tensors.
Tensor slice(const Pair& p, const std::vector<float>& v, int64_t begin, int64_t n) {
    Shape s = p.shape;
    const int64_t per = static_cast<int64_t>(v.size()) / p.shape[0];
    s[0] = n;
    return Tensor::from_floats(s, {v.begin() + begin * per, v.begin() + (begin + n) * per});
}

// Fed in two uneven batches, as eval does.
OutputFidelity accumulate(const Pair& p, const FidelityOptions& o, int64_t split) {
    OutputFidelityAccumulator acc("y", o);
    acc.add(slice(p, p.y, 0, split), slice(p, p.ref, 0, split));
    acc.add(slice(p, p.y, split, p.shape[0] - split), slice(p, p.ref, split, p.shape[0] - split));
    return acc.result();
}

struct Common {
    double rel, sqnr, cosine, max_abs;
};
Common naive_common(const Pair& p) {
    double e2 = 0, r2 = 0, y2 = 0, dot = 0, mx = 0;
    for (size_t i = 0; i < p.y.size(); ++i) {
        const double a = p.y[i], b = p.ref[i];
        e2 += (a - b) * (a - b);
        r2 += b * b;
        y2 += a * a;
        dot += a * b;
        mx = std::max(mx, std::fabs(a - b));
    }
    return {std::sqrt(e2 / r2), 10 * std::log10(r2 / e2), dot / std::sqrt(y2 * r2), mx};
}

void expect_common(const OutputFidelity& f, const Pair& p) {
    const Common c = naive_common(p);
    EXPECT_NEAR(f.rel_error, c.rel, kTol);
    EXPECT_NEAR(f.sqnr_db, c.sqnr, kDbTol);
    EXPECT_NEAR(f.cosine, c.cosine, kTol);
    EXPECT_NEAR(f.max_abs_error, c.max_abs, kTol);
}

// first maximum of v
int64_t naive_argmax(const std::vector<double>& v) {
    int64_t best = 0;
    for (size_t i = 0; i < v.size(); ++i)
        if (v[i] > v[static_cast<size_t>(best)]) best = static_cast<int64_t>(i);
    return best;
}

std::vector<int64_t> naive_ctc(const std::vector<int64_t>& s, int64_t blank) {
    std::vector<int64_t> out;
    for (size_t t = 0; t < s.size(); ++t) {
        if (s[t] == blank) continue;
        if (t > 0 && s[t - 1] == s[t]) continue;
        out.push_back(s[t]);
    }
    return out;
}

struct SeqRef {
    double position, sequence, ctc;
};
// (N, T, C) with classes on the last axis
SeqRef naive_ntc(const Pair& p, int64_t blank) {
    const int64_t n = p.shape[0], t_len = p.shape[1], c_len = p.shape[2];
    int64_t pos = 0, seq = 0, ctc = 0;
    for (int64_t s = 0; s < n; ++s) {
        std::vector<int64_t> ay, ar;
        for (int64_t t = 0; t < t_len; ++t) {
            std::vector<double> vy, vr;
            for (int64_t c = 0; c < c_len; ++c) {
                vy.push_back(p.y[static_cast<size_t>((s * t_len + t) * c_len + c)]);
                vr.push_back(p.ref[static_cast<size_t>((s * t_len + t) * c_len + c)]);
            }
            ay.push_back(naive_argmax(vy));
            ar.push_back(naive_argmax(vr));
            pos += ay.back() == ar.back();
        }
        seq += ay == ar;
        ctc += naive_ctc(ay, blank) == naive_ctc(ar, blank);
    }
    return {double(pos) / double(n * t_len), double(seq) / double(n), double(ctc) / double(n)};
}

TEST(Fidelity, ClassifierMatchesNaive) {
    const Pair p = random_pair({29, 7}, 0.6f, 1);
    const OutputFidelity f = accumulate(p, {}, 11);
    EXPECT_EQ(f.layout.kind, OutputKind::Classifier);
    EXPECT_EQ(f.shape, Shape({29, 7}));
    expect_common(f, p);
    int64_t agree = 0;
    double kl = 0;
    for (int64_t s = 0; s < 29; ++s) {
        std::vector<double> vy(p.y.begin() + s * 7, p.y.begin() + s * 7 + 7), vr(p.ref.begin() + s * 7, p.ref.begin() + s * 7 + 7);
        agree += naive_argmax(vy) == naive_argmax(vr);
        double zy = 0, zr = 0;
        for (int c = 0; c < 7; ++c) zy += std::exp(vy[c]), zr += std::exp(vr[c]);
        for (int c = 0; c < 7; ++c) kl += std::exp(vr[c]) / zr * (vr[c] - std::log(zr) - vy[c] + std::log(zy));
    }
    ASSERT_TRUE(f.top1_agreement);
    EXPECT_GT(agree, 0);
    EXPECT_LT(agree, 29);  // the noise is large enough to flip some
    EXPECT_NEAR(*f.top1_agreement, double(agree) / 29, kTol);
    EXPECT_NEAR(*f.kl, kl / 29, kTol);
    EXPECT_FALSE(f.position_agreement);
    EXPECT_FALSE(f.mask_iou);
}

TEST(Fidelity, SequenceNtcMatchesNaive) {
    const Pair p = random_pair({23, 9, 4}, 0.5f, 2);
    const OutputFidelity f = accumulate(p, {}, 5);
    EXPECT_EQ(f.layout.kind, OutputKind::Sequence);
    EXPECT_EQ(f.layout.class_axis, 2);
    EXPECT_EQ(f.positions, 9);
    expect_common(f, p);
    const SeqRef want = naive_ntc(p, 0);
    ASSERT_TRUE(f.position_agreement && f.sequence_agreement && f.ctc_agreement);
    EXPECT_NEAR(*f.position_agreement, want.position, kTol);
    EXPECT_NEAR(*f.sequence_agreement, want.sequence, kTol);
    EXPECT_NEAR(*f.ctc_agreement, want.ctc, kTol);
    EXPECT_GT(want.position, want.sequence);  // the three differ on this data
    EXPECT_FALSE(f.top1_agreement);           // no top-1 on a sequence
    EXPECT_FALSE(f.mask_iou);
}

TEST(Fidelity, CtcAgreementIgnoresRepeatsAndBlank) {
    // argmax paths y: 1 1 0 2 2, ref: 1 0 0 2 0 -> both decode to "1 2"; not equal per position
    auto onehot = [](const std::vector<int>& path) {
        std::vector<float> v;
        for (int c : path)
            for (int k = 0; k < 3; ++k) v.push_back(k == c ? 1.f : 0.f);
        return v;
    };
    const Tensor y = Tensor::from_floats({1, 5, 3}, onehot({1, 1, 0, 2, 2}));
    const Tensor r = Tensor::from_floats({1, 5, 3}, onehot({1, 0, 0, 2, 0}));
    OutputFidelityAccumulator acc("rec", {});
    acc.add(y, r);
    const OutputFidelity f = acc.result();
    EXPECT_NEAR(*f.position_agreement, 3.0 / 5, kTol);
    EXPECT_EQ(*f.sequence_agreement, 0.0);
    EXPECT_EQ(*f.ctc_agreement, 1.0);
    FidelityOptions blank2;
    blank2.ctc_blank = 2;  // now 0 is a character: "1 0 1"... differs
    OutputFidelityAccumulator acc2("rec", blank2);
    acc2.add(y, r);
    EXPECT_EQ(*acc2.result().ctc_agreement, 0.0);
}

TEST(Fidelity, NegativeClassAxisMatchesNaive) {
    // (N, C, A, B) with classes on axis 1 given as -3; positions are A × B
    const int64_t n = 13, c_len = 5, a_len = 3, b_len = 4;
    const Pair p = random_pair({n, c_len, a_len, b_len}, 0.4f, 3);
    FidelityOptions o;
    o.class_axis = -3;
    const OutputFidelity f = accumulate(p, o, 6);
    EXPECT_EQ(f.layout.kind, OutputKind::Sequence);
    EXPECT_EQ(f.layout.class_axis, 1);
    EXPECT_EQ(f.positions, a_len * b_len);
    expect_common(f, p);
    int64_t pos = 0, seq = 0, ctc = 0;
    for (int64_t s = 0; s < n; ++s) {
        std::vector<int64_t> ay, ar;
        for (int64_t a = 0; a < a_len; ++a)
            for (int64_t b = 0; b < b_len; ++b) {
                std::vector<double> vy, vr;
                for (int64_t c = 0; c < c_len; ++c) {
                    const auto i = static_cast<size_t>(((s * c_len + c) * a_len + a) * b_len + b);
                    vy.push_back(p.y[i]);
                    vr.push_back(p.ref[i]);
                }
                ay.push_back(naive_argmax(vy));
                ar.push_back(naive_argmax(vr));
                pos += ay.back() == ar.back();
            }
        seq += ay == ar;
        ctc += naive_ctc(ay, 0) == naive_ctc(ar, 0);
    }
    EXPECT_NEAR(*f.position_agreement, double(pos) / double(n * a_len * b_len), kTol);
    EXPECT_NEAR(*f.sequence_agreement, double(seq) / double(n), kTol);
    EXPECT_NEAR(*f.ctc_agreement, double(ctc) / double(n), kTol);

    // the same data with -1 on an (N, T, C) transpose agrees with the (N, T, C) reference
    Pair t{{n, a_len * b_len, c_len}, p.y, p.ref};
    for (int64_t s = 0; s < n; ++s)
        for (int64_t q = 0; q < a_len * b_len; ++q)
            for (int64_t c = 0; c < c_len; ++c) {
                const auto src = static_cast<size_t>((s * c_len + c) * a_len * b_len + q);
                const auto dst = static_cast<size_t>((s * a_len * b_len + q) * c_len + c);
                t.y[dst] = p.y[src];
                t.ref[dst] = p.ref[src];
            }
    FidelityOptions last;
    last.class_axis = -1;
    const OutputFidelity ft = accumulate(t, last, 1);
    EXPECT_NEAR(*ft.position_agreement, *f.position_agreement, kTol);
    EXPECT_NEAR(*ft.sequence_agreement, *f.sequence_agreement, kTol);
    EXPECT_NEAR(*ft.ctc_agreement, *f.ctc_agreement, kTol);
}

TEST(Fidelity, TiesTakeTheFirstIndex) {
    // per position: y ties 1 and 2 -> 1; ref [.., 3, 3] -> 1 too (agree); ref [.., 2, 3] -> 2 (disagree)
    const Tensor y = Tensor::from_floats({2, 1, 3}, {1, 3, 3, 1, 3, 3});
    const Tensor r = Tensor::from_floats({2, 1, 3}, {1, 3, 3, 1, 2, 3});
    OutputFidelityAccumulator acc("y", {});
    acc.add(y, r);
    EXPECT_NEAR(*acc.result().position_agreement, 0.5, kTol);
    OutputFidelityAccumulator cls("y", {});
    cls.add(Tensor::from_floats({2, 3}, {1, 3, 3, 1, 3, 3}), Tensor::from_floats({2, 3}, {1, 3, 3, 1, 2, 3}));
    EXPECT_NEAR(*cls.result().top1_agreement, 0.5, kTol);
}

TEST(Fidelity, MapMaskIouMatchesNaive) {
    const int64_t n = 5, h = 8, w = 7;
    Pair p = random_pair({n, 1, h, w}, 0.3f, 4);
    for (auto* v : {&p.y, &p.ref})
        for (auto& x : *v) x = 1.f / (1.f + std::exp(-x));  // probabilities, as a DB head gives
    for (const double t : {kDefaultMaskThreshold, 0.6}) {
        FidelityOptions o;
        if (t != kDefaultMaskThreshold) o.mask_threshold = t;
        const OutputFidelity f = accumulate(p, o, 2);
        EXPECT_EQ(f.layout.kind, OutputKind::Map);
        expect_common(f, p);
        int64_t inter = 0, uni = 0;
        for (size_t i = 0; i < p.y.size(); ++i) {
            const bool a = double(p.y[i]) > t, b = double(p.ref[i]) > t;
            inter += a && b;
            uni += a || b;
        }
        ASSERT_TRUE(f.mask_iou);
        EXPECT_GT(uni, inter);
        EXPECT_NEAR(*f.mask_iou, double(inter) / double(uni), kTol);
        EXPECT_DOUBLE_EQ(f.layout.mask_threshold, t);
        EXPECT_FALSE(f.top1_agreement);
        EXPECT_FALSE(f.position_agreement);
    }
}

TEST(Fidelity, EmptyMasksHaveIouOne) {
    const Tensor zeros = Tensor::from_floats({2, 1, 2, 2}, std::vector<float>(8, 0.1f));
    OutputFidelityAccumulator acc("map", {});
    acc.add(zeros, zeros);
    const OutputFidelity f = acc.result();
    EXPECT_EQ(*f.mask_iou, 1.0);
    EXPECT_TRUE(std::isinf(f.sqnr_db));
    EXPECT_EQ(f.rel_error, 0.0);
    EXPECT_EQ(f.cosine, 1.0);
    // one empty mask against a full one: 0
    OutputFidelityAccumulator one("map", {});
    one.add(zeros, Tensor::from_floats({2, 1, 2, 2}, std::vector<float>(8, 0.9f)));
    EXPECT_EQ(*one.result().mask_iou, 0.0);
}

TEST(Fidelity, LayoutRules) {
    const FidelityOptions none;
    EXPECT_EQ(output_layout({8, 10}, none, "y").kind, OutputKind::Classifier);
    EXPECT_EQ(output_layout({8, 10, 1, 1}, none, "y").kind, OutputKind::Classifier);
    EXPECT_EQ(output_layout({-1, 10}, none, "y").kind, OutputKind::Classifier);  // dynamic batch
    EXPECT_EQ(output_layout({8, 1}, none, "y").kind, OutputKind::Other);
    EXPECT_EQ(output_layout({8}, none, "y").kind, OutputKind::Other);
    EXPECT_EQ(output_layout({8, 40, 6625}, none, "y").kind, OutputKind::Sequence);
    EXPECT_EQ(output_layout({8, 40, 6625}, none, "y").class_axis, 2);
    EXPECT_EQ(output_layout({2, 1, 320, 320}, none, "y").kind, OutputKind::Map);
    EXPECT_TRUE(output_layout({2, 1, 320, 320}, none, "y").mask);
    EXPECT_EQ(output_layout({2, 3, 32, 32}, none, "y").kind, OutputKind::Other);
    EXPECT_FALSE(output_layout({2, 3, 32, 32}, none, "y").mask);
    FidelityOptions thr;
    thr.mask_threshold = 0.5;
    EXPECT_TRUE(output_layout({2, 3, 32, 32}, thr, "y").mask);   // asked for: IoU on any non-classifier
    EXPECT_TRUE(output_layout({8, 40, 6625}, thr, "y").mask);
    EXPECT_FALSE(output_layout({8, 10}, thr, "y").mask);
    FidelityOptions ax;
    ax.class_axis = 1;
    EXPECT_EQ(output_layout({2, 3, 32, 32}, ax, "y").kind, OutputKind::Sequence);  // segmentation logits
    EXPECT_EQ(output_layout({2, 1, 32, 32}, ax, "y").kind, OutputKind::Map);       // one class: still a map
    EXPECT_EQ(output_layout({8, 10}, ax, "y").kind, OutputKind::Classifier);
    for (int64_t bad : {0, 3, -3, 7}) {
        FidelityOptions b;
        b.class_axis = bad;
        EXPECT_THROW(output_layout({8, 40, 6625}, b, "y"), Error) << bad;
    }
    try {
        FidelityOptions b;
        b.class_axis = 3;
        output_layout({8, 40, 6625}, b, "softmax_out");
        FAIL();
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("softmax_out"), std::string::npos);
        EXPECT_NE(std::string(e.what()).find("--class-axis 3"), std::string::npos);
    }
}

TEST(Fidelity, MultiOutputModelMeasuresEveryOutput) {
    const Pair cls = random_pair({6, 5}, 0.5f, 5), seq = random_pair({6, 4, 3}, 0.5f, 6), map = random_pair({6, 1, 3, 3}, 0.2f, 7);
    ModelFidelity m({"logits", "chars", "prob"}, {});
    for (int64_t b = 0; b < 6; b += 4) {
        const int64_t k = std::min<int64_t>(4, 6 - b);
        m.add({slice(cls, cls.y, b, k), slice(seq, seq.y, b, k), slice(map, map.y, b, k)},
              {slice(cls, cls.ref, b, k), slice(seq, seq.ref, b, k), slice(map, map.ref, b, k)});
    }
    const auto r = m.results();
    ASSERT_EQ(r.size(), 3u);
    EXPECT_EQ(r[0].name, "logits");
    EXPECT_EQ(r[0].layout.kind, OutputKind::Classifier);
    EXPECT_EQ(r[1].layout.kind, OutputKind::Sequence);
    EXPECT_EQ(r[2].layout.kind, OutputKind::Map);
    expect_common(r[0], cls);
    expect_common(r[1], seq);
    expect_common(r[2], map);
    const SeqRef want = naive_ntc(seq, 0);
    EXPECT_NEAR(*r[1].position_agreement, want.position, kTol);
    EXPECT_NEAR(*r[1].sequence_agreement, want.sequence, kTol);
    const auto primary = primary_fidelity(r);
    ASSERT_TRUE(primary);
    EXPECT_EQ(primary->metric, "top1_agreement");
    EXPECT_EQ(primary->output, "logits");
    const auto j = fidelity_to_json(r);
    ASSERT_EQ(j.size(), 3u);
    EXPECT_EQ(j[1]["kind"].get<std::string>(), "sequence");
    EXPECT_EQ(j[1]["class_axis"].get<int64_t>(), 2);
    EXPECT_EQ(j[1]["shape"].get<std::vector<int64_t>>(), std::vector<int64_t>({6, 4, 3}));
    EXPECT_TRUE(j[1]["metrics"].contains("ctc_agreement"));
    EXPECT_FALSE(j[1]["metrics"].contains("top1_agreement"));
    EXPECT_TRUE(j[2]["metrics"].contains("mask_iou"));
    EXPECT_THROW(m.add({slice(cls, cls.y, 0, 1)}, {slice(cls, cls.ref, 0, 1)}), Error);  // one output of three
}

TEST(Fidelity, PrimaryMetricFollowsTheFirstOutputsKind) {
    auto primary_of = [](const Shape& s) {
        const Pair p = random_pair(s, 0.1f, 8);
        OutputFidelityAccumulator acc("y", {});
        acc.add(Tensor::from_floats(s, p.y), Tensor::from_floats(s, p.ref));
        return primary_fidelity({acc.result()});
    };
    EXPECT_EQ(primary_of({4, 40, 6})->metric, "position_agreement");
    EXPECT_EQ(primary_of({4, 1, 5, 5})->metric, "mask_iou");
    const auto other = primary_of({4, 3, 5, 5});
    EXPECT_EQ(other->metric, "sqnr_db");
    EXPECT_FALSE(other->percent);
    EXPECT_FALSE(primary_fidelity({}));
}

TEST(Fidelity, NonFloatOutputsAreSkippedNotFatal) {
    Tensor ids(DType::Int64, {2, 3});
    ModelFidelity m({"ids", "logits"}, {});
    const Tensor logits = Tensor::from_floats({2, 3}, {1, 2, 3, 3, 2, 1});
    m.add({ids, logits}, {ids, logits});
    const auto r = m.results();
    EXPECT_FALSE(r[0].skipped.empty());
    EXPECT_EQ(r[0].samples, 0);
    EXPECT_TRUE(r[1].skipped.empty());
    EXPECT_EQ(*r[1].top1_agreement, 1.0);
    const auto primary = primary_fidelity(r);  // the first output that was measured
    ASSERT_TRUE(primary);
    EXPECT_EQ(primary->output, "logits");
    const auto j = fidelity_to_json(r);
    EXPECT_TRUE(j[0]["metrics"].is_null());
    EXPECT_TRUE(j[0].contains("skipped"));
    EXPECT_NE(fidelity_to_text(r, "").find("output 'ids': int64 output: not compared"), std::string::npos) << fidelity_to_text(r, "");
}

TEST(Fidelity, RefusesBadOptionsAndMismatchedShapes) {
    FidelityOptions o;
    o.mask_threshold = NAN;
    EXPECT_THROW(validate_fidelity_options(o), Error);
    FidelityOptions b;
    b.ctc_blank = -1;
    EXPECT_THROW(validate_fidelity_options(b), Error);
    OutputFidelityAccumulator acc("y", {});
    EXPECT_THROW(acc.add(Tensor::from_floats({1, 3}, {1, 2, 3}), Tensor::from_floats({1, 2}, {1, 2})), Error);
    acc.add(Tensor::from_floats({1, 3}, {1, 2, 3}), Tensor::from_floats({1, 3}, {1, 2, 3}));
    EXPECT_THROW(acc.add(Tensor::from_floats({1, 2}, {1, 2}), Tensor::from_floats({1, 2}, {1, 2})), Error);  // a later batch of another shape
}

}  // namespace
}  // namespace qcp
