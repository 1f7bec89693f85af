// Pixel pipeline (channels, resize, normalisation, layout) and folders of PNG/JPEG images.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>

#include "image_decode.hpp"
#include "qcp/core/error.hpp"
#include "qcp/core/parallel.hpp"
#include "qcp/data/readers.hpp"

namespace qcp::data {
namespace stdfs = std::filesystem;
using detail::Decoded;
using detail::DecodeOutcome;
using detail::decode_image;
using detail::decode_images;

namespace {

// ITU-R 601-2 luma, the weights of PIL's convert("L")
constexpr float kLumaR = 0.299f, kLumaG = 0.587f, kLumaB = 0.114f;
// Images one decoding child handles: amortises the fork, keeps a batch's tasks parallel.
constexpr int64_t kImagesPerChild = 16;

// Input taps of one output coordinate: PIL's precompute_coeffs for the triangle (bilinear)
// filter, whose support is widened by the scale factor when shrinking.
struct Taps {
    int64_t first = 0;
    std::vector<double> weights;
};

std::vector<Taps> triangle_taps(int64_t in, int64_t out) {
    const double scale = static_cast<double>(in) / static_cast<double>(out);
    const double filter_scale = std::max(scale, 1.0);
    const double support = filter_scale;  // the triangle's support is 1 input pixel, widened
    std::vector<Taps> taps(static_cast<size_t>(out));
    for (int64_t o = 0; o < out; ++o) {
        const double center = (static_cast<double>(o) + 0.5) * scale;
        const auto lo = std::max<int64_t>(0, static_cast<int64_t>(std::floor(center - support + 0.5)));
        const auto hi = std::min<int64_t>(in, static_cast<int64_t>(std::floor(center + support + 0.5)));
        Taps& t = taps[static_cast<size_t>(o)];
        t.first = lo;
        double total = 0.0;
        for (int64_t i = lo; i < hi; ++i) {
            const double x = std::abs((static_cast<double>(i) - center + 0.5) / filter_scale);
            t.weights.push_back(x < 1.0 ? 1.0 - x : 0.0);
            total += t.weights.back();
        }
        if (total > 0.0)
            for (double& wt : t.weights) wt /= total;
    }
    return taps;
}

bool has_image_extension(const stdfs::path& p) {
    std::string ext = p.extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char ch) { return std::tolower(ch); });
    return ext == ".png" || ext == ".jpg" || ext == ".jpeg";
}

class ImageFolder final : public Dataset {
public:
    ImageFolder(stdfs::path folder, std::vector<stdfs::path> files, SampleTransform transform, bool own_size)
        : folder_(std::move(folder)), files_(std::move(files)), transform_(std::move(transform)), own_size_(own_size) {}

    int64_t size() const override { return static_cast<int64_t>(files_.size()); }
    Shape sample_shape() const override { return transform_.sample_shape; }
    Layout layout() const override { return transform_.layout; }
    std::string describe() const override {
        return "image folder " + folder_.string() + " (" + std::to_string(files_.size()) + " PNG/JPEG files) as " +
               shape_str(transform_.sample_shape);
    }

    Tensor read(int64_t begin, int64_t count) override {
        Tensor out = allocate_batch(*this, transform_.sample_shape, begin, count);
        const int64_t numel = transform_.numel();
        std::vector<std::string> errors(static_cast<size_t>(count));
        // one decoding child per task; the first failure by file order is reported, whatever the threads did
        parallel_for(count, kImagesPerChild, [&](int64_t lo, int64_t hi) {
            const std::vector<stdfs::path> files(files_.begin() + begin + lo, files_.begin() + begin + hi);
            std::vector<DecodeOutcome> decoded = decode_images(files);
            for (int64_t i = lo; i < hi; ++i) {
                DecodeOutcome& d = decoded[static_cast<size_t>(i - lo)];
                try {
                    if (!d.error.empty()) throw Error(d.error);
                    load(files[static_cast<size_t>(i - lo)], d.image, out.data<float>() + i * numel);
                } catch (const Error& e) {
                    errors[static_cast<size_t>(i)] = e.what();
                }
            }
        });
        for (const auto& e : errors)
            if (!e.empty()) throw Error(e);
        return out;
    }

private:
    void load(const stdfs::path& file, const Decoded& d, float* dst) const {
        if (own_size_ && (d.h != transform_.src_h || d.w != transform_.src_w))
            throw Error(file.string() + ": image is " + std::to_string(d.h) + "x" + std::to_string(d.w) +
                        " (HxW) but the first image is " + std::to_string(transform_.src_h) + "x" +
                        std::to_string(transform_.src_w) + "; give a size to resize them all");
        SampleTransform t = transform_;
        t.src_h = d.h;
        t.src_w = d.w;
        t.src_c = d.c;
        t.apply(d.pixels.data(), dst);
    }

    stdfs::path folder_;
    std::vector<stdfs::path> files_;
    SampleTransform transform_;
    bool own_size_;
};

}  // namespace

std::vector<float> convert_channels_hwc(const float* src, int64_t pixels, int64_t src_c, int64_t c) {
    std::vector<float> out(static_cast<size_t>(pixels * c));
    if (src_c == c) {
        std::copy(src, src + pixels * c, out.begin());
    } else if (src_c == 1 && c == 3) {
        for (int64_t p = 0; p < pixels; ++p) out[3 * p] = out[3 * p + 1] = out[3 * p + 2] = src[p];
    } else if (src_c == 3 && c == 1) {
        for (int64_t p = 0; p < pixels; ++p)
            out[p] = kLumaR * src[3 * p] + kLumaG * src[3 * p + 1] + kLumaB * src[3 * p + 2];
    } else {
        throw Error("cannot convert " + std::to_string(src_c) + " channels to " + std::to_string(c));
    }
    return out;
}

std::vector<float> resize_hwc(const float* src, int64_t src_h, int64_t src_w, int64_t c, int64_t h, int64_t w) {
    const auto xtaps = triangle_taps(src_w, w);
    const auto ytaps = triangle_taps(src_h, h);
    std::vector<float> rows(static_cast<size_t>(src_h * w * c));  // horizontal pass
    for (int64_t y = 0; y < src_h; ++y)
        for (int64_t x = 0; x < w; ++x) {
            const Taps& t = xtaps[static_cast<size_t>(x)];
            for (int64_t ch = 0; ch < c; ++ch) {
                double acc = 0.0;
                for (size_t k = 0; k < t.weights.size(); ++k)
                    acc += t.weights[k] * src[(y * src_w + t.first + static_cast<int64_t>(k)) * c + ch];
                rows[static_cast<size_t>((y * w + x) * c + ch)] = static_cast<float>(acc);
            }
        }
    std::vector<float> out(static_cast<size_t>(h * w * c));  // vertical pass
    for (int64_t y = 0; y < h; ++y) {
        const Taps& t = ytaps[static_cast<size_t>(y)];
        for (int64_t i = 0; i < w * c; ++i) {
            double acc = 0.0;
            for (size_t k = 0; k < t.weights.size(); ++k)
                acc += t.weights[k] * rows[static_cast<size_t>((t.first + static_cast<int64_t>(k)) * w * c + i)];
            out[static_cast<size_t>(y * w * c + i)] = static_cast<float>(acc);
        }
    }
    return out;
}

int64_t SampleTransform::src_numel() const {
    return image ? src_h * src_w * src_c : numel();
}

void SampleTransform::apply(const float* src, float* dst) const {
    auto normalise = [&](float x, int64_t ch) {
        if (!mean.empty()) x -= mean[mean.size() == 1 ? 0 : static_cast<size_t>(ch)];
        if (!std.empty()) x /= std[std.size() == 1 ? 0 : static_cast<size_t>(ch)];
        return x;
    };
    if (!image) {
        for (int64_t i = 0, n = numel(); i < n; ++i) dst[i] = normalise(src[i], 0);
        return;
    }
    const int64_t src_pixels = src_h * src_w;
    std::vector<float> hwc;
    if (src_layout == Layout::NCHW) {
        hwc.resize(static_cast<size_t>(src_pixels * src_c));
        for (int64_t ch = 0; ch < src_c; ++ch)
            for (int64_t p = 0; p < src_pixels; ++p) hwc[static_cast<size_t>(p * src_c + ch)] = src[ch * src_pixels + p];
        src = hwc.data();
    }
    if (c != src_c) {
        hwc = convert_channels_hwc(src, src_pixels, src_c, c);
        src = hwc.data();
    }
    if (bgr && c == 3) {
        if (src != hwc.data()) hwc.assign(src, src + src_pixels * c);
        for (int64_t p = 0; p < src_pixels; ++p) std::swap(hwc[static_cast<size_t>(3 * p)], hwc[static_cast<size_t>(3 * p + 2)]);
        src = hwc.data();
    }
    int64_t rh = h, rw = w;  // the resized image; the rest of h × w is padding
    if (fit) fit_size(src_h, src_w, h, w, rh, rw);
    if (rh != src_h || rw != src_w) {
        hwc = resize_hwc(src, src_h, src_w, c, rh, rw);
        src = hwc.data();
    }
    const int64_t pixels = h * w;
    for (int64_t y = 0; y < h; ++y)
        for (int64_t x = 0; x < w; ++x) {
            const int64_t p = y * w + x;
            const bool inside = y < rh && x < rw;
            for (int64_t ch = 0; ch < c; ++ch) {
                const float v = inside ? normalise(src[(y * rw + x) * c + ch], ch) : pad;
                dst[layout == Layout::NCHW ? ch * pixels + p : p * c + ch] = v;
            }
        }
}

void fit_size(int64_t src_h, int64_t src_w, int64_t h, int64_t w, int64_t& rh, int64_t& rw) {
    auto ceil_div = [](int64_t a, int64_t b) { return (a + b - 1) / b; };
    if (src_w * h <= w * src_h) {  // relatively narrower than h × w: the height fills
        rh = h;
        rw = std::max<int64_t>(1, std::min(w, ceil_div(h * src_w, src_h)));
    } else {
        rw = w;
        rh = std::max<int64_t>(1, std::min(h, ceil_div(w * src_h, src_w)));
    }
}

bool plan_image_transform(SampleTransform& t, const ImageOptions& options, const Shape& model_input,
                          bool size_from_model, const std::string& what) {
    // the model's per-sample height, width and channels where known (-1 otherwise)
    const int64_t rank = static_cast<int64_t>(model_input.size()) - 1;
    auto known = [&](size_t i) { return model_input[i] > 0 ? model_input[i] : -1; };
    int64_t mh = -1, mw = -1, mc = -1;
    if (rank == 3) {
        const bool nchw = options.layout == Layout::NCHW;
        mc = known(nchw ? 1 : 3);
        mh = known(nchw ? 2 : 1);
        mw = known(nchw ? 3 : 2);
    } else if (rank == 2) {
        mh = known(1);
        mw = known(2);
        mc = 1;
    }

    t.c = options.channels > 0 ? options.channels : (size_from_model && (mc == 1 || mc == 3)) ? mc : t.src_c;
    if (t.c != t.src_c && !((t.src_c == 1 && t.c == 3) || (t.src_c == 3 && t.c == 1)))
        throw Error(what + ": cannot convert " + std::to_string(t.src_c) + " channels to " + std::to_string(t.c));
    bool own_size = false;
    if (options.height > 0) {
        t.h = options.height;
        t.w = options.width;
    } else if (size_from_model && mh > 0 && mw > 0) {
        t.h = mh;
        t.w = mw;
    } else {
        t.h = t.src_h;
        t.w = t.src_w;
        own_size = true;
    }
    t.layout = options.layout;
    for (const auto* values : {&options.mean, &options.std})
        if (values->size() > 1 && static_cast<int64_t>(values->size()) != t.c)
            throw Error(what + ": " + (values == &options.mean ? "mean" : "std") + " has " +
                        std::to_string(values->size()) + " values but the data has " + std::to_string(t.c) +
                        " channels");
    t.mean = options.mean;
    t.std = options.std;
    t.bgr = options.bgr;
    t.fit = options.fit;
    t.pad = options.pad;
    if (t.bgr && t.c != 3) throw Error(what + ": --channel-order bgr needs 3-channel images, not " + std::to_string(t.c));
    if (t.fit && own_size && size_from_model)
        throw Error(what + ": --resize fit needs a target size (--size, --input-shape, or the model's input)");

    if (rank == 2 && t.c == 1)
        t.sample_shape = {t.h, t.w};
    else if (rank == 1)
        t.sample_shape = {t.c * t.h * t.w};
    else if (t.layout == Layout::NCHW)
        t.sample_shape = {t.c, t.h, t.w};
    else
        t.sample_shape = {t.h, t.w, t.c};
    return own_size;
}

std::unique_ptr<Dataset> open_image_folder(const stdfs::path& path, const ImageOptions& options,
                                           const Shape& model_input) {
    std::vector<stdfs::path> files;
    std::error_code ec;
    for (auto it = stdfs::directory_iterator(path, ec); !ec && it != stdfs::directory_iterator(); it.increment(ec)) {
        const auto& p = it->path();
        if (p.filename().string().rfind('.', 0) == 0 || !has_image_extension(p)) continue;
        if (stdfs::is_regular_file(p)) files.push_back(p);
    }
    if (ec) throw Error(path.string() + ": cannot list folder: " + ec.message());
    if (files.empty()) throw Error(path.string() + ": no PNG or JPEG files (*.png, *.jpg, *.jpeg) in this folder");
    std::sort(files.begin(), files.end(),
              [](const stdfs::path& a, const stdfs::path& b) { return a.filename().string() < b.filename().string(); });

    const Decoded first = decode_image(files[0]);  // its size and channels, safely
    SampleTransform t;
    t.image = true;
    t.src_c = first.c;
    t.src_h = first.h;
    t.src_w = first.w;
    t.src_layout = Layout::NHWC;
    const bool own_size = plan_image_transform(t, options, model_input, true, path.string());
    return std::make_unique<ImageFolder>(path, std::move(files), std::move(t), own_size);
}

}  // namespace qcp::data
