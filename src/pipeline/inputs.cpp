#include "inputs.hpp"

#include <algorithm>

#include "qcp/core/error.hpp"
#include "qcp/core/log.hpp"
#include "qcp/engine/session.hpp"
#include "qcp/ir/layers.hpp"
#include "qcp/onnx_io/onnx_io.hpp"

namespace qcp {

namespace {

// Layer MACs read the shapes of each layer's input and output, unknown dims counted as 1.
bool all_layer_shapes_known(const ir::Model& model) {
    const ir::Graph& g = model.graph;
    for (const ir::Layer& l : ir::find_layers(g)) {
        const ir::Node& n = g.nodes.at(static_cast<size_t>(l.node));
        for (const std::string* v : {&n.input(0), &n.outputs.at(0)}) {
            const ir::ValueInfo* vi = g.shape_info(*v);
            if (!vi || !vi->fully_known()) return false;
        }
    }
    return true;
}

// Where ONNX shape inference stops (shapes computed at run time, e.g. a Reshape of a Shape), one
// engine run on constant inputs of the fixed shapes records every node output's shape.
void infer_shapes_by_running(ir::Model& model, const std::vector<data::ModelInput>& inputs) {
    std::vector<Tensor> feed;
    for (const auto& in : inputs) {
        if (in.shape.empty() || std::any_of(in.shape.begin(), in.shape.end(), [](int64_t d) { return d <= 0; })) return;
        data::ModelInput one = in;
        one.dynamic_batch = false;
        feed.push_back(data::constant_input(one, 0.0, 1));
    }
    try {
        engine::Session session(model);
        std::map<std::string, ir::ValueInfo> seen;
        for (size_t n = 0; n < model.graph.nodes.size(); ++n)
            session.observe(static_cast<int>(n), [&seen](const ir::Node& node, const std::vector<const Tensor*>&,
                                                         const std::vector<Tensor>& outs) {
                for (size_t i = 0; i < outs.size() && i < node.outputs.size(); ++i) {
                    ir::ValueInfo vi;
                    vi.name = node.outputs[i];
                    vi.dtype = outs[i].dtype();
                    vi.has_shape = true;
                    for (int64_t d : outs[i].shape()) vi.dims.push_back(ir::Dim{d, ""});
                    seen[vi.name] = std::move(vi);
                }
            });
        (void)session.run(feed);
        for (auto& [name, vi] : seen) {
            const ir::ValueInfo* have = model.graph.shape_info(name);
            if (!have || !have->fully_known()) model.graph.inferred[name] = std::move(vi);
        }
    } catch (const Error& e) {
        spdlog::warn("shapes from a run of the engine unavailable ({}); some MACs stay unknown", e.what());
    }
}

}  // namespace

std::vector<data::ModelInput> model_inputs(const ir::Model& model, const std::vector<data::InputShape>& shapes) {
    const ir::Graph& g = model.graph;
    std::vector<data::ModelInput> inputs;
    for (const auto& v : g.inputs) {
        if (g.find_initializer(v.name)) continue;
        data::ModelInput in;
        in.name = v.name;
        const ir::ValueInfo* vi = g.shape_info(v.name);
        if (vi && vi->dtype != DType::Undefined) in.dtype = vi->dtype;
        if (vi && vi->has_shape) in.shape = vi->concrete_shape(-1);
        inputs.push_back(std::move(in));
    }
    return data::apply_input_shapes(std::move(inputs), shapes);
}

std::unique_ptr<data::Dataset> open_model_data(const ir::Model& model, const data::Sources& sources, const RunOptions& o) {
    return data::open_inputs(sources, o.image, model_inputs(model, o.input_shapes), o.input_values);
}

void fix_input_shapes(ir::Model& model, const std::vector<data::InputShape>& shapes) {
    if (shapes.empty()) return;
    const std::vector<data::ModelInput> inputs = model_inputs(model, shapes);  // checks them
    for (auto& v : model.graph.inputs)
        for (const auto& in : inputs)
            if (in.name == v.name) {
                v.has_shape = true;
                v.dims.assign(in.shape.size(), ir::Dim{});
                for (size_t d = 0; d < in.shape.size(); ++d) v.dims[d].value = in.shape[d];
            }
    // declared shapes with unknown dims would hide what inference finds
    auto& vis = model.graph.value_info;
    vis.erase(std::remove_if(vis.begin(), vis.end(), [](const ir::ValueInfo& v) { return !v.fully_known(); }), vis.end());
    onnx_io::infer_shapes(model);
    if (!all_layer_shapes_known(model)) infer_shapes_by_running(model, inputs);
}

}  // namespace qcp
