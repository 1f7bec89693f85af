// Logging: spdlog to stderr, configured here and nowhere else.
#pragma once

#include <spdlog/spdlog.h>

namespace qcp::log {

enum class Verbosity { Quiet, Normal, Verbose };

// Sets up the stderr logger ("qcp: message" lines, no timestamps). Idempotent.
void init(Verbosity v = Verbosity::Normal);

// True when stderr is an interactive terminal and CI is not set: progress lines may be drawn.
bool progress_enabled();

}  // namespace qcp::log
