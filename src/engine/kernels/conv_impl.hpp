// Shared by conv.cpp and conv_transpose.cpp (internal to the engine).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "qcp/engine/kernel.hpp"

namespace qcp::engine::kernels {

// Conv and ConvTranspose attributes for `nd` spatial dimensions, with ONNX defaults filled in
// (strides and dilations 1; kernel_shape from the weight's trailing dims when absent). Throws
// naming the node for values of the wrong length or out of range, auto_pad and pads included;
// ir::conv_pads and ir::conv_transpose_pads resolve those two.
struct ConvAttrs {
    int64_t group = 1;
    std::vector<int64_t> kernel, strides, dilations;
};
ConvAttrs read_conv_attrs(const KernelContext& ctx, const Shape& weight_shape, size_t nd);

// The optional bias (input 2) of a conv with `channels` outputs, or nullptr; throws naming the
// node when its size does not match.
const float* conv_bias(const KernelContext& ctx, int64_t channels);

// (N, C, spatial…) of a conv output: `out` holds the spatial sizes right-aligned in 3 slots
// (1-D uses out[2], 2-D out[1..2]) and x gives the batch and the number of spatial dims.
Shape conv_output_shape(const Tensor& x, int64_t batch, int64_t channels, const std::array<int64_t, 3>& out);

// ConvTranspose (opset 1-22), implemented in conv_transpose.cpp and registered by register_conv.
void conv_transpose_kernel(KernelContext& ctx);

}  // namespace qcp::engine::kernels
