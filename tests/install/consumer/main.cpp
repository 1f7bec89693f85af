// consumer MODEL OUT: compresses MODEL with rtn 8-bit through an installed libqcp, then checks
// that the report says written, its size is the file's, and the written model loads.
#include <cstdio>
#include <filesystem>
#include <string>

#include "qcp/core/error.hpp"
#include "qcp/onnx_io/onnx_io.hpp"
#include "qcp/pipeline/compress.hpp"

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: consumer MODEL OUT\n");
        return 2;
    }
    try {
        qcp::CompressOptions options;
        options.model = argv[1];
        options.output = argv[2];
        options.method = "rtn";
        options.bits = 8;
        options.threads = 1;
        options.force = true;
        const qcp::CompressReport report = qcp::compress(options);
        const auto json = qcp::compress_to_json(report);
        int quantized = 0;
        for (const auto& layer : report.layers) quantized += layer.selected ? 1 : 0;
        if (!report.written || quantized == 0) {
            std::fprintf(stderr, "consumer: nothing written (written=%d, layers quantized=%d)\n", report.written, quantized);
            return 1;
        }
        const auto bytes = std::filesystem::file_size(options.output);
        if (bytes != report.output_bytes) {
            std::fprintf(stderr, "consumer: report says %llu bytes, the file has %llu\n",
                         static_cast<unsigned long long>(report.output_bytes), static_cast<unsigned long long>(bytes));
            return 1;
        }
        const qcp::ir::Model model = qcp::onnx_io::load_model(options.output);
        std::printf("consumer: %d layers quantized, %llu -> %llu bytes, %zu nodes; report keys: %zu\n", quantized,
                    static_cast<unsigned long long>(report.input_bytes), static_cast<unsigned long long>(bytes),
                    model.graph.nodes.size(), json.size());
        return 0;
    } catch (const qcp::Error& e) {
        std::fprintf(stderr, "consumer: qcp error: %s\n", e.what());
        return 1;
    }
}
