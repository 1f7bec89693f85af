// Pad and Resize against naive loops written from the ONNX definitions (float64 coordinates).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "qcp/core/error.hpp"
#include "qcp/core/parallel.hpp"
#include "qcp/engine/kernel.hpp"
#include "kernel_test_util.hpp"

namespace qcp {
namespace {

using ir::Attribute;

// linear interpolation: |qcp − naive| relative to max(1, |naive|)
constexpr double kLinearTol = 1e-6;

using test::run_op;

Tensor random_tensor(Shape shape, std::mt19937& rng) {
    std::normal_distribution<float> n(0.0f, 1.0f);
    Tensor t(DType::Float32, std::move(shape));
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = n(rng);
    return t;
}

template <typename Fn>
void expect_error_naming_node(Fn&& fn, const std::string& what) {
    try {
        fn();
        ADD_FAILURE() << what << ": accepted";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("node_under_test"), std::string::npos) << what << ": " << e.what();
    }
}

// ---- Pad ----

// Source index of padded index i (already shifted by pad_begin) per mode, by repeated reflection
// as numpy.pad does; -1 for the constant.
int64_t naive_pad_source(int64_t i, int64_t n, const std::string& mode) {
    if (i >= 0 && i < n) return i;
    if (mode == "constant") return -1;
    if (mode == "edge") return std::clamp<int64_t>(i, 0, n - 1);
    if (mode == "wrap") return ((i % n) + n) % n;
    while (i < 0 || i >= n) i = i < 0 ? -i : 2 * (n - 1) - i;  // reflect
    return i;
}

TEST(Pad, EveryModeMatchesNaiveWithAttributeAndInputForms) {
    std::mt19937 rng(1);
    const Tensor x = random_tensor({2, 3, 4, 5}, rng);
    const std::vector<int64_t> pads = {0, 2, 3, 1, 1, 0, 2, 6};  // begins, then ends
    for (const std::string mode : {"constant", "reflect", "edge", "wrap"}) {
        Shape out_shape(4);
        for (size_t d = 0; d < 4; ++d) out_shape[d] = x.dim(d) + pads[d] + pads[d + 4];
        Tensor want(DType::Float32, out_shape);
        for (int64_t o = 0; o < want.numel(); ++o) {
            int64_t rem = o, src = 0, stride = 1;
            bool constant = false;
            for (size_t d = 4; d-- > 0;) {
                const int64_t i = naive_pad_source(rem % out_shape[d] - pads[d], x.dim(d), mode);
                rem /= out_shape[d];
                constant |= i < 0;
                src += i * stride;
                stride *= x.dim(d);
            }
            want.data<float>()[o] = constant ? 0.75f : x.data<float>()[src];
        }
        const Tensor pads_t = Tensor::from_int64s({8}, pads);
        const Tensor value = Tensor::scalar_float(0.75f);
        const Tensor a = run_op("Pad", {&x, &pads_t, &value}, {Attribute::make_string("mode", mode)}, 13)[0];
        EXPECT_EQ(a, want) << mode << " opset 13";
        if (mode == "wrap") continue;  // wrap is opset 19+
        const Tensor b = run_op("Pad", {&x}, {Attribute::make_string("mode", mode), Attribute::make_ints("pads", pads),
                                             Attribute::make_float("value", 0.75f)}, 10)[0];
        EXPECT_EQ(b, want) << mode << " opset 10";
    }
}

TEST(Pad, ReflectPastTheEdgeFollowsNumpy) {
    const Tensor x = Tensor::from_floats({3}, {1, 2, 3});
    const Tensor pads = Tensor::from_int64s({2}, {5, 4});
    const Tensor y = run_op("Pad", {&x, &pads}, {Attribute::make_string("mode", "reflect")}, 13)[0];
    // numpy.pad([1, 2, 3], (5, 4), mode="reflect")
    EXPECT_EQ(y.to_float_vector(), (std::vector<float>{2, 1, 2, 3, 2, 1, 2, 3, 2, 1, 2, 3}));
}

TEST(Pad, NegativePadsCropAndAxesSelectDimensions) {
    std::mt19937 rng(2);
    const Tensor x = random_tensor({3, 4, 5}, rng);
    const Tensor crop = Tensor::from_int64s({6}, {-1, 0, 2, 0, -2, -1});
    const Tensor y = run_op("Pad", {&x, &crop}, {}, 13)[0];
    ASSERT_EQ(y.shape(), (Shape{2, 2, 6}));
    for (int64_t a = 0; a < 2; ++a)
        for (int64_t b = 0; b < 2; ++b)
            for (int64_t c = 0; c < 6; ++c) {
                const float want = c < 2 ? 0.0f : x.data<float>()[((a + 1) * 4 + b) * 5 + c - 2];
                EXPECT_EQ(y.data<float>()[(a * 2 + b) * 6 + c], want);
            }
    // axes (opset 18): pads for dims 2 and 0 only
    const Tensor pads = Tensor::from_int64s({4}, {1, 2, 3, 0});
    const Tensor axes = Tensor::from_int64s({2}, {-1, 0});
    const Tensor full = Tensor::from_int64s({6}, {2, 0, 1, 0, 0, 3});
    EXPECT_EQ(run_op("Pad", {&x, &pads, nullptr, &axes}, {Attribute::make_string("mode", "edge")}, 18)[0],
              run_op("Pad", {&x, &full}, {Attribute::make_string("mode", "edge")}, 13)[0]);
}

TEST(Pad, IntegerTensorsKeepTheirType) {
    Tensor x(DType::Int64, {2, 2});
    for (int64_t i = 0; i < 4; ++i) x.data<int64_t>()[i] = i + 10;
    const Tensor pads = Tensor::from_int64s({4}, {0, 1, 1, 0});
    const Tensor value = Tensor::from_int64s({}, {-7});
    const Tensor y = run_op("Pad", {&x, &pads, &value}, {}, 13)[0];
    ASSERT_EQ(y.dtype(), DType::Int64);
    EXPECT_EQ(y.to_int64_vector(), (std::vector<int64_t>{-7, 10, 11, -7, 12, 13, -7, -7, -7}));
}

TEST(Pad, BadInputsAreRefusedNamingTheNode) {
    const Tensor x = Tensor::from_floats({2, 2}, {1, 2, 3, 4});
    const Tensor short_pads = Tensor::from_int64s({2}, {1, 1});
    const Tensor too_negative = Tensor::from_int64s({4}, {-2, 0, -1, 0});
    expect_error_naming_node([&] { run_op("Pad", {&x, &short_pads}, {}, 13); }, "pads count");
    expect_error_naming_node([&] { run_op("Pad", {&x, &too_negative}, {}, 13); }, "over-crop");
    expect_error_naming_node([&] { run_op("Pad", {&x, &short_pads}, {Attribute::make_string("mode", "mirror")}, 13); }, "mode");
}

// ---- Resize ----

// Input coordinate of output index o (ONNX Resize definitions, in double).
double naive_coordinate(const std::string& mode, double o, double scale, double in, double out) {
    if (mode == "asymmetric") return o / scale;
    if (mode == "align_corners") return out == 1 ? 0 : o * (in - 1) / (out - 1);
    if (mode == "pytorch_half_pixel") return out > 1 ? (o + 0.5) / scale - 0.5 : 0;
    if (mode == "tf_half_pixel_for_nn") return (o + 0.5) / scale;
    return (o + 0.5) / scale - 0.5;  // half_pixel
}

int64_t naive_nearest(const std::string& mode, double c) {
    if (mode == "floor") return static_cast<int64_t>(std::floor(c));
    if (mode == "ceil") return static_cast<int64_t>(std::ceil(c));
    const bool tie = c - std::floor(c) == 0.5;
    if (tie) return static_cast<int64_t>(mode == "round_prefer_ceil" ? std::ceil(c) : std::floor(c));
    return static_cast<int64_t>(std::round(c));
}

// Resize of the last two dims of a (N, C, H, W) tensor to (oh, ow) with scales sh, sw.
Tensor naive_resize(const Tensor& x, int64_t oh, int64_t ow, double sh, double sw, const std::string& mode,
                    const std::string& coord, const std::string& nearest) {
    const int64_t planes = x.dim(0) * x.dim(1), H = x.dim(2), W = x.dim(3);
    Tensor y(DType::Float32, {x.dim(0), x.dim(1), oh, ow});
    for (int64_t p = 0; p < planes; ++p)
        for (int64_t i = 0; i < oh; ++i)
            for (int64_t j = 0; j < ow; ++j) {
                const double ch = naive_coordinate(coord, double(i), sh, double(H), double(oh));
                const double cw = naive_coordinate(coord, double(j), sw, double(W), double(ow));
                auto at = [&](int64_t h, int64_t w) { return double(x.data<float>()[(p * H + h) * W + w]); };
                double v;
                if (mode == "nearest") {
                    v = at(std::clamp<int64_t>(naive_nearest(nearest, ch), 0, H - 1),
                           std::clamp<int64_t>(naive_nearest(nearest, cw), 0, W - 1));
                } else {
                    const double h = std::clamp(ch, 0.0, double(H - 1)), w = std::clamp(cw, 0.0, double(W - 1));
                    const int64_t h0 = static_cast<int64_t>(h), w0 = static_cast<int64_t>(w);
                    const int64_t h1 = std::min(h0 + 1, H - 1), w1 = std::min(w0 + 1, W - 1);
                    const double fh = h - h0, fw = w - w0;
                    v = (1 - fh) * ((1 - fw) * at(h0, w0) + fw * at(h0, w1)) + fh * ((1 - fw) * at(h1, w0) + fw * at(h1, w1));
                }
                y.data<float>()[(p * oh + i) * ow + j] = static_cast<float>(v);
            }
    return y;
}

void expect_linear_close(const Tensor& got, const Tensor& want, const std::string& what) {
    ASSERT_EQ(got.shape(), want.shape()) << what;
    for (int64_t i = 0; i < want.numel(); ++i)
        ASSERT_NEAR(got.data<float>()[i], want.data<float>()[i], kLinearTol * std::max(1.0f, std::fabs(want.data<float>()[i])))
            << what << " element " << i;
}

TEST(Resize, NearestMatchesNaiveForEveryCoordinateAndRoundingMode) {
    // scales that are exact in binary, so float and double coordinates agree, ties included
    std::mt19937 rng(3);
    const Tensor x = random_tensor({1, 2, 6, 8}, rng);
    for (const std::string coord : {"half_pixel", "asymmetric", "align_corners", "pytorch_half_pixel", "tf_half_pixel_for_nn"})
        for (const std::string nearest : {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"})
            for (const auto& [sh, sw] : {std::pair{2.0f, 0.5f}, std::pair{1.5f, 0.25f}, std::pair{0.5f, 2.5f}}) {
                const Tensor scales = Tensor::from_floats({4}, {1, 1, sh, sw});
                const auto oh = static_cast<int64_t>(sh * 6), ow = static_cast<int64_t>(sw * 8);
                const Tensor y = run_op("Resize", {&x, nullptr, &scales},
                                        {Attribute::make_string("mode", "nearest"),
                                         Attribute::make_string("coordinate_transformation_mode", coord),
                                         Attribute::make_string("nearest_mode", nearest)}, 13)[0];
                EXPECT_EQ(y, naive_resize(x, oh, ow, sh, sw, "nearest", coord, nearest))
                    << coord << " " << nearest << " scales " << sh << "," << sw;
            }
}

TEST(Resize, LinearMatchesNaiveBilinearForEveryCoordinateMode) {
    std::mt19937 rng(4);
    const Tensor x = random_tensor({2, 3, 5, 7}, rng);
    for (const std::string coord : {"half_pixel", "asymmetric", "align_corners", "pytorch_half_pixel"}) {
        for (const auto& [sh, sw] : {std::pair{2.0f, 0.5f}, std::pair{1.7f, 2.3f}, std::pair{0.6f, 0.45f}}) {
            const Tensor scales = Tensor::from_floats({4}, {1, 1, sh, sw});
            const auto oh = static_cast<int64_t>(sh * 5.0f), ow = static_cast<int64_t>(sw * 7.0f);
            const Tensor y = run_op("Resize", {&x, nullptr, &scales},
                                    {Attribute::make_string("mode", "linear"),
                                     Attribute::make_string("coordinate_transformation_mode", coord)}, 13)[0];
            expect_linear_close(y, naive_resize(x, oh, ow, sh, sw, "linear", coord, ""), coord + " scales");
        }
        // sizes: scale = out / in, including a length-1 output
        const Tensor sizes = Tensor::from_int64s({4}, {2, 3, 1, 12});
        const Tensor y = run_op("Resize", {&x, nullptr, nullptr, &sizes},
                                {Attribute::make_string("mode", "linear"),
                                 Attribute::make_string("coordinate_transformation_mode", coord)}, 13)[0];
        expect_linear_close(y, naive_resize(x, 1, 12, 1.0f / 5.0f, 12.0f / 7.0f, "linear", coord, ""), coord + " sizes");
    }
}

TEST(Resize, Opset10UsesAsymmetricCoordinatesAndLegacyRounding) {
    std::mt19937 rng(5);
    const Tensor x = random_tensor({1, 1, 4, 6}, rng);
    const Tensor scales = Tensor::from_floats({4}, {1, 1, 2, 0.5f});
    const Tensor y = run_op("Resize", {&x, &scales}, {Attribute::make_string("mode", "nearest")}, 10)[0];
    ASSERT_EQ(y.shape(), (Shape{1, 1, 8, 3}));
    for (int64_t i = 0; i < 8; ++i)
        for (int64_t j = 0; j < 3; ++j)  // upsampled rows truncate i / 2; downsampled columns take ceil(j / 0.5)
            EXPECT_EQ(y.data<float>()[i * 3 + j], x.data<float>()[(i / 2) * 6 + std::min<int64_t>(2 * j, 5)]);
    const Tensor lin = run_op("Resize", {&x, &scales}, {Attribute::make_string("mode", "linear")}, 10)[0];
    expect_linear_close(lin, naive_resize(x, 8, 3, 2, 0.5, "linear", "asymmetric", ""), "opset 10 linear");
}

TEST(Resize, AxesAndAspectRatioPolicyAtOpset18) {
    std::mt19937 rng(6);
    const Tensor x = random_tensor({1, 2, 4, 6}, rng);
    const Tensor sizes = Tensor::from_int64s({2}, {8, 9});
    const std::vector<Attribute> base = {Attribute::make_string("mode", "linear"), Attribute::make_ints("axes", {2, 3})};
    auto with_policy = [&](const std::string& p) {
        auto a = base;
        a.push_back(Attribute::make_string("keep_aspect_ratio_policy", p));
        return a;
    };
    // not_larger: scale min(8/4, 9/6) = 1.5 -> (6, 9); not_smaller: 2 -> (8, 12)
    const Tensor a = run_op("Resize", {&x, nullptr, nullptr, &sizes}, with_policy("not_larger"), 18)[0];
    expect_linear_close(a, naive_resize(x, 6, 9, 1.5, 1.5, "linear", "half_pixel", ""), "not_larger");
    const Tensor b = run_op("Resize", {&x, nullptr, nullptr, &sizes}, with_policy("not_smaller"), 18)[0];
    expect_linear_close(b, naive_resize(x, 8, 12, 2, 2, "linear", "half_pixel", ""), "not_smaller");
    const Tensor c = run_op("Resize", {&x, nullptr, nullptr, &sizes}, base, 18)[0];
    expect_linear_close(c, naive_resize(x, 8, 9, 2, 1.5, "linear", "half_pixel", ""), "stretch");
}

TEST(Resize, CropAndResizeExtrapolatesOutsideTheInput) {
    const Tensor x = Tensor::from_floats({1, 1, 2, 2}, {1, 2, 3, 4});
    const Tensor roi = Tensor::from_floats({8}, {0, 0, 0, 0, 1, 1, 1, 2});
    const Tensor sizes = Tensor::from_int64s({4}, {1, 1, 3, 3});
    const Tensor y = run_op("Resize", {&x, &roi, nullptr, &sizes},
                            {Attribute::make_string("mode", "linear"),
                             Attribute::make_string("coordinate_transformation_mode", "tf_crop_and_resize"),
                             Attribute::make_float("extrapolation_value", -1)}, 13)[0];
    // columns sample x = 0, 1, 2 of a width-2 input: the last is outside
    EXPECT_EQ(y.to_float_vector(), (std::vector<float>{1, 2, -1, 2, 3, -1, 3, 4, -1}));
}

TEST(Resize, ResultsAreBitIdenticalAtOneAndTwoThreads) {
    std::mt19937 rng(7);
    const Tensor x = random_tensor({2, 8, 30, 30}, rng);
    const Tensor scales = Tensor::from_floats({4}, {1, 1, 1.7f, 0.8f});
    auto run_both = [&] {
        return std::vector<Tensor>{
            run_op("Resize", {&x, nullptr, &scales}, {Attribute::make_string("mode", "linear")}, 13)[0],
            run_op("Resize", {&x, nullptr, &scales}, {Attribute::make_string("mode", "nearest")}, 13)[0]};
    };
    set_num_threads(1);
    const auto a = run_both();
    set_num_threads(2);
    const auto b = run_both();
    set_num_threads(0);
    EXPECT_EQ(a[0], b[0]);
    EXPECT_EQ(a[1], b[1]);
}

TEST(Resize, UnsupportedModesAreRefusedNamingTheNode) {
    const Tensor x = Tensor::from_floats({1, 1, 2, 2}, {1, 2, 3, 4});
    const Tensor up = Tensor::from_floats({4}, {1, 1, 2, 2});
    const Tensor down = Tensor::from_floats({4}, {1, 1, 0.5f, 0.5f});
    const Tensor sizes = Tensor::from_int64s({4}, {1, 1, 4, 4});
    expect_error_naming_node([&] { run_op("Resize", {&x, nullptr, &up}, {Attribute::make_string("mode", "lanczos")}, 13); }, "lanczos");
    expect_error_naming_node([&] {
        run_op("Resize", {&x, nullptr, &down}, {Attribute::make_string("mode", "linear"), Attribute::make_int("antialias", 1)}, 18);
    }, "antialias");
    expect_error_naming_node([&] { run_op("Resize", {&x, nullptr, &up, &sizes}, {}, 13); }, "scales and sizes");
    expect_error_naming_node([&] { run_op("Resize", {&x, nullptr, nullptr}, {}, 13); }, "neither scales nor sizes");
}

}  // namespace
}  // namespace qcp
