// Datasets for calibration and evaluation, streamed from disk as float32 model inputs.
//
// The format is recognised by content, never by name:
//   IDX images  magic 0x00000803, unsigned bytes (N, H, W), raw or gzip (1f 8b)
//   .npy        float32 (as is), float16/float64 (converted) or uint8 (scaled by 1/255);
//               raw or gzip
//   folder      PNG/JPEG files (*.png, *.jpg, *.jpeg, any case), sorted by file name byte order;
//               other files in the folder are ignored, sub-folders are not searched
//
// Every sample becomes one float32 model input. Pixel sources (IDX, uint8 .npy, images) are scaled
// to [0, 1]; then, when ImageOptions gives mean/std, x' = (x - mean[c]) / std[c] per channel.
//
// Sample shapes (model_input is the model's input with batch first; dims <= 0 are unknown):
//   IDX (N, H, W) and .npy (N, H, W)  one channel: (1, H, W) in NCHW, (H, W, 1) in NHWC;
//                                     (H, W) if the model takes rank-3 input, (H*W) if rank-2
//   .npy (N, A, B, C)                 taken to be in the model's layout (ImageOptions::layout) and
//                                     passed through; set ImageOptions::data_layout when the file is
//                                     laid out otherwise (e.g. NHWC data for an NCHW model) and it is
//                                     transposed on reading
//   .npy (N, D)                       passed through; reshaped to the model's sample shape when that
//                                     is fully known and has D elements
//   .npy rank >= 5                    passed through
//   image folder                      decoded to C channels and resized to H × W, then laid out as
//                                     (C, H, W) or (H, W, C); C and H × W come from ImageOptions,
//                                     else from the model input, else from the first image (then
//                                     every image must have that size)
// Channel conversion (ImageOptions::channels, or the model's channel count for image folders):
// gray → RGB replicates, RGB → gray is 0.299 R + 0.587 G + 0.114 B (ITU-R 601, as PIL's "L");
// alpha is dropped. Resizing (images always; IDX and image-like .npy only with an explicit
// height/width) uses a triangle filter whose support widens when shrinking: plain bilinear with
// half-pixel centres when enlarging, area-weighted when shrinking (PIL's Image.resize(BILINEAR),
// torchvision's Resize(antialias=True)).
// Channel order (ImageOptions::bgr): image files decode as RGB; with bgr the first and third
// channels are swapped after channel conversion, so the model sees B, G, R (OpenCV's order, as
// PaddleOCR and Caffe models expect). --mean/--std are per channel in the order the model sees.
// Resize mode (ImageOptions::resize, only where a resize happens):
//   stretch  the image is resized to h × w (aspect ratio not kept)
//   fit      the image is resized to rh × rw keeping its aspect ratio, as large as fits in h × w:
//            rh = h, rw = min(w, ceil(h · src_w / src_h)) when the image is relatively narrower
//            than h × w (PaddleOCR rec's resize_norm_img: height h, width ceil(h·ratio) capped at w),
//            else rw = w, rh = min(h, ceil(w · src_h / src_w)); it sits at the top-left corner and
//            the rest (right columns, bottom rows) is set to ImageOptions::pad *after*
//            normalisation — pad is in the units the model sees (PaddleOCR pads with 0 after
//            (x/255 − 0.5)/0.5, i.e. --mean 0.5 --std 0.5 --pad 0).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "qcp/core/tensor.hpp"

namespace qcp::data {

enum class Layout { NCHW, NHWC };

struct ImageOptions {
    int64_t height = 0, width = 0;  // --size HxW: resize to this (both or neither)
    std::vector<float> mean, std;   // per channel (or one value for all), applied after /255 scaling
    Layout layout = Layout::NCHW;   // layout the model expects
    int64_t channels = 0;           // 0: from the data (image folders: from the model if known); 1 or 3 to force
    std::optional<Layout> data_layout;  // layout of 4-D .npy data; unset: the same as `layout`
    bool bgr = false;               // --channel-order bgr: swap channels 0 and 2 of 3-channel images
    bool fit = false;               // --resize fit: keep the aspect ratio and pad (see above)
    float pad = 0.0f;               // --pad: value of the padded area, after normalisation
};

// A sequence of samples, read in order in batches.
class Dataset {
public:
    virtual ~Dataset() = default;
    virtual int64_t size() const = 0;        // number of samples
    virtual Shape sample_shape() const = 0;  // one sample in model layout, e.g. (1, 28, 28)
    // float32 tensor (count, sample_shape...) for samples [begin, begin + count). Sequential reads
    // are cheap; memory does not grow with size() (a backwards read of a gzip file re-reads it from
    // the start). Throws qcp::Error naming the file for an out-of-range request or bad content.
    virtual Tensor read(int64_t begin, int64_t count) = 0;
    virtual std::string describe() const = 0;  // "IDX images (10000, 28, 28) from <path>"
    virtual Layout layout() const = 0;         // layout of sample_shape() when it has rank 3
    // One tensor per model input, in the model's input order, for samples [begin, begin + count).
    // A dataset feeding one input returns {read(begin, count)}; one built by open_inputs()
    // (inputs.hpp) returns every input's tensor, constants included.
    virtual std::vector<Tensor> read_inputs(int64_t begin, int64_t count) { return {read(begin, count)}; }
};

// Opens `path` (file or folder) and fixes the sample shape for `model_input` (may be empty).
// Checks headers and sizes up front; throws qcp::Error with a one-line message naming the file.
std::unique_ptr<Dataset> open_dataset(const std::filesystem::path& path, const ImageOptions& options,
                                      const Shape& model_input);

// Class labels: IDX (magic 0x00000801, raw or gzip), .npy (integer dtypes, shape (N) or (N, 1)),
// or text with one integer per line (blank lines ignored; raw or gzip).
std::vector<int64_t> load_labels(const std::filesystem::path& path);

// Throws a one-line qcp::Error unless the samples fit the model input: same rank, same dims where
// the model's are known (channel count, height, width named in the message).
void check_compatible(const Dataset& data, const Shape& model_input);
// Throws unless there is exactly one label per sample.
void check_labels(const Dataset& data, const std::vector<int64_t>& labels);

// Command-line spellings: "nchw" / "nhwc" (any case); "224x224" or "224" (square);
// "0.485,0.456,0.406". Throw qcp::Error naming the bad text.
Layout parse_layout(const std::string& text);
void parse_size(const std::string& text, int64_t& height, int64_t& width);
// "rgb" / "bgr" (any case): true for bgr. "stretch" / "fit": true for fit.
bool parse_channel_order(const std::string& text);
bool parse_resize_mode(const std::string& text);
std::vector<float> parse_floats(const std::string& text);

}  // namespace qcp::data
