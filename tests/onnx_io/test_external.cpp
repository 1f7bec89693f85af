// Tensors stored in side files: read, refused when they escape the folder, written on request.
#include <gtest/gtest.h>

#include "proto_builders.hpp"
#include "qcp/core/error.hpp"
#include "qcp/onnx_io/onnx_io.hpp"
#include "test_util.hpp"

namespace qcp {
namespace {

onnx::TensorProto external_tensor(const std::string& location, int64_t offset, int64_t count) {
    onnx::TensorProto t;
    t.set_name("w");
    t.set_data_type(onnx::TensorProto::FLOAT);
    t.add_dims(count);
    t.set_data_location(onnx::TensorProto::EXTERNAL);
    auto add = [&](const char* k, const std::string& v) {
        auto* kv = t.add_external_data();
        kv->set_key(k);
        kv->set_value(v);
    };
    add("location", location);
    add("offset", std::to_string(offset));
    add("length", std::to_string(count * 4));
    return t;
}

std::string float_bytes(const std::vector<float>& v) {
    return std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4);
}

void write_model(const std::filesystem::path& path, const onnx::TensorProto& t) {
    test::write_bytes(path, test::model_with_initializer(t).SerializeAsString());
}

TEST(ExternalData, ReadsAtOffset) {
    test::TempDir dir;
    test::write_bytes(dir / "weights.bin", "PAD!" + float_bytes({1.f, 2.f, 3.f}));
    write_model(dir / "m.onnx", external_tensor("weights.bin", 4, 3));
    ir::Model m = onnx_io::load_model(dir / "m.onnx");
    EXPECT_EQ(m.graph.initializers.at(0).tensor.to_float_vector(), std::vector<float>({1.f, 2.f, 3.f}));
    ASSERT_EQ(m.external_files.size(), 1u);
}

TEST(ExternalData, RefusesEscapingMissingAndShortFiles) {
    test::TempDir dir;
    std::filesystem::create_directories(dir / "sub");
    test::write_bytes(dir / "outside.bin", float_bytes({1.f, 2.f, 3.f}));
    test::write_bytes(dir / "sub" / "short.bin", float_bytes({1.f}));
    struct Case {
        std::string location;
        std::string needle;
    };
    const std::vector<Case> cases = {
        {"../outside.bin", "escapes"},
        {(dir / "outside.bin").string(), "absolute"},
        {"nothere.bin", "not found"},
        {"short.bin", "too short"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.location);
        write_model(dir / "sub" / "m.onnx", external_tensor(c.location, 0, 3));
        try {
            onnx_io::load_model(dir / "sub" / "m.onnx");
            ADD_FAILURE() << "accepted";
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find(c.needle), std::string::npos) << e.what();
        }
    }
}

TEST(ExternalData, SymlinkOutOfTheFolderIsRefused) {
    test::TempDir dir;
    std::filesystem::create_directories(dir / "sub");
    test::write_bytes(dir / "outside.bin", float_bytes({1.f, 2.f, 3.f}));
    std::filesystem::create_symlink(dir / "outside.bin", dir / "sub" / "link.bin");
    write_model(dir / "sub" / "m.onnx", external_tensor("link.bin", 0, 3));
    EXPECT_THROW(onnx_io::load_model(dir / "sub" / "m.onnx"), Error);
}

TEST(ExternalData, WrittenOnRequestAndReadBack) {
    test::TempDir dir;
    const std::string bytes = test::small_conv_model("initializer").SerializeAsString();
    ir::Model m = onnx_io::parse_model(std::vector<uint8_t>(bytes.begin(), bytes.end()), ".", "test");
    onnx_io::SaveOptions opts;
    opts.external_data = true;
    opts.external_threshold = 16;
    onnx_io::save_model(m, dir / "ext.onnx", opts);
    ASSERT_TRUE(std::filesystem::exists(dir / "ext.onnx.data"));
    EXPECT_GE(std::filesystem::file_size(dir / "ext.onnx.data"), 8u * 4 * 9 * 4);
    ir::Model back = onnx_io::load_model(dir / "ext.onnx");
    ASSERT_EQ(back.graph.initializers.size(), m.graph.initializers.size());
    for (size_t i = 0; i < m.graph.initializers.size(); ++i)
        EXPECT_TRUE(back.graph.initializers[i].tensor == m.graph.initializers[i].tensor) << i;
    EXPECT_EQ(back.external_files.size(), 1u);
}

}  // namespace
}  // namespace qcp
