// HessianAccumulator's product H += X Xᵀ over a block of buffered rows (hessian.cpp), built once
// per x86-64 level (isa.hpp): Eigen's float GEMM is vectorised at compile time only, and at the
// baseline level this product made gptq's calibration 2.4× slower than a -march=native build.
#include <algorithm>
#include <utility>
#include <vector>

#include "isa.hpp"
#include "qcp/core/parallel.hpp"

namespace qcp::quant::QCP_ISA_NS {

namespace {

using BufferMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

constexpr int64_t kTile = 128;  // H is computed in kTile × kTile tiles, one task each

}  // namespace

void hessian_add_block(const float* buffer, int64_t cols, int64_t ld, int64_t rows, Eigen::MatrixXd& total) {
    const Eigen::Map<const BufferMatrix> all(buffer, cols, ld);
    const auto x = all.leftCols(rows);  // features × rows
    const int64_t tiles = (cols + kTile - 1) / kTile;
    std::vector<std::pair<int64_t, int64_t>> pairs;  // (a, b), a ≥ b: the lower triangle of tiles
    for (int64_t a = 0; a < tiles; ++a)
        for (int64_t b = 0; b <= a; ++b) pairs.emplace_back(a, b);
    parallel_for(static_cast<int64_t>(pairs.size()), 1, [&](int64_t t0, int64_t t1) {
        Eigen::MatrixXf tile;
        for (int64_t t = t0; t < t1; ++t) {
            const auto [a, b] = pairs[static_cast<size_t>(t)];
            const int64_t ra = a * kTile, na = std::min(kTile, cols - ra);
            const int64_t rb = b * kTile, nb = std::min(kTile, cols - rb);
            if (a == b) {  // half the work, and H stays exactly symmetric
                tile.setZero(na, na);
                tile.selfadjointView<Eigen::Lower>().rankUpdate(x.middleRows(ra, na));
                tile.triangularView<Eigen::StrictlyUpper>() = tile.transpose().eval();
                total.block(ra, ra, na, na) += tile.cast<double>();
            } else {
                tile.noalias() = x.middleRows(ra, na) * x.middleRows(rb, nb).transpose();
                total.block(ra, rb, na, nb) += tile.cast<double>();
                total.block(rb, ra, nb, na) += tile.transpose().cast<double>();
            }
        }
    });
}

}  // namespace qcp::quant::QCP_ISA_NS
