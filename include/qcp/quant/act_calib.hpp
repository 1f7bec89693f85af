// Static activation ranges from calibration data: a streamed histogram per tensor and the
// calibrators that turn it into a range [lo, hi], then into 8-bit asymmetric (uint8) parameters
//     q = saturate(round_half_even(x / scale) + zero_point),  x ≈ scale · (q − zero_point).
//
// The histogram has 2·kActHalfBins bins of width w anchored at 0: bin k ∈ [−H, H) covers
// [k·w, (k+1)·w). w is a power of two, the smallest with H·w > max |x| seen so far; when a
// batch exceeds it, w doubles and bins merge pairwise (k → floor(k/2)), exactly, so the counts
// depend only on the values and their order, not on batching or threads. Memory is fixed
// (2·H counts) whatever the number of samples. Non-finite values are not counted.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace qcp::quant {

inline constexpr int64_t kActHalfBins = 2048;

class ActHistogram {
public:
    ActHistogram() : bins_(static_cast<size_t>(2 * kActHalfBins), 0) {}
    void add(const float* x, int64_t n);

    int64_t count() const { return count_; }
    double min() const { return min_; }     // exact, over the counted values (0 when none)
    double max() const { return max_; }
    double width() const { return width_; } // w (0 until a nonzero value is seen)
    // Count of bin k (−H ≤ k < H) and its edges.
    int64_t bin(int64_t k) const { return bins_[static_cast<size_t>(k + kActHalfBins)]; }
    double lower_edge(int64_t k) const { return double(k) * width_; }
    double upper_edge(int64_t k) const { return double(k + 1) * width_; }

private:
    void grow_to(double max_abs);
    std::vector<int64_t> bins_;
    int64_t count_ = 0;
    double min_ = 0, max_ = 0, width_ = 0;
};

// The calibrators of --act-calib:
//   minmax      [min, max] as seen.
//   percentile  hi = the upper edge of the first bin where the cumulative count reaches p% of
//               all values, lo = the lower edge of the first bin where it exceeds (100 − p)%,
//               each clamped to [min, max].
//   mse         [t·min, t·max] for t ∈ {0.01, 0.02, …, 1} minimising the expected squared error
//               Σ_bins count · (scale²/12 inside the range, (centre − nearest end)² outside).
//   entropy     the KL-divergence threshold T (TensorRT's calibrator, as ORT and TVM implement
//               it) on the |x| histogram with 256 levels when x is one-signed, 128 otherwise:
//               T = kl_threshold_bins(·)·w; range [max(min, −T), min(max, T)].
// Every range is then widened to contain 0 (so zero is exact and a ReLU output has zero point 0).
enum class ActCalib { MinMax, Percentile, Mse, Entropy };
inline constexpr int kActCalibCount = 4;
// --act-calib's default: mse cost the least top-1 over rtn 8-bit, gptq 4-bit and admm-cp 4-bit
// on fmnist_resnet and fmnist_mobilenet (docs/RESULTS.md, activations); entropy clips ReLU6's
// saturated values and lost up to 6 points.
inline constexpr ActCalib kDefaultActCalib = ActCalib::Mse;
inline constexpr double kDefaultActPercentile = 99.99;
const char* act_calib_name(ActCalib c);
// Parses a --act-calib name; throws qcp::Error listing the names.
ActCalib parse_act_calib(const std::string& name);

// The entropy calibrator's core on a histogram of |x| (bins of equal width, from 0): for each
// candidate i from `levels` to the last nonempty bin, P = bins [0, i) with the mass beyond added
// to bin i − 1; Q = the first i bins merged into `levels` groups (i / levels bins each, the last
// group taking the rest), each group's count spread evenly over the bins where P is nonzero;
// both smoothed (1e-4 of a count onto each empty bin); returns the i of least KL(P‖Q) (the first
// on ties), or the nonempty bin count when that is at most `levels`.
size_t kl_threshold_bins(const std::vector<double>& abs_bins, size_t levels);

struct ActRange {
    double lo = 0, hi = 0;
};
ActRange act_range(const ActHistogram& h, ActCalib calib, double percentile);

// uint8 parameters of a range containing 0: scale = (hi − lo) / 255 (1 when hi = lo),
// zero_point = round(−lo / scale) in [0, 255].
struct ActParams {
    float scale = 1.0f;
    int32_t zero_point = 0;
};
ActParams act_params(ActRange r);

}  // namespace qcp::quant
