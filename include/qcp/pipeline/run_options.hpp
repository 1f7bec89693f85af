// What every command that runs models shares (compress, eval, compare, sweep): threads, the batch
// of each engine run, and how image folders are read. Commands derive their options from it, so a
// caller hands these on with one assignment: static_cast<RunOptions&>(eval) = compress;
#pragma once

#include <cstdint>

#include "qcp/data/dataset.hpp"

namespace qcp {

struct RunOptions {
    int threads = 0;           // 0: all cores
    int64_t batch = 256;       // samples per engine run
    data::ImageOptions image;  // --size, --mean, --std, --layout, ... for image folders
};

}  // namespace qcp
