#include "qcp/core/fs.hpp"

#include <unistd.h>

#include <fstream>
#include <random>

#include "qcp/core/error.hpp"

namespace qcp::fs {

namespace stdfs = std::filesystem;

std::vector<uint8_t> read_file(const stdfs::path& path) {
    std::error_code ec;
    if (!stdfs::exists(path, ec)) throw Error(path.string() + ": no such file");
    if (stdfs::is_directory(path, ec)) throw Error(path.string() + ": is a directory, expected a file");
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path.string() + ": cannot open for reading");
    in.seekg(0, std::ios::end);
    const std::streamoff size = in.tellg();
    if (size < 0) throw Error(path.string() + ": cannot determine file size");
    in.seekg(0);
    std::vector<uint8_t> bytes(static_cast<size_t>(size));
    if (size > 0 && !in.read(reinterpret_cast<char*>(bytes.data()), size))
        throw Error(path.string() + ": read failed");
    return bytes;
}

namespace {

stdfs::path temp_name_for(const stdfs::path& target) {
    // pid + random suffix: concurrent qcp runs writing beside each other never collide
    static std::mt19937_64 rng{std::random_device{}()};
    const auto name = "." + target.filename().string() + ".tmp-" + std::to_string(getpid()) + "-" +
                      std::to_string(rng() % 1000000000);
    return target.parent_path() / name;
}

}  // namespace

void write_files_atomic(const std::vector<PendingFile>& files, bool overwrite) {
    for (const auto& f : files) {
        std::error_code ec;
        if (!overwrite && stdfs::exists(f.path, ec))
            throw Error(f.path.string() + ": already exists (use --force to overwrite)");
        const auto parent = f.path.parent_path().empty() ? stdfs::path(".") : f.path.parent_path();
        if (!stdfs::is_directory(parent, ec)) throw Error(parent.string() + ": output folder does not exist");
    }
    std::vector<stdfs::path> temps;
    try {
        for (const auto& f : files) {
            temps.push_back(temp_name_for(f.path));
            std::ofstream out(temps.back(), std::ios::binary | std::ios::trunc);
            if (!out) throw Error(f.path.string() + ": cannot open for writing");
            f.write(out);
            out.flush();
            if (!out) throw Error(f.path.string() + ": write failed (disk full?)");
        }
        for (size_t i = 0; i < files.size(); ++i) {
            std::error_code ec;
            stdfs::rename(temps[i], files[i].path, ec);
            if (ec) throw Error(files[i].path.string() + ": cannot rename into place: " + ec.message());
        }
    } catch (...) {
        for (const auto& t : temps) {
            std::error_code ec;
            stdfs::remove(t, ec);
        }
        throw;
    }
}

void write_file_atomic(const stdfs::path& path, const std::string& content, bool overwrite) {
    write_files_atomic({{path, [&](std::ostream& os) { os.write(content.data(), static_cast<std::streamsize>(content.size())); }}},
                       overwrite);
}

bool same_file(const stdfs::path& a, const stdfs::path& b) {
    std::error_code ec;
    if (stdfs::exists(a, ec) && stdfs::exists(b, ec)) return stdfs::equivalent(a, b, ec);
    return stdfs::weakly_canonical(a, ec) == stdfs::weakly_canonical(b, ec);
}

}  // namespace qcp::fs
