// Byte access to raw and gzip files, and the IDX format (LeCun's MNIST files).
#include <zlib.h>

#include <algorithm>
#include <climits>
#include <fstream>

#include "qcp/core/error.hpp"
#include "qcp/data/readers.hpp"

namespace qcp::data {
namespace stdfs = std::filesystem;

namespace {

// deflate cannot expand data by more than 1032:1 (zlib FAQ), so a gzip file of n bytes holds at
// most about 1032 n bytes; the slack covers headers of tiny files.
constexpr uint64_t kMaxDeflateRatio = 1032;
constexpr uint64_t kGzipSlack = 1 << 16;
constexpr unsigned kGzipBuffer = 1 << 17;

struct IdxType {
    uint8_t code;
    int bytes;
    const char* name;
};
constexpr IdxType kIdxTypes[] = {
    {0x08, 1, "ubyte"}, {0x09, 1, "sbyte"}, {0x0B, 2, "int16"},
    {0x0C, 4, "int32"}, {0x0D, 4, "float32"}, {0x0E, 8, "float64"},
};

const IdxType* idx_type(uint8_t code) {
    for (const auto& t : kIdxTypes)
        if (t.code == code) return &t;
    return nullptr;
}

std::string hex_magic(const unsigned char* b) {
    char text[16];
    std::snprintf(text, sizeof text, "0x%02X%02X%02X%02X", b[0], b[1], b[2], b[3]);
    return text;
}

}  // namespace

ByteReader::ByteReader(stdfs::path path) : path_(std::move(path)) {
    std::error_code ec;
    if (!stdfs::exists(path_, ec)) throw Error(path_.string() + ": no such file");
    if (stdfs::is_directory(path_, ec)) throw Error(path_.string() + ": is a folder, expected a file");
    if (!stdfs::is_regular_file(path_, ec)) throw Error(path_.string() + ": is not a regular file (a device or pipe?)");
    file_size_ = stdfs::file_size(path_, ec);
    if (ec) throw Error(path_.string() + ": cannot read file size: " + ec.message());
    unsigned char magic[2] = {0, 0};
    {
        std::ifstream in(path_, std::ios::binary);
        if (!in) throw Error(path_.string() + ": cannot open for reading");
        in.read(reinterpret_cast<char*>(magic), 2);
    }
    gzip_ = file_size_ >= 2 && magic[0] == 0x1f && magic[1] == 0x8b;
    // gzopen reads files without the gzip magic as they are ("transparent"), with real seeks
    file_ = gzopen(path_.c_str(), "rb");
    if (!file_) throw Error(path_.string() + ": cannot open for reading");
    gzbuffer(file_, kGzipBuffer);
}

ByteReader::~ByteReader() {
    if (file_) gzclose(file_);
}

uint64_t ByteReader::max_content_size() const {
    if (!gzip_) return file_size_;
    return file_size_ > (UINT64_MAX - kGzipSlack) / kMaxDeflateRatio ? UINT64_MAX
                                                                     : file_size_ * kMaxDeflateRatio + kGzipSlack;
}

void ByteReader::seek(uint64_t offset) {
    if (offset == pos_) return;
    if (offset > static_cast<uint64_t>(LLONG_MAX) || gzseek(file_, static_cast<z_off_t>(offset), SEEK_SET) < 0) {
        int errnum = 0;
        throw Error(path_.string() + ": cannot seek to byte " + std::to_string(offset) + ": " +
                    gzerror(file_, &errnum));
    }
    pos_ = offset;
}

size_t ByteReader::read_some(void* dst, size_t n) {
    auto* out = static_cast<char*>(dst);
    size_t got = 0;
    while (got < n) {
        const unsigned chunk = static_cast<unsigned>(std::min<size_t>(n - got, 1u << 30));
        const int r = gzread(file_, out + got, chunk);
        if (r < 0) {
            int errnum = 0;
            const char* msg = gzerror(file_, &errnum);
            throw Error(path_.string() + ": read error at byte " + std::to_string(pos_ + got) + ": " + msg +
                        (gzip_ ? " (corrupt gzip data?)" : ""));
        }
        if (r == 0) break;
        got += static_cast<size_t>(r);
    }
    pos_ += got;
    return got;
}

void ByteReader::read_exact(void* dst, size_t n, const char* what) {
    const uint64_t at = pos_;
    const size_t got = read_some(dst, n);
    if (got < n)
        throw Error(path_.string() + ": file ends early: " + what + " needs " + std::to_string(n) + " bytes at byte " +
                    std::to_string(at) + ", only " + std::to_string(got) + " there (truncated" +
                    (gzip_ ? " gzip stream)" : " file)"));
}

void ByteReader::check_fits(uint64_t data_offset, const Shape& dims, size_t element_bytes, const std::string& format,
                            const std::string& type) const {
    const uint64_t available = max_content_size() - std::min(max_content_size(), data_offset);
    const auto elements = static_cast<uint64_t>(shape_numel(dims));
    if (elements <= available / element_bytes) return;
    const std::string claim = format + " header says " + shape_str(dims) + " " + type + " values";
    if (gzip_)
        throw Error(path_.string() + ": " + claim + ", more than a " + std::to_string(file_size_) +
                    "-byte gzip file can hold");
    const std::string wanted =
        elements > UINT64_MAX / element_bytes ? "over 2^64" : std::to_string(elements * element_bytes);
    throw Error(path_.string() + ": truncated: " + claim + " (" + wanted + " bytes) but the file has " +
                std::to_string(available) + " bytes of data");
}

std::string peek_content(const stdfs::path& path, size_t n) {
    ByteReader reader(path);
    std::string head(n, '\0');
    head.resize(reader.read_some(head.data(), n));
    return head;
}

bool is_idx_magic(const std::string& first_bytes) {
    if (first_bytes.size() < 4) return false;
    const auto* b = reinterpret_cast<const unsigned char*>(first_bytes.data());
    return b[0] == 0 && b[1] == 0 && idx_type(b[2]) && b[3] >= 1 && b[3] <= 4;
}

IdxHeader read_idx_header(ByteReader& reader) {
    const std::string name = reader.path().string();
    reader.seek(0);
    unsigned char magic[4];
    reader.read_exact(magic, 4, "IDX magic");
    if (!is_idx_magic(std::string(reinterpret_cast<char*>(magic), 4)))
        throw Error(name + ": not an IDX file (magic " + hex_magic(magic) + ")");
    IdxHeader h;
    h.type = magic[2];
    h.element_bytes = idx_type(h.type)->bytes;
    for (int i = 0; i < magic[3]; ++i) {
        unsigned char d[4];
        reader.read_exact(d, 4, "IDX header");
        h.dims.push_back(static_cast<int64_t>(uint32_t(d[0]) << 24 | uint32_t(d[1]) << 16 | uint32_t(d[2]) << 8 | d[3]));
    }
    h.data_offset = 4 + 4 * h.dims.size();
    // compare against what the file can hold before anyone allocates for these dims
    try {
        (void)shape_numel(h.dims);
    } catch (const Error&) {
        throw Error(name + ": IDX header claims absurd dims " + shape_str(h.dims));
    }
    reader.check_fits(h.data_offset, h.dims, static_cast<size_t>(h.element_bytes), "IDX", idx_type(h.type)->name);
    return h;
}

std::unique_ptr<Dataset> open_idx_images(const stdfs::path& path, const ImageOptions& options,
                                         const Shape& model_input) {
    auto reader = std::make_unique<ByteReader>(path);
    const IdxHeader h = read_idx_header(*reader);
    if (h.type == 0x08 && h.dims.size() == 1)
        throw Error(path.string() + ": is an IDX labels file (magic 0x00000801), expected images (0x00000803)");
    if (h.type != 0x08 || h.dims.size() != 3)
        throw Error(path.string() + ": unsupported IDX data: " + idx_type(h.type)->name + " " + shape_str(h.dims) +
                    " (expected unsigned-byte images (N, H, W), magic 0x00000803)");
    if (h.dims[1] == 0 || h.dims[2] == 0) throw Error(path.string() + ": IDX images of size 0 " + shape_str(h.dims));
    // with no samples the size checks pass whatever the image size claims (found by fuzz_data)
    if (h.dims[0] == 0) throw Error(path.string() + ": holds no samples (IDX header says " + shape_str(h.dims) + ")");

    SampleTransform t;
    t.image = true;
    t.src_h = h.dims[1];
    t.src_w = h.dims[2];
    t.src_c = 1;
    t.src_layout = Layout::NHWC;
    plan_image_transform(t, options, model_input, false, path.string());

    StoredArray array;
    array.dtype = DType::UInt8;
    array.count = h.dims[0];
    array.data_offset = h.data_offset;
    array.description = "IDX images " + shape_str(h.dims) + " from " + path.string();
    return make_array_dataset(std::move(reader), std::move(array), std::move(t));
}

}  // namespace qcp::data
