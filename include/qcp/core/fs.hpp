// File helpers that never leave a partial file behind.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace qcp::fs {

// Reads a whole file; throws qcp::Error naming the path if it is missing or unreadable.
std::vector<uint8_t> read_file(const std::filesystem::path& path);

// Writes a set of files atomically: each is written to a temporary name in its own folder
// (".<name>.tmp-<pid>-<random>") and flushed to disk, and all are renamed into place only after
// every write succeeded, in list order — put the file that refers to the others (the model)
// last. Targets that already exist (allowed only with `overwrite`) are kept under a backup
// name (a hard link, so the target never goes missing) until all are in place; if any rename
// fails, the ones done are undone and the old files restored. On any failure nothing new is
// left behind and every target is as it was.
struct PendingFile {
    std::filesystem::path path;
    std::function<void(std::ostream&)> write;  // streams the file's content
};
void write_files_atomic(const std::vector<PendingFile>& files, bool overwrite);

// The checks write_files_atomic makes before writing anything: the target's folder exists,
// the target is not a folder, and it does not exist unless `overwrite`. Lets a command refuse
// a bad output path before hours of work.
void check_writable(const std::filesystem::path& path, bool overwrite);

// Convenience for one in-memory buffer.
void write_file_atomic(const std::filesystem::path& path, const std::string& content, bool overwrite);

// True when a and b name the same existing file (or the same path once normalised).
bool same_file(const std::filesystem::path& a, const std::filesystem::path& b);

}  // namespace qcp::fs
