// Small graph builders for IR tests.
#pragma once

#include "qcp/ir/graph.hpp"

namespace qcp::test {

inline ir::Node make_node(std::string op, std::vector<std::string> in, std::vector<std::string> out,
                          std::string name = "") {
    ir::Node n;
    n.op_type = std::move(op);
    n.inputs = std::move(in);
    n.outputs = std::move(out);
    n.name = std::move(name);
    return n;
}

inline ir::ValueInfo make_value(std::string name, std::vector<int64_t> dims, DType dtype = DType::Float32) {
    ir::ValueInfo v;
    v.name = std::move(name);
    v.dtype = dtype;
    v.has_shape = true;
    for (int64_t d : dims) v.dims.push_back({d, ""});
    return v;
}

}  // namespace qcp::test
