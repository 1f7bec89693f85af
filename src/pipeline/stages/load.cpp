// load: the options checked before any work, the output checked before it can be overwritten,
// and the model read with its sizes.
#include <filesystem>

#include "context.hpp"
#include "qcp/core/error.hpp"
#include "qcp/core/fs.hpp"
#include "qcp/core/parallel.hpp"
#include "qcp/core/sha256.hpp"
#include "qcp/engine/fold.hpp"
#include "qcp/onnx_io/onnx_io.hpp"
#include "qcp/pipeline/evaluate.hpp"
#include "qcp/pipeline/inspect.hpp"
#include "../inputs.hpp"

namespace qcp::stages {

namespace {

// --opset: the model upgraded before anything reads it, checked on the first calibration samples.
void upgrade(Context& c) {
    const std::unique_ptr<data::Dataset> calib = open_check_data(c.model, c.options.calib, c.options);
    c.report.opset_upgrade = upgrade_opset(c.model, *c.options.opset, calib.get());
}

// The model's sizes and layers. With --input-shape, measured on a copy whose dynamic dims are
// fixed, as `qcp inspect --input-shape` measures them: the layers' MACs (and the shapes the CP
// chains' MACs are counted from) are then known. The copy is only for counting; the written
// model keeps its dynamic dims (fixing shapes touches value infos only, never the nodes).
InspectReport inspect_shaped(const ir::Model& model, const CompressOptions& o) {
    const uint64_t bytes = std::filesystem::file_size(o.model);
    if (o.input_shapes.empty()) return inspect_model(model, o.model.string(), bytes);
    ir::Model shaped = model;
    fix_input_shapes(shaped, o.input_shapes);
    return inspect_model(shaped, o.model.string(), bytes);
}

}  // namespace

void load(Context& c) {
    const CompressOptions& o = c.options;
    plan::validate_options(o);
    if (o.fidelity.class_axis) check_fidelity_options(o.model, o.fidelity);  // before any work, as eval and compare
    c.rules = plan::parse_rules(o.layer_rules);
    c.excludes = plan::parse_excludes(o.excludes);
    if (!o.dry_run) {
        if (fs::same_file(o.model, o.output)) throw Error("output " + o.output.string() + " is the input model; refusing to overwrite it");
        std::error_code ec;
        if (!o.force && std::filesystem::exists(o.output, ec))
            throw Error(o.output.string() + ": already exists (use --force to overwrite)");
    }
    set_num_threads(o.threads);

    c.model = onnx_io::load_model(o.model);
    c.report.input_opset = c.model.opset("");
    if (o.opset) upgrade(c);
    const InspectReport info = inspect_shaped(c.model, o);
    c.report.input_bytes = info.bytes;
    c.report.input_params = info.params;
    c.report.input_macs = info.macs;
    c.report.input_sha256 = sha256_file(o.model);
    c.report.input_runtime_bytes = engine::runtime_weight_bytes(c.model);
    c.layers = info.layers;
    for (const auto& l : c.layers) c.layer_outputs.push_back(c.model.graph.nodes[static_cast<size_t>(l.node)].outputs.at(0));
}

void total_sizes(Context& c) {
    CompressReport& r = c.report;
    r.output_params = r.input_params;
    r.output_macs = r.input_macs;
    for (const auto& p : r.layers) {
        r.output_params += p.params_after - p.params_before;
        if (p.macs_after >= 0 && p.macs_before >= 0) r.output_macs += p.macs_after - p.macs_before;
    }
}

}  // namespace qcp::stages
