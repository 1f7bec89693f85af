// The solver copy that runs is the one QCP_ISA asks for (tests/CMakeLists.txt runs this suite
// under each level the CPU has), else the CPU's best.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "qcp/core/isa.hpp"
#include "qcp/decomp/cp.hpp"

namespace qcp::decomp {
namespace {

TEST(DecompIsa, RunsTheCopyOfTheChosenLevel) {
    const std::string copy = solver_isa();
#ifndef QCP_TEST_ISA_COPIES
    EXPECT_EQ(copy, "isa_base");  // a -march=native build has one copy
#else
    const IsaLevel level = isa_level();
    EXPECT_EQ(copy, level == IsaLevel::Baseline ? std::string("isa_base") : std::string("isa_") + isa_name(level));
    const char* env = std::getenv("QCP_ISA");
    if (env && *env) {
        EXPECT_EQ(std::string(isa_name(level)), env);
    } else {
        EXPECT_EQ(level, cpu_isa_level());
    }
#endif
}

}  // namespace
}  // namespace qcp::decomp
