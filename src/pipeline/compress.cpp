// compress(): the stages of stages/context.hpp, in order, over one context.
#include "qcp/pipeline/compress.hpp"

#include <algorithm>
#include <string>

#include "qcp/core/error.hpp"
#include "qcp/core/log.hpp"
#include "stages/context.hpp"

namespace qcp {

rewrite::WeightFormat resolved_format(const CompressOptions& o) {
    if (o.format) return *o.format;
    // int8 kernels need the integer weights a QuantizeLinear/DequantizeLinear pattern shows ORT
    return o.activations ? rewrite::WeightFormat::Qdq : rewrite::WeightFormat::Packed;
}

// The budget counts a layer's codes, scales and biases, not the nodes and names a rewrite adds, so
// a --target-size plan can come out a little over. Then the run starts again holding back what it
// went over by and a margin (measured on the serialized model, nothing written yet); a third
// miss is an error.
constexpr int kSizeAttempts = 3;

CompressReport compress(const CompressOptions& options) { return compress(options, nullptr); }

CompressReport compress(const CompressOptions& options, ReferenceRun* check_original) {
    stages::validate_latency_options(options);
    int64_t slack_bits = 0;
    for (int attempt = 1;; ++attempt) {
        stages::Context c(options);
        c.size_slack_bits = slack_bits;
        c.check_original = check_original;
        stages::load(c);
        stages::plan(c);
        stages::calibrate(c);
        stages::budget(c);
        if (options.dry_run) {
            stages::total_sizes(c);
            c.report.seconds = stages::since(c.started);
            return std::move(c.report);
        }
        stages::capture_latency_inputs(c);
        stages::solve(c);
        stages::correct(c);
        stages::quantize_activations(c);
        if (options.target_size) {
            const int64_t bytes = stages::output_bytes(c);
            const int64_t target = static_cast<int64_t>(*options.target_size);
            if (bytes > target) {
                if (attempt == kSizeAttempts)
                    throw Error("--target-size " + std::to_string(target) + ": the plan still writes " + std::to_string(bytes) +
                                " bytes after " + std::to_string(kSizeAttempts) + " attempts; ask for a larger size");
                // the overhead moves a little with the plan: hold back a margin more
                slack_bits += 8 * (bytes - target + std::max<int64_t>((bytes - target) / 16, 256));
                spdlog::info("--target-size: the output would be {} bytes, {} over; planning again with that held back", bytes,
                             bytes - target);
                continue;
            }
        }
        stages::save(c);
        stages::check(c);
        stages::measure_latency(c);
        c.report.seconds = stages::since(c.started);
        return std::move(c.report);
    }
}

}  // namespace qcp
