// qcp: post-training compression of ONNX models. A thin front end: each subcommand fills an
// options struct and calls one library function; errors are caught here, once.
#include <CLI/CLI.hpp>

#include <iostream>

#include "commands.hpp"
#include "qcp/core/error.hpp"
#include "qcp/core/log.hpp"
#include "qcp/core/memory.hpp"
#include "qcp/core/version.hpp"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitBadInput = 2;

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"qcp: post-training compression of ONNX models (quantized CP factorization, PQ, PTQ)", "qcp"};
    app.require_subcommand(1);
    app.set_version_flag("--version", std::string("qcp ") + qcp::kVersion);
    bool verbose = false;
    bool quiet = false;
    app.add_flag("-v,--verbose", verbose, "More log lines on stderr");
    app.add_flag("-q,--quiet", quiet, "Only warnings and errors on stderr");
    std::string max_memory;
    app.add_option("--max-memory", max_memory,
                   "Most memory for tensors, e.g. 8G or 512M (default: the memory available at start; 0: no limit)");
    int exit_code = kExitOk;
    qcp::cli::set_inspect_command(app, exit_code);
    qcp::cli::set_eval_command(app, exit_code);
    qcp::cli::set_compress_command(app, exit_code);
    qcp::cli::set_compare_command(app, exit_code);
    qcp::cli::set_sweep_command(app, exit_code);
    qcp::cli::set_convert_command(app, exit_code);
    app.parse_complete_callback([&] {
        qcp::log::init(quiet ? qcp::log::Verbosity::Quiet
                             : verbose ? qcp::log::Verbosity::Verbose : qcp::log::Verbosity::Normal);
        if (!max_memory.empty()) qcp::memory::set_limit(qcp::memory::parse_size(max_memory));
    });
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        // one line, as every other error (CLI11's own exit() adds a second, "Run with --help ...")
        std::cerr << "qcp: error: " << e.what() << " (qcp --help, or qcp COMMAND --help)\n";
        return kExitBadInput;
    } catch (const qcp::Error& e) {
        std::cerr << "qcp: error: " << e.what() << "\n";
        return kExitBadInput;
    } catch (const std::bad_alloc&) {
        std::cerr << "qcp: error: out of memory\n";
        return kExitBadInput;
    } catch (const std::exception& e) {
        std::cerr << "qcp: error: " << e.what() << "\n";
        return kExitBadInput;
    }
    return exit_code;
}
