#include "qcp/core/parallel.hpp"

#include <omp.h>

#include <Eigen/Core>
#include <algorithm>
#include <exception>
#include <thread>

namespace qcp {
namespace {

int g_threads = 0;

}  // namespace

void set_num_threads(int n) {
    g_threads = n > 0 ? n : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
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
