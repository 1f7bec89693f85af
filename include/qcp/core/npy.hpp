// NumPy .npy files (format 1.0/2.0/3.0, little-endian, C order): read and write.
#pragma once

#include <filesystem>
#include <string>

#include "qcp/core/tensor.hpp"

namespace qcp::npy {

// Supported dtypes: <f4 <f8 <f2 |i1 |u1 <i2 <u2 <i4 <u4 <i8 <u8 |b1.
Tensor load(const std::filesystem::path& path);
// Parses an .npy image in memory; `what` names it in errors.
Tensor parse(const std::string& bytes, const std::string& what);
// Serialises as format 1.0 (bytes identical to numpy.save for these dtypes).
std::string serialize(const Tensor& t);
void save(const std::filesystem::path& path, const Tensor& t, bool overwrite = true);

// Reads only the header: dtype, shape and where the data starts (for streaming readers).
struct Header {
    DType dtype = DType::Undefined;
    Shape shape;
    size_t data_offset = 0;
};
Header parse_header(const std::string& head, const std::string& what);

}  // namespace qcp::npy
