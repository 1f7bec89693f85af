#include "qcp/pipeline/gate.hpp"

#include <cmath>

#include "qcp/core/error.hpp"
#include "qcp/pipeline/table.hpp"

namespace qcp {

void validate_gate(const GateOptions& g, const CompressOptions& o) {
    if (g.data.empty() || g.labels.empty()) throw Error("--max-drop needs --data and --labels (the evaluation set)");
    if (!(g.max_drop >= 0) || !std::isfinite(g.max_drop)) throw Error("--max-drop must be a non-negative number of points");
    if (o.dry_run) throw Error("--max-drop evaluates the written model; it cannot be combined with --dry-run");
    for (const auto* p : {&g.data, &g.labels})
        if (!std::filesystem::exists(*p)) throw Error(p->string() + ": no such file or folder");
    if (g.count < 0) throw Error("--count must be 0 (all) or positive");
}

nlohmann::ordered_json run_gate(const GateOptions& g, const CompressOptions& o) {
    EvalOptions before;
    static_cast<RunOptions&>(before) = o;
    before.data = g.data;
    before.labels = g.labels;
    before.count = g.count;
    EvalOptions after = before;
    before.model = o.model;
    after.model = o.output;
    after.ref = o.model;
    const EvalReport a = evaluate(before), b = evaluate(after);
    const double top1_before = 100.0 * a.top1.value_or(0), top1_after = 100.0 * b.top1.value_or(0);
    const double drop = top1_before - top1_after;
    return {{"max_drop", g.max_drop},
            {"samples", b.samples},
            {"top1_before", top1_before},
            {"top1_after", top1_after},
            {"drop", drop},
            {"agreement", b.agreement ? nlohmann::ordered_json(100.0 * *b.agreement) : nullptr},
            {"passed", drop <= g.max_drop + kGateSlack}};
}

std::string gate_line(const nlohmann::ordered_json& g) {
    return "gate on " + std::to_string(g["samples"].get<int64_t>()) + " samples: top-1 " + fixed(g["top1_before"].get<double>(), 2) +
           "% -> " + fixed(g["top1_after"].get<double>(), 2) + "% (drop " + fixed(g["drop"].get<double>(), 2) + " points, --max-drop " +
           fixed(g["max_drop"].get<double>(), 2) + "): " + (g["passed"].get<bool>() ? "passed" : "FAILED");
}

}  // namespace qcp
