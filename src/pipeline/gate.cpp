#include "qcp/pipeline/gate.hpp"

#include <cmath>

#include "qcp/core/error.hpp"
#include "qcp/onnx_io/onnx_io.hpp"
#include "qcp/pipeline/table.hpp"
#include "inputs.hpp"

namespace qcp {

namespace {

std::string not_gateable(const std::string& output, const std::string& shape) {
    return "--max-drop without --labels gates on the first output's top-1 agreement, position agreement or mask IoU; output '" +
           output + "' of shape " + shape + " has none (give --labels, --class-axis K or --mask-threshold T)";
}

}  // namespace

void validate_gate(const GateOptions& g, const CompressOptions& o) {
    if (g.data.empty()) throw Error("--max-drop needs --data (the evaluation set; with --labels it gates on top-1)");
    if (!(g.max_drop >= 0) || !std::isfinite(g.max_drop)) throw Error("--max-drop must be a non-negative number of points");
    if (o.dry_run) throw Error("--max-drop evaluates the written model; it cannot be combined with --dry-run");
    if (!g.labels.empty() && !std::filesystem::exists(g.labels)) throw Error(g.labels.string() + ": no such file or folder");
    if (g.count < 0) throw Error("--count must be 0 (all) or positive");
    validate_fidelity_options(o.fidelity);
    const ir::Model m = onnx_io::load_model(o.model);
    for (const auto& [input, path] : data::resolve_sources(g.data, model_inputs(m, o.input_shapes)))
        if (!std::filesystem::exists(path)) throw Error(path.string() + ": no such file or folder");
    if (m.graph.outputs.empty() || !m.graph.outputs[0].has_shape) return;  // decided when it runs
    const ir::ValueInfo& first = m.graph.outputs[0];
    const OutputLayout l = output_layout(first.concrete_shape(-1), o.fidelity, first.name);
    if (!g.labels.empty()) {
        if (l.kind != OutputKind::Classifier)
            throw Error("--max-drop with --labels gates on top-1, which needs a first output of shape (N, classes); output '" + first.name +
                        "' has shape " + first.shape_str() + " (leave out --labels to gate on its agreement with the original)");
        return;
    }
    if (l.kind == OutputKind::Other && !l.mask) throw Error(not_gateable(first.name, first.shape_str()));
}

bool validate_gate_request(const GateOptions& g, bool max_drop_given, const CompressOptions& o) {
    if (!max_drop_given) {
        if (!g.data.empty() || !g.labels.empty() || g.count != 0)
            throw Error("--data, --labels and --count are for the accuracy gate: give --max-drop P too");
        return false;
    }
    validate_gate(g, o);
    return true;
}

void validate_min_top1(double min_top1, const EvalOptions& o) {
    if (o.labels.empty()) throw Error("--min-top1 needs --labels");
    if (!(min_top1 >= 0 && min_top1 <= 100)) throw Error("--min-top1 is a percentage between 0 and 100");
}

nlohmann::ordered_json min_top1_gate(const EvalReport& r, double min_top1) {
    const double top1 = 100.0 * r.top1.value_or(0);
    return {{"min_top1", min_top1}, {"top1", top1}, {"passed", top1 + kGateSlack >= min_top1}};
}

nlohmann::ordered_json run_gate(const GateOptions& g, const CompressOptions& o) {
    ReferenceRun once(0);
    return run_gate(g, o, once);
}

nlohmann::ordered_json run_gate(const GateOptions& g, const CompressOptions& o, ReferenceRun& original) {
    EvalOptions after;
    static_cast<RunOptions&>(after) = o;
    after.data = g.data;
    after.labels = g.labels;
    after.count = g.count;
    after.fidelity = o.fidelity;
    after.model = o.output;
    after.ref = o.model;  // the original runs beside the output (or its outputs are kept in `original`)
    if (!g.labels.empty()) {
        const EvalReport b = evaluate(after, original);
        const double top1_before = 100.0 * original.top1().value_or(0), top1_after = 100.0 * b.top1.value_or(0);
        const double drop = top1_before - top1_after;
        return {{"max_drop", g.max_drop},
                {"samples", b.samples},
                {"metric", "top1"},
                {"output", b.outputs.empty() ? std::string() : b.outputs[0].name},
                {"before", top1_before},
                {"after", top1_after},
                {"top1_before", top1_before},
                {"top1_after", top1_after},
                {"drop", drop},
                {"agreement", b.agreement ? nlohmann::ordered_json(100.0 * *b.agreement) : nullptr},
                {"passed", drop <= g.max_drop + kGateSlack}};
    }
    const EvalReport b = evaluate(after, original);  // the original against itself scores 100%
    if (!b.fidelity || !b.fidelity->percent)
        throw Error(not_gateable(b.outputs.empty() ? std::string("?") : b.outputs[0].name,
                                 b.outputs.empty() ? std::string("?") : shape_str(b.outputs[0].shape)));
    const double drop = 100.0 - b.fidelity->value;
    return {{"max_drop", g.max_drop},
            {"samples", b.samples},
            {"metric", b.fidelity->metric},
            {"output", b.fidelity->output},
            {"before", 100.0},
            {"after", b.fidelity->value},
            {"drop", drop},
            {"passed", drop <= g.max_drop + kGateSlack}};
}

std::string gate_line(const nlohmann::ordered_json& g) {
    const std::string metric = g["metric"].get<std::string>();
    const std::string what = metric == "top1" ? std::string("top-1 ")
                                              : fidelity_metric_label(metric) + " of '" + g["output"].get<std::string>() + "' with the original ";
    return "gate on " + std::to_string(g["samples"].get<int64_t>()) + " samples: " + what + fixed(g["before"].get<double>(), 2) + "% -> " +
           fixed(g["after"].get<double>(), 2) + "% (drop " + fixed(g["drop"].get<double>(), 2) + " points, --max-drop " +
           fixed(g["max_drop"].get<double>(), 2) + "): " + (g["passed"].get<bool>() ? "passed" : "FAILED");
}

}  // namespace qcp
