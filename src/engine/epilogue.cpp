#include "qcp/engine/epilogue.hpp"

#include <algorithm>
#include <cfloat>
#include <limits>
#include <map>
#include <set>

#include "kernels/activation_math.hpp"

namespace qcp::engine {

namespace {

using Op = EpilogueStep::Op;

constexpr int64_t kBlock = 256;     // floats per register: the block stays in L1
constexpr int kMaxRegisters = 16;   // live values of one chain (HardSwish needs 3)
constexpr size_t kMaxSteps = 32;
constexpr size_t kMaxGap = 64;      // unrelated nodes passed over between two of a chain's

bool binary_op(const std::string& op, Op& out) {
    static const std::map<std::string, Op> ops = {{"Add", Op::Add}, {"Sub", Op::Sub}, {"Mul", Op::Mul}, {"Div", Op::Div}};
    auto it = ops.find(op);
    if (it == ops.end()) return false;
    out = it->second;
    return true;
}

bool unary_op(const std::string& op, int64_t opset, Op& out) {
    static const std::map<std::string, Op> ops = {{"Relu", Op::Relu},
                                                  {"Sigmoid", Op::Sigmoid},
                                                  {"HardSigmoid", Op::HardSigmoid},
                                                  {"LeakyRelu", Op::LeakyRelu},
                                                  {"Clip", Op::Clip}};
    if (op == "HardSwish") {
        out = Op::HardSwish;
        return opset >= 14;
    }
    auto it = ops.find(op);
    if (it == ops.end()) return false;
    out = it->second;
    return true;
}

bool is_epilogue_op(const ir::Node& node, int64_t opset) {
    if (!node.domain.empty() && node.domain != "ai.onnx") return false;
    if (node.outputs.empty() || node.outputs[0].empty()) return false;
    if (node.op_type == "BatchNormalization")  // inference only, y alone, per-channel parameters
        return opset >= 7 && node.attr_int("training_mode", 0) == 0 && node.attr_int("spatial", 1) == 1 &&
               std::all_of(node.outputs.begin() + 1, node.outputs.end(), [](const std::string& o) { return o.empty(); });
    if (node.outputs.size() != 1) return false;
    Op op;
    return (binary_op(node.op_type, op) && opset >= 7) || unary_op(node.op_type, opset, op);
}

// A float32 scalar constant (numel 1, rank <= `rank`) of the graph.
bool scalar_constant(const ir::Graph& graph, const std::string& name, size_t rank, float& value) {
    const Tensor* t = name.empty() ? nullptr : graph.constant(name);
    if (!t || t->dtype() != DType::Float32 || t->numel() != 1 || t->rank() > rank) return false;
    value = t->data<float>()[0];
    return true;
}

// A float32 constant that broadcasts over a value (N, C, …) of rank `rank` without changing its shape:
// one value (in `value`), or with `channels` > 0 one per channel (shape (C, 1, …) aligned with dim 1,
// in `per_channel`).
bool channel_constant(const ir::Graph& graph, const std::string& name, size_t rank, int64_t channels, float& value,
                      std::vector<float>& per_channel) {
    if (scalar_constant(graph, name, rank, value)) return true;
    const Tensor* t = name.empty() || channels <= 0 || rank < 2 ? nullptr : graph.constant(name);
    if (!t || t->dtype() != DType::Float32 || t->numel() != channels || t->rank() > rank || t->rank() + 1 < rank)
        return false;
    if (t->dim(t->rank() - (rank - 1)) != channels) return false;  // the dim aligned with the value's dim 1
    per_channel.assign(t->data<float>(), t->data<float>() + channels);
    return true;
}

// BatchNormalization's per-channel y = x·a + b, as batch_norm computes them.
bool batch_norm_constants(const ir::Node& node, const ir::Graph& graph, int64_t channels, EpilogueStep& st) {
    if (node.inputs.size() != 5 || channels <= 0) return false;
    const float* p[4];
    for (size_t i = 0; i < 4; ++i) {
        const Tensor* t = node.inputs[i + 1].empty() ? nullptr : graph.constant(node.inputs[i + 1]);
        if (!t || t->dtype() != DType::Float32 || t->numel() != channels) return false;
        p[i] = t->data<float>();
    }
    const float eps = node.attr_float("epsilon", 1e-5f);
    st.ka.resize(static_cast<size_t>(channels));
    st.kb.resize(static_cast<size_t>(channels));
    for (size_t c = 0; c < st.ka.size(); ++c) kernels::batch_norm_affine(p[0][c], p[1][c], p[2][c], p[3][c], eps, st.ka[c], st.kb[c]);
    return true;
}

// Registers over one block: out[i] = f(a[i]) or f(a[i], b[i]).
template <typename F>
void unary_block(const float* __restrict a, float* __restrict y, int64_t n, F f) {
    for (int64_t i = 0; i < n; ++i) y[i] = f(a[i]);
}

template <typename F>
void binary_block(const float* a, const float* b, float* y, int64_t n, F f) {
    for (int64_t i = 0; i < n; ++i) y[i] = f(a[i], b[i]);
}

template <typename F>
void scalar_block(const float* a, float s, bool scalar_first, float* y, int64_t n, F f) {
    if (scalar_first) {
        for (int64_t i = 0; i < n; ++i) y[i] = f(s, a[i]);
    } else {
        for (int64_t i = 0; i < n; ++i) y[i] = f(a[i], s);
    }
}

template <typename F>
void binary_step(const EpilogueStep& st, float (*reg)[kBlock], int64_t n, int64_t channel, F f) {
    if (st.b >= 0)
        binary_block(reg[st.a], reg[st.b], reg[st.dst], n, f);
    else
        scalar_block(reg[st.a], st.ka.empty() ? st.s : st.ka[static_cast<size_t>(channel)], st.scalar_first,
                     reg[st.dst], n, f);
}

}  // namespace

bool Epilogue::add(const ir::Node& node, int64_t opset, const ir::Graph& graph, const std::vector<int>& reg, int dst,
                   size_t rank, int64_t channels) {
    if (!is_epilogue_op(node, opset) || steps_.size() >= kMaxSteps || dst >= kMaxRegisters) return false;
    EpilogueStep st;
    st.dst = dst;
    if (node.op_type == "BatchNormalization") {
        st.op = Op::BatchNorm;
        if (reg[0] < 0 || !batch_norm_constants(node, graph, channels, st)) return false;
        for (size_t i = 1; i < reg.size(); ++i)
            if (reg[i] >= 0) return false;
        st.a = reg[0];
    } else if (binary_op(node.op_type, st.op)) {
        if (node.inputs.size() != 2) return false;
        if (reg[0] >= 0 && reg[1] >= 0) {
            st.a = reg[0];
            st.b = reg[1];
        } else if (reg[0] >= 0) {
            st.a = reg[0];
            if (!channel_constant(graph, node.inputs[1], rank, channels, st.s, st.ka)) return false;
        } else if (reg[1] >= 0) {
            st.a = reg[1];
            st.scalar_first = true;
            if (!channel_constant(graph, node.inputs[0], rank, channels, st.s, st.ka)) return false;
        } else {
            return false;
        }
    } else {
        unary_op(node.op_type, opset, st.op);
        if (node.inputs.empty() || reg[0] < 0) return false;
        for (size_t i = 1; i < node.inputs.size(); ++i)
            if (reg[i] >= 0) return false;
        st.a = reg[0];
        if (st.op == Op::Clip) {  // bounds as in clip_kernel: attributes before opset 11, scalar inputs from 11
            st.s = std::numeric_limits<float>::lowest();
            st.t = std::numeric_limits<float>::max();
            if (opset < 11) {
                st.s = node.attr_float("min", -FLT_MAX);
                st.t = node.attr_float("max", FLT_MAX);
            } else {
                // a bound's rank does not broadcast the output, but clip_kernel wants exactly one value
                if (node.inputs.size() > 1 && !node.inputs[1].empty() &&
                    !scalar_constant(graph, node.inputs[1], 64, st.s))
                    return false;
                if (node.inputs.size() > 2 && !node.inputs[2].empty() &&
                    !scalar_constant(graph, node.inputs[2], 64, st.t))
                    return false;
            }
        } else if (node.inputs.size() != 1) {
            return false;
        } else if (st.op == Op::HardSigmoid) {
            st.s = node.attr_float("alpha", 0.2f);
            st.t = node.attr_float("beta", 0.5f);
        } else if (st.op == Op::LeakyRelu) {
            st.s = node.attr_float("alpha", 0.01f);
        }
    }
    steps_.push_back(st);
    regs_ = std::max(regs_, dst + 1);
    return true;
}

void Epilogue::apply(float* x, int64_t n, int64_t channel) const {
    using namespace kernels;
    alignas(64) float reg[kMaxRegisters][kBlock];
    for (int64_t i0 = 0; i0 < n; i0 += kBlock) {
        const int64_t len = std::min(kBlock, n - i0);
        std::copy(x + i0, x + i0 + len, reg[0]);
        for (const EpilogueStep& st : steps_) {
            float* y = reg[st.dst];
            const float* a = reg[st.a];
            switch (st.op) {
                case Op::Add: binary_step(st, reg, len, channel, [](float u, float v) { return u + v; }); break;
                case Op::Sub: binary_step(st, reg, len, channel, [](float u, float v) { return u - v; }); break;
                case Op::Mul: binary_step(st, reg, len, channel, [](float u, float v) { return u * v; }); break;
                case Op::Div: binary_step(st, reg, len, channel, [](float u, float v) { return u / v; }); break;
                case Op::Clip: {
                    const float lo = st.s, hi = st.t;
                    unary_block(a, y, len, [lo, hi](float v) { return clip_value(v, lo, hi); });
                    break;
                }
                case Op::Relu: unary_block(a, y, len, relu_value); break;
                case Op::Sigmoid: unary_block(a, y, len, sigmoid_value); break;
                case Op::HardSigmoid: {
                    const float alpha = st.s, beta = st.t;
                    unary_block(a, y, len, [alpha, beta](float v) { return hard_sigmoid_value(v, alpha, beta); });
                    break;
                }
                case Op::HardSwish: unary_block(a, y, len, hard_swish_value); break;
                case Op::BatchNorm: {
                    const float ka = st.ka[static_cast<size_t>(channel)], kb = st.kb[static_cast<size_t>(channel)];
                    unary_block(a, y, len, [ka, kb](float v) { return v * ka + kb; });
                    break;
                }
                case Op::LeakyRelu: {
                    const float alpha = st.s;
                    unary_block(a, y, len, [alpha](float v) { return leaky_relu_value(v, alpha); });
                    break;
                }
            }
        }
        std::copy(reg[out_], reg[out_] + len, x + i0);
    }
}

std::vector<int> conv_epilogue_nodes(const ir::Graph& graph, int64_t opset, const std::vector<int>& order, size_t pos,
                                     const std::vector<std::string>& keep, Epilogue& epilogue) {
    const ir::Node& conv = graph.nodes[static_cast<size_t>(order[pos])];
    // constants of higher rank than the output would broadcast it up; the output has the weight's
    // rank (without a constant weight, only rank-0 scalars are taken)
    const Tensor* weight = conv.inputs.size() > 1 ? graph.constant(conv.inputs[1]) : nullptr;
    const size_t rank = weight ? weight->rank() : 0;
    const int64_t channels = weight && weight->rank() > 0 ? weight->dim(0) : 0;
    std::map<std::string, int> reg = {{conv.outputs[0], 0}};
    std::vector<int> nodes;
    Epilogue steps;
    // grow along the execution order: a node that reads the chain joins if it fits, else the chain
    // ends there (what it read escapes); unrelated nodes in between are passed over
    size_t last = pos;
    for (size_t p = pos + 1; p < order.size() && nodes.size() < kMaxSteps; ++p) {
        const ir::Node& node = graph.nodes[static_cast<size_t>(order[p])];
        std::vector<int> in_regs;
        bool reads = false;
        for (const auto& in : node.inputs) {
            auto it = reg.find(in);
            in_regs.push_back(it == reg.end() ? -1 : it->second);
            reads |= it != reg.end();
        }
        if (!reads) {
            if (p > last + kMaxGap) break;
            continue;
        }
        const int dst = static_cast<int>(reg.size());
        if (!steps.add(node, opset, graph, in_regs, dst, rank, channels)) break;
        reg[node.outputs[0]] = dst;
        nodes.push_back(order[p]);
        last = p;
    }
    // trim from the end until only the last node's output is read outside the chain
    std::set<std::string> outside(keep.begin(), keep.end());  // and what sub-graphs read (never a chain node's)
    for (const auto& node : graph.nodes)
        for (auto& v : node.implicit_inputs()) outside.insert(std::move(v));
    auto escapes = [&](const std::string& value, const std::set<int>& inside) {
        if (outside.count(value) || graph.is_graph_output(value)) return true;
        for (int c : graph.consumers(value))
            if (!inside.count(c)) return true;
        return false;
    };
    while (!nodes.empty()) {
        const std::set<int> inside(nodes.begin(), nodes.end());
        bool ok = !escapes(conv.outputs[0], inside);
        for (size_t i = 0; ok && i + 1 < nodes.size(); ++i)
            ok = !escapes(graph.nodes[static_cast<size_t>(nodes[i])].outputs[0], inside);
        if (ok) break;
        nodes.pop_back();
    }
    epilogue = Epilogue();
    for (size_t i = 0; i < nodes.size(); ++i) {
        const ir::Node& node = graph.nodes[static_cast<size_t>(nodes[i])];
        std::vector<int> in_regs;
        for (const auto& in : node.inputs) {
            auto it = reg.find(in);
            in_regs.push_back(it == reg.end() ? -1 : it->second);
        }
        epilogue.add(node, opset, graph, in_regs, reg.at(node.outputs[0]), rank, channels);
    }
    if (!nodes.empty()) epilogue.set_output(reg.at(graph.nodes[static_cast<size_t>(nodes.back())].outputs[0]));
    return nodes;
}

}  // namespace qcp::engine
