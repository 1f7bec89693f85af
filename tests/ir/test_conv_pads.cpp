// ir::conv_pads and ir::conv_transpose_pads against references that search for the padding an
// output-size formula needs, rather than computing it in closed form.
#include <gtest/gtest.h>

#include <random>

#include "ir_builders.hpp"
#include "qcp/core/error.hpp"
#include "qcp/ir/conv_pads.hpp"

namespace qcp::ir {
namespace {

using test::make_node;

constexpr int kRandomCases = 400;

struct Geometry {
    std::vector<int64_t> in, kernel, strides, dilations;
};

Geometry random_geometry(std::mt19937& gen) {
    std::uniform_int_distribution<int> rank(1, 3), size(1, 40), kernel(1, 7), stride(1, 5), dilation(1, 4);
    Geometry g;
    const int n = rank(gen);
    for (int i = 0; i < n; ++i) {
        g.in.push_back(size(gen));
        g.kernel.push_back(kernel(gen));
        g.strides.push_back(stride(gen));
        g.dilations.push_back(dilation(gen));
    }
    return g;
}

Node node_with(const std::string& op, const std::string& auto_pad, const std::vector<int64_t>& pads = {}) {
    Node n = make_node(op, {"x", "w"}, {"y"}, "node");
    if (!auto_pad.empty()) n.attributes.push_back(Attribute::make_string("auto_pad", auto_pad));
    if (!pads.empty()) n.attributes.push_back(Attribute::make_ints("pads", pads));
    return n;
}

// Outputs of a conv / pooling window sweep (floor mode) over a padded dim.
int64_t conv_out(int64_t in, int64_t begin, int64_t end, int64_t k, int64_t s, int64_t d) {
    const int64_t extent = in + begin + end - (k - 1) * d - 1;
    return extent < 0 ? 0 : extent / s + 1;
}

// SAME_*: the least total padding giving ceil(in / s) outputs, found by search, then split with
// the odd unit at the end (SAME_UPPER) or at the beginning (SAME_LOWER).
std::pair<int64_t, int64_t> same_reference(bool upper, int64_t in, int64_t k, int64_t s, int64_t d) {
    const int64_t want = (in + s - 1) / s;
    for (int64_t total = 0;; ++total) {
        const int64_t small = total / 2, large = total - small;
        const int64_t begin = upper ? small : large, end = upper ? large : small;
        if (conv_out(in, begin, end, k, s, d) == want) return {begin, end};
    }
}

TEST(ConvPads, SameModesGiveCeilOutputsWithLeastPaddingSplitAsOnnxSays) {
    std::mt19937 gen(7);
    for (int c = 0; c < kRandomCases; ++c) {
        const Geometry g = random_geometry(gen);
        for (const bool upper : {true, false}) {
            const std::vector<int64_t> pads = conv_pads(node_with("Conv", upper ? "SAME_UPPER" : "SAME_LOWER", {}),
                                                        g.in, g.kernel, g.strides, g.dilations);
            const size_t n = g.in.size();
            ASSERT_EQ(pads.size(), 2 * n);
            for (size_t i = 0; i < n; ++i) {
                const auto ref = same_reference(upper, g.in[i], g.kernel[i], g.strides[i], g.dilations[i]);
                EXPECT_EQ(pads[i], ref.first) << "case " << c << " dim " << i;
                EXPECT_EQ(pads[i + n], ref.second) << "case " << c << " dim " << i;
            }
        }
    }
}

TEST(ConvPads, NotSetReturnsThePadsAttributeAndValidZeros) {
    std::mt19937 gen(8);
    std::uniform_int_distribution<int64_t> pad(0, 6);
    for (int c = 0; c < kRandomCases; ++c) {
        const Geometry g = random_geometry(gen);
        std::vector<int64_t> attr(2 * g.in.size());
        for (auto& p : attr) p = pad(gen);
        EXPECT_EQ(conv_pads(node_with("Conv", "NOTSET", attr), g.in, g.kernel, g.strides, g.dilations), attr);
        EXPECT_EQ(conv_pads(node_with("MaxPool", "", attr), g.in, g.kernel, g.strides, g.dilations), attr);
        EXPECT_EQ(conv_pads(node_with("Conv", "VALID", attr), g.in, g.kernel, g.strides, g.dilations),
                  std::vector<int64_t>(attr.size(), 0));
    }
    // no pads attribute: zeros
    EXPECT_EQ(conv_pads(node_with("Conv", ""), {5, 6}, {3, 3}, {1, 2}, {1, 1}), std::vector<int64_t>(4, 0));
}

TEST(ConvPads, BadAttributesAreRefusedNamingTheNode) {
    auto expect_error = [](const Node& n, const std::vector<int64_t>& strides) {
        try {
            conv_pads(n, {8, 8}, {3, 3}, strides, {1, 1});
            ADD_FAILURE() << "no error";
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find("node"), std::string::npos) << e.what();
        }
    };
    expect_error(node_with("Conv", "BOGUS"), {1, 1});
    expect_error(node_with("Conv", "NOTSET", {1, 1, 1}), {1, 1});
    expect_error(node_with("Conv", "NOTSET", {1, -1, 1, 1}), {1, 1});
    expect_error(node_with("Conv", "SAME_UPPER"), {1, 0});
    expect_error(node_with("Conv", "SAME_UPPER"), {1});
}

// ConvTranspose output size (ONNX) for pads begin / end.
int64_t transpose_out(int64_t in, int64_t begin, int64_t end, int64_t k, int64_t s, int64_t d, int64_t op) {
    return s * (in - 1) + op + (k - 1) * d + 1 - begin - end;
}

TEST(ConvTransposePads, SameAndOutputShapeGiveTheRequestedSize) {
    std::mt19937 gen(9);
    std::uniform_int_distribution<int64_t> extra(-3, 3);
    for (int c = 0; c < kRandomCases; ++c) {
        const Geometry g = random_geometry(gen);
        const size_t n = g.in.size();
        std::vector<int64_t> output_padding(n), output_shape(n);
        for (size_t i = 0; i < n; ++i) {
            output_padding[i] = std::uniform_int_distribution<int64_t>(0, g.strides[i] - 1)(gen);
            output_shape[i] = std::max<int64_t>(1, g.in[i] * g.strides[i] + extra(gen));
        }
        for (const std::string mode : {"SAME_UPPER", "SAME_LOWER", "NOTSET", "VALID"}) {
            const bool same = mode.rfind("SAME", 0) == 0;
            const std::vector<int64_t> pads =
                conv_transpose_pads(node_with("ConvTranspose", mode, std::vector<int64_t>(2 * n, 1)), g.in, g.kernel,
                                    g.strides, g.dilations, output_padding, same ? std::vector<int64_t>{} : output_shape);
            ASSERT_EQ(pads.size(), 2 * n);
            for (size_t i = 0; i < n; ++i) {
                const int64_t want = same ? g.in[i] * g.strides[i] : output_shape[i];
                const int64_t begin = pads[i], end = pads[i + n];
                EXPECT_EQ(transpose_out(g.in[i], begin, end, g.kernel[i], g.strides[i], g.dilations[i], output_padding[i]),
                          want) << mode << " case " << c;
                const int64_t total = begin + end;
                if (total < 0) {  // asked for more than the unpadded size: the extra goes at the end
                    EXPECT_EQ(begin, 0);
                    continue;
                }
                // the odd unit at the end for SAME_UPPER, at the beginning otherwise
                EXPECT_EQ(mode == "SAME_UPPER" ? end - begin : begin - end, total % 2) << mode << " case " << c;
            }
        }
    }
}

TEST(ConvTransposePads, WithoutOutputShapeNotSetUsesPadsAndValidZeros) {
    const Node notset = node_with("ConvTranspose", "NOTSET", {1, 2, 0, 3});
    EXPECT_EQ(conv_transpose_pads(notset, {4, 5}, {3, 3}, {2, 2}, {1, 1}, {0, 1}, {}),
              (std::vector<int64_t>{1, 2, 0, 3}));
    const Node valid = node_with("ConvTranspose", "VALID", {1, 2, 0, 3});
    EXPECT_EQ(conv_transpose_pads(valid, {4, 5}, {3, 3}, {2, 2}, {1, 1}, {0, 1}, {}), std::vector<int64_t>(4, 0));
    EXPECT_THROW(conv_transpose_pads(notset, {4, 5}, {3, 3}, {2, 2}, {1, 1}, {0}, {}), Error);
    // a negative output_shape entry leaves its dim to the pads attribute, under VALID too; full sizes 9 and 12
    EXPECT_EQ(conv_transpose_pads(notset, {4, 5}, {3, 3}, {2, 2}, {1, 1}, {0, 1}, {-1, 9}),
              (std::vector<int64_t>{1, 2, 0, 1}));
    EXPECT_EQ(conv_transpose_pads(valid, {4, 5}, {3, 3}, {2, 2}, {1, 1}, {0, 1}, {7, -1}),
              (std::vector<int64_t>{1, 2, 1, 3}));
}

}  // namespace
}  // namespace qcp::ir
