// The CP family: admm-cp (AO-ADMM with factors on the b-bit grid, weight or output objective) and
// cp-als (float CP-ALS, then the factors rounded to the grid: the baseline admm-cp must beat).
// Both replace the layer by its factorized chain (rewrite/cp_rewrite.hpp).
#include <algorithm>
#include <cmath>
#include <optional>

#include <Eigen/SVD>

#include "common.hpp"
#include "method.hpp"
#include "qcp/core/log.hpp"
#include "qcp/decomp/cp.hpp"
#include "qcp/rewrite/cp_rewrite.hpp"

namespace qcp::methods {

namespace {

// Rank ratios a budget tries for CP layers (ranks deduplicated, clamped to what the layer can use).
const std::vector<double> kBudgetRankRatios = {1.5, 2, 3, 4, 6, 8, 12, 16, 24};
// CP-ALS sweeps per measured rank: the damage ranking settles long before the fit converges.
constexpr int kBudgetAlsIters = 25;

// Largest rank worth using: beyond it the CP model is no longer limited by the rank.
int max_useful_rank(const rewrite::FactorTarget& t) {
    if (t.k == 1) return static_cast<int>(std::min(t.i, t.j));
    return static_cast<int>(std::min({t.i * t.j, t.i * t.k, t.j * t.k}));
}

// A rank picked by a rule (ratio, budget ladder) rounded down to a multiple of `align`; ranks
// below one multiple are kept (the chain is small either way).
int aligned_rank(int r, int align) { return align > 1 && r >= align ? r - r % align : r; }

// The next rank a budget top-up tries: the next multiple of `align` above r.
int next_rank(int r, int align) { return align > 1 ? (r / align + 1) * align : r + 1; }

// A matrix's best rank-R CP (two modes) is its truncated SVD (Eckart–Young), the fixed point
// CP-ALS converges to from its SVD start: one SVD serves every rank a budget measures. (CP-ALS
// per rank recomputed the eigenvectors of the larger side's Gram each time: 6625 × 6625 for
// PP-OCRv4 rec's output MatMul, minutes per rank.)
struct MatrixSvd {
    Eigen::MatrixXd u, v;   // i × m, j × m, m = min(i, j), by decreasing singular value
    Eigen::VectorXd sigma;  // m
    // Factors A = U_R Σ_R^½, B = V_R Σ_R^½ (equal column norms, as cp_als balances them).
    decomp::CpResult truncated(int rank) const {
        const Eigen::ArrayXd root = sigma.head(rank).array().sqrt();
        decomp::CpResult r;
        r.factors.push_back((u.leftCols(rank) * root.matrix().asDiagonal()).cast<float>());
        r.factors.push_back((v.leftCols(rank) * root.matrix().asDiagonal()).cast<float>());
        const double all = sigma.squaredNorm(), kept = sigma.head(rank).squaredNorm();
        r.rel_error = all > 0 ? std::sqrt(std::max(all - kept, 0.0) / all) : 0.0;
        r.status = decomp::SolveStatus::Converged;
        return r;
    }
};

MatrixSvd matrix_svd(const rewrite::FactorTarget& t) {
    const Eigen::MatrixXd x =
        Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(t.values.data(), t.i, t.j).cast<double>();
    const Eigen::BDCSVD<Eigen::MatrixXd> svd(x, Eigen::ComputeThinU | Eigen::ComputeThinV);
    return {svd.matrixU(), svd.matrixV(), svd.singularValues()};
}

class CpMethod : public Method {
public:
    // The CP chain needs an ungrouped 2-D conv or a matrix (rewrite/cp_rewrite.hpp).
    std::string blocker(const ir::Layer& l) const override {
        if (!l.unusable.empty()) return l.unusable;
        if (l.op == "ConvTranspose") return "ConvTranspose is not factorized";
        if (l.op == "Conv" && l.weight_shape.size() != 4) return "only 2-D convs are factorized";
        if (l.groups != 1) return l.groups == l.weight_shape.at(0) ? "depthwise conv" : "grouped conv";
        return "";
    }
    void plan(const PlanInput& in, LayerPlan& p) const override;
    std::vector<budget::Candidate> candidates(const BudgetInput& in) const override;
    bool budget_uses_hessian(const std::string& objective) const override { return objective == "output"; }
    void budget_top_up(const TopUpInput& in) const override;
    LayerResult apply(const SolveInput& in, LayerPlan& p) const override;

protected:
    // The factors of `target` at p.rank / p.bits; sets the method's own plan fields.
    virtual decomp::CpResult solve(const SolveInput& in, const rewrite::FactorTarget& target, LayerPlan& p) const = 0;
};

void CpMethod::plan(const PlanInput& in, LayerPlan& p) const {
    const ir::Layer& l = in.layer;
    const bool stem = l.op == "Conv" && l.weight_shape.size() >= 2 && l.weight_shape[1] * l.groups <= 3;
    p.reason = blocker(l);
    if (!p.reason.empty()) return;
    if (stem && !in.explicit_rule) p.reason = "stem conv (Cin <= 3), excluded by default";
    else if (in.last_layer && !in.explicit_rule) p.reason = "last classifier, excluded by default";
    if (!p.reason.empty()) return;
    const auto target = rewrite::factor_target(in.graph, l);
    int r = in.rank ? *in.rank : rewrite::rank_for_ratio(target, in.rank_ratio.value_or(2.0));
    if (r > max_useful_rank(target)) {
        spdlog::warn("{}: rank {} clamped to {}, the most this layer can use", l.name, r, max_useful_rank(target));
        r = max_useful_rank(target);
    }
    if (!in.rank) r = aligned_rank(r, in.options.rank_align);
    p.rank = r;
    const int64_t bias = l.params - target.i * target.j * target.k;
    const int64_t after = rewrite::factorized_params(target, r) + bias;
    if (after >= l.params) {
        p.reason = "rank " + std::to_string(r) + " would not reduce size";
        return;
    }
    p.selected = true;
    p.params_after = after;
    p.weight_bits_after = rewrite::factorized_params(target, r) * p.bits + 32 * bias;  // scales added after solve
    p.macs_after = rewrite::factorized_macs(in.graph, l, r);
}

std::vector<budget::Candidate> CpMethod::candidates(const BudgetInput& in) const {
    const CompressOptions& o = in.options;
    const auto target = rewrite::factor_target(in.graph, in.layer);
    const int64_t bias = in.layer.params - target.i * target.j * target.k;
    std::optional<decomp::CpMetric> metric;
    if (in.hessian) metric = decomp::cp_kronecker_metric(*in.hessian, target.j, target.k, o.damp);
    std::vector<int> ranks;
    for (double r : kBudgetRankRatios) {
        const int rank = aligned_rank(std::min(rewrite::rank_for_ratio(target, r), max_useful_rank(target)), o.rank_align);
        if (rewrite::factorized_params(target, rank) + bias < in.layer.params) ranks.push_back(rank);
    }
    std::sort(ranks.begin(), ranks.end());
    ranks.erase(std::unique(ranks.begin(), ranks.end()), ranks.end());
    std::vector<budget::Candidate> out;
    const decomp::AdmmOptions admm;  // the solver's CP-ALS start settings
    std::optional<MatrixSvd> svd;
    if (target.k == 1 && !ranks.empty()) svd = matrix_svd(target);
    for (int rank : ranks) {
        decomp::CpResult als;
        if (svd) {
            als = svd->truncated(rank);
        } else {
            decomp::CpAlsOptions init = admm.init;
            init.seed = o.seed;
            init.max_iters = kBudgetAlsIters;
            als = decomp::cp_als(target.view(), rank, init);
        }
        for (int b : in.bits) {
            const decomp::CpResult q = decomp::quantize_factors(target.view(), als, b, in.plan.granularity);
            const double err = metric ? decomp::cp_metric_rel_error(target.view(), q.factors, *metric) : q.rel_error;
            budget::Candidate c;
            c.rank = rank;
            c.bits = b;
            c.params_after = rewrite::factorized_params(target, rank) + bias;
            // codes, biases, and scales: three per factor, or per channel / rank column, plus the
            // per-output-channel scales and bias a statistics correction adds
            const int64_t scales = in.plan.granularity == decomp::Granularity::Tensor ? 3 : target.i + 2 * rank;
            const int64_t rest = 32 * bias + 32 * scales + (o.calib.empty() ? 0 : 32 * target.i * (bias > 0 ? 1 : 2));
            c.weight_bits_after = rewrite::factorized_params(target, rank) * b + rest;
            c.stored_bits_after = rewrite::factorized_params(target, rank) * code_width(b, o, in.opset) + rest;
            c.macs_after = rewrite::factorized_macs(in.graph, in.layer, rank);
            c.damage = err * err;
            out.push_back(c);
        }
    }
    return out;
}

// Ranks come from a coarse ladder; what the ladder leaves of the budget goes to the planned CP
// layers as extra rank, most damaged first, so the target is met closely, never past the layer's
// own params or MACs (a rank that does not shrink the layer is not compression).
void CpMethod::budget_top_up(const TopUpInput& in) const {
    const auto& curves = in.curves;
    const auto& pick = in.pick;
    auto chosen = [&](size_t c) -> const budget::Candidate& { return curves[c].options[static_cast<size_t>(pick[c])]; };
    double used = 0;
    for (size_t c = 0; c < curves.size(); ++c) {
        const LayerPlan& p = in.plans[curves[c].layer];
        used += in.cost == budget::Cost::Macs
                    ? double(std::max<int64_t>(p.macs_after, 0))
                    : double(p.weight_bits_after) +
                          (in.cost == budget::Cost::StoredBits && p.selected ? double(chosen(c).stored_bits_after - p.weight_bits_after) : 0.0);
    }
    std::vector<size_t> order;
    for (size_t c = 0; c < curves.size(); ++c)
        if (pick[c] >= 0 && chosen(c).rank > 0) order.push_back(c);  // the CP layers (mixed budgets have others)
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return chosen(a).damage > chosen(b).damage; });
    for (size_t c : order) {
        LayerPlan& p = in.plans[curves[c].layer];
        const ir::Layer& l = in.layers[curves[c].layer];
        const auto target = rewrite::factor_target(in.graph, l);
        // stored width per code, as candidates() counts it
        const int64_t width = in.cost == budget::Cost::StoredBits ? code_width(p.bits, in.options, in.opset) : p.bits;
        for (;;) {
            const int next = next_rank(p.rank, in.options.rank_align);
            if (next > max_useful_rank(target)) break;
            const int64_t more = rewrite::factorized_params(target, next) - rewrite::factorized_params(target, p.rank);
            const double step = in.cost == budget::Cost::Macs
                                    ? double(rewrite::factorized_macs(in.graph, l, next) - p.macs_after)
                                    : double(more * width);
            const int64_t params_next = p.params_after + more;
            const int64_t macs_next = rewrite::factorized_macs(in.graph, l, next);
            const int64_t bits_next = p.weight_bits_after + more * p.bits;
            const budget::Candidate grown{p.method, next, p.bits, 0, 0, params_next, bits_next, macs_next,
                                          bits_next + more * (width - p.bits), 0.0};
            if (used + step > in.limit || !budget::reduces(grown, p.params_before, p.weight_bits_before, p.macs_before)) break;
            used += step;
            p.weight_bits_after = bits_next;
            p.params_after = params_next;
            p.rank = next;
            p.macs_after = macs_next;
        }
    }
}

LayerStatus layer_status(decomp::SolveStatus s) {
    switch (s) {
        case decomp::SolveStatus::Converged: return LayerStatus::Converged;
        case decomp::SolveStatus::MaxIterations: return LayerStatus::MaxIterations;
        case decomp::SolveStatus::Diverged: return LayerStatus::Diverged;
    }
    return LayerStatus::Diverged;
}

LayerResult CpMethod::apply(const SolveInput& in, LayerPlan& p) const {
    const auto target = rewrite::factor_target(in.out.graph, in.layer);
    const decomp::CpResult cp = solve(in, target, p);
    LayerResult r;
    r.rel_error = cp.rel_error;
    r.status = layer_status(cp.status);
    r.iterations = cp.iterations;
    r.rewrite = rewrite::rewrite_cp(in.out, in.layer, cp, resolved_format(in.options));
    p.storage = r.rewrite->storage;
    p.weight_bits_after = r.rewrite->storage_bits;
    p.macs_after = r.rewrite->macs;
    r.progress = fmt::format("{} rank {} {}-bit: rel. error {:.4f}, {} after {} iterations", name(), p.rank, p.bits, cp.rel_error,
                             layer_status_name(r.status), cp.iterations);
    return r;
}

decomp::AdmmOptions admm_options(const LayerPlan& p, const CompressOptions& o) {
    decomp::AdmmOptions opt;
    opt.bits = p.bits;
    opt.granularity = p.granularity;
    opt.init.seed = o.seed;
    return opt;
}

class AdmmCp final : public CpMethod {
public:
    const MethodInfo& info() const override {
        static const MethodInfo i{"admm-cp", "rank-R CP factorization with factors on a b-bit grid, solved by AO-ADMM", true,
                                  CalibUse::Optional, SweepAxes::BitsAndRankRatio, "Conv (2-D, ungrouped), Gemm, MatMul"};
        return i;
    }
    bool uses_input_hessian(const std::string& objective) const override { return objective == "output"; }

protected:
    decomp::CpResult solve(const SolveInput& in, const rewrite::FactorTarget& target, LayerPlan& p) const override {
        const decomp::AdmmOptions opt = admm_options(p, in.options);
        decomp::CpResult cp;
        const auto h = in.hessians.find(in.index);
        if (in.objective == "output" && h != in.hessians.end()) {
            const auto metric = decomp::cp_kronecker_metric(h->second, target.j, target.k, in.options.damp);
            in.hessians.erase(h);
            cp = decomp::cp_admm_metric(target.view(), p.rank, opt, metric);
            p.output_rel_error = cp.metric_rel_error;
            p.objective = "output";
        } else {
            cp = decomp::cp_admm(target.view(), p.rank, opt);
            p.objective = "weight";
        }
        p.rel_error_init = cp.rel_error_start;
        return cp;
    }
};

class CpAls final : public CpMethod {
public:
    const MethodInfo& info() const override {
        static const MethodInfo i{"cp-als", "float CP-ALS, then round-to-nearest of the factors (the conventional baseline)", true,
                                  CalibUse::Optional, SweepAxes::BitsAndRankRatio, "Conv (2-D, ungrouped), Gemm, MatMul"};
        return i;
    }

protected:
    decomp::CpResult solve(const SolveInput& in, const rewrite::FactorTarget& target, LayerPlan& p) const override {
        const decomp::CpResult fl = decomp::cp_als(target.view(), p.rank, admm_options(p, in.options).init);
        decomp::CpResult cp = decomp::quantize_factors(target.view(), fl, p.bits, p.granularity);
        cp.iterations = fl.iterations;
        cp.status = fl.status;
        p.rel_error_init = cp.rel_error;
        return cp;
    }
};

}  // namespace

const Method& admm_cp() {
    static const AdmmCp m;
    return m;
}

const Method& cp_als() {
    static const CpAls m;
    return m;
}

}  // namespace qcp::methods
