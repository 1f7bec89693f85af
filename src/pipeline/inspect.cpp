#include "qcp/pipeline/inspect.hpp"

#include <algorithm>

#include "inputs.hpp"
#include "methods/method.hpp"
#include "qcp/core/error.hpp"
#include "qcp/onnx_io/onnx_io.hpp"
#include "qcp/pipeline/table.hpp"

namespace qcp {

namespace stdfs = std::filesystem;

namespace {

// Model file plus the side files its external data came from.
uint64_t model_bytes(const stdfs::path& path, const ir::Model& m) {
    std::error_code ec;
    uint64_t total = stdfs::file_size(path, ec);
    for (const auto& f : m.external_files) total += stdfs::file_size(f, ec);
    return total;
}

nlohmann::ordered_json value_json(const ir::ValueInfo& v) {
    nlohmann::ordered_json dims = nlohmann::ordered_json::array();
    for (const auto& d : v.dims) {
        if (d.known()) dims.push_back(d.value);
        else if (!d.param.empty()) dims.push_back(d.param);
        else dims.push_back(nullptr);
    }
    return {{"name", v.name},
            {"dtype", v.dtype == DType::Undefined ? "unknown" : dtype_name(v.dtype)},
            {"shape", v.has_shape ? dims : nlohmann::ordered_json(nullptr)}};
}

std::string macs_str(int64_t macs) { return macs < 0 ? "?" : human_count(macs); }

// Layer MACs count unknown dims as 1; past the batch that is a guess, so such a layer's MACs are
// unknown (fix the dims with --input-shape).
bool spatial_dims_known(const ir::Graph& g, const ir::Layer& l) {
    const ir::Node& n = g.nodes.at(static_cast<size_t>(l.node));
    if (n.op_type == "Gemm") return true;  // rows = the batch
    const ir::ValueInfo* vi = g.shape_info(n.op_type == "Conv" ? n.outputs.at(0) : n.input(0));
    if (!vi || !vi->has_shape) return false;
    // MatMul: the rows are every dim but the last (K, fixed by the weight)
    const size_t end = n.op_type == "MatMul" && !vi->dims.empty() ? vi->dims.size() - 1 : vi->dims.size();
    for (size_t d = 1; d < end; ++d)
        if (!vi->dims[d].known()) return false;
    return true;
}

}  // namespace

InspectReport inspect_model(const ir::Model& m, const std::string& path, uint64_t bytes) {
    InspectReport r;
    r.path = path;
    r.bytes = bytes;
    r.ir_version = m.ir_version;
    r.opset = m.opset("");
    r.producer = m.producer_name + (m.producer_version.empty() ? "" : " " + m.producer_version);
    r.layers = ir::find_layers(m.graph);
    for (auto& l : r.layers)
        if (!spatial_dims_known(m.graph, l)) l.macs = -1;
    for (const auto& l : r.layers) {
        r.layer_methods.emplace_back();
        bool factorize = false, quantize = false;
        std::string reason;
        for (const methods::Method* method : methods::table()) {
            const std::string why = method->blocker(l);
            if (why.empty()) r.layer_methods.back().push_back(method->name());
            (method->info().factorizes ? factorize : quantize) |= why.empty();
            if (method->info().factorizes && reason.empty()) reason = why;
        }
        r.can_factorize.push_back(factorize);
        r.can_quantize.push_back(quantize);
        r.reasons.push_back(factorize ? "" : reason);
    }
    r.params = ir::count_params(m.graph);
    for (const auto& l : r.layers) {
        r.layer_params += l.params;
        if (l.macs >= 0) r.macs += l.macs;
        else r.macs_complete = false;
    }
    r.inputs = m.graph.inputs;
    // initializers listed as inputs (IR < 4 exporters) are not real inputs
    r.inputs.erase(std::remove_if(r.inputs.begin(), r.inputs.end(),
                                  [&](const ir::ValueInfo& v) { return m.graph.find_initializer(v.name) != nullptr; }),
                   r.inputs.end());
    r.outputs = m.graph.outputs;
    for (auto& o : r.outputs)
        if (!o.has_shape)
            if (const ir::ValueInfo* vi = m.graph.shape_info(o.name)) o = *vi;
    return r;
}

InspectReport inspect(const InspectOptions& options) {
    ir::Model m = onnx_io::load_model(options.model);
    fix_input_shapes(m, options.input_shapes);
    return inspect_model(m, options.model.string(), model_bytes(options.model, m));
}

nlohmann::ordered_json inspect_to_json(const InspectReport& r) {
    nlohmann::ordered_json layers = nlohmann::ordered_json::array();
    for (size_t i = 0; i < r.layers.size(); ++i) {
        const ir::Layer& l = r.layers[i];
        layers.push_back({{"name", l.name},
                          {"op", l.op},
                          {"weight", l.weight},
                          {"weight_shape", l.weight_shape},
                          {"groups", l.groups},
                          {"params", l.params},
                          {"macs", l.macs < 0 ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(l.macs)},
                          {"can_factorize", bool(r.can_factorize[i])},
                          {"can_quantize", bool(r.can_quantize[i])},
                          {"methods", r.layer_methods[i]},
                          {"reason", r.reasons[i].empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(r.reasons[i])}});
    }
    nlohmann::ordered_json inputs = nlohmann::ordered_json::array();
    for (const auto& v : r.inputs) inputs.push_back(value_json(v));
    nlohmann::ordered_json outputs = nlohmann::ordered_json::array();
    for (const auto& v : r.outputs) outputs.push_back(value_json(v));
    int64_t factorizable = 0;
    int64_t quantizable = 0;
    for (size_t i = 0; i < r.layers.size(); ++i) {
        factorizable += r.can_factorize[i];
        quantizable += r.can_quantize[i];
    }
    return {{"model", r.path},
            {"layers", layers},
            {"totals",
             {{"params", r.params},
              {"layer_params", r.layer_params},
              {"macs", r.macs},
              {"macs_complete", r.macs_complete},
              {"bytes", r.bytes},
              {"ir_version", r.ir_version},
              {"opset", r.opset},
              {"producer", r.producer},
              {"layers", r.layers.size()},
              {"factorizable_layers", factorizable},
              {"quantizable_layers", quantizable},
              {"inputs", inputs},
              {"outputs", outputs}}}};
}

std::string inspect_to_table(const InspectReport& r) {
    Table t({"#", "layer", "op", "weight shape", "groups", "params", "MACs", "cp", "quant", "note"});
    for (size_t i = 0; i < r.layers.size(); ++i) {
        const auto& l = r.layers[i];
        t.add_row({std::to_string(i), l.name, l.op, shape_str(l.weight_shape), std::to_string(l.groups),
                   human_count(l.params), macs_str(l.macs), r.can_factorize[i] ? "yes" : "no",
                   r.can_quantize[i] ? "yes" : "no", r.reasons[i]});
    }
    std::string out = t.render();
    out += "\n";
    out += "model:   " + r.path + " (" + human_bytes(r.bytes) + ", IR " + std::to_string(r.ir_version) + ", opset " +
           std::to_string(r.opset) + (r.producer.empty() ? "" : ", from " + r.producer) + ")\n";
    out += "params:  " + human_count(r.params) + " (" + std::to_string(r.params) + "), " +
           human_count(r.layer_params) + " in " + std::to_string(r.layers.size()) + " conv/FC layers\n";
    out += "MACs:    " + human_count(r.macs) + " at batch 1" + (r.macs_complete ? "" : " (some shapes unknown)") + "\n";
    for (const auto& v : r.inputs)
        out += "input:   " + v.name + " " + (v.dtype == DType::Undefined ? "?" : dtype_name(v.dtype)) + " " + v.shape_str() + "\n";
    for (const auto& v : r.outputs)
        out += "output:  " + v.name + " " + (v.dtype == DType::Undefined ? "?" : dtype_name(v.dtype)) + " " + v.shape_str() + "\n";
    return out;
}

}  // namespace qcp
