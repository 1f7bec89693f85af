// Runs the qcp binary as a user would and captures exit code, stdout and stderr.
#pragma once

#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <string>

#include "test_util.hpp"

namespace qcp::test {

struct CliResult {
    int code;
    std::string out, err;
};

inline CliResult run_qcp(const std::string& args) {
    TempDir dir;
    const std::string cmd = std::string(QCP_BINARY) + " " + args + " >" + (dir / "out").string() + " 2>" + (dir / "err").string();
    const int status = std::system(cmd.c_str());
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, read_text(dir / "out"), read_text(dir / "err")};
}

inline size_t line_count(const std::string& s) { return static_cast<size_t>(std::count(s.begin(), s.end(), '\n')); }

inline const std::string kFashionTestImages = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
inline const std::string kFashionTestLabels = "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz";

}  // namespace qcp::test
