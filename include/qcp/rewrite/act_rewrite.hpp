// Static activation quantization as full QDQ (QuantizeLinear → DequantizeLinear on activations)
// around Conv / Gemm / MatMul nodes with integer weights, laid out so that ONNX Runtime's QDQ
// fusion (CPU, x86) replaces each group by an integer kernel: QLinearConv, QGemm, QLinearMatMul.
//
// The selector rules this follows (onnxruntime/core/optimizer/qdq_transformer/selectors_actions/
// qdq_selectors.cc, checked against ORT 1.30's optimized-model dump):
//   - every input of the op comes from a DequantizeLinear: activations uint8 (int8 activations
//     are refused on x86, QDQIsInt8Allowed()), weights int8 (4-bit weights are not fused), bias
//     int32 (a float bias blocks the fusion; its scale must be sx·sw, the kernel adds the codes
//     to its int32 accumulator);
//   - the output goes to exactly one QuantizeLinear of the input's type, or to one Relu/Clip whose
//     only consumer is that Q and which the Q makes redundant (Relu: zero point 0; Clip: its
//     bounds outside the Q's range); the op does not produce a graph output;
//   - Gemm may have no output Q (QGemm with float output), needs beta = 1 with a bias, and (found
//     empirically in 1.30) an explicit zero point on its weight DequantizeLinear;
//   - MatMul needs the output Q (QLinearMatMul; MatMulIntegerToFloat is not selected on CPU);
//   - QLinearConv takes one weight zero point for all channels, QGemm/QLinearMatMul scales per
//     tensor or per output column: weights must be symmetric, per tensor or per output channel;
//   - before fusing, WeightBiasQuantization (weight_bias_quantization.cc) quantizes the float
//     weight (per tensor, min/max) and bias of any Conv/Gemm that sits between a DequantizeLinear
//     and a QuantizeLinear: a float layer between quantized neighbours is not left float.
// Activations use one uint8 scale and zero point per tensor (quant/act_calib.hpp).
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "qcp/ir/graph.hpp"
#include "qcp/quant/act_calib.hpp"

namespace qcp::rewrite {

// Why node `node` cannot get activation Q/DQ ("" when it can): not Conv/Gemm/MatMul, a weight
// that is not symmetric int8/int4 codes behind a per-tensor or per-output-channel
// DequantizeLinear (e.g. pq's Gather of a float codebook), a bias that is not a float constant.
std::string act_target_blocker(const ir::Graph& g, int node);

// A tensor that gets a Q→DQ pair, with the bounds of the Relu/Clip that produced it (the range
// is kept inside them, so the Q makes that Relu/Clip redundant).
struct ActSite {
    std::string value;
    double lo_bound = -std::numeric_limits<double>::infinity();
    double hi_bound = std::numeric_limits<double>::infinity();
};

// The tensors to quantize for the target nodes (each named by its output value, which the
// insertion does not change): every target's input, and its output unless that is a graph
// output; the output of the Relu/Clip instead when that is the output's only consumer (and no
// graph output itself), so ORT folds it. Unique, in target order.
std::vector<ActSite> plan_act_sites(const ir::Graph& g, const std::vector<std::string>& targets);

// Inserts QuantizeLinear → DequantizeLinear (uint8, params by value name) on every site and routes
// all consumers of the site through the DequantizeLinear; graph outputs keep the float value.
void insert_act_qdq(ir::Model& model, const std::vector<ActSite>& sites, const std::map<std::string, quant::ActParams>& params);

// What prepare_act_targets changed beyond the weights' codes.
struct ActRewrite {
    std::vector<int64_t> extra_bits;  // per target: stored bits added (Gemm weight zero points)
    int64_t saturated_biases = 0;     // bias codes clamped to int32 (|b| / (sx·sw) ≥ 2^31, per-tensor sw only)
};

// After insert_act_qdq, per target (whose input is now a per-tensor DequantizeLinear of scale sx):
// a float bias b becomes int32 codes round(b / (sx·sw)) behind a DequantizeLinear of scale sx·sw
// (sw the weight's scales; a Gemm's beta folded in) — where that code would pass 2^31 − 1 (a
// channel of near-zero weights), that channel's weight scale is raised until the code is 2^30 and
// its codes re-rounded (ORT's quantizer does the same); a Gemm's weight gets an explicit zero zero
// point; int4 weight codes are widened to int8.
ActRewrite prepare_act_targets(ir::Model& model, const std::vector<std::string>& targets);

// Whether ORT's WeightBiasQuantization (level 1) would quantize node `node`'s float weight itself
// (int8, one min/max scale per tensor): a Conv, ConvTranspose or Gemm with a float initializer
// weight whose input is a per-tensor DequantizeLinear and whose output reaches a QuantizeLinear
// through Relu/Clip only, i.e. a float layer sandwiched between activation Q/DQ pairs. qcp's
// engine would not see that; such layers have to be quantized in the file instead.
bool ort_quantizes_float_weights(const ir::Graph& g, int node);

// The kernel ONNX Runtime 1.30 CPU will run node `node` of a rewritten graph as, by the rules
// above: "QLinearConv", "QGemm", "QGemm (float output)", "QLinearMatMul", or "none: <why>".
std::string ort_qdq_fusion(const ir::Graph& g, int node);

}  // namespace qcp::rewrite
