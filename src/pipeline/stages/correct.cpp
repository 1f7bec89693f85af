// correct: the per-channel output statistics (mean, std) of each factorized layer re-matched to
// the original network's, layer by layer in network order, each measured on the network with
// the earlier corrections in place; the affine map folds into the layer's last weight and bias.
#include <algorithm>

#include "../calibration.hpp"
#include "context.hpp"
#include "qcp/core/error.hpp"
#include "qcp/core/log.hpp"

namespace qcp::stages {

namespace {

// Samples used to re-estimate per-channel statistics (mean/std are stable well before this).
constexpr int64_t kCorrectionSamples = 512;

}  // namespace

bool correction_enabled(const Context& c) { return c.options.correct.value_or(c.calib != nullptr); }

void correct(Context& c) {
    const CompressOptions& o = c.options;
    if (!correction_enabled(c) || c.correctable.empty()) return;
    const auto t0 = Clock::now();
    const int64_t n = std::min(c.calib_n, kCorrectionSamples);
    std::vector<std::string> outputs;
    for (const auto& d : c.correctable)
        if (d.rw.supports_correction) outputs.push_back(d.output);
    const auto want = calibration::collect_stats(c.model, *c.calib, n, o.batch, outputs);
    for (auto& d : c.correctable) {
        if (!d.rw.supports_correction) continue;
        c.out.graph.rebuild_index();
        const auto have = calibration::collect_stats(c.out, *c.calib, n, o.batch, {d.output});
        const calibration::ChannelStats& w = want.at(d.output);
        const calibration::ChannelStats& h = have.at(d.output);
        std::vector<float> scale(w.sum.size()), shift(w.sum.size());
        for (size_t ch = 0; ch < scale.size(); ++ch) {
            const double sd = h.stddev(ch);
            const double a = sd > 1e-12 ? w.stddev(ch) / sd : 1.0;
            scale[ch] = static_cast<float>(a);
            shift[ch] = static_cast<float>(w.mean(ch) - a * h.mean(ch));
        }
        rewrite::apply_channel_affine(c.out, d.rw, scale, shift, resolved_format(o));
        LayerPlan& p = c.report.layers[d.plan_index];
        p.weight_bits_after = d.rw.storage_bits;
        p.corrected = true;
    }
    spdlog::debug("statistics correction: {:.1f} s", since(t0));
}

}  // namespace qcp::stages
