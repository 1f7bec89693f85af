// Data-aware AO-ADMM: the CP model minimises the layer-output error through a Kronecker metric
// (see cp.hpp for the equations).
#include <Eigen/Eigenvalues>
#include <chrono>
#include <cmath>
#include <limits>

#include "cp_common.hpp"
#include "qcp/core/error.hpp"

namespace qcp::decomp {

using detail::MatrixD;

namespace {

constexpr double kDivergeFactor = 10.0;

bool is_identity(const CpMetric& m, int mode) {
    return static_cast<size_t>(mode) >= m.modes.size() || m.modes[static_cast<size_t>(mode)].size() == 0;
}

void check_metric(const TensorView& x, const CpMetric& m) {
    if (m.modes.size() > static_cast<size_t>(x.modes())) throw Error("CP metric has more modes than the tensor");
    for (int n = 0; n < x.modes(); ++n) {
        if (is_identity(m, n)) continue;
        const auto& mm = m.modes[static_cast<size_t>(n)];
        if (mm.rows() != x.dim(n) || mm.cols() != x.dim(n))
            throw Error("CP metric of mode " + std::to_string(n) + " is " + std::to_string(mm.rows()) + "x" +
                        std::to_string(mm.cols()) + ", expected " + std::to_string(x.dim(n)));
        if (!mm.allFinite()) throw Error("CP metric of mode " + std::to_string(n) + " is not finite");
    }
}

// V = X ×₁ M₁ ×₂ M₂ (identity modes skipped), and mode 0 too when given.
std::vector<float> apply_metric(const TensorView& x, const CpMetric& m) {
    const int64_t I = x.i, J = x.j, K = x.k;
    std::vector<float> v(static_cast<size_t>(x.numel()));
    MatrixD m1 = is_identity(m, 1) ? MatrixD::Identity(J, J) : m.modes[1];
    MatrixD m2 = x.modes() == 3 && !is_identity(m, 2) ? m.modes[2] : MatrixD::Identity(K, K);
    for (int64_t i = 0; i < I; ++i) {
        const Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> xi(x.data + i * J * K, J, K);
        const MatrixD vi = m1 * xi.cast<double>() * m2;
        for (int64_t j = 0; j < J; ++j)
            for (int64_t k = 0; k < K; ++k) v[static_cast<size_t>((i * J + j) * K + k)] = static_cast<float>(vi(j, k));
    }
    if (!is_identity(m, 0)) {  // mode 0 last: V ← M₀ V₍₀₎
        Eigen::Map<Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> vm(v.data(), I, J * K);
        const MatrixD r = m.modes[0] * vm.cast<double>();
        vm = r.cast<float>();
    }
    return v;
}

double inner(const TensorView& x, const std::vector<float>& v) {
    double s = 0;
    for (int64_t t = 0; t < x.numel(); ++t) s += double(x.data[t]) * v[static_cast<size_t>(t)];
    return s;
}

MatrixD metric_gram(const Matrix& f, const CpMetric& m, int mode) {
    const MatrixD fd = f.cast<double>();
    if (is_identity(m, mode)) return fd.transpose() * fd;
    return fd.transpose() * m.modes[static_cast<size_t>(mode)] * fd;
}

MatrixD metric_gram_except(const std::vector<Matrix>& f, const CpMetric& m, int skip) {
    MatrixD g;
    for (int n = 0; n < static_cast<int>(f.size()); ++n) {
        if (n == skip) continue;
        const MatrixD gn = metric_gram(f[static_cast<size_t>(n)], m, n);
        g = g.size() == 0 ? gn : MatrixD(g.cwiseProduct(gn));
    }
    return g;
}

struct Eig {
    MatrixD vectors;
    Eigen::VectorXd values;
};

Eig eig_of(const MatrixD& a) {
    const Eigen::SelfAdjointEigenSolver<MatrixD> es(a);
    if (es.info() != Eigen::Success) throw Error("CP metric: eigendecomposition failed");
    return {es.eigenvectors(), es.eigenvalues().cwiseMax(0.0)};
}

struct InnerStats {
    int iterations = 0;
    double primal = 0, dual = 0;
};

// ADMM for min tr(HᵀM H G) − 2 tr(HᵀP) s.t. H on the grid: each step solves
// M H̃ G + ρH̃ = P + ρ(H + U) in the joint eigenbasis, where it is diagonal.
InnerStats admm_update_metric(const Matrix& p, const MatrixD& g, const Eig& me, Matrix* h, Matrix* u,
                              QuantizedFactor* q, ScaleAxis axis, const AdmmOptions& opt) {
    const int64_t rank = g.rows();
    const Eig ge = eig_of(g);
    const double rho = std::max(me.values.mean() * g.trace() / static_cast<double>(rank), 1e-12);
    const MatrixD denom = (me.values * ge.values.transpose()).array() + rho;
    const MatrixD pd = p.cast<double>();
    InnerStats st;
    for (int t = 0; t < opt.max_inner; ++t) {
        const MatrixD rhs = pd + rho * (h->cast<double>() + u->cast<double>());
        const MatrixD y = (me.vectors.transpose() * rhs * ge.vectors).cwiseQuotient(denom);
        const Matrix h_tilde = (me.vectors * y * ge.vectors.transpose()).cast<float>();
        const Matrix h_old = *h;
        const std::vector<float> warm = q->scales;
        *q = detail::project_to_grid(h_tilde - *u, opt.bits, axis, h, &warm);
        *u += *h - h_tilde;
        st.iterations = t + 1;
        const double hn = std::max<double>(h->norm(), 1e-30);
        const double un = std::max<double>(u->norm(), 1e-30);
        st.primal = (*h - h_tilde).norm() / hn;
        st.dual = (*h - h_old).norm() / un;
        if (st.primal < opt.inner_tol && st.dual < opt.inner_tol) break;
    }
    return st;
}

}  // namespace

CpMetric cp_kronecker_metric(const Eigen::MatrixXd& h, int64_t j, int64_t k, double damp) {
    if (h.rows() != j * k || h.cols() != j * k)
        throw Error("input Hessian is " + std::to_string(h.rows()) + "x" + std::to_string(h.cols()) + ", expected " +
                    std::to_string(j * k));
    if (!(damp >= 0)) throw Error("metric damping must be non-negative");
    MatrixD m1 = MatrixD::Zero(j, j), m2 = MatrixD::Zero(k, k);
    for (int64_t a = 0; a < j; ++a)
        for (int64_t b = 0; b < j; ++b)
            for (int64_t c = 0; c < k; ++c) m1(a, b) += h(a * k + c, b * k + c);
    for (int64_t a = 0; a < k; ++a)
        for (int64_t b = 0; b < k; ++b)
            for (int64_t c = 0; c < j; ++c) m2(a, b) += h(c * k + a, c * k + b);
    auto damped = [damp](MatrixD m) {
        const double mean = m.diagonal().mean();
        m.diagonal().array() += damp * (mean > 0 ? mean : 1.0);
        if (!(mean > 0)) m.diagonal().array() += 1.0;  // no data reached this layer: weight metric
        return m;
    };
    CpMetric metric;
    metric.modes = {MatrixD(), damped(m1)};
    if (k > 1) metric.modes.push_back(damped(m2));
    return metric;
}

double cp_metric_rel_error(const TensorView& x, const std::vector<Matrix>& factors, const CpMetric& metric) {
    check_metric(x, metric);
    const std::vector<float> xh = cp_reconstruct(factors);
    if (static_cast<int64_t>(xh.size()) != x.numel()) throw Error("CP factors do not match the tensor");
    std::vector<float> d(xh.size());
    for (size_t t = 0; t < d.size(); ++t) d[t] = x.data[t] - xh[t];
    const TensorView dv{d.data(), x.i, x.j, x.k};
    const double num = inner(dv, apply_metric(dv, metric));
    const double den = inner(x, apply_metric(x, metric));
    return den > 0 ? std::sqrt(std::max(num, 0.0) / den) : 1.0;
}

CpResult cp_admm_metric(const TensorView& x, int rank, const AdmmOptions& opt, const CpMetric& metric) {
    const auto t0 = std::chrono::steady_clock::now();
    if (opt.bits < 2 || opt.bits > 8) throw Error("bits must be between 2 and 8");
    check_metric(x, metric);
    if (!is_identity(metric, 0)) throw Error("the output-channel mode takes no metric");
    const CpResult init = cp_als(x, rank, opt.init);
    const CpResult rounded = quantize_factors(x, init, opt.bits, opt.granularity);
    const double start = cp_metric_rel_error(x, rounded.factors, metric);

    const int modes = x.modes();
    std::vector<Eig> eigs(static_cast<size_t>(modes));
    for (int n = 1; n < modes; ++n)
        eigs[static_cast<size_t>(n)] = is_identity(metric, n) ? Eig{MatrixD::Identity(x.dim(n), x.dim(n)),
                                                                   Eigen::VectorXd::Ones(x.dim(n))}
                                                             : eig_of(metric.modes[static_cast<size_t>(n)]);
    eigs[0] = {MatrixD::Identity(x.i, x.i), Eigen::VectorXd::Ones(x.i)};
    const std::vector<float> v = apply_metric(x, metric);
    const TensorView vv{v.data(), x.i, x.j, x.k};
    const double x_norm2 = inner(x, v);
    detail::Mttkrp mttkrp(vv, rank);

    std::vector<Matrix> h = rounded.factors;
    std::vector<QuantizedFactor> q = rounded.quantized;
    std::vector<Matrix> u;
    for (const auto& m : h) u.push_back(Matrix::Zero(m.rows(), m.cols()));

    CpResult res;
    res.rel_error_start = rounded.rel_error;
    double prev = start, best = std::numeric_limits<double>::infinity();
    std::vector<Matrix> best_h = h;
    std::vector<QuantizedFactor> best_q = q;
    for (int it = 0; it < opt.max_outer; ++it) {
        double err2 = 0;
        for (int n = 0; n < modes; ++n) {
            const Matrix p = mttkrp.mode(n, h);
            const MatrixD g = metric_gram_except(h, metric, n);
            const InnerStats st = admm_update_metric(p, g, eigs[static_cast<size_t>(n)], &h[static_cast<size_t>(n)],
                                                     &u[static_cast<size_t>(n)], &q[static_cast<size_t>(n)],
                                                     factor_scale_axis(opt.granularity, n), opt);
            res.inner_iterations += st.iterations;
            res.primal_residual = st.primal;
            res.dual_residual = st.dual;
            if (n == modes - 1) {
                const MatrixD hd = h[static_cast<size_t>(n)].cast<double>();
                err2 = x_norm2 - 2.0 * (hd.cwiseProduct(p.cast<double>())).sum() +
                       metric_gram(h[static_cast<size_t>(n)], metric, n).cwiseProduct(g).sum();
            }
        }
        res.iterations = it + 1;
        const double err = x_norm2 > 0 ? std::sqrt(std::max(err2, 0.0) / x_norm2) : 0.0;
        if (!std::isfinite(err) || err > kDivergeFactor * std::max(start, 1e-6)) {
            res.status = SolveStatus::Diverged;
            break;
        }
        if (err < best) {
            best = err;
            best_h = h;
            best_q = q;
        }
        if (std::fabs(prev - err) < opt.outer_tol * std::max(prev, 1e-12)) {
            res.status = SolveStatus::Converged;
            break;
        }
        prev = err;
    }
    res.factors = std::move(best_h);
    res.quantized = std::move(best_q);
    res.metric_rel_error = cp_metric_rel_error(x, res.factors, metric);
    if (!(res.metric_rel_error <= start)) {  // never worse than the rounded start
        res.factors = rounded.factors;
        res.quantized = rounded.quantized;
        res.metric_rel_error = start;
    }
    res.rel_error = cp_rel_error(x, res.factors);
    res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return res;
}

}  // namespace qcp::decomp
