// --class-axis, --mask-threshold and --ctc-blank: how eval --ref, compare, compress's check and
// --max-drop, and sweep measure every output (qcp/pipeline/metrics.hpp has the rules).
#pragma once

#include <CLI/CLI.hpp>

#include "qcp/pipeline/metrics.hpp"

namespace qcp::cli {

struct FidelityFlags {
    int64_t class_axis = -1;
    double mask_threshold = kDefaultMaskThreshold;
    int64_t ctc_blank = 0;
    CLI::Option* class_axis_opt = nullptr;
    CLI::Option* mask_threshold_opt = nullptr;
    FidelityOptions resolve() const {
        FidelityOptions o;
        if (class_axis_opt && class_axis_opt->count()) o.class_axis = class_axis;
        if (mask_threshold_opt && mask_threshold_opt->count()) o.mask_threshold = mask_threshold;
        o.ctc_blank = ctc_blank;
        validate_fidelity_options(o);
        return o;
    }
};

inline void add_fidelity_flags(CLI::App* cmd, FidelityFlags& f) {
    f.class_axis_opt = cmd->add_option("--class-axis", f.class_axis,
                                       "Fidelity: classes along axis K (negative from the end) of every output of rank >= 3; "
                                       "default: (N, C) classifiers, the last axis of (N, T, C) sequences");
    f.mask_threshold_opt = cmd->add_option("--mask-threshold", f.mask_threshold,
                                           "Fidelity: IoU of the masks y > T (default 0.3, on (N, 1, H, W) maps; given: on every "
                                           "output that is not (N, classes))");
    cmd->add_option("--ctc-blank", f.ctc_blank, "Fidelity: blank class of the CTC-collapsed sequence agreement (default 0)");
}

}  // namespace qcp::cli
