// What every command that runs models shares (compress, eval, compare, sweep): threads, the batch
// of each engine run, how image folders are read, and how each model input is fed. Commands derive
// their options from it, so a caller hands these on with one assignment:
// static_cast<RunOptions&>(eval) = compress;
#pragma once

#include <cstdint>
#include <vector>

#include "qcp/data/dataset.hpp"
#include "qcp/data/inputs.hpp"

namespace qcp {

struct RunOptions {
    int threads = 0;           // 0: all cores
    int64_t batch = 256;       // samples per engine run
    data::ImageOptions image;  // --size, --mean, --std, --layout, --channel-order, --resize, --pad, ...
    std::vector<data::InputShape> input_shapes;  // --input-shape NAME=d0,d1,...: dims of dynamic inputs
    std::vector<data::InputValue> input_values;  // --input-value NAME=V: inputs without data (default 0)
};

}  // namespace qcp
