// The compress report: JSON (the contract in DESIGN.md) and the table. Fields a method owns are
// null here, in their place, and filled by the method's report hooks.
#include <algorithm>
#include <map>

#include "methods/method.hpp"
#include "qcp/core/version.hpp"
#include "qcp/pipeline/compress.hpp"
#include "qcp/pipeline/evaluate.hpp"
#include "qcp/pipeline/table.hpp"
#include "stages/context.hpp"

namespace qcp {

namespace {

const char* granularity_name(decomp::Granularity g) { return g == decomp::Granularity::Tensor ? "tensor" : "channel"; }

// Σ weight bits before and after over the layers the method may compress: those the plan
// selected, including those a budget then left as they are. Their ratio is the compression ratio,
// one definition for the budget, the totals, the table and sweep (budget.hpp).
struct BitTotals {
    int64_t before = 0, after = 0;
    double ratio() const { return after > 0 ? double(before) / double(after) : 0.0; }
};
BitTotals weight_bits(const std::vector<LayerPlan>& layers) {
    BitTotals t;
    for (const auto& p : layers)
        if (p.selected || p.budgeted) t.before += p.weight_bits_before, t.after += p.weight_bits_after;
    return t;
}

// How many layer nodes ORT fuses into each kernel ("none" for the rest), over all layers.
std::map<std::string, int64_t> activation_fusions(const std::vector<LayerPlan>& layers) {
    std::map<std::string, int64_t> n;
    for (const auto& p : layers)
        for (const auto& f : p.activation_fusion) ++n[f.substr(0, f.find_first_of(": "))];
    return n;
}

// "QLinearConv x3" for a chain of one kernel, else the kernels joined.
std::string fusion_note(const std::vector<std::string>& fusions) {
    if (fusions.empty()) return "";
    const bool same = std::all_of(fusions.begin(), fusions.end(), [&](const std::string& f) { return f == fusions[0]; });
    if (same) return fusions[0] + (fusions.size() > 1 ? " x" + std::to_string(fusions.size()) : "");
    std::string s;
    for (const auto& f : fusions) s += (s.empty() ? "" : " + ") + f;
    return s;
}

// --measure-latency: a layer's "latency" object (null when not timed).
nlohmann::ordered_json latency_json(const std::optional<LayerLatency>& l) {
    using json = nlohmann::ordered_json;
    if (!l) return nullptr;
    json stages = nullptr;
    if (!l->stages.empty()) {
        stages = json::object();
        for (const auto& st : l->stages) stages[st.name] = {{"ms", st.ms}, {"share", st.share}};
    }
    return {{"input_shape", l->input_shape}, {"before_ms", l->before_ms}, {"after_ms", l->after_ms},
            {"ratio", l->ratio()}, {"reps", l->reps}, {"before_min_ms", l->before_min_ms}, {"after_min_ms", l->after_min_ms},
            {"stages", stages}};
}

// Σ before and after over the timed layers.
struct LatencySums {
    double before = 0, after = 0;
    int64_t layers = 0;
};
LatencySums latency_sums(const std::vector<LayerPlan>& layers) {
    LatencySums t;
    for (const auto& p : layers)
        if (p.latency) t.before += p.latency->before_ms, t.after += p.latency->after_ms, ++t.layers;
    return t;
}

nlohmann::ordered_json latency_totals_json(const CompressReport& r) {
    using json = nlohmann::ordered_json;
    if (!r.latency) return nullptr;
    const LatencySums s = latency_sums(r.layers);
    const ModelLatency& m = *r.latency;
    return {{"engine", "qcp"}, {"threads", m.threads}, {"reps", m.reps}, {"layers", s.layers},
            {"layers_before_ms", s.before}, {"layers_after_ms", s.after},
            {"layers_ratio", s.before > 0 ? json(s.after / s.before) : json(nullptr)},
            {"model", {{"input_shape", m.input_shape}, {"before_ms", m.before_ms}, {"after_ms", m.after_ms},
                       {"ratio", m.ratio()}, {"reps", m.reps}, {"before_min_ms", m.before_min_ms}, {"after_min_ms", m.after_min_ms}}}};
}

// "0.54x (1.20 -> 0.65 ms)" for the table.
std::string latency_cell(const std::optional<LayerLatency>& l) {
    if (!l) return "-";
    return fixed(l->ratio(), 2) + "x (" + fixed(l->before_ms, 3) + " -> " + fixed(l->after_ms, 3) + " ms)";
}

}  // namespace

nlohmann::ordered_json compress_to_json(const CompressReport& r) {
    using json = nlohmann::ordered_json;
    const CompressOptions& o = r.options;
    const methods::Method& method = methods::find(o.method);
    auto opt = [](const auto& v) -> json {
        if (!v) return nullptr;
        return *v;
    };
    json settings = {{"rank", opt(o.rank)},
                     {"rank_ratio", o.rank || o.rank_ratio ? opt(o.rank_ratio) : json(2.0)},
                     {"rank_align", o.rank_align},
                     {"bits", o.bits},
                     {"granularity", o.block_size > 0 ? "block" : granularity_name(o.granularity.value_or(
                                         method.info().factorizes ? decomp::Granularity::Tensor : decomp::Granularity::Channel))},
                     {"symmetric", o.symmetric},
                     {"block_size", o.block_size > 0 ? json(o.block_size) : json(nullptr)},
                     {"damp", o.damp},
                     {"objective", stages::resolved_objective(o)},
                     {"act_order", o.act_order},
                     {"format", rewrite::weight_format_name(resolved_format(o))},
                     {"calib", o.calib.empty() ? json(nullptr) : json(o.calib.string())},
                     {"calib_count", o.calib_count},
                     {"correct", o.correct.value_or(!o.calib.empty())},
                     {"layer_rules", o.layer_rules},
                     {"excludes", o.excludes},
                     {"target_ratio", opt(o.target_ratio)},
                     {"target_size", opt(o.target_size)},
                     {"target_macs", opt(o.target_macs)},
                     {"bits_auto", o.bits_auto},
                     {"centroids", nullptr},
                     {"pq_block", nullptr},
                     {"pq_iters", nullptr},
                     {"pq_metric", nullptr},
                     {"pq_refit", nullptr},
                     {"dry_run", o.dry_run},
                     {"opset", opt(o.opset)},
                     {"activations", o.activations ? json(o.activations) : json(nullptr)},
                     {"act_calib", o.activations ? json(stages::resolved_act_calib(o)) : json(nullptr)},
                     {"act_percentile", o.activations && stages::resolved_act_calib(o) == "percentile"
                                            ? json(stages::resolved_act_percentile(o)) : json(nullptr)},
                     {"measure_latency", o.measure_latency},
                     {"latency_reps", o.measure_latency ? json(o.latency_reps) : json(nullptr)},
                     {"latency_batch", o.measure_latency ? json(o.latency_batch) : json(nullptr)}};
    method.report_settings(settings, o);
    json layers = json::array();
    const BitTotals bits = weight_bits(r.layers);
    int64_t ideal_after = 0;
    for (const auto& p : r.layers) {
        if (p.selected || p.budgeted) ideal_after += p.ideal_bits_after.value_or(p.weight_bits_after);
        json row = {{"name", p.name},
                          {"op", p.op},
                          {"weight_shape", p.weight_shape},
                          {"method", p.method},
                          {"rank", p.selected && p.rank > 0 ? json(p.rank) : json(nullptr)},
                          {"bits", p.selected && p.bits > 0 ? json(p.bits) : json(nullptr)},
                          {"granularity", p.selected && p.scheme.empty() ? json(granularity_name(p.granularity)) : json(nullptr)},
                          {"scheme", p.scheme.empty() ? json(nullptr) : json(p.scheme)},
                          {"storage", p.selected && !p.storage.empty() ? json(p.storage) : json(nullptr)},
                          {"output_error_before", opt(p.output_error_before)},
                          {"output_error_after", opt(p.output_error_after)},
                          {"params_before", p.params_before},
                          {"params_after", p.params_after},
                          {"weight_bits_before", p.weight_bits_before},
                          {"weight_bits_after", p.weight_bits_after},
                          {"macs_before", p.macs_before < 0 ? json(nullptr) : json(p.macs_before)},
                          {"macs_after", p.macs_after < 0 ? json(nullptr) : json(p.macs_after)},
                          {"rel_error", opt(p.rel_error)},
                          {"rel_error_rounded_cp_als", opt(p.rel_error_init)},
                          {"objective", p.objective.empty() ? json(nullptr) : json(p.objective)},
                          {"output_rel_error", opt(p.output_rel_error)},
                          {"predicted_damage", opt(p.predicted_damage)},
                          {"sensitivity", opt(p.sensitivity)},
                          {"centroids", nullptr},
                          {"subvector", nullptr},
                          {"ideal_weight_bits_after", opt(p.ideal_bits_after)},
                          {"status", p.selected ? json(layer_status_name(p.status)) : json("skipped")},
                          {"reason", p.reason.empty() ? json(nullptr) : json(p.reason)},
                          {"corrected", p.corrected},
                          {"activation_fusion", p.activation_fusion.empty() ? json(nullptr) : json(p.activation_fusion)},
                          {"iterations", p.iterations},
                          {"seconds", p.seconds},
                          {"latency", latency_json(p.latency)}};
        if (const methods::Method* m = methods::lookup(p.method)) m->report_layer(row, p);
        layers.push_back(std::move(row));
    }
    auto ratio = [](double a, double b) -> json { return b > 0 ? json(a / b) : json(nullptr); };
    json budget = nullptr;
    if (r.budget_target) {
        json achieved = nullptr;
        if (*r.budget_target == "ratio") achieved = ratio(double(bits.before), double(bits.after));
        else if (*r.budget_target == "size" && r.written) achieved = r.output_bytes;
        else if (*r.budget_target == "macs") achieved = ratio(double(r.output_macs), double(r.input_macs));
        budget = {{"target", *r.budget_target}, {"value", r.budget_value}, {"achieved", achieved},
                  {"weight_bits_before", bits.before}, {"weight_bits_after", bits.after},
                  {"predicted_damage", r.budget_predicted_damage}, {"sensitivity", r.budget_sensitivity}};
    }
    json report = {{"qcp_version", kVersion},
                   {"method", o.method},
                   {"seed", o.seed},
                   {"settings", settings},
                   {"input", {{"path", o.model.string()}, {"sha256", r.input_sha256}, {"bytes", r.input_bytes},
                              {"runtime_weight_bytes", r.input_runtime_bytes}, {"params", r.input_params},
                              {"macs", r.input_macs}, {"opset", r.input_opset}}},
                   {"output", {{"path", o.dry_run ? json(nullptr) : json(o.output.string())},
                               {"bytes", r.written ? json(r.output_bytes) : json(nullptr)},
                               {"runtime_weight_bytes", r.written ? json(r.output_runtime_bytes) : json(nullptr)},
                               {"params", r.output_params}, {"macs", r.output_macs}}},
                   {"layers", layers},
                   {"totals", {{"weight_bits_before", bits.before},
                               {"weight_bits_after", bits.after},
                               {"compression_ratio", ratio(double(bits.before), double(bits.after))},
                               {"ideal_compression_ratio", ratio(double(bits.before), double(ideal_after))},
                               {"file_ratio", r.written ? ratio(double(r.input_bytes), double(r.output_bytes)) : json(nullptr)},
                               {"macs_ratio", ratio(double(r.input_macs), double(r.output_macs))},
                               {"seconds", r.seconds},
                               {"latency", latency_totals_json(r)}}},
                   {"budget", budget},
                   {"conversion", r.opset_upgrade ? opset_upgrade_to_json(*r.opset_upgrade) : json(nullptr)},
                   {"activations", o.activations ? json{{"bits", o.activations}, {"tensors", r.act_tensors},
                                                         {"fusions", activation_fusions(r.layers)}}
                                                 : json(nullptr)},
                   {"check", {{"samples", opt(r.check_samples)},
                              {"file_samples", opt(r.check_file_samples)},
                              {"top1_agreement", opt(r.check_top1_agreement)},
                              {"output_rel_error", opt(r.check_output_rel_error)},
                              {"fidelity", primary_fidelity_json(r.check_fidelity)},
                              {"outputs", r.check_samples ? json(fidelity_to_json(r.check_outputs)) : json(nullptr)}}}};
    return report;
}

std::string compress_to_table(const CompressReport& r) {
    std::vector<std::string> columns{"layer", "op", "weight shape", "method", "rank", "bits", "storage", "params", "MACs", "rel. error"};
    if (r.budget_sensitivity) columns.push_back("sensitivity");
    if (r.options.measure_latency) columns.push_back("latency (engine)");
    columns.push_back("status");
    Table t(columns);
    for (const auto& p : r.layers) {
        const std::string params = p.selected ? human_count(p.params_before) + " -> " + human_count(p.params_after)
                                              : human_count(p.params_before);
        const std::string macs = p.macs_before < 0 ? "?"
                                 : p.selected && p.macs_after >= 0
                                     ? human_count(p.macs_before) + " -> " + human_count(p.macs_after)
                                     : human_count(p.macs_before);
        std::string status = p.selected ? std::string(layer_status_name(p.status)) : "skipped: " + p.reason;
        if (const methods::Method* m = methods::lookup(p.method); m && p.selected) status += m->table_note(p);
        if (p.corrected) status += ", corrected";
        if (!p.activation_fusion.empty()) status += ", a8: " + fusion_note(p.activation_fusion);
        std::vector<std::string> row{p.name, p.op, shape_str(p.weight_shape), p.selected ? p.method : "-",
                   p.selected && p.rank > 0 ? std::to_string(p.rank) : "-", p.selected && p.bits > 0 ? std::to_string(p.bits) : "-",
                   p.selected && !p.storage.empty() ? p.storage : "-", params, macs,
                   p.rel_error ? fixed(*p.rel_error, 4) : "-"};
        if (r.budget_sensitivity) row.push_back(p.sensitivity ? fixed(*p.sensitivity, 3) : "-");
        if (r.options.measure_latency) row.push_back(latency_cell(p.latency));
        row.push_back(status);
        t.add_row(row);
    }
    const BitTotals bits = weight_bits(r.layers);
    std::string s = t.render() + "\n";
    const size_t selected = static_cast<size_t>(std::count_if(r.layers.begin(), r.layers.end(), [](const LayerPlan& p) { return p.selected; }));
    const size_t fell_back = static_cast<size_t>(std::count_if(r.layers.begin(), r.layers.end(), [](const LayerPlan& p) {
        return p.status == LayerStatus::RtnFallback;
    }));
    s += std::to_string(selected) + " of " + std::to_string(r.layers.size()) + " conv/FC layers compressed (" +
         std::to_string(r.layers.size() - selected) + " left as they were" +
         (fell_back ? ", " + std::to_string(fell_back) + " fell back to rtn" : std::string()) + ")\n";
    s += "compressible layers' weights: " + human_bytes(static_cast<uint64_t>(bits.before / 8)) + " -> " +
         human_bytes(static_cast<uint64_t>(bits.after / 8)) + (bits.after > 0 ? " (" + fixed(bits.ratio(), 2) + "x)" : "") + "\n";
    if (r.budget_target) {
        std::string achieved;
        if (*r.budget_target == "ratio") achieved = fixed(bits.ratio(), 2) + "x";
        else if (*r.budget_target == "size") achieved = r.written ? std::to_string(r.output_bytes) + " bytes" : "(not written)";
        else achieved = fixed(double(r.output_macs) / std::max<int64_t>(r.input_macs, 1), 3) + " of the MACs";
        s += "budget: target " + *r.budget_target + " " + fixed(r.budget_value, *r.budget_target == "size" ? 0 : 3) +
             ", planned " + achieved + " (predicted damage " + fixed(r.budget_predicted_damage, 4) +
             (r.budget_sensitivity ? ", weighted by measured sensitivity" : "") + ")\n";
    }
    if (r.opset_upgrade) s += opset_upgrade_line(*r.opset_upgrade);
    s += "params: " + human_count(r.input_params) + " -> " + human_count(r.output_params) + "; MACs: " +
         human_count(r.input_macs) + " -> " + human_count(r.output_macs) + "\n";
    if (r.written)
        s += "file: " + human_bytes(r.input_bytes) + " -> " + human_bytes(r.output_bytes) + " (" +
             fixed(double(r.input_bytes) / std::max<uint64_t>(r.output_bytes, 1), 2) + "x) written to " +
             r.options.output.string() + "\n" + "weights held at run time (after constant folding): " +
             human_bytes(static_cast<uint64_t>(r.input_runtime_bytes)) + " -> " + human_bytes(static_cast<uint64_t>(r.output_runtime_bytes)) +
             " (" + rewrite::weight_format_name(resolved_format(r.options)) + ")\n";
    if (r.options.activations && r.written) {
        std::string kernels;
        int64_t unfused = 0;
        for (const auto& [k, n] : activation_fusions(r.layers)) {
            if (k == "none") unfused = n;
            else kernels += (kernels.empty() ? "" : ", ") + std::to_string(n) + " " + k;
        }
        s += "activations: uint8 on " + std::to_string(r.act_tensors) + " tensors (" + stages::resolved_act_calib(r.options) +
             "); ORT CPU runs " + (kernels.empty() ? std::string("no int8 kernel") : kernels) +
             (unfused ? ", " + std::to_string(unfused) + " layer nodes in float" : std::string()) + "\n";
    }
    if (r.check_samples) {
        s += "check on " + std::to_string(*r.check_samples) + " calibration samples: ";
        if (r.check_top1_agreement) s += "top-1 agreement " + fixed(100.0 * *r.check_top1_agreement, 2) + "%, ";
        else if (r.check_fidelity && r.check_fidelity->percent)
            s += fidelity_metric_label(r.check_fidelity->metric) + " " + fixed(r.check_fidelity->value, 2) + "%, ";
        s += "output rel. error " + fixed(r.check_output_rel_error.value_or(0), 4) + "\n";
        if (r.check_outputs.size() > 1 || !r.check_top1_agreement) s += fidelity_to_text(r.check_outputs, "  ");
    }
    if (r.latency) {
        const LatencySums l = latency_sums(r.layers);
        const ModelLatency& m = *r.latency;
        s += "latency in qcp's engine (input " + shape_str(m.input_shape) + ", " + std::to_string(m.threads) + " thread(s), median of " +
             std::to_string(m.reps) + " interleaved runs): " + std::to_string(l.layers) + " layers " + fixed(l.before, 3) + " -> " +
             fixed(l.after, 3) + " ms (" + fixed(l.before > 0 ? l.after / l.before : 0, 2) + "x); whole model " + fixed(m.before_ms, 3) +
             " -> " + fixed(m.after_ms, 3) + " ms (" + fixed(m.ratio(), 2) + "x)\n";
    }
    s += "time: " + fixed(r.seconds, 1) + " s\n";
    return s;
}

}  // namespace qcp
