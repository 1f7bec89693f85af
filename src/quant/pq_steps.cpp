// The k-means steps of product quantization (pq.hpp): problem set-up, k-means++ init, E-step,
// empty-cluster splits and M-step.
#include <Eigen/Cholesky>
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>

#include "qcp/core/error.hpp"
#include "qcp/core/parallel.hpp"
#include "qcp/quant/pq.hpp"
#include "pq_util.hpp"

namespace qcp::quant::QCP_ISA_NS {
namespace {

using pq_detail::grain_for;

std::string dims(int64_t a, int64_t b) { return std::to_string(a) + "x" + std::to_string(b); }

// A uniform double in [0, 1) from the top 53 bits: the same on every standard library.
double uniform01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

// A standard normal by Box-Muller on uniform01, for the same reason.
double normal(std::mt19937_64& rng) {
    const double u1 = 1.0 - uniform01(rng), u2 = uniform01(rng);
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

// Group g holds rows [g·per, (g+1)·per).
int64_t rows_per_group(const PqProblem& p) { return p.rows / p.groups; }

// E-step: sub-vectors gathered per tile and scored kPqLanes at a time in a GCC/Clang vector type
// (one register with AVX-512, two with AVX2): the compare-and-select of the running argmin does
// not auto-vectorise.
constexpr int64_t kPqAssignTile = 128;
constexpr int64_t kPqLanes = 8;
using Lanes = double __attribute__((vector_size(kPqLanes * sizeof(double))));

// T = (L_mᵀ C)ᵀ, k × d: row c is codeword c in block m's transformed coordinates.
Eigen::MatrixXd transformed_codebook(const PqProblem& p, int64_t m, const Eigen::MatrixXd& codebook) {
    return codebook.transpose() * p.chol[static_cast<size_t>(m)];
}

}  // namespace

std::vector<Eigen::MatrixXd> pq_detail::damped_hessians(const std::vector<Eigen::MatrixXd>& hessians, int64_t rows,
                                                        int64_t cols, double damp) {
    if (!(damp >= 0) || !std::isfinite(damp)) throw Error("pq_quantize: damp must be >= 0, got " + std::to_string(damp));
    const auto groups = static_cast<int64_t>(hessians.size());
    if (groups > 0 && rows % groups != 0)
        throw Error("pq_quantize: " + std::to_string(rows) + " rows do not split into " + std::to_string(groups) +
                    " Hessian groups");
    std::vector<Eigen::MatrixXd> out;
    for (int64_t g = 0; g < groups; ++g) {
        const Eigen::MatrixXd& h = hessians[static_cast<size_t>(g)];
        if (h.rows() != cols || h.cols() != cols)
            throw Error("pq_quantize: Hessian " + std::to_string(g) + " is " + dims(h.rows(), h.cols()) + ", expected " +
                        dims(cols, cols));
        if (!h.allFinite()) throw Error("pq_quantize: Hessian " + std::to_string(g) + " has non-finite entries");
        Eigen::MatrixXd hd = h;
        hd.diagonal().array() += damp * h.diagonal().mean();
        out.push_back(std::move(hd));
    }
    return out;
}

PqProblem pq_problem(const float* w, int64_t rows, int64_t cols, const std::vector<Eigen::MatrixXd>& hessians,
                     int64_t d, double damp) {
    if (rows < 1 || cols < 1) throw Error("pq_quantize: empty weight " + dims(rows, cols));
    if (d < 1) throw Error("pq_quantize: sub-vector length d must be >= 1, got " + std::to_string(d));
    if (cols % d != 0)
        throw Error("pq_quantize: " + std::to_string(cols) + " inputs are not a multiple of the sub-vector length " +
                    std::to_string(d));
    for (int64_t i = 0; i < rows * cols; ++i)
        if (!std::isfinite(w[i])) throw Error("pq_quantize: the weight has non-finite values");

    const auto groups = static_cast<int64_t>(hessians.size());
    PqProblem p;
    p.rows = rows;
    p.cols = cols;
    p.d = d;
    p.blocks = cols / d;
    p.groups = std::max<int64_t>(groups, 1);
    p.identity = groups == 0;
    p.h = pq_detail::damped_hessians(hessians, rows, cols, damp);
    p.metric.resize(static_cast<size_t>(p.metric_blocks()));
    p.chol.resize(p.metric.size());
    for (int64_t m = 0; m < p.metric_blocks(); ++m) {
        const int64_t g = m / p.blocks, j = m % p.blocks;
        const bool dead = p.identity || p.h[static_cast<size_t>(g)].diagonal().isZero(0);
        Eigen::MatrixXd mb = Eigen::MatrixXd::Identity(d, d);
        if (!dead) mb = p.h[static_cast<size_t>(g)].block(j * d, j * d, d, d);
        Eigen::LLT<Eigen::MatrixXd> llt(mb);
        if (llt.info() != Eigen::Success)
            throw Error("pq_quantize: the metric of inputs " + std::to_string(j * d) + ".." + std::to_string(j * d + d - 1) +
                        " (Hessian " + std::to_string(g) + ") is not positive definite after damping; raise damp");
        p.chol[static_cast<size_t>(m)] = llt.matrixL();
        p.metric[static_cast<size_t>(m)] = std::move(mb);
    }
    // v's column-major storage is W's row-major storage, in double
    p.v = Eigen::Map<const Eigen::MatrixXf>(w, d, rows * p.blocks).cast<double>();
    p.u.resize(d, p.subvectors());
    p.mv.resize(d, p.subvectors());
    const int64_t per = rows_per_group(p);
    parallel_for(p.metric_blocks(), grain_for(per * d * d), [&](int64_t m0, int64_t m1) {
        for (int64_t m = m0; m < m1; ++m) {
            const int64_t g = m / p.blocks, j = m % p.blocks;
            const Eigen::MatrixXd& l = p.chol[static_cast<size_t>(m)];
            for (int64_t r = g * per; r < (g + 1) * per; ++r) {
                const int64_t i = r * p.blocks + j;
                p.u.col(i).noalias() = l.transpose() * p.v.col(i);
                p.mv.col(i).noalias() = p.metric[static_cast<size_t>(m)] * p.v.col(i);
            }
        }
    });
    return p;
}

Eigen::MatrixXd pq_init(const PqProblem& p, int64_t k, std::mt19937_64& rng) {
    const int64_t n = p.subvectors(), per = rows_per_group(p);
    if (k < 1 || k > n) throw Error("pq_init: k must be in 1.." + std::to_string(n) + ", got " + std::to_string(k));
    Eigen::MatrixXd codebook(p.d, k);
    // nearest-centre distance of every sub-vector in its metric; updated with each new centre
    std::vector<double> best(static_cast<size_t>(n), std::numeric_limits<double>::infinity());
    // serial: one pass is too little work to pay for a parallel region per centre
    auto take = [&](int64_t c, int64_t s) {
        codebook.col(c) = p.v.col(s);
        for (int64_t m = 0; m < p.metric_blocks(); ++m) {
            const int64_t g = m / p.blocks, j = m % p.blocks;
            const Eigen::VectorXd t = p.chol[static_cast<size_t>(m)].transpose() * codebook.col(c);
            for (int64_t r = g * per; r < (g + 1) * per; ++r) {
                const int64_t i = r * p.blocks + j;
                best[static_cast<size_t>(i)] = std::min(best[static_cast<size_t>(i)], (p.u.col(i) - t).squaredNorm());
            }
        }
    };
    take(0, static_cast<int64_t>(uniform01(rng) * static_cast<double>(n)));
    for (int64_t c = 1; c < k; ++c) {
        const double total = std::accumulate(best.begin(), best.end(), 0.0);
        int64_t s = 0;
        if (total > 0) {
            // the first sub-vector whose cumulative weight passes the draw (never a zero-weight one)
            const double target = uniform01(rng) * total;
            double acc = 0;
            int64_t last_positive = 0;
            for (s = 0; s < n; ++s) {
                if (best[static_cast<size_t>(s)] <= 0) continue;
                last_positive = s;
                acc += best[static_cast<size_t>(s)];
                if (acc > target) break;
            }
            if (s == n) s = last_positive;  // rounding left the draw past the end
        } else {
            // fewer distinct sub-vectors than codewords: duplicates, re-filled by the splits
            s = static_cast<int64_t>(uniform01(rng) * static_cast<double>(n));
        }
        take(c, s);
    }
    return codebook;
}

double pq_assign(const PqProblem& p, const Eigen::MatrixXd& codebook, std::vector<int32_t>& codes) {
    const int64_t n = p.subvectors(), per = rows_per_group(p), k = codebook.cols(), d = p.d;
    if (codebook.rows() != d || k < 1) throw Error("pq_assign: codebook is " + dims(codebook.rows(), k));
    codes.resize(static_cast<size_t>(n));
    std::vector<double> dist(static_cast<size_t>(n));
    // argmin_c ‖u − T_c‖² = argmin_c (‖T_c‖²/2 − T_c·u). For a tile of sub-vectors (one lane each)
    // every codeword's score is formed and compared in flat loops the compiler vectorises; ties
    // keep the lowest index. The chosen codeword's distance is then recomputed directly (no
    // cancellation in J).
    constexpr int64_t groups_per_tile = kPqAssignTile / kPqLanes;
    parallel_for(p.metric_blocks(), grain_for(per * k * d), [&](int64_t m0, int64_t m1) {
        // ut[i·groups_per_tile + q / kPqLanes][q % kPqLanes] = coordinate i of the tile's row q
        std::vector<Lanes> ut(static_cast<size_t>(d * groups_per_tile));
        for (int64_t m = m0; m < m1; ++m) {
            const int64_t g = m / p.blocks, j = m % p.blocks;
            const Eigen::MatrixXd t = transformed_codebook(p, m, codebook);
            const Eigen::VectorXd half_norm = 0.5 * t.rowwise().squaredNorm();
            for (int64_t r0 = g * per; r0 < (g + 1) * per; r0 += kPqAssignTile) {
                const int64_t rows = std::min(kPqAssignTile, (g + 1) * per - r0);
                std::fill(ut.begin(), ut.end(), Lanes{});  // rows past the end: zeros, unused
                for (int64_t q = 0; q < rows; ++q)
                    for (int64_t i = 0; i < d; ++i)
                        ut[static_cast<size_t>(i * groups_per_tile + q / kPqLanes)][q % kPqLanes] = p.u(i, (r0 + q) * p.blocks + j);
                for (int64_t q0 = 0; q0 < rows; q0 += kPqLanes) {
                    Lanes best = Lanes{} + std::numeric_limits<double>::infinity(), arg = Lanes{};
                    for (int64_t c = 0; c < k; ++c) {
                        Lanes score = Lanes{} + half_norm[c];
                        for (int64_t i = 0; i < d; ++i) score -= t(c, i) * ut[static_cast<size_t>(i * groups_per_tile + q0 / kPqLanes)];
                        const auto lower = score < best;
                        best = lower ? score : best;
                        arg = lower ? Lanes{} + static_cast<double>(c) : arg;
                    }
                    for (int64_t l = 0; l < std::min<int64_t>(kPqLanes, rows - q0); ++l) {
                        const int64_t s = (r0 + q0 + l) * p.blocks + j;
                        const auto a = static_cast<int32_t>(arg[l]);
                        codes[static_cast<size_t>(s)] = a;
                        dist[static_cast<size_t>(s)] = (p.u.col(s) - t.row(a).transpose()).squaredNorm();
                    }
                }
            }
        }
    });
    return std::accumulate(dist.begin(), dist.end(), 0.0);
}

int64_t pq_split_empty(const PqProblem& p, const Eigen::MatrixXd& codebook, std::vector<int32_t>& codes,
                       std::mt19937_64& rng) {
    const int64_t k = codebook.cols();
    pq_detail::check_codes(codes, p.subvectors(), k, "pq_split_empty");
    std::vector<std::vector<int64_t>> members(static_cast<size_t>(k));
    for (size_t s = 0; s < codes.size(); ++s) members.at(static_cast<size_t>(codes[s])).push_back(static_cast<int64_t>(s));
    int64_t splits = 0;
    for (int64_t e = 0; e < k; ++e) {
        if (!members[static_cast<size_t>(e)].empty()) continue;
        size_t donor = 0;
        for (size_t c = 1; c < members.size(); ++c)
            if (members[c].size() > members[donor].size()) donor = c;
        std::vector<int64_t>& from = members[donor];
        if (from.size() < 2) throw Error("pq_split_empty: more codewords than sub-vectors");
        Eigen::VectorXd delta(p.d);
        for (int64_t i = 0; i < p.d; ++i) delta[i] = normal(rng);
        std::vector<std::pair<double, int64_t>> side;
        side.reserve(from.size());
        for (int64_t s : from) side.emplace_back(-delta.dot(p.v.col(s) - codebook.col(static_cast<Eigen::Index>(donor))), s);
        std::sort(side.begin(), side.end());  // largest projection first, ties by index
        const size_t moved = from.size() / 2;
        std::vector<int64_t>& to = members[static_cast<size_t>(e)];
        for (size_t i = 0; i < moved; ++i) {
            to.push_back(side[i].second);
            codes[static_cast<size_t>(side[i].second)] = static_cast<int32_t>(e);
        }
        std::sort(to.begin(), to.end());
        std::vector<int64_t> kept;
        for (size_t i = moved; i < side.size(); ++i) kept.push_back(side[i].second);
        std::sort(kept.begin(), kept.end());
        from = std::move(kept);
        ++splits;
    }
    return splits;
}

void pq_update(const PqProblem& p, const std::vector<int32_t>& codes, Eigen::MatrixXd& codebook) {
    const int64_t k = codebook.cols();
    if (codebook.rows() != p.d) throw Error("pq_update: codebook has " + std::to_string(codebook.rows()) + " rows, expected d");
    pq_detail::check_codes(codes, p.subvectors(), k, "pq_update");
    const pq_detail::CodeMembers members = pq_detail::members_by_code(codes, k);
    const std::vector<int64_t>& start = members.start;
    const std::vector<int64_t>& order = members.order;

    const int64_t avg = p.subvectors() / k + 1;
    parallel_for(k, grain_for(avg * p.d * p.d), [&](int64_t c0, int64_t c1) {
        Eigen::MatrixXd a(p.d, p.d);
        Eigen::VectorXd b(p.d);
        for (int64_t c = c0; c < c1; ++c) {
            const int64_t first = start[static_cast<size_t>(c)], last = start[static_cast<size_t>(c) + 1];
            if (first == last) continue;
            b.setZero();
            if (p.identity) {
                for (int64_t i = first; i < last; ++i) b += p.v.col(order[static_cast<size_t>(i)]);
                codebook.col(c) = b / static_cast<double>(last - first);
                continue;
            }
            a.setZero();
            for (int64_t i = first; i < last; ++i) {
                const int64_t s = order[static_cast<size_t>(i)];
                a += p.metric[static_cast<size_t>(p.metric_of(s))];
                b += p.mv.col(s);
            }
            codebook.col(c) = a.llt().solve(b);  // a sum of positive definite blocks
        }
    });
}

}  // namespace qcp::quant::QCP_ISA_NS
