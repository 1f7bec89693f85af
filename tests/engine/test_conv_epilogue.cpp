// Conv epilogues (engine fusion of the elementwise nodes after a Conv): a fused run gives the same
// bits as the unfused one (an observer on the Conv turns fusion off), both match a float64 loop, the
// chain stops where a value escapes or a constant is not a scalar, and threads do not change a bit.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>

#include "qcp/core/error.hpp"
#include "qcp/core/parallel.hpp"
#include "qcp/engine/session.hpp"

namespace qcp {
namespace {

constexpr double kTolerance = 1e-4;  // relative to the magnitudes summed, as in test_conv.cpp

struct ConvShape {
    Shape x;  // N, C, H, W
    int64_t cout, kh, kw, group, sh, sw, pad;
};

// A model: x → Conv (random weight and bias) → "c", then the caller's nodes; outputs as named.
struct Builder {
    ir::Model m;
    std::mt19937 rng{7};
    int scalars = 0;

    explicit Builder(const ConvShape& s, int64_t opset = 13) {
        m.opset_import = {{"", opset}};
        ir::ValueInfo x;
        x.name = "x";
        x.dtype = DType::Float32;
        m.graph.inputs.push_back(x);
        Tensor w(DType::Float32, {s.cout, s.x[1] / s.group, s.kh, s.kw}), b(DType::Float32, {s.cout});
        std::normal_distribution<float> nd(0.0f, 0.5f);
        for (int64_t i = 0; i < w.numel(); ++i) w.data<float>()[i] = nd(rng);
        for (int64_t i = 0; i < b.numel(); ++i) b.data<float>()[i] = nd(rng);
        m.graph.initializers.push_back({"w", w, ""});
        m.graph.initializers.push_back({"b", b, ""});
        ir::Node conv;
        conv.op_type = "Conv";
        conv.name = "conv";
        conv.inputs = {"x", "w", "b"};
        conv.outputs = {"c"};
        conv.attributes = {ir::Attribute::make_int("group", s.group), ir::Attribute::make_ints("strides", {s.sh, s.sw}),
                           ir::Attribute::make_ints("pads", {s.pad, s.pad, s.pad, s.pad})};
        m.graph.nodes.push_back(conv);
    }
    // A float constant of `shape` filled with v; returns its name.
    std::string constant(float v, const Shape& shape = {}) {
        Tensor t(DType::Float32, shape);
        for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = v;
        const std::string name = "k" + std::to_string(scalars++);
        m.graph.initializers.push_back({name, t, ""});
        return name;
    }
    void node(const std::string& op, std::vector<std::string> in, const std::string& out,
              std::vector<ir::Attribute> attrs = {}) {
        ir::Node n;
        n.op_type = op;
        n.name = out;
        n.inputs = std::move(in);
        n.outputs = {out};
        n.attributes = std::move(attrs);
        m.graph.nodes.push_back(n);
    }
    ir::Model& finish(const std::vector<std::string>& outputs) {
        for (const auto& name : outputs) {
            ir::ValueInfo o;
            o.name = name;
            o.dtype = DType::Float32;
            m.graph.outputs.push_back(o);
        }
        m.graph.rebuild_index();
        return m;
    }
};

// Paddle's Conv → affine → HardSwish (as Add, Clip, Mul, Div) → affine, as PP-OCRv4 has it.
void hard_swish_chain(Builder& b, const std::string& clip_op = "Clip") {
    b.node("Mul", {b.constant(1.38f), "c"}, "m1");
    b.node("Add", {"m1", b.constant(0.586f)}, "a1");
    b.node("Add", {"a1", b.constant(3.0f)}, "a2");
    b.node(clip_op, {"a2", b.constant(0.0f), b.constant(6.0f)}, "cl");
    b.node("Mul", {"a1", "cl"}, "m2");
    b.node("Div", {"m2", b.constant(6.0f)}, "hs");
    b.node("Mul", {b.constant(0.1675f), "hs"}, "m3");
    b.node("Add", {"m3", b.constant(3.47e-5f)}, "y");
}

double hard_swish_chain_ref(double c) {
    const double a1 = 1.38f * c + 0.586f;
    return 0.1675f * (a1 * std::min(std::max(a1 + 3.0, 0.0), 6.0) / 6.0) + 3.47e-5f;
}

// The Conv of `m` in float64 at output element i, and the sum of its terms' magnitudes.
void naive_conv(const ir::Model& m, const ConvShape& s, const Tensor& x, const Shape& out, std::vector<double>& y,
                std::vector<double>& scale) {
    const float* w = m.graph.find_initializer("w")->tensor.data<float>();
    const float* b = m.graph.find_initializer("b")->tensor.data<float>();
    const int64_t n = out[0], co = out[1], oh = out[2], ow = out[3], ci = s.x[1], ih = s.x[2], iw = s.x[3];
    const int64_t cg = ci / s.group, mg = s.cout / s.group;
    y.assign(static_cast<size_t>(n * co * oh * ow), 0.0);
    scale = y;
    for (int64_t i = 0; i < n; ++i)
        for (int64_t o = 0; o < co; ++o)
            for (int64_t r = 0; r < oh; ++r)
                for (int64_t q = 0; q < ow; ++q) {
                    double acc = b[o], mag = std::fabs(b[o]);
                    for (int64_t c = 0; c < cg; ++c)
                        for (int64_t ky = 0; ky < s.kh; ++ky)
                            for (int64_t kx = 0; kx < s.kw; ++kx) {
                                const int64_t yy = r * s.sh - s.pad + ky, xx = q * s.sw - s.pad + kx;
                                if (yy < 0 || yy >= ih || xx < 0 || xx >= iw) continue;
                                const double t = double(w[((o * cg + c) * s.kh + ky) * s.kw + kx]) *
                                                 x.data<float>()[((i * ci + o / mg * cg + c) * ih + yy) * iw + xx];
                                acc += t;
                                mag += std::fabs(t);
                            }
                    const size_t at = static_cast<size_t>(((i * co + o) * oh + r) * ow + q);
                    y[at] = acc;
                    scale[at] = mag;
                }
}

Tensor random_input(const Shape& shape, uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    Tensor x(DType::Float32, shape);
    for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = nd(rng);
    return x;
}

// Fused (as given) and unfused (an observer on the Conv) runs of `m`: every output bit-identical.
std::vector<Tensor> expect_fused_equals_unfused(const ir::Model& m, const Tensor& x, size_t want_length) {
    engine::Session fused(m);
    EXPECT_EQ(fused.epilogue_length(0), want_length);
    const std::vector<Tensor> a = fused.run(x);
    engine::Session unfused(m);
    unfused.observe(0, [](const ir::Node&, const std::vector<const Tensor*>&, const std::vector<Tensor>&) {});
    const std::vector<Tensor> b = unfused.run(x);
    EXPECT_EQ(a.size(), b.size());
    for (size_t o = 0; o < a.size() && o < b.size(); ++o) {
        EXPECT_EQ(a[o].shape(), b[o].shape()) << "output " << o;
        EXPECT_TRUE(a[o] == b[o]) << "output " << o << " differs fused and unfused";
    }
    return a;
}

const std::vector<ConvShape> kShapes = {
    {{2, 16, 7, 19}, 24, 1, 1, 1, 1, 1, 0},    // 1×1 (pointwise GEMM)
    {{3, 8, 9, 37}, 8, 3, 3, 8, 1, 1, 1},      // depthwise 3×3
    {{2, 12, 11, 21}, 12, 5, 5, 12, 2, 1, 2},  // depthwise 5×5, stride (2, 1)
    {{1, 6, 13, 17}, 6, 3, 3, 6, 1, 2, 1},     // depthwise, stride (1, 2)
    {{2, 3, 15, 23}, 10, 3, 3, 1, 2, 2, 1},    // 3×3 stride 2 (im2col GEMM)
    {{5, 4, 3, 5}, 6, 3, 3, 2, 1, 1, 1},       // grouped, several images per task
};

TEST(ConvEpilogue, HardSwishChainMatchesUnfusedAndFloat64) {
    for (const ConvShape& s : kShapes) {
        Builder b(s);
        hard_swish_chain(b);
        const ir::Model& m = b.finish({"y"});
        const Tensor x = random_input(s.x, 11);
        const std::vector<Tensor> y = expect_fused_equals_unfused(m, x, 8);
        std::vector<double> conv, scale;
        naive_conv(m, s, x, y[0].shape(), conv, scale);
        ASSERT_EQ(static_cast<size_t>(y[0].numel()), conv.size());
        for (size_t i = 0; i < conv.size(); ++i) {
            const double want = hard_swish_chain_ref(conv[i]);
            // the chain's slope is at most 1.38 · 0.1675 · (1 + 2·|a1|/6)
            const double bound = kTolerance * (1.0 + scale[i]) * (1.0 + std::fabs(conv[i]));
            ASSERT_NEAR(y[0].data<float>()[i], want, bound) << shape_str(s.x) << " element " << i;
        }
    }
}

TEST(ConvEpilogue, EveryStepKindMatchesUnfused) {
    const ConvShape s = kShapes[1];
    Builder b(s, 14);
    b.node("Sub", {b.constant(0.25f), "c"}, "s1");  // scalar first
    b.node("Sub", {"s1", b.constant(-0.5f, {1})}, "s2");
    b.node("Sigmoid", {"s2"}, "sg");
    b.node("Div", {b.constant(2.0f), "sg"}, "d1");
    b.node("HardSigmoid", {"d1"}, "hg", {ir::Attribute::make_float("alpha", 0.3f), ir::Attribute::make_float("beta", 0.4f)});
    b.node("Mul", {"hg", "s2"}, "m1");  // two chain values
    b.node("LeakyRelu", {"m1"}, "lr", {ir::Attribute::make_float("alpha", 0.2f)});
    b.node("HardSwish", {"lr"}, "hw");
    b.node("Clip", {"hw", "", b.constant(0.2f)}, "cl");  // no lower bound
    b.node("Relu", {"cl"}, "y");
    const ir::Model& m = b.finish({"y"});
    expect_fused_equals_unfused(m, random_input(s.x, 3), 10);
}

TEST(ConvEpilogue, ClipBoundsAsAttributesBeforeOpset11) {
    const ConvShape s = kShapes[0];
    Builder b(s, 9);
    b.node("Clip", {"c"}, "y", {ir::Attribute::make_float("min", -0.5f), ir::Attribute::make_float("max", 0.75f)});
    const ir::Model& m = b.finish({"y"});
    const std::vector<Tensor> y = expect_fused_equals_unfused(m, random_input(s.x, 5), 1);
    bool low = false, high = false;
    for (int64_t i = 0; i < y[0].numel(); ++i) {
        low |= y[0].data<float>()[i] == -0.5f;
        high |= y[0].data<float>()[i] == 0.75f;
    }
    EXPECT_TRUE(low && high);
}

// A value read outside the chain ends it there: its own node is the chain's last.
TEST(ConvEpilogue, ChainEndsWhereAValueEscapes) {
    const ConvShape s = kShapes[4];
    {
        Builder b(s);
        hard_swish_chain(b);
        expect_fused_equals_unfused(b.finish({"y", "a1"}), random_input(s.x, 8), 2);  // a1 is a graph output
    }
    {
        Builder b(s);
        hard_swish_chain(b);
        b.node("Transpose", {"m2"}, "t");  // m2 read by a node that cannot join
        expect_fused_equals_unfused(b.finish({"y", "t"}), random_input(s.x, 8), 5);
    }
    {
        Builder b(s);
        b.node("Relu", {"c"}, "r");
        b.node("Sigmoid", {"c"}, "g");  // the Conv's own output read twice: only both together
        b.node("Mul", {"r", "g"}, "y");
        expect_fused_equals_unfused(b.finish({"y"}), random_input(s.x, 8), 3);
    }
    {
        Builder b(s);
        b.node("Relu", {"c"}, "r");
        b.node("Transpose", {"c"}, "y");  // the Conv's output escapes: nothing fuses
        expect_fused_equals_unfused(b.finish({"y", "r"}), random_input(s.x, 8), 0);
    }
}

// Scalar and per-channel constants join; others (per position, or of a rank that would broadcast the
// output up) end the chain.
TEST(ConvEpilogue, ScalarAndPerChannelConstantsOnly) {
    const ConvShape s = kShapes[2];
    {
        Builder b(s);
        b.node("Add", {"c", b.constant(1.0f)}, "a");
        Tensor k(DType::Float32, {1, s.cout, 1, 1});
        for (int64_t i = 0; i < k.numel(); ++i) k.data<float>()[i] = 0.5f + static_cast<float>(i);
        b.m.graph.initializers.push_back({"per_channel", k, ""});
        b.node("Mul", {"a", b.constant(2.0f, {s.cout, 1, 1})}, "m");  // per channel, rank 3
        b.node("Sub", {"per_channel", "m"}, "y");                     // per channel, first, rank 4
        expect_fused_equals_unfused(b.finish({"y"}), random_input(s.x, 9), 3);
    }
    {
        const ConvShape cube{{2, 6, 6, 6}, 6, 1, 1, 1, 1, 1, 0};  // C = H = W = 6
        Builder b(cube);
        b.node("Add", {"c", b.constant(1.0f)}, "a");
        Tensor k(DType::Float32, {6, 1});
        for (int64_t i = 0; i < k.numel(); ++i) k.data<float>()[i] = static_cast<float>(i);
        b.m.graph.initializers.push_back({"per_row", k, ""});
        b.node("Mul", {"a", "per_row"}, "y");  // six values, but along H
        expect_fused_equals_unfused(b.finish({"y"}), random_input(cube.x, 9), 1);
    }
    {
        Builder b(s);
        b.node("Add", {"c", b.constant(1.0f)}, "a");
        b.node("Mul", {"a", b.constant(2.0f, {1, 1, 1, 21})}, "y");  // one per output column (W = 21)
        expect_fused_equals_unfused(b.finish({"y"}), random_input(s.x, 9), 1);
    }
    {
        Builder b(s);
        b.node("Add", {"c", b.constant(1.0f, {1, 1, 1, 1, 1})}, "y");  // broadcasts the output to rank 5
        const std::vector<Tensor> y = expect_fused_equals_unfused(b.finish({"y"}), random_input(s.x, 9), 0);
        EXPECT_EQ(y[0].rank(), 5u);
    }
    {
        Builder b(s);
        b.node("Add", {"c", b.constant(1.0f, {1, 1, 1, 1})}, "y");  // rank 4, one value: joins
        expect_fused_equals_unfused(b.finish({"y"}), random_input(s.x, 9), 1);
    }
}

// Conv → BatchNormalization (not folded into the weights, as PP-OCR cls has it) → Relu, and BN →
// HardSwish ops: the epilogue gives BatchNormalization's bits, and the float64 values.
TEST(ConvEpilogue, BatchNormalizationMatchesUnfusedAndFloat64) {
    for (const ConvShape& s : kShapes) {
        Builder b(s);
        std::mt19937 rng(5);
        std::uniform_real_distribution<float> u(0.5f, 1.5f);
        std::vector<std::string> params;
        std::vector<std::vector<float>> values(4, std::vector<float>(static_cast<size_t>(s.cout)));
        for (int i = 0; i < 4; ++i) {
            Tensor t(DType::Float32, {s.cout});
            for (int64_t c = 0; c < s.cout; ++c) t.data<float>()[c] = values[i][c] = i == 1 || i == 2 ? u(rng) - 1.0f : u(rng);
            params.push_back("bn" + std::to_string(i));
            b.m.graph.initializers.push_back({params.back(), t, ""});
        }
        b.node("BatchNormalization", {"c", params[0], params[1], params[2], params[3]}, "bn",
               {ir::Attribute::make_float("epsilon", 1e-3f)});
        b.node("Relu", {"bn"}, "y");
        const ir::Model& m = b.finish({"y"});
        const Tensor x = random_input(s.x, 13);
        const std::vector<Tensor> y = expect_fused_equals_unfused(m, x, 2);
        std::vector<double> conv, scale;
        naive_conv(m, s, x, y[0].shape(), conv, scale);
        const int64_t plane = y[0].dim(2) * y[0].dim(3);
        for (size_t i = 0; i < conv.size(); ++i) {
            const size_t c = static_cast<size_t>(static_cast<int64_t>(i) / plane % s.cout);
            const double a = values[0][c] / std::sqrt(double(values[3][c]) + 1e-3f);
            const double want = std::max(0.0, (conv[i] - values[2][c]) * a + values[1][c]);
            ASSERT_NEAR(y[0].data<float>()[i], want, kTolerance * (1.0 + scale[i]) * (1.0 + std::fabs(a))) << i;
        }
    }
}

// An observer on a chain node turns fusion off, and it sees the node's real output.
TEST(ConvEpilogue, ObserverOnAChainNodeSeesItsOutput) {
    const ConvShape s = kShapes[0];
    Builder b(s);
    hard_swish_chain(b);
    const ir::Model& m = b.finish({"y"});
    const Tensor x = random_input(s.x, 4);
    engine::Session watched(m);
    Tensor seen;
    watched.observe(4, [&](const ir::Node&, const std::vector<const Tensor*>&, const std::vector<Tensor>& out) { seen = out[0]; });
    const Tensor y = watched.run(x).at(0);
    ASSERT_EQ(seen.shape(), y.shape());  // the Clip (node 4) ran as a node
    for (int64_t i = 0; i < seen.numel(); ++i) {
        ASSERT_GE(seen.data<float>()[i], 0.0f);
        ASSERT_LE(seen.data<float>()[i], 6.0f);
    }
    EXPECT_TRUE(y == engine::Session(m).run(x).at(0));
}

TEST(ConvEpilogue, BitIdenticalAtOneAndTwoThreads) {
    const int before = num_threads();
    for (const ConvShape& s : kShapes) {
        Builder b(s);
        hard_swish_chain(b);
        const ir::Model& m = b.finish({"y"});
        const Tensor x = random_input(s.x, 21);
        set_num_threads(1);
        const Tensor one = engine::Session(m).run(x).at(0);
        set_num_threads(2);
        const Tensor two = engine::Session(m).run(x).at(0);
        EXPECT_TRUE(one == two) << shape_str(s.x);
    }
    set_num_threads(before);
}

}  // namespace
}  // namespace qcp
