// Deterministic parallel loops.
//
// parallel_for splits [0, n) into fixed chunks that do not depend on the thread count, so a
// kernel that writes each chunk's outputs independently gives bit-identical results with any
// number of threads. Reductions must combine per-chunk partials in chunk order.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace qcp {

// Threads used by parallel_for. 0 or less means the default (default_threads() below).
void set_num_threads(int n);
int num_threads();

// Calls fn(begin, end) for consecutive chunks of at least `grain` items covering [0, n).
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

// What the default thread count is decided from; nullopt: the variable is unset or the file absent.
struct ThreadEnvironment {
    std::optional<std::string> omp_num_threads;  // $OMP_NUM_THREADS
    std::optional<std::string> cpu_max;          // cgroup v2 /sys/fs/cgroup/cpu.max: "QUOTA PERIOD" or "max PERIOD"
    std::optional<std::string> cfs_quota_us;     // cgroup v1 /sys/fs/cgroup/cpu/cpu.cfs_quota_us (-1: none)
    std::optional<std::string> cfs_period_us;    // cgroup v1 /sys/fs/cgroup/cpu/cpu.cfs_period_us
    int affinity = 0;                            // CPUs in sched_getaffinity's mask (0: unknown)
    unsigned hardware = 0;                       // std::thread::hardware_concurrency() (0: unknown)
};

struct ThreadDefault {
    int threads = 1;     // >= 1
    std::string reason;  // for the debug log, e.g. "OMP_NUM_THREADS=4", "cgroup v2 cpu.max quota", "sched_getaffinity"
};

// The default thread count, first that applies: OMP_NUM_THREADS when it is a whole number > 0
// (its first entry if a list, "4,2"); else the cgroup CPU quota rounded up, ceil(quota / period)
// (v2 cpu.max, else v1), capped at the affinity count when that is smaller; else the affinity
// count; else hardware_concurrency; else 1. Text that does not parse is ignored. Pure.
ThreadDefault default_threads(const ThreadEnvironment& env);

// The cgroup quota in whole CPUs, rounded up; nullopt for no quota ("max", -1) or unparsable text.
std::optional<int> cgroup_v2_cpu_quota(const std::string& cpu_max);
std::optional<int> cgroup_v1_cpu_quota(const std::string& cfs_quota_us, const std::string& cfs_period_us);
// OMP_NUM_THREADS's first entry when it is a whole number > 0; nullopt otherwise.
std::optional<int> omp_num_threads_value(const std::string& text);

// This process's environment, read from the variable, /sys/fs/cgroup and the scheduler.
ThreadEnvironment read_thread_environment();

}  // namespace qcp
