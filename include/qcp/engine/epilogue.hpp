// Epilogue: a chain of elementwise float ops that a Conv applies to its output while the tile is in
// cache, in place of running them as nodes (engine fusion; the session builds one per Conv).
//
// PP-OCRv4 and other exports from Paddle follow every Conv by scalar Mul/Add (a learnable affine
// block), HardSwish spelled as Add(3) → Clip(0, 6) → Mul → Div(6), then another Mul/Add: eight
// passes over the conv's output. The epilogue runs them as one pass, over blocks of a few hundred
// floats. Each step computes exactly what its node's kernel computes (the same float operations in
// the same order), so a fused run gives the same bits as an unfused one.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "qcp/ir/graph.hpp"

namespace qcp::engine {

struct EpilogueStep {
    // BatchNorm: a·ka[c] + kb[c] for output channel c
    enum class Op : uint8_t { Add, Sub, Mul, Div, Clip, Relu, Sigmoid, HardSigmoid, HardSwish, LeakyRelu, BatchNorm };
    Op op = Op::Relu;
    int dst = 0, a = 0, b = -1;  // registers; b < 0: the second operand is the constant s (or ka[c])
    bool scalar_first = false;   // with b < 0: s op a (for Sub and Div) instead of a op s
    float s = 0.0f;              // the scalar operand; Clip's lower bound; HardSigmoid/LeakyRelu's alpha
    float t = 0.0f;              // Clip's upper bound; HardSigmoid's beta
    std::vector<float> ka, kb;   // per output channel: the constant operand (in place of s), BatchNorm's a and b
};

class Epilogue {
public:
    // The step computing node `node` (an elementwise op or an inference BatchNormalization on float32
    // values of one shape (N, C, …) of rank `rank`, at the default-domain `opset`), whose inputs are
    // registers (reg[i] >= 0, by input) or constants of `graph` (reg[i] < 0): float32 scalars, or one
    // value per channel (shape (C, 1, …) aligned with dim 1) when `channels` > 0. Returns false,
    // adding nothing, when the node does not fit (an unsupported op or attribute, an input that is
    // neither, a constant of another shape or of rank > `rank`, which would broadcast the value up).
    bool add(const ir::Node& node, int64_t opset, const ir::Graph& graph, const std::vector<int>& reg, int dst,
             size_t rank, int64_t channels);
    void set_output(int reg) { out_ = reg; }
    bool empty() const { return steps_.empty(); }
    size_t size() const { return steps_.size(); }

    // x[i] (register 0 on input) = register out_ after every step, for i in [0, n): values of output
    // channel `channel`. Thread-safe.
    void apply(float* x, int64_t n, int64_t channel) const;

private:
    std::vector<EpilogueStep> steps_;
    int regs_ = 1;
    int out_ = 0;
};

// The nodes after Conv `order[pos]` that can run as its epilogue: elementwise nodes that read its
// output (or each other's) and scalar constants, of which only the last one's output is read by
// any other node or is a graph output (listed in `keep`). Empty when none fit. `epilogue` gets their
// steps; node indices are returned in execution order.
std::vector<int> conv_epilogue_nodes(const ir::Graph& graph, int64_t opset, const std::vector<int>& order, size_t pos,
                                     const std::vector<std::string>& keep, Epilogue& epilogue);

}  // namespace qcp::engine
