// Benchmark of the CP solvers (run on demand; results go to docs/BENCHMARKS.md).
//   bench_cp [--shape I,J,K] [--rank R] [--bits B] [--threads N] [--model M.onnx]
// Prints seconds for CP-ALS and AO-ADMM, outer/inner iterations, seconds per outer iteration,
// and the GFLOP/s of one MTTKRP next to this machine's Eigen GEMM rate on the same shapes.
#include <Eigen/Core>
#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "qcp/core/parallel.hpp"
#include "qcp/decomp/cp.hpp"
#include "qcp/ir/layers.hpp"
#include "qcp/onnx_io/onnx_io.hpp"
#include "qcp/rewrite/cp_rewrite.hpp"
#include "../src/decomp/cp_common.hpp"  // the MTTKRP kernels, timed directly

using namespace qcp;
using Clock = std::chrono::steady_clock;

static double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

static void run(const decomp::TensorView& x, int rank, int bits, const std::string& label) {
    auto t0 = Clock::now();
    const decomp::CpResult als = decomp::cp_als(x, rank);
    const double t_als = since(t0);
    decomp::AdmmOptions opt;
    opt.bits = bits;
    t0 = Clock::now();
    const decomp::CpResult admm = decomp::cp_admm(x, rank, opt);
    const double t_admm = since(t0) - 0;  // includes its own CP-ALS start
    const double admm_only = t_admm - t_als;
    std::printf("%-28s R=%-5d cp-als %6.2f s (%3d it, err %.4f) | admm %6.2f s total, %.3f s/outer (%d outer, %.1f inner/outer), err %.4f (rounded cp-als %.4f)\n",
                label.c_str(), rank, t_als, als.iterations, als.rel_error, t_admm,
                admm.iterations ? admm_only / admm.iterations : 0.0, admm.iterations,
                admm.iterations ? double(admm.inner_iterations) / admm.iterations : 0.0, admm.rel_error, admm.rel_error_start);
}

// GFLOP/s of the mode-0 MTTKRP GEMM (I × JK) · (JK × R) against a plain Eigen GEMM of that shape.
static void gemm_rate(int64_t i, int64_t jk, int rank) {
    using M = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    M a = M::Random(i, jk), b = M::Random(jk, rank), c(i, rank);
    const int reps = 5;
    auto t0 = Clock::now();
    for (int r = 0; r < reps; ++r) c.noalias() = a * b;
    const double t = since(t0) / reps;
    std::printf("Eigen GEMM %lldx%lldx%d (1 thread): %.1f GFLOP/s\n", (long long)i, (long long)jk, rank,
                2.0 * i * jk * rank / t / 1e9);
}

// GFLOP/s of one full MTTKRP sweep (modes 0, 1, 2: two GEMM-sized contractions) at rank R.
static void mttkrp_rate(const decomp::TensorView& x, int rank) {
    std::vector<decomp::Matrix> f;
    for (int n = 0; n < x.modes(); ++n) f.push_back(decomp::detail::random_matrix(x.dim(n), rank, 1 + n));
    decomp::detail::Mttkrp m(x, rank);
    const int reps = 3;
    auto t0 = Clock::now();
    for (int r = 0; r < reps; ++r)
        for (int n = 0; n < x.modes(); ++n) (void)m.mode(n, f);
    const double t = since(t0) / reps;
    const double flops = 2.0 * x.numel() * rank * 2 + 2.0 * rank * x.j * x.k * 2;
    std::printf("MTTKRP sweep (all modes, %d threads): %.3f s, %.1f GFLOP/s\n", num_threads(), t, flops / t / 1e9);
}

int main(int argc, char** argv) {
    std::vector<int64_t> shape = {512, 512, 9};
    int rank = 1141, bits = 4, threads = 1;
    std::string model;
    for (int a = 1; a + 1 < argc; a += 2) {
        const std::string k = argv[a], v = argv[a + 1];
        if (k == "--shape") std::sscanf(v.c_str(), "%lld,%lld,%lld", (long long*)&shape[0], (long long*)&shape[1], (long long*)&shape[2]);
        else if (k == "--rank") rank = std::stoi(v);
        else if (k == "--bits") bits = std::stoi(v);
        else if (k == "--threads") threads = std::stoi(v);
        else if (k == "--model") model = v;
    }
    set_num_threads(threads);
    if (!model.empty()) {
        const ir::Model m = onnx_io::load_model(model);
        for (const auto& l : ir::find_layers(m.graph)) {
            // ungrouped 2-D convs past the stem (the layers admm-cp factorizes by default)
            if (!l.unusable.empty() || l.op != "Conv" || l.groups != 1 || l.weight_shape.size() != 4 || l.weight_shape[1] <= 3) continue;
            const auto t = rewrite::factor_target(m.graph, l);
            run(t.view(), rewrite::rank_for_ratio(t, 2.0), bits, l.name);
        }
        return 0;
    }
    std::mt19937 gen(0);
    std::normal_distribution<float> n(0.f, 1.f);
    std::vector<float> x(static_cast<size_t>(shape[0] * shape[1] * shape[2]));
    for (auto& v : x) v = n(gen);
    gemm_rate(shape[0], shape[1] * shape[2], rank);
    mttkrp_rate({x.data(), shape[0], shape[1], shape[2]}, rank);
    if (std::getenv("BENCH_MTTKRP_ONLY")) return 0;
    run({x.data(), shape[0], shape[1], shape[2]}, rank, bits, "random");
    return 0;
}
