#include "qcp/pipeline/metrics.hpp"

#include <algorithm>
#include <cmath>

#include "qcp/core/error.hpp"

namespace qcp {

int64_t argmax(const float* x, int64_t n) {
    int64_t best = 0;
    for (int64_t i = 1; i < n; ++i)
        if (x[i] > x[best] || (std::isnan(x[best]) && !std::isnan(x[i]))) best = i;
    return best;
}

namespace {

// log of softmax of x[0..n) into out, computed stably in double
void log_softmax(const float* x, int64_t n, std::vector<double>& out) {
    out.resize(static_cast<size_t>(n));
    double m = -INFINITY;
    for (int64_t i = 0; i < n; ++i) m = std::max(m, static_cast<double>(x[i]));
    double s = 0;
    for (int64_t i = 0; i < n; ++i) s += std::exp(x[i] - m);
    const double lse = m + std::log(s);
    for (int64_t i = 0; i < n; ++i) out[static_cast<size_t>(i)] = x[i] - lse;
}

}  // namespace

void Metrics::add(const Tensor& logits, const int64_t* labels, const Tensor* ref) {
    if (logits.dtype() != DType::Float32 || logits.rank() < 1) throw Error("model output is not a float tensor");
    const int64_t n = logits.dim(0);
    const int64_t classes = n > 0 ? logits.numel() / n : 0;
    if (ref && ref->shape() != logits.shape())
        throw Error("reference output shape " + shape_str(ref->shape()) + " differs from " + shape_str(logits.shape()));
    std::vector<double> lp, lq;
    for (int64_t s = 0; s < n; ++s) {
        const float* y = logits.data<float>() + s * classes;
        const int64_t pred = argmax(y, classes);
        predictions_.push_back(pred);
        if (labels) {
            const int64_t label = labels[s];
            ++labelled_;
            top1_ += pred == label;
            if (label >= 0 && label < classes) {
                // rank of the label: how many classes score strictly higher
                int64_t higher = 0;
                for (int64_t c = 0; c < classes; ++c) higher += y[c] > y[label];
                top5_ += higher < 5;
            }
        }
        if (ref) {
            const float* r = ref->data<float>() + s * classes;
            ++compared_;
            agree_ += argmax(r, classes) == pred;
            for (int64_t c = 0; c < classes; ++c) {
                const double d = static_cast<double>(y[c]) - r[c];
                err2_ += d * d;
                ref2_ += static_cast<double>(r[c]) * r[c];
            }
            log_softmax(r, classes, lp);
            log_softmax(y, classes, lq);
            double kl = 0;
            for (int64_t c = 0; c < classes; ++c) kl += std::exp(lp[c]) * (lp[c] - lq[c]);
            kl_sum_ += kl;
        }
    }
    samples_ += n;
}

std::optional<double> Metrics::top1() const {
    if (!labelled_) return std::nullopt;
    return static_cast<double>(top1_) / labelled_;
}
std::optional<double> Metrics::top5() const {
    if (!labelled_) return std::nullopt;
    return static_cast<double>(top5_) / labelled_;
}
std::optional<double> Metrics::agreement() const {
    if (!compared_) return std::nullopt;
    return static_cast<double>(agree_) / compared_;
}
std::optional<double> Metrics::output_rel_error() const {
    if (!compared_) return std::nullopt;
    return ref2_ > 0 ? std::sqrt(err2_ / ref2_) : std::sqrt(err2_);
}
std::optional<double> Metrics::sqnr_db() const {
    if (!compared_) return std::nullopt;
    if (err2_ <= 0) return std::numeric_limits<double>::infinity();
    return 10.0 * std::log10(ref2_ / err2_);
}
std::optional<double> Metrics::kl() const {
    if (!compared_) return std::nullopt;
    return kl_sum_ / compared_;
}

}  // namespace qcp
