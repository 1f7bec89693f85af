// Runs one kernel from the registry on given inputs (shared by the engine's kernel tests).
#pragma once

#include <string>
#include <vector>

#include "qcp/core/error.hpp"
#include "qcp/engine/kernel.hpp"

namespace qcp::test {

// A node named "node_under_test" with inputs in0, in1, … (nullptr = omitted) and `outputs`
// outputs, run through cpu_kernels() at `opset`.
inline std::vector<Tensor> run_op(const std::string& op, const std::vector<const Tensor*>& inputs,
                                  std::vector<ir::Attribute> attrs = {}, int64_t opset = 13, size_t outputs = 1) {
    ir::Node node;
    node.op_type = op;
    node.name = "node_under_test";
    for (size_t i = 0; i < inputs.size(); ++i) node.inputs.push_back(inputs[i] ? "in" + std::to_string(i) : "");
    for (size_t o = 0; o < outputs; ++o) node.outputs.push_back("out" + std::to_string(o));
    node.attributes = std::move(attrs);
    const engine::KernelDef* def = engine::cpu_kernels().find(op, opset);
    if (!def) throw Error("no kernel for " + op + " at opset " + std::to_string(opset));
    engine::KernelContext ctx(node, opset);
    ctx.inputs = inputs;
    ctx.outputs.resize(outputs);
    def->fn(ctx);
    return ctx.outputs;
}

// The single output of a one-output op.
inline Tensor run_op1(const std::string& op, const std::vector<const Tensor*>& inputs,
                      std::vector<ir::Attribute> attrs = {}, int64_t opset = 13) {
    return run_op(op, inputs, std::move(attrs), opset, 1).at(0);
}

}  // namespace qcp::test
