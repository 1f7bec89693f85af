// Loading allocates each tensor once and saving copies none, measured with the memory budget's
// peak, which counts every tensor allocation (buffers outside tensors are covered by the
// large-model RSS measurement in docs/BENCHMARKS.md).
#include <gtest/gtest.h>

#include "proto_builders.hpp"
#include "qcp/core/memory.hpp"
#include "qcp/onnx_io/onnx_io.hpp"
#include "test_util.hpp"

namespace qcp {
namespace {

constexpr int64_t kRows = 1024, kCols = 1024;  // a 4 MiB weight
constexpr uint64_t kWeightBytes = kRows * kCols * 4;
// Allowed beyond the weights themselves: small tensors and allocator rounding.
constexpr uint64_t kSlack = uint64_t(64) << 10;

onnx::ModelProto big_model() {
    std::vector<float> w(static_cast<size_t>(kRows * kCols));
    for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(i % 251) * 1e-3f;
    return test::model_with_initializer(test::float_tensor("w", {kRows, kCols}, w));
}

TEST(MemoryUse, LoadAllocatesEachTensorOnce) {
    test::TempDir dir;
    test::write_bytes(dir / "m.onnx", big_model().SerializeAsString());
    const uint64_t base = memory::in_use();
    memory::reset_peak();
    {
        const ir::Model m = onnx_io::load_model(dir / "m.onnx");
        EXPECT_GE(memory::in_use(), base + kWeightBytes);
        EXPECT_LE(memory::peak_in_use(), base + kWeightBytes + kSlack);
    }
    EXPECT_EQ(memory::in_use(), base);
}

TEST(MemoryUse, ExternalDataLoadsIntoOneTensor) {
    test::TempDir dir;
    {
        const std::string bytes = big_model().SerializeAsString();
        const ir::Model m = onnx_io::parse_model(std::vector<uint8_t>(bytes.begin(), bytes.end()), ".", "big");
        onnx_io::SaveOptions opts;
        opts.external_data = true;
        onnx_io::save_model(m, dir / "ext.onnx", opts);
    }
    ASSERT_GE(std::filesystem::file_size(dir / "ext.onnx.data"), kWeightBytes);
    const uint64_t base = memory::in_use();
    memory::reset_peak();
    const ir::Model back = onnx_io::load_model(dir / "ext.onnx");
    EXPECT_LE(memory::peak_in_use(), base + kWeightBytes + kSlack);
    EXPECT_EQ(back.graph.initializers.at(0).tensor.get_as_double(300), 49 * 1e-3f);
}

TEST(MemoryUse, SaveCopiesNoTensor) {
    test::TempDir dir;
    const std::string bytes = big_model().SerializeAsString();
    const ir::Model m = onnx_io::parse_model(std::vector<uint8_t>(bytes.begin(), bytes.end()), ".", "big");
    for (const bool external : {false, true}) {
        SCOPED_TRACE(external ? "external data" : "inline");
        const uint64_t base = memory::in_use();
        memory::reset_peak();
        onnx_io::SaveOptions opts;
        opts.external_data = external;
        opts.overwrite = true;
        onnx_io::save_model(m, dir / "out.onnx", opts);
        EXPECT_LE(memory::peak_in_use(), base + kSlack);
    }
}

}  // namespace
}  // namespace qcp
