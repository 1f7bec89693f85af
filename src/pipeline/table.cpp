#include "qcp/pipeline/table.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>

namespace qcp {
namespace {

bool numeric_cell(const std::string& s) {
    if (s.empty()) return false;
    return std::isdigit(static_cast<unsigned char>(s[0])) || (s[0] == '-' && s.size() > 1) || s == "?";
}

}  // namespace

std::string Table::render() const {
    std::vector<size_t> width(header_.size(), 0);
    for (size_t c = 0; c < header_.size(); ++c) width[c] = header_[c].size();
    for (const auto& row : rows_)
        for (size_t c = 0; c < row.size() && c < width.size(); ++c) width[c] = std::max(width[c], row[c].size());
    auto line = [&](const std::vector<std::string>& row, bool header) {
        std::string out;
        for (size_t c = 0; c < width.size(); ++c) {
            const std::string cell = c < row.size() ? row[c] : "";
            const std::string pad(width[c] - std::min(width[c], cell.size()), ' ');
            const bool right = !header && numeric_cell(cell) && c + 1 < width.size();
            std::string padded = right ? pad + cell : cell + pad;
            if (c + 1 == width.size()) {  // no trailing blanks
                while (!padded.empty() && padded.back() == ' ') padded.pop_back();
            }
            out += (c ? "  " : "") + padded;
        }
        while (!out.empty() && out.back() == ' ') out.pop_back();
        return out + "\n";
    };
    std::string out = line(header_, true);
    size_t total = 0;
    for (size_t w : width) total += w + 2;
    out += std::string(total > 2 ? total - 2 : 0, '-') + "\n";
    for (const auto& row : rows_) out += line(row, false);
    return out;
}

std::string fixed(double v, int decimals) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    return buf;
}

std::string human_count(int64_t n) {
    const double a = static_cast<double>(n < 0 ? -n : n);
    if (a < 1e4) return std::to_string(n);
    if (a < 1e6) return fixed(n / 1e3, 1) + "K";
    if (a < 1e9) return fixed(n / 1e6, 2) + "M";
    return fixed(n / 1e9, 2) + "G";
}

std::string human_bytes(uint64_t n) {
    if (n < 1024) return std::to_string(n) + " B";
    if (n < 1024ull * 1024) return fixed(n / 1024.0, 1) + " KiB";
    if (n < 1024ull * 1024 * 1024) return fixed(n / (1024.0 * 1024), 2) + " MiB";
    return fixed(n / (1024.0 * 1024 * 1024), 2) + " GiB";
}

}  // namespace qcp
