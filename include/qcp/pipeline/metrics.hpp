// Accuracy and fidelity metrics over batches of logits, accumulated streaming.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "qcp/core/tensor.hpp"

namespace qcp {

// Streaming accumulator of label accuracy (and, for (N, classes) outputs, agreement). Logits are
// (N, classes) float32 (higher rank: flattened after N; callers refuse labels on non-classifiers).
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

// ---- Fidelity of every graph output against a reference model's ---------------------------------
//
// Each output is given a kind from its shape (dim 0 is the batch N; unknown dims are -1):
//   classifier  (N, C), or (N, C, 1, …, 1)                   class axis 1
//   sequence    (N, T, C): any rank-3 output; class axis -1 (the last) unless --class-axis K
//   map         (N, 1, H, W)                                 a dense probability map
//   other       anything else (rank 1, (N, C, H, W) with C > 1, rank ≥ 5, …)
// `--class-axis K` (negative counts from the end, K ≠ 0 and K ≠ -rank, the batch axis) applies to
// every output of rank ≥ 3 whose axis K has more than one entry: such an output is a sequence with
// classes along K and positions over every other non-batch axis (row-major order). K out of range
// for an output of rank ≥ 3 is an error.
//
// Metrics (all pooled over every sample; fractions in [0, 1] unless stated):
//   every output   rel_error = ‖y − y_ref‖ / ‖y_ref‖, sqnr_db = 10 log10(Σ y_ref² / Σ (y − y_ref)²)
//                  (+inf when equal), cosine = Σ y·y_ref / (‖y‖ ‖y_ref‖) (1 when both are zero,
//                  0 when one is), max_abs_error
//   classifier     top1_agreement (argmax equal, first index on ties), kl = mean KL(softmax(y_ref) ‖ softmax(y))
//   sequence       position_agreement (argmax equal, over N × positions), sequence_agreement (every
//                  position of a sample equal), ctc_agreement (the argmax sequences equal after
//                  merging repeats and dropping the blank class `ctc_blank`, default 0: the decoded
//                  strings of a CTC recogniser such as PP-OCR rec)
//   map, or any    mask_iou = Σ |A ∩ B| / Σ |A ∪ B| with A = {y > T}, B = {y_ref > T} pooled over
//   output when    all samples and pixels; 1 when both masks are empty everywhere. T =
//   --mask-threshold is given   --mask-threshold (default 0.3, PP-OCR det's binarisation threshold)
inline constexpr double kDefaultMaskThreshold = 0.3;

struct FidelityOptions {
    std::optional<int64_t> class_axis;     // --class-axis K
    std::optional<double> mask_threshold;  // --mask-threshold T (also turns IoU on for every non-classifier output)
    int64_t ctc_blank = 0;                 // --ctc-blank N
};
// Refuses a non-finite threshold or a negative blank (one-line qcp::Error).
void validate_fidelity_options(const FidelityOptions& o);

enum class OutputKind { Classifier, Sequence, Map, Other };
const char* output_kind_name(OutputKind k);  // "classifier", "sequence", "map", "other"

struct OutputLayout {
    OutputKind kind = OutputKind::Other;
    int64_t class_axis = -1;  // normalised (≥ 1) for classifiers and sequences; -1 otherwise
    bool mask = false;        // mask IoU reported
    double mask_threshold = kDefaultMaskThreshold;
};
// The kind of an output of `shape`; throws qcp::Error naming `name` when --class-axis does not fit.
OutputLayout output_layout(const Shape& shape, const FidelityOptions& o, const std::string& name);

struct OutputFidelity {
    std::string name;
    Shape shape;                 // of one batch, dim 0 replaced by the number of samples
    OutputLayout layout;
    int64_t samples = 0;
    double rel_error = 0, sqnr_db = 0, cosine = 1, max_abs_error = 0;
    std::optional<double> top1_agreement, kl;                                 // classifier
    int64_t positions = 0;                                                    // sequence: per sample
    std::optional<double> position_agreement, sequence_agreement, ctc_agreement;
    std::optional<double> mask_iou;                                           // map / --mask-threshold
    std::string skipped;  // why the output was not compared ("int64 output"); empty: measured
};

// Streaming accumulator for one output: batches of y and y_ref of equal shape (dims after the
// first equal across batches). A non-float32 or scalar output is not compared (`skipped` says why),
// so one integer side output does not stop the others from being measured.
class OutputFidelityAccumulator {
public:
    OutputFidelityAccumulator(std::string name, FidelityOptions options);
    void add(const Tensor& y, const Tensor& ref);
    OutputFidelity result() const;

private:
    std::string name_;
    FidelityOptions options_;
    OutputFidelity r_;
    bool started_ = false;
    double err2_ = 0, ref2_ = 0, y2_ = 0, dot_ = 0, kl_sum_ = 0;
    int64_t agree_ = 0, pos_total_ = 0, pos_agree_ = 0, seq_agree_ = 0, ctc_agree_ = 0;
    int64_t inter_ = 0, union_ = 0;
};

// Every output of a model, by position; names from the model.
class ModelFidelity {
public:
    ModelFidelity(const std::vector<std::string>& names, FidelityOptions options);
    void add(const std::vector<Tensor>& y, const std::vector<Tensor>& ref);
    std::vector<OutputFidelity> results() const;

private:
    std::vector<OutputFidelityAccumulator> outputs_;
};

// The one number a sweep plots and `--max-drop` gates on without labels, from the first output
// that was measured:
// classifier → top1_agreement, sequence → position_agreement, map → mask_iou (percent, higher is
// better, 100 for a model against itself); other → sqnr_db (dB; not gateable in points).
struct PrimaryFidelity {
    std::string metric;  // "top1_agreement", "position_agreement", "mask_iou", "sqnr_db"
    std::string output;  // the output's name
    double value = 0;    // percent (or dB for sqnr_db)
    bool percent = true;
};
std::optional<PrimaryFidelity> primary_fidelity(const std::vector<OutputFidelity>& outputs);
// What the metric is called in text: "top-1 agreement", "position agreement", "mask IoU", "SQNR".
std::string fidelity_metric_label(const std::string& metric);

// {"name", "shape", "kind", "class_axis", "metrics": {…}} per output (absent metrics left out;
// non-finite numbers as null).
nlohmann::ordered_json fidelity_to_json(const std::vector<OutputFidelity>& outputs);
// One line per output: "  out 'y' (8, 40, 6625) sequence: rel. error …, SQNR … dB, cosine …, position agreement …%"
std::string fidelity_to_text(const std::vector<OutputFidelity>& outputs, const std::string& indent);

}  // namespace qcp
