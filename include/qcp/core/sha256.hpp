// SHA-256 (FIPS 180-4), for recording which input a report describes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace qcp {

std::string sha256_hex(const uint8_t* data, size_t n);
std::string sha256_file(const std::filesystem::path& path);

}  // namespace qcp
