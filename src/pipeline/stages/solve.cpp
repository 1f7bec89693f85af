// solve: every selected layer, in network order, solved by its method and rewritten into the
// output model. Data-aware methods see the inputs of the partly compressed network (earlier
// layers already rewritten), so their errors do not compound unseen.
#include <algorithm>

#include "../methods/method.hpp"
#include "context.hpp"
#include "qcp/core/error.hpp"
#include "qcp/core/log.hpp"

namespace qcp::stages {

namespace {

// layers[li] in the partly rewritten graph: its node index moved with every rewrite before it,
// its output name (the handle) did not.
ir::Layer current_layer(const Context& c, size_t li) {
    ir::Layer l = c.layers[li];
    l.node = c.out.graph.producer(c.layer_outputs[li]);
    if (l.node < 0) throw Error("internal: layer " + l.name + " vanished during rewriting");
    return l;
}

// The "[i/n] layer ..." line of a solved layer: info on a terminal, debug otherwise.
void log_progress(const std::string& line) {
    if (log::progress_enabled()) spdlog::info("{}", line);
    else spdlog::debug("{}", line);
}

}  // namespace

void solve(Context& c) {
    const CompressOptions& o = c.options;
    collect_input_hessians(c, false);
    // Without calibration data nothing reads the original again: move it instead of copying
    // every weight (a model of several GB would otherwise need twice its size).
    c.out = c.calib ? c.model : std::move(c.model);
    const size_t total = static_cast<size_t>(std::count_if(c.report.layers.begin(), c.report.layers.end(),
                                                           [](const LayerPlan& p) { return p.selected; }));
    size_t solved = 0;
    for (size_t li = 0; li < c.layers.size(); ++li) {
        LayerPlan& p = c.report.layers[li];
        if (!p.selected) continue;
        const auto t0 = Clock::now();
        const ir::Layer layer = current_layer(c, li);
        const methods::SolveInput in{c.out, layer, li, o, c.objective, c.calib.get(), c.calib_n, c.hessians};
        methods::LayerResult r = methods::find(p.method).apply(in, p);
        p.status = r.status;
        p.iterations = r.iterations;
        p.rel_error = r.rel_error;
        p.seconds = since(t0);
        if (r.rewrite) c.correctable.push_back({li, c.layer_outputs[li], std::move(*r.rewrite)});
        log_progress(fmt::format("[{}/{}] {} {} ({:.1f} s)", ++solved, total, p.name, r.progress, p.seconds));
    }
}

}  // namespace qcp::stages
