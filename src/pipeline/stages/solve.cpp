// solve: every selected layer, in network order, solved by its method and rewritten into the
// output model. Data-aware methods see the inputs of the partly compressed network (earlier
// layers already rewritten and corrected), so their errors do not compound unseen. Those inputs
// come from one calibration stream carried from layer to layer (stream.hpp), not from a network
// run per layer; when the stream cannot be used or stops, the per-layer runs take over.
#include <algorithm>

#include "../methods/method.hpp"
#include "../stream.hpp"
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

// The stream is exact only when no layer depends on a later one: each layer's output is first
// computed after its rewrite. Graph order is topological in nearly every file; check it.
bool layers_in_topological_order(const Context& c) {
    const std::vector<int> order = c.model.graph.topological_order();
    std::vector<size_t> position(c.model.graph.nodes.size());
    for (size_t k = 0; k < order.size(); ++k) position[static_cast<size_t>(order[k])] = k;
    for (size_t li = 1; li < c.layers.size(); ++li)
        if (position[static_cast<size_t>(c.layers[li].node)] < position[static_cast<size_t>(c.layers[li - 1].node)]) return false;
    return true;
}

// Outputs the correction may need the original's statistics of: selected layers from plan index
// `from` on.
std::vector<std::string> correctable_outputs(const Context& c, size_t from) {
    std::vector<std::string> values;
    for (size_t li = from; li < c.layers.size(); ++li)
        if (c.report.layers[li].selected) values.push_back(c.layer_outputs[li]);
    return values;
}

// Corrects the layer just rewritten, on the stream when it runs, else by a run of c.out.
void correct_now(Context& c, Correctable& d, calibration::Stream* stream) {
    (void)original_stats(c, d.output, correctable_outputs(c, d.plan_index));
    const std::set<std::string> last = channels_last_values(c);
    std::optional<calibration::ChannelStats> have;
    if (stream) have = stream->stats(d.output, correction_samples(c), last.count(d.output) > 0);
    if (!have)
        have = calibration::collect_stats(c.out, *c.calib, correction_samples(c), c.options.batch, {d.output}, last).at(d.output);
    correct_layer(c, d, *have);
    if (stream) {
        stream->invalidate(d.output);
        // an Add the correction put after the layer: the layer's op (and its weight) is behind it
        if (const int add = rewrite::correction_bias_add(c.out.graph, d.output); add >= 0)
            stream->invalidate(c.out.graph.nodes[static_cast<size_t>(add)].input(0));
    }
}

}  // namespace

void solve(Context& c) {
    const CompressOptions& o = c.options;
    collect_input_hessians(c, false);
    // Without calibration data nothing reads the original again: move it instead of copying
    // every weight (a model of several GB would otherwise need twice its size).
    c.out = c.calib ? c.model : std::move(c.model);
    std::optional<calibration::Stream> stream;
    if (c.calib) {
        if (layers_in_topological_order(c))
            stream.emplace(c.out, *c.calib, c.calib_n, o.batch,
                           c.stream_max_live_bytes.value_or(calibration::Stream::default_max_live_bytes()));
        else c.stream_stopped = "layers are not in topological order";
    }
    const bool correct_here = c.calib && correction_enabled(c);
    const size_t total = static_cast<size_t>(std::count_if(c.report.layers.begin(), c.report.layers.end(),
                                                           [](const LayerPlan& p) { return p.selected; }));
    size_t solved = 0;
    for (size_t li = 0; li < c.layers.size(); ++li) {
        LayerPlan& p = c.report.layers[li];
        if (!p.selected) continue;
        const auto t0 = Clock::now();
        const ir::Layer layer = current_layer(c, li);
        calibration::Stream* s = stream && stream->active() ? &*stream : nullptr;
        const methods::SolveInput in{c.out, layer, li, o, c.objective, c.calib.get(), c.calib_n, c.hessians, s};
        methods::LayerResult r = methods::find(p.method).apply(in, p);
        p.status = r.status;
        p.iterations = r.iterations;
        p.rel_error = r.rel_error;
        if (r.rewrite) {
            c.correctable.push_back({li, c.layer_outputs[li], std::move(*r.rewrite)});
            if (correct_here && c.correctable.back().rw.supports_correction)
                correct_now(c, c.correctable.back(), stream && stream->active() ? &*stream : nullptr);
        }
        p.seconds = since(t0);
        log_progress(fmt::format("[{}/{}] {} {} ({:.1f} s)", ++solved, total, p.name, r.progress, p.seconds));
    }
    if (stream && stream->active() && stream->served() > 0 && o.activations == 0) {
        // the network's outputs after the last layer, for the check (a run of the written file
        // on all samples otherwise); the nodes after the last layer run here. Not with
        // --activations, whose Q/DQ pairs change the outputs before the check.
        std::vector<std::string> names;
        for (const auto& v : c.out.graph.outputs) names.push_back(v.name);
        c.out.graph.rebuild_index();
        c.streamed_outputs = stream->values(names);
    }
    if (stream) {
        c.calib_streamed = stream->served() > 0;
        if (!stream->active()) c.stream_stopped = stream->reason();
        spdlog::debug("calibration stream: {} requests, {} node runs over {} batches{}", stream->served(), stream->nodes_run(), stream->batches(),
                      stream->active() ? "" : " (stopped: " + stream->reason() + ")");
    }
}

}  // namespace qcp::stages
