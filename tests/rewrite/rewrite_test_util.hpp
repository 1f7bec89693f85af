// Shared by the rewrite tests: seeded tensors and value infos.
#pragma once

#include <random>
#include <string>

#include "qcp/ir/graph.hpp"

namespace qcp::test {

// Standard normal values from a seeded generator.
inline Tensor normal_tensor(Shape shape, uint32_t seed) {
    std::mt19937 gen(seed);
    std::normal_distribution<float> n(0.f, 1.f);
    Tensor t(DType::Float32, std::move(shape));
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = n(gen);
    return t;
}

inline ir::ValueInfo float_value(const std::string& name, const Shape& s) {
    ir::ValueInfo v;
    v.name = name;
    v.dtype = DType::Float32;
    v.has_shape = true;
    for (int64_t d : s) v.dims.push_back({d, ""});
    return v;
}

}  // namespace qcp::test
