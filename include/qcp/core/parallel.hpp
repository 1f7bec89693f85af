// Deterministic parallel loops.
//
// parallel_for splits [0, n) into fixed chunks that do not depend on the thread count, so a
// kernel that writes each chunk's outputs independently gives bit-identical results with any
// number of threads. Reductions must combine per-chunk partials in chunk order.
#pragma once

#include <cstdint>
#include <functional>

namespace qcp {

// Threads used by parallel_for (default: all cores). 0 or less means all cores.
void set_num_threads(int n);
int num_threads();

// Calls fn(begin, end) for consecutive chunks of at least `grain` items covering [0, n).
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

}  // namespace qcp
