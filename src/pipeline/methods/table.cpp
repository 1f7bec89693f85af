// The method table: one row per method, in the order --help lists them. Everything that needs to
// know which methods exist (parsing, --help, inspect, sweep, the budget, the report) reads it.
#include <algorithm>

#include "method.hpp"
#include "qcp/core/error.hpp"

namespace qcp {

const char* const kDefaultMethod = "admm-cp";

namespace methods {

const std::vector<const Method*>& table() {
    static const std::vector<const Method*> rows = {&admm_cp(), &cp_als(), &rtn(), &gptq(), &pq(), &mixed()};
    return rows;
}

const Method* lookup(const std::string& name) {
    const auto& t = table();
    const auto it = std::find_if(t.begin(), t.end(), [&](const Method* m) { return name == m->name(); });
    return it == t.end() ? nullptr : *it;
}

const Method& find(const std::string& name) {
    if (const Method* m = lookup(name)) return *m;
    throw Error("unknown method '" + name + "' (known: " + method_names() + ")");
}

}  // namespace methods

const std::vector<MethodInfo>& compress_methods() {
    static const std::vector<MethodInfo> infos = [] {
        std::vector<MethodInfo> v;
        for (const methods::Method* m : methods::table()) v.push_back(m->info());
        return v;
    }();
    return infos;
}

std::string method_names(bool factorizing_only) {
    std::string names;
    for (const auto& m : compress_methods())
        if (m.factorizes || !factorizing_only) names += std::string(names.empty() ? "" : ", ") + m.name;
    return names;
}

const char* layer_status_name(LayerStatus s) {
    static_assert(kLayerStatusCount == 7, "a LayerStatus without a name");
    switch (s) {
        case LayerStatus::Planned: return "planned";
        case LayerStatus::Done: return "done";
        case LayerStatus::Converged: return "converged";
        case LayerStatus::MaxIterations: return "max-iterations";
        case LayerStatus::Diverged: return "diverged";
        case LayerStatus::KmeansMaxIterations: return "max_iterations";
        case LayerStatus::RtnFallback: return "rtn fallback (grouped conv with one scale per tensor)";
    }
    return "?";
}

}  // namespace qcp
