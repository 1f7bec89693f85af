// Helpers shared by the product-quantization sources (internal to quant).
#pragma once

#include <algorithm>
#include <Eigen/Core>
#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

#include "isa.hpp"
#include "qcp/core/error.hpp"

namespace qcp::quant::QCP_ISA_NS::pq_detail {

// Work per parallel task, in multiply-adds: enough to amortise a task; a function of the shape
// only, so chunks (and results) do not depend on the thread count.
constexpr int64_t kPqTaskWork = 1 << 18;

inline int64_t grain_for(int64_t work_per_item) {
    return std::max<int64_t>(1, kPqTaskWork / std::max<int64_t>(work_per_item, 1));
}

// H̃_g = H_g + damp·mean(diag H_g)·I for each H, after checking that rows split into
// hessians.size() groups, each H is cols × cols and finite, and damp ≥ 0 (qcp::Error otherwise).
std::vector<Eigen::MatrixXd> damped_hessians(const std::vector<Eigen::MatrixXd>& hessians, int64_t rows, int64_t cols,
                                             double damp);

// The sub-vectors of each codeword in increasing order (CSR): those of codeword c are
// order[start[c] .. start[c + 1]). Lets a task per codeword sum its members in a fixed order.
struct CodeMembers {
    std::vector<int64_t> start, order;
    int64_t size(int64_t c) const { return start[static_cast<size_t>(c) + 1] - start[static_cast<size_t>(c)]; }
};

// Throws qcp::Error naming `who` unless codes has n entries, each in [0, k).
inline void check_codes(const std::vector<int32_t>& codes, int64_t n, int64_t k, const char* who) {
    if (static_cast<int64_t>(codes.size()) != n)
        throw Error(std::string(who) + ": " + std::to_string(codes.size()) + " codes for " + std::to_string(n) + " sub-vectors");
    for (int32_t c : codes)
        if (c < 0 || c >= k) throw Error(std::string(who) + ": code " + std::to_string(c) + " outside 0.." + std::to_string(k - 1));
}

inline CodeMembers members_by_code(const std::vector<int32_t>& codes, int64_t k) {
    CodeMembers m;
    m.start.assign(static_cast<size_t>(k) + 1, 0);
    m.order.resize(codes.size());
    for (int32_t c : codes) ++m.start[static_cast<size_t>(c) + 1];
    std::partial_sum(m.start.begin(), m.start.end(), m.start.begin());
    std::vector<int64_t> fill(m.start.begin(), m.start.end() - 1);
    for (size_t s = 0; s < codes.size(); ++s) m.order[static_cast<size_t>(fill[static_cast<size_t>(codes[s])]++)] = static_cast<int64_t>(s);
    return m;
}

}  // namespace qcp::quant::QCP_ISA_NS::pq_detail
