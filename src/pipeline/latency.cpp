// --measure-latency: regions cut, folded and timed (qcp/pipeline/latency.hpp), and the two
// compress stages around the solve: capture (the original regions and their real inputs, before
// the solve rewrites or moves the model) and measure (the written regions, after the save).
#include "qcp/pipeline/latency.hpp"

#include <algorithm>
#include <chrono>
#include <memory>
#include <random>
#include <set>

#include "qcp/core/error.hpp"
#include "qcp/core/log.hpp"
#include "qcp/core/parallel.hpp"
#include "qcp/engine/fold.hpp"
#include "qcp/engine/session.hpp"
#include "stages/context.hpp"

namespace qcp {

namespace {

bool is_compute_op(const std::string& op) { return op == "Conv" || op == "Gemm" || op == "MatMul"; }

// The input of a layer node that is computed at run time (the weight is the constant one).
size_t data_input(const ir::Graph& g, const ir::Node& node) {
    for (size_t i = 0; i < node.inputs.size(); ++i)
        if (!node.inputs[i].empty() && !g.constant(node.inputs[i])) return i;
    throw Error(node.describe() + ": every input is constant; nothing to time");
}

double median(std::vector<double>& v) {
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Stage names of a chain of n compute nodes (cp_rewrite.hpp's shapes: 1×1 → depthwise → 1×1, or two).
std::string stage_name(size_t k, size_t n) {
    if (n == 3) return k == 0 ? "expansion" : k == 1 ? "depthwise" : "projection";
    if (n == 2) return k == 0 ? "expansion" : "projection";
    return "stage" + std::to_string(k + 1);
}

}  // namespace

ir::Model extract_region(const ir::Model& model, const std::string& input, const std::string& output) {
    const ir::Graph& g = model.graph;
    std::set<int> nodes;
    std::set<std::string> inits, seen;
    std::vector<std::string> todo{output};
    while (!todo.empty()) {
        const std::string v = todo.back();
        todo.pop_back();
        if (v.empty() || v == input || !seen.insert(v).second) continue;
        if (const int p = g.producer(v); p >= 0) {
            if (nodes.insert(p).second)
                for (const auto& in : g.nodes[static_cast<size_t>(p)].inputs) todo.push_back(in);
        } else if (g.find_initializer(v)) {
            inits.insert(v);
        } else {
            throw Error("region '" + input + "' -> '" + output + "' reads '" + v + "', computed outside it at run time");
        }
    }
    if (nodes.empty()) throw Error("no node computes '" + output + "' from '" + input + "'");
    ir::Model m;
    m.ir_version = model.ir_version;
    m.opset_import = model.opset_import;
    m.graph.name = "qcp_latency_region";
    for (const int n : nodes) m.graph.nodes.push_back(g.nodes[static_cast<size_t>(n)]);
    for (const auto& name : inits) m.graph.initializers.push_back(*g.find_initializer(name));
    auto value = [&](const std::string& name) {
        ir::ValueInfo v;
        v.name = name;
        const ir::ValueInfo* known = g.shape_info(name);
        v.dtype = known && known->dtype != DType::Undefined ? known->dtype : DType::Float32;
        return v;  // no shape: the region runs at whatever batch it is given
    };
    m.graph.inputs.push_back(value(input));
    m.graph.outputs.push_back(value(output));
    m.graph.rebuild_index();
    m.graph.sort_topologically();
    return m;
}

std::vector<Timing> time_interleaved(const std::vector<TimedRun>& runs, int reps) {
    if (reps < 1) throw Error("latency: repetitions must be at least 1, got " + std::to_string(reps));
    using Clock = std::chrono::steady_clock;
    std::vector<std::unique_ptr<engine::Session>> sessions;
    for (const auto& r : runs) sessions.push_back(std::make_unique<engine::Session>(*r.model));
    for (size_t i = 0; i < runs.size(); ++i) sessions[i]->run(*runs[i].input);  // warm-up: first-touch allocations
    std::vector<std::vector<double>> ms(runs.size());
    for (int rep = 0; rep < reps; ++rep)
        for (size_t i = 0; i < runs.size(); ++i) {
            const auto t0 = Clock::now();
            sessions[i]->run(*runs[i].input);
            ms[i].push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        }
    std::vector<Timing> t;
    for (auto& v : ms) t.push_back({median(v), *std::min_element(v.begin(), v.end())});
    return t;
}

LayerLatency measure_layer_latency(const ir::Model& before, const ir::Model& after_written, const Tensor& x, int reps,
                                   bool chain_stages) {
    ir::Model after = after_written;
    engine::fold_constants(after);
    std::vector<const ir::Node*> compute;
    if (chain_stages)
        for (const int n : after.graph.topological_order())
            if (is_compute_op(after.graph.nodes[static_cast<size_t>(n)].op_type)) compute.push_back(&after.graph.nodes[static_cast<size_t>(n)]);
    if (compute.size() < 2) compute.clear();
    // each stage's real input, from one run of the folded region
    std::vector<Tensor> stage_inputs(compute.size());
    std::vector<ir::Model> stage_models;
    if (!compute.empty()) {
        engine::Session s(after);
        for (size_t k = 0; k < compute.size(); ++k) {
            const size_t di = data_input(after.graph, *compute[k]);
            const int index = static_cast<int>(compute[k] - after.graph.nodes.data());
            s.observe(index, [&stage_inputs, k, di](const ir::Node&, const std::vector<const Tensor*>& in, const std::vector<Tensor>&) {
                stage_inputs[k] = *in.at(di);
            });
            stage_models.push_back(extract_region(after, compute[k]->inputs[di], compute[k]->outputs.at(0)));
        }
        s.run(x);
    }
    std::vector<TimedRun> runs{{&before, &x}, {&after, &x}};
    for (size_t k = 0; k < stage_models.size(); ++k) runs.push_back({&stage_models[k], &stage_inputs[k]});
    const std::vector<Timing> ms = time_interleaved(runs, reps);
    LayerLatency l;
    l.input_shape = x.shape();
    l.before_ms = ms[0].median_ms;
    l.after_ms = ms[1].median_ms;
    l.before_min_ms = ms[0].min_ms;
    l.after_min_ms = ms[1].min_ms;
    l.reps = reps;
    double sum = 0;
    for (size_t k = 0; k < stage_models.size(); ++k) sum += ms[2 + k].median_ms;
    for (size_t k = 0; k < stage_models.size(); ++k)
        l.stages.push_back({stage_name(k, stage_models.size()), ms[2 + k].median_ms, sum > 0 ? ms[2 + k].median_ms / sum : 0});
    return l;
}

namespace stages {

namespace {

// The graph input the layer inputs are captured from: the first --latency-batch calibration
// samples, else uniform [-1, 1] values (from --seed) in the input's declared shape, an unknown
// first dim taken as --latency-batch.
Tensor latency_graph_input(Context& c, const engine::Session& s) {
    const CompressOptions& o = c.options;
    if (s.input_names().size() != 1)
        throw Error("--measure-latency: the model has " + std::to_string(s.input_names().size()) +
                    " inputs; only single-input models are timed");
    if (c.calib) return c.calib->read(0, std::min(o.latency_batch, c.calib_n));
    const std::string& name = s.input_names()[0];
    const ir::ValueInfo* vi = c.model.graph.shape_info(name);
    if (!vi || !vi->has_shape) throw Error("--measure-latency: input '" + name + "' has no shape; give --calib data to time on");
    if (vi->dtype != DType::Float32) throw Error("--measure-latency: input '" + name + "' is not float32; give --calib data to time on");
    Shape shape;
    for (size_t d = 0; d < vi->dims.size(); ++d) {
        if (vi->dims[d].known()) shape.push_back(vi->dims[d].value);
        else if (d == 0) shape.push_back(o.latency_batch);
        else throw Error("--measure-latency: input '" + name + "' has shape " + vi->shape_str() +
                         "; give --calib data of the shape to time on");
    }
    Tensor t(DType::Float32, shape);
    std::mt19937_64 rng(o.seed);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    float* p = t.data<float>();
    for (int64_t i = 0; i < t.numel(); ++i) p[i] = u(rng);
    return t;
}

}  // namespace

void validate_latency_options(const CompressOptions& o) {
    if (o.latency_reps < 1) throw Error("--latency-reps must be at least 1, got " + std::to_string(o.latency_reps));
    if (o.latency_batch < 1) throw Error("--latency-batch must be at least 1, got " + std::to_string(o.latency_batch));
    if (o.measure_latency && o.dry_run) throw Error("--measure-latency times the rewritten layers; a --dry-run rewrites none");
}

void capture_latency_inputs(Context& c) {
    if (!c.options.measure_latency) return;
    const ir::Graph& g = c.model.graph;
    engine::Session s(c.model);
    c.latency_input = latency_graph_input(c, s);
    for (size_t li = 0; li < c.layers.size(); ++li) {
        if (!c.report.layers[li].selected) continue;
        const ir::Node& node = g.nodes[static_cast<size_t>(c.layers[li].node)];
        LatencyProbe probe;
        probe.plan_index = li;
        try {
            probe.input = node.inputs[data_input(g, node)];
            probe.before = extract_region(c.model, probe.input, c.layer_outputs[li]);
        } catch (const Error& e) {
            spdlog::warn("{}: not timed: {}", c.layers[li].name, e.what());
            continue;
        }
        c.latency_probes.push_back(std::move(probe));
    }
    for (size_t k = 0; k < c.latency_probes.size(); ++k) {
        LatencyProbe& probe = c.latency_probes[k];
        const int index = c.layers[probe.plan_index].node;
        const size_t di = data_input(g, g.nodes[static_cast<size_t>(index)]);
        s.observe(index, [&probe, di](const ir::Node&, const std::vector<const Tensor*>& in, const std::vector<Tensor>&) {
            probe.x = *in.at(di);
        });
    }
    s.run(c.latency_input);
    if (!c.calib) c.latency_original = c.model;  // solve moves c.model into the output without calibration data
}

void measure_latency(Context& c) {
    const CompressOptions& o = c.options;
    if (!o.measure_latency) return;
    const auto t0 = Clock::now();
    for (const LatencyProbe& probe : c.latency_probes) {
        LayerPlan& p = c.report.layers[probe.plan_index];
        try {
            const ir::Model after = extract_region(c.out, probe.input, c.layer_outputs[probe.plan_index]);
            p.latency = measure_layer_latency(probe.before, after, probe.x, o.latency_reps, true);
        } catch (const Error& e) {
            spdlog::warn("{}: not timed: {}", p.name, e.what());
        }
    }
    ir::Model folded = c.out;
    engine::fold_constants(folded);
    const ir::Model& original = c.calib ? c.model : c.latency_original;
    const std::vector<Timing> ms = time_interleaved({{&original, &c.latency_input}, {&folded, &c.latency_input}}, o.latency_reps);
    ModelLatency m;
    m.input_shape = c.latency_input.shape();
    m.before_ms = ms[0].median_ms;
    m.after_ms = ms[1].median_ms;
    m.before_min_ms = ms[0].min_ms;
    m.after_min_ms = ms[1].min_ms;
    m.reps = o.latency_reps;
    m.threads = num_threads();
    c.report.latency = m;
    spdlog::debug("latency of {} layers and the model: {:.1f} s", c.latency_probes.size(), since(t0));
}

}  // namespace stages

}  // namespace qcp
