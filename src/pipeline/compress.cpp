// compress(): the stages of stages/context.hpp, in order, over one context.
#include "qcp/pipeline/compress.hpp"

#include "stages/context.hpp"

namespace qcp {

rewrite::WeightFormat resolved_format(const CompressOptions& o) {
    if (o.format) return *o.format;
    // int8 kernels need the integer weights a QuantizeLinear/DequantizeLinear pattern shows ORT
    return o.activations ? rewrite::WeightFormat::Qdq : rewrite::WeightFormat::Packed;
}

CompressReport compress(const CompressOptions& options) {
    stages::validate_latency_options(options);
    stages::Context c(options);
    stages::load(c);
    stages::plan(c);
    stages::calibrate(c);
    stages::budget(c);
    if (!options.dry_run) {
        stages::capture_latency_inputs(c);
        stages::solve(c);
        stages::correct(c);
        stages::quantize_activations(c);
        stages::save(c);
        stages::check(c);
        stages::measure_latency(c);
    } else {
        stages::total_sizes(c);
    }
    c.report.seconds = stages::since(c.started);
    return std::move(c.report);
}

}  // namespace qcp
