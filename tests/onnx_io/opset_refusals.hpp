// Engine fixtures (tests/engine/fixtures/<group>/<case>) whose opset upgrade qcp refuses: the
// refusal is what the opset tests check for them.
#pragma once

#include <string>

namespace qcp::test {

inline bool opset_upgrade_refused(const std::string& fixture) {
    static const char* const kRefused[] = {
        "elementwise/dropout_opset7_mask",    // the mask output changes type at 10
        "elementwise/dropout_opset10_mask",   // and its inference value at 12
        "norm/batchnorm_per_activation_op7",  // spatial=0 has no opset-9 form
        "resize_pad/resize_nearest_tf_half_pixel_for_nn_op11",  // the mode is gone at 13
    };
    for (const char* r : kRefused)
        if (fixture == r) return true;
    return false;
}

// The opsets the fixtures are upgraded to.
inline constexpr int64_t kOpsetTargets[] = {13, 17, 18, 21};

}  // namespace qcp::test
