// Product quantization driver (pq.hpp): EM loop, joint refit, loss, float16 codebook.
#include "qcp/quant/pq.hpp"

#include <Eigen/Cholesky>
#include <cmath>
#include <string>

#include "qcp/core/error.hpp"
#include "qcp/core/parallel.hpp"
#include "qcp/core/tensor.hpp"
#include "pq_util.hpp"

namespace qcp::quant::QCP_ISA_NS {
namespace {

using RowMatrixD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// Σ_g tr(E_g H_g E_gᵀ) for row-major E (rows × cols); ‖E‖² when hs is empty.
double grouped_loss(const RowMatrixD& e, const std::vector<Eigen::MatrixXd>& hs) {
    if (hs.empty()) return e.squaredNorm();
    const auto per = e.rows() / static_cast<Eigen::Index>(hs.size());
    double loss = 0;
    for (size_t g = 0; g < hs.size(); ++g) {
        const auto eg = e.middleRows(static_cast<Eigen::Index>(g) * per, per);
        loss += (eg * hs[g]).cwiseProduct(eg).sum();
    }
    return loss;
}

// W as a row-major matrix: the problem's v holds it column by column of sub-vectors.
Eigen::Map<const RowMatrixD> weight_of(const PqProblem& p) { return {p.v.data(), p.rows, p.cols}; }

RowMatrixD reconstruct(const PqProblem& p, const std::vector<int32_t>& codes, const Eigen::MatrixXd& codebook) {
    RowMatrixD w_hat(p.rows, p.cols);
    Eigen::Map<Eigen::MatrixXd> cols_view(w_hat.data(), p.d, p.subvectors());
    for (int64_t s = 0; s < p.subvectors(); ++s) cols_view.col(s) = codebook.col(codes[static_cast<size_t>(s)]);
    return w_hat;
}

void check_options(const PqOptions& o) {
    if (o.k < 1) throw Error("pq_quantize: k must be >= 1, got " + std::to_string(o.k));
    if (o.iters < 1) throw Error("pq_quantize: iters must be >= 1, got " + std::to_string(o.iters));
    if (!(o.tol >= 0) || !std::isfinite(o.tol)) throw Error("pq_quantize: tol must be >= 0, got " + std::to_string(o.tol));
}

}  // namespace

double pq_loss(const PqProblem& p, const std::vector<int32_t>& codes, const Eigen::MatrixXd& codebook) {
    pq_detail::check_codes(codes, p.subvectors(), codebook.cols(), "pq_loss");
    return grouped_loss(weight_of(p) - reconstruct(p, codes, codebook), p.h);
}

double pq_layer_loss(const float* w, const float* w_hat, int64_t rows, int64_t cols,
                     const std::vector<Eigen::MatrixXd>& hessians, double damp) {
    using RowMatrixF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    const std::vector<Eigen::MatrixXd> h = pq_detail::damped_hessians(hessians, rows, cols, damp);
    const RowMatrixD e = Eigen::Map<const RowMatrixF>(w, rows, cols).cast<double>() -
                         Eigen::Map<const RowMatrixF>(w_hat, rows, cols).cast<double>();
    return grouped_loss(e, h);
}

Eigen::MatrixXd pq_refit(const PqProblem& p, const std::vector<int32_t>& codes, const Eigen::MatrixXd& codebook) {
    const int64_t k = codebook.cols(), d = p.d, nb = p.blocks, per = p.rows / p.groups;
    pq_detail::check_codes(codes, p.subvectors(), k, "pq_refit");
    Eigen::MatrixXd refit = codebook;
    if (p.identity) {  // no cross-block terms: the M-step is already the joint optimum
        this_isa::pq_update(p, codes, refit);
        return refit;
    }
    // b's rows: (H̃_g w_r)ᵀ = w_rᵀ H̃_g (H̃ symmetric)
    const Eigen::Map<const RowMatrixD> w = weight_of(p);
    RowMatrixD hw(p.rows, p.cols);
    for (int64_t g = 0; g < p.groups; ++g) hw.middleRows(g * per, per).noalias() = w.middleRows(g * per, per) * p.h[static_cast<size_t>(g)];

    // Codeword c's task fills column block c of A: for each member (r, j) of c and every block l
    // of row r, A[(a(r,l)), (c)] += H̃_g[l-block, j-block] (the transpose of the (c, a(r,l)) term,
    // by symmetry), reading H̃_g's column block j top to bottom. Only blocks on or below the
    // diagonal are needed by the (lower) Cholesky factorisation.
    const int64_t kd = k * d;
    Eigen::MatrixXd a = Eigen::MatrixXd::Zero(kd, kd);
    Eigen::VectorXd b = Eigen::VectorXd::Zero(kd);
    const pq_detail::CodeMembers members = pq_detail::members_by_code(codes, k);
    const int64_t avg = p.subvectors() / k + 1;
    parallel_for(k, pq_detail::grain_for(avg * p.cols * d), [&](int64_t c0, int64_t c1) {
        for (int64_t c = c0; c < c1; ++c) {
            for (int64_t i = members.start[static_cast<size_t>(c)]; i < members.start[static_cast<size_t>(c) + 1]; ++i) {
                const int64_t s = members.order[static_cast<size_t>(i)], r = s / nb, j = s % nb;
                const Eigen::MatrixXd& h = p.h[static_cast<size_t>(r / per)];
                const int32_t* row_codes = codes.data() + r * nb;
                for (int64_t q = 0; q < d; ++q) {
                    const double* hcol = h.col(j * d + q).data();
                    double* acol = a.col(c * d + q).data();
                    for (int64_t l = 0; l < nb; ++l) {
                        const int64_t n = row_codes[l];
                        if (n < c) continue;
                        for (int64_t t = 0; t < d; ++t) acol[n * d + t] += hcol[l * d + t];
                    }
                }
                b.segment(c * d, d) += hw.row(r).segment(j * d, d).transpose();
            }
        }
    });
    const double scale = a.diagonal().mean();
    if (!(scale > 0)) return refit;  // every input dead: nothing to fit
    const double ridge = kPqRefitRidge * scale;
    a.diagonal().array() += ridge;
    b += ridge * Eigen::Map<const Eigen::VectorXd>(codebook.data(), kd);
    Eigen::LLT<Eigen::Ref<Eigen::MatrixXd>> llt(a);
    if (llt.info() != Eigen::Success) return refit;  // numerically singular: keep the EM codebook
    Eigen::Map<Eigen::VectorXd>(refit.data(), kd) = llt.solve(b);
    return refit;
}

PqResult pq_quantize(const float* w, int64_t rows, int64_t cols, const std::vector<Eigen::MatrixXd>& hessians,
                     const PqOptions& o) {
    check_options(o);
    const PqProblem p = this_isa::pq_problem(w, rows, cols, hessians, o.d, o.damp);
    PqResult r;
    r.rows = rows;
    r.cols = cols;
    r.d = o.d;
    r.k = std::min(o.k, p.subvectors());
    std::mt19937_64 rng(o.seed);
    Eigen::MatrixXd codebook = this_isa::pq_init(p, r.k, rng);
    std::vector<int32_t> codes;
    double previous = 0;
    for (int it = 0; it < o.iters; ++it) {
        const double objective = this_isa::pq_assign(p, codebook, codes);
        if (it == 0) r.loss_init = this_isa::pq_loss(p, codes, codebook);
        r.empty_splits += this_isa::pq_split_empty(p, codebook, codes, rng);
        this_isa::pq_update(p, codes, codebook);
        r.iterations = it + 1;
        if (it > 0 && std::abs(previous - objective) <= o.tol * previous) {
            r.converged = true;
            break;
        }
        previous = objective;
    }
    r.loss_em = this_isa::pq_loss(p, codes, codebook);
    r.loss_refit = r.loss_em;
    if (o.refit && !p.identity && r.loss_em > 0 && r.k * r.d <= kPqRefitMaxUnknowns) {
        const Eigen::MatrixXd refit = this_isa::pq_refit(p, codes, codebook);
        const double loss = this_isa::pq_loss(p, codes, refit);
        if (loss < r.loss_em) {
            codebook = refit;
            r.loss_refit = loss;
            r.refit_applied = true;
        }
    }
    if (o.fp16) {
        for (Eigen::Index i = 0; i < codebook.size(); ++i) {
            double& x = codebook.data()[i];
            x = half_to_float(float_to_half(static_cast<float>(x)));
            if (!std::isfinite(x)) throw Error("pq_quantize: a codeword is beyond the float16 range");
        }
    }
    r.loss_final = this_isa::pq_loss(p, codes, codebook);
    r.codes = std::move(codes);
    // codebook (d × k column-major) is the k × d row-major layout already
    r.codebook.resize(static_cast<size_t>(r.k * r.d));
    Eigen::Map<Eigen::MatrixXf>(r.codebook.data(), r.d, r.k) = codebook.cast<float>();
    return r;
}

}  // namespace qcp::quant::QCP_ISA_NS
