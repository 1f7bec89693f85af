#include "fuzz_targets.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "qcp/core/error.hpp"
#include "qcp/core/memory.hpp"
#include "qcp/data/dataset.hpp"
#include "qcp/ir/layers.hpp"
#include "qcp/onnx_io/onnx_io.hpp"

namespace qcp::fuzz {
namespace {

namespace stdfs = std::filesystem;

constexpr uint64_t kFuzzMemoryLimit = uint64_t(1) << 30;
constexpr size_t kSideFileBytes = 4096;
constexpr int64_t kMaxSamplesRead = 64;
constexpr int64_t kBatch = 16;

stdfs::path& scratch() {
    static stdfs::path dir;
    return dir;
}

void write_file(const stdfs::path& path, const uint8_t* data, size_t size) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
}

void read_some(data::Dataset& ds) {
    const int64_t n = std::min(ds.size(), kMaxSamplesRead);
    for (int64_t begin = 0; begin < n; begin += kBatch) (void)ds.read(begin, std::min(kBatch, n - begin));
    if (ds.size() > 0) (void)ds.read(ds.size() - 1, 1);  // the last sample: a seek to the end
}

void remove_scratch() {
    std::error_code ec;
    stdfs::remove_all(scratch(), ec);
}

}  // namespace

void init() {
    if (!scratch().empty()) return;
    memory::set_limit(kFuzzMemoryLimit);
    scratch() = stdfs::temp_directory_path() / ("qcp-fuzz-" + std::to_string(getpid()));
    std::atexit(remove_scratch);
    stdfs::create_directories(scratch() / "model");
    stdfs::create_directories(scratch() / "images");
    std::vector<uint8_t> side(kSideFileBytes);
    for (size_t i = 0; i < side.size(); ++i) side[i] = static_cast<uint8_t>(i * 37);
    write_file(scratch() / "model" / "weights.bin", side.data(), side.size());
}

void onnx_input(const uint8_t* data, size_t size) {
    init();
    try {
        ir::Model m = onnx_io::parse_model(std::vector<uint8_t>(data, data + size), scratch() / "model", "fuzz");
        const auto layers = ir::find_layers(m.graph);
        (void)ir::count_params(m.graph);
        for (const auto& n : m.graph.nodes)
            for (const auto& in : n.inputs) {
                (void)m.graph.constant(in);
                (void)m.graph.shape_info(in);
            }
        m.graph.sort_topologically();
        // what qcp accepted it can write and read back
        const std::string again = onnx_io::serialize_model(m);
        (void)onnx_io::parse_model(std::vector<uint8_t>(again.begin(), again.end()), scratch() / "model", "round trip");
    } catch (const Error&) {
    }
}

void data_input(const uint8_t* data, size_t size) {
    init();
    const stdfs::path file = scratch() / "input";
    write_file(file, data, size);
    data::ImageOptions options;
    if (size % 5 == 1) options.height = options.width = 14;
    if (size % 7 == 2) options.layout = data::Layout::NHWC;
    const Shape inputs[3] = {{-1, 1, 28, 28}, {}, {-1, 784}};
    for (const Shape& input : inputs) {
        try {
            auto ds = data::open_dataset(file, options, input);
            data::check_compatible(*ds, input);
            read_some(*ds);
        } catch (const Error&) {
        }
    }
    try {
        (void)data::load_labels(file);
    } catch (const Error&) {
    }
    const bool png = size >= 4 && data[0] == 0x89 && data[1] == 'P';
    const bool jpeg = size >= 3 && data[0] == 0xFF && data[1] == 0xD8;
    if (!png && !jpeg) return;
    const stdfs::path image = scratch() / "images" / (png ? "a.png" : "a.jpg");
    write_file(image, data, size);
    try {
        auto ds = data::open_dataset(scratch() / "images", options, inputs[0]);
        read_some(*ds);
    } catch (const Error&) {
    }
    stdfs::remove(image);
}

}  // namespace qcp::fuzz
