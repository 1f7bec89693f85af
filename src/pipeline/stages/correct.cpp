// correct: the per-channel output statistics (mean, std) of each factorized layer re-matched to
// the original network's, layer by layer in network order, each measured on the network with
// the earlier corrections in place; the affine map folds into the layer's last weight and bias.
// The solve corrects each layer right after rewriting it, on the calibration stream (so later
// layers are solved on corrected inputs); correct() re-matches whatever it left, one network run
// per layer.
#include <algorithm>

#include "../calibration.hpp"
#include "context.hpp"
#include "qcp/core/error.hpp"
#include "qcp/core/log.hpp"

namespace qcp::stages {

namespace {

// Samples used to re-estimate per-channel statistics (mean/std are stable well before this).
constexpr int64_t kCorrectionSamples = 512;
// A scale below this means the original channel is constant up to float noise (a dead channel:
// 107 of PP-OCRv4 rec's, scales 1e-41 to 3e-8 under pq). It becomes that constant, with the scale
// exactly 0: the tiny scales made subnormal weights, and the corrected rec pq ran 4x slower in ORT.
constexpr double kDeadChannelScale = 1e-6;

}  // namespace

bool correction_enabled(const Context& c) { return c.options.correct.value_or(c.calib != nullptr); }

int64_t correction_samples(const Context& c) { return std::min(c.calib_n, kCorrectionSamples); }

std::set<std::string> channels_last_values(const Context& c) {
    std::set<std::string> values;
    for (size_t li = 0; li < c.layers.size(); ++li)
        if (c.layers[li].op == "MatMul") values.insert(c.layer_outputs[li]);
    return values;
}

const calibration::ChannelStats& original_stats(Context& c, const std::string& value, const std::vector<std::string>& more) {
    if (!c.original_stats.count(value)) {
        std::vector<std::string> values{value};
        for (const auto& v : more)
            if (v != value && !c.original_stats.count(v)) values.push_back(v);
        // The check stage compares the output with the original's on all c.calib_n samples: when
        // this run covers the same ones, its network outputs are kept for it.
        ReferenceRun& outputs = c.check_original ? *c.check_original : c.original_outputs;
        const bool keep = !outputs.filled() && correction_samples(c) == c.calib_n;
        auto stats = calibration::collect_stats(c.model, *c.calib, correction_samples(c), c.options.batch, values,
                                                channels_last_values(c), keep ? &outputs : nullptr);
        for (auto& [v, s] : stats) c.original_stats.emplace(v, std::move(s));
    }
    return c.original_stats.at(value);
}

void correct_layer(Context& c, Correctable& d, const calibration::ChannelStats& have) {
    const calibration::ChannelStats& w = original_stats(c, d.output, {});
    std::vector<float> scale(w.sum.size()), shift(w.sum.size());
    for (size_t ch = 0; ch < scale.size(); ++ch) {
        const double sd = have.stddev(ch);
        double a = sd > 1e-12 ? w.stddev(ch) / sd : 1.0;
        if (a < kDeadChannelScale) a = 0.0;
        scale[ch] = static_cast<float>(a);
        shift[ch] = static_cast<float>(w.mean(ch) - a * have.mean(ch));
    }
    rewrite::apply_channel_affine(c.out, d.rw, scale, shift, resolved_format(c.options));
    c.out.graph.rebuild_index();
    LayerPlan& p = c.report.layers[d.plan_index];
    p.weight_bits_after = d.rw.storage_bits;
    p.corrected = true;
}

void correct(Context& c) {
    if (!correction_enabled(c) || c.correctable.empty()) return;
    const auto t0 = Clock::now();
    std::vector<std::string> outputs;
    for (const auto& d : c.correctable)
        if (d.rw.supports_correction && !c.report.layers[d.plan_index].corrected) outputs.push_back(d.output);
    if (outputs.empty()) return;
    c.streamed_outputs.reset();  // what c.out computes changes below
    (void)original_stats(c, outputs[0], outputs);  // the original's statistics of all of them, in one pass
    for (auto& d : c.correctable) {
        if (!d.rw.supports_correction || c.report.layers[d.plan_index].corrected) continue;
        c.out.graph.rebuild_index();
        const auto have =
            calibration::collect_stats(c.out, *c.calib, correction_samples(c), c.options.batch, {d.output}, channels_last_values(c));
        correct_layer(c, d, have.at(d.output));
    }
    spdlog::debug("statistics correction: {:.1f} s", since(t0));
}

}  // namespace qcp::stages
