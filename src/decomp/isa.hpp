// The per-ISA copies of decomp (internal; see cmake/QcpIsa.cmake and qcp/core/isa.hpp).
//
// Every solver source is compiled once per level with QCP_ISA_NS = isa_base, isa_v3 or isa_v4,
// so each copy defines its own qcp::decomp::<QCP_ISA_NS>::cp_als, ... ; dispatch.cpp defines the
// public qcp::decomp functions of cp.hpp, which call one copy. Inside a copy, call its own entry
// points as this_isa::f(...): unqualified, argument-dependent lookup would also find the public
// qcp::decomp::f and the call would be ambiguous.
#pragma once

#include "qcp/decomp/cp.hpp"

#ifndef QCP_ISA_NS
#define QCP_ISA_NS isa_base
#endif

// Eigen objects cross between the copies (a CpResult made by one is freed by the caller), so
// every TU must agree on Eigen's heap alignment; qcp_core's compile definitions set it.
static_assert(EIGEN_MAX_ALIGN_BYTES == 64 && EIGEN_MAX_STATIC_ALIGN_BYTES == 64,
              "EIGEN_MAX_ALIGN_BYTES and EIGEN_MAX_STATIC_ALIGN_BYTES must be 64 in every TU (cmake/QcpIsa.cmake)");

// The entry points of one copy: the compute functions of cp.hpp.
#define QCP_DECOMP_ENTRY_POINTS                                                                          \
    CpResult cp_als(const TensorView& x, int rank, const CpAlsOptions& options);                          \
    CpResult quantize_factors(const TensorView& x, const CpResult& cp, int bits, Granularity granularity); \
    CpResult cp_admm(const TensorView& x, int rank, const AdmmOptions& options);                          \
    CpMetric cp_kronecker_metric(const Eigen::MatrixXd& h, int64_t j, int64_t k, double damp);            \
    double cp_metric_rel_error(const TensorView& x, const std::vector<Matrix>& factors, const CpMetric& metric); \
    CpResult cp_als_metric(const TensorView& x, int rank, const CpAlsOptions& options, const CpMetric& metric); \
    CpResult cp_admm_metric(const TensorView& x, int rank, const AdmmOptions& options, const CpMetric& metric); \
    double cp_rel_error(const TensorView& x, const std::vector<Matrix>& factors);                         \
    std::vector<float> cp_reconstruct(const std::vector<Matrix>& factors);

namespace qcp::decomp {
namespace QCP_ISA_NS {
QCP_DECOMP_ENTRY_POINTS
}  // namespace QCP_ISA_NS
namespace this_isa = QCP_ISA_NS;
}  // namespace qcp::decomp
