// Dense b-bit code streams (the packed weight format) and the ONNX decoder that unpacks them.
//
// Codes c ∈ [0, 2^b), b = 1..8, go G at a time into words of W = b·G/8 bytes, G = 8 / gcd(b, 8)
// (the fewest codes that fill whole bytes):
//     b   1  2  3  4  5  6  7  8
//     G   8  4  8  2  8  4  8  1
//     W   1  1  3  1  5  3  7  1
// word_i = Σ_j c[i·G + j] · 2^(b·j), stored little-endian as row i of an (m, W) uint8 matrix,
// m = ⌊n/G⌋: the bytes are the codes' LSB-first bit stream. The last n mod G codes (the tail)
// are stored one per byte. File cost: m·W + (n mod G) bytes.
//
// Decoder (emit_packed_codes), made of ops that every opset 7 to 21 has, on int32 (which ONNX
// Runtime's CPU kernels take at each of them: Cast 6, Gather 1, Mul/Add/Sub/Div 7, Mod 10,
// Reshape 5, Concat 4). Code j of a word starts at bit b·j: in byte k_j = ⌊b·j/8⌋ at bit
// r_j = b·j mod 8, and runs at most into byte k_j + 1 (b ≤ 8), so with bytes = Cast(words)
// as an (m, W) int32 matrix
//     v     = Gather(bytes, [k_j]_j, axis 1) + 256·Gather(bytes, [min(k_j + 1, W − 1)]_j, axis 1)  (m, G)
//     q     = Div(v, [2^(r_j)]_j)            (for W = 1: v = bytes (m, 1), q = Div(v, [2^(b·j)]_j))
//     code  = Mod(q, 2^b), or q − Div(q, 2^b)·2^b before opset 10                            (m, G)
//     codes = Concat(Reshape(code, [−1]), Cast(tail)), or code itself without a tail        (n)
// (b = 8: codes = Cast(words)). Every value stays below 2^16; integer Div of non-negative values
// floors in ONNX Runtime and in qcp's engine alike, so both decode exactly. Every input is an
// initializer: ONNX Runtime's constant folding runs the whole chain once when a session is
// created. (Not int64 words with ReduceSum or MatMul: ORT's int64 ReduceSum goes through double
// and gives 2^56 for 2^56 − 1.) The constants (byte indices, powers of two) are shared by all
// the decoders of a model (initializers qcp/pack/*); the decoder's nodes have no names and its
// values are named ~<n><letter> (n numbering the decoders; letters b l h u v q c e n t f a here,
// r z d x y p in rewrite/weights.cpp, i k g o in rewrite/pq_rewrite.cpp), to keep the file
// small: a decoder costs a few hundred bytes whatever the weight's name.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "qcp/ir/graph.hpp"

namespace qcp::rewrite {

// Codes per word (G) and bytes per word (W) at `bits`; throws qcp::Error outside 1..8.
struct PackLayout {
    int bits = 0;
    int group = 0;
    int bytes = 0;
};
PackLayout pack_layout(int bits);

struct PackedCodes {
    int bits = 0;
    int64_t count = 0;
    std::vector<uint8_t> words;  // ⌊count / G⌋ words of W bytes, little-endian
    std::vector<uint8_t> tail;   // the last count % G codes, one a byte
};

// Bytes a stream of `count` codes at `bits` takes.
int64_t packed_bytes(int64_t count, int bits);
// Throws qcp::Error when a code is outside [0, 2^bits).
PackedCodes pack_codes(const std::vector<int32_t>& codes, int bits);
std::vector<int32_t> unpack_codes(const PackedCodes& p);

// The decoder above, appended to model.graph under `stem`: initializers <stem>_packed and
// <stem>_tail, values ~<n>*. Returns the int32 value holding the codes in order (count of them,
// shaped (count) or (m, G): reshape before use). Needs count ≥ 1 and opset ≥ 7.
struct CodeValue {
    std::string name;
    std::string prefix;  // of the decoder's values, for the steps a caller appends
};
CodeValue emit_packed_codes(ir::Model& model, const std::string& stem, const PackedCodes& p);

// "~<n>", n one more than any decoder's in the graph: decoder values are <prefix><letter>
// [<digits>], so a prefix names one decoder's values only.
std::string decoder_prefix(const ir::Graph& g);

}  // namespace qcp::rewrite
