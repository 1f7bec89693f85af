#include "qcp/core/isa.hpp"

#include <spdlog/spdlog.h>

#include <cstdlib>

#include "qcp/core/error.hpp"

namespace qcp {

void log_isa_copy(const char* what, const char* copy, IsaLevel level) {
    spdlog::debug("{}: {} (CPU level {})", what, copy, isa_name(level));
}

const char* isa_name(IsaLevel level) {
    switch (level) {
        case IsaLevel::V4: return "v4";
        case IsaLevel::V3: return "v3";
        case IsaLevel::Baseline: break;
    }
    return "baseline";
}

IsaLevel cpu_isa_level() {
#if defined(__x86_64__) && defined(__GNUC__)
    // libgcc checks the OS-enabled state (XGETBV) too, not only CPUID
    __builtin_cpu_init();
    if (__builtin_cpu_supports("x86-64-v4")) return IsaLevel::V4;
    if (__builtin_cpu_supports("x86-64-v3")) return IsaLevel::V3;
#endif
    return IsaLevel::Baseline;
}

IsaLevel choose_isa_level(const std::optional<std::string>& env, IsaLevel cpu) {
    if (!env || env->empty()) return cpu;
    for (const IsaLevel level : {IsaLevel::Baseline, IsaLevel::V3, IsaLevel::V4}) {
        if (*env != isa_name(level)) continue;
        if (static_cast<int>(level) > static_cast<int>(cpu))
            throw Error("QCP_ISA=" + *env + ": this CPU supports x86-64 level " + isa_name(cpu) + " only");
        return level;
    }
    throw Error("QCP_ISA=" + *env + ": expected baseline, v3 or v4");
}

IsaLevel isa_level() {
    static const IsaLevel level = [] {
        const char* env = std::getenv("QCP_ISA");
        return choose_isa_level(env ? std::optional<std::string>(env) : std::nullopt, cpu_isa_level());
    }();
    return level;
}

}  // namespace qcp
