// Decoding PNG and JPEG files with stb_image, in child processes (see image_decode.hpp).
#include "image_decode.hpp"

#include <climits>
#include <cstring>

#include "qcp/core/error.hpp"
#include "qcp/core/fs.hpp"
#include "qcp/core/isolate.hpp"
#include "qcp/core/memory.hpp"

// stb_image: PNG and JPEG only, static so it cannot clash with another copy in the program;
// images over 32768 pixels on a side or 2^26 pixels in all are refused before decoding.
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_NO_STDIO
#define STBI_MAX_DIMENSIONS (1 << 15)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#include <stb/stb_image.h>
#pragma GCC diagnostic pop

namespace qcp::data::detail {
namespace stdfs = std::filesystem;

namespace {

// Largest image decoded (8192 x 8192): bounds what a small crafted header can make qcp allocate.
constexpr int64_t kMaxImagePixels = int64_t(1) << 26;
// A decoder child running longer than this is stuck on a hostile file.
constexpr double kDecodeTimeoutSeconds = 60;

std::vector<uint8_t> read_image_file(const stdfs::path& file) {
    auto bytes = fs::read_file(file);
    if (bytes.size() > static_cast<size_t>(INT_MAX)) throw Error(file.string() + ": image file too large");
    return bytes;
}

// Channels of the decoded image: 1 for gray (with or without alpha), 3 for colour.
int info_channels(const stdfs::path& file, const std::vector<uint8_t>& bytes, int& w, int& h) {
    int comp = 0;
    if (!stbi_info_from_memory(bytes.data(), static_cast<int>(bytes.size()), &w, &h, &comp))
        throw Error(file.string() + ": unreadable image (" + stbi_failure_reason() + ")");
    if (static_cast<int64_t>(w) * h > kMaxImagePixels)
        throw Error(file.string() + ": image too large (" + std::to_string(w) + "x" + std::to_string(h) + ")");
    return comp <= 2 ? 1 : 3;
}

constexpr char kRecordOk = 'O', kRecordError = 'E';

template <typename T>
void put(std::string& out, T v) {
    out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

// Runs in the decoding child. Per file one record: 'O', int32 height, width, channels, then
// the pixels (uint8, HWC); or 'E', uint32 length, then the error message.
std::string decode_records(const std::vector<stdfs::path>& files, const std::vector<std::vector<uint8_t>>& bytes) {
    std::string out;
    for (size_t f = 0; f < files.size(); ++f) {
        try {
            int w = 0, h = 0, comp = 0;
            const int c = info_channels(files[f], bytes[f], w, h);
            stbi_uc* data = stbi_load_from_memory(bytes[f].data(), static_cast<int>(bytes[f].size()), &w, &h, &comp, c);
            if (!data) throw Error(files[f].string() + ": unreadable image (" + stbi_failure_reason() + ")");
            out += kRecordOk;
            for (int32_t v : {h, w, c}) put(out, v);
            out.append(reinterpret_cast<const char*>(data), static_cast<size_t>(h) * static_cast<size_t>(w) * static_cast<size_t>(c));
            stbi_image_free(data);
        } catch (const Error& e) {
            const std::string msg = e.what();
            out += kRecordError;
            put(out, static_cast<uint32_t>(msg.size()));
            out += msg;
        }
    }
    return out;
}

// Reads the child's records back, checking every size against what is there.
std::vector<DecodeOutcome> parse_records(const std::vector<stdfs::path>& files, const std::string& records) {
    std::vector<DecodeOutcome> outcomes(files.size());
    size_t at = 0;
    auto take = [&](void* dst, size_t n) {
        if (records.size() - at < n) return false;
        std::memcpy(dst, records.data() + at, n);
        at += n;
        return true;
    };
    for (size_t f = 0; f < files.size(); ++f) {
        char tag = 0;
        int32_t head[3] = {0, 0, 0};
        uint32_t length = 0;
        DecodeOutcome& o = outcomes[f];
        if (take(&tag, 1) && tag == kRecordError && take(&length, sizeof length) && records.size() - at >= length) {
            o.error = records.substr(at, length);
            at += length;
            continue;
        }
        const bool header = tag == kRecordOk && take(head, sizeof head) && head[0] > 0 && head[1] > 0 &&
                            (head[2] == 1 || head[2] == 3) && int64_t(head[0]) * head[1] <= kMaxImagePixels;
        const size_t n = header ? static_cast<size_t>(int64_t(head[0]) * head[1] * head[2]) : 0;
        if (!header || records.size() - at < n) {
            for (size_t g = f; g < files.size(); ++g)
                outcomes[g].error = files[g].string() + ": the image decoder returned a malformed image";
            break;
        }
        memory::require(n * sizeof(float), "decoding " + files[f].string());
        o.image.h = head[0];
        o.image.w = head[1];
        o.image.c = head[2];
        o.image.pixels.resize(n);
        const auto* pixels = reinterpret_cast<const unsigned char*>(records.data()) + at;
        for (size_t i = 0; i < n; ++i) o.image.pixels[i] = static_cast<float>(pixels[i]) / 255.0f;
        at += n;
    }
    return outcomes;
}

}  // namespace

// stb_image runs in a child process (core/isolate.hpp): version 2.27 writes past a Huffman
// table on a crafted JPEG (found by fuzz_data), and whatever else it gets wrong on hostile
// files must end as an error naming the file, not as a crash or corrupted memory here. One
// child decodes several files (a fork costs about as much as decoding a small image); if it
// dies, each file is decoded again in a child of its own so that the error names the culprit.
std::vector<DecodeOutcome> decode_images(const std::vector<stdfs::path>& files) {
    std::vector<std::vector<uint8_t>> bytes(files.size());
    std::vector<DecodeOutcome> read_errors(files.size());
    for (size_t f = 0; f < files.size(); ++f) {
        try {
            bytes[f] = read_image_file(files[f]);
        } catch (const Error& e) {
            read_errors[f].error = e.what();
        }
    }
    IsolatedResult r = run_isolated([&] { return decode_records(files, bytes); }, kDecodeTimeoutSeconds);
    if (r.status == IsolatedResult::Status::Unavailable) {
        r.output = decode_records(files, bytes);
        r.status = IsolatedResult::Status::Ok;
    }
    std::vector<DecodeOutcome> outcomes;
    if (r.status == IsolatedResult::Status::Ok) {
        outcomes = parse_records(files, r.output);
    } else if (files.size() > 1) {
        for (const auto& file : files) outcomes.push_back(std::move(decode_images({file}).front()));
    } else {
        outcomes.resize(1);
        outcomes[0].error = files[0].string() + ": the image decoder " +
                            (r.status == IsolatedResult::Status::TimedOut ? "timed out" : "crashed") + " (" + r.detail +
                            "): corrupt or hostile PNG/JPEG";
    }
    for (size_t f = 0; f < files.size(); ++f)
        if (!read_errors[f].error.empty()) outcomes[f] = std::move(read_errors[f]);
    return outcomes;
}

Decoded decode_image(const stdfs::path& file) {
    DecodeOutcome o = std::move(decode_images({file}).front());
    if (!o.error.empty()) throw Error(o.error);
    return std::move(o.image);
}

}  // namespace qcp::data::detail
