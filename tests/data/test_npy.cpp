#include <gtest/gtest.h>

#include <random>

#include "data/test_data_util.hpp"
#include "qcp/core/npy.hpp"
#include "qcp/core/parallel.hpp"
#include "qcp/data/dataset.hpp"

namespace qcp::data {
namespace {

using test::expect_error;

Tensor random_floats(Shape shape, uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist;
    std::vector<float> v(static_cast<size_t>(shape_numel(shape)));
    for (float& x : v) x = dist(rng);
    return Tensor::from_floats(std::move(shape), v);
}

Tensor ramp_uint8(Shape shape) {
    Tensor t(DType::UInt8, std::move(shape));
    for (int64_t i = 0; i < t.numel(); ++i) t.data<uint8_t>()[i] = static_cast<uint8_t>(i * 7);
    return t;
}

TEST(NpyData, Float32NchwPassesThrough) {
    test::TempDir dir;
    const Tensor x = random_floats({6, 2, 3, 4}, 1);
    npy::save(dir / "x.npy", x);
    auto data = open_dataset(dir / "x.npy", {}, {-1, 2, 3, 4});
    EXPECT_EQ(data->size(), 6);
    EXPECT_EQ(data->sample_shape(), (Shape{2, 3, 4}));
    EXPECT_EQ(data->read(0, 6).to_float_vector(), x.to_float_vector());
    EXPECT_EQ(data->describe(), ".npy float (6, 2, 3, 4) from " + (dir / "x.npy").string());
    const Tensor tail = data->read(4, 2);
    EXPECT_EQ(tail.shape(), (Shape{2, 2, 3, 4}));
    EXPECT_EQ(tail.data<float>()[0], x.data<float>()[4 * 24]);
}

TEST(NpyData, ChunkedReadsEqualOneRead) {
    test::TempDir dir;
    const Tensor x = random_floats({50, 1, 4, 4}, 2);
    npy::save(dir / "x.npy", x);
    auto data = open_dataset(dir / "x.npy", {}, {});
    std::vector<float> chunked;
    for (int64_t b = 0; b < 50; b += 7) {
        const auto part = data->read(b, std::min<int64_t>(7, 50 - b)).to_float_vector();
        chunked.insert(chunked.end(), part.begin(), part.end());
    }
    EXPECT_EQ(chunked, x.to_float_vector());
    EXPECT_EQ(data->read(3, 1).to_float_vector(), std::vector<float>(x.data<float>() + 48, x.data<float>() + 64));
}

TEST(NpyData, Uint8IsScaledAndGetsAChannelDim) {
    test::TempDir dir;
    const Tensor x = ramp_uint8({3, 4, 5});
    npy::save(dir / "x.npy", x);
    auto data = open_dataset(dir / "x.npy", {}, {-1, 1, 4, 5});
    EXPECT_EQ(data->sample_shape(), (Shape{1, 4, 5}));
    const Tensor t = data->read(0, 3);
    for (int64_t i = 0; i < t.numel(); ++i) ASSERT_EQ(t.data<float>()[i], x.data<uint8_t>()[i] / 255.0f);
}

TEST(NpyData, GzippedNpyStreams) {
    test::TempDir dir;
    const Tensor x = random_floats({9, 1, 2, 2}, 3);
    test::write_gzip(dir / "x.npy.gz", npy::serialize(x));
    auto data = open_dataset(dir / "x.npy.gz", {}, {});
    EXPECT_EQ(data->read(5, 4).to_float_vector(),
              std::vector<float>(x.data<float>() + 20, x.data<float>() + 36));
    EXPECT_EQ(data->read(0, 9).to_float_vector(), x.to_float_vector());
}

TEST(NpyData, FlatSamplesReshapeToAKnownModelInput) {
    test::TempDir dir;
    const Tensor x = random_floats({4, 12}, 4);
    npy::save(dir / "x.npy", x);
    EXPECT_EQ(open_dataset(dir / "x.npy", {}, {})->sample_shape(), (Shape{12}));
    EXPECT_EQ(open_dataset(dir / "x.npy", {}, {-1, 12})->sample_shape(), (Shape{12}));
    auto data = open_dataset(dir / "x.npy", {}, {-1, 3, 2, 2});
    EXPECT_EQ(data->sample_shape(), (Shape{3, 2, 2}));
    EXPECT_EQ(data->read(0, 4).to_float_vector(), x.to_float_vector());
    ImageOptions scalar;
    scalar.mean = {1.0f};
    scalar.std = {2.0f};
    const auto norm = open_dataset(dir / "x.npy", scalar, {})->read(1, 1).to_float_vector();
    EXPECT_EQ(norm[5], (x.data<float>()[17] - 1.0f) / 2.0f);
}

TEST(NpyData, NhwcDataIsTransposedOnlyWhenSaidSo) {
    test::TempDir dir;
    const Tensor x = random_floats({2, 4, 5, 3}, 5);  // N, H, W, C
    npy::save(dir / "x.npy", x);
    const Shape model = {-1, 3, 4, 5};
    auto as_is = open_dataset(dir / "x.npy", {}, model);
    EXPECT_EQ(as_is->sample_shape(), (Shape{4, 5, 3}));
    expect_error([&] { check_compatible(*as_is, model); }, {"x.npy", "channels-last", "(?, 3, 4, 5)"});

    ImageOptions o;
    o.data_layout = Layout::NHWC;
    auto data = open_dataset(dir / "x.npy", o, model);
    EXPECT_EQ(data->sample_shape(), (Shape{3, 4, 5}));
    check_compatible(*data, model);
    const Tensor t = data->read(0, 2);
    for (int64_t n = 0; n < 2; ++n)
        for (int64_t c = 0; c < 3; ++c)
            for (int64_t y = 0; y < 4; ++y)
                for (int64_t xx = 0; xx < 5; ++xx)
                    ASSERT_EQ(t.data<float>()[((n * 3 + c) * 4 + y) * 5 + xx],
                              x.data<float>()[((n * 4 + y) * 5 + xx) * 3 + c]);

    ImageOptions nhwc_model;
    nhwc_model.layout = Layout::NHWC;
    auto kept = open_dataset(dir / "x.npy", nhwc_model, {-1, 4, 5, 3});
    EXPECT_EQ(kept->read(0, 2).to_float_vector(), x.to_float_vector());
}

TEST(NpyData, PerChannelNormalisation) {
    test::TempDir dir;
    const Tensor x = ramp_uint8({1, 2, 2, 2});  // N, C, H, W
    npy::save(dir / "x.npy", x);
    ImageOptions o;
    o.mean = {0.1f, 0.2f};
    o.std = {0.5f, 0.25f};
    const Tensor t = open_dataset(dir / "x.npy", o, {})->read(0, 1);
    for (int64_t i = 0; i < 8; ++i) {
        const size_t c = static_cast<size_t>(i / 4);
        ASSERT_EQ(t.data<float>()[i], (x.data<uint8_t>()[i] / 255.0f - o.mean[c]) / o.std[c]);
    }
}

TEST(NpyData, Float16AndFloat64AreConverted) {
    test::TempDir dir;
    const Tensor x = Tensor::from_floats({2, 3}, {0.5f, -2.0f, 1024.0f, 0.25f, 3.0f, -0.125f});
    npy::save(dir / "h.npy", x.cast_from_float32(DType::Float16));
    Tensor d(DType::Float64, {2, 3});
    for (int64_t i = 0; i < 6; ++i) d.data<double>()[i] = x.data<float>()[i];
    npy::save(dir / "d.npy", d);
    EXPECT_EQ(open_dataset(dir / "h.npy", {}, {})->read(0, 2).to_float_vector(), x.to_float_vector());
    EXPECT_EQ(open_dataset(dir / "d.npy", {}, {})->read(0, 2).to_float_vector(), x.to_float_vector());
}

TEST(NpyData, ParallelReadsMatchOneThread) {
    test::TempDir dir;
    const Tensor x = random_floats({5, 128, 128, 3}, 8);  // large enough samples to be split over threads
    npy::save(dir / "x.npy", x);
    ImageOptions o;
    o.data_layout = Layout::NHWC;
    o.mean = {0.1f, 0.2f, 0.3f};
    o.std = {1.5f, 2.0f, 2.5f};
    o.height = 100;
    o.width = 90;
    auto data = open_dataset(dir / "x.npy", o, {});
    set_num_threads(1);
    const auto serial = data->read(0, 5).to_float_vector();
    set_num_threads(2);
    EXPECT_EQ(data->read(0, 5).to_float_vector(), serial);
    set_num_threads(0);
}

TEST(NpyData, Errors) {
    test::TempDir dir;
    npy::save(dir / "int.npy", Tensor::from_int64s({2, 3}, {1, 2, 3, 4, 5, 6}));
    expect_error([&] { open_dataset(dir / "int.npy", {}, {}); }, {"int.npy", "unsupported .npy dtype int64"});

    npy::save(dir / "empty.npy", Tensor(DType::Float32, {3, 0, 2}));
    expect_error([&] { open_dataset(dir / "empty.npy", {}, {}); }, {"empty.npy", "size 0"});

    npy::save(dir / "vec.npy", Tensor::from_floats({3}, {1, 2, 3}));
    expect_error([&] { open_dataset(dir / "vec.npy", {}, {}); }, {"vec.npy", "sample dimension"});

    std::string bytes = npy::serialize(random_floats({4, 2, 2}, 6));
    test::write_bytes(dir / "cut.npy", bytes.substr(0, bytes.size() - 4));
    expect_error([&] { open_dataset(dir / "cut.npy", {}, {}); }, {"cut.npy", "truncated"});

    std::string bad = bytes;
    const auto at = bad.find("'descr'");
    bad.replace(at, 7, "'dxxxx'");
    test::write_bytes(dir / "bad.npy", bad);
    expect_error([&] { open_dataset(dir / "bad.npy", {}, {}); }, {"bad.npy", "no descr"});

    std::string complex = bytes;
    complex.replace(complex.find("<f4"), 3, "<c8");
    test::write_bytes(dir / "complex.npy", complex);
    expect_error([&] { open_dataset(dir / "complex.npy", {}, {}); }, {"complex.npy", "unsupported .npy dtype '<c8'"});

    test::write_bytes(dir / "header.npy", bytes.substr(0, 40));
    expect_error([&] { open_dataset(dir / "header.npy", {}, {}); }, {"header.npy", "truncated .npy header"});

    // a header claiming 2^31 x 2^31 samples in a file of a few bytes
    std::string absurd = bytes;
    absurd.replace(absurd.find("(4, 2, 2)"), 9, "(2147483648, 2147483648)");
    test::write_bytes(dir / "absurd.npy", absurd);
    expect_error([&] { open_dataset(dir / "absurd.npy", {}, {}); }, {"absurd.npy", "truncated", "(2147483648, 2147483648)"});

    npy::save(dir / "flat.npy", random_floats({2, 6}, 7));
    ImageOptions o;
    o.mean = {0.1f, 0.2f, 0.3f};
    expect_error([&] { open_dataset(dir / "flat.npy", o, {}); }, {"flat.npy", "per-channel mean/std"});
}

TEST(NpyLabels, IntegerDtypesAndShapes) {
    test::TempDir dir;
    npy::save(dir / "l64.npy", Tensor::from_int64s({3}, {4, -1, 7}));
    EXPECT_EQ(load_labels(dir / "l64.npy"), (std::vector<int64_t>{4, -1, 7}));
    Tensor u8(DType::UInt8, {3, 1});
    u8.data<uint8_t>()[0] = 200;
    u8.data<uint8_t>()[2] = 3;
    npy::save(dir / "u8.npy", u8);
    EXPECT_EQ(load_labels(dir / "u8.npy"), (std::vector<int64_t>{200, 0, 3}));
    Tensor i32(DType::Int32, {2});
    i32.data<int32_t>()[0] = -5;
    i32.data<int32_t>()[1] = 1 << 20;
    test::write_gzip(dir / "i32.npy.gz", npy::serialize(i32));
    EXPECT_EQ(load_labels(dir / "i32.npy.gz"), (std::vector<int64_t>{-5, 1 << 20}));

    npy::save(dir / "f.npy", Tensor::from_floats({2}, {1, 2}));
    expect_error([&] { load_labels(dir / "f.npy"); }, {"f.npy", "unsupported .npy dtype float for labels"});
    npy::save(dir / "m.npy", Tensor::from_int64s({2, 2}, {1, 2, 3, 4}));
    expect_error([&] { load_labels(dir / "m.npy"); }, {"m.npy", "(N) or (N, 1)"});
    const std::string full = npy::serialize(Tensor::from_int64s({3}, {1, 2, 3}));
    test::write_bytes(dir / "cut.npy", full.substr(0, full.size() - 8));
    expect_error([&] { load_labels(dir / "cut.npy"); }, {"cut.npy", "truncated"});
}

}  // namespace
}  // namespace qcp::data
