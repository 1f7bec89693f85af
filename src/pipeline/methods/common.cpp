#include "common.hpp"

#include <cmath>

#include "qcp/quant/gptq.hpp"
#include "qcp/rewrite/quant_rewrite.hpp"

namespace qcp::methods {

double weight_error_sq(const float* w, const float* wq, int64_t n) {
    double e = 0, norm = 0;
    for (int64_t i = 0; i < n; ++i) {
        e += (double(w[i]) - wq[i]) * (double(w[i]) - wq[i]);
        norm += double(w[i]) * w[i];
    }
    return norm > 0 ? e / norm : 0.0;
}

double weight_rel_error(const std::vector<float>& w, const std::vector<float>& wq) {
    return std::sqrt(weight_error_sq(w.data(), wq.data(), static_cast<int64_t>(wq.size())));
}

double relative_damage(const float* w, const float* wq, int64_t rows, int64_t cols, const Eigen::MatrixXd* h) {
    if (!h) return weight_error_sq(w, wq, rows * cols);
    const std::vector<float> zero(static_cast<size_t>(rows * cols), 0.0f);
    const double den = quant::gptq_layer_loss(w, zero.data(), rows, cols, *h);
    return den > 0 ? quant::gptq_layer_loss(w, wq, rows, cols, *h) / den : 0.0;
}

quant::QuantScheme quant_scheme(const CompressOptions& o, int bits) {
    quant::QuantScheme s;
    s.bits = bits;
    s.symmetric = o.symmetric;
    if (o.block_size > 0) {
        s.granularity = quant::Granularity::Block;
        s.block_size = o.block_size;
    } else {
        s.granularity = o.granularity == decomp::Granularity::Tensor ? quant::Granularity::Tensor : quant::Granularity::Channel;
    }
    return s;
}

std::string quantizer_blocker(const ir::Layer& l, const CompressOptions& o) {
    if (!l.unusable.empty()) return l.unusable;
    if (l.op == "ConvTranspose") return "ConvTranspose is not quantized";
    if (o.block_size > 0 && l.weight_shape.size() != 2) return "blocked scales need a 2-D (Gemm/MatMul) weight";
    return "";
}

int64_t code_width(int bits, const CompressOptions& o, int64_t opset) {
    if (resolved_format(o) == rewrite::WeightFormat::Float) return 32;
    if (resolved_format(o) == rewrite::WeightFormat::Packed) return bits;
    return bits <= 4 && opset >= 21 ? 4 : 8;
}

int64_t correction_bits(const ir::Graph& g, int64_t opset, const ir::Layer& l, const CompressOptions& o,
                        const quant::QuantizedMatrix* q) {
    if (o.calib.empty() || !o.correct.value_or(true)) return 0;
    return rewrite::correction_bits(g, opset, l, q);
}

}  // namespace qcp::methods
