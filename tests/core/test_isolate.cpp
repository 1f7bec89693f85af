#include <gtest/gtest.h>

#include <csignal>
#include <cstdlib>
#include <thread>

#include "qcp/core/error.hpp"
#include "qcp/core/isolate.hpp"

namespace qcp {
namespace {

constexpr double kTimeout = 20;
using Status = IsolatedResult::Status;

TEST(Isolate, ReturnsTheChildsOutputWhateverItsSize) {
    const std::string big(10 << 20, 'x');  // more than a pipe holds: read while the child writes
    const IsolatedResult r = run_isolated([&] { return big + "end"; }, kTimeout);
    ASSERT_EQ(r.status, Status::Ok) << r.detail;
    EXPECT_EQ(r.output.size(), big.size() + 3);
    EXPECT_EQ(r.output.substr(r.output.size() - 3), "end");
}

TEST(Isolate, ErrorsComeBackAsMessages) {
    const IsolatedResult r = run_isolated([]() -> std::string { throw Error("bad header"); }, kTimeout);
    EXPECT_EQ(r.status, Status::Error);
    EXPECT_EQ(r.detail, "bad header");
}

TEST(Isolate, CrashesStayInTheChild) {
    int side_effect = 0;
    const IsolatedResult segv = run_isolated([&]() -> std::string {
        side_effect = 1;  // the child's copy: the parent never sees it
        std::raise(SIGSEGV);
        return "unreachable";
    }, kTimeout);
    EXPECT_EQ(segv.status, Status::Crashed);
    EXPECT_NE(segv.detail.find("signal 11"), std::string::npos) << segv.detail;
    EXPECT_EQ(side_effect, 0);
    const IsolatedResult abort_r = run_isolated([]() -> std::string { std::abort(); }, kTimeout);
    EXPECT_EQ(abort_r.status, Status::Crashed);
    const IsolatedResult other = run_isolated([]() -> std::string { throw std::runtime_error("not a qcp::Error"); }, kTimeout);
    EXPECT_EQ(other.status, Status::Crashed);
    EXPECT_NE(other.detail.find("exited with status"), std::string::npos) << other.detail;
}

TEST(Isolate, HangsAreKilledAtTheTimeLimit) {
    const auto t0 = std::chrono::steady_clock::now();
    const IsolatedResult r = run_isolated([]() -> std::string {
        std::this_thread::sleep_for(std::chrono::seconds(30));
        return "late";
    }, 0.5);
    EXPECT_EQ(r.status, Status::TimedOut);
    EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 10.0);
}

TEST(Isolate, CanBeTurnedOffForDebuggers) {
    ASSERT_EQ(setenv("QCP_NO_ISOLATION", "1", 1), 0);
    int side_effect = 0;
    const IsolatedResult r = run_isolated([&] {
        side_effect = 1;
        return std::string("here");
    }, kTimeout);
    unsetenv("QCP_NO_ISOLATION");
    EXPECT_EQ(r.status, Status::Ok);
    EXPECT_EQ(side_effect, 1);
}

}  // namespace
}  // namespace qcp
