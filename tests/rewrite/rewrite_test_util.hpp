// Shared by the rewrite tests: seeded tensors and value infos.
#pragma once

#include <cmath>
#include <random>
#include <string>
#include <vector>

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

// ‖got − want‖ / ‖want‖ over float32 tensors of the same size, in double.
inline double rel_error(const Tensor& got, const Tensor& want) {
    double e = 0, r = 0;
    for (int64_t i = 0; i < want.numel(); ++i) {
        const double d = double(got.data<float>()[i]) - want.data<float>()[i];
        e += d * d;
        r += double(want.data<float>()[i]) * want.data<float>()[i];
    }
    return std::sqrt(e / r);
}

// y' = a ⊙ y + d per output channel: axis 1 ((N, C, …): Conv, Gemm), or the last axis with
// channels_last ((N, …, C): MatMul).
inline Tensor channel_affine(const Tensor& y, const std::vector<float>& a, const std::vector<float>& d, bool channels_last) {
    Tensor out = y;
    const int64_t channels = static_cast<int64_t>(a.size());
    const int64_t inner = channels_last ? 1 : y.numel() / (y.dim(0) * channels);
    for (int64_t i = 0; i < y.numel(); ++i) {
        const size_t o = static_cast<size_t>((i / inner) % channels);
        out.data<float>()[i] = a[o] * y.data<float>()[i] + d[o];
    }
    return out;
}

inline ir::ValueInfo float_value(const std::string& name, const Shape& s) {
    ir::ValueInfo v;
    v.name = name;
    v.dtype = DType::Float32;
    v.has_shape = true;
    for (int64_t d : s) v.dims.push_back({d, ""});
    return v;
}

// A model of one layer y = op(x, w) with w an initializer, at the given default-domain opset.
inline ir::Model one_layer_model(const std::string& op, const std::vector<ir::Attribute>& attrs, const Shape& x,
                                 const Shape& y, const Tensor& w, int64_t opset, const std::string& graph_name = "") {
    ir::Model m;
    m.opset_import = {{"", opset}};
    m.graph.name = graph_name;
    m.graph.inputs.push_back(float_value("x", x));
    m.graph.outputs.push_back(float_value("y", y));
    m.graph.initializers.push_back({"w", w, ""});
    ir::Node n;
    n.op_type = op;
    n.name = "layer";
    n.inputs = {"x", "w"};
    n.outputs = {"y"};
    n.attributes = attrs;
    m.graph.nodes.push_back(n);
    m.graph.rebuild_index();
    return m;
}

}  // namespace qcp::test
