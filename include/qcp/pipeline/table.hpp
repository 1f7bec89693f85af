// Plain-text tables and human-readable numbers for terminal reports.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace qcp {

class Table {
public:
    explicit Table(std::vector<std::string> header) : header_(std::move(header)) {}
    void add_row(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
    // Columns padded to their widest cell; numbers-looking cells right-aligned.
    std::string render() const;

private:
    std::vector<std::string> header_;
    std::vector<std::vector<std::string>> rows_;
};

std::string human_count(int64_t n);    // 1234567 -> "1.23M"
std::string human_bytes(uint64_t n);   // 1536 -> "1.50 KiB"
std::string fixed(double v, int decimals);

}  // namespace qcp
