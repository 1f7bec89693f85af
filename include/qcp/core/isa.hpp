// x86-64 instruction-set levels for code built more than once (cmake/QcpIsa.cmake).
//
// The portable build compiles the Eigen-heavy solvers three times: for the x86-64 baseline
// (SSE2), x86-64-v3 (AVX2, FMA, F16C, BMI2) and x86-64-v4 (AVX-512 F/BW/CD/DQ/VL), and each
// public call picks one copy by isa_level(). Results are deterministic per level; different
// levels may round differently (FMA), so output bytes can differ between machines.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

namespace qcp {

enum class IsaLevel { Baseline, V3, V4 };

// "baseline", "v3", "v4".
const char* isa_name(IsaLevel level);

// The highest level this CPU (and its OS, for the AVX state) supports.
IsaLevel cpu_isa_level();

// The level to run: $QCP_ISA (baseline|v3|v4) when set, else cpu_isa_level(). Decided on the
// first call. Throws qcp::Error for an unknown name or a level above the CPU's.
IsaLevel isa_level();

// isa_level()'s rule for a given $QCP_ISA value (nullopt: unset) and CPU level; for tests.
IsaLevel choose_isa_level(const std::optional<std::string>& env, IsaLevel cpu);

// The debug line of choose_isa_copy.
void log_isa_copy(const char* what, const char* copy, IsaLevel level);

// The copy of a module's entry points for isa_level(), logged once as "<what>: <copy> (CPU level
// <level>)". `copies` holds the baseline, v3 and v4 copies, or only the baseline one when the
// build made a single copy with its own flags. Each copy has a `name` member.
template <class EntryPoints, std::size_t N>
EntryPoints choose_isa_copy(const EntryPoints (&copies)[N], const char* what) {
    static_assert(N == 1 || N == 3, "the baseline copy, or the baseline, v3 and v4 copies");
    const IsaLevel level = isa_level();
    const EntryPoints& e = N == 1 ? copies[0] : copies[static_cast<std::size_t>(level) < N ? static_cast<std::size_t>(level) : 0];
    log_isa_copy(what, e.name, level);
    return e;
}

}  // namespace qcp
