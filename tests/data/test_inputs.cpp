// Issue 14, "Inputs": BGR and aspect-keeping resize with padding against hand-computed tensors,
// --input-shape / --input-value parsing and checks, and feeding several inputs.
#include <gtest/gtest.h>

#include "data/test_data_util.hpp"
#include "qcp/core/npy.hpp"
#include "qcp/data/dataset.hpp"
#include "qcp/data/inputs.hpp"
#include "qcp/data/readers.hpp"

namespace qcp::data {
namespace {

using test::expect_error;

constexpr float kTol = 1e-6f;

// A 1 × 2 RGB image (HWC) of two pixels P and Q, as decoded: values in [0, 1].
const float kP[3] = {0.2f, 0.4f, 0.6f}, kQ[3] = {1.0f, 0.0f, 0.8f};

SampleTransform two_pixel_transform() {
    SampleTransform t;
    t.image = true;
    t.src_h = 1, t.src_w = 2, t.src_c = 3;
    t.src_layout = Layout::NHWC;
    t.h = 2, t.w = 8, t.c = 3;
    t.layout = Layout::NCHW;
    t.sample_shape = {3, 2, 8};
    return t;
}

TEST(InputsPreprocess, BgrFitPadMatchesHandComputedTensor) {
    // PaddleOCR rec style: height 2 kept, width ceil(2 · 2/1) = 4 of 8, (x - 0.5) / 0.5, pad right with -7.
    SampleTransform t = two_pixel_transform();
    t.bgr = true;
    t.fit = true;
    t.pad = -7.0f;
    t.mean = {0.5f};
    t.std = {0.5f};
    const float src[6] = {kP[0], kP[1], kP[2], kQ[0], kQ[1], kQ[2]};
    std::vector<float> got(48);
    t.apply(src, got.data());
    // Bilinear ×2 with half-pixel centres (PIL): columns P, 3/4 P + 1/4 Q, 1/4 P + 3/4 Q, Q.
    for (int ch = 0; ch < 3; ++ch) {
        const int rgb = 2 - ch;  // BGR: model channel 0 is blue
        const float p = kP[rgb], q = kQ[rgb];
        const float cols[4] = {p, 0.75f * p + 0.25f * q, 0.25f * p + 0.75f * q, q};
        for (int y = 0; y < 2; ++y)
            for (int x = 0; x < 8; ++x) {
                const float want = x < 4 ? (cols[x] - 0.5f) / 0.5f : -7.0f;
                EXPECT_NEAR(got[static_cast<size_t>((ch * 2 + y) * 8 + x)], want, kTol) << "ch " << ch << " y " << y << " x " << x;
            }
    }
}

TEST(InputsPreprocess, StretchAndRgbAreTheDefault) {
    SampleTransform t = two_pixel_transform();
    t.h = 1, t.w = 2, t.sample_shape = {3, 1, 2};
    const float src[6] = {kP[0], kP[1], kP[2], kQ[0], kQ[1], kQ[2]};
    std::vector<float> got(6);
    t.apply(src, got.data());
    const std::vector<float> want = {kP[0], kQ[0], kP[1], kQ[1], kP[2], kQ[2]};  // NCHW, RGB
    for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], kTol) << i;
}

TEST(InputsPreprocess, FitPadsBottomForWideImages) {
    // 1 × 4 into 4 × 4: the width fills (4), height ceil(4 · 1/4) = 1; rows 1..3 are padding.
    SampleTransform t;
    t.image = true;
    t.src_h = 1, t.src_w = 4, t.src_c = 1, t.src_layout = Layout::NHWC;
    t.h = 4, t.w = 4, t.c = 1, t.layout = Layout::NCHW, t.sample_shape = {1, 4, 4};
    t.fit = true;
    t.pad = 9.0f;
    const float src[4] = {0.1f, 0.2f, 0.3f, 0.4f};
    std::vector<float> got(16);
    t.apply(src, got.data());
    for (int y = 0; y < 4; ++y)
        for (int x = 0; x < 4; ++x) EXPECT_NEAR(got[static_cast<size_t>(y * 4 + x)], y == 0 ? src[x] : 9.0f, kTol);
}

TEST(InputsPreprocess, FitSizeFollowsPaddleOcrRec) {
    int64_t rh = 0, rw = 0;
    fit_size(32, 100, 48, 320, rh, rw);  // ceil(48 · 100 / 32) = 150
    EXPECT_EQ(rh, 48);
    EXPECT_EQ(rw, 150);
    fit_size(33, 100, 48, 320, rh, rw);  // 145.45… → 146
    EXPECT_EQ(rw, 146);
    fit_size(10, 100, 48, 320, rh, rw);  // wider than 48 × 320: width 320, height ceil(320 · 10 / 100) = 32
    EXPECT_EQ(rh, 32);
    EXPECT_EQ(rw, 320);
}

TEST(InputsPreprocess, OptionSpellings) {
    EXPECT_FALSE(parse_channel_order("RGB"));
    EXPECT_TRUE(parse_channel_order("bgr"));
    expect_error([] { parse_channel_order("brg"); }, {"brg", "rgb or bgr"});
    EXPECT_FALSE(parse_resize_mode("stretch"));
    EXPECT_TRUE(parse_resize_mode("fit"));
    expect_error([] { parse_resize_mode("crop"); }, {"crop", "stretch or fit"});
}

TEST(InputShapes, ParsesAndRefusesBadText) {
    const InputShape s = parse_input_shape("x=1,3,48,320");
    EXPECT_EQ(s.name, "x");
    EXPECT_EQ(s.dims, (Shape{1, 3, 48, 320}));
    for (const char* bad : {"x", "x=", "=1,2", "x=1,,2", "x=0,3", "x=1,a", "x=-1,3", "x=1,3,"})
        expect_error([&] { parse_input_shape(bad); }, {"--input-shape", bad, "NAME=d0,d1"});
    EXPECT_DOUBLE_EQ(parse_input_value("s=0.25").value, 0.25);
    expect_error([] { parse_input_value("s=abc"); }, {"--input-value", "s=abc"});
    expect_error([] { parse_input_value("s"); }, {"--input-value"});
}

std::vector<ModelInput> two_inputs() {
    return {{"x", DType::Float32, {-1, 3, -1, -1}, false}, {"s", DType::Float32, {-1, 4}, false}};
}

TEST(InputShapes, FixesDynamicDimsAndChecksStaticOnes) {
    const auto in = apply_input_shapes(two_inputs(), {{"x", {1, 3, 48, 320}}});
    EXPECT_EQ(in[0].shape, (Shape{1, 3, 48, 320}));
    EXPECT_TRUE(in[0].dynamic_batch);
    EXPECT_EQ(in[1].shape, (Shape{-1, 4}));
    expect_error([] { apply_input_shapes(two_inputs(), {{"y", {1}}}); }, {"no input 'y'", "inputs: x, s"});
    expect_error([] { apply_input_shapes(two_inputs(), {{"x", {1, 3, 48}}}); }, {"x", "3 dims", "rank 4"});
    expect_error([] { apply_input_shapes(two_inputs(), {{"x", {1, 1, 48, 320}}}); }, {"x", "dim 1 is 1", "fixes it to 3"});
    expect_error([] { apply_input_shapes(two_inputs(), {{"s", {1, 4}}, {"s", {1, 4}}}); }, {"s", "twice"});
}

// Writes float32 .npy data whose element i is base + i.
std::filesystem::path write_npy(const std::filesystem::path& p, const Shape& shape, float base) {
    Tensor t(DType::Float32, shape);
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = base + static_cast<float>(i);
    npy::save(p, t);
    return p;
}

TEST(InputsFeed, EachInputGetsItsDataOrItsConstant) {
    test::TempDir dir;
    const auto x = write_npy(dir.path() / "x.npy", {5, 3, 2, 2}, 0.0f);
    const auto s = write_npy(dir.path() / "s.npy", {5, 4}, 1000.0f);
    std::vector<ModelInput> inputs = two_inputs();
    inputs.push_back({"t", DType::Float32, {-1, 2}, false});
    inputs.push_back({"k", DType::Int64, {1}, false});
    inputs = apply_input_shapes(inputs, {});
    // the named forms in any order; t gets --input-value, k the default 0
    auto ds = open_inputs(Sources{std::vector<std::string>{"s=" + s.string(), "x=" + x.string()}}, ImageOptions{}, inputs,
                          {{"t", 0.5}});
    EXPECT_EQ(ds->size(), 5);
    const std::vector<Tensor> batch = ds->read_inputs(1, 3);
    ASSERT_EQ(batch.size(), 4u);
    EXPECT_EQ(batch[0].shape(), (Shape{3, 3, 2, 2}));
    EXPECT_FLOAT_EQ(batch[0].data<float>()[0], 12.0f);  // sample 1 starts at element 12
    EXPECT_EQ(batch[1].shape(), (Shape{3, 4}));
    EXPECT_FLOAT_EQ(batch[1].data<float>()[0], 1004.0f);
    EXPECT_EQ(batch[2].shape(), (Shape{3, 2}));  // the dynamic batch follows the read
    for (int i = 0; i < 6; ++i) EXPECT_FLOAT_EQ(batch[2].data<float>()[i], 0.5f);
    EXPECT_EQ(batch[3].dtype(), DType::Int64);
    EXPECT_EQ(batch[3].shape(), (Shape{1}));  // a static batch stays
    EXPECT_EQ(batch[3].data<int64_t>()[0], 0);
    // read() is the first data-fed input's
    EXPECT_FLOAT_EQ(ds->read(1, 1).data<float>()[0], 12.0f);
}

TEST(InputsFeed, PlainPathFeedsTheFirstInput) {
    test::TempDir dir;
    const auto x = write_npy(dir.path() / "x.npy", {2, 3, 2, 2}, 0.0f);
    auto ds = open_inputs(Sources(x), ImageOptions{}, apply_input_shapes(two_inputs(), {}), {});
    const auto b = ds->read_inputs(0, 2);
    ASSERT_EQ(b.size(), 2u);
    EXPECT_EQ(b[1].shape(), (Shape{2, 4}));
    EXPECT_FLOAT_EQ(b[1].data<float>()[7], 0.0f);
}

TEST(InputsFeed, RefusesWhatCannotBeFed) {
    test::TempDir dir;
    const auto x = write_npy(dir.path() / "x.npy", {5, 3, 2, 2}, 0.0f);
    const auto s3 = write_npy(dir.path() / "s3.npy", {3, 4}, 0.0f);
    const auto in = apply_input_shapes(two_inputs(), {});
    // s fed, x has unknown H and W: neither data nor a usable shape
    expect_error([&] { open_inputs(Sources(std::vector<std::string>{"s=" + s3.string()}), {}, in, {}); },
                 {"input 'x'", "no data", "--input-shape x="});
    expect_error([&] { open_inputs(Sources(std::vector<std::string>{"x=" + x.string(), "s=" + s3.string()}), {}, in, {}); },
                 {"holds 3 samples", "holds 5", "same count"});
    expect_error([&] { open_inputs(Sources(std::vector<std::string>{x.string(), x.string()}), {}, in, {}); },
                 {"already has data", "NAME=PATH"});
    expect_error([&] { open_inputs(Sources(std::vector<std::string>{"q=" + x.string()}), {}, in, {}); }, {"no input 'q'"});
    expect_error([&] { open_inputs(Sources(x), {}, in, {{"x", 1.0}}); }, {"--input-value x", "already has data"});
    expect_error([&] { open_inputs(Sources(x), {}, in, {{"z", 1.0}}); }, {"--input-value z", "no input"});
    // the data must fit the input's shape
    expect_error([&] { open_inputs(Sources(std::vector<std::string>{"s=" + x.string()}), {}, in, {}); }, {"x.npy", "model input"});
}

}  // namespace
}  // namespace qcp::data
