#include "qcp/core/memory.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <fstream>

#include "qcp/core/error.hpp"

namespace qcp::memory {
namespace {

constexpr uint64_t kUnset = UINT64_MAX;
constexpr uint64_t kKiB = 1024;

std::atomic<uint64_t> g_limit{kUnset};
std::atomic<bool> g_limit_explicit{false};
std::atomic<uint64_t> g_in_use{0};
std::atomic<uint64_t> g_peak{0};

// A number from a one-line file such as cgroup's memory.max; nullopt-like 0 for "max" or absent.
uint64_t read_number_file(const char* path) {
    std::ifstream in(path);
    std::string text;
    if (!(in >> text) || text.empty() || !std::isdigit(static_cast<unsigned char>(text[0]))) return 0;
    try {
        return std::stoull(text);
    } catch (const std::exception&) {
        return 0;
    }
}

uint64_t meminfo_available() {
    std::ifstream in("/proc/meminfo");
    std::string key;
    uint64_t value = 0;
    std::string unit;
    while (in >> key >> value >> unit)
        if (key == "MemAvailable:") return value * kKiB;
    return 0;
}

// Room left under a cgroup (v2, else v1) memory limit; 0 when there is none.
uint64_t cgroup_room() {
    uint64_t max = read_number_file("/sys/fs/cgroup/memory.max");
    uint64_t current = read_number_file("/sys/fs/cgroup/memory.current");
    if (max == 0) {
        max = read_number_file("/sys/fs/cgroup/memory/memory.limit_in_bytes");
        current = read_number_file("/sys/fs/cgroup/memory/memory.usage_in_bytes");
        if (max >= (uint64_t{1} << 60)) max = 0;  // v1 spells "no limit" as a huge number
    }
    if (max == 0) return 0;
    return max > current ? max - current : 1;
}

[[noreturn]] void throw_over_budget(uint64_t bytes, uint64_t used, uint64_t lim, const std::string& what) {
    const std::string source = g_limit_explicit.load() ? "--max-memory" : "the memory available; raise it with --max-memory";
    throw Error("out of memory budget: " + what + " needs " + format_size(bytes) + " (" + format_size(used) +
                " already in use, limit " + format_size(lim) + ": " + source + ")");
}

void note_peak(uint64_t now) {
    uint64_t peak = g_peak.load(std::memory_order_relaxed);
    while (now > peak && !g_peak.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
    }
}

}  // namespace

void set_limit(uint64_t bytes) {
    g_limit.store(bytes);
    g_limit_explicit.store(true);
}

uint64_t limit() {
    uint64_t lim = g_limit.load(std::memory_order_relaxed);
    if (lim != kUnset) return lim;
    uint64_t expected = kUnset;
    g_limit.compare_exchange_strong(expected, available_system_memory());
    return g_limit.load();
}

uint64_t in_use() { return g_in_use.load(); }
uint64_t peak_in_use() { return g_peak.load(); }
void reset_peak() { g_peak.store(g_in_use.load()); }

void acquire(uint64_t bytes) {
    const uint64_t lim = limit();
    if (lim != 0 && bytes > lim) throw_over_budget(bytes, g_in_use.load(), lim, "a tensor");
    const uint64_t now = g_in_use.fetch_add(bytes) + bytes;
    if (lim != 0 && now > lim) {
        g_in_use.fetch_sub(bytes);
        throw_over_budget(bytes, now - bytes, lim, "a tensor");
    }
    note_peak(now);
}

void release(uint64_t bytes) noexcept { g_in_use.fetch_sub(bytes); }

void require(uint64_t bytes, const std::string& what) {
    const uint64_t lim = limit();
    const uint64_t used = g_in_use.load();
    if (lim != 0 && (bytes > lim || used > lim - bytes)) throw_over_budget(bytes, used, lim, what);
}

uint64_t available_system_memory() {
    const uint64_t meminfo = meminfo_available();
    const uint64_t cgroup = cgroup_room();
    if (meminfo == 0) return cgroup;
    return cgroup == 0 ? meminfo : std::min(meminfo, cgroup);
}

uint64_t parse_size(const std::string& text, const std::string& option) {
    const auto bad = [&]() {
        return Error((option.empty() ? std::string("size") : option) + " '" + text +
                     "': expected bytes, or a number with K, M, G or T (powers of 1024), e.g. 800K, 5M, 1.5G" +
                     (option == "--max-memory" ? ", or 0 for no limit" : ""));
    };
    std::string s;
    for (char c : text)
        if (!std::isspace(static_cast<unsigned char>(c))) s += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (s == "NONE") return 0;
    // digits first: stod alone would also take "+5", "0x1F", "inf" and leading spaces
    if (s.empty() || !(std::isdigit(static_cast<unsigned char>(s[0])) || s[0] == '.')) throw bad();
    size_t used = 0;
    double value = 0;
    try {
        value = std::stod(s, &used);
    } catch (const std::exception&) {
        throw bad();
    }
    if (!std::isfinite(value) || value < 0 || s.substr(0, used).find('X') != std::string::npos) throw bad();  // no hex
    std::string unit = s.substr(used);
    if (unit.size() == 3 && unit.compare(1, 2, "IB") == 0) unit.resize(1);  // KiB
    else if (unit.size() == 2 && unit[1] == 'B') unit.resize(1);           // KB (still 1024)
    const std::string units = "BKMGT";
    if (!unit.empty() && (unit.size() != 1 || units.find(unit[0]) == std::string::npos)) throw bad();
    const double scale = unit.empty() ? 1.0 : std::pow(1024.0, static_cast<double>(units.find(unit[0])));
    const double bytes = value * scale;
    if (bytes >= 18446744073709551615.0) throw bad();
    return static_cast<uint64_t>(bytes);
}

std::string format_size(uint64_t bytes) {
    static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    double v = static_cast<double>(bytes);
    int u = 0;
    while (v >= 1024.0 && u < 6) {
        v /= 1024.0;
        ++u;
    }
    char buf[32];
    if (u == 0) std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(bytes));
    else std::snprintf(buf, sizeof buf, "%.1f %s", v, kUnits[u]);
    return buf;
}

}  // namespace qcp::memory
