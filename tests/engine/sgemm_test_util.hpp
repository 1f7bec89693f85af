// Shared by the Conv and Gemm tests: run every SGEMM micro-kernel this CPU supports.
#pragma once

#include <random>
#include <vector>

#include "../../src/engine/kernels/sgemm.hpp"
#include "qcp/core/tensor.hpp"

namespace qcp::test {

// Uniform in [-1, 1).
inline Tensor random_tensor(Shape shape, std::mt19937& rng) {
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    Tensor t(DType::Float32, std::move(shape));
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = u(rng);
    return t;
}

// Every micro-kernel this CPU can run.
inline std::vector<engine::kernels::sgemm::Isa> isas() {
    namespace sgemm = engine::kernels::sgemm;
    std::vector<sgemm::Isa> out = {sgemm::Isa::Generic};
    if (sgemm::best_isa() != sgemm::Isa::Generic) out.push_back(sgemm::Isa::Avx2);
    if (sgemm::best_isa() == sgemm::Isa::Avx512) out.push_back(sgemm::Isa::Avx512);
    return out;
}

// Forces one micro-kernel for the scope's lifetime.
struct IsaScope {
    engine::kernels::sgemm::Isa old;
    explicit IsaScope(engine::kernels::sgemm::Isa isa) : old(engine::kernels::sgemm::set_isa(isa)) {}
    ~IsaScope() { engine::kernels::sgemm::set_isa(old); }
};

}  // namespace qcp::test
