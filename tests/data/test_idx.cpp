#include <gtest/gtest.h>

#include <cmath>

#include "data/test_data_util.hpp"
#include "qcp/data/dataset.hpp"
#include "qcp/data/readers.hpp"

namespace qcp::data {
namespace {

using test::expect_error;
using test::idx_bytes;
using test::ramp_bytes;

constexpr uint32_t kN = 7, kH = 5, kW = 3;
const char* const kFashionImages = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
const char* const kFashionLabels = "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz";

std::string small_idx() { return idx_bytes(0x08, {kN, kH, kW}, ramp_bytes(kN * kH * kW, 3)); }

void expect_pixels(const Tensor& t, int64_t first_sample, unsigned offset) {
    const int64_t per = kH * kW;
    for (int64_t i = 0; i < t.numel(); ++i) {
        const auto byte = static_cast<uint8_t>((first_sample * per + i + offset) & 0xFF);
        ASSERT_EQ(t.data<float>()[i], static_cast<float>(byte) / 255.0f) << "element " << i;
    }
}

TEST(IdxImages, RawAndGzipDecodeToScaledPixels) {
    test::TempDir dir;
    test::write_bytes(dir / "raw", small_idx());
    test::write_gzip(dir / "gz", small_idx());
    for (const char* name : {"raw", "gz"}) {
        auto data = open_dataset(dir / name, {}, {});
        EXPECT_EQ(data->size(), kN);
        EXPECT_EQ(data->sample_shape(), (Shape{1, kH, kW}));
        EXPECT_EQ(data->describe(), "IDX images (7, 5, 3) from " + (dir / name).string());
        const Tensor all = data->read(0, kN);
        EXPECT_EQ(all.shape(), (Shape{kN, 1, kH, kW}));
        expect_pixels(all, 0, 3);
    }
}

TEST(IdxImages, ChunkedReadsEqualOneReadAndBackwardsWorks) {
    test::TempDir dir;
    test::write_gzip(dir / "gz", small_idx());
    auto data = open_dataset(dir / "gz", {}, {-1, 1, kH, kW});
    const Tensor all = data->read(0, kN);
    std::vector<float> chunked;
    for (int64_t b = 0; b < kN; b += 3) {
        const Tensor part = data->read(b, std::min<int64_t>(3, kN - b));
        chunked.insert(chunked.end(), part.data<float>(), part.data<float>() + part.numel());
    }
    EXPECT_EQ(chunked, all.to_float_vector());
    const Tensor again = data->read(2, 2);  // backwards: re-reads the gzip stream
    expect_pixels(again, 2, 3);
    EXPECT_EQ(data->read(kN, 0).shape(), (Shape{0, 1, kH, kW}));
    expect_error([&] { data->read(kN - 1, 2); }, {"cannot read samples [6, 8) of 7"});
    expect_error([&] { data->read(-1, 1); }, {"cannot read samples"});
}

TEST(IdxImages, LayoutAndModelRankShapeTheSamples) {
    test::TempDir dir;
    test::write_bytes(dir / "raw", small_idx());
    ImageOptions nhwc;
    nhwc.layout = Layout::NHWC;
    EXPECT_EQ(open_dataset(dir / "raw", nhwc, {})->sample_shape(), (Shape{kH, kW, 1}));
    EXPECT_EQ(open_dataset(dir / "raw", {}, {-1, kH * kW})->sample_shape(), (Shape{kH * kW}));
    EXPECT_EQ(open_dataset(dir / "raw", {}, {-1, kH, kW})->sample_shape(), (Shape{kH, kW}));
    auto flat = open_dataset(dir / "raw", {}, {-1, kH * kW});
    expect_pixels(flat->read(1, 2), 1, 3);
}

TEST(IdxImages, MeanStdAndForcedChannels) {
    test::TempDir dir;
    test::write_bytes(dir / "raw", small_idx());
    ImageOptions o;
    o.mean = {0.5f};
    o.std = {0.25f};
    o.channels = 3;
    auto data = open_dataset(dir / "raw", o, {});
    EXPECT_EQ(data->sample_shape(), (Shape{3, kH, kW}));
    const Tensor t = data->read(0, 1);
    for (int64_t ch = 0; ch < 3; ++ch)
        for (int64_t p = 0; p < kH * kW; ++p) {
            const float x = static_cast<float>(p + 3) / 255.0f;
            ASSERT_EQ(t.data<float>()[ch * kH * kW + p], (x - 0.5f) / 0.25f);
        }
}

TEST(IdxImages, ExplicitSizeResizes) {
    test::TempDir dir;
    test::write_bytes(dir / "raw", idx_bytes(0x08, {1, 2, 2}, std::string(4, '\x66')));
    ImageOptions o;
    o.height = 4;
    o.width = 6;
    auto data = open_dataset(dir / "raw", o, {});
    EXPECT_EQ(data->sample_shape(), (Shape{1, 4, 6}));
    for (float v : data->read(0, 1).to_float_vector()) EXPECT_NEAR(v, 0x66 / 255.0f, 1e-6f);
}

TEST(IdxImages, Errors) {
    test::TempDir dir;
    expect_error([&] { open_dataset(dir / "missing", {}, {}); }, {"missing", "no such file"});

    test::write_bytes(dir / "magic", std::string("\0\0\x08\x07garbage-garbage", 19));
    expect_error([&] { open_dataset(dir / "magic", {}, {}); }, {"magic", "unrecognised data format"});
    ByteReader reader(dir / "magic");
    expect_error([&] { read_idx_header(reader); }, {"not an IDX file", "0x00000807"});

    test::write_bytes(dir / "labels", idx_bytes(0x08, {3}, "abc"));
    expect_error([&] { open_dataset(dir / "labels", {}, {}); }, {"labels", "expected images"});

    test::write_bytes(dir / "ints", idx_bytes(0x0C, {1, 1, 1}, "abcd"));
    expect_error([&] { open_dataset(dir / "ints", {}, {}); }, {"unsupported IDX data", "int32"});

    std::string cut = small_idx();
    cut.resize(cut.size() - 1);
    test::write_bytes(dir / "cut", cut);
    expect_error([&] { open_dataset(dir / "cut", {}, {}); }, {"cut", "truncated", "(7, 5, 3)", "104 bytes"});

    test::write_bytes(dir / "header", std::string("\0\0\x08\x03\0\0\0\x01", 8));
    expect_error([&] { open_dataset(dir / "header", {}, {}); }, {"header", "file ends early", "IDX header"});

    // 2^31 images of 2^31 x 1 pixels: rejected from the file size, before any allocation
    test::write_bytes(dir / "absurd", idx_bytes(0x08, {1u << 31, 1u << 31, 1}, "x"));
    expect_error([&] { open_dataset(dir / "absurd", {}, {}); }, {"absurd", "truncated"});
    test::write_gzip(dir / "absurd.gz", idx_bytes(0x08, {1u << 31, 1u << 31, 1}, "x"));
    expect_error([&] { open_dataset(dir / "absurd.gz", {}, {}); }, {"absurd.gz", "gzip file can hold"});
    test::write_bytes(dir / "overflow", idx_bytes(0x08, {0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF}, "x"));
    expect_error([&] { open_dataset(dir / "overflow", {}, {}); }, {"overflow", "absurd dims"});
}

TEST(IdxImages, TruncatedGzipFailsWhenTheStreamEnds) {
    test::TempDir dir;
    const std::string content = idx_bytes(0x08, {200, 28, 28}, ramp_bytes(200 * 28 * 28));
    test::write_gzip(dir / "full.gz", content);
    std::string gz = test::read_text(dir / "full.gz");
    gz.resize(gz.size() / 2);
    test::write_bytes(dir / "half.gz", gz);
    auto data = open_dataset(dir / "half.gz", {}, {});  // the header is intact
    EXPECT_EQ(data->size(), 200);
    expect_error([&] { data->read(0, 200); }, {"half.gz", "file ends early", "truncated gzip stream"});
}

TEST(IdxLabels, RawGzipAndWideTypes) {
    test::TempDir dir;
    test::write_bytes(dir / "raw", idx_bytes(0x08, {4}, std::string("\x09\x02\x00\xFF", 4)));
    test::write_gzip(dir / "gz", idx_bytes(0x08, {4}, std::string("\x09\x02\x00\xFF", 4)));
    EXPECT_EQ(load_labels(dir / "raw"), (std::vector<int64_t>{9, 2, 0, 255}));
    EXPECT_EQ(load_labels(dir / "gz"), (std::vector<int64_t>{9, 2, 0, 255}));
    test::write_bytes(dir / "i32", idx_bytes(0x0C, {2}, std::string("\x00\x01\x00\x02\xFF\xFF\xFF\xFE", 8)));
    EXPECT_EQ(load_labels(dir / "i32"), (std::vector<int64_t>{65538, -2}));

    test::write_bytes(dir / "images", small_idx());
    expect_error([&] { load_labels(dir / "images"); }, {"images", "expected labels"});
    test::write_bytes(dir / "short", idx_bytes(0x08, {5}, "abc"));
    expect_error([&] { load_labels(dir / "short"); }, {"short", "truncated"});
    test::write_bytes(dir / "float", idx_bytes(0x0D, {1}, "abcd"));
    expect_error([&] { load_labels(dir / "float"); }, {"float", "unsupported IDX labels"});
}

TEST(FashionMnist, TestSetImagesAndLabels) {
    if (!std::filesystem::exists(kFashionImages) || !std::filesystem::exists(kFashionLabels))
        GTEST_SKIP() << "Fashion-MNIST (Debian's dataset-fashion-mnist) not installed";
    auto data = open_dataset(kFashionImages, {}, {-1, 1, 28, 28});
    EXPECT_EQ(data->size(), 10000);
    EXPECT_EQ(data->sample_shape(), (Shape{1, 28, 28}));
    check_compatible(*data, {-1, 1, 28, 28});
    const auto labels = load_labels(kFashionLabels);
    check_labels(*data, labels);
    // python3 -c "import gzip; d = gzip.open('t10k-labels-idx1-ubyte.gz').read(); print(d[8])" → 9;
    // the pixel bytes of image 0 sum to 33456 (sum(d[16:16 + 784]) on the images file)
    constexpr int64_t kFirstLabel = 9;
    constexpr double kFirstImagePixelSum = 33456.0;
    EXPECT_EQ(labels[0], kFirstLabel);
    const auto first = data->read(0, 1).to_float_vector();
    double sum = 0.0;
    for (float v : first) sum += std::round(v * 255.0f);
    EXPECT_EQ(sum, kFirstImagePixelSum);
    // stream the whole file in batches; the last batch ends exactly at the end
    int64_t seen = 0;
    for (int64_t b = 0; b < data->size(); b += 1024) seen += data->read(b, std::min<int64_t>(1024, data->size() - b)).dim(0);
    EXPECT_EQ(seen, 10000);
    EXPECT_EQ(data->read(0, 1).to_float_vector(), first);
}

}  // namespace
}  // namespace qcp::data
