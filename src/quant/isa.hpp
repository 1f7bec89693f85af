// The per-ISA copies of quant's GPTQ and PQ solvers (internal; as src/decomp/isa.hpp, see
// cmake/QcpIsa.cmake): each source is compiled once per level into qcp::quant::<QCP_ISA_NS>;
// dispatch.cpp defines the public functions. Inside a copy, call its own entry points as
// this_isa::f(...) (argument-dependent lookup would also find the public one).
#pragma once

#include "qcp/quant/gptq.hpp"
#include "qcp/quant/pq.hpp"

#ifndef QCP_ISA_NS
#define QCP_ISA_NS isa_base
#endif

// Eigen objects cross between the copies: one heap alignment everywhere (cmake/QcpIsa.cmake).
static_assert(EIGEN_MAX_ALIGN_BYTES == 64 && EIGEN_MAX_STATIC_ALIGN_BYTES == 64,
              "EIGEN_MAX_ALIGN_BYTES and EIGEN_MAX_STATIC_ALIGN_BYTES must be 64 in every TU (cmake/QcpIsa.cmake)");

#define QCP_QUANT_ENTRY_POINTS                                                                                 \
    GptqResult gptq_quantize(const float* w, int64_t rows, int64_t cols, const Eigen::MatrixXd& hessian,      \
                             const GptqOptions& o);                                                         \
    double gptq_layer_loss(const float* w, const float* w_hat, int64_t rows, int64_t cols,                    \
                           const Eigen::MatrixXd& hessian);                                                 \
    PqResult pq_quantize(const float* w, int64_t rows, int64_t cols, const std::vector<Eigen::MatrixXd>& hessians, \
                         const PqOptions& o);                                                               \
    double pq_layer_loss(const float* w, const float* w_hat, int64_t rows, int64_t cols,                      \
                         const std::vector<Eigen::MatrixXd>& hessians, double damp);                        \
    PqProblem pq_problem(const float* w, int64_t rows, int64_t cols, const std::vector<Eigen::MatrixXd>& hessians, \
                         int64_t d, double damp);                                                           \
    Eigen::MatrixXd pq_init(const PqProblem& p, int64_t k, std::mt19937_64& rng);                             \
    double pq_assign(const PqProblem& p, const Eigen::MatrixXd& codebook, std::vector<int32_t>& codes);       \
    int64_t pq_split_empty(const PqProblem& p, const Eigen::MatrixXd& codebook, std::vector<int32_t>& codes,  \
                           std::mt19937_64& rng);                                                           \
    void pq_update(const PqProblem& p, const std::vector<int32_t>& codes, Eigen::MatrixXd& codebook);         \
    Eigen::MatrixXd pq_refit(const PqProblem& p, const std::vector<int32_t>& codes, const Eigen::MatrixXd& codebook); \
    double pq_loss(const PqProblem& p, const std::vector<int32_t>& codes, const Eigen::MatrixXd& codebook);      \
    void hessian_add_block(const float* buffer, int64_t cols, int64_t ld, int64_t rows, Eigen::MatrixXd& total);

namespace qcp::quant {
namespace QCP_ISA_NS {
QCP_QUANT_ENTRY_POINTS
}  // namespace QCP_ISA_NS
namespace this_isa = QCP_ISA_NS;
// total += X Xᵀ for the first `rows` columns of the row-major cols × ld buffer X (hessian.cpp's
// flush), in the copy for the CPU's level (dispatch.cpp)
void hessian_add_block(const float* buffer, int64_t cols, int64_t ld, int64_t rows, Eigen::MatrixXd& total);
}  // namespace qcp::quant
