// open_dataset: format detection, arrays stored in one file (IDX, .npy), and the checks against a
// model's input.
#include "qcp/data/dataset.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>

#include "qcp/core/error.hpp"
#include "qcp/core/npy.hpp"
#include "qcp/core/parallel.hpp"
#include "qcp/data/readers.hpp"

namespace qcp::data {
namespace stdfs = std::filesystem;

namespace {

// Raw bytes read per block: bounds memory beyond the returned tensor.
constexpr size_t kBlockBytes = size_t(8) << 20;
// Output values per parallel task: converting small samples is cheaper than waking threads.
constexpr int64_t kTaskElements = int64_t(1) << 18;

size_t stored_bytes(DType t) {
    switch (t) {
        case DType::UInt8: return 1;
        case DType::Float16: return 2;
        case DType::Float32: return 4;
        case DType::Float64: return 8;
        default: throw Error(std::string("unsupported stored dtype ") + dtype_name(t));
    }
}

void to_float(DType t, const uint8_t* raw, int64_t n, float* out) {
    switch (t) {
        case DType::UInt8:
            for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(raw[i]) / 255.0f;
            break;
        case DType::Float16:
            for (int64_t i = 0; i < n; ++i) {
                uint16_t h;
                std::memcpy(&h, raw + 2 * i, 2);
                out[i] = half_to_float(h);
            }
            break;
        case DType::Float32: std::memcpy(out, raw, static_cast<size_t>(n) * 4); break;
        case DType::Float64:
            for (int64_t i = 0; i < n; ++i) {
                double d;
                std::memcpy(&d, raw + 8 * i, 8);
                out[i] = static_cast<float>(d);
            }
            break;
        default: throw Error(std::string("unsupported stored dtype ") + dtype_name(t));
    }
}

class ArrayDataset final : public Dataset {
public:
    ArrayDataset(std::unique_ptr<ByteReader> reader, StoredArray array, SampleTransform transform)
        : reader_(std::move(reader)), array_(std::move(array)), transform_(std::move(transform)) {}

    int64_t size() const override { return array_.count; }
    Shape sample_shape() const override { return transform_.sample_shape; }
    Layout layout() const override { return transform_.layout; }
    std::string describe() const override { return array_.description; }

    Tensor read(int64_t begin, int64_t count) override {
        Tensor out = allocate_batch(*this, transform_.sample_shape, begin, count);
        const int64_t src_numel = transform_.src_numel();
        const int64_t numel = transform_.numel();
        const size_t sample_bytes = static_cast<size_t>(src_numel) * stored_bytes(array_.dtype);
        const int64_t block = std::max<int64_t>(1, static_cast<int64_t>(kBlockBytes / std::max<size_t>(sample_bytes, 1)));
        reader_->seek(array_.data_offset + static_cast<uint64_t>(begin) * sample_bytes);
        std::vector<uint8_t> raw;
        for (int64_t done = 0; done < count; done += block) {
            const int64_t n = std::min(block, count - done);
            raw.resize(static_cast<size_t>(n) * sample_bytes);
            reader_->read_exact(raw.data(), raw.size(), "sample data");
            float* dst = out.data<float>() + done * numel;
            parallel_for(n, std::max<int64_t>(1, kTaskElements / std::max<int64_t>(numel, 1)), [&](int64_t lo, int64_t hi) {
                std::vector<float> values(static_cast<size_t>(src_numel));
                for (int64_t i = lo; i < hi; ++i) {
                    to_float(array_.dtype, raw.data() + static_cast<size_t>(i) * sample_bytes, src_numel, values.data());
                    transform_.apply(values.data(), dst + i * numel);
                }
            });
        }
        return out;
    }

private:
    std::unique_ptr<ByteReader> reader_;
    StoredArray array_;
    SampleTransform transform_;
};

void check_options(const ImageOptions& o, const std::string& what) {
    if (o.channels != 0 && o.channels != 1 && o.channels != 3)
        throw Error(what + ": channels must be 1 or 3, not " + std::to_string(o.channels));
    if (o.height < 0 || o.width < 0 || (o.height > 0) != (o.width > 0))
        throw Error(what + ": image size must give both height and width, not " + std::to_string(o.height) + "x" +
                    std::to_string(o.width));
    for (float v : o.mean)
        if (!std::isfinite(v)) throw Error(what + ": mean values must be finite");
    for (float v : o.std)
        if (!std::isfinite(v) || v == 0.0f) throw Error(what + ": std values must be finite and non-zero");
    if (!std::isfinite(o.pad)) throw Error(what + ": the pad value must be finite");
}

// Pass-through samples are taken element by element: only one mean/std value can apply.
void plan_flat_transform(SampleTransform& t, const ImageOptions& o, const std::string& what) {
    if (o.height > 0 || o.channels > 0 || o.bgr || o.fit)
        throw Error(what + ": resizing and channel conversion need image-shaped data, not samples " +
                    shape_str(t.sample_shape));
    if (o.mean.size() > 1 || o.std.size() > 1)
        throw Error(what + ": per-channel mean/std need image-shaped data, not samples " + shape_str(t.sample_shape));
    t.image = false;
    t.mean = o.mean;
    t.std = o.std;
    t.layout = o.layout;
}

}  // namespace

npy::Header read_npy_header(ByteReader& reader) {
    const std::string name = reader.path().string();
    reader.seek(0);
    std::string head(12, '\0');
    head.resize(reader.read_some(head.data(), head.size()));
    if (head.size() < 10) throw Error(name + ": not a .npy file (too short)");
    size_t total = 0;  // magic, version and header length, then the header itself
    if (head[6] == 1) {
        total = 10 + (static_cast<unsigned char>(head[8]) | static_cast<size_t>(static_cast<unsigned char>(head[9])) << 8);
    } else if (head.size() == 12) {
        total = 12;
        for (int i = 0; i < 4; ++i) total += static_cast<size_t>(static_cast<unsigned char>(head[8 + i])) << (8 * i);
    }
    if (total > head.size() && total <= (size_t(1) << 20) + 12) {
        const size_t have = head.size();
        head.resize(total);
        head.resize(have + reader.read_some(head.data() + have, total - have));
    }
    return npy::parse_header(head, name);  // names a bad magic, version, dtype or a truncated header
}

std::unique_ptr<Dataset> make_array_dataset(std::unique_ptr<ByteReader> reader, StoredArray array,
                                            SampleTransform transform) {
    const SampleTransform& t = transform;
    if (t.image && (t.h != t.src_h || t.w != t.src_w))
        array.description += ", resized to " + std::to_string(t.h) + "x" + std::to_string(t.w);
    if (t.image && t.c != t.src_c) array.description += ", as " + std::to_string(t.c) + " channels";
    return std::make_unique<ArrayDataset>(std::move(reader), std::move(array), std::move(transform));
}

std::unique_ptr<Dataset> open_npy(const stdfs::path& path, const ImageOptions& options, const Shape& model_input) {
    const std::string name = path.string();
    auto reader = std::make_unique<ByteReader>(path);
    const npy::Header h = read_npy_header(*reader);
    if (h.dtype != DType::Float32 && h.dtype != DType::UInt8 && h.dtype != DType::Float16 && h.dtype != DType::Float64)
        throw Error(name + ": unsupported .npy dtype " + dtype_name(h.dtype) +
                    " for data (expected float32, float16, float64 or uint8)");
    if (h.shape.size() < 2)
        throw Error(name + ": .npy data needs a sample dimension, shape (N, ...), not " + shape_str(h.shape));
    if (std::find(h.shape.begin() + 1, h.shape.end(), 0) != h.shape.end())
        throw Error(name + ": .npy samples of size 0 " + shape_str(h.shape));
    // with no samples the size checks pass whatever the sample shape claims
    if (h.shape[0] == 0) throw Error(name + ": holds no samples (.npy shape " + shape_str(h.shape) + ")");
    reader->check_fits(h.data_offset, h.shape, stored_bytes(h.dtype), ".npy", dtype_name(h.dtype));

    const Shape stored(h.shape.begin() + 1, h.shape.end());
    Shape model_sample;
    if (!model_input.empty()) model_sample.assign(model_input.begin() + 1, model_input.end());
    const bool model_known = !model_sample.empty() &&
                             std::all_of(model_sample.begin(), model_sample.end(), [](int64_t d) { return d > 0; });
    SampleTransform t;
    t.sample_shape = stored;
    if (stored.size() == 2 || stored.size() == 3) {
        t.image = true;
        if (stored.size() == 2) {  // (N, H, W): one channel
            t.src_h = stored[0];
            t.src_w = stored[1];
            t.src_c = 1;
            t.src_layout = Layout::NHWC;
        } else if (options.data_layout.value_or(options.layout) == Layout::NHWC) {
            t.src_h = stored[0];
            t.src_w = stored[1];
            t.src_c = stored[2];
            t.src_layout = Layout::NHWC;
        } else {
            t.src_c = stored[0];
            t.src_h = stored[1];
            t.src_w = stored[2];
            t.src_layout = Layout::NCHW;
        }
        plan_image_transform(t, options, model_input, false, name);
    } else if (stored.size() == 1 && model_known && model_sample.size() == 3 && shape_numel(model_sample) == stored[0]) {
        // flat samples (N, C*H*W) for a model that takes images: the data is the image in model layout
        t.image = true;
        const bool nchw = options.layout == Layout::NCHW;
        t.src_c = model_sample[nchw ? 0 : 2];
        t.src_h = model_sample[nchw ? 1 : 0];
        t.src_w = model_sample[nchw ? 2 : 1];
        t.src_layout = options.layout;
        plan_image_transform(t, options, model_input, false, name);
    } else {
        if (stored.size() == 1 && model_known && shape_numel(model_sample) == stored[0]) t.sample_shape = model_sample;
        plan_flat_transform(t, options, name);
    }

    StoredArray array;
    array.dtype = h.dtype;
    array.count = h.shape[0];
    array.data_offset = h.data_offset;
    array.description = std::string(".npy ") + dtype_name(h.dtype) + " " + shape_str(h.shape) + " from " + name;
    return make_array_dataset(std::move(reader), std::move(array), std::move(t));
}

std::unique_ptr<Dataset> open_dataset(const stdfs::path& path, const ImageOptions& options, const Shape& model_input) {
    const std::string name = path.string();
    std::error_code ec;
    if (!stdfs::exists(path, ec)) throw Error(name + ": no such file or folder");
    check_options(options, name);
    if (stdfs::is_directory(path, ec)) return open_image_folder(path, options, model_input);
    const std::string head = peek_content(path, 8);
    if (head.rfind("\x93NUMPY", 0) == 0) return open_npy(path, options, model_input);
    if (is_idx_magic(head)) return open_idx_images(path, options, model_input);
    if (head.rfind("\x89PNG", 0) == 0 || head.rfind("\xFF\xD8\xFF", 0) == 0)
        throw Error(name + ": is a single image; pass the folder that holds the images");
    throw Error(name + ": unrecognised data format (expected IDX images, .npy, or a folder of PNG/JPEG images)");
}

Tensor allocate_batch(const Dataset& data, const Shape& sample_shape, int64_t begin, int64_t count) {
    if (begin < 0 || count < 0 || begin > data.size() - count)
        throw Error(data.describe() + ": cannot read samples [" + std::to_string(begin) + ", " +
                    std::to_string(begin + count) + ") of " + std::to_string(data.size()));
    Shape shape = sample_shape;
    shape.insert(shape.begin(), count);
    return Tensor(DType::Float32, shape);
}

std::string model_shape_str(const Shape& shape) {
    std::string s = "(";
    for (size_t i = 0; i < shape.size(); ++i)
        s += (i ? ", " : "") + (shape[i] > 0 ? std::to_string(shape[i]) : std::string("?"));
    return s + ")";
}

void check_compatible(const Dataset& data, const Shape& model_input) {
    if (model_input.empty()) return;
    const Shape want(model_input.begin() + 1, model_input.end());
    const Shape have = data.sample_shape();
    const std::string head = data.describe() + ": samples are " + shape_str(have) + " but the model input is " +
                             model_shape_str(model_input);
    if (have.size() != want.size())
        throw Error(head + " (rank " + std::to_string(have.size() + 1) + " vs " + std::to_string(want.size() + 1) + ")");
    auto fits = [&](const Shape& s) {
        for (size_t i = 0; i < want.size(); ++i)
            if (want[i] > 0 && want[i] != s[i]) return false;
        return true;
    };
    if (fits(have)) return;
    std::string detail;
    if (have.size() == 3) {
        const bool nchw = data.layout() == Layout::NCHW;
        const char* names[3] = {nchw ? "channels" : "height", nchw ? "height" : "width", nchw ? "width" : "channels"};
        for (size_t i = 0; i < 3; ++i)
            if (want[i] > 0 && want[i] != have[i])
                detail += std::string(detail.empty() ? "" : ", ") + names[i] + " " + std::to_string(have[i]) + " vs " +
                          std::to_string(want[i]);
        // the same dims in the other order: either the data or the layout setting is the wrong way round
        if (fits({have[2], have[0], have[1]}))
            detail += nchw ? "; the data looks channels-last (NHWC) while the model takes NCHW"
                           : "; the model looks channels-first (NCHW) but the layout is NHWC";
        else if (fits({have[1], have[2], have[0]}))
            detail += nchw ? "; the model looks channels-last (NHWC) but the layout is NCHW"
                           : "; the data looks channels-first (NCHW) while the model takes NHWC";
    } else {
        for (size_t i = 0; i < want.size(); ++i)
            if (want[i] > 0 && want[i] != have[i])
                detail += std::string(detail.empty() ? "" : ", ") + "dim " + std::to_string(i + 1) + " " +
                          std::to_string(have[i]) + " vs " + std::to_string(want[i]);
    }
    throw Error(head + " (" + detail + ")");
}

void check_labels(const Dataset& data, const std::vector<int64_t>& labels) {
    if (static_cast<int64_t>(labels.size()) != data.size())
        throw Error(data.describe() + ": " + std::to_string(data.size()) + " samples but " +
                    std::to_string(labels.size()) + " labels");
}

Layout parse_layout(const std::string& text) {
    std::string s = text;
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    if (s == "nchw") return Layout::NCHW;
    if (s == "nhwc") return Layout::NHWC;
    throw Error("layout '" + text + "': expected nchw or nhwc");
}

void parse_size(const std::string& text, int64_t& height, int64_t& width) {
    const auto x = text.find_first_of("xX");
    const std::string hs = text.substr(0, x), ws = x == std::string::npos ? hs : text.substr(x + 1);
    auto number = [&](const std::string& s) {
        if (s.empty() || s.size() > 6 || !std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); }))
            throw Error("size '" + text + "': expected HxW, e.g. 224x224");
        const int64_t v = std::stoll(s);
        if (v <= 0 || v > (1 << 15)) throw Error("size '" + text + "': dims must be 1 to 32768");
        return v;
    };
    height = number(hs);
    width = number(ws);
}

bool parse_channel_order(const std::string& text) {
    std::string s = text;
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    if (s == "rgb") return false;
    if (s == "bgr") return true;
    throw Error("channel order '" + text + "': expected rgb or bgr");
}

bool parse_resize_mode(const std::string& text) {
    if (text == "stretch") return false;
    if (text == "fit") return true;
    throw Error("resize mode '" + text + "': expected stretch or fit");
}

std::vector<float> parse_floats(const std::string& text) {
    std::vector<float> values;
    size_t start = 0;
    while (start <= text.size()) {
        const size_t comma = std::min(text.find(',', start), text.size());
        const std::string item = text.substr(start, comma - start);
        size_t used = 0;
        float v = 0.0f;
        try {
            v = std::stof(item, &used);
        } catch (const std::exception&) {
            used = 0;
        }
        if (item.empty() || used != item.size() || !std::isfinite(v))
            throw Error("'" + text + "': expected comma-separated numbers, e.g. 0.485,0.456,0.406");
        values.push_back(v);
        start = comma + 1;
    }
    return values;
}

}  // namespace qcp::data
