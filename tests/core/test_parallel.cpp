#include <gtest/gtest.h>

#include <atomic>

#include "qcp/core/parallel.hpp"

namespace qcp {
namespace {

TEST(DefaultThreads, OmpNumThreadsValue) {
    EXPECT_EQ(omp_num_threads_value("4"), 4);
    EXPECT_EQ(omp_num_threads_value(" 12\n"), 12);
    EXPECT_EQ(omp_num_threads_value("3,2"), 3);  // nested levels: the outer one
    for (const char* bad : {"", "0", "-2", "four", "4x", "2.5", "4 4", "99999999999999999999", ",3"}) {
        SCOPED_TRACE(bad);
        EXPECT_EQ(omp_num_threads_value(bad), std::nullopt);
    }
}

TEST(DefaultThreads, CgroupV2CpuMax) {
    EXPECT_EQ(cgroup_v2_cpu_quota("max 100000\n"), std::nullopt);
    EXPECT_EQ(cgroup_v2_cpu_quota("200000 100000\n"), 2);
    EXPECT_EQ(cgroup_v2_cpu_quota("50000 100000"), 1);   // half a CPU rounds up
    EXPECT_EQ(cgroup_v2_cpu_quota("250000 100000"), 3);
    EXPECT_EQ(cgroup_v2_cpu_quota("100000 100000"), 1);
    for (const char* bad : {"", "garbage", "200000", "200000 0", "0 100000", "-1 100000", "2e5 1e5", "200000 100000 7"}) {
        SCOPED_TRACE(bad);
        EXPECT_EQ(cgroup_v2_cpu_quota(bad), std::nullopt);
    }
}

TEST(DefaultThreads, CgroupV1Quota) {
    EXPECT_EQ(cgroup_v1_cpu_quota("-1\n", "100000\n"), std::nullopt);
    EXPECT_EQ(cgroup_v1_cpu_quota("150000\n", "100000\n"), 2);
    EXPECT_EQ(cgroup_v1_cpu_quota("400000", "100000"), 4);
    EXPECT_EQ(cgroup_v1_cpu_quota("abc", "100000"), std::nullopt);
    EXPECT_EQ(cgroup_v1_cpu_quota("100000", ""), std::nullopt);
}

TEST(DefaultThreads, Precedence) {
    ThreadEnvironment env;
    env.hardware = 64;
    EXPECT_EQ(default_threads(env).threads, 64);
    EXPECT_EQ(default_threads(env).reason, "hardware_concurrency");
    env.affinity = 8;
    EXPECT_EQ(default_threads(env).threads, 8);
    EXPECT_EQ(default_threads(env).reason, "sched_getaffinity");
    env.cfs_quota_us = "300000";
    env.cfs_period_us = "100000";
    EXPECT_EQ(default_threads(env).threads, 3);  // v1 quota
    env.cpu_max = "max 100000";                  // v2 without a quota: v1's still counts
    EXPECT_EQ(default_threads(env).threads, 3);
    env.cpu_max = "50000 100000";
    EXPECT_EQ(default_threads(env).threads, 1);  // v2 first
    env.cpu_max = "1600000 100000";
    EXPECT_EQ(default_threads(env).threads, 8);  // 16 CPUs of quota, but only 8 to run on
    env.omp_num_threads = "5";
    EXPECT_EQ(default_threads(env).threads, 5);
    EXPECT_EQ(default_threads(env).reason, "OMP_NUM_THREADS=5");
    env.omp_num_threads = "0";  // invalid: ignored, and said so
    EXPECT_EQ(default_threads(env).threads, 8);
    EXPECT_NE(default_threads(env).reason.find("OMP_NUM_THREADS='0' ignored"), std::string::npos);
    EXPECT_EQ(default_threads(ThreadEnvironment{}).threads, 1);  // nothing known: never below 1
}

TEST(DefaultThreads, ProcessDefaultIsPositive) {
    const ThreadEnvironment env = read_thread_environment();
    EXPECT_GT(env.affinity, 0);  // Linux always answers sched_getaffinity for this process
    set_num_threads(0);
    EXPECT_EQ(num_threads(), default_threads(env).threads);
    set_num_threads(3);
    EXPECT_EQ(num_threads(), 3);
    set_num_threads(0);
}

TEST(ParallelFor, CoversEveryItemOnceAtAnyThreadCount) {
    for (int threads : {1, 2, 7}) {
        set_num_threads(threads);
        std::vector<std::atomic<int>> hits(1001);
        parallel_for(1001, 10, [&](int64_t b, int64_t e) {
            for (int64_t i = b; i < e; ++i) hits[i]++;
        });
        for (const auto& h : hits) EXPECT_EQ(h.load(), 1);
    }
    set_num_threads(0);
}

}  // namespace
}  // namespace qcp
