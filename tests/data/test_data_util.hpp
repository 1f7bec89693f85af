// Helpers for the data tests: writing IDX, gzip and image files, and checking error messages.
#pragma once

#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "qcp/core/error.hpp"
#include "test_util.hpp"

namespace qcp::test {

// IDX file content: magic 00 00 <type> <rank>, big-endian uint32 dims, then the payload.
inline std::string idx_bytes(uint8_t type, const std::vector<uint32_t>& dims, const std::string& payload) {
    std::string out = {'\0', '\0', static_cast<char>(type), static_cast<char>(dims.size())};
    for (uint32_t d : dims)
        for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((d >> shift) & 0xFF);
    return out + payload;
}

inline void write_gzip(const std::filesystem::path& p, const std::string& bytes) {
    gzFile f = gzopen(p.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    if (!bytes.empty()) {
        ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())), static_cast<int>(bytes.size()));
    }
    ASSERT_EQ(gzclose(f), Z_OK);
}

// Bytes 0, 1, 2, ... wrapping at 256.
inline std::string ramp_bytes(size_t n, unsigned offset = 0) {
    std::string s(n, '\0');
    for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i + offset) & 0xFF);
    return s;
}

// Runs fn, which must throw a one-line qcp::Error whose message contains every one of `parts`.
inline void expect_error(const std::function<void()>& fn, const std::vector<std::string>& parts) {
    try {
        fn();
    } catch (const Error& e) {
        const std::string msg = e.what();
        EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
        for (const auto& part : parts) EXPECT_NE(msg.find(part), std::string::npos) << "'" << part << "' not in: " << msg;
        return;
    }
    ADD_FAILURE() << "no qcp::Error thrown (expected one mentioning '" << (parts.empty() ? "" : parts[0]) << "')";
}

}  // namespace qcp::test
