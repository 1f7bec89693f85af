// Building blocks behind open_dataset and load_labels (see dataset.hpp for the formats).
// Exposed so that tests and tools can use one format directly.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "qcp/core/npy.hpp"
#include "qcp/data/dataset.hpp"

struct gzFile_s;

namespace qcp::data {

// Sequential reads from a raw or gzip file (told apart by the gzip magic 1f 8b), by offset into
// the uncompressed content. Seeking forwards in a gzip file decompresses and skips; seeking
// backwards starts again from the beginning.
class ByteReader {
public:
    explicit ByteReader(std::filesystem::path path);  // throws if missing, a folder, or unreadable
    ~ByteReader();
    ByteReader(const ByteReader&) = delete;
    ByteReader& operator=(const ByteReader&) = delete;

    const std::filesystem::path& path() const { return path_; }
    bool gzip() const { return gzip_; }
    uint64_t file_size() const { return file_size_; }  // bytes on disk
    // Upper bound on the content size: the file size, or for gzip the most that deflate's
    // maximum ratio (1032:1) can expand the file to. Lets headers claiming absurd sizes be
    // rejected before anything is allocated.
    uint64_t max_content_size() const;
    uint64_t tell() const { return pos_; }
    void seek(uint64_t offset);
    // Reads up to n bytes; fewer only at the end of the content.
    size_t read_some(void* dst, size_t n);
    // Reads exactly n bytes or throws "<path>: file ends early ..." (`what` names the part read).
    void read_exact(void* dst, size_t n, const char* what);
    // Throws unless `dims` elements of `element_bytes` each, starting at `data_offset`, can be in the
    // file: "<path>: truncated: <format> header says <dims> <type> values ..." for raw files, and for
    // gzip files when they exceed max_content_size() (a short gzip stream is found when read).
    void check_fits(uint64_t data_offset, const Shape& dims, size_t element_bytes, const std::string& format,
                    const std::string& type) const;

private:
    std::filesystem::path path_;
    gzFile_s* file_ = nullptr;
    bool gzip_ = false;
    uint64_t file_size_ = 0;
    uint64_t pos_ = 0;
};

// The first bytes of a file's content (after gzip), fewer if the content is shorter.
std::string peek_content(const std::filesystem::path& path, size_t n);

// Reads the .npy header at the reader's start (names a bad magic, version, dtype or truncation).
npy::Header read_npy_header(ByteReader& reader);

// IDX header: magic 00 00 <type> <rank>, then `rank` big-endian uint32 dims.
struct IdxHeader {
    uint8_t type = 0;       // 0x08 ubyte, 0x09 sbyte, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64
    Shape dims;
    uint64_t data_offset = 0;
    int element_bytes = 0;
};
bool is_idx_magic(const std::string& first_bytes);  // 00 00 <known type> <rank 1..4>
// Reads and checks the header at the reader's start: dims must fit in max_content_size().
IdxHeader read_idx_header(ByteReader& reader);

// How one stored sample becomes one model sample. Image sources are src_h × src_w × src_c in
// src_layout; others (`image` false) are taken element by element. Steps for images: channel
// conversion (1 → 3, 3 → 1), resize to h × w, normalisation, layout; the result is stored with
// shape `sample_shape` (which may flatten it).
struct SampleTransform {
    bool image = false;
    int64_t src_h = 0, src_w = 0, src_c = 0;
    Layout src_layout = Layout::NCHW;
    int64_t h = 0, w = 0, c = 0;
    Layout layout = Layout::NCHW;
    std::vector<float> mean, std;  // empty, one value, or one per output channel
    bool bgr = false;              // swap channels 0 and 2 (3 channels) before normalisation
    bool fit = false;              // keep the aspect ratio inside h × w, pad the rest (dataset.hpp)
    float pad = 0.0f;              // padded value, after normalisation
    Shape sample_shape;

    int64_t src_numel() const;
    int64_t numel() const { return shape_numel(sample_shape); }
    // src: src_numel() values (already scaled to [0, 1] for pixel sources); dst: numel() values.
    void apply(const float* src, float* dst) const;
};

// Fills the output side of an image transform (c, h, w, mean/std, sample_shape) from the options
// and the model input. The source side must be set. `what` names the data in errors.
// `size_from_model`: take height/width from the model when the options give none (image folders).
// Returns true when the size is the source's own (no size in the options or from the model).
bool plan_image_transform(SampleTransform& t, const ImageOptions& options, const Shape& model_input,
                          bool size_from_model, const std::string& what);

// The float32 batch (count, sample_shape…) for samples [begin, begin + count) of `data`;
// throws naming the dataset when the range is outside it.
Tensor allocate_batch(const Dataset& data, const Shape& sample_shape, int64_t begin, int64_t count);

// The size an image of src_h × src_w takes inside h × w under --resize fit (dataset.hpp).
void fit_size(int64_t src_h, int64_t src_w, int64_t h, int64_t w, int64_t& rh, int64_t& rw);

// Resizes an HWC image with the triangle filter described in dataset.hpp.
std::vector<float> resize_hwc(const float* src, int64_t src_h, int64_t src_w, int64_t c, int64_t h, int64_t w);

// Converts an HWC image between 1 and 3 channels (a copy when the counts are equal).
std::vector<float> convert_channels_hwc(const float* src, int64_t pixels, int64_t src_c, int64_t c);

// N samples stored back to back from data_offset, each transform.src_numel() elements of dtype:
// UInt8 (scaled by 1/255), Float32, Float16 or Float64 (little-endian).
struct StoredArray {
    DType dtype = DType::UInt8;
    int64_t count = 0;
    uint64_t data_offset = 0;
    std::string description;  // describe()'s text
};
std::unique_ptr<Dataset> make_array_dataset(std::unique_ptr<ByteReader> reader, StoredArray array,
                                            SampleTransform transform);

std::unique_ptr<Dataset> open_idx_images(const std::filesystem::path& path, const ImageOptions& options,
                                         const Shape& model_input);
std::unique_ptr<Dataset> open_npy(const std::filesystem::path& path, const ImageOptions& options,
                                  const Shape& model_input);
std::unique_ptr<Dataset> open_image_folder(const std::filesystem::path& path, const ImageOptions& options,
                                           const Shape& model_input);

// Shape text with unknown dims as "?": "(?, 1, 28, 28)".
std::string model_shape_str(const Shape& shape);

}  // namespace qcp::data
