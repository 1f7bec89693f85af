// Finding the layers qcp compresses: Conv, ConvTranspose, Gemm and MatMul with a constant
// weight, with their sizes and whether the weight can be rewritten at all. Which method takes
// which layer is the methods' business (src/pipeline/methods), not the graph's.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "qcp/ir/graph.hpp"

namespace qcp::ir {

struct Layer {
    int node = -1;            // index into Graph::nodes
    std::string name;         // node name, or its first output's name when unnamed
    std::string op;           // op_type
    std::string weight;       // the weight input's value name
    std::string bias;         // bias value name, "" when none
    Shape weight_shape;
    int64_t groups = 1;
    int64_t params = 0;       // weight + bias elements
    int64_t macs = -1;        // multiply-accumulates at batch 1; -1 when shapes are unknown
    // The data input's and the output's shapes at batch 1 as the graph knew them when the layer
    // was found (unknown dims as 1; empty when unknown): rewrites read them, so the MACs of a
    // replacement follow the shapes the layer was measured with (e.g. under --input-shape).
    Shape in_shape, out_shape;
    // Why the weight cannot be rewritten by any pass, most fundamental first: not float (already
    // quantized), shared by several nodes, Gemm with transA, not a matrix, a conv weight of
    // rank < 3, empty. "" when it can.
    std::string unusable;
};

// Every Conv / ConvTranspose / Gemm / MatMul in graph order whose weight input is constant.
// Needs Graph::rebuild_index(); uses Graph::shape_info for MACs (unknown dims count as 1).
std::vector<Layer> find_layers(const Graph& graph);

// Parameters of the model: elements of every non-scalar float constant (initializers and
// Constant nodes); scalars such as Clip bounds are hyper-parameters, not weights.
int64_t count_params(const Graph& graph);

// MACs at batch 1 of one layer node given its output shape; -1 when shapes are unknown.
int64_t layer_macs(const Graph& graph, const Node& node, const Shape& weight_shape);

}  // namespace qcp::ir
