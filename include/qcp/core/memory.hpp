// A process-wide budget for tensor storage, so that a model or dataset that would need more
// memory than the machine has fails early with a one-line qcp::Error instead of being killed.
//
// Every Tensor's bytes are allocated through DefaultInitAllocator (core/tensor.hpp), which
// calls acquire() before and release() after; allocations made elsewhere for data whose size
// comes from a file (decoded images, file buffers) call require() first. The budget counts
// bytes of tensor storage alive at once, not the process's whole RSS (Eigen work matrices,
// protobuf buffers and the heap's own overhead come on top).
//
// Default limit: the memory available when the budget is first consulted — MemAvailable from
// /proc/meminfo, or the cgroup's memory.max minus its memory.current when that is lower. The
// CLI's global `--max-memory SIZE` sets it; 0 means no limit.
#pragma once

#include <cstdint>
#include <string>

namespace qcp::memory {

void set_limit(uint64_t bytes);  // 0: unlimited
uint64_t limit();                // the limit in force (the default once computed); 0: unlimited
uint64_t in_use();               // tensor bytes alive now
uint64_t peak_in_use();          // most tensor bytes alive at once since start (or reset_peak)
void reset_peak();

// Accounts `bytes` about to be allocated. Throws qcp::Error ("out of memory budget: ...")
// and accounts nothing when in_use() + bytes would pass the limit.
void acquire(uint64_t bytes);
void release(uint64_t bytes) noexcept;
// Throws the same error, naming `what`, unless `bytes` more would fit now (accounts nothing).
void require(uint64_t bytes, const std::string& what);

// Memory the system can give this process now (see the default limit above); 0 if unknown.
uint64_t available_system_memory();

// Every size the CLI takes (--max-memory, --target-size): "4G", "512M", "1.5GiB", "800MB",
// "1000000" (bytes); K/M/G/T are powers of 1024 (K = 1024 bytes, as --max-memory always had),
// case-insensitive, with or without "iB"/"B"; fractions of a byte are dropped; "none" is 0
// (for --max-memory: unlimited). Throws qcp::Error "OPTION 'TEXT': expected ..." for anything
// else: a sign, an unknown suffix, no number, an empty text, or a size of 2^64 bytes or more.
uint64_t parse_size(const std::string& text, const std::string& option = "");
// 1536 -> "1.5 KiB", 3 * 2^30 -> "3.0 GiB".
std::string format_size(uint64_t bytes);

}  // namespace qcp::memory
