#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "qcp/core/error.hpp"
#include "qcp/core/memory.hpp"
#include "qcp/core/tensor.hpp"

namespace qcp {
namespace {

constexpr uint64_t kMiB = uint64_t(1) << 20;

// Sets a limit for one test and puts the previous one back.
class LimitScope {
public:
    explicit LimitScope(uint64_t bytes) : previous_(memory::limit()) { memory::set_limit(bytes); }
    ~LimitScope() { memory::set_limit(previous_); }

private:
    uint64_t previous_;
};

TEST(MemoryBudget, ParsesSizes) {
    EXPECT_EQ(memory::parse_size("1000000"), 1000000u);
    EXPECT_EQ(memory::parse_size("512M"), 512 * kMiB);
    EXPECT_EQ(memory::parse_size("512MB"), 512 * kMiB);
    EXPECT_EQ(memory::parse_size("4g"), 4096 * kMiB);
    EXPECT_EQ(memory::parse_size("1.5GiB"), 1536 * kMiB);
    EXPECT_EQ(memory::parse_size("2 T"), 2 * (uint64_t(1) << 40));
    EXPECT_EQ(memory::parse_size("64K"), 64u * 1024);
    EXPECT_EQ(memory::parse_size("0"), 0u);
    EXPECT_EQ(memory::parse_size("none"), 0u);
    EXPECT_EQ(memory::parse_size("800K"), 800u * 1024);
    EXPECT_EQ(memory::parse_size("800kb"), 800u * 1024);
    EXPECT_EQ(memory::parse_size("5M"), 5 * kMiB);
    EXPECT_EQ(memory::parse_size("1.5G"), 1536 * kMiB);
    EXPECT_EQ(memory::parse_size("200000B"), 200000u);
    EXPECT_EQ(memory::parse_size("2.5"), 2u);  // fractions of a byte dropped
    EXPECT_EQ(memory::parse_size("15.99999999T"), uint64_t(15.99999999 * 1099511627776.0));
    for (const char* bad : {"", " ", "lots", "-1G", "-1M", "+5M", "4X", "5Q", "G", "1e30T", "nan", "inf", "0x10", "5iB",
                            "5MM", "18446744073709551616", "16777216T", "1,5G"}) {
        SCOPED_TRACE(bad);
        EXPECT_THROW(memory::parse_size(bad), Error);
    }
}

TEST(MemoryBudget, SizeErrorNamesTheOptionAndTheText) {
    try {
        memory::parse_size("5Q", "--target-size");
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()).rfind("--target-size '5Q': expected", 0), 0u) << e.what();
        EXPECT_NE(std::string(e.what()).find("powers of 1024"), std::string::npos) << e.what();
    }
}

TEST(MemoryBudget, FormatsSizes) {
    EXPECT_EQ(memory::format_size(0), "0 B");
    EXPECT_EQ(memory::format_size(1536), "1.5 KiB");
    EXPECT_EQ(memory::format_size(3 * (uint64_t(1) << 30)), "3.0 GiB");
}

TEST(MemoryBudget, DefaultIsTheAvailableMemory) {
    const uint64_t available = memory::available_system_memory();
    EXPECT_GT(available, 16 * kMiB);  // /proc/meminfo is readable on Linux
    EXPECT_GT(memory::limit(), 0u);
}

TEST(MemoryBudget, TensorsAreChargedAndReleased) {
    const uint64_t base = memory::in_use();
    {
        Tensor t(DType::Float32, {1024, 256});  // 1 MiB
        EXPECT_EQ(memory::in_use(), base + kMiB);
        Tensor copy = t;
        EXPECT_EQ(memory::in_use(), base + 2 * kMiB);
        Tensor moved = std::move(copy);
        EXPECT_EQ(memory::in_use(), base + 2 * kMiB);
        EXPECT_GE(memory::peak_in_use(), base + 2 * kMiB);
    }
    EXPECT_EQ(memory::in_use(), base);
}

TEST(MemoryBudget, AllocationPastTheLimitThrowsAndChargesNothing) {
    LimitScope scope(memory::in_use() + 8 * kMiB);
    const uint64_t base = memory::in_use();
    Tensor fits(DType::Float32, {1024, 1024});  // 4 MiB
    try {
        Tensor too_big(DType::Float32, {1024, 1024, 2});  // 8 MiB more
        ADD_FAILURE() << "allocated past the limit";
    } catch (const Error& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("out of memory budget"), std::string::npos) << what;
        EXPECT_NE(what.find("8.0 MiB"), std::string::npos) << what;
        EXPECT_NE(what.find("--max-memory"), std::string::npos) << what;
    }
    EXPECT_EQ(memory::in_use(), base + 4 * kMiB);
    // a petabyte is refused up front, without overflowing the count
    EXPECT_THROW(Tensor(DType::Float32, {int64_t(1) << 48}), Error);
    EXPECT_THROW(memory::require(uint64_t(1) << 62, "test"), Error);
    EXPECT_NO_THROW(memory::require(kMiB, "test"));
    EXPECT_EQ(memory::in_use(), base + 4 * kMiB);
}

TEST(MemoryBudget, ZeroMeansNoLimit) {
    LimitScope scope(0);
    EXPECT_NO_THROW(memory::require(uint64_t(1) << 62, "test"));
}

TEST(MemoryBudget, ConcurrentChargesBalance) {
    const uint64_t base = memory::in_use();
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([] {
            for (int i = 0; i < 200; ++i) Tensor x(DType::UInt8, {4096 + i});
        });
    for (auto& t : threads) t.join();
    EXPECT_EQ(memory::in_use(), base);
}

}  // namespace
}  // namespace qcp
