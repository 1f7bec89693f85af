// Kernels: one function per ONNX op (and opset range), listed in one explicit registry.
//
// A kernel reads ctx.inputs (row-major tensors; nullptr where an optional input is omitted)
// and the node's attributes, and fills ctx.outputs (one per node output). Float math is float32;
// integer tensors (shapes, indices) keep their dtype. Kernels throw qcp::Error naming the node
// for inputs they cannot handle, and must give the same bits whatever qcp::num_threads() is.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "qcp/core/tensor.hpp"
#include "qcp/ir/graph.hpp"

namespace qcp::engine {

class Epilogue;  // epilogue.hpp

// The values of enclosing graphs that a sub-graph (a Loop/Scan/If body) may read: the value of a
// name, or nullptr when no enclosing scope has it.
using Scope = std::function<const Tensor*(const std::string& name)>;

struct KernelContext {
    const ir::Node& node;
    int64_t opset;  // default-domain opset of the model
    std::vector<const Tensor*> inputs;
    std::vector<Tensor> outputs;
    // Set by the session for a Conv whose only consumer is a Relu: apply max(·, 0) to the output
    // (the Relu node then passes its input through). Other kernels ignore it.
    bool fused_relu = false;
    // Set by the session for a Conv followed by elementwise nodes that it runs as this epilogue:
    // apply it to the output (after the bias) in place of those nodes. Other kernels ignore it.
    const Epilogue* epilogue = nullptr;
    // The running graph's values (and its enclosing graphs'), by name, for kernels that run a
    // sub-graph (Loop, Scan, If). Set by the session.
    const Scope* scope = nullptr;

    KernelContext(const ir::Node& n, int64_t op) : node(n), opset(op) {}
    bool has_input(size_t i) const { return i < inputs.size() && inputs[i] != nullptr; }
    // Input i; throws qcp::Error naming the node when it is missing.
    const Tensor& in(size_t i) const;
    // Error message prefix: "Conv 'name': ".
    std::string where() const { return node.describe() + ": "; }
};

using KernelFn = void (*)(KernelContext& ctx);

struct KernelDef {
    std::string op;
    int64_t since = 1;    // first opset this implementation covers
    int64_t until = 999;  // last opset it covers
    KernelFn fn = nullptr;
};

class KernelRegistry {
public:
    void add(std::string op, int64_t since, int64_t until, KernelFn fn);
    // The kernel for `op` at `opset`, or nullptr.
    const KernelDef* find(const std::string& op, int64_t opset) const;
    std::vector<std::string> ops() const;  // sorted, unique

private:
    std::vector<KernelDef> defs_;
};

// Every CPU kernel qcp has (see src/engine/registry.cpp for the list).
const KernelRegistry& cpu_kernels();

}  // namespace qcp::engine
