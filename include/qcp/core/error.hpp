// qcp::Error: the one exception type for bad input and bad usage.
//
// Solvers report convergence as values; only invalid arguments, unreadable files and
// unsupported models throw. `main` catches Error once and prints what() as a single line.
#pragma once

#include <stdexcept>
#include <string>

namespace qcp {

class Error : public std::runtime_error {
public:
    explicit Error(const std::string& what) : std::runtime_error(what) {}
};

}  // namespace qcp
