// Accuracy and fidelity metrics over batches of logits, accumulated streaming.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "qcp/core/tensor.hpp"

namespace qcp {

// Streaming accumulator. Logits are (N, classes) float32 (higher rank: flattened after N).
class Metrics {
public:
    // `labels` may be null; `ref` (the reference model's logits, same shape) may be null.
    void add(const Tensor& logits, const int64_t* labels, const Tensor* ref);

    int64_t samples() const { return samples_; }
    std::optional<double> top1() const;       // fraction in [0, 1]; needs labels
    std::optional<double> top5() const;
    std::optional<double> agreement() const;  // argmax equal to the reference's; needs ref
    std::optional<double> output_rel_error() const;  // ‖y − y_ref‖ / ‖y_ref‖ over all samples
    std::optional<double> sqnr_db() const;    // 10 log10(Σ y_ref² / Σ (y − y_ref)²)
    std::optional<double> kl() const;         // mean KL(softmax(y_ref) ‖ softmax(y))
    const std::vector<int64_t>& predictions() const { return predictions_; }

private:
    int64_t samples_ = 0;
    int64_t labelled_ = 0, top1_ = 0, top5_ = 0;
    int64_t compared_ = 0, agree_ = 0;
    double err2_ = 0, ref2_ = 0, kl_sum_ = 0;
    std::vector<int64_t> predictions_;
};

// Index of the largest value (first on ties; NaN never wins).
int64_t argmax(const float* x, int64_t n);

}  // namespace qcp
