#include "qcp/pipeline/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "qcp/core/error.hpp"
#include "qcp/pipeline/table.hpp"

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

// ---- fidelity of every output --------------------------------------------------------------------

namespace qcp {

namespace {

// argmax of x[0], x[stride], …, x[(n-1)·stride] with argmax()'s tie and NaN rules
int64_t argmax_strided(const float* x, int64_t n, int64_t stride) {
    int64_t best = 0;
    for (int64_t i = 1; i < n; ++i) {
        const float v = x[i * stride], b = x[best * stride];
        if (v > b || (std::isnan(b) && !std::isnan(v))) best = i;
    }
    return best;
}

// argmax sequence after merging repeats and dropping `blank` (CTC greedy decoding)
void ctc_collapse(const std::vector<int64_t>& cls, int64_t blank, std::vector<int64_t>& out) {
    out.clear();
    int64_t prev = -1;
    for (int64_t c : cls) {
        if (c != prev && c != blank) out.push_back(c);
        prev = c;
    }
}

nlohmann::ordered_json finite_or_null(double v) {
    if (!std::isfinite(v)) return nullptr;
    return v;
}

// "(?, 40, 6625)": a declared shape with unknown dims (-1) as '?'
std::string dims_str(const Shape& s) {
    std::string out = "(";
    for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + (s[i] < 0 ? std::string("?") : std::to_string(s[i]));
    return out + ")";
}

std::string pct(double v) { return std::isfinite(v) ? fixed(100.0 * v, 2) + "%" : "-"; }

}  // namespace

void validate_fidelity_options(const FidelityOptions& o) {
    if (o.mask_threshold && !std::isfinite(*o.mask_threshold)) throw Error("--mask-threshold must be a finite number");
    if (o.ctc_blank < 0) throw Error("--ctc-blank must be a class index (0 or more), got " + std::to_string(o.ctc_blank));
}

const char* output_kind_name(OutputKind k) {
    switch (k) {
        case OutputKind::Classifier: return "classifier";
        case OutputKind::Sequence: return "sequence";
        case OutputKind::Map: return "map";
        case OutputKind::Other: return "other";
    }
    return "other";
}

OutputLayout output_layout(const Shape& shape, const FidelityOptions& o, const std::string& name) {
    OutputLayout l;
    const auto rank = static_cast<int64_t>(shape.size());
    bool trailing_ones = rank >= 2;
    for (int64_t d = 2; d < rank; ++d) trailing_ones = trailing_ones && shape[static_cast<size_t>(d)] == 1;
    if (trailing_ones && shape[1] != 1) {
        l.kind = OutputKind::Classifier;
        l.class_axis = 1;
    } else if (rank >= 3 && o.class_axis) {
        const int64_t k = *o.class_axis < 0 ? *o.class_axis + rank : *o.class_axis;
        if (k < 1 || k >= rank)
            throw Error("--class-axis " + std::to_string(*o.class_axis) + " is out of range for output '" + name + "' of shape " +
                        dims_str(shape) + " (axes 1 to " + std::to_string(rank - 1) + ", or -1 to -" + std::to_string(rank - 1) +
                        "; axis 0 is the batch)");
        if (shape[static_cast<size_t>(k)] != 1) {
            l.kind = OutputKind::Sequence;
            l.class_axis = k;
        } else if (rank == 4 && shape[1] == 1) {
            l.kind = OutputKind::Map;
        }
    } else if (rank == 3) {
        l.kind = OutputKind::Sequence;
        l.class_axis = 2;
    } else if (rank == 4 && shape[1] == 1) {
        l.kind = OutputKind::Map;
    }
    l.mask = l.kind == OutputKind::Map || (o.mask_threshold && l.kind != OutputKind::Classifier);
    l.mask_threshold = o.mask_threshold.value_or(kDefaultMaskThreshold);
    return l;
}

OutputFidelityAccumulator::OutputFidelityAccumulator(std::string name, FidelityOptions options)
    : name_(std::move(name)), options_(options) {
    r_.name = name_;
}

void OutputFidelityAccumulator::add(const Tensor& y, const Tensor& ref) {
    if (ref.dtype() != y.dtype())
        throw Error("output '" + name_ + "': reference type " + dtype_name(ref.dtype()) + " differs from " + dtype_name(y.dtype()));
    if (y.dtype() != DType::Float32 || y.rank() < 1) {
        r_.skipped = y.rank() < 1 ? "a scalar output: not compared" : std::string(dtype_name(y.dtype())) + " output: not compared";
        return;
    }
    if (ref.shape() != y.shape())
        throw Error("output '" + name_ + "': reference shape " + shape_str(ref.shape()) + " differs from " + shape_str(y.shape()));
    if (!started_) {
        r_.layout = output_layout(y.shape(), options_, name_);
        r_.shape = y.shape();
        r_.shape[0] = 0;
        started_ = true;
    } else if (!std::equal(y.shape().begin() + 1, y.shape().end(), r_.shape.begin() + 1, r_.shape.end())) {
        throw Error("output '" + name_ + "': shape " + shape_str(y.shape()) + " differs from the first batch's");
    }
    const int64_t n = y.dim(0);
    const int64_t per = n > 0 ? y.numel() / n : 0;
    const float* py = y.data<float>();
    const float* pr = ref.data<float>();
    for (int64_t i = 0; i < y.numel(); ++i) {
        const double a = py[i], b = pr[i], d = a - b;
        err2_ += d * d;
        ref2_ += b * b;
        y2_ += a * a;
        dot_ += a * b;
        r_.max_abs_error = std::max(r_.max_abs_error, std::fabs(d));
        if (std::isnan(d)) r_.max_abs_error = NAN;
    }
    const OutputLayout& l = r_.layout;
    if (l.mask) {
        const float t = static_cast<float>(l.mask_threshold);
        for (int64_t i = 0; i < y.numel(); ++i) {
            const bool a = py[i] > t, b = pr[i] > t;
            inter_ += a && b;
            union_ += a || b;
        }
    }
    if (l.kind == OutputKind::Classifier) {
        std::vector<double> lp, lq;
        for (int64_t s = 0; s < n; ++s) {
            const float* ys = py + s * per;
            const float* rs = pr + s * per;
            agree_ += argmax(ys, per) == argmax(rs, per);
            log_softmax(rs, per, lp);
            log_softmax(ys, per, lq);
            double kl = 0;
            for (int64_t c = 0; c < per; ++c) kl += std::exp(lp[c]) * (lp[c] - lq[c]);
            kl_sum_ += kl;
        }
    } else if (l.kind == OutputKind::Sequence) {
        const Shape& sh = y.shape();
        const auto k = static_cast<size_t>(l.class_axis);
        int64_t outer = 1, inner = 1;
        for (size_t d = 1; d < k; ++d) outer *= sh[d];
        for (size_t d = k + 1; d < sh.size(); ++d) inner *= sh[d];
        const int64_t classes = sh[k];
        r_.positions = outer * inner;
        std::vector<int64_t> cy(static_cast<size_t>(outer * inner)), cr(cy.size()), dy, dr;
        for (int64_t s = 0; s < n; ++s) {
            int64_t equal = 0;
            for (int64_t o = 0; o < outer; ++o)
                for (int64_t i = 0; i < inner; ++i) {
                    const int64_t base = (s * outer + o) * classes * inner + i;
                    const auto p = static_cast<size_t>(o * inner + i);
                    cy[p] = argmax_strided(py + base, classes, inner);
                    cr[p] = argmax_strided(pr + base, classes, inner);
                    equal += cy[p] == cr[p];
                }
            pos_total_ += outer * inner;
            pos_agree_ += equal;
            seq_agree_ += equal == outer * inner;
            ctc_collapse(cy, options_.ctc_blank, dy);
            ctc_collapse(cr, options_.ctc_blank, dr);
            ctc_agree_ += dy == dr;
        }
    }
    r_.shape[0] += n;
    r_.samples += n;
}

OutputFidelity OutputFidelityAccumulator::result() const {
    OutputFidelity r = r_;
    r.rel_error = ref2_ > 0 ? std::sqrt(err2_ / ref2_) : std::sqrt(err2_);
    r.sqnr_db = err2_ > 0 ? 10.0 * std::log10(ref2_ / err2_) : std::numeric_limits<double>::infinity();
    if (std::isnan(err2_)) r.rel_error = r.sqnr_db = NAN;
    r.cosine = y2_ > 0 && ref2_ > 0 ? dot_ / std::sqrt(y2_ * ref2_) : (y2_ == 0 && ref2_ == 0 ? 1.0 : 0.0);
    if (!r.samples) return r;
    const auto frac = [](int64_t a, int64_t b) { return b > 0 ? static_cast<double>(a) / static_cast<double>(b) : 1.0; };
    if (r.layout.kind == OutputKind::Classifier) {
        r.top1_agreement = frac(agree_, r.samples);
        r.kl = kl_sum_ / static_cast<double>(r.samples);
    } else if (r.layout.kind == OutputKind::Sequence) {
        r.position_agreement = frac(pos_agree_, pos_total_);
        r.sequence_agreement = frac(seq_agree_, r.samples);
        r.ctc_agreement = frac(ctc_agree_, r.samples);
    }
    if (r.layout.mask) r.mask_iou = frac(inter_, union_);  // both masks empty everywhere: 1
    return r;
}

ModelFidelity::ModelFidelity(const std::vector<std::string>& names, FidelityOptions options) {
    validate_fidelity_options(options);
    for (const auto& n : names) outputs_.emplace_back(n, options);
}

void ModelFidelity::add(const std::vector<Tensor>& y, const std::vector<Tensor>& ref) {
    if (y.size() != outputs_.size() || ref.size() != outputs_.size())
        throw Error("the models have different numbers of outputs (" + std::to_string(y.size()) + " and " + std::to_string(ref.size()) +
                    ")");
    for (size_t i = 0; i < y.size(); ++i) outputs_[i].add(y[i], ref[i]);
}

std::vector<OutputFidelity> ModelFidelity::results() const {
    std::vector<OutputFidelity> r;
    for (const auto& o : outputs_) r.push_back(o.result());
    return r;
}

std::optional<PrimaryFidelity> primary_fidelity(const std::vector<OutputFidelity>& outputs) {
    const auto it = std::find_if(outputs.begin(), outputs.end(), [](const OutputFidelity& o) { return o.samples > 0; });
    if (it == outputs.end()) return std::nullopt;
    const OutputFidelity& o = *it;
    if (o.top1_agreement) return PrimaryFidelity{"top1_agreement", o.name, 100.0 * *o.top1_agreement, true};
    if (o.position_agreement) return PrimaryFidelity{"position_agreement", o.name, 100.0 * *o.position_agreement, true};
    if (o.mask_iou) return PrimaryFidelity{"mask_iou", o.name, 100.0 * *o.mask_iou, true};
    return PrimaryFidelity{"sqnr_db", o.name, o.sqnr_db, false};
}

std::string fidelity_metric_label(const std::string& metric) {
    if (metric == "top1") return "top-1";
    if (metric == "top1_agreement") return "top-1 agreement";
    if (metric == "position_agreement") return "position agreement";
    if (metric == "mask_iou") return "mask IoU";
    if (metric == "sqnr_db") return "SQNR";
    return metric;
}

nlohmann::ordered_json fidelity_to_json(const std::vector<OutputFidelity>& outputs) {
    auto arr = nlohmann::ordered_json::array();
    for (const auto& o : outputs) {
        if (!o.skipped.empty() || !o.samples) {
            arr.push_back({{"name", o.name}, {"shape", nullptr}, {"kind", nullptr}, {"class_axis", nullptr}, {"samples", 0},
                           {"metrics", nullptr}, {"skipped", o.skipped.empty() ? std::string("no samples") : o.skipped}});
            continue;
        }
        nlohmann::ordered_json m = {{"rel_error", finite_or_null(o.rel_error)},
                                    {"sqnr_db", finite_or_null(o.sqnr_db)},
                                    {"cosine", finite_or_null(o.cosine)},
                                    {"max_abs_error", finite_or_null(o.max_abs_error)}};
        if (o.top1_agreement) m["top1_agreement"] = *o.top1_agreement;
        if (o.kl) m["kl"] = finite_or_null(*o.kl);
        if (o.position_agreement) {
            m["positions"] = o.positions;
            m["position_agreement"] = *o.position_agreement;
            m["sequence_agreement"] = *o.sequence_agreement;
            m["ctc_agreement"] = *o.ctc_agreement;
        }
        if (o.mask_iou) {
            m["mask_threshold"] = o.layout.mask_threshold;
            m["mask_iou"] = *o.mask_iou;
        }
        arr.push_back({{"name", o.name},
                       {"shape", o.shape},
                       {"kind", output_kind_name(o.layout.kind)},
                       {"class_axis", o.layout.class_axis >= 0 ? nlohmann::ordered_json(o.layout.class_axis) : nullptr},
                       {"samples", o.samples},
                       {"metrics", m}});
    }
    return arr;
}

std::string fidelity_to_text(const std::vector<OutputFidelity>& outputs, const std::string& indent) {
    std::string s;
    for (const auto& o : outputs) {
        if (!o.skipped.empty()) {
            s += indent + "output '" + o.name + "': " + o.skipped + "\n";
            continue;
        }
        if (!o.samples) continue;
        s += indent + "output '" + o.name + "' " + shape_str(o.shape) + " " + output_kind_name(o.layout.kind);
        if (o.layout.kind == OutputKind::Sequence) s += " (classes on axis " + std::to_string(o.layout.class_axis) + ")";
        s += ": rel. error " + (std::isfinite(o.rel_error) ? fixed(o.rel_error, 6) : std::string("-")) + ", SQNR " +
             (std::isinf(o.sqnr_db) && o.sqnr_db > 0 ? std::string("inf") : std::isfinite(o.sqnr_db) ? fixed(o.sqnr_db, 2) : "-") +
             " dB, cosine " + (std::isfinite(o.cosine) ? fixed(o.cosine, 6) : std::string("-"));
        if (o.top1_agreement) s += ", top-1 agreement " + pct(*o.top1_agreement);
        if (o.position_agreement)
            s += ", position agreement " + pct(*o.position_agreement) + ", sequence agreement " + pct(*o.sequence_agreement) +
                 ", CTC agreement " + pct(*o.ctc_agreement);
        if (o.mask_iou) s += ", mask IoU " + pct(*o.mask_iou) + " (> " + fixed(o.layout.mask_threshold, 2) + ")";
        s += "\n";
    }
    return s;
}

}  // namespace qcp
