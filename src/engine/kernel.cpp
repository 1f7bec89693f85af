#include "qcp/engine/kernel.hpp"

#include <algorithm>

#include "qcp/core/error.hpp"

namespace qcp::engine {

const Tensor& KernelContext::in(size_t i) const {
    if (!has_input(i)) throw Error(where() + "missing input " + std::to_string(i));
    return *inputs[i];
}

void KernelRegistry::add(std::string op, int64_t since, int64_t until, KernelFn fn) {
    defs_.push_back({std::move(op), since, until, fn});
}

const KernelDef* KernelRegistry::find(const std::string& op, int64_t opset) const {
    for (const auto& d : defs_)
        if (d.op == op && d.since <= opset && opset <= d.until) return &d;
    return nullptr;
}

std::vector<std::string> KernelRegistry::ops() const {
    std::vector<std::string> names;
    for (const auto& d : defs_) names.push_back(d.op);
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    return names;
}

}  // namespace qcp::engine
