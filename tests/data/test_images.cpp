#include <gtest/gtest.h>

#include "data/test_data_util.hpp"
#include "qcp/core/parallel.hpp"
#include "qcp/data/dataset.hpp"
#include "qcp/data/readers.hpp"

#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#include <stb/stb_image_write.h>
#pragma GCC diagnostic pop

namespace qcp::data {
namespace {

using test::expect_error;

constexpr float kResizeTol = 1e-6f;
constexpr float kJpegTol = 3.0f / 255.0f;  // a flat colour survives JPEG within a few levels
// committed files (see fixtures/README.md); __FILE__ is the absolute source path under CMake
const std::filesystem::path kFixtures = std::filesystem::path(__FILE__).parent_path() / "fixtures";

// Writes a PNG of h × w pixels with c interleaved channels.
void write_png(const std::filesystem::path& p, int h, int w, int c, const std::vector<uint8_t>& pixels) {
    ASSERT_EQ(pixels.size(), static_cast<size_t>(h * w * c));
    ASSERT_TRUE(stbi_write_png(p.c_str(), w, h, c, pixels.data(), w * c));
}

std::vector<uint8_t> ramp(size_t n, unsigned start) {
    std::vector<uint8_t> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(start + 11 * i);
    return v;
}

TEST(ImageFolder, GrayPngsSortedByNameOthersIgnored) {
    test::TempDir dir;
    write_png(dir / "b.png", 3, 4, 1, ramp(12, 100));
    write_png(dir / "a.png", 3, 4, 1, ramp(12, 0));
    write_png(dir / "c.PNG", 3, 4, 1, ramp(12, 50));
    write_png(dir / ".hidden.png", 3, 4, 1, ramp(12, 7));
    test::write_bytes(dir / "labels.txt", "1\n2\n3\n");
    auto data = open_dataset(dir.path(), {}, {-1, 1, 3, 4});
    EXPECT_EQ(data->size(), 3);
    EXPECT_EQ(data->sample_shape(), (Shape{1, 3, 4}));
    const Tensor t = data->read(0, 3);
    const unsigned starts[3] = {0, 100, 50};
    for (int n = 0; n < 3; ++n) {
        const auto want = ramp(12, starts[n]);
        for (int i = 0; i < 12; ++i) ASSERT_EQ(t.data<float>()[n * 12 + i], want[static_cast<size_t>(i)] / 255.0f);
    }
    // streaming reads agree with the big one, on one thread or two
    auto part = data->read(1, 2).to_float_vector();
    EXPECT_EQ(part, std::vector<float>(t.data<float>() + 12, t.data<float>() + 36));
    set_num_threads(1);
    EXPECT_EQ(data->read(0, 3).to_float_vector(), t.to_float_vector());
    set_num_threads(0);
}

TEST(ImageFolder, RgbInBothLayoutsWithPerChannelNormalisation) {
    test::TempDir dir;
    const auto px = ramp(2 * 3 * 3, 5);  // 2 × 3 RGB
    write_png(dir / "x.png", 2, 3, 3, px);
    ImageOptions o;
    o.mean = {0.1f, 0.2f, 0.3f};
    o.std = {0.5f, 0.25f, 2.0f};
    auto nchw = open_dataset(dir.path(), o, {});
    EXPECT_EQ(nchw->sample_shape(), (Shape{3, 2, 3}));
    o.layout = Layout::NHWC;
    auto nhwc = open_dataset(dir.path(), o, {});
    EXPECT_EQ(nhwc->sample_shape(), (Shape{2, 3, 3}));
    const Tensor a = nchw->read(0, 1), b = nhwc->read(0, 1);
    for (int p = 0; p < 6; ++p)
        for (int c = 0; c < 3; ++c) {
            const float want = (px[static_cast<size_t>(p * 3 + c)] / 255.0f - o.mean[c]) / o.std[c];
            ASSERT_EQ(a.data<float>()[c * 6 + p], want);
            ASSERT_EQ(b.data<float>()[p * 3 + c], want);
        }
}

TEST(ImageFolder, ChannelsFollowTheModel) {
    test::TempDir dir;
    write_png(dir / "rgb.png", 1, 2, 3, {255, 0, 0, 10, 20, 30});
    auto gray = open_dataset(dir.path(), {}, {-1, 1, -1, -1});
    EXPECT_EQ(gray->sample_shape(), (Shape{1, 1, 2}));
    const auto g = gray->read(0, 1).to_float_vector();
    EXPECT_FLOAT_EQ(g[0], 0.299f);
    EXPECT_FLOAT_EQ(g[1], (0.299f * 10 + 0.587f * 20 + 0.114f * 30) / 255.0f);

    test::TempDir dir2;
    write_png(dir2 / "gray.png", 1, 2, 1, {40, 80});
    ImageOptions o;
    o.channels = 3;
    auto rgb = open_dataset(dir2.path(), o, {});
    EXPECT_EQ(rgb->read(0, 1).to_float_vector(),
              (std::vector<float>{40 / 255.0f, 80 / 255.0f, 40 / 255.0f, 80 / 255.0f, 40 / 255.0f, 80 / 255.0f}));
}

TEST(ImageFolder, ResizeIsBilinearUpAndAreaWeightedDown) {
    test::TempDir dir;
    write_png(dir / "x.png", 1, 2, 1, {0, 255});
    ImageOptions o;
    o.height = 1;
    o.width = 4;
    const auto up = open_dataset(dir.path(), o, {})->read(0, 1).to_float_vector();
    const std::vector<float> want_up = {0.0f, 0.25f, 0.75f, 1.0f};  // half-pixel centres, clamped edges
    for (size_t i = 0; i < 4; ++i) EXPECT_NEAR(up[i], want_up[i], kResizeTol);

    // 4 → 2: the triangle widens to 2 input pixels; output 0 weighs inputs 0, 1, 2 by 3:3:1
    const std::vector<float> row = {0.0f, 1.0f, 2.0f, 3.0f};
    const auto down = resize_hwc(row.data(), 1, 4, 1, 1, 2);
    EXPECT_NEAR(down[0], (0.75f * 1 + 0.25f * 2) / 1.75f, kResizeTol);
    EXPECT_NEAR(down[1], 3.0f - (0.75f * 1 + 0.25f * 2) / 1.75f, kResizeTol);

    // the model's size is the default target; a flat image stays flat
    test::TempDir dir2;
    write_png(dir2 / "flat.png", 8, 6, 1, std::vector<uint8_t>(48, 77));
    auto data = open_dataset(dir2.path(), {}, {-1, 1, 3, 5});
    EXPECT_EQ(data->sample_shape(), (Shape{1, 3, 5}));
    for (float v : data->read(0, 1).to_float_vector()) EXPECT_NEAR(v, 77 / 255.0f, kResizeTol);
}

TEST(ImageFolder, ModelSizeResizesImagesOfDifferentSizes) {
    test::TempDir dir;
    write_png(dir / "a.png", 4, 4, 1, std::vector<uint8_t>(16, 10));
    write_png(dir / "b.png", 6, 2, 1, std::vector<uint8_t>(12, 20));
    auto data = open_dataset(dir.path(), {}, {-1, 1, 4, 4});
    const auto t = data->read(0, 2).to_float_vector();
    EXPECT_NEAR(t[0], 10 / 255.0f, kResizeTol);
    EXPECT_NEAR(t[31], 20 / 255.0f, kResizeTol);
    expect_error([&] { open_dataset(dir.path(), {}, {})->read(0, 2); }, {"b.png", "6x2 (HxW)", "first image is 4x4"});
}

TEST(ImageFolder, Jpeg) {
    test::TempDir dir;
    std::filesystem::copy_file(kFixtures / "flat_200_100_50.jpg", dir / "x.jpg");
    auto data = open_dataset(dir.path(), {}, {});
    EXPECT_EQ(data->sample_shape(), (Shape{3, 8, 8}));
    const auto t = data->read(0, 1).to_float_vector();
    const float want[3] = {200 / 255.0f, 100 / 255.0f, 50 / 255.0f};
    for (size_t i = 0; i < t.size(); ++i) ASSERT_NEAR(t[i], want[i / 64], kJpegTol);
}

TEST(ImageFolder, Errors) {
    test::TempDir dir;
    test::write_bytes(dir / "notes.txt", "hello");
    expect_error([&] { open_dataset(dir.path(), {}, {}); }, {dir.path().string(), "no PNG or JPEG files"});

    test::write_bytes(dir / "a.png", "\x89PNG\r\n\x1a\n-not-really");
    expect_error([&] { open_dataset(dir.path(), {}, {}); }, {"a.png", "unreadable image"});
    expect_error([&] { open_dataset(dir / "a.png", {}, {}); }, {"a.png", "single image", "folder"});

    test::TempDir dir2;
    write_png(dir2 / "a.png", 2, 2, 1, {1, 2, 3, 4});
    test::write_bytes(dir2 / "b.jpg", "\xFF\xD8\xFF garbage");
    auto data = open_dataset(dir2.path(), {}, {});
    EXPECT_EQ(data->read(0, 1).dim(0), 1);
    expect_error([&] { data->read(0, 2); }, {"b.jpg", "unreadable image"});

    ImageOptions o;
    o.mean = {0.1f, 0.2f};
    expect_error([&] { open_dataset(dir2.path(), o, {}); }, {"mean has 2 values", "1 channels"});
    ImageOptions bad_std;
    bad_std.std = {0.0f};
    expect_error([&] { open_dataset(dir2.path(), bad_std, {}); }, {"std", "non-zero"});
    ImageOptions half_size;
    half_size.height = 4;
    expect_error([&] { open_dataset(dir2.path(), half_size, {}); }, {"both height and width"});
    ImageOptions four;
    four.channels = 4;
    expect_error([&] { open_dataset(dir2.path(), four, {}); }, {"channels must be 1 or 3"});
}

}  // namespace
}  // namespace qcp::data
