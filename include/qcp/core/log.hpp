// Logging: spdlog to stderr, configured here and nowhere else.
#pragma once

#include <spdlog/spdlog.h>

namespace qcp::log {

enum class Verbosity { Quiet, Normal, Verbose };

// ANSI colour of the log lines on stderr (the CLI's global --color auto|always|never).
enum class Color { Auto, Always, Never };

// Sets up the stderr logger ("qcp: level: message" lines, no timestamps), the level coloured
// when use_color(color, ...) says so for this process. Idempotent; a later call changes both.
void init(Verbosity v = Verbosity::Normal, Color color = Color::Auto);

// The one colour decision: Always and Never as asked (an explicit flag beats NO_COLOR, as
// https://no-color.org asks); Auto colours only when stderr is a terminal, NO_COLOR is unset or
// empty, and TERM is not "dumb". no_color and term are the variables' values, nullptr when unset. Pure.
bool use_color(Color color, const char* no_color, const char* term, bool stderr_is_tty);

// True when stderr is an interactive terminal and CI is not set: progress lines may be drawn.
bool progress_enabled();

}  // namespace qcp::log
