// Helpers the method families share (internal to pipeline/methods).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "qcp/ir/layers.hpp"
#include "qcp/pipeline/compress.hpp"
#include "qcp/quant/rtn.hpp"

namespace qcp::methods {

// ‖W − Ŵ‖²_F / ‖W‖²_F over n values in double (0 for an all-zero W).
double weight_error_sq(const float* w, const float* wq, int64_t n);
// ‖W − Ŵ‖_F / ‖W‖_F.
double weight_rel_error(const std::vector<float>& w, const std::vector<float>& wq);
// Relative output error of a dense approximation: tr(ΔW H ΔWᵀ) / tr(W H Wᵀ), or the weight
// error ‖ΔW‖²/‖W‖² without H.
double relative_damage(const float* w, const float* wq, int64_t rows, int64_t cols, const Eigen::MatrixXd* h);

// The rtn/gptq grid of --symmetric/--asymmetric, --granularity and --block-size at `bits`.
quant::QuantScheme quant_scheme(const CompressOptions& o, int bits);

// Why a quantizer (rtn, gptq, pq) cannot take the layer ("" when it can).
std::string quantizer_blocker(const ir::Layer& l, const CompressOptions& o);

// Bits a b-bit code occupies in the written file (8, 4 at opset ≥ 21, 32 in float format).
int64_t code_width(int bits, const CompressOptions& o, int64_t opset);

// Bits the statistics correction will add to layer `l` quantized to `q` (rewrite::correction_bits;
// nullptr: pq's weight, which takes a Mul), 0 when the correction will not run (no --calib, or
// --no-correct). Budget candidates include them.
int64_t correction_bits(const ir::Graph& g, int64_t opset, const ir::Layer& l, const CompressOptions& o,
                        const quant::QuantizedMatrix* q);

}  // namespace qcp::methods
