// save: the rewritten model sorted, stamped and written atomically (onnx_io::save_model);
// check: the written file read back and run against the original on the calibration samples,
// every output measured (metrics.hpp).
#include <algorithm>
#include <filesystem>

#include "context.hpp"
#include "qcp/core/version.hpp"
#include "qcp/engine/fold.hpp"
#include "qcp/engine/session.hpp"
#include "qcp/onnx_io/onnx_io.hpp"
#include "qcp/pipeline/metrics.hpp"

namespace qcp::stages {

namespace {

std::filesystem::path side_file(const CompressOptions& o) { return o.output.string() + ".data"; }

// Before IR 4 every initializer is also a graph input (ONNX Runtime refuses the file otherwise).
// The rewrites add initializers, listed here, and leave the replaced weights unread but kept
// (removing a graph input is not theirs to do), dropped here.
void list_initializers_as_inputs(ir::Graph& g) {
    auto unread = [&](const std::string& name) { return g.find_initializer(name) && g.consumers(name).empty() && !g.is_graph_output(name); };
    g.inputs.erase(std::remove_if(g.inputs.begin(), g.inputs.end(), [&](const ir::ValueInfo& v) { return unread(v.name); }), g.inputs.end());
    g.initializers.erase(std::remove_if(g.initializers.begin(), g.initializers.end(), [&](const ir::Initializer& i) { return unread(i.name); }),
                         g.initializers.end());
    g.rebuild_index();
    for (const auto& init : g.initializers) {
        if (g.is_graph_input(init.name)) continue;
        ir::ValueInfo v;
        v.name = init.name;
        v.dtype = init.tensor.dtype();
        v.has_shape = true;
        for (int64_t d : init.tensor.shape()) v.dims.push_back({d, ""});
        g.inputs.push_back(std::move(v));
    }
    g.rebuild_index();
}

// Sorted, initializers listed as inputs where the IR needs it, stamped; idempotent.
void finish(Context& c) {
    c.out.graph.sort_topologically();
    if (c.out.ir_version < 4) list_initializers_as_inputs(c.out.graph);
    c.out.set_metadata("qcp_version", kVersion);
    c.out.set_metadata("qcp_method", c.options.method);
}

}  // namespace

int64_t output_bytes(Context& c) {
    finish(c);
    return static_cast<int64_t>(onnx_io::serialize_model(c.out).size());
}

void save(Context& c) {
    const CompressOptions& o = c.options;
    finish(c);
    onnx_io::SaveOptions opts;
    opts.overwrite = o.force;
    opts.external_data = o.external_data;
    onnx_io::save_model(c.out, o.output, opts);
    c.report.written = true;
    std::error_code ec;
    c.report.output_bytes = std::filesystem::file_size(o.output, ec);
    if (std::filesystem::exists(side_file(o), ec)) c.report.output_bytes += std::filesystem::file_size(side_file(o), ec);
    c.report.output_runtime_bytes = engine::runtime_weight_bytes(c.out);
    total_sizes(c);
}

void check(Context& c) {
    const CompressOptions& o = c.options;
    if (!c.calib) return;
    try {
        const ir::Model written = onnx_io::load_model(o.output);
        engine::Session b(written);
        ReferenceRun once(0);
        ReferenceRun& original = c.check_original ? *c.check_original : c.original_outputs.kept() ? c.original_outputs : once;
        const bool kept = original.kept();
        std::optional<engine::Session> a;
        if (!kept) a.emplace(c.model);
        original.start();
        ModelFidelity m(b.output_names(), o.fidelity);
        for (int64_t begin = 0; begin < c.calib_n; begin += o.batch) {
            const std::vector<Tensor> x = c.calib->read_inputs(begin, std::min(o.batch, c.calib_n - begin));
            const std::vector<Tensor> y = b.run(x);
            if (kept) {
                m.add(y, original.batch(static_cast<size_t>(begin / o.batch)));
                continue;
            }
            std::vector<Tensor> r = a->run(x);
            m.add(y, r);
            original.add(std::move(r));
        }
        original.finish(std::nullopt);
        c.report.check_outputs = m.results();
        c.report.check_fidelity = primary_fidelity(c.report.check_outputs);
        c.report.check_samples = c.calib_n;
        if (!c.report.check_outputs.empty() && c.report.check_outputs[0].samples) {
            c.report.check_top1_agreement = c.report.check_outputs[0].top1_agreement;
            c.report.check_output_rel_error = c.report.check_outputs[0].rel_error;
        }
    } catch (...) {  // a file that fails its own check is not left behind as if it were fine
        std::error_code ec;
        std::filesystem::remove(o.output, ec);
        if (o.external_data) std::filesystem::remove(side_file(o), ec);
        throw;
    }
}

}  // namespace qcp::stages
