// Class labels: IDX, .npy or text, each raw or gzip.
#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include "qcp/core/error.hpp"
#include "qcp/data/dataset.hpp"
#include "qcp/data/readers.hpp"

namespace qcp::data {
namespace {

constexpr size_t kBlockBytes = size_t(1) << 20;

std::vector<int64_t> load_idx_labels(ByteReader& reader) {
    const std::string name = reader.path().string();
    const IdxHeader h = read_idx_header(reader);
    if (h.type == 0x08 && h.dims.size() == 3)
        throw Error(name + ": is an IDX images file (magic 0x00000803), expected labels (0x00000801)");
    const bool integer = h.type == 0x08 || h.type == 0x09 || h.type == 0x0B || h.type == 0x0C;
    if (!integer || h.dims.size() != 1)
        throw Error(name + ": unsupported IDX labels: shape " + shape_str(h.dims) +
                    " of type 0x" + "0123456789ABCDEF"[h.type >> 4] + "0123456789ABCDEF"[h.type & 15] +
                    " (expected integers (N), e.g. unsigned bytes with magic 0x00000801)");
    std::vector<int64_t> labels;
    std::vector<uint8_t> raw;
    const size_t size = static_cast<size_t>(h.element_bytes);
    for (int64_t done = 0; done < h.dims[0];) {
        const int64_t n = std::min<int64_t>(h.dims[0] - done, static_cast<int64_t>(kBlockBytes / size));
        raw.resize(static_cast<size_t>(n) * size);
        reader.read_exact(raw.data(), raw.size(), "labels");
        for (int64_t i = 0; i < n; ++i) {
            const uint8_t* b = raw.data() + i * h.element_bytes;
            uint32_t v = 0;  // IDX is big-endian
            for (int k = 0; k < h.element_bytes; ++k) v = v << 8 | b[k];
            switch (h.type) {
                case 0x08: labels.push_back(static_cast<int64_t>(v)); break;
                case 0x09: labels.push_back(static_cast<int8_t>(v)); break;
                case 0x0B: labels.push_back(static_cast<int16_t>(v)); break;
                default: labels.push_back(static_cast<int32_t>(v)); break;
            }
        }
        done += n;
    }
    return labels;
}

std::vector<int64_t> load_npy_labels(ByteReader& reader) {
    const std::string name = reader.path().string();
    const npy::Header h = read_npy_header(reader);
    const DType t = h.dtype;
    if (t == DType::Float32 || t == DType::Float64 || t == DType::Float16 || t == DType::Bool)
        throw Error(name + ": unsupported .npy dtype " + dtype_name(t) + " for labels (expected integers)");
    if (!(h.shape.size() == 1 || (h.shape.size() == 2 && h.shape[1] == 1)))
        throw Error(name + ": .npy labels must have shape (N) or (N, 1), not " + shape_str(h.shape));
    const int64_t count = h.shape[0];
    const size_t size = dtype_bytes(t, 1);
    reader.check_fits(h.data_offset, h.shape, size, ".npy", dtype_name(t));
    std::vector<int64_t> labels;
    for (int64_t done = 0; done < count;) {
        const int64_t n = std::min<int64_t>(count - done, static_cast<int64_t>(kBlockBytes / size));
        std::vector<uint8_t> raw(static_cast<size_t>(n) * size);
        reader.read_exact(raw.data(), raw.size(), "labels");
        const auto block = Tensor(t, {n}, std::move(raw)).to_int64_vector();
        labels.insert(labels.end(), block.begin(), block.end());
        done += n;
    }
    return labels;
}

std::vector<int64_t> load_text_labels(ByteReader& reader) {
    const std::string name = reader.path().string();
    std::string text;
    char buf[1 << 16];
    for (size_t n; (n = reader.read_some(buf, sizeof buf)) > 0;) text.append(buf, n);
    std::vector<int64_t> labels;
    size_t line_no = 0;
    for (size_t start = 0; start < text.size();) {
        const size_t end = std::min(text.find('\n', start), text.size());
        std::string line = text.substr(start, end - start);
        start = end + 1;
        ++line_no;
        const size_t first = line.find_first_not_of(" \t\r");
        if (first == std::string::npos) continue;
        line = line.substr(first, line.find_last_not_of(" \t\r") - first + 1);
        errno = 0;
        char* stop = nullptr;
        const long long v = std::strtoll(line.c_str(), &stop, 10);
        if (stop != line.c_str() + line.size() || errno == ERANGE || line.size() > 40) {
            std::string shown = line.substr(0, 40);  // binary junk must not break the one-line message
            for (char& ch : shown)
                if (static_cast<unsigned char>(ch) < 0x20 || static_cast<unsigned char>(ch) >= 0x7f) ch = '?';
            throw Error(name + ": line " + std::to_string(line_no) + ": '" + shown +
                        "' is not an integer label (labels are IDX, .npy, or text with one integer per line)");
        }
        labels.push_back(v);
    }
    return labels;
}

}  // namespace

std::vector<int64_t> load_labels(const std::filesystem::path& path) {
    ByteReader reader(path);
    std::string head(8, '\0');
    head.resize(reader.read_some(head.data(), head.size()));
    reader.seek(0);
    std::vector<int64_t> labels;
    if (head.rfind("\x93NUMPY", 0) == 0)
        labels = load_npy_labels(reader);
    else if (is_idx_magic(head))
        labels = load_idx_labels(reader);
    else
        labels = load_text_labels(reader);
    if (labels.empty()) throw Error(path.string() + ": no labels in this file");
    return labels;
}

}  // namespace qcp::data
