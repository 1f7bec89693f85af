#include "qcp/ir/conv_pads.hpp"

#include <algorithm>
#include <string>

#include "qcp/core/error.hpp"

namespace qcp::ir {
namespace {

enum class AutoPad { NotSet, SameUpper, SameLower, Valid };

AutoPad auto_pad_of(const Node& node) {
    const std::string s = node.attr_string("auto_pad", "NOTSET");
    if (s == "NOTSET" || s.empty()) return AutoPad::NotSet;
    if (s == "SAME_UPPER") return AutoPad::SameUpper;
    if (s == "SAME_LOWER") return AutoPad::SameLower;
    if (s == "VALID") return AutoPad::Valid;
    throw Error(node.describe() + ": unsupported auto_pad '" + s + "'");
}

void check_args(const Node& node, const std::vector<int64_t>& in, const std::vector<int64_t>& kernel,
                const std::vector<int64_t>& strides, const std::vector<int64_t>& dilations) {
    const size_t n = in.size();
    if (kernel.size() != n || strides.size() != n || dilations.size() != n)
        throw Error(node.describe() + ": kernel_shape, strides and dilations need " + std::to_string(n) + " values");
    for (size_t i = 0; i < n; ++i) {
        if (in[i] < 0) throw Error(node.describe() + ": negative spatial size " + std::to_string(in[i]));
        if (strides[i] < 1 || dilations[i] < 1) throw Error(node.describe() + ": strides and dilations must be positive");
    }
}

// The `pads` attribute, zeros when absent.
std::vector<int64_t> pads_attr(const Node& node, size_t n) {
    std::vector<int64_t> pads = node.attr_ints("pads", std::vector<int64_t>(2 * n, 0));
    if (pads.size() != 2 * n) throw Error(node.describe() + ": pads needs " + std::to_string(2 * n) + " values");
    for (int64_t p : pads)
        if (p < 0) throw Error(node.describe() + ": pads value " + std::to_string(p) + " out of range");
    return pads;
}

// Splits a total padding between the two ends of a dim.
int64_t pad_begin(AutoPad mode, int64_t total) { return mode == AutoPad::SameUpper ? total / 2 : total - total / 2; }

}  // namespace

std::vector<int64_t> conv_pads(const Node& node, const std::vector<int64_t>& in, const std::vector<int64_t>& kernel,
                               const std::vector<int64_t>& strides, const std::vector<int64_t>& dilations) {
    check_args(node, in, kernel, strides, dilations);
    const AutoPad mode = auto_pad_of(node);
    const size_t n = in.size();
    std::vector<int64_t> pads = pads_attr(node, n);
    if (mode == AutoPad::NotSet) return pads;
    if (mode == AutoPad::Valid) return std::vector<int64_t>(2 * n, 0);
    for (size_t i = 0; i < n; ++i) {
        const int64_t out = (in[i] + strides[i] - 1) / strides[i];
        const int64_t span = (kernel[i] - 1) * dilations[i] + 1;
        const int64_t total = std::max<int64_t>(0, (out - 1) * strides[i] + span - in[i]);
        pads[i] = pad_begin(mode, total);
        pads[i + n] = total - pads[i];
    }
    return pads;
}

std::vector<int64_t> conv_transpose_pads(const Node& node, const std::vector<int64_t>& in,
                                         const std::vector<int64_t>& kernel, const std::vector<int64_t>& strides,
                                         const std::vector<int64_t>& dilations,
                                         const std::vector<int64_t>& output_padding,
                                         const std::vector<int64_t>& output_shape) {
    check_args(node, in, kernel, strides, dilations);
    const AutoPad mode = auto_pad_of(node);
    const size_t n = in.size();
    if (output_padding.size() != n || (!output_shape.empty() && output_shape.size() != n))
        throw Error(node.describe() + ": output_padding and output_shape need " + std::to_string(n) + " values");
    std::vector<int64_t> pads = pads_attr(node, n);
    const bool same = mode == AutoPad::SameUpper || mode == AutoPad::SameLower;
    if (!same && output_shape.empty()) return mode == AutoPad::Valid ? std::vector<int64_t>(2 * n, 0) : pads;
    for (size_t i = 0; i < n; ++i) {
        const int64_t out = same ? in[i] * strides[i] : output_shape[i];
        if (out < 0) continue;  // a negative output_shape entry counts as unset: the pads attribute applies
        // the size with no padding at all
        const int64_t full = (in[i] - 1) * strides[i] + output_padding[i] + (kernel[i] - 1) * dilations[i] + 1;
        pads[i] = pad_begin(mode, std::max<int64_t>(0, full - out));
        pads[i + n] = full - out - pads[i];
    }
    return pads;
}

}  // namespace qcp::ir
