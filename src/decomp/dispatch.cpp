// The public compute functions of cp.hpp: each calls the copy built for the CPU's instruction
// set level (isa.hpp, qcp/core/isa.hpp), chosen once per process.
#include "isa.hpp"
#include "qcp/core/isa.hpp"

namespace qcp::decomp {

#ifdef QCP_DECOMP_ISA_COPIES
namespace isa_v3 {
QCP_DECOMP_ENTRY_POINTS
}  // namespace isa_v3
namespace isa_v4 {
QCP_DECOMP_ENTRY_POINTS
}  // namespace isa_v4
#endif

namespace {

struct EntryPoints {
    const char* name;
    decltype(&isa_base::cp_als) cp_als;
    decltype(&isa_base::quantize_factors) quantize_factors;
    decltype(&isa_base::cp_admm) cp_admm;
    decltype(&isa_base::cp_kronecker_metric) cp_kronecker_metric;
    decltype(&isa_base::cp_metric_rel_error) cp_metric_rel_error;
    decltype(&isa_base::cp_als_metric) cp_als_metric;
    decltype(&isa_base::cp_admm_metric) cp_admm_metric;
    decltype(&isa_base::cp_rel_error) cp_rel_error;
    decltype(&isa_base::cp_reconstruct) cp_reconstruct;
};

#define QCP_DECOMP_COPY(ns)                                                                   \
    EntryPoints{#ns,                 &ns::cp_als,         &ns::quantize_factors, &ns::cp_admm, \
                &ns::cp_kronecker_metric, &ns::cp_metric_rel_error, &ns::cp_als_metric,        \
                &ns::cp_admm_metric,                                                           \
                &ns::cp_rel_error,   &ns::cp_reconstruct}

const EntryPoints& entry_points() {
    static const EntryPoints copies[] = {
#ifdef QCP_DECOMP_ISA_COPIES
        QCP_DECOMP_COPY(isa_base), QCP_DECOMP_COPY(isa_v3), QCP_DECOMP_COPY(isa_v4)
#else
        QCP_DECOMP_COPY(isa_base)  // one copy, built with the build's flags
#endif
    };
    static const EntryPoints chosen = choose_isa_copy(copies, "decomp: solvers");
    return chosen;
}

#undef QCP_DECOMP_COPY

}  // namespace

CpResult cp_als(const TensorView& x, int rank, const CpAlsOptions& options) {
    return entry_points().cp_als(x, rank, options);
}
CpResult quantize_factors(const TensorView& x, const CpResult& cp, int bits, Granularity granularity) {
    return entry_points().quantize_factors(x, cp, bits, granularity);
}
CpResult cp_admm(const TensorView& x, int rank, const AdmmOptions& options) {
    return entry_points().cp_admm(x, rank, options);
}
CpMetric cp_kronecker_metric(const Eigen::MatrixXd& h, int64_t j, int64_t k, double damp) {
    return entry_points().cp_kronecker_metric(h, j, k, damp);
}
double cp_metric_rel_error(const TensorView& x, const std::vector<Matrix>& factors, const CpMetric& metric) {
    return entry_points().cp_metric_rel_error(x, factors, metric);
}
CpResult cp_als_metric(const TensorView& x, int rank, const CpAlsOptions& options, const CpMetric& metric) {
    return entry_points().cp_als_metric(x, rank, options, metric);
}
CpResult cp_admm_metric(const TensorView& x, int rank, const AdmmOptions& options, const CpMetric& metric) {
    return entry_points().cp_admm_metric(x, rank, options, metric);
}
double cp_rel_error(const TensorView& x, const std::vector<Matrix>& factors) {
    return entry_points().cp_rel_error(x, factors);
}
std::vector<float> cp_reconstruct(const std::vector<Matrix>& factors) {
    return entry_points().cp_reconstruct(factors);
}

const char* solver_isa() { return entry_points().name; }

}  // namespace qcp::decomp
