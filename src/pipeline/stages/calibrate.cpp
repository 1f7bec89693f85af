// calibrate: the calibration data opened and checked against the model's input, the CP
// objective resolved, and (on demand) the input Hessians the budget and the solve read.
#include "../calibration.hpp"
#include "../inputs.hpp"
#include "../methods/method.hpp"
#include "context.hpp"
#include "qcp/core/error.hpp"
#include "qcp/core/log.hpp"
#include "qcp/engine/session.hpp"

namespace qcp::stages {

namespace {

// The CP objective when --objective is not given, with or without --calib: the weight one
// lost to the output one on held-out accuracy (docs/RESULTS.md, issue 7).
constexpr const char* kDefaultObjective = "weight";

}  // namespace

std::string resolved_objective(const CompressOptions& o) { return o.objective.empty() ? kDefaultObjective : o.objective; }

void calibrate(Context& c) {
    const CompressOptions& o = c.options;
    if (!o.calib.empty()) {
        c.calib = open_model_data(c.model, o.calib, o);
        c.calib_n = std::min(o.calib_count, c.calib->size());
    }
    c.objective = resolved_objective(o);
    if (c.objective == "output" && !c.calib && !o.dry_run) throw Error("--objective output needs calibration data (--calib)");
    if (correction_enabled(c) && !c.calib && !o.dry_run) throw Error("--correct needs calibration data (--calib)");
    if (o.activations && c.model.opset("") < 10)
        throw Error("--activations 8 needs opset 10 or later for QuantizeLinear (model has opset " + std::to_string(c.model.opset("")) + ")");
}

void collect_input_hessians(Context& c, bool all_selected) {
    if (!c.calib) return;
    std::vector<ir::Layer> targets;
    std::vector<size_t> index;
    for (size_t li = 0; li < c.layers.size(); ++li) {
        const LayerPlan& p = c.report.layers[li];
        if (!p.selected || c.layers[li].groups > 1 || c.hessians.count(li)) continue;
        if (!all_selected && !methods::find(p.method).uses_input_hessian(c.objective)) continue;
        targets.push_back(c.layers[li]);
        index.push_back(li);
    }
    if (targets.empty()) return;
    const auto t0 = Clock::now();
    auto hs = calibration::collect_hessians(c.model, targets, *c.calib, c.calib_n, c.options.batch);
    for (size_t t = 0; t < index.size(); ++t) c.hessians[index[t]] = std::move(hs[t].at(0));
    spdlog::debug("input Hessians of {} layers: {:.1f} s", index.size(), since(t0));
}

}  // namespace qcp::stages
