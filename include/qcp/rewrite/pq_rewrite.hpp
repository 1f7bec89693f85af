// Product-quantized weights (pq): the layer's weight input becomes a codebook lookup; the op
// itself is kept.
//
// Qdq format (the compact one), under the stem "qcp/<layer>/w":
//   <stem>_codebook  float16 (k, d)            ─Cast(to float)─▶ (k, d)
//   <stem>_indices   uint8 (rows, B), k ≤ 256, or uint16 for k ≤ 65536
//                                              ─Cast(to int32)─▶ (rows, B)
//   Gather(axis 0)                             ─▶ (rows, B, d)
//   Reshape(<stem>_shape, int64)               ─▶ the stored weight shape, or (rows, cols) when the
//   Transpose(perm 1, 0)                          weight is stored (inputs, outputs) (QuantTarget::
//                                                 transposed: MatMul, Gemm transB=0) ─▶ <stem>
// B = cols / d. ONNX's Gather takes only int32/int64 indices, so the byte-aligned uint8/uint16
// storage is widened by a Cast at run time. Needs opset ≥ 6 (Cast's `to` attribute, Reshape's
// shape input). Float format: one float32 initializer <stem> with the same values.
// Packed format: the same, except that for k ≤ 128 the indices are packed at pq_index_bits(k)
// bits (rewrite/packing.hpp, stem <stem>_indices, opset ≥ 7) and their decoder replaces the
// Cast (Gather takes them flat); k > 128 keeps the byte-aligned indices. The lookup's values
// other than <stem> are named ~<n>… (rewrite/packing.hpp).
// Either way the layer computes exactly Ŵ = PqResult::dequantized() with the codebook rounded to
// float16 (pq_quantize rounds it already unless PqOptions::fp16 is false).
#pragma once

#include <cstdint>
#include <string>

#include "qcp/ir/layers.hpp"
#include "qcp/quant/pq.hpp"
#include "qcp/rewrite/quant_rewrite.hpp"
#include "qcp/rewrite/weights.hpp"

namespace qcp::rewrite {

struct PqBits {
    int64_t storage_bits = 0;  // indices as stored (packed, or 8 (k ≤ 256) / 16 bits each) + 16·k·d codebook
    int64_t ideal_bits = 0;    // indices at ⌈log2 k⌉ bits each (a packed stream) + 16·k·d codebook
};

// Bits per packed index: ⌈log2 k⌉, at least 1.
int pq_index_bits(int64_t k);
// Bits of a rows × (blocks) index matrix over a k × d float16 codebook in `format` (Float counts
// the compact form Qdq stores). Throws for k > 65536.
PqBits pq_bits(int64_t rows, int64_t blocks, int64_t k, int64_t d, WeightFormat format);
// How the indices are stored, for the report: "pq-gather" (uint8/uint16), "pq-packed-6", "float".
std::string pq_storage_name(int64_t k, WeightFormat format);

// Replaces the layer's weight input by the lookup above (or the float32 weight); the old weight
// (and Identity/Constant chains only it used) are removed. `t` is the layer's quant_target and
// `pq` its pq_quantize result on t.w. Throws qcp::Error when pq does not match t, k > 65536, a
// code is out of range, the opset is below 6, or a transposed weight is not 2-D.
// Returns pq_bits of the result (in either format: what the compact form stores).
PqBits rewrite_pq(ir::Model& model, const ir::Layer& layer, const QuantTarget& t, const quant::PqResult& pq,
                  WeightFormat format);

}  // namespace qcp::rewrite
