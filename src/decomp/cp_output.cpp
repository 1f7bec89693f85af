// Data-aware AO-ADMM: the CP model minimises the layer-output error through a Kronecker metric
// (see cp.hpp for the equations).
#include <Eigen/Eigenvalues>
#include <chrono>
#include <cmath>
#include <limits>

#include "cp_common.hpp"
#include "qcp/core/error.hpp"

namespace qcp::decomp::QCP_ISA_NS {

using detail::MatrixD;

namespace {

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

// Factor n's subproblem min tr(HᵀM H G) − 2 tr(HᵀP) s.t. H on the grid: each inner step solves
// M H̃ G + ρH̃ = P + ρ(H + U) in the joint eigenbasis of M (`me`) and G, where it is diagonal.
detail::AdmmSubproblem metric_subproblem(detail::Mttkrp& mttkrp, const CpMetric& metric, const Eig& me, int n,
                                         const std::vector<Matrix>& h) {
    detail::AdmmSubproblem p;
    p.f = mttkrp.mode(n, h);
    p.g = metric_gram_except(h, metric, n);
    const int64_t rank = p.g.rows();
    const Eig ge = eig_of(p.g);
    p.rho = std::max(me.values.mean() * p.g.trace() / static_cast<double>(rank), 1e-12);
    MatrixD denom = (me.values * ge.values.transpose()).array() + p.rho;
    p.solve = [&me, ge, denom = std::move(denom)](const MatrixD& rhs) -> Matrix {
        const MatrixD y = (me.vectors.transpose() * rhs * ge.vectors).cwiseQuotient(denom);
        return (me.vectors * y * ge.vectors.transpose()).cast<float>();
    };
    return p;
}

// The eigenbases of every mode's metric (identity modes included), for the per-factor solves.
std::vector<Eig> metric_eigs(const TensorView& x, const CpMetric& metric) {
    std::vector<Eig> eigs(static_cast<size_t>(x.modes()));
    for (int n = 0; n < x.modes(); ++n)
        eigs[static_cast<size_t>(n)] = is_identity(metric, n) ? Eig{MatrixD::Identity(x.dim(n), x.dim(n)),
                                                                   Eigen::VectorXd::Ones(x.dim(n))}
                                                             : eig_of(metric.modes[static_cast<size_t>(n)]);
    return eigs;
}

// Float ALS in the metric from `f`: per mode, the exact minimiser of ‖X − [[…]]‖²_M + ε‖F_n‖² with
// the other factors fixed, M_n F_n G_n + εF_n = P_n, solved in the eigenbases of M_n and G_n, with
// ε = ridge · mean(eig M_n) · trace(G_n)/R (the same relative guard as cp_als's). Columns of all
// but the last mode are renormalised after their update; the result is balanced as cp_als's.
CpResult metric_als(const TensorView& x, std::vector<Matrix> f, const CpAlsOptions& opt, const CpMetric& metric,
                    const std::vector<Eig>& eigs, detail::Mttkrp& mttkrp, double x_norm2) {
    const int modes = x.modes();
    const int64_t rank = f[0].cols();
    CpResult res;
    double prev = std::numeric_limits<double>::infinity();
    for (int it = 0; it < opt.max_iters; ++it) {
        double err2 = 0;
        for (int n = 0; n < modes; ++n) {
            const Eig& me = eigs[static_cast<size_t>(n)];
            const Matrix p = mttkrp.mode(n, f);
            const MatrixD g = metric_gram_except(f, metric, n);
            const Eig ge = eig_of(g);
            const double eps = opt.ridge * me.values.mean() * g.trace() / static_cast<double>(rank) + 1e-300;
            const MatrixD denom = (me.values * ge.values.transpose()).array() + eps;
            const MatrixD y = (me.vectors.transpose() * p.cast<double>() * ge.vectors).cwiseQuotient(denom);
            f[static_cast<size_t>(n)] = (me.vectors * y * ge.vectors.transpose()).cast<float>();
            const Matrix& h = f[static_cast<size_t>(n)];
            if (n == modes - 1)
                err2 = x_norm2 - 2.0 * h.cast<double>().cwiseProduct(p.cast<double>()).sum() +
                       metric_gram(h, metric, n).cwiseProduct(g).sum();
            else
                for (int64_t r = 0; r < rank; ++r) {
                    const float norm = f[static_cast<size_t>(n)].col(r).norm();
                    if (norm > 0) f[static_cast<size_t>(n)].col(r) /= norm;
                }
        }
        res.iterations = it + 1;
        const double err = x_norm2 > 0 ? std::sqrt(std::max(err2, 0.0) / x_norm2) : 0.0;
        if (const auto stop = detail::sweep_stop(err, prev, opt.tol)) {
            res.status = *stop;
            break;
        }
        prev = err;
    }
    detail::balance_columns(&f);
    res.factors = std::move(f);
    return res;
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
    const std::vector<float> xh = this_isa::cp_reconstruct(factors);
    if (static_cast<int64_t>(xh.size()) != x.numel()) throw Error("CP factors do not match the tensor");
    std::vector<float> d(xh.size());
    for (size_t t = 0; t < d.size(); ++t) d[t] = x.data[t] - xh[t];
    const TensorView dv{d.data(), x.i, x.j, x.k};
    const double num = inner(dv, apply_metric(dv, metric));
    const double den = inner(x, apply_metric(x, metric));
    return den > 0 ? std::sqrt(std::max(num, 0.0) / den) : 1.0;
}

CpResult cp_als_metric(const TensorView& x, int rank, const CpAlsOptions& opt, const CpMetric& metric) {
    const auto t0 = std::chrono::steady_clock::now();
    check_metric(x, metric);
    if (!is_identity(metric, 0)) throw Error("the output-channel mode takes no metric");
    const CpResult start = this_isa::cp_als(x, rank, opt);
    const std::vector<float> v = apply_metric(x, metric);
    const TensorView vv{v.data(), x.i, x.j, x.k};
    detail::Mttkrp mttkrp(vv, rank);
    CpResult res = metric_als(x, start.factors, opt, metric, metric_eigs(x, metric), mttkrp, inner(x, v));
    res.metric_rel_error = this_isa::cp_metric_rel_error(x, res.factors, metric);
    res.rel_error = this_isa::cp_rel_error(x, res.factors);
    res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return res;
}

CpResult cp_admm_metric(const TensorView& x, int rank, const AdmmOptions& opt, const CpMetric& metric) {
    const auto t0 = std::chrono::steady_clock::now();
    if (opt.bits < 2 || opt.bits > 8) throw Error("bits must be between 2 and 8");
    check_metric(x, metric);
    if (!is_identity(metric, 0)) throw Error("the output-channel mode takes no metric");
    const std::vector<Eig> eigs = metric_eigs(x, metric);
    const std::vector<float> v = apply_metric(x, metric);
    const TensorView vv{v.data(), x.i, x.j, x.k};
    const double x_norm2 = inner(x, v);
    detail::Mttkrp mttkrp(vv, rank);
    // Two starts, each rounded to the grid, the better one in the metric kept: the weight
    // objective's CP-ALS and that fit refined by float ALS in the metric. ADMM refines locally,
    // and for a 1×1 conv the metric's optimum (a weighted SVD) can lie in another subspace than
    // the weight's, which ADMM from the weight start does not reach (PP-OCRv4 det, RESULTS.md).
    const CpResult init = this_isa::cp_als(x, rank, opt.init);
    CpResult rounded = this_isa::quantize_factors(x, init, opt.bits, opt.granularity);
    double start = this_isa::cp_metric_rel_error(x, rounded.factors, metric);
    {
        const CpResult refined = metric_als(x, init.factors, opt.init, metric, eigs, mttkrp, x_norm2);
        CpResult r2 = this_isa::quantize_factors(x, refined, opt.bits, opt.granularity);
        const double e2 = this_isa::cp_metric_rel_error(x, r2.factors, metric);
        if (e2 < start) {
            rounded = std::move(r2);
            start = e2;
        }
    }

    CpResult res = detail::admm_outer_loop(
        rounded, start, x_norm2, opt,
        [&](int n, const std::vector<Matrix>& h) {
            return metric_subproblem(mttkrp, metric, eigs[static_cast<size_t>(n)], n, h);
        },
        [&](int n, const detail::AdmmSubproblem& p, const Matrix& h) {
            const MatrixD hd = h.cast<double>();
            const double err2 = x_norm2 - 2.0 * (hd.cwiseProduct(p.f.cast<double>())).sum() +
                                metric_gram(h, metric, n).cwiseProduct(p.g).sum();
            return std::max(err2, 0.0);
        });
    res.metric_rel_error = this_isa::cp_metric_rel_error(x, res.factors, metric);
    if (!(res.metric_rel_error <= start)) {  // never worse than the rounded start
        res.factors = rounded.factors;
        res.quantized = rounded.quantized;
        res.metric_rel_error = start;
    }
    res.rel_error = this_isa::cp_rel_error(x, res.factors);
    res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return res;
}

}  // namespace qcp::decomp::QCP_ISA_NS
