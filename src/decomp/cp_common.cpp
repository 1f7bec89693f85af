#include "cp_common.hpp"

#include <cmath>
#include <random>

#include "qcp/core/grid.hpp"
#include "qcp/core/parallel.hpp"

namespace qcp::decomp::QCP_ISA_NS::detail {

namespace {

// GEMMs are split into two halves (by output rows or columns), a split fixed by the shapes so
// the result is identical for any thread count; fewer, larger pieces avoid re-packing the
// shared operand for every small block (measured: 16 row blocks of 32 cost 1.8× the time).
constexpr int64_t kGemmPieces = 2;
int64_t half(int64_t n) { return std::max<int64_t>(1, (n + kGemmPieces - 1) / kGemmPieces); }

using ConstMap = Eigen::Map<const Matrix>;

}  // namespace

Matrix Mttkrp::mode0(const std::vector<Matrix>& f) const {
    const int64_t i = x_.i, jk = x_.j * x_.k;
    ConstMap x0(x_.data, i, jk);
    Matrix kr;
    if (x_.modes() == 2) {
        kr = f[1];
    } else {
        kr.resize(jk, rank_);
        const Matrix& b = f[1];
        const Matrix& c = f[2];
        for (int64_t j = 0; j < x_.j; ++j)
            for (int64_t k = 0; k < x_.k; ++k) kr.row(j * x_.k + k) = b.row(j).cwiseProduct(c.row(k));
    }
    Matrix m(i, rank_);
    parallel_for(i, half(i), [&](int64_t begin, int64_t end) {
        m.middleRows(begin, end - begin).noalias() = x0.middleRows(begin, end - begin) * kr;
    });
    return m;
}

void Mttkrp::contract_a(const Matrix& a) {
    const int64_t i = x_.i, jk = x_.j * x_.k;
    ConstMap x0(x_.data, i, jk);
    y_.resize(rank_, jk);
    // Y = Aᵀ X₍₀₎, split over column blocks of X₍₀₎
    parallel_for(jk, half(jk), [&](int64_t begin, int64_t end) {
        y_.middleCols(begin, end - begin).noalias() = a.transpose() * x0.middleCols(begin, end - begin);
    });
}

Matrix Mttkrp::mode1(const std::vector<Matrix>& f) const {
    if (x_.modes() == 2) {
        ConstMap x0(x_.data, x_.i, x_.j);
        Matrix m(x_.j, rank_);
        parallel_for(x_.j, half(x_.j), [&](int64_t begin, int64_t end) {
            m.middleRows(begin, end - begin).noalias() = x0.middleCols(begin, end - begin).transpose() * f[0];
        });
        return m;
    }
    // M_B(j, r) = Σ_k Y(r, j·K + k) C(k, r)
    Matrix m(x_.j, rank_);
    const Matrix& c = f[2];
    for (int r = 0; r < rank_; ++r) {
        Eigen::Map<const Matrix> yr(y_.row(r).data(), x_.j, x_.k);
        m.col(r).noalias() = yr * c.col(r);
    }
    return m;
}

Matrix Mttkrp::mode2(const std::vector<Matrix>& f) const {
    // M_C(k, r) = Σ_j Y(r, j·K + k) B(j, r)
    Matrix m(x_.k, rank_);
    const Matrix& b = f[1];
    for (int r = 0; r < rank_; ++r) {
        Eigen::Map<const Matrix> yr(y_.row(r).data(), x_.j, x_.k);
        m.col(r).noalias() = yr.transpose() * b.col(r);
    }
    return m;
}

MatrixD gram_except(const std::vector<Matrix>& factors, int skip) {
    const int64_t r = factors[0].cols();
    MatrixD g = MatrixD::Ones(r, r);
    for (size_t n = 0; n < factors.size(); ++n) {
        if (static_cast<int>(n) == skip) continue;
        const MatrixD f = factors[n].cast<double>();
        g = g.cwiseProduct(f.transpose() * f);
    }
    return g;
}

double squared_norm(const TensorView& x) {
    double s = 0;
    for (int64_t n = 0; n < x.numel(); ++n) s += static_cast<double>(x.data[n]) * x.data[n];
    return s;
}

double fast_squared_error(double x_norm2, const Matrix& m, const Matrix& h, const MatrixD& g) {
    const double inner = m.cast<double>().cwiseProduct(h.cast<double>()).sum();
    const MatrixD hd = h.cast<double>();
    const double model = g.cwiseProduct(hd.transpose() * hd).sum();
    return std::max(0.0, x_norm2 - 2 * inner + model);
}

QuantizedFactor project_to_grid(const Matrix& v, int bits, ScaleAxis axis, Matrix* out, const std::vector<float>* warm) {
    QuantizedFactor q;
    q.bits = bits;
    q.axis = axis;
    const GridRange range{bits};
    const int64_t rows = v.rows(), cols = v.cols();
    q.codes.resize(rows, cols);
    out->resize(rows, cols);
    auto best = [&](const float* x, int64_t n, int64_t stride, size_t index) {
        if (warm && index < warm->size()) return grid_refine_scale(x, n, stride, range, (*warm)[index]);
        return grid_best_scale(x, n, stride, range);
    };
    switch (axis) {
        case ScaleAxis::None: q.scales = {best(v.data(), rows * cols, 1, 0)}; break;
        case ScaleAxis::Rows:
            for (int64_t r = 0; r < rows; ++r) q.scales.push_back(best(v.data() + r * cols, cols, 1, static_cast<size_t>(r)));
            break;
        case ScaleAxis::Cols:
            for (int64_t c = 0; c < cols; ++c) q.scales.push_back(best(v.data() + c, rows, cols, static_cast<size_t>(c)));
            break;
    }
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c) {
            const float s = q.scale(r, c);
            const int32_t code = grid_code(v(r, c), s, range);
            q.codes(r, c) = code;
            (*out)(r, c) = s * static_cast<float>(code);
        }
    return q;
}

void balance_columns(std::vector<Matrix>* f) {
    const int64_t rank = (*f)[0].cols();
    const double modes = static_cast<double>(f->size());
    for (int64_t r = 0; r < rank; ++r) {
        double prod = 1;
        std::vector<double> norms;
        for (const auto& m : *f) {
            norms.push_back(m.col(r).cast<double>().norm());
            prod *= norms.back();
        }
        if (prod <= 0) continue;
        const double target = std::pow(prod, 1.0 / modes);
        for (size_t n = 0; n < f->size(); ++n) (*f)[n].col(r) *= static_cast<float>(target / norms[n]);
    }
}

Matrix random_matrix(int64_t rows, int64_t cols, uint64_t seed) {
    std::mt19937_64 gen(seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    Matrix m(rows, cols);
    for (int64_t i = 0; i < rows * cols; ++i) m.data()[i] = normal(gen);
    return m;
}

}  // namespace qcp::decomp::QCP_ISA_NS::detail
