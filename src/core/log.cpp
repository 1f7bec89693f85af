#include "qcp/core/log.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace qcp::log {

void init(Verbosity v, Color color) {
    // spdlog's own automatic mode would look at TERM only, never at NO_COLOR: decide here instead
    const bool colored = use_color(color, std::getenv("NO_COLOR"), std::getenv("TERM"), isatty(STDERR_FILENO) == 1);
    const auto mode = colored ? spdlog::color_mode::always : spdlog::color_mode::never;
    auto logger = spdlog::get("qcp");
    if (!logger) {
        logger = spdlog::stderr_color_mt("qcp", mode);
        logger->set_pattern("qcp: %^%l%$: %v");
        spdlog::set_default_logger(logger);
    } else {
        for (auto& sink : logger->sinks())
            if (auto* s = dynamic_cast<spdlog::sinks::stderr_color_sink_mt*>(sink.get())) s->set_color_mode(mode);
    }
    switch (v) {
        case Verbosity::Quiet: spdlog::set_level(spdlog::level::warn); break;
        case Verbosity::Normal: spdlog::set_level(spdlog::level::info); break;
        case Verbosity::Verbose: spdlog::set_level(spdlog::level::debug); break;
    }
}

bool use_color(Color color, const char* no_color, const char* term, bool stderr_is_tty) {
    if (color != Color::Auto) return color == Color::Always;
    if (no_color && *no_color) return false;
    if (term && std::strcmp(term, "dumb") == 0) return false;
    return stderr_is_tty;
}

bool progress_enabled() {
    const char* ci = std::getenv("CI");
    if (ci && *ci && std::string(ci) != "0" && std::string(ci) != "false") return false;
    return isatty(STDERR_FILENO) == 1;
}

}  // namespace qcp::log
