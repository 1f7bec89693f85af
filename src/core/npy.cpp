#include "qcp/core/npy.hpp"

#include <cstring>
#include <fstream>
#include <regex>

#include "qcp/core/error.hpp"
#include "qcp/core/fs.hpp"

namespace qcp::npy {
namespace {

struct Descr {
    const char* code;
    DType dtype;
};

constexpr Descr kDescrs[] = {
    {"<f4", DType::Float32}, {"<f8", DType::Float64}, {"<f2", DType::Float16}, {"|i1", DType::Int8},
    {"|u1", DType::UInt8},   {"<i2", DType::Int16},   {"<u2", DType::UInt16},  {"<i4", DType::Int32},
    {"<u4", DType::UInt32},  {"<i8", DType::Int64},   {"<u8", DType::UInt64},  {"|b1", DType::Bool},
};

const char* descr_of(DType t) {
    for (const auto& d : kDescrs)
        if (d.dtype == t) return d.code;
    throw Error(std::string("cannot write ") + dtype_name(t) + " to .npy");
}

}  // namespace

Header parse_header(const std::string& head, const std::string& what) {
    if (head.size() < 10 || std::memcmp(head.data(), "\x93NUMPY", 6) != 0)
        throw Error(what + ": not a .npy file (bad magic)");
    const int major = static_cast<unsigned char>(head[6]);
    size_t header_len = 0;
    size_t prefix = 0;
    if (major == 1) {
        header_len = static_cast<unsigned char>(head[8]) | static_cast<unsigned char>(head[9]) << 8;
        prefix = 10;
    } else if (major == 2 || major == 3) {
        if (head.size() < 12) throw Error(what + ": truncated .npy header");
        for (int i = 0; i < 4; ++i) header_len |= static_cast<size_t>(static_cast<unsigned char>(head[8 + i])) << (8 * i);
        prefix = 12;
    } else {
        throw Error(what + ": unsupported .npy format version " + std::to_string(major));
    }
    if (header_len > 1 << 20) throw Error(what + ": .npy header too large");
    if (head.size() < prefix + header_len) throw Error(what + ": truncated .npy header");
    const std::string dict = head.substr(prefix, header_len);
    std::smatch m;
    if (!std::regex_search(dict, m, std::regex(R"('descr'\s*:\s*'([^']*)')")))
        throw Error(what + ": .npy header has no descr");
    Header h;
    const std::string descr = m[1];
    for (const auto& d : kDescrs)
        if (descr == d.code || (descr.size() == 3 && descr[0] == '=' && descr.substr(1) == std::string(d.code).substr(1)))
            h.dtype = d.dtype;
    if (h.dtype == DType::Undefined) throw Error(what + ": unsupported .npy dtype '" + descr + "'");
    if (!std::regex_search(dict, m, std::regex(R"('fortran_order'\s*:\s*(True|False))")))
        throw Error(what + ": .npy header has no fortran_order");
    if (m[1] == "True") throw Error(what + ": Fortran-order .npy files are not supported");
    if (!std::regex_search(dict, m, std::regex(R"('shape'\s*:\s*\(([^)]*)\))")))
        throw Error(what + ": .npy header has no shape");
    const std::string dims = m[1];
    std::regex num(R"(\s*(-?\d+)\s*,?)");
    for (auto it = std::sregex_iterator(dims.begin(), dims.end(), num); it != std::sregex_iterator(); ++it) {
        const std::string s = (*it)[1];
        if (s.size() > 18) throw Error(what + ": .npy dimension too large");
        const int64_t d = std::stoll(s);
        if (d < 0) throw Error(what + ": negative dimension in .npy shape");
        h.shape.push_back(d);
    }
    try {
        (void)shape_numel(h.shape);
    } catch (const Error& e) {
        throw Error(what + ": " + e.what());
    }
    h.data_offset = prefix + header_len;
    return h;
}

Tensor parse(const std::string& bytes, const std::string& what) {
    const Header h = parse_header(bytes, what);
    const size_t want = dtype_bytes(h.dtype, static_cast<size_t>(shape_numel(h.shape)));
    if (bytes.size() - h.data_offset < want)
        throw Error(what + ": .npy data is truncated (" + std::to_string(bytes.size() - h.data_offset) + " of " +
                    std::to_string(want) + " bytes)");
    const auto* p = reinterpret_cast<const uint8_t*>(bytes.data()) + h.data_offset;
    return Tensor(h.dtype, h.shape, p, want);
}

Tensor load(const std::filesystem::path& path) {
    const auto raw = fs::read_file(path);
    return parse(std::string(raw.begin(), raw.end()), path.string());
}

std::string serialize(const Tensor& t) {
    std::string shape;  // numpy spelling: "()", "(3,)", "(2, 3)"
    for (size_t i = 0; i < t.rank(); ++i) shape += (i ? ", " : "") + std::to_string(t.dim(i));
    if (t.rank() == 1) shape += ",";
    std::string dict = std::string("{'descr': '") + descr_of(t.dtype()) + "', 'fortran_order': False, 'shape': (" + shape;
    dict += "), }";
    // numpy pads the header with spaces to a multiple of 64 bytes, newline last
    const size_t total = 10 + dict.size() + 1;
    dict += std::string((64 - total % 64) % 64, ' ') + "\n";
    std::string out = "\x93NUMPY";
    out += '\x01';
    out += '\x00';
    out += static_cast<char>(dict.size() & 0xFF);
    out += static_cast<char>((dict.size() >> 8) & 0xFF);
    out += dict;
    out.append(reinterpret_cast<const char*>(t.bytes().data()), t.nbytes());
    return out;
}

void save(const std::filesystem::path& path, const Tensor& t, bool overwrite) {
    fs::write_file_atomic(path, serialize(t), overwrite);
}

}  // namespace qcp::npy
