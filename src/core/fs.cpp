#include "qcp/core/fs.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>

#include "qcp/core/error.hpp"
#include "qcp/core/memory.hpp"

namespace qcp::fs {

namespace stdfs = std::filesystem;

std::vector<uint8_t> read_file(const stdfs::path& path) {
    std::error_code ec;
    if (!stdfs::exists(path, ec)) throw Error(path.string() + ": no such file");
    if (stdfs::is_directory(path, ec)) throw Error(path.string() + ": is a directory, expected a file");
    if (!stdfs::is_regular_file(path, ec)) throw Error(path.string() + ": is not a regular file (a device or pipe?)");
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path.string() + ": cannot open for reading");
    in.seekg(0, std::ios::end);
    const std::streamoff size = in.tellg();
    if (size < 0) throw Error(path.string() + ": cannot determine file size");
    in.seekg(0);
    memory::require(static_cast<uint64_t>(size), "reading " + path.string());
    std::vector<uint8_t> bytes(static_cast<size_t>(size));
    if (size > 0 && !in.read(reinterpret_cast<char*>(bytes.data()), size))
        throw Error(path.string() + ": read failed");
    return bytes;
}

namespace {

// ".<name>.<kind>-<pid>-<random>" beside the target: concurrent qcp runs writing beside each
// other never collide, and a crash leaves only dot files that are plainly not outputs.
stdfs::path side_name_for(const stdfs::path& target, const char* kind) {
    static std::mt19937_64 rng{std::random_device{}()};
    const auto name = "." + target.filename().string() + "." + kind + "-" + std::to_string(getpid()) + "-" +
                      std::to_string(rng() % 1000000000);
    return target.parent_path() / name;
}

// Data reaches the disk before the rename that publishes it (else a crash can leave an empty
// file under the final name). Failures here are real I/O errors.
void sync_file(const stdfs::path& path, const stdfs::path& target) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || ::fsync(fd) != 0) {
        const int err = errno;
        if (fd >= 0) ::close(fd);
        throw Error(target.string() + ": cannot flush to disk: " + std::strerror(err));
    }
    ::close(fd);
}

// Best effort: some file systems cannot sync folders, and the files are in place already.
void sync_folder(const stdfs::path& folder) {
    const int fd = ::open(folder.empty() ? "." : folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;
    (void)::fsync(fd);
    ::close(fd);
}

// An existing target is kept under a backup name until every file is in place: as a second hard
// link (the target never disappears, and the rename over it stays atomic), or, where the file
// system has no hard links, moved aside.
enum class Backup { None, Linked, MovedAside };

struct Placement {
    stdfs::path temp, target, backup;
    Backup kept = Backup::None;
    bool placed = false;
};

// Undoes renames in reverse: the old file goes back under its name, a new one is removed.
void roll_back(std::vector<Placement>& steps) {
    for (auto it = steps.rbegin(); it != steps.rend(); ++it) {
        std::error_code ec;
        if (it->kept == Backup::Linked) {
            if (it->placed) stdfs::rename(it->backup, it->target, ec);
            else stdfs::remove(it->backup, ec);
        } else {
            if (it->placed) stdfs::remove(it->target, ec);
            if (it->kept == Backup::MovedAside) stdfs::rename(it->backup, it->target, ec);
        }
        stdfs::remove(it->temp, ec);
    }
}

void keep_old(Placement& step) {
    std::error_code ec;
    if (!stdfs::exists(step.target, ec)) return;
    stdfs::create_hard_link(step.target, step.backup, ec);
    if (!ec) {
        step.kept = Backup::Linked;
        return;
    }
    stdfs::rename(step.target, step.backup, ec);
    if (ec) throw Error(step.target.string() + ": cannot keep the old file while replacing it: " + ec.message());
    step.kept = Backup::MovedAside;
}

}  // namespace

void check_writable(const stdfs::path& path, bool overwrite) {
    std::error_code ec;
    if (path.empty()) throw Error("output path is empty");
    if (stdfs::is_directory(path, ec)) throw Error(path.string() + ": is a folder, expected a file name");
    if (!overwrite && stdfs::exists(path, ec))
        throw Error(path.string() + ": already exists (use --force to overwrite)");
    const auto parent = path.parent_path().empty() ? stdfs::path(".") : path.parent_path();
    if (!stdfs::is_directory(parent, ec)) throw Error(parent.string() + ": output folder does not exist");
}

void write_files_atomic(const std::vector<PendingFile>& files, bool overwrite) {
    for (const auto& f : files) check_writable(f.path, overwrite);
    std::vector<Placement> steps;
    try {
        for (const auto& f : files) {
            steps.push_back({side_name_for(f.path, "tmp"), f.path, side_name_for(f.path, "old")});
            {
                std::ofstream out(steps.back().temp, std::ios::binary | std::ios::trunc);
                if (!out) throw Error(f.path.string() + ": cannot open for writing");
                f.write(out);
                out.close();
                if (!out) throw Error(f.path.string() + ": write failed (disk full or file too large?)");
            }
            sync_file(steps.back().temp, f.path);
        }
        for (auto& step : steps) {
            keep_old(step);
            std::error_code ec;
            stdfs::rename(step.temp, step.target, ec);
            if (ec) throw Error(step.target.string() + ": cannot rename into place: " + ec.message());
            step.placed = true;
        }
    } catch (...) {
        roll_back(steps);
        throw;
    }
    for (const auto& step : steps) {
        std::error_code ec;
        if (step.kept != Backup::None) stdfs::remove(step.backup, ec);
        sync_folder(step.target.parent_path());
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
