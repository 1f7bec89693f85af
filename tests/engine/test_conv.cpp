// Conv and ConvTranspose against naive float64 loops, on every sgemm micro-kernel the CPU runs,
// and bit-identical at 1 and 2 threads.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "../../src/engine/kernels/sgemm.hpp"
#include "qcp/core/error.hpp"
#include "qcp/core/parallel.hpp"
#include "qcp/engine/kernel.hpp"
#include "kernel_test_util.hpp"
#include "sgemm_test_util.hpp"

namespace qcp {
namespace {

namespace sgemm = engine::kernels::sgemm;
using ir::Attribute;

// |qcp − naive| per element, relative to the sum of the magnitudes of the terms it adds
constexpr double kRelTol = 1e-5;

Tensor run_op(const std::string& op, const std::vector<const Tensor*>& inputs, std::vector<Attribute> attrs,
              int64_t opset = 13) {
    return test::run_op1(op, inputs, std::move(attrs), opset);
}
using test::IsaScope;
using test::isas;
using test::random_tensor;

// A conv case with explicit pads (per spatial dim: begin, end).
struct ConvCase {
    Shape x;  // N, C, spatial...
    int64_t cout = 1, group = 1;
    std::vector<int64_t> k, s, d, pad_begin, pad_end;
    bool bias = true;
};

std::vector<Attribute> conv_attrs(const ConvCase& c) {
    std::vector<int64_t> pads = c.pad_begin;
    pads.insert(pads.end(), c.pad_end.begin(), c.pad_end.end());
    return {Attribute::make_ints("kernel_shape", c.k), Attribute::make_ints("strides", c.s),
            Attribute::make_ints("dilations", c.d), Attribute::make_ints("pads", pads),
            Attribute::make_int("group", c.group)};
}

// Naive conv: returns values and, per element, the sum of |terms| (the scale of its rounding error).
void naive_conv(const ConvCase& c, const Tensor& x, const Tensor& w, const Tensor* b, Shape& out_shape,
                std::vector<double>& out, std::vector<double>& scale) {
    const size_t nd = c.k.size();
    std::vector<int64_t> in(3, 1), k(3, 1), s(3, 1), d(3, 1), p(3, 0), o(3, 1);
    for (size_t i = 0; i < nd; ++i) {
        const size_t j = 3 - nd + i;
        in[j] = c.x[2 + i];
        k[j] = c.k[i];
        s[j] = c.s[i];
        d[j] = c.d[i];
        p[j] = c.pad_begin[i];
        o[j] = (in[j] + c.pad_begin[i] + c.pad_end[i] - d[j] * (k[j] - 1) - 1) / s[j] + 1;
    }
    const int64_t n_count = c.x[0], cin = c.x[1], cg = cin / c.group, mg = c.cout / c.group;
    out_shape = {n_count, c.cout};
    for (size_t i = 0; i < nd; ++i) out_shape.push_back(o[3 - nd + i]);
    const int64_t osize = o[0] * o[1] * o[2], isize = in[0] * in[1] * in[2], ksize = k[0] * k[1] * k[2];
    out.assign(static_cast<size_t>(n_count * c.cout * osize), 0.0);
    scale = out;
    const float* xp = x.data<float>();
    const float* wp = w.data<float>();
    for (int64_t n = 0; n < n_count; ++n)
        for (int64_t oc = 0; oc < c.cout; ++oc)
            for (int64_t oz = 0; oz < o[0]; ++oz)
                for (int64_t oy = 0; oy < o[1]; ++oy)
                    for (int64_t ox = 0; ox < o[2]; ++ox) {
                        const size_t at = static_cast<size_t>(((n * c.cout + oc) * o[0] + oz) * o[1] * o[2] + oy * o[2] + ox);
                        double acc = b ? b->data<float>()[oc] : 0.0, mag = std::fabs(acc);
                        for (int64_t ci = 0; ci < cg; ++ci) {
                            const int64_t ic = oc / mg * cg + ci;
                            for (int64_t kz = 0; kz < k[0]; ++kz)
                                for (int64_t ky = 0; ky < k[1]; ++ky)
                                    for (int64_t kx = 0; kx < k[2]; ++kx) {
                                        const int64_t iz = oz * s[0] - p[0] + kz * d[0];
                                        const int64_t iy = oy * s[1] - p[1] + ky * d[1];
                                        const int64_t ix = ox * s[2] - p[2] + kx * d[2];
                                        if (iz < 0 || iz >= in[0] || iy < 0 || iy >= in[1] || ix < 0 || ix >= in[2])
                                            continue;
                                        const double term = double(xp[(n * cin + ic) * isize + (iz * in[1] + iy) * in[2] + ix]) *
                                                            wp[(oc * cg + ci) * ksize + (kz * k[1] + ky) * k[2] + kx];
                                        acc += term;
                                        mag += std::fabs(term);
                                    }
                        }
                        out[at] = acc;
                        scale[at] = mag;
                    }
}

void expect_matches_naive(const ConvCase& c, std::mt19937& rng, const std::string& what) {
    const int64_t cg = c.x[1] / c.group;
    Shape wshape = {c.cout, cg};
    wshape.insert(wshape.end(), c.k.begin(), c.k.end());
    const Tensor x = random_tensor(c.x, rng), w = random_tensor(wshape, rng), b = random_tensor({c.cout}, rng);
    Shape want_shape;
    std::vector<double> want, scale;
    naive_conv(c, x, w, c.bias ? &b : nullptr, want_shape, want, scale);
    for (sgemm::Isa isa : isas()) {
        IsaScope scope(isa);
        const Tensor y = run_op("Conv", {&x, &w, c.bias ? &b : nullptr}, conv_attrs(c));
        ASSERT_EQ(y.shape(), want_shape) << what;
        for (size_t i = 0; i < want.size(); ++i)
            ASSERT_NEAR(y.data<float>()[i], want[i], kRelTol * scale[i] + 1e-30)
                << what << " isa " << int(isa) << " element " << i;
    }
}

TEST(Conv, RandomShapesMatchNaive) {
    std::mt19937 rng(1234);
    auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
    for (int trial = 0; trial < 60; ++trial) {
        ConvCase c;
        const size_t nd = 1 + trial % 3;
        c.group = pick(1, 3);
        const int64_t cg = pick(1, 5);
        c.cout = c.group * pick(1, 14);
        c.x = {pick(1, 3), c.group * cg};
        for (size_t i = 0; i < nd; ++i) {
            c.k.push_back(pick(1, nd == 3 ? 2 : 4));
            c.s.push_back(pick(1, 3));
            c.d.push_back(pick(1, 2));
            c.pad_begin.push_back(pick(0, 2));
            c.pad_end.push_back(pick(0, 2));
            const int64_t span = (c.k.back() - 1) * c.d.back() + 1;
            c.x.push_back(std::max<int64_t>(span, pick(1, nd == 3 ? 6 : 12)));
        }
        c.bias = trial % 4 != 0;
        expect_matches_naive(c, rng, "trial " + std::to_string(trial) + " x " + shape_str(c.x));
    }
}

TEST(Conv, DepthwiseMatchesNaive) {
    std::mt19937 rng(7);
    for (int64_t multiplier : {1, 2})
        for (int64_t stride : {1, 2})
            for (int64_t dilation : {1, 2}) {
                ConvCase c{{2, 48, 13, 11}, 48 * multiplier, 48, {3, 3}, {stride, stride}, {dilation, dilation},
                           {1, 1}, {1, 1}, true};
                expect_matches_naive(c, rng, "depthwise m" + std::to_string(multiplier) + " s" + std::to_string(stride));
            }
    ConvCase one_d{{3, 8, 20}, 8, 8, {5}, {1}, {1}, {2}, {2}, false};
    expect_matches_naive(one_d, rng, "depthwise 1-D");
}

// The AVX-512 depthwise kernel's row blocks (4 output rows at a time, each input row loaded once for
// all of them): heights that leave every remainder, H strides and dilations that make rows of a block
// skip input rows, widths across the 16-lane chunks, W strides 1 and 2, padding on every side; every
// ISA path.
TEST(Conv, DepthwiseRowBlocksMatchNaiveAndPortablePath) {
    std::mt19937 rng(17);
    int trial = 0;
    for (int64_t h : {1, 3, 6, 13})
        for (const std::vector<int64_t>& k : {std::vector<int64_t>{5, 5}, std::vector<int64_t>{3, 3}, std::vector<int64_t>{3, 1}})
            for (int64_t sh : {1, 2})
                for (int64_t dh : {1, 2}) {
                    const int64_t w = trial % 3 == 0 ? 7 : trial % 3 == 1 ? 16 : 37;
                    const int64_t mult = trial % 4 == 3 ? 3 : 1;
                    const int64_t pad = (k[0] - 1) * dh / 2;
                    const int64_t hh = std::max<int64_t>(h, (k[0] - 1) * dh + 1 - 2 * pad);
                    const int64_t sw = trial / 3 % 2 + 1;
                    ConvCase c{{2, 6, hh, w}, 6 * mult, 6, k, {sh, sw}, {dh, trial % 2 + 1},
                               {pad, k[1] / 2 + trial % 2}, {pad + trial % 2, k[1] / 2}, trial % 5 != 0};
                    const std::string what = "depthwise h" + std::to_string(hh) + " k" + std::to_string(k[0]) + "x" +
                                             std::to_string(k[1]) + " s" + std::to_string(sh) + "," + std::to_string(sw) + " d" + std::to_string(dh);
                    expect_matches_naive(c, rng, what);
                    ++trial;
                }
}

TEST(Conv, PointwiseMatchesNaive) {
    std::mt19937 rng(11);
    // small images share a task (several images per GEMM), large ones are split into column ranges
    for (const Shape& x : {Shape{13, 24, 5, 5}, Shape{2, 24, 20, 21}, Shape{3, 7, 1, 1}}) {
        ConvCase c{x, 40, 1, {1, 1}, {1, 1}, {1, 1}, {0, 0}, {0, 0}, true};
        expect_matches_naive(c, rng, "pointwise " + shape_str(x));
    }
    ConvCase strided{{2, 16, 9, 9}, 20, 1, {1, 1}, {2, 2}, {1, 1}, {0, 0}, {0, 0}, true};
    expect_matches_naive(strided, rng, "pointwise stride 2");
}

TEST(Conv, ManySmallImagesPerTask) {
    std::mt19937 rng(13);
    // 1×1 and 3×3 outputs: one 16-column im2col chunk spans many images (the AVX-512 path gathers)
    ConvCase one_pixel{{40, 3, 2, 2}, 5, 1, {2, 2}, {1, 1}, {1, 1}, {0, 0}, {0, 0}, true};
    expect_matches_naive(one_pixel, rng, "1x1 outputs");
    ConvCase three{{21, 2, 3, 3}, 6, 1, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, true};
    expect_matches_naive(three, rng, "3x3 outputs");
    ConvCase strided{{11, 4, 7, 7}, 9, 1, {3, 3}, {2, 2}, {1, 1}, {1, 1}, {1, 1}, false};
    expect_matches_naive(strided, rng, "stride 2, 4x4 outputs");
}

TEST(Conv, LargeChannelCountsCrossKBlocks) {
    std::mt19937 rng(5);
    // K = 64·9 = 576 spans several K blocks; 13 output channels leave a short A panel
    ConvCase c{{3, 64, 7, 7}, 13, 1, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, true};
    expect_matches_naive(c, rng, "K blocks");
    ConvCase grouped{{2, 96, 6, 6}, 64, 2, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, false};
    expect_matches_naive(grouped, rng, "grouped K blocks");
}

// Pads that ONNX's auto_pad rules give, computed independently of the kernel.
void auto_pads(const std::string& mode, int64_t in, int64_t k, int64_t s, int64_t d, int64_t& begin, int64_t& end) {
    if (mode == "VALID") {
        begin = end = 0;
        return;
    }
    const int64_t out = (in + s - 1) / s;
    const int64_t total = std::max<int64_t>(0, (out - 1) * s + (k - 1) * d + 1 - in);
    begin = mode == "SAME_UPPER" ? total / 2 : (total + 1) / 2;
    end = total - begin;
}

TEST(Conv, AutoPadMatchesNaive) {
    std::mt19937 rng(3);
    for (const std::string mode : {"SAME_UPPER", "SAME_LOWER", "VALID"})
        for (int64_t k : {2, 3})
            for (int64_t s : {1, 2})
                for (int64_t d : {1, 2}) {
                    ConvCase c{{2, 3, 9, 8}, 4, 1, {k, k}, {s, s}, {d, d}, {0, 0}, {0, 0}, true};
                    for (int i = 0; i < 2; ++i) auto_pads(mode, c.x[2 + i], k, s, d, c.pad_begin[i], c.pad_end[i]);
                    const int64_t cg = c.x[1];
                    const Tensor x = random_tensor(c.x, rng), w = random_tensor({c.cout, cg, k, k}, rng);
                    Shape want_shape;
                    std::vector<double> want, scale;
                    naive_conv(c, x, w, nullptr, want_shape, want, scale);
                    const Tensor y = run_op("Conv", {&x, &w},
                                            {Attribute::make_string("auto_pad", mode), Attribute::make_ints("strides", c.s),
                                             Attribute::make_ints("dilations", c.d)});
                    ASSERT_EQ(y.shape(), want_shape) << mode;
                    for (size_t i = 0; i < want.size(); ++i)
                        ASSERT_NEAR(y.data<float>()[i], want[i], kRelTol * scale[i] + 1e-30) << mode << " element " << i;
                }
}

TEST(Conv, BitIdenticalAtOneAndTwoThreads) {
    std::mt19937 rng(9);
    const std::vector<ConvCase> cases = {
        {{9, 16, 14, 14}, 32, 1, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, true},    // several images per task
        {{2, 8, 30, 30}, 16, 1, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, true},     // column ranges of an image
        {{5, 64, 10, 10}, 64, 64, {3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, true},   // depthwise
        {{6, 32, 7, 7}, 48, 1, {1, 1}, {1, 1}, {1, 1}, {0, 0}, {0, 0}, false},     // pointwise
    };
    for (const auto& c : cases) {
        Shape wshape = {c.cout, c.x[1] / c.group, c.k[0], c.k[1]};
        const Tensor x = random_tensor(c.x, rng), w = random_tensor(wshape, rng), b = random_tensor({c.cout}, rng);
        set_num_threads(1);
        const Tensor one = run_op("Conv", {&x, &w, c.bias ? &b : nullptr}, conv_attrs(c));
        set_num_threads(2);
        const Tensor two = run_op("Conv", {&x, &w, c.bias ? &b : nullptr}, conv_attrs(c));
        set_num_threads(0);
        EXPECT_TRUE(one == two) << "x " << shape_str(c.x);
    }
}

TEST(Conv, RejectsMismatchedWeightNamingTheNode) {
    std::mt19937 rng(1);
    const Tensor x = random_tensor({1, 6, 5, 5}, rng), w = random_tensor({4, 4, 3, 3}, rng);
    try {
        run_op("Conv", {&x, &w}, {Attribute::make_int("group", 2)});
        FAIL() << "accepted";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("node_under_test"), std::string::npos) << e.what();
    }
    const Tensor w2 = random_tensor({4, 6, 3, 3}, rng);
    EXPECT_THROW(run_op("Conv", {&x, &w2}, {Attribute::make_ints("kernel_shape", {2, 2})}), Error);
    EXPECT_THROW(run_op("Conv", {&x, &w2}, {Attribute::make_ints("pads", {1, 1})}), Error);
    const Tensor big = random_tensor({4, 6, 7, 7}, rng);
    EXPECT_THROW(run_op("Conv", {&x, &big}, {}), Error);
}

// ---- ConvTranspose ----

struct TransposeCase {
    Shape x;
    int64_t mg = 1, group = 1;  // output channels per group
    std::vector<int64_t> k, s, d, pad_begin, pad_end, output_padding;
};

// Naive scatter: every input element times every tap lands on out = in·s − pad + k·d.
void naive_conv_transpose(const TransposeCase& c, const Tensor& x, const Tensor& w, const Tensor* b,
                          Shape& out_shape, std::vector<double>& out, std::vector<double>& scale) {
    const size_t nd = c.k.size();
    std::vector<int64_t> in(3, 1), k(3, 1), s(3, 1), d(3, 1), p(3, 0), o(3, 1);
    for (size_t i = 0; i < nd; ++i) {
        const size_t j = 3 - nd + i;
        in[j] = c.x[2 + i];
        k[j] = c.k[i];
        s[j] = c.s[i];
        d[j] = c.d[i];
        p[j] = c.pad_begin[i];
        o[j] = s[j] * (in[j] - 1) + c.output_padding[i] + (k[j] - 1) * d[j] + 1 - c.pad_begin[i] - c.pad_end[i];
    }
    const int64_t n_count = c.x[0], cin = c.x[1], cg = cin / c.group, cout = c.mg * c.group;
    out_shape = {n_count, cout};
    for (size_t i = 0; i < nd; ++i) out_shape.push_back(o[3 - nd + i]);
    const int64_t osize = o[0] * o[1] * o[2], isize = in[0] * in[1] * in[2], ksize = k[0] * k[1] * k[2];
    out.assign(static_cast<size_t>(n_count * cout * osize), 0.0);
    scale = out;
    for (int64_t n = 0; n < n_count; ++n)
        for (int64_t oc = 0; oc < cout; ++oc)
            for (int64_t i = 0; i < osize; ++i) {
                out[(n * cout + oc) * osize + i] = b ? b->data<float>()[oc] : 0.0;
                scale[(n * cout + oc) * osize + i] = std::fabs(out[(n * cout + oc) * osize + i]);
            }
    for (int64_t n = 0; n < n_count; ++n)
        for (int64_t ic = 0; ic < cin; ++ic)
            for (int64_t i = 0; i < isize; ++i) {
                const int64_t iz = i / (in[1] * in[2]), iy = i / in[2] % in[1], ix = i % in[2];
                const double xv = x.data<float>()[(n * cin + ic) * isize + i];
                for (int64_t m = 0; m < c.mg; ++m) {
                    const int64_t oc = ic / cg * c.mg + m;
                    for (int64_t t = 0; t < ksize; ++t) {
                        const int64_t kz = t / (k[1] * k[2]), ky = t / k[2] % k[1], kx = t % k[2];
                        const int64_t oz = iz * s[0] - p[0] + kz * d[0], oy = iy * s[1] - p[1] + ky * d[1],
                                      ox = ix * s[2] - p[2] + kx * d[2];
                        if (oz < 0 || oz >= o[0] || oy < 0 || oy >= o[1] || ox < 0 || ox >= o[2]) continue;
                        const double term = xv * w.data<float>()[(ic * c.mg + m) * ksize + t];
                        const size_t at = static_cast<size_t>((n * cout + oc) * osize + (oz * o[1] + oy) * o[2] + ox);
                        out[at] += term;
                        scale[at] += std::fabs(term);
                    }
                }
            }
}

TEST(ConvTranspose, RandomShapesMatchNaive) {
    std::mt19937 rng(77);
    auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
    for (int trial = 0; trial < 40; ++trial) {
        TransposeCase c;
        const size_t nd = 1 + trial % 3;
        c.group = pick(1, 3);
        c.mg = pick(1, 4);
        c.x = {pick(1, 2), c.group * pick(1, 4)};
        for (size_t i = 0; i < nd; ++i) {
            c.x.push_back(pick(1, nd == 3 ? 4 : 7));
            c.k.push_back(pick(1, 3));
            c.s.push_back(pick(1, 3));
            c.d.push_back(pick(1, 2));
            c.output_padding.push_back(pick(0, std::min<int>(c.s.back(), c.d.back()) - 1));
            c.pad_begin.push_back(pick(0, (c.k.back() - 1) * c.d.back() / 2));
            c.pad_end.push_back(pick(0, (c.k.back() - 1) * c.d.back() / 2));
        }
        Shape wshape = {c.x[1], c.mg};
        wshape.insert(wshape.end(), c.k.begin(), c.k.end());
        const Tensor x = random_tensor(c.x, rng), w = random_tensor(wshape, rng), b = random_tensor({c.mg * c.group}, rng);
        const bool with_bias = trial % 3 != 0;
        Shape want_shape;
        std::vector<double> want, scale;
        naive_conv_transpose(c, x, w, with_bias ? &b : nullptr, want_shape, want, scale);
        std::vector<int64_t> pads = c.pad_begin;
        pads.insert(pads.end(), c.pad_end.begin(), c.pad_end.end());
        const Tensor y = run_op("ConvTranspose", {&x, &w, with_bias ? &b : nullptr},
                                {Attribute::make_ints("strides", c.s), Attribute::make_ints("dilations", c.d),
                                 Attribute::make_ints("pads", pads), Attribute::make_ints("output_padding", c.output_padding),
                                 Attribute::make_int("group", c.group)});
        ASSERT_EQ(y.shape(), want_shape) << "trial " << trial;
        for (size_t i = 0; i < want.size(); ++i)
            ASSERT_NEAR(y.data<float>()[i], want[i], kRelTol * scale[i] + 1e-30) << "trial " << trial << " element " << i;
    }
}

TEST(ConvTranspose, OutputShapeAndAutoPadDerivePads) {
    std::mt19937 rng(8);
    const Tensor x = random_tensor({1, 2, 4, 5}, rng), w = random_tensor({2, 3, 3, 3}, rng);
    // stride 2, k 3: the unpadded output is 9 × 11
    struct Expect {
        std::vector<Attribute> attrs;
        std::vector<int64_t> pad_begin, pad_end;
    };
    const std::vector<Expect> cases = {
        {{Attribute::make_ints("output_shape", {8, 10})}, {1, 1}, {0, 0}},   // odd pad goes first by default
        {{Attribute::make_ints("output_shape", {7, 9})}, {1, 1}, {1, 1}},
        {{Attribute::make_string("auto_pad", "SAME_UPPER")}, {0, 0}, {1, 1}},  // out = in·stride
        {{Attribute::make_string("auto_pad", "SAME_LOWER")}, {1, 1}, {0, 0}},
    };
    for (const auto& e : cases) {
        TransposeCase c{x.shape(), 3, 1, {3, 3}, {2, 2}, {1, 1}, e.pad_begin, e.pad_end, {0, 0}};
        Shape want_shape;
        std::vector<double> want, scale;
        naive_conv_transpose(c, x, w, nullptr, want_shape, want, scale);
        auto attrs = e.attrs;
        attrs.push_back(Attribute::make_ints("strides", {2, 2}));
        const Tensor y = run_op("ConvTranspose", {&x, &w}, attrs);
        ASSERT_EQ(y.shape(), want_shape) << e.attrs[0].name;
        for (size_t i = 0; i < want.size(); ++i)
            ASSERT_NEAR(y.data<float>()[i], want[i], kRelTol * scale[i] + 1e-30) << e.attrs[0].name << " element " << i;
    }
}

TEST(ConvTranspose, BitIdenticalAtOneAndTwoThreads) {
    std::mt19937 rng(10);
    const Tensor x = random_tensor({4, 6, 9, 9}, rng), w = random_tensor({6, 4, 3, 3}, rng), b = random_tensor({8}, rng);
    const std::vector<Attribute> attrs = {Attribute::make_ints("strides", {2, 2}), Attribute::make_int("group", 2),
                                          Attribute::make_ints("pads", {1, 1, 1, 1})};
    set_num_threads(1);
    const Tensor one = run_op("ConvTranspose", {&x, &w, &b}, attrs);
    set_num_threads(2);
    const Tensor two = run_op("ConvTranspose", {&x, &w, &b}, attrs);
    set_num_threads(0);
    EXPECT_TRUE(one == two);
}

}  // namespace
}  // namespace qcp
