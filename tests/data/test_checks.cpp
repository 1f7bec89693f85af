#include <gtest/gtest.h>

#include "data/test_data_util.hpp"
#include "qcp/core/npy.hpp"
#include "qcp/data/dataset.hpp"

namespace qcp::data {
namespace {

using test::expect_error;

std::unique_ptr<Dataset> idx_dataset(const test::TempDir& dir, uint32_t n, uint32_t h, uint32_t w,
                                     const ImageOptions& o = {}) {
    test::write_bytes(dir / "images", test::idx_bytes(0x08, {n, h, w}, test::ramp_bytes(n * h * w)));
    return open_dataset(dir / "images", o, {});
}

TEST(TextLabels, OneIntegerPerLineBlankLinesIgnored) {
    test::TempDir dir;
    test::write_bytes(dir / "l.txt", "3\n\n  -1 \r\n+7\n\t\n12");
    EXPECT_EQ(load_labels(dir / "l.txt"), (std::vector<int64_t>{3, -1, 7, 12}));
    test::write_gzip(dir / "l.txt.gz", "0\n1\n");
    EXPECT_EQ(load_labels(dir / "l.txt.gz"), (std::vector<int64_t>{0, 1}));
}

TEST(TextLabels, Errors) {
    test::TempDir dir;
    test::write_bytes(dir / "bad.txt", "1\n2\ncat\n");
    expect_error([&] { load_labels(dir / "bad.txt"); }, {"bad.txt", "line 3", "'cat' is not an integer label"});
    test::write_bytes(dir / "float.txt", "1.5\n");
    expect_error([&] { load_labels(dir / "float.txt"); }, {"float.txt", "line 1"});
    test::write_bytes(dir / "huge.txt", "99999999999999999999\n");
    expect_error([&] { load_labels(dir / "huge.txt"); }, {"huge.txt", "not an integer"});
    test::write_bytes(dir / "binary", std::string("\x01\x02\n", 3));
    expect_error([&] { load_labels(dir / "binary"); }, {"binary", "line 1: '?" "?'"});
    test::write_bytes(dir / "empty.txt", "\n\n");
    expect_error([&] { load_labels(dir / "empty.txt"); }, {"empty.txt", "no labels"});
    expect_error([&] { load_labels(dir / "missing.txt"); }, {"missing.txt", "no such file"});
    expect_error([&] { load_labels(dir.path()); }, {"is a folder"});
}

TEST(CheckLabels, CountMustMatch) {
    test::TempDir dir;
    auto data = idx_dataset(dir, 4, 2, 2);
    check_labels(*data, {0, 1, 2, 3});
    expect_error([&] { check_labels(*data, {0, 1, 2}); }, {"images", "4 samples but 3 labels"});
}

TEST(CheckCompatible, UnknownDimsMatchAnything) {
    test::TempDir dir;
    auto data = idx_dataset(dir, 2, 28, 28);
    check_compatible(*data, {});
    check_compatible(*data, {-1, 1, 28, 28});
    check_compatible(*data, {0, -1, -1, -1});
    check_compatible(*data, {5, 1, 28, 28});
}

TEST(CheckCompatible, NamesTheMismatch) {
    test::TempDir dir;
    auto data = idx_dataset(dir, 2, 28, 28);
    expect_error([&] { check_compatible(*data, {-1, 3, 28, 28}); },
                 {"images", "samples are (1, 28, 28)", "model input is (?, 3, 28, 28)", "channels 1 vs 3"});
    expect_error([&] { check_compatible(*data, {-1, 1, 32, 30}); }, {"height 28 vs 32", "width 28 vs 30"});
    expect_error([&] { check_compatible(*data, {-1, 784}); }, {"rank 4 vs 2"});

    ImageOptions nhwc;
    nhwc.layout = Layout::NHWC;
    test::TempDir dir2;
    auto hwc = idx_dataset(dir2, 2, 28, 28, nhwc);
    check_compatible(*hwc, {-1, 28, 28, 1});
    expect_error([&] { check_compatible(*hwc, {-1, 28, 28, 3}); }, {"channels 1 vs 3"});
    expect_error([&] { check_compatible(*hwc, {-1, 1, 28, 28}); }, {"model looks channels-first (NCHW)"});
    expect_error([&] { check_compatible(*data, {-1, 28, 28, 1}); }, {"model looks channels-last (NHWC)"});

    npy::save(dir / "flat.npy", Tensor::from_floats({2, 3}, {1, 2, 3, 4, 5, 6}));
    auto flat = open_dataset(dir / "flat.npy", {}, {});
    expect_error([&] { check_compatible(*flat, {-1, 4}); }, {"flat.npy", "dim 1 3 vs 4"});
}

TEST(OpenDataset, RecognisesByContentNotName) {
    test::TempDir dir;
    test::write_bytes(dir / "data.npy", test::idx_bytes(0x08, {1, 2, 2}, "abcd"));
    EXPECT_EQ(open_dataset(dir / "data.npy", {}, {})->sample_shape(), (Shape{1, 2, 2}));
    npy::save(dir / "x", Tensor::from_floats({1, 4}, {1, 2, 3, 4}));
    EXPECT_EQ(open_dataset(dir / "x", {}, {})->sample_shape(), (Shape{4}));
    test::write_bytes(dir / "text", "hello world");
    expect_error([&] { open_dataset(dir / "text", {}, {}); }, {"text", "unrecognised data format"});
    test::write_bytes(dir / "empty", "");
    expect_error([&] { open_dataset(dir / "empty", {}, {}); }, {"empty", "unrecognised data format"});
}

TEST(ParseOptions, SizesLayoutsAndLists) {
    int64_t h = 0, w = 0;
    parse_size("224x160", h, w);
    EXPECT_EQ(h, 224);
    EXPECT_EQ(w, 160);
    parse_size("32", h, w);
    EXPECT_EQ(h, 32);
    EXPECT_EQ(w, 32);
    expect_error([&] { parse_size("0x5", h, w); }, {"0x5"});
    expect_error([&] { parse_size("ax5", h, w); }, {"expected HxW"});
    expect_error([&] { parse_size("5x", h, w); }, {"expected HxW"});
    EXPECT_EQ(parse_layout("NHWC"), Layout::NHWC);
    EXPECT_EQ(parse_layout("nchw"), Layout::NCHW);
    expect_error([&] { parse_layout("chw"); }, {"'chw'", "nchw or nhwc"});
    EXPECT_EQ(parse_floats("0.485,0.456,0.406"), (std::vector<float>{0.485f, 0.456f, 0.406f}));
    EXPECT_EQ(parse_floats("1"), (std::vector<float>{1.0f}));
    expect_error([&] { parse_floats("0.5,,1"); }, {"comma-separated numbers"});
    expect_error([&] { parse_floats("0.5x"); }, {"comma-separated numbers"});
    expect_error([&] { parse_floats(""); }, {"comma-separated numbers"});
}

}  // namespace
}  // namespace qcp::data
