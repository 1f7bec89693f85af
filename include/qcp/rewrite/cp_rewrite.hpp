// The factorized replacement of a Conv / Gemm / MatMul (a rewrite pass: match, check, apply).
//
//   k×k Conv (Cout, Cin, kh, kw) ≈ [[A, B, C]] becomes
//       Conv 1×1 (Cin → R, weight Bᵀ as (R, Cin, 1, 1))
//     → Conv kh×kw depthwise (group R, weight C as (R, 1, kh, kw), original strides/pads/dilations)
//     → Conv 1×1 (R → Cout, weight A as (Cout, R, 1, 1), original bias)
//   1×1 Conv W (Cout, Cin) ≈ A Bᵀ: Conv 1×1 (Cin → R, original strides/pads) → Conv 1×1 (R → Cout, bias)
//   Gemm with W (out × in) ≈ A Bᵀ: Gemm(x, Bᵀ (R × in), transB=1, alpha) → Gemm(·, A (out × R), transB=1, C, beta)
//   MatMul x·W, W (in × out), Wᵀ ≈ A Bᵀ: MatMul(x, B (in × R)) → MatMul(·, Aᵀ (R × out))
// The last node keeps the original output name, so consumers are untouched.
#pragma once

#include <string>
#include <vector>

#include "qcp/decomp/cp.hpp"
#include "qcp/ir/layers.hpp"
#include "qcp/rewrite/weights.hpp"

namespace qcp::rewrite {

// The weight to factorize, oriented as the CP modes: (Cout, Cin, kh·kw) for k×k convs,
// (out, in) matrices for 1×1 convs, Gemm and MatMul. Float32, row-major.
struct FactorTarget {
    std::vector<float> values;
    int64_t i = 0, j = 0, k = 1;
    decomp::TensorView view() const { return {values.data(), i, j, k}; }
};
FactorTarget factor_target(const ir::Graph& g, const ir::Layer& layer);

// Rank R makes the factorized layer about 1/r of the weights: ⌊numel / (Σ mode sizes) / r⌋
// (mode sizes Cout + Cin + kh·kw for k×k convs, out + in for matrices), at least 1.
int rank_for_ratio(const FactorTarget& t, double ratio);
// Weights of the factorized layer: R · Σ mode sizes.
int64_t factorized_params(const FactorTarget& t, int rank);
// MACs at batch 1 of the replacement chain of `layer` at `rank`, from the layer's own shapes
// (Layer::in_shape/out_shape); -1 when its MACs are unknown (Layer::macs < 0).
int64_t factorized_macs(const ir::Graph& g, const ir::Layer& layer, int rank);

// What the pass wrote for one layer, so a later correction can rescale its last weight.
struct CpRewrite {
    std::vector<std::string> nodes;   // new node names, in order
    std::string output;               // the layer's output value: the last node writes it (found by it, not by name)
    std::string out_weight;           // value name of the last weight
    GridWeight out_grid;              // its grid (when quantized), axis of output channels known
    Tensor out_dense;                 // its float values (when not quantized)
    int out_channel_axis = 0;         // axis of the last weight indexing output channels
    std::string bias;                 // bias initializer of the last node ("" for none)
    // The last node takes a bias input (Conv; Gemm with C, or from opset 11, beta ≠ 0), which it
    // multiplies by bias_gain (Gemm's beta). Else (MatMul; Gemm without C before opset 11 or with
    // beta 0) the correction's shift goes into the following Add, or into a new Add.
    bool bias_input = true;
    float bias_gain = 1.0f;
    int64_t storage_bits = 0;         // every stored bit of the new weights, scales and bias
    std::string storage;              // how the factors are stored: storage_name() of them, "float" unquantized
    int64_t macs = -1;                // MACs of the replacement at batch 1 (-1 unknown)
    bool supports_correction = false; // its output channels can take a per-channel affine map
    bool scale_by_node = false;       // the last weight is computed (pq's lookup): scaled by a Mul on it
};

// Replaces layer.node in `model` by the chain above built from `cp` (quantized factors when
// cp.quantized is set, float otherwise). The original node is removed; its weight initializer
// too when nothing else reads it.
CpRewrite rewrite_cp(ir::Model& model, const ir::Layer& layer, const decomp::CpResult& cp, WeightFormat format);

// Applies y' = scale ⊙ y + shift per output channel (axis 1 of a Conv or Gemm output, the last
// axis of a MatMul's) by folding scale into the last weight's per-channel scales (its grid
// becomes per output channel; a float weight is scaled; with scale_by_node a Mul by the channel
// scales is put between the weight and the layer, which ORT and the engine fold at load) and
// shift into the bias: the last node's own (bias' = scale ⊙ bias + shift, over bias_gain; one is
// added where there was none), else the per-channel constant of an Add that alone reads the
// output (c' = c + shift, a copy of c of its own), else a new Add after the layer. The layer's
// output keeps its name: with a new Add, the last node writes `output + "/pre_bias"` and the Add
// writes `output`.
void apply_channel_affine(ir::Model& model, CpRewrite& rw, const std::vector<float>& scale,
                          const std::vector<float>& shift, WeightFormat format);

// The Add a correction put after a layer (apply_channel_affine) writing `output` from
// `output + "/pre_bias"`: its node index, or -1 when `output` has no such producer. Walks from a
// layer's output back to its op step over it.
int correction_bias_add(const ir::Graph& g, const std::string& output);

}  // namespace qcp::rewrite
