#include "qcp/core/log.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <unistd.h>

#include <cstdlib>

namespace qcp::log {

void init(Verbosity v) {
    auto logger = spdlog::get("qcp");
    if (!logger) {
        logger = spdlog::stderr_color_mt("qcp");
        logger->set_pattern("qcp: %^%l%$: %v");
        spdlog::set_default_logger(logger);
    }
    switch (v) {
        case Verbosity::Quiet: spdlog::set_level(spdlog::level::warn); break;
        case Verbosity::Normal: spdlog::set_level(spdlog::level::info); break;
        case Verbosity::Verbose: spdlog::set_level(spdlog::level::debug); break;
    }
}

bool progress_enabled() {
    const char* ci = std::getenv("CI");
    if (ci && *ci && std::string(ci) != "0" && std::string(ci) != "false") return false;
    return isatty(STDERR_FILENO) == 1;
}

}  // namespace qcp::log
