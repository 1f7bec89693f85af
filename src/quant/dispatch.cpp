// The public GPTQ and PQ functions of gptq.hpp and pq.hpp: each calls the copy built for the
// CPU's instruction-set level (isa.hpp, qcp/core/isa.hpp), chosen once per process.
#include <algorithm>

#include "isa.hpp"
#include "qcp/core/isa.hpp"

namespace qcp::quant {

#ifdef QCP_QUANT_ISA_COPIES
namespace isa_v3 {
QCP_QUANT_ENTRY_POINTS
}  // namespace isa_v3
namespace isa_v4 {
QCP_QUANT_ENTRY_POINTS
}  // namespace isa_v4
#endif

namespace {

struct EntryPoints {
    const char* name;
    decltype(&isa_base::gptq_quantize) gptq_quantize;
    decltype(&isa_base::gptq_layer_loss) gptq_layer_loss;
    decltype(&isa_base::pq_quantize) pq_quantize;
    decltype(&isa_base::pq_layer_loss) pq_layer_loss;
    decltype(&isa_base::pq_problem) pq_problem;
    decltype(&isa_base::pq_init) pq_init;
    decltype(&isa_base::pq_assign) pq_assign;
    decltype(&isa_base::pq_split_empty) pq_split_empty;
    decltype(&isa_base::pq_update) pq_update;
    decltype(&isa_base::pq_refit) pq_refit;
    decltype(&isa_base::pq_loss) pq_loss;
    decltype(&isa_base::hessian_add_block) hessian_add_block;
};

#define QCP_QUANT_COPY(ns)                                                                                      \
    EntryPoints{#ns,           &ns::gptq_quantize, &ns::gptq_layer_loss, &ns::pq_quantize,   &ns::pq_layer_loss, \
                &ns::pq_problem, &ns::pq_init,      &ns::pq_assign,       &ns::pq_split_empty, &ns::pq_update,   \
                &ns::pq_refit,   &ns::pq_loss,          &ns::hessian_add_block}

const EntryPoints& entry_points() {
    static const EntryPoints copies[] = {
#ifdef QCP_QUANT_ISA_COPIES
        QCP_QUANT_COPY(isa_base), QCP_QUANT_COPY(isa_v3), QCP_QUANT_COPY(isa_v4)
#else
        QCP_QUANT_COPY(isa_base)  // one copy, built with the build's flags
#endif
    };
    static const EntryPoints chosen = choose_isa_copy(copies, "quant: GPTQ/PQ solvers and Hessian products");
    return chosen;
}

#undef QCP_QUANT_COPY

}  // namespace

GptqResult gptq_quantize(const float* w, int64_t rows, int64_t cols, const Eigen::MatrixXd& hessian,
                         const GptqOptions& o) {
    return entry_points().gptq_quantize(w, rows, cols, hessian, o);
}
double gptq_layer_loss(const float* w, const float* w_hat, int64_t rows, int64_t cols, const Eigen::MatrixXd& hessian) {
    return entry_points().gptq_layer_loss(w, w_hat, rows, cols, hessian);
}
PqResult pq_quantize(const float* w, int64_t rows, int64_t cols, const std::vector<Eigen::MatrixXd>& hessians,
                     const PqOptions& o) {
    return entry_points().pq_quantize(w, rows, cols, hessians, o);
}
double pq_layer_loss(const float* w, const float* w_hat, int64_t rows, int64_t cols,
                     const std::vector<Eigen::MatrixXd>& hessians, double damp) {
    return entry_points().pq_layer_loss(w, w_hat, rows, cols, hessians, damp);
}
PqProblem pq_problem(const float* w, int64_t rows, int64_t cols, const std::vector<Eigen::MatrixXd>& hessians,
                     int64_t d, double damp) {
    return entry_points().pq_problem(w, rows, cols, hessians, d, damp);
}
Eigen::MatrixXd pq_init(const PqProblem& p, int64_t k, std::mt19937_64& rng) { return entry_points().pq_init(p, k, rng); }
double pq_assign(const PqProblem& p, const Eigen::MatrixXd& codebook, std::vector<int32_t>& codes) {
    return entry_points().pq_assign(p, codebook, codes);
}
int64_t pq_split_empty(const PqProblem& p, const Eigen::MatrixXd& codebook, std::vector<int32_t>& codes,
                       std::mt19937_64& rng) {
    return entry_points().pq_split_empty(p, codebook, codes, rng);
}
void pq_update(const PqProblem& p, const std::vector<int32_t>& codes, Eigen::MatrixXd& codebook) {
    entry_points().pq_update(p, codes, codebook);
}
Eigen::MatrixXd pq_refit(const PqProblem& p, const std::vector<int32_t>& codes, const Eigen::MatrixXd& codebook) {
    return entry_points().pq_refit(p, codes, codebook);
}
double pq_loss(const PqProblem& p, const std::vector<int32_t>& codes, const Eigen::MatrixXd& codebook) {
    return entry_points().pq_loss(p, codes, codebook);
}
void hessian_add_block(const float* buffer, int64_t cols, int64_t ld, int64_t rows, Eigen::MatrixXd& total) {
    entry_points().hessian_add_block(buffer, cols, ld, rows, total);
}

std::vector<float> PqResult::dequantized() const {
    std::vector<float> w(static_cast<size_t>(rows * cols));
    for (size_t s = 0; s < codes.size(); ++s)
        std::copy_n(codebook.begin() + static_cast<std::ptrdiff_t>(codes[s]) * d, d, w.begin() + static_cast<std::ptrdiff_t>(s) * d);
    return w;
}

}  // namespace qcp::quant
