#include <gtest/gtest.h>

#include "qcp/core/log.hpp"

namespace qcp {
namespace {

using log::Color;

TEST(LogColor, AutoNeedsATerminalAndNoNoColor) {
    EXPECT_TRUE(log::use_color(Color::Auto, nullptr, "xterm-256color", true));
    EXPECT_TRUE(log::use_color(Color::Auto, nullptr, nullptr, true));
    EXPECT_FALSE(log::use_color(Color::Auto, nullptr, "xterm", false));  // a pipe or a file
    EXPECT_FALSE(log::use_color(Color::Auto, "1", "xterm", true));
    EXPECT_FALSE(log::use_color(Color::Auto, "0", "xterm", true));  // any non-empty value, "0" too
    EXPECT_TRUE(log::use_color(Color::Auto, "", "xterm", true));    // empty: as if unset
    EXPECT_FALSE(log::use_color(Color::Auto, nullptr, "dumb", true));
}

TEST(LogColor, ExplicitModeWins) {
    EXPECT_TRUE(log::use_color(Color::Always, "1", "dumb", false));
    EXPECT_FALSE(log::use_color(Color::Never, nullptr, "xterm", true));
}

}  // namespace
}  // namespace qcp
