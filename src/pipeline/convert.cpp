// upgrade_opset(): onnx_io::convert_opset, then the engine runs the model before and after on the
// same inputs; convert(): that between a load and a save (`qcp convert`).
#include "qcp/pipeline/convert.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <memory>

#include "inputs.hpp"
#include "qcp/core/error.hpp"
#include "qcp/core/fs.hpp"
#include "qcp/core/log.hpp"
#include "qcp/core/parallel.hpp"
#include "qcp/engine/session.hpp"
#include "qcp/onnx_io/onnx_io.hpp"
#include "qcp/pipeline/table.hpp"

namespace qcp {

namespace {

// A fixed seed: the same model gets the same check inputs on every run.
constexpr uint64_t kRandomSeed = 0x9e3779b97f4a7c15ULL;

uint64_t splitmix64(uint64_t& state) {
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

Tensor random_input(const ir::ValueInfo& vi, uint64_t& state) {
    Shape shape;
    for (size_t d = 0; d < vi.dims.size(); ++d)
        shape.push_back(vi.dims[d].known() ? vi.dims[d].value : d == 0 ? kOpsetCheckSamples : kOpsetCheckFreeDim);
    Tensor t(vi.dtype, shape);  // zero-filled
    if (vi.dtype == DType::Float32) {
        float* p = t.data<float>();
        for (int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<float>(splitmix64(state) >> 40) * 0x1.0p-24f;
    }
    return t;
}

std::vector<Tensor> check_inputs(const ir::Model& model, const engine::Session& s, data::Dataset* calib, std::string& what) {
    if (calib) {
        what = "calibration data";
        return calib->read_inputs(0, std::min(kOpsetCheckSamples, calib->size()));
    }
    what = "random";
    uint64_t state = kRandomSeed;
    std::vector<Tensor> inputs;
    for (const auto& name : s.input_names()) {
        const ir::ValueInfo* vi = model.graph.shape_info(name);
        if (!vi || !vi->has_shape || vi->dtype == DType::Undefined)
            throw Error("input '" + name + "' has no known type and rank to make random data for");
        inputs.push_back(random_input(*vi, state));
    }
    return inputs;
}

// max |a - b| / max |a|; infinity when shapes, types or integer values differ.
double rel_difference(const Tensor& a, const Tensor& b) {
    constexpr double kInf = std::numeric_limits<double>::infinity();
    if (a.shape() != b.shape() || a.dtype() != b.dtype()) return kInf;
    if (a.dtype() != DType::Float32) return a.bytes() == b.bytes() ? 0.0 : kInf;
    const float* pa = a.data<float>();
    const float* pb = b.data<float>();
    double diff = 0, scale = 0;
    for (int64_t i = 0; i < a.numel(); ++i) {
        if (std::isnan(pa[i]) != std::isnan(pb[i])) return kInf;
        if (std::isnan(pa[i])) continue;
        if (std::isinf(pa[i]) || std::isinf(pb[i])) {
            if (pa[i] != pb[i]) return kInf;
            continue;
        }
        diff = std::max(diff, std::fabs(double(pa[i]) - pb[i]));
        scale = std::max(scale, std::fabs(double(pa[i])));
    }
    return scale > 0 ? diff / scale : diff;
}

std::string sci(double v, int digits) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.*e", digits, v);
    return buf;
}

std::string step_str(const onnx_io::OpsetConversion& c) { return std::to_string(c.from) + "→" + std::to_string(c.to); }

}  // namespace

OpsetUpgrade upgrade_opset(ir::Model& model, int64_t target, data::Dataset* calib) {
    const ir::Model original = model;
    OpsetUpgrade u;
    u.conversion = onnx_io::convert_opset(model, target);
    if (u.conversion.from == u.conversion.to) return u;
    OpsetCheck& c = u.check;
    std::unique_ptr<engine::Session> before;
    std::vector<Tensor> inputs, want;
    try {
        before = std::make_unique<engine::Session>(original);
        inputs = check_inputs(original, *before, calib, c.inputs);
        want = before->run(inputs);
    } catch (const Error& e) {
        c.skipped = e.what();
        spdlog::warn("opset {}: the converted model is not checked: qcp's engine cannot run the original ({})",
                     step_str(u.conversion), c.skipped);
        return u;
    }
    std::vector<Tensor> got;
    try {
        const engine::Session after(model);
        got = after.run(inputs);
    } catch (const Error& e) {
        throw Error("opset " + step_str(u.conversion) + ": the converted model fails in qcp's engine: " + e.what());
    }
    c.ran = true;
    c.samples = inputs.at(0).rank() > 0 ? inputs[0].dim(0) : 1;
    const auto& outs = original.graph.outputs;
    for (size_t i = 0; i < want.size(); ++i) {
        const double e = rel_difference(want[i], got.at(i));
        if (e > kOpsetCheckTolerance)
            throw Error("opset " + step_str(u.conversion) + " changed output '" + outs[i].name + "': max rel. error " +
                        sci(e, 2) + " on " + std::to_string(c.samples) + " " + c.inputs + " sample(s) (tolerance " +
                        sci(kOpsetCheckTolerance, 0) + ")");
        if (e >= c.max_rel_error) {
            c.max_rel_error = e;
            c.worst_output = outs[i].name;
        }
    }
    spdlog::debug("opset {}: outputs within {} of the original on {} {} sample(s)", step_str(u.conversion),
                 sci(c.max_rel_error, 1), c.samples, c.inputs);
    return u;
}

std::unique_ptr<data::Dataset> open_check_data(const ir::Model& model, const data::Sources& calib, const RunOptions& o) {
    if (calib.empty()) return nullptr;
    return open_model_data(model, calib, o);
}

ConvertReport convert(const ConvertOptions& o) {
    const auto t0 = std::chrono::steady_clock::now();
    if (o.output.empty()) throw Error("convert needs -o OUT");
    if (o.opset == 0) throw Error("convert needs --opset N");
    if (fs::same_file(o.model, o.output)) throw Error("output " + o.output.string() + " is the input model; refusing to overwrite it");
    std::error_code ec;
    if (!o.force && std::filesystem::exists(o.output, ec))
        throw Error(o.output.string() + ": already exists (use --force to overwrite)");
    set_num_threads(o.threads);
    ConvertReport r;
    r.options = o;
    ir::Model model = onnx_io::load_model(o.model);
    r.input_opset = model.opset("");
    const std::unique_ptr<data::Dataset> calib = open_check_data(model, o.calib, o);
    r.upgrade = upgrade_opset(model, o.opset, calib.get());
    onnx_io::SaveOptions save;
    save.overwrite = o.force;
    save.external_data = o.external_data;
    onnx_io::save_model(model, o.output, save);
    r.output_bytes = std::filesystem::file_size(o.output, ec);
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return r;
}

nlohmann::ordered_json opset_upgrade_to_json(const OpsetUpgrade& u) {
    using json = nlohmann::ordered_json;
    const OpsetCheck& c = u.check;
    return {{"from", u.conversion.from},
            {"to", u.conversion.to},
            {"onnx_converter_steps", u.conversion.onnx_steps},
            {"qcp_adapted_nodes", u.conversion.nodes},
            {"check", {{"ran", c.ran},
                       {"skipped", c.skipped.empty() ? json(nullptr) : json(c.skipped)},
                       {"inputs", c.ran ? json(c.inputs) : json(nullptr)},
                       {"samples", c.samples},
                       {"max_rel_error", c.ran ? json(c.max_rel_error) : json(nullptr)},
                       {"tolerance", kOpsetCheckTolerance}}}};
}

nlohmann::ordered_json convert_to_json(const ConvertReport& r) {
    return {{"input", {{"path", r.options.model.string()}, {"opset", r.input_opset}}},
            {"output", {{"path", r.options.output.string()}, {"opset", r.upgrade.conversion.to}, {"bytes", r.output_bytes}}},
            {"conversion", opset_upgrade_to_json(r.upgrade)},
            {"seconds", r.seconds}};
}

std::string opset_upgrade_line(const OpsetUpgrade& u) {
    const OpsetCheck& c = u.check;
    std::string s = "opset " + std::to_string(u.conversion.from) + " -> " + std::to_string(u.conversion.to);
    if (u.conversion.from == u.conversion.to) return s + " (unchanged)\n";
    s += " (" + std::to_string(u.conversion.onnx_steps) + " step(s) by ONNX's converter, " +
         std::to_string(u.conversion.nodes.size()) + " node(s) by qcp's adapters); ";
    if (!c.ran) return s + "not checked: " + c.skipped + "\n";
    return s + "check on " + std::to_string(c.samples) + " " + c.inputs + " sample(s): max rel. error " +
           sci(c.max_rel_error, 1) + "\n";
}

std::string convert_to_table(const ConvertReport& r) {
    return opset_upgrade_line(r.upgrade) + "written to " + r.options.output.string() + " (" + human_bytes(r.output_bytes) +
           ")\ntime: " + fixed(r.seconds, 1) + " s\n";
}

}  // namespace qcp
