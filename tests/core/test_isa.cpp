#include <gtest/gtest.h>

#include "qcp/core/error.hpp"
#include "qcp/core/isa.hpp"

namespace qcp {
namespace {

TEST(IsaLevel, UnsetOrEmptyTakesTheCpuLevel) {
    EXPECT_EQ(choose_isa_level(std::nullopt, IsaLevel::V3), IsaLevel::V3);
    EXPECT_EQ(choose_isa_level(std::string(), IsaLevel::V4), IsaLevel::V4);
}

TEST(IsaLevel, AsksForALevelAtOrBelowTheCpus) {
    EXPECT_EQ(choose_isa_level(std::string("baseline"), IsaLevel::V4), IsaLevel::Baseline);
    EXPECT_EQ(choose_isa_level(std::string("v3"), IsaLevel::V4), IsaLevel::V3);
    EXPECT_EQ(choose_isa_level(std::string("v4"), IsaLevel::V4), IsaLevel::V4);
    EXPECT_EQ(choose_isa_level(std::string("v3"), IsaLevel::V3), IsaLevel::V3);
}

TEST(IsaLevel, RefusesALevelTheCpuLacks) {
    try {
        choose_isa_level(std::string("v4"), IsaLevel::V3);
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_STREQ(e.what(), "QCP_ISA=v4: this CPU supports x86-64 level v3 only");
    }
    EXPECT_THROW(choose_isa_level(std::string("v3"), IsaLevel::Baseline), Error);
}

TEST(IsaLevel, RefusesAnUnknownName) {
    try {
        choose_isa_level(std::string("avx512"), IsaLevel::V4);
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_STREQ(e.what(), "QCP_ISA=avx512: expected baseline, v3 or v4");
    }
}

TEST(IsaLevel, NamesRoundTrip) {
    for (const IsaLevel level : {IsaLevel::Baseline, IsaLevel::V3, IsaLevel::V4})
        EXPECT_EQ(choose_isa_level(std::string(isa_name(level)), IsaLevel::V4), level);
}

}  // namespace
}  // namespace qcp
