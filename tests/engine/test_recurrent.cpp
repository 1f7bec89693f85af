// RNN, GRU and LSTM against a naive reference written from ONNX's equations in double precision:
// per time step, matrix-vector products spelled out gate by gate, on random weights, for
// forward/reverse/bidirectional runs, sequence_lens shorter than the sequence, and layout=1.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "kernel_test_util.hpp"

namespace qcp {
namespace {

using A = ir::Attribute;

constexpr double kTol = 2e-5;

double sigm(double v) { return 1 / (1 + std::exp(-v)); }

Tensor random_floats(const Shape& shape, std::mt19937& gen) {
    std::uniform_real_distribution<float> dist(-0.8f, 0.8f);
    std::vector<float> v(static_cast<size_t>(shape_numel(shape)));
    for (auto& x : v) x = dist(gen);
    return Tensor::from_floats(shape, v);
}

// row k of matrix m (rows of length n) times vector v
double dot(const float* m, int64_t k, int64_t n, const std::vector<double>& v) {
    double s = 0;
    for (int64_t i = 0; i < n; ++i) s += m[k * n + i] * v[static_cast<size_t>(i)];
    return s;
}

// One direction of `op` over batch entry b; returns h per step (seq x hidden, zeros past len).
std::vector<std::vector<double>> naive_run(const std::string& op, const Tensor& x, const Tensor& w, const Tensor& r,
                                           const Tensor& bias, int64_t d, int64_t b, int64_t len, bool reverse, int64_t hidden,
                                           bool linear_before_reset = false) {
    const int64_t seq = x.dim(0), batch = x.dim(1), in = x.dim(2);
    const int64_t G = op == "RNN" ? 1 : op == "GRU" ? 3 : 4;
    const float* W = w.data<float>() + d * G * hidden * in;
    const float* R = r.data<float>() + d * G * hidden * hidden;
    const float* Wb = bias.data<float>() + d * 2 * G * hidden;
    const float* Rb = Wb + G * hidden;
    std::vector<double> h(static_cast<size_t>(hidden), 0), c(static_cast<size_t>(hidden), 0);
    std::vector<std::vector<double>> out(static_cast<size_t>(seq), std::vector<double>(static_cast<size_t>(hidden), 0));
    for (int64_t s = 0; s < len; ++s) {
        const int64_t t = reverse ? len - 1 - s : s;
        std::vector<double> xt(static_cast<size_t>(in));
        for (int64_t i = 0; i < in; ++i) xt[static_cast<size_t>(i)] = x.data<float>()[(t * batch + b) * in + i];
        auto pre = [&](int64_t gate, int64_t j) { return dot(W, gate * hidden + j, in, xt) + Wb[gate * hidden + j] + Rb[gate * hidden + j]; };
        std::vector<double> hn(static_cast<size_t>(hidden));
        if (op == "RNN") {
            for (int64_t j = 0; j < hidden; ++j) hn[static_cast<size_t>(j)] = std::tanh(pre(0, j) + dot(R, j, hidden, h));
        } else if (op == "GRU") {  // z r h
            std::vector<double> z(static_cast<size_t>(hidden)), rg(static_cast<size_t>(hidden)), rh(static_cast<size_t>(hidden));
            for (int64_t j = 0; j < hidden; ++j) {
                z[static_cast<size_t>(j)] = sigm(pre(0, j) + dot(R, hidden + j - hidden, hidden, h));
                rg[static_cast<size_t>(j)] = sigm(pre(1, j) + dot(R, hidden + j, hidden, h));
            }
            for (int64_t j = 0; j < hidden; ++j) rh[static_cast<size_t>(j)] = rg[static_cast<size_t>(j)] * h[static_cast<size_t>(j)];
            for (int64_t j = 0; j < hidden; ++j) {
                const double hh = linear_before_reset
                                      ? std::tanh(dot(W, 2 * hidden + j, in, xt) + Wb[2 * hidden + j] +
                                                  rg[static_cast<size_t>(j)] * (dot(R, 2 * hidden + j, hidden, h) + Rb[2 * hidden + j]))
                                      : std::tanh(pre(2, j) + dot(R, 2 * hidden + j, hidden, rh));
                hn[static_cast<size_t>(j)] = (1 - z[static_cast<size_t>(j)]) * hh + z[static_cast<size_t>(j)] * h[static_cast<size_t>(j)];
            }
        } else {  // i o f c, no peepholes
            for (int64_t j = 0; j < hidden; ++j) {
                const double i_g = sigm(pre(0, j) + dot(R, j, hidden, h));
                const double o_g = sigm(pre(1, j) + dot(R, hidden + j, hidden, h));
                const double f_g = sigm(pre(2, j) + dot(R, 2 * hidden + j, hidden, h));
                const double c_g = std::tanh(pre(3, j) + dot(R, 3 * hidden + j, hidden, h));
                c[static_cast<size_t>(j)] = f_g * c[static_cast<size_t>(j)] + i_g * c_g;
                hn[static_cast<size_t>(j)] = o_g * std::tanh(c[static_cast<size_t>(j)]);
            }
        }
        h = hn;
        out[static_cast<size_t>(t)] = h;
    }
    return out;
}

TEST(Recurrent, EveryCellMatchesNaiveEquationsBidirectionalWithSequenceLengths) {
    std::mt19937 gen(30);
    const int64_t seq = 4, batch = 3, in = 5, hidden = 3, dirs = 2;
    const std::vector<int64_t> lens = {4, 2, 3};
    for (const std::string op : {"RNN", "GRU", "LSTM"}) {
        const int64_t G = op == "RNN" ? 1 : op == "GRU" ? 3 : 4;
        const Tensor x = random_floats({seq, batch, in}, gen);
        const Tensor w = random_floats({dirs, G * hidden, in}, gen);
        const Tensor r = random_floats({dirs, G * hidden, hidden}, gen);
        const Tensor bias = random_floats({dirs, 2 * G * hidden}, gen);
        const Tensor sl = Tensor::from_int64s({batch}, lens);
        const std::vector<A> attrs = {A::make_string("direction", "bidirectional"), A::make_int("hidden_size", hidden)};
        const auto out = test::run_op(op, {&x, &w, &r, &bias, &sl}, attrs, 14, 2);
        ASSERT_EQ(out[0].shape(), (Shape{seq, dirs, batch, hidden})) << op;
        for (int64_t d = 0; d < dirs; ++d)
            for (int64_t b = 0; b < batch; ++b) {
                const auto want = naive_run(op, x, w, r, bias, d, b, lens[static_cast<size_t>(b)], d == 1, hidden);
                for (int64_t t = 0; t < seq; ++t)
                    for (int64_t j = 0; j < hidden; ++j)
                        ASSERT_NEAR(out[0].data<float>()[((t * dirs + d) * batch + b) * hidden + j], want[static_cast<size_t>(t)][static_cast<size_t>(j)], kTol)
                            << op << " d " << d << " b " << b << " t " << t;
                // Y_h: the state after the last valid step (step 0 for the reverse direction)
                const int64_t last = d == 1 ? 0 : lens[static_cast<size_t>(b)] - 1;
                for (int64_t j = 0; j < hidden; ++j)
                    ASSERT_NEAR(out[1].data<float>()[(d * batch + b) * hidden + j], want[static_cast<size_t>(last)][static_cast<size_t>(j)], kTol) << op;
            }
    }
}

TEST(Recurrent, GruLinearBeforeResetAppliesTheResetGateAfterRh) {
    std::mt19937 gen(32);
    const int64_t seq = 3, batch = 2, in = 3, hidden = 4;
    const Tensor x = random_floats({seq, batch, in}, gen);
    const Tensor w = random_floats({1, 3 * hidden, in}, gen), r = random_floats({1, 3 * hidden, hidden}, gen);
    const Tensor bias = random_floats({1, 6 * hidden}, gen);
    const auto out = test::run_op("GRU", {&x, &w, &r, &bias}, {A::make_int("hidden_size", hidden), A::make_int("linear_before_reset", 1)}, 14, 1);
    for (int64_t b = 0; b < batch; ++b) {
        const auto want = naive_run("GRU", x, w, r, bias, 0, b, seq, false, hidden, true);
        for (int64_t t = 0; t < seq; ++t)
            for (int64_t j = 0; j < hidden; ++j)
                ASSERT_NEAR(out[0].data<float>()[(t * batch + b) * hidden + j], want[static_cast<size_t>(t)][static_cast<size_t>(j)], kTol);
    }
}

TEST(Recurrent, LayoutOneIsTheBatchFirstTransposeOfLayoutZero) {
    std::mt19937 gen(31);
    const int64_t seq = 3, batch = 2, in = 4, hidden = 2;
    const Tensor x = random_floats({seq, batch, in}, gen);
    const Tensor w = random_floats({1, 4 * hidden, in}, gen), r = random_floats({1, 4 * hidden, hidden}, gen);
    const Tensor h0 = random_floats({1, batch, hidden}, gen);
    std::vector<float> xt, h0t;
    for (int64_t b = 0; b < batch; ++b)
        for (int64_t t = 0; t < seq; ++t)
            for (int64_t i = 0; i < in; ++i) xt.push_back(x.data<float>()[(t * batch + b) * in + i]);
    const Tensor xb = Tensor::from_floats({batch, seq, in}, xt);
    const Tensor h0b = h0.reshaped({batch, 1, hidden});  // one direction: same order
    const auto a = test::run_op("LSTM", {&x, &w, &r, nullptr, nullptr, &h0}, {A::make_int("hidden_size", hidden)}, 14, 2);
    const auto b = test::run_op("LSTM", {&xb, &w, &r, nullptr, nullptr, &h0b}, {A::make_int("hidden_size", hidden), A::make_int("layout", 1)}, 14, 2);
    ASSERT_EQ(b[0].shape(), (Shape{batch, seq, 1, hidden}));
    for (int64_t t = 0; t < seq; ++t)
        for (int64_t n = 0; n < batch; ++n)
            for (int64_t j = 0; j < hidden; ++j)
                EXPECT_EQ(a[0].data<float>()[(t * batch + n) * hidden + j], b[0].data<float>()[(n * seq + t) * hidden + j]);
    EXPECT_EQ(a[1].to_float_vector(), b[1].to_float_vector());
}

}  // namespace
}  // namespace qcp
