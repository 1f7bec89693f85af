// Small helpers shared by kernels (internal to the engine).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "qcp/core/error.hpp"
#include "qcp/core/tensor.hpp"
#include "qcp/engine/kernel.hpp"

namespace qcp::engine::kernels {

// numpy-style broadcast of two shapes; throws naming the node when incompatible.
Shape broadcast_shapes(const Shape& a, const Shape& b, const KernelContext& ctx);

// Strides (in elements) of `shape` as seen from an output of rank `out_rank` after
// broadcasting: 0 on broadcast dimensions. Row-major.
std::vector<int64_t> broadcast_strides(const Shape& shape, const Shape& out_shape);

// Axis in [-rank, rank) -> [0, rank); throws naming the node when out of range.
int64_t normalize_axis(int64_t axis, int64_t rank, const KernelContext& ctx);

// Requires a float32 input (converting float16/bfloat16/double is the job of Cast).
const Tensor& float_input(const KernelContext& ctx, size_t i);

}  // namespace qcp::engine::kernels
