// Each initializer dtype decodes to known values, from raw_data and from the typed fields.
#include <gtest/gtest.h>

#include <cstring>

#include "proto_builders.hpp"
#include "qcp/core/error.hpp"
#include "qcp/onnx_io/onnx_io.hpp"

namespace qcp {
namespace {

Tensor load_through_loader(const onnx::TensorProto& t) {
    const std::string bytes = test::model_with_initializer(t).SerializeAsString();
    const ir::Model m = onnx_io::parse_model(std::vector<uint8_t>(bytes.begin(), bytes.end()), ".", "test");
    return m.graph.initializers.at(0).tensor;
}

onnx::TensorProto header(int dtype, std::vector<int64_t> dims) {
    onnx::TensorProto t;
    t.set_name("w");
    t.set_data_type(dtype);
    for (auto d : dims) t.add_dims(d);
    return t;
}

template <typename T>
std::string raw(const std::vector<T>& v) {
    return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

void expect_values(const Tensor& t, const std::vector<double>& want) {
    ASSERT_EQ(t.numel(), static_cast<int64_t>(want.size()));
    for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(t.get_as_double(static_cast<int64_t>(i)), want[i]) << "element " << i;
}

TEST(Dtypes, RawData) {
    struct Case {
        int dtype;
        std::string bytes;
        std::vector<double> want;
    };
    const std::vector<Case> cases = {
        {onnx::TensorProto::FLOAT, raw<float>({1.5f, -2.25f, 0.f}), {1.5, -2.25, 0}},
        {onnx::TensorProto::DOUBLE, raw<double>({1e-3, -7.0, 3.5}), {1e-3, -7.0, 3.5}},
        {onnx::TensorProto::FLOAT16, raw<uint16_t>({0x3C00, 0xC000, 0x3800}), {1.0, -2.0, 0.5}},
        {onnx::TensorProto::BFLOAT16, raw<uint16_t>({0x3F80, 0xBFC0, 0x4049}), {1.0, -1.5, 3.140625}},
        {onnx::TensorProto::INT8, raw<int8_t>({-128, 0, 127}), {-128, 0, 127}},
        {onnx::TensorProto::UINT8, raw<uint8_t>({0, 200, 255}), {0, 200, 255}},
        {onnx::TensorProto::INT32, raw<int32_t>({-100000, 5, 2147483647}), {-100000, 5, 2147483647}},
        {onnx::TensorProto::INT64, raw<int64_t>({-1, int64_t{1} << 40, 9}), {-1, 1099511627776.0, 9}},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE("dtype " + std::to_string(c.dtype));
        auto t = header(c.dtype, {3});
        t.set_raw_data(c.bytes);
        const Tensor decoded = load_through_loader(t);
        EXPECT_EQ(static_cast<int>(decoded.dtype()), c.dtype);
        expect_values(decoded, c.want);
    }
}

TEST(Dtypes, TypedFields) {
    auto f = header(onnx::TensorProto::FLOAT, {2});
    f.add_float_data(0.75f);
    f.add_float_data(-4.f);
    expect_values(load_through_loader(f), {0.75, -4});

    auto d = header(onnx::TensorProto::DOUBLE, {2});
    d.add_double_data(2.5);
    d.add_double_data(-0.125);
    expect_values(load_through_loader(d), {2.5, -0.125});

    auto h = header(onnx::TensorProto::FLOAT16, {2});  // half bits live in int32_data
    h.add_int32_data(0x3C00);
    h.add_int32_data(0xC000);
    expect_values(load_through_loader(h), {1.0, -2.0});

    auto bf = header(onnx::TensorProto::BFLOAT16, {1});
    bf.add_int32_data(0x3F80);
    expect_values(load_through_loader(bf), {1.0});

    auto i8 = header(onnx::TensorProto::INT8, {3});
    for (int v : {-5, 0, 100}) i8.add_int32_data(v);
    expect_values(load_through_loader(i8), {-5, 0, 100});

    auto u8 = header(onnx::TensorProto::UINT8, {2});
    for (int v : {0, 255}) u8.add_int32_data(v);
    expect_values(load_through_loader(u8), {0, 255});

    auto i32 = header(onnx::TensorProto::INT32, {2});
    for (int v : {-7, 123456}) i32.add_int32_data(v);
    expect_values(load_through_loader(i32), {-7, 123456});

    auto i64 = header(onnx::TensorProto::INT64, {2});
    i64.add_int64_data(-3);
    i64.add_int64_data(int64_t{1} << 35);
    expect_values(load_through_loader(i64), {-3, 34359738368.0});
}

TEST(Dtypes, SizeMismatchAndUnknownTypeAreErrors) {
    auto short_raw = header(onnx::TensorProto::FLOAT, {4});
    short_raw.set_raw_data(raw<float>({1.f, 2.f}));
    EXPECT_THROW(load_through_loader(short_raw), Error);

    auto few_values = header(onnx::TensorProto::FLOAT, {3});
    few_values.add_float_data(1.f);
    EXPECT_THROW(load_through_loader(few_values), Error);

    auto unknown = header(77, {1});
    unknown.set_raw_data(std::string(4, '\0'));
    EXPECT_THROW(load_through_loader(unknown), Error);

    auto negative = header(onnx::TensorProto::FLOAT, {-2});
    EXPECT_THROW(load_through_loader(negative), Error);

    // 2^20 x 2^20 floats would be 4 TB: refused from the header, nothing allocated
    auto huge = header(onnx::TensorProto::FLOAT, {int64_t{1} << 20, int64_t{1} << 20});
    huge.set_raw_data(raw<float>({1.f}));
    EXPECT_THROW(load_through_loader(huge), Error);
}

TEST(Dtypes, SavedInOriginalDtype) {
    auto h = header(onnx::TensorProto::FLOAT16, {2});
    h.set_raw_data(raw<uint16_t>({0x3C00, 0x3555}));
    const std::string bytes = test::model_with_initializer(h).SerializeAsString();
    ir::Model m = onnx_io::parse_model(std::vector<uint8_t>(bytes.begin(), bytes.end()), ".", "test");
    const std::string saved = onnx_io::serialize_model(m);
    onnx::ModelProto back;
    ASSERT_TRUE(back.ParseFromString(saved));
    EXPECT_EQ(back.graph().initializer(0).data_type(), onnx::TensorProto::FLOAT16);
    EXPECT_EQ(back.graph().initializer(0).raw_data(), raw<uint16_t>({0x3C00, 0x3555}));
}

}  // namespace
}  // namespace qcp
