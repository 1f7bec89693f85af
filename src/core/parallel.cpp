#include "qcp/core/parallel.hpp"

#include <omp.h>
#include <sched.h>
#include <spdlog/spdlog.h>

#include <Eigen/Core>
#include <algorithm>
#include <charconv>
#include <climits>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

namespace qcp {
namespace {

int g_threads = 0;

// Whitespace-separated words of a file's or variable's text.
std::vector<std::string> words(const std::string& text) {
    std::istringstream in(text);
    std::vector<std::string> out;
    for (std::string w; in >> w;) out.push_back(w);
    return out;
}

// A whole decimal number > 0 spelling the entire word, else nullopt.
std::optional<int64_t> positive_integer(const std::string& word) {
    int64_t v = 0;
    const char* end = word.data() + word.size();
    const auto [ptr, ec] = std::from_chars(word.data(), end, v);
    if (ec != std::errc() || ptr != end || v <= 0) return std::nullopt;
    return v;
}

std::optional<int> quota_cpus(const std::string& quota, const std::string& period) {
    const auto q = positive_integer(quota), p = positive_integer(period);
    if (!q || !p) return std::nullopt;
    const int64_t cpus = *q / *p + (*q % *p != 0);
    return static_cast<int>(std::min<int64_t>(cpus, INT_MAX));
}

std::optional<std::string> read_file(const char* path) {
    std::ifstream in(path);
    if (!in) return std::nullopt;
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

// The default, decided once per process and logged then (the environment does not change under us).
const ThreadDefault& process_default() {
    static const ThreadDefault d = [] {
        const ThreadDefault r = default_threads(read_thread_environment());
        spdlog::debug("threads: {} by default ({}; --threads N overrides)", r.threads, r.reason);
        return r;
    }();
    return d;
}

}  // namespace

std::optional<int> omp_num_threads_value(const std::string& text) {
    const auto w = words(text);
    if (w.size() != 1) return std::nullopt;
    const auto v = positive_integer(w[0].substr(0, w[0].find(',')));
    if (!v || *v > INT_MAX) return std::nullopt;
    return static_cast<int>(*v);
}

std::optional<int> cgroup_v2_cpu_quota(const std::string& cpu_max) {
    const auto w = words(cpu_max);
    if (w.size() != 2) return std::nullopt;  // "max 100000" parses as no quota below, as does garbage
    return quota_cpus(w[0], w[1]);
}

std::optional<int> cgroup_v1_cpu_quota(const std::string& cfs_quota_us, const std::string& cfs_period_us) {
    const auto q = words(cfs_quota_us), p = words(cfs_period_us);
    if (q.size() != 1 || p.size() != 1) return std::nullopt;
    return quota_cpus(q[0], p[0]);  // -1, v1's "no quota", is not positive
}

ThreadDefault default_threads(const ThreadEnvironment& env) {
    std::string ignored;  // said in the reason, so a mistyped variable is visible with -v
    if (env.omp_num_threads) {
        if (const auto n = omp_num_threads_value(*env.omp_num_threads)) return {*n, "OMP_NUM_THREADS=" + *env.omp_num_threads};
        ignored = "OMP_NUM_THREADS='" + *env.omp_num_threads + "' ignored, ";
    }
    std::optional<int> quota;
    std::string source;
    if (env.cpu_max && (quota = cgroup_v2_cpu_quota(*env.cpu_max))) {
        source = "cgroup v2 cpu.max quota";
    } else if (env.cfs_quota_us && env.cfs_period_us &&
               (quota = cgroup_v1_cpu_quota(*env.cfs_quota_us, *env.cfs_period_us))) {
        source = "cgroup v1 cpu.cfs_quota_us quota";
    }
    if (quota) {
        // a quota wider than the CPUs we may run on would only oversubscribe them
        if (env.affinity > 0 && env.affinity < *quota)
            return {env.affinity, ignored + source + " of " + std::to_string(*quota) + " CPUs capped at sched_getaffinity's"};
        return {*quota, ignored + source};
    }
    if (env.affinity > 0) return {env.affinity, ignored + "sched_getaffinity"};
    if (env.hardware > 0) return {static_cast<int>(std::min<unsigned>(env.hardware, INT_MAX)), ignored + "hardware_concurrency"};
    return {1, ignored + "no CPU count known"};
}

ThreadEnvironment read_thread_environment() {
    ThreadEnvironment env;
    if (const char* omp = std::getenv("OMP_NUM_THREADS")) env.omp_num_threads = omp;
    env.cpu_max = read_file("/sys/fs/cgroup/cpu.max");
    env.cfs_quota_us = read_file("/sys/fs/cgroup/cpu/cpu.cfs_quota_us");
    env.cfs_period_us = read_file("/sys/fs/cgroup/cpu/cpu.cfs_period_us");
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0) env.affinity = CPU_COUNT(&set);
    env.hardware = std::thread::hardware_concurrency();
    return env;
}

void set_num_threads(int n) {
    const int threads = n > 0 ? n : process_default().threads;
    if (threads != g_threads && n > 0) spdlog::debug("threads: {} (as asked)", threads);
    g_threads = threads;
    // Eigen's own GEMM threading would split reductions by thread count; qcp parallelises
    // outside Eigen instead, so every Eigen call runs on one thread.
    Eigen::setNbThreads(1);
}

int num_threads() {
    if (g_threads == 0) set_num_threads(0);
    return g_threads;
}

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
    if (n <= 0) return;
    grain = std::max<int64_t>(grain, 1);
    const int64_t chunks = (n + grain - 1) / grain;
    const int threads = static_cast<int>(std::min<int64_t>(num_threads(), chunks));
    if (threads <= 1) {  // the same chunks as with threads: kernels may depend on block bounds
        for (int64_t c = 0; c < chunks; ++c) fn(c * grain, std::min(n, (c + 1) * grain));
        return;
    }
    std::exception_ptr error;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
    for (int64_t c = 0; c < chunks; ++c) {
        try {
            fn(c * grain, std::min(n, (c + 1) * grain));
        } catch (...) {
#pragma omp critical
            if (!error) error = std::current_exception();
        }
    }
    if (error) std::rethrow_exception(error);
}

}  // namespace qcp
