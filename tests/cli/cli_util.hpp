// Running the built qcp binary from tests, and looking at what it left on disk.
#pragma once

#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>

#include "test_util.hpp"

namespace qcp::test {

struct CliResult {
    int code;  // exit status; -1 when killed by a signal
    std::string out, err;
};

// Runs `qcp <args>` through the shell, optionally behind `prefix` (e.g. "ulimit -f 16;").
inline CliResult run_cli(const std::string& args, const std::string& prefix = "") {
    TempDir dir;
    const std::string cmd = prefix + " " + std::string(QCP_BINARY) + " " + args + " >" + (dir / "out").string() + " 2>" +
                            (dir / "err").string();
    write_bytes(dir / "cmd.sh", cmd + "\n");  // bash, whatever /bin/sh is: `ulimit -f` counts KiB
    const std::string shell = "bash " + (dir / "cmd.sh").string();
    const int status = std::system(shell.c_str());
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, read_text(dir / "out"), read_text(dir / "err")};
}

inline CliResult run_qcp(const std::string& args) { return run_cli(args); }

inline size_t line_count(const std::string& s) { return static_cast<size_t>(std::count(s.begin(), s.end(), '\n')); }

inline const std::string kFashionTestImages = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
inline const std::string kFashionTestLabels = "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz";

// Every file under `dir` (recursively, hidden ones included) with its content: compare two
// snapshots to see that a failed command created, changed and removed nothing.
inline std::map<std::string, std::string> snapshot(const std::filesystem::path& dir) {
    std::map<std::string, std::string> files;
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir))
        if (e.is_regular_file()) files[std::filesystem::relative(e.path(), dir).string()] = read_text(e.path());
    return files;
}

// IDX images (n, 28, 28) of deterministic pseudo-random pixels.
inline std::string random_idx_images(uint32_t n, uint32_t seed) {
    std::string out = {'\0', '\0', '\x08', '\x03'};
    for (uint32_t d : {n, 28u, 28u})
        for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((d >> shift) & 0xFF);
    uint32_t x = seed * 2654435761u + 1;
    for (uint32_t i = 0; i < n * 28 * 28; ++i) {
        x = x * 1664525u + 1013904223u;  // Numerical Recipes LCG
        out += static_cast<char>(x >> 24);
    }
    return out;
}

}  // namespace qcp::test
