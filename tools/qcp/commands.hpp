// One function per subcommand: declares its flags on `app`; the callback fills an options
// struct and calls the library. Each returns through `exit_code`.
#pragma once

#include <CLI/CLI.hpp>

namespace qcp::cli {

struct GlobalFlags {
    bool verbose = false;
    bool quiet = false;
};

void set_inspect_command(CLI::App& app, int& exit_code);

}  // namespace qcp::cli
