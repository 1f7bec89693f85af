// The padding of Conv, ConvTranspose and pooling nodes, auto_pad resolved: one definition for the
// engine's kernels and the pipeline's im2col geometry.
//
// Pads are laid out as ONNX's `pads` attribute: (begin_0, …, begin_{n-1}, end_0, …, end_{n-1}) over
// the n spatial dims. auto_pad is NOTSET (also when empty), SAME_UPPER, SAME_LOWER or VALID; an odd
// total padding puts the extra unit at the end for SAME_UPPER and at the beginning for SAME_LOWER.
#pragma once

#include <cstdint>
#include <vector>

#include "qcp/ir/graph.hpp"

namespace qcp::ir {

// Pads (begin_0, …, begin_{n-1}, end_0, …, end_{n-1}) of a Conv or pooling node over spatial input
// sizes `in`: the `pads` attribute (zeros when absent) under auto_pad NOTSET, the SAME_UPPER /
// SAME_LOWER split of the total padding that gives ceil(in / stride) outputs, or zeros for VALID.
// With span = (kernel − 1)·dilation + 1, SAME's total is max(0, (ceil(in / stride) − 1)·stride + span − in).
// Throws qcp::Error naming the node for an unknown auto_pad, a `pads` of other than 2n values or with
// a negative one, strides or dilations below 1, or arguments of unequal lengths.
std::vector<int64_t> conv_pads(const Node& node, const std::vector<int64_t>& in, const std::vector<int64_t>& kernel,
                               const std::vector<int64_t>& strides, const std::vector<int64_t>& dilations);

// Pads of a ConvTranspose node, laid out as conv_pads's, with the output size along dim i
//     out_i = (in_i − 1)·stride_i + output_padding_i + (kernel_i − 1)·dilation_i + 1 − begin_i − end_i.
// SAME_UPPER / SAME_LOWER ask for out_i = in_i·stride_i, otherwise a non-empty `output_shape` (n
// spatial sizes; it overrides VALID and `pads`) for out_i = output_shape_i; the total padding is then
// split as ONNX specifies (SAME_UPPER's way only under SAME_UPPER), and an output larger than the
// unpadded size is padded at the end: end_i is negative. Else the `pads` attribute (NOTSET) or zeros
// (VALID); a negative output_shape entry counts as unset for its dim, which then takes the `pads`
// attribute even under VALID. Throws as conv_pads does, also for output_padding or output_shape of
// the wrong length.
std::vector<int64_t> conv_transpose_pads(const Node& node, const std::vector<int64_t>& in,
                                         const std::vector<int64_t>& kernel, const std::vector<int64_t>& strides,
                                         const std::vector<int64_t>& dilations,
                                         const std::vector<int64_t>& output_padding,
                                         const std::vector<int64_t>& output_shape);

}  // namespace qcp::ir
