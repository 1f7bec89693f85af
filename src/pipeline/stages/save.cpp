// save: the rewritten model sorted, stamped and written atomically (onnx_io::save_model);
// check: the written file read back and run against the original on the calibration samples.
#include <filesystem>

#include "context.hpp"
#include "qcp/core/version.hpp"
#include "qcp/engine/session.hpp"
#include "qcp/onnx_io/onnx_io.hpp"
#include "qcp/pipeline/metrics.hpp"

namespace qcp::stages {

namespace {

std::filesystem::path side_file(const CompressOptions& o) { return o.output.string() + ".data"; }

}  // namespace

void save(Context& c) {
    const CompressOptions& o = c.options;
    c.out.graph.sort_topologically();
    c.out.set_metadata("qcp_version", kVersion);
    c.out.set_metadata("qcp_method", o.method);
    onnx_io::SaveOptions opts;
    opts.overwrite = o.force;
    opts.external_data = o.external_data;
    onnx_io::save_model(c.out, o.output, opts);
    c.report.written = true;
    std::error_code ec;
    c.report.output_bytes = std::filesystem::file_size(o.output, ec);
    if (std::filesystem::exists(side_file(o), ec)) c.report.output_bytes += std::filesystem::file_size(side_file(o), ec);
    total_sizes(c);
}

void check(Context& c) {
    const CompressOptions& o = c.options;
    if (!c.calib) return;
    try {
        const ir::Model written = onnx_io::load_model(o.output);
        engine::Session a(c.model), b(written);
        Metrics m;
        for (int64_t begin = 0; begin < c.calib_n; begin += o.batch) {
            const Tensor x = c.calib->read(begin, std::min(o.batch, c.calib_n - begin));
            const auto ya = a.run(x);
            const auto yb = b.run(x);
            m.add(yb.at(0), nullptr, &ya.at(0));
        }
        c.report.check_samples = m.samples();
        c.report.check_top1_agreement = m.agreement();
        c.report.check_output_rel_error = m.output_rel_error();
    } catch (...) {  // a file that fails its own check is not left behind as if it were fine
        std::error_code ec;
        std::filesystem::remove(o.output, ec);
        if (o.external_data) std::filesystem::remove(side_file(o), ec);
        throw;
    }
}

}  // namespace qcp::stages
