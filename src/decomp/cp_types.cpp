// The non-numeric helpers of cp.hpp: built once, outside the per-ISA copies (isa.hpp).
#include "qcp/decomp/cp.hpp"

namespace qcp::decomp {

const char* status_name(SolveStatus s) {
    switch (s) {
        case SolveStatus::Converged: return "converged";
        case SolveStatus::MaxIterations: return "max-iterations";
        case SolveStatus::Diverged: return "diverged";
    }
    return "?";
}

ScaleAxis factor_scale_axis(Granularity g, int mode) {
    if (g == Granularity::Tensor) return ScaleAxis::None;
    return mode == 0 ? ScaleAxis::Rows : ScaleAxis::Cols;
}

Matrix QuantizedFactor::dequantized() const {
    Matrix m(codes.rows(), codes.cols());
    for (int64_t r = 0; r < codes.rows(); ++r)
        for (int64_t c = 0; c < codes.cols(); ++c) m(r, c) = scale(r, c) * static_cast<float>(codes(r, c));
    return m;
}

}  // namespace qcp::decomp
