// Files crafted to make the readers overflow or crash (fuzz_data's findings, kept as tests):
// each ends in a one-line qcp::Error or a normal read, never in undefined behaviour.
#include <gtest/gtest.h>

#include <cstdlib>

#include "data/test_data_util.hpp"
#include "qcp/data/dataset.hpp"

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
using test::idx_bytes;

const std::filesystem::path kRegressions = std::filesystem::path(QCP_SOURCE_DIR) / "tests/fuzz/regressions/data";

std::string npy_header(const std::string& shape) {
    std::string dict = "{'descr': '|u1', 'fortran_order': False, 'shape': " + shape + ", }";
    dict += std::string((64 - (10 + dict.size() + 1) % 64) % 64, ' ') + "\n";
    return std::string("\x93NUMPY\x01\x00", 8) + static_cast<char>(dict.size() & 0xFF) +
           static_cast<char>(dict.size() >> 8) + dict;
}

TEST(HostileData, NoSamplesCannotHideAnAbsurdSampleSize) {
    // 0 images of 4026466304 x 4026483456 pixels: every size check passed, then the pixel count
    // of one sample overflowed int64 when flattened for a rank-2 model input
    test::TempDir dir;
    test::write_bytes(dir / "idx", idx_bytes(0x08, {0, 0xEFFF0000u, 0xEFFF4300u}, ""));
    test::write_bytes(dir / "npy", npy_header("(0, 4026466304, 4026483456)"));
    for (const Shape& input : {Shape{-1, 784}, Shape{-1, 1, 28, 28}, Shape{}}) {
        expect_error([&] { open_dataset(dir / "idx", {}, input); }, {"holds no samples", "(0, 4026466304, 4026483456)"});
        expect_error([&] { open_dataset(dir / "npy", {}, input); }, {"holds no samples"});
    }
}

TEST(HostileData, OneSampleMustFitInTheFile) {
    test::TempDir dir;
    test::write_bytes(dir / "idx", idx_bytes(0x08, {1, 65536, 65536}, "tiny"));  // 4 GiB claimed
    expect_error([&] { open_dataset(dir / "idx", {}, {-1, 784}); }, {"truncated: IDX header says"});
}

TEST(HostileData, CrashingJpegBecomesAnError) {
    // stb_image 2.27 writes past a Huffman table on this file; the decoder runs in a child process
    test::TempDir dir;
    std::filesystem::create_directories(dir / "images");
    std::filesystem::copy_file(kRegressions / "jpeg-dht-overflows-stb-huffman-table", dir / "images" / "a.jpg");
    try {
        auto data = open_dataset(dir / "images", {}, {-1, 1, 28, 28});
        (void)data->read(0, data->size());  // a decoder that survived it is fine too
    } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
        EXPECT_NE(std::string(e.what()).find("a.jpg"), std::string::npos) << e.what();
    }
}

TEST(HostileData, DecodingChildrenGiveTheSamePixelsAndNameTheBadFile) {
    // 40 images: three decoding children per batch; compared with decoding in this process
    test::TempDir dir;
    std::filesystem::create_directories(dir / "images");
    for (int i = 0; i < 40; ++i) {
        std::vector<uint8_t> px(6 * 5 * 3);
        for (size_t k = 0; k < px.size(); ++k) px[k] = static_cast<uint8_t>(i * 7 + k * 13);
        char name[16];
        std::snprintf(name, sizeof name, "%02d.png", i);
        ASSERT_TRUE(stbi_write_png((dir / "images" / name).c_str(), 5, 6, 3, px.data(), 5 * 3));
    }
    const Tensor isolated = open_dataset(dir / "images", {}, {})->read(0, 40);
    ASSERT_EQ(setenv("QCP_NO_ISOLATION", "1", 1), 0);
    const Tensor in_process = open_dataset(dir / "images", {}, {})->read(0, 40);
    unsetenv("QCP_NO_ISOLATION");
    EXPECT_TRUE(isolated == in_process);
    EXPECT_EQ(isolated.shape(), (Shape{40, 3, 6, 5}));

    test::write_bytes(dir / "images" / "17.png", "\x89PNG\r\n\x1a\n truncated");
    auto data = open_dataset(dir / "images", {}, {});
    expect_error([&] { data->read(0, 40); }, {"17.png", "unreadable image"});
    EXPECT_NO_THROW(data->read(18, 22));  // only the bad file is refused
}

}  // namespace
}  // namespace qcp::data
