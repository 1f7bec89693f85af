// save: the rewritten model sorted, stamped and written atomically (onnx_io::save_model);
// check: the written file read back and run against the original on the calibration samples,
// every output measured (metrics.hpp).
#include <algorithm>
#include <cmath>
#include <filesystem>

#include "context.hpp"
#include "qcp/core/log.hpp"
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

// Samples the written file runs on when the stream's outputs stand in for its own on the rest.
constexpr int64_t kFileCheckSamples = 8;
// The relative L2 difference allowed between the file's outputs and the stream's on those
// samples: the same graph on the same kernels, where only a smaller batch may reorder sums. A
// wrong weight, node or format shows as far more (rtn 8-bit moves rec's output by 5e-2).
constexpr double kFileCheckTolerance = 1e-4;

// The written file's outputs on the calibration batches, in the order of `file`'s outputs: the
// stream's (c.streamed_outputs) once `file` reproduces them on its first samples; nullopt when
// there are none or it does not (the check then runs the file on every sample). Records the
// samples the file ran on in c.report.check_file_samples when they stand.
std::optional<std::vector<std::vector<Tensor>>> streamed_file_outputs(Context& c, engine::Session& file) {
    if (!c.streamed_outputs) return std::nullopt;
    std::vector<std::vector<Tensor>>& streamed = *c.streamed_outputs;
    const int64_t batch = std::min(c.options.batch, c.calib_n);
    if (batch <= 0 || static_cast<int64_t>(streamed.size()) != (c.calib_n + batch - 1) / batch) return std::nullopt;
    std::vector<size_t> at;  // the file's i-th output in c.out's output order
    for (const auto& name : file.output_names()) {
        const auto& outs = c.out.graph.outputs;
        const auto it = std::find_if(outs.begin(), outs.end(), [&](const ir::ValueInfo& v) { return v.name == name; });
        if (it == outs.end()) return std::nullopt;
        at.push_back(static_cast<size_t>(it - outs.begin()));
    }
    const int64_t k = std::min(kFileCheckSamples, batch);
    const std::vector<Tensor> y = file.run(c.calib->read_inputs(0, k));
    for (size_t i = 0; i < y.size(); ++i) {
        const Tensor& s = streamed[0].at(at[i]);
        const bool comparable = s.dtype() == DType::Float32 && y[i].dtype() == DType::Float32 && s.rank() > 0 &&
                                s.rank() == y[i].rank() && s.dim(0) == batch && y[i].dim(0) == k &&
                                std::equal(s.shape().begin() + 1, s.shape().end(), y[i].shape().begin() + 1);
        if (!comparable) {
            spdlog::debug("check: output '{}' is not batched as the stream's; the file runs on every sample", file.output_names()[i]);
            return std::nullopt;
        }
        const float* a = y[i].data<float>();
        const float* b = s.data<float>();  // its first k rows
        double diff = 0, ref = 0;
        for (int64_t j = 0; j < y[i].numel(); ++j) {
            diff += (static_cast<double>(a[j]) - b[j]) * (static_cast<double>(a[j]) - b[j]);
            ref += static_cast<double>(b[j]) * b[j];
        }
        if (!(diff <= kFileCheckTolerance * kFileCheckTolerance * ref)) {  // NaN fails too
            spdlog::warn("check: the written file's output '{}' differs from the calibration stream's (relative {:.2g}); "
                         "running it on every sample", file.output_names()[i], std::sqrt(diff / std::max(ref, 1e-300)));
            return std::nullopt;
        }
    }
    std::vector<std::vector<Tensor>> outputs(streamed.size());
    for (size_t b = 0; b < streamed.size(); ++b)
        for (size_t i = 0; i < at.size(); ++i) outputs[b].push_back(std::move(streamed[b].at(at[i])));
    c.streamed_outputs.reset();
    c.report.check_file_samples = k;
    spdlog::debug("check: the written file reproduces the stream's outputs on {} samples; the stream's stand for all {}", k, c.calib_n);
    return outputs;
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
        std::optional<std::vector<std::vector<Tensor>>> streamed = streamed_file_outputs(c, b);
        original.start();
        ModelFidelity m(b.output_names(), o.fidelity);
        for (int64_t begin = 0; begin < c.calib_n; begin += o.batch) {
            const size_t batch = static_cast<size_t>(begin / o.batch);
            std::vector<Tensor> x;  // read only for a model that runs on it
            if (!streamed || !kept) x = c.calib->read_inputs(begin, std::min(o.batch, c.calib_n - begin));
            const std::vector<Tensor> y = streamed ? std::move((*streamed)[batch]) : b.run(x);
            if (kept) {
                m.add(y, original.batch(batch));
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
        if (!streamed) c.report.check_file_samples = c.calib_n;
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
