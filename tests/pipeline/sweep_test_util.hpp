// Shared by the sweep suites: an RFC 4180 CSV reader (independent of the writer) and the dataset paths.
#pragma once

#include <string>
#include <vector>

namespace qcp::test {

inline std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
    std::vector<std::vector<std::string>> rows;
    std::vector<std::string> row;
    std::string cell;
    bool quoted = false, any = false;
    for (size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        any = true;
        if (quoted) {
            if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') cell += '"', ++i;
            else if (c == '"') quoted = false;
            else cell += c;
        } else if (c == '"') {
            quoted = true;
        } else if (c == ',') {
            row.push_back(cell), cell.clear();
        } else if (c == '\n') {
            row.push_back(cell), cell.clear();
            rows.push_back(row), row.clear();
            any = false;
        } else {
            cell += c;
        }
    }
    if (any) row.push_back(cell), rows.push_back(row);
    return rows;
}

inline const std::string kFashionDir = "/usr/share/datasets/fashion-mnist";
inline const std::string kTestImages = kFashionDir + "/t10k-images-idx3-ubyte.gz";
inline const std::string kTestLabels = kFashionDir + "/t10k-labels-idx1-ubyte.gz";
inline const std::string kTrainImages = kFashionDir + "/train-images-idx3-ubyte.gz";

}  // namespace qcp::test
