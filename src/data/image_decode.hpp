// PNG/JPEG decoding for image folders (internal to the data module). stb_image runs in child
// processes (core/isolate.hpp): version 2.27 writes past a Huffman table on a crafted JPEG
// (found by fuzz_data), and a decoder crash or hang on a hostile file must become an error
// naming the file. Images over 2^26 pixels are refused before decoding.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace qcp::data::detail {

struct Decoded {
    int64_t h = 0, w = 0, c = 0;  // c: 1 (gray, with or without alpha) or 3 (colour)
    std::vector<float> pixels;    // HWC, scaled to [0, 1]
};

// One image, or why it could not be read or decoded (a one-line message naming the file).
struct DecodeOutcome {
    Decoded image;
    std::string error;
};

// Decodes `files` in one child process, in order; when that child crashes or hangs, each file
// again in a child of its own, so the error lands on the file that did it.
std::vector<DecodeOutcome> decode_images(const std::vector<std::filesystem::path>& files);

// One file; throws its error.
Decoded decode_image(const std::filesystem::path& file);

}  // namespace qcp::data::detail
