// Gemm (opset 7+) and MatMul (all opsets), and the packed sgemm with its SIMD helpers (sgemm.hpp) that
// Conv and ConvTranspose share.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <memory>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "kernels.hpp"
#include "qcp/core/parallel.hpp"
#include "sgemm.hpp"
#include "util.hpp"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define QCP_SGEMM_X86 1
#endif

namespace qcp::engine::kernels {
namespace sgemm {
namespace {

constexpr int64_t kKC = 256;  // K block: an A panel (mr × kKC) and a B panel (kKC × kNR) fit in L1
constexpr int64_t kMC = 96;   // rows of A packed at once by gemm() (L2)
constexpr int64_t kNC = 512;  // columns of B packed at once by gemm() (L2)

// Micro-kernels: C[R × kNR] = or += A panel (kc × R, k-major) · B panel (kc rows of kNR at stride ldb).
// Each accumulator sums its kc products in k order, so every variant rounds the same way for any
// blocking of M and N (variants differ from each other only where FMA fuses a rounding).
using KernelFn = void (*)(int64_t kc, const float* a, const float* b, int64_t ldb, float* c, int64_t ldc,
                          bool accumulate);

template <int R, int MR>
void kernel_generic(int64_t kc, const float* a, const float* b, int64_t ldb, float* c, int64_t ldc, bool accumulate) {
    float acc[R][kNR] = {};
    for (int64_t k = 0; k < kc; ++k) {
        const float* bk = b + k * ldb;
        for (int i = 0; i < R; ++i) {
            const float ai = a[k * MR + i];
            for (int j = 0; j < kNR; ++j) acc[i][j] += ai * bk[j];
        }
    }
    for (int i = 0; i < R; ++i)
        for (int j = 0; j < kNR; ++j) c[i * ldc + j] = accumulate ? c[i * ldc + j] + acc[i][j] : acc[i][j];
}

#ifdef QCP_SGEMM_X86
// AVX2 has too few registers for R × 32: the tile is done as two 16-column halves.
template <int R, int MR>
__attribute__((target("avx2,fma"))) void kernel_avx2(int64_t kc, const float* a, const float* b, int64_t ldb,
                                                     float* c, int64_t ldc, bool accumulate) {
    for (int half = 0; half < kNR; half += 16) {
        __m256 acc0[R], acc1[R];
#pragma GCC unroll 16
        for (int i = 0; i < R; ++i) acc0[i] = acc1[i] = _mm256_setzero_ps();
        for (int64_t k = 0; k < kc; ++k) {
            const __m256 b0 = _mm256_loadu_ps(b + k * ldb + half);
            const __m256 b1 = _mm256_loadu_ps(b + k * ldb + half + 8);
#pragma GCC unroll 16
            for (int i = 0; i < R; ++i) {
                const __m256 ai = _mm256_broadcast_ss(a + k * MR + i);
                acc0[i] = _mm256_fmadd_ps(ai, b0, acc0[i]);
                acc1[i] = _mm256_fmadd_ps(ai, b1, acc1[i]);
            }
        }
#pragma GCC unroll 16
        for (int i = 0; i < R; ++i) {
            float* ci = c + i * ldc + half;
            if (accumulate) {
                acc0[i] = _mm256_add_ps(_mm256_loadu_ps(ci), acc0[i]);
                acc1[i] = _mm256_add_ps(_mm256_loadu_ps(ci + 8), acc1[i]);
            }
            _mm256_storeu_ps(ci, acc0[i]);
            _mm256_storeu_ps(ci + 8, acc1[i]);
        }
    }
}

template <int R, int MR>
__attribute__((target("avx512f"))) void kernel_avx512(int64_t kc, const float* a, const float* b, int64_t ldb,
                                                      float* c, int64_t ldc, bool accumulate) {
    // fully unrolled so that the accumulators live in registers from start to end
    __m512 acc0[R], acc1[R];
#pragma GCC unroll 16
    for (int i = 0; i < R; ++i) acc0[i] = acc1[i] = _mm512_setzero_ps();
    for (int64_t k = 0; k < kc; ++k) {
        const __m512 b0 = _mm512_loadu_ps(b + k * ldb);
        const __m512 b1 = _mm512_loadu_ps(b + k * ldb + 16);
#pragma GCC unroll 16
        for (int i = 0; i < R; ++i) {
            const __m512 ai = _mm512_set1_ps(a[k * MR + i]);
            acc0[i] = _mm512_fmadd_ps(ai, b0, acc0[i]);
            acc1[i] = _mm512_fmadd_ps(ai, b1, acc1[i]);
        }
    }
#pragma GCC unroll 16
    for (int i = 0; i < R; ++i) {
        float* ci = c + i * ldc;
        if (accumulate) {
            acc0[i] = _mm512_add_ps(_mm512_loadu_ps(ci), acc0[i]);
            acc1[i] = _mm512_add_ps(_mm512_loadu_ps(ci + 16), acc1[i]);
        }
        _mm512_storeu_ps(ci, acc0[i]);
        _mm512_storeu_ps(ci + 16, acc1[i]);
    }
}
#endif

using PaddedRowFn = void (*)(float* dst, const float* src, int64_t lo, int64_t hi, int64_t n);

void padded_row_generic(float* dst, const float* src, int64_t lo, int64_t hi, int64_t n) {
    for (int64_t x = 0; x < lo; ++x) dst[x] = 0.0f;
    for (int64_t x = lo; x < hi; ++x) dst[x] = src[x];
    for (int64_t x = hi; x < n; ++x) dst[x] = 0.0f;
}

using GatherFn = void (*)(const Gather16* chunks, int64_t count, const float* src, float* dst);

void gather_generic(const Gather16* chunks, int64_t count, const float* src, float* dst) {
    for (int64_t c = 0; c < count; ++c) {
        const Gather16& chunk = chunks[c];
        for (int j = 0; j < 16; ++j)
            dst[16 * c + j] = (chunk.zero >> j) & 1 ? 0.0f : src[chunk.base[(chunk.second >> j) & 1] + chunk.idx[j]];
    }
}

#ifdef QCP_SGEMM_X86
__attribute__((target("avx512f"))) inline __m512 window_avx512(const float* s, uint32_t load, __m512i idx) {
    const __m512 lo = _mm512_maskz_loadu_ps(static_cast<__mmask16>(load), s);
    const __m512 hi = _mm512_maskz_loadu_ps(static_cast<__mmask16>(load >> 16), s + 16);
    return _mm512_permutex2var_ps(lo, idx, hi);
}

__attribute__((target("avx512f"))) void gather_avx512(const Gather16* chunks, int64_t count, const float* src,
                                                      float* dst) {
    for (int64_t c = 0; c < count; ++c) {
        const Gather16& chunk = chunks[c];
        const __m512i idx = _mm512_loadu_si512(chunk.idx);
        const auto live = static_cast<__mmask16>(~chunk.zero);
        __m512 v;
        if (chunk.windows == 0) {
            v = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), live, idx, src + chunk.base[0], 4);
        } else {
            v = window_avx512(src + chunk.base[0], chunk.load[0], idx);
            if (chunk.windows == 2)
                v = _mm512_mask_blend_ps(chunk.second, v, window_avx512(src + chunk.base[1], chunk.load[1], idx));
            v = _mm512_maskz_mov_ps(live, v);
        }
        _mm512_storeu_ps(dst + 16 * c, v);
    }
}

__attribute__((target("avx512f"))) void padded_row_avx512(float* dst, const float* src, int64_t lo, int64_t hi,
                                                          int64_t n) {
    for (int64_t x0 = 0; x0 < n; x0 += 16) {
        const int64_t a = std::clamp<int64_t>(lo - x0, 0, 16), b = std::clamp<int64_t>(hi - x0, a, 16);
        const auto mask = static_cast<__mmask16>(((1u << b) - 1) & ~((1u << a) - 1));  // lanes [a, b)
        _mm512_storeu_ps(dst + x0, _mm512_maskz_loadu_ps(mask, src + x0));
    }
}
#endif

// One micro-kernel per panel height 1..mr (RowPanels picks heights near mr), and the im2col helpers.
struct KernelSet {
    Isa isa;
    int mr;
    KernelFn by_rows[9];  // index: rows
    PaddedRowFn padded_row = padded_row_generic;
    GatherFn gather = gather_generic;
};

template <template <int, int> class K, int... R>
KernelSet make_set(Isa isa, std::integer_sequence<int, R...>) {
    return KernelSet{isa, int(sizeof...(R)), {nullptr, &K<R + 1, R + 1>::run...}, padded_row_generic, gather_generic};
}

#define QCP_SGEMM_WRAP(name)                                                                              \
    template <int R, int MR>                                                                              \
    struct name##_t {                                                                                     \
        static void run(int64_t kc, const float* a, const float* b, int64_t ldb, float* c, int64_t ldc, \
                        bool acc) {                                                                       \
            name<R, MR>(kc, a, b, ldb, c, ldc, acc);                                                      \
        }                                                                                                 \
    };
QCP_SGEMM_WRAP(kernel_generic)
#ifdef QCP_SGEMM_X86
QCP_SGEMM_WRAP(kernel_avx2)
QCP_SGEMM_WRAP(kernel_avx512)
#endif
#undef QCP_SGEMM_WRAP

const KernelSet kGeneric = make_set<kernel_generic_t>(Isa::Generic, std::make_integer_sequence<int, 4>{});
#ifdef QCP_SGEMM_X86
const KernelSet kAvx2 = make_set<kernel_avx2_t>(Isa::Avx2, std::make_integer_sequence<int, 6>{});
KernelSet avx512_set() {
    KernelSet set = make_set<kernel_avx512_t>(Isa::Avx512, std::make_integer_sequence<int, 8>{});
    set.padded_row = padded_row_avx512;
    set.gather = gather_avx512;
    return set;
}
const KernelSet kAvx512 = avx512_set();
#endif

const KernelSet& set_for(Isa isa) {
#ifdef QCP_SGEMM_X86
    if (isa == Isa::Avx512) return kAvx512;
    if (isa == Isa::Avx2) return kAvx2;
#endif
    (void)isa;
    return kGeneric;
}

const KernelSet* g_set = &set_for(best_isa());

struct AlignedFree {
    void operator()(float* p) const { std::free(p); }
};
struct ScratchSlot {
    std::unique_ptr<float, AlignedFree> data;
    int64_t size = 0;
};

}  // namespace

Isa best_isa() {
#ifdef QCP_SGEMM_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return Isa::Avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::Avx2;
#endif
    return Isa::Generic;
}

Isa set_isa(Isa isa) {
    const Isa old = g_set->isa;
    g_set = &set_for(isa);
    return old;
}

Isa current_isa() { return g_set->isa; }
int mr() { return g_set->mr; }

int64_t kc_blocks(int64_t k) { return std::max<int64_t>(1, (k + kKC - 1) / kKC); }

int64_t kc_begin(int64_t k, int64_t block) {
    // even blocks, so that K = 288 is 144 + 144 rather than 256 + 32
    const int64_t blocks = kc_blocks(k);
    const int64_t len = (k + blocks - 1) / blocks;
    return std::min(k, block * len);
}

RowPanels::RowPanels(int64_t m) {
    if (m <= 0) return;
    count = (m + mr() - 1) / mr();
    base = m / count;
    extra = m % count;
}

void pack_a(View a, int64_t m, int64_t k0, int64_t kc, float* dst) {
    const RowPanels panels(m);
    for (int64_t p = 0; p < panels.count; ++p) {
        const int64_t i0 = panels.start(p), rows = panels.rows(p);
        float* panel = dst + i0 * kc;
        for (int64_t i = 0; i < rows; ++i) {
            const float* src = a.p + (i0 + i) * a.rs + k0 * a.cs;
            for (int64_t k = 0; k < kc; ++k) panel[k * rows + i] = src[k * a.cs];
        }
    }
}

void pack_b(View b, int64_t k0, int64_t kc, int64_t n, float* dst) {
    for (int64_t j0 = 0; j0 < n; j0 += kNR) {
        const int64_t cols = std::min<int64_t>(kNR, n - j0);
        float* panel = dst + j0 * kc;
        if (b.cs == 1 && cols == kNR) {
            for (int64_t k = 0; k < kc; ++k) std::memcpy(panel + k * kNR, b.p + (k0 + k) * b.rs + j0, sizeof(float) * kNR);
            continue;
        }
        // column by column: a transposed B (rs = 1, a PyTorch Linear weight) is then read contiguously
        for (int64_t j = 0; j < kNR; ++j) {
            if (j >= cols) {
                for (int64_t k = 0; k < kc; ++k) panel[k * kNR + j] = 0.0f;
                continue;
            }
            const float* src = b.p + k0 * b.rs + (j0 + j) * b.cs;
            for (int64_t k = 0; k < kc; ++k) panel[k * kNR + j] = src[k * b.rs];
        }
    }
}

void pack_b_all(View b, int64_t k, int64_t n, float* dst) {
    const int64_t npad = round_up(n, kNR);
    for (int64_t blk = 0; blk < kc_blocks(k); ++blk) {
        const int64_t k0 = kc_begin(k, blk);
        pack_b(b, k0, kc_begin(k, blk + 1) - k0, n, dst + k0 * npad);
    }
}

void gemm_packed(int64_t m, int64_t n, int64_t k, View a, const float* b_packed, float* c, int64_t ldc) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0) {
        for (int64_t i = 0; i < m; ++i) std::fill(c + i * ldc, c + i * ldc + n, 0.0f);
        return;
    }
    const int64_t npad = round_up(n, kNR);
    float* ap = scratch(5, kKC * std::min(m, kMC));
    for (int64_t blk = 0; blk < kc_blocks(k); ++blk) {
        const int64_t k0 = kc_begin(k, blk), kc = kc_begin(k, blk + 1) - k0;
        const float* bp = b_packed + k0 * npad;
        for (int64_t ic = 0; ic < m; ic += kMC) {
            const int64_t mc = std::min(kMC, m - ic);
            pack_a({a.p + ic * a.rs, a.rs, a.cs}, mc, k0, kc, ap);
            const RowPanels panels(mc);
            for (int64_t jr = 0; jr < n; jr += kNR)
                for (int64_t p = 0; p < panels.count; ++p) {
                    const int64_t ir = panels.start(p);
                    micro_kernel(kc, ap + ir * kc, panels.rows(p), bp + jr * kc, kNR, c + (ic + ir) * ldc + jr, ldc,
                                 std::min<int64_t>(kNR, n - jr), blk > 0);
                }
        }
    }
}

void micro_kernel(int64_t kc, const float* a_panel, int64_t rows, const float* b_panel, int64_t ldb, float* c,
                  int64_t ldc, int64_t cols, bool accumulate) {
    const KernelFn fn = g_set->by_rows[rows];
    if (cols == kNR) {
        fn(kc, a_panel, b_panel, ldb, c, ldc, accumulate);
        return;
    }
    float tile[8 * kNR];
    fn(kc, a_panel, b_panel, ldb, tile, kNR, false);
    for (int64_t i = 0; i < rows; ++i)
        for (int64_t j = 0; j < cols; ++j)
            c[i * ldc + j] = accumulate ? c[i * ldc + j] + tile[i * kNR + j] : tile[i * kNR + j];
}

void gemm(int64_t m, int64_t n, int64_t k, View a, View b, float* c, int64_t ldc) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0) {
        for (int64_t i = 0; i < m; ++i) std::fill(c + i * ldc, c + i * ldc + n, 0.0f);
        return;
    }
    const int64_t blocks = kc_blocks(k);
    float* bp = scratch(4, kKC * round_up(std::min(n, kNC), kNR));
    float* ap = scratch(5, kKC * std::min(m, kMC));
    for (int64_t jc = 0; jc < n; jc += kNC) {
        const int64_t nc = std::min(kNC, n - jc);
        for (int64_t blk = 0; blk < blocks; ++blk) {
            const int64_t k0 = kc_begin(k, blk), kc = kc_begin(k, blk + 1) - k0;
            pack_b({b.p + jc * b.cs, b.rs, b.cs}, k0, kc, nc, bp);
            for (int64_t ic = 0; ic < m; ic += kMC) {
                const int64_t mc = std::min(kMC, m - ic);
                pack_a({a.p + ic * a.rs, a.rs, a.cs}, mc, k0, kc, ap);
                const RowPanels panels(mc);
                for (int64_t jr = 0; jr < nc; jr += kNR)
                    for (int64_t p = 0; p < panels.count; ++p) {
                        const int64_t ir = panels.start(p);
                        micro_kernel(kc, ap + ir * kc, panels.rows(p), bp + jr * kc, kNR, c + (ic + ir) * ldc + jc + jr,
                                     ldc, std::min<int64_t>(kNR, nc - jr), blk > 0);
                    }
            }
        }
    }
}

void copy_padded_row(float* dst, const float* src, int64_t lo, int64_t hi, int64_t n) {
    g_set->padded_row(dst, src, lo, hi, n);
}

Gather16 gather16_plan(const int64_t* pos) {
    Gather16 chunk{};
    int first = 0;
    while (first < 16 && pos[first] < 0) ++first;
    for (int j = 0; j < 16; ++j)
        if (pos[j] < 0) chunk.zero = static_cast<uint16_t>(chunk.zero | (1u << j));
    chunk.windows = 1;
    if (first == 16) return chunk;  // all padding
    // the first window takes live lanes while they stay within 32 floats, the second the rest
    int split = first;
    while (split < 16 && (pos[split] < 0 || pos[split] - pos[first] < 32)) ++split;
    int second = split;
    while (second < 16 && pos[second] < 0) ++second;
    chunk.base[0] = pos[first];
    if (second < 16) {
        chunk.base[1] = pos[second];
        chunk.windows = 2;
        for (int j = second; j < 16; ++j)
            if (pos[j] >= 0 && pos[j] - pos[second] >= 32) chunk.windows = 0;  // three windows: gather instead
    }
    for (int j = 0; j < 16; ++j) {
        if (pos[j] < 0) continue;
        const int w = chunk.windows == 2 && j >= second ? 1 : 0;
        chunk.idx[j] = static_cast<int32_t>(pos[j] - chunk.base[w]);
        if (w == 1) chunk.second = static_cast<uint16_t>(chunk.second | (1u << j));
        if (chunk.windows != 0) chunk.load[w] |= 1u << chunk.idx[j];
    }
    return chunk;
}

void gather_chunks(const Gather16* chunks, int64_t count, const float* src, float* dst) {
    g_set->gather(chunks, count, src, dst);
}

float* scratch(int slot, int64_t n) {
    thread_local ScratchSlot slots[8];
    ScratchSlot& s = slots[slot];
    if (s.size < n) {
        const size_t bytes = static_cast<size_t>(round_up(n, 16)) * sizeof(float);
        s.data.reset(static_cast<float*>(std::aligned_alloc(64, bytes)));
        if (!s.data) throw std::bad_alloc();
        std::memset(s.data.get(), 0, bytes);  // slack read by over-long copies holds zeros, never garbage
        s.size = n;
    }
    return s.data.get();
}

}  // namespace sgemm

namespace {

// Rows (or columns, when there are few rows) per parallel task: fixed by the shape alone.
constexpr int64_t kRowGrain = 48;
constexpr int64_t kColGrain = 256;

// Largest B (in floats) packed once and shared by all row blocks.
constexpr int64_t kSharedPackLimit = int64_t(1) << 24;

// C (m × n, contiguous) = A · B, split over threads by rows or columns.
void parallel_gemm(int64_t m, int64_t n, int64_t k, sgemm::View a, sgemm::View b, float* c) {
    const int64_t packed_size = k * sgemm::round_up(n, sgemm::kNR);
    if ((m >= 2 * kRowGrain || n < 2 * kColGrain) && packed_size <= kSharedPackLimit) {
        std::vector<float> packed(static_cast<size_t>(packed_size));
        sgemm::pack_b_all(b, k, n, packed.data());
        parallel_for(m, kRowGrain, [&](int64_t i0, int64_t i1) {
            sgemm::gemm_packed(i1 - i0, n, k, {a.p + i0 * a.rs, a.rs, a.cs}, packed.data(), c + i0 * n, n);
        });
    } else if (m >= 2 * kRowGrain || n < 2 * kColGrain) {
        parallel_for(m, kRowGrain, [&](int64_t i0, int64_t i1) {
            sgemm::gemm(i1 - i0, n, k, {a.p + i0 * a.rs, a.rs, a.cs}, b, c + i0 * n, n);
        });
    } else {
        parallel_for(n, kColGrain, [&](int64_t j0, int64_t j1) {
            sgemm::gemm(m, j1 - j0, k, a, {b.p + j0 * b.cs, b.rs, b.cs}, c + j0, n);
        });
    }
}

void gemm_kernel(KernelContext& ctx) {
    const Tensor& a = float_input(ctx, 0);
    const Tensor& b = float_input(ctx, 1);
    if (a.rank() != 2 || b.rank() != 2)
        throw Error(ctx.where() + "A and B must be 2-D, got " + shape_str(a.shape()) + " and " + shape_str(b.shape()));
    const bool trans_a = ctx.node.attr_int("transA", 0) != 0;
    const bool trans_b = ctx.node.attr_int("transB", 0) != 0;
    const float alpha = ctx.node.attr_float("alpha", 1.0f);
    const float beta = ctx.node.attr_float("beta", 1.0f);
    const int64_t m = trans_a ? a.dim(1) : a.dim(0);
    const int64_t k = trans_a ? a.dim(0) : a.dim(1);
    const int64_t kb = trans_b ? b.dim(1) : b.dim(0);
    const int64_t n = trans_b ? b.dim(0) : b.dim(1);
    if (k != kb)
        throw Error(ctx.where() + "inner dimensions differ: A " + shape_str(a.shape()) + ", B " + shape_str(b.shape()));
    const sgemm::View av = trans_a ? sgemm::View{a.data<float>(), 1, m} : sgemm::View{a.data<float>(), k, 1};
    const sgemm::View bv = trans_b ? sgemm::View{b.data<float>(), 1, k} : sgemm::View{b.data<float>(), n, 1};

    Tensor y(DType::Float32, {m, n});
    float* out = y.data<float>();
    parallel_gemm(m, n, k, av, bv, out);

    const Tensor* c = ctx.has_input(2) ? &float_input(ctx, 2) : nullptr;
    if (!c && ctx.opset < 11) throw Error(ctx.where() + "input C is required before opset 11");
    if (c && c->rank() > 2) throw Error(ctx.where() + "C must have rank <= 2, got " + shape_str(c->shape()));
    if (c && broadcast_shapes(c->shape(), {m, n}, ctx) != Shape{m, n})
        throw Error(ctx.where() + "C " + shape_str(c->shape()) + " does not broadcast to " + shape_str({m, n}));
    if (c && beta != 0.0f) {
        const auto cs = broadcast_strides(c->shape(), {m, n});
        const float* cv = c->data<float>();
        for (int64_t i = 0; i < m; ++i)
            for (int64_t j = 0; j < n; ++j)
                out[i * n + j] = alpha * out[i * n + j] + beta * cv[i * cs[0] + j * cs[1]];
    } else if (alpha != 1.0f) {
        for (int64_t i = 0; i < m * n; ++i) out[i] *= alpha;
    }
    ctx.outputs[0] = std::move(y);
}

void matmul_kernel(KernelContext& ctx) {
    const Tensor& a = float_input(ctx, 0);
    const Tensor& b = float_input(ctx, 1);
    if (a.rank() == 0 || b.rank() == 0) throw Error(ctx.where() + "MatMul inputs must have rank >= 1");
    // numpy semantics: a 1-D A is a row (its M axis dropped from the output), a 1-D B a column
    Shape as = a.shape(), bs = b.shape();
    if (as.size() == 1) as.insert(as.begin(), 1);
    if (bs.size() == 1) bs.push_back(1);
    const int64_t m = as[as.size() - 2], k = as.back(), n = bs.back();
    if (bs[bs.size() - 2] != k)
        throw Error(ctx.where() + "inner dimensions differ: " + shape_str(a.shape()) + " x " + shape_str(b.shape()));
    const Shape a_batch(as.begin(), as.end() - 2), b_batch(bs.begin(), bs.end() - 2);
    const Shape batch = broadcast_shapes(a_batch, b_batch, ctx);
    Shape out_shape = batch;
    if (a.rank() > 1) out_shape.push_back(m);
    if (b.rank() > 1) out_shape.push_back(n);
    Tensor y(DType::Float32, out_shape);
    const float* ap = a.data<float>();
    const float* bp = b.data<float>();
    float* yp = y.data<float>();

    const int64_t batches = shape_numel(batch);
    if (shape_numel(b_batch) == 1) {
        // one B for every batch: stack A's batches into one tall matrix
        parallel_gemm(batches * m, n, k, {ap, k, 1}, {bp, n, 1}, yp);
    } else {
        const auto a_strides = broadcast_strides(a_batch, batch);
        const auto b_strides = broadcast_strides(b_batch, batch);
        const int64_t row_blocks = (m + kRowGrain - 1) / kRowGrain;
        parallel_for(batches * row_blocks, 1, [&](int64_t t0, int64_t t1) {
            for (int64_t t = t0; t < t1; ++t) {
                int64_t bi = t / row_blocks, a_off = 0, b_off = 0;
                for (size_t d = batch.size(); d-- > 0;) {
                    const int64_t idx = bi % batch[d];
                    bi /= batch[d];
                    a_off += idx * a_strides[d];
                    b_off += idx * b_strides[d];
                }
                const int64_t i0 = (t % row_blocks) * kRowGrain, rows = std::min(kRowGrain, m - i0);
                sgemm::gemm(rows, n, k, {ap + a_off * m * k + i0 * k, k, 1}, {bp + b_off * k * n, n, 1},
                            yp + (t / row_blocks) * m * n + i0 * n, n);
            }
        });
    }
    ctx.outputs[0] = std::move(y);
}

// Determinant of each trailing (M, M) matrix: LU with partial pivoting in double.
void det_kernel(KernelContext& ctx) {
    const Tensor& x = float_input(ctx, 0);
    if (x.rank() < 2 || x.dim(x.rank() - 1) != x.dim(x.rank() - 2))
        throw Error(ctx.where() + "input must be (..., M, M), got " + shape_str(x.shape()));
    const int64_t m = x.dim(x.rank() - 1);
    Tensor y(DType::Float32, Shape(x.shape().begin(), x.shape().end() - 2));
    std::vector<double> a(static_cast<size_t>(m * m));
    for (int64_t b = 0; b < y.numel(); ++b) {
        for (int64_t i = 0; i < m * m; ++i) a[static_cast<size_t>(i)] = x.data<float>()[b * m * m + i];
        double det = 1;
        for (int64_t c = 0; c < m && det != 0; ++c) {
            int64_t piv = c;
            for (int64_t r = c + 1; r < m; ++r)
                if (std::abs(a[static_cast<size_t>(r * m + c)]) > std::abs(a[static_cast<size_t>(piv * m + c)])) piv = r;
            if (a[static_cast<size_t>(piv * m + c)] == 0) {
                det = 0;
                break;
            }
            if (piv != c) {
                for (int64_t k = 0; k < m; ++k) std::swap(a[static_cast<size_t>(c * m + k)], a[static_cast<size_t>(piv * m + k)]);
                det = -det;
            }
            const double d = a[static_cast<size_t>(c * m + c)];
            det *= d;
            for (int64_t r = c + 1; r < m; ++r) {
                const double f = a[static_cast<size_t>(r * m + c)] / d;
                for (int64_t k = c; k < m; ++k) a[static_cast<size_t>(r * m + k)] -= f * a[static_cast<size_t>(c * m + k)];
            }
        }
        y.data<float>()[b] = static_cast<float>(det);
    }
    ctx.outputs[0] = std::move(y);
}

// ---- RNN, GRU, LSTM ------------------------------------------------------------------------------
// X (seq, batch, input) or with layout=1 (batch, seq, input); W (dirs, G * hidden, input),
// R (dirs, G * hidden, hidden), B (dirs, 2 * G * hidden) = [Wb, Rb]; gate order RNN i, GRU z r h,
// LSTM i o f c, peepholes P (dirs, 3 * hidden) = [i o f]. Steps past sequence_lens[b] emit zeros
// and keep the state. Dot products accumulate in double; one fixed order, any thread count.

enum class Cell { Rnn, Gru, Lstm };

struct Activation {
    std::string name;
    float alpha = 0, beta = 0;
    float operator()(float x) const {
        if (name == "Sigmoid") return 1.0f / (1.0f + std::exp(-x));
        if (name == "Tanh") return std::tanh(x);
        if (name == "Relu") return std::max(0.0f, x);
        if (name == "LeakyRelu") return x < 0 ? alpha * x : x;
        if (name == "ThresholdedRelu") return x > alpha ? x : 0.0f;
        if (name == "ScaledTanh") return alpha * std::tanh(beta * x);
        if (name == "HardSigmoid") return std::max(0.0f, std::min(1.0f, alpha * x + beta));
        if (name == "Elu") return x < 0 ? alpha * std::expm1(x) : x;
        if (name == "Softsign") return x / (1 + std::fabs(x));
        if (name == "Softplus") return std::log1p(std::exp(x));
        return alpha * x + beta;  // Affine
    }
};

std::vector<Activation> cell_activations(const KernelContext& ctx, Cell cell, int64_t dirs) {
    const std::vector<std::string> defaults = cell == Cell::Rnn   ? std::vector<std::string>{"Tanh"}
                                              : cell == Cell::Gru ? std::vector<std::string>{"Sigmoid", "Tanh"}
                                                                  : std::vector<std::string>{"Sigmoid", "Tanh", "Tanh"};
    const ir::Attribute* names = ctx.node.attr("activations");
    const ir::Attribute* alphas = ctx.node.attr("activation_alpha");
    const ir::Attribute* betas = ctx.node.attr("activation_beta");
    std::vector<Activation> acts;
    const size_t want = defaults.size() * static_cast<size_t>(dirs);
    for (size_t i = 0; i < want; ++i) {
        Activation a;
        a.name = names && !names->strings.empty() ? names->strings.at(i % names->strings.size()) : defaults[i % defaults.size()];
        static const char* known[] = {"Sigmoid", "Tanh", "Relu", "LeakyRelu", "ThresholdedRelu", "ScaledTanh",
                                      "HardSigmoid", "Elu", "Softsign", "Softplus", "Affine"};
        if (std::none_of(std::begin(known), std::end(known), [&](const char* k) { return a.name == k; }))
            throw Error(ctx.where() + "activation '" + a.name + "' is not supported");
        // ONNX's defaults for the parameterised activations
        a.alpha = a.name == "LeakyRelu" ? 0.01f : a.name == "HardSigmoid" ? 0.2f : 1.0f;
        a.beta = a.name == "HardSigmoid" ? 0.5f : a.name == "Affine" ? 0.0f : 1.0f;
        if (alphas && i < alphas->floats.size()) a.alpha = alphas->floats[i];
        if (betas && i < betas->floats.size()) a.beta = betas->floats[i];
        acts.push_back(a);
    }
    return acts;
}

template <Cell cell>
void recurrent_kernel(KernelContext& ctx) {
    constexpr int64_t G = cell == Cell::Rnn ? 1 : cell == Cell::Gru ? 3 : 4;
    const ir::Node& node = ctx.node;
    const Tensor& x = float_input(ctx, 0);
    const Tensor& w = float_input(ctx, 1);
    const Tensor& r = float_input(ctx, 2);
    const bool batch_first = node.attr_int("layout", 0) != 0;
    if (x.rank() != 3 || w.rank() != 3 || r.rank() != 3) throw Error(ctx.where() + "X, W and R must be 3-D");
    const int64_t seq = batch_first ? x.dim(1) : x.dim(0), batch = batch_first ? x.dim(0) : x.dim(1), in = x.dim(2);
    const std::string direction = node.attr_string("direction", "forward");
    if (direction != "forward" && direction != "reverse" && direction != "bidirectional")
        throw Error(ctx.where() + "unknown direction '" + direction + "'");
    const int64_t dirs = direction == "bidirectional" ? 2 : 1;
    const int64_t hidden = node.attr_int("hidden_size", r.dim(2));
    if (w.dim(0) != dirs || w.dim(1) != G * hidden || w.dim(2) != in || r.dim(0) != dirs || r.dim(1) != G * hidden ||
        r.dim(2) != hidden)
        throw Error(ctx.where() + "W " + shape_str(w.shape()) + " or R " + shape_str(r.shape()) + " does not match X and hidden_size");
    auto optional_float = [&](size_t i, int64_t numel, const char* what) -> const float* {
        if (!ctx.has_input(i) || ctx.in(i).empty()) return nullptr;
        const Tensor& t = float_input(ctx, i);
        if (t.numel() != numel) throw Error(ctx.where() + what + " has shape " + shape_str(t.shape()));
        return t.data<float>();
    };
    const float* bias = optional_float(3, dirs * 2 * G * hidden, "B");
    std::vector<int64_t> lens(static_cast<size_t>(batch), seq);
    if (ctx.has_input(4) && !ctx.in(4).empty()) {
        lens = ctx.in(4).to_int64_vector();
        if (static_cast<int64_t>(lens.size()) != batch) throw Error(ctx.where() + "sequence_lens must have one value per batch entry");
        for (int64_t l : lens)
            if (l < 0 || l > seq) throw Error(ctx.where() + "sequence length " + std::to_string(l) + " is out of range");
    }
    const float* h0 = optional_float(5, dirs * batch * hidden, "initial_h");
    const float* c0 = cell == Cell::Lstm ? optional_float(6, dirs * batch * hidden, "initial_c") : nullptr;
    const float* peep = cell == Cell::Lstm ? optional_float(7, dirs * 3 * hidden, "P") : nullptr;
    const float clip = node.attr_float("clip", 0.0f);
    const bool linear_before_reset = node.attr_int("linear_before_reset", 0) != 0;
    const bool input_forget = node.attr_int("input_forget", 0) != 0;
    const auto acts = cell_activations(ctx, cell, dirs);
    const size_t per_dir = acts.size() / static_cast<size_t>(dirs);

    // state index (d, b, j) in the (dirs, batch, hidden) layout, or (batch, dirs, hidden) with layout=1
    auto state_at = [&](int64_t d, int64_t b, int64_t j) {
        return batch_first ? (b * dirs + d) * hidden + j : (d * batch + b) * hidden + j;
    };
    auto x_at = [&](int64_t t, int64_t b) { return x.data<float>() + (batch_first ? b * seq + t : t * batch + b) * in; };
    Tensor y(DType::Float32, batch_first ? Shape{batch, seq, dirs, hidden} : Shape{seq, dirs, batch, hidden});
    Tensor yh(DType::Float32, batch_first ? Shape{batch, dirs, hidden} : Shape{dirs, batch, hidden});
    Tensor yc(DType::Float32, yh.shape());
    std::vector<float> gates(static_cast<size_t>(G * hidden));
    for (int64_t d = 0; d < dirs; ++d) {
        const bool reverse = direction == "reverse" || d == 1;
        const float* wd = w.data<float>() + d * G * hidden * in;
        const float* rd = r.data<float>() + d * G * hidden * hidden;
        const float* wb = bias ? bias + d * 2 * G * hidden : nullptr;
        const float* rb = bias ? wb + G * hidden : nullptr;
        const float* pd = peep ? peep + d * 3 * hidden : nullptr;
        const Activation& f = acts[static_cast<size_t>(d) * per_dir];
        const Activation& g = acts[static_cast<size_t>(d) * per_dir + (per_dir > 1 ? 1 : 0)];
        const Activation& h_act = acts[static_cast<size_t>(d) * per_dir + (per_dir > 2 ? 2 : 0)];
        for (int64_t b = 0; b < batch; ++b) {
            std::vector<float> h(static_cast<size_t>(hidden), 0.0f), c(static_cast<size_t>(hidden), 0.0f);
            for (int64_t j = 0; j < hidden; ++j) {
                if (h0) h[static_cast<size_t>(j)] = h0[state_at(d, b, j)];
                if (c0) c[static_cast<size_t>(j)] = c0[state_at(d, b, j)];
            }
            const int64_t len = lens[static_cast<size_t>(b)];
            for (int64_t step = 0; step < len; ++step) {
                const int64_t t = reverse ? len - 1 - step : step;
                const float* xt = x_at(t, b);
                // gate pre-activations: x W^T + Wb, and h R^T + Rb kept apart for GRU's h gate
                std::vector<double> xw(static_cast<size_t>(G * hidden)), hr(static_cast<size_t>(G * hidden));
                for (int64_t k = 0; k < G * hidden; ++k) {
                    double a = wb ? wb[k] : 0.0, e = rb ? rb[k] : 0.0;
                    for (int64_t i = 0; i < in; ++i) a += double(wd[k * in + i]) * xt[i];
                    for (int64_t i = 0; i < hidden; ++i) e += double(rd[k * hidden + i]) * h[static_cast<size_t>(i)];
                    xw[static_cast<size_t>(k)] = a;
                    hr[static_cast<size_t>(k)] = e;
                }
                auto clipped = [clip](double v) { return static_cast<float>(clip > 0 ? std::clamp(v, -double(clip), double(clip)) : v); };
                std::vector<float> hn(static_cast<size_t>(hidden));
                if constexpr (cell == Cell::Rnn) {
                    for (int64_t j = 0; j < hidden; ++j) hn[static_cast<size_t>(j)] = f(clipped(xw[j] + hr[j]));
                } else if constexpr (cell == Cell::Gru) {
                    // gates holds the update gates z, then the reset gates r (every unit's r is
                    // needed for each candidate when linear_before_reset = 0)
                    gates.resize(static_cast<size_t>(2 * hidden));
                    for (int64_t j = 0; j < hidden; ++j) {
                        gates[static_cast<size_t>(j)] = f(clipped(xw[j] + hr[j]));
                        gates[static_cast<size_t>(hidden + j)] = f(clipped(xw[hidden + j] + hr[hidden + j]));
                    }
                    for (int64_t j = 0; j < hidden; ++j) {
                        const float z = gates[static_cast<size_t>(j)];
                        double hh;
                        if (linear_before_reset) {
                            hh = xw[2 * hidden + j] + gates[static_cast<size_t>(hidden + j)] * hr[2 * hidden + j];
                        } else {
                            hh = xw[2 * hidden + j] + (rb ? rb[2 * hidden + j] : 0.0);
                            for (int64_t i = 0; i < hidden; ++i)
                                hh += double(rd[(2 * hidden + j) * hidden + i]) * gates[static_cast<size_t>(hidden + i)] * h[static_cast<size_t>(i)];
                        }
                        hn[static_cast<size_t>(j)] = (1 - z) * g(clipped(hh)) + z * h[static_cast<size_t>(j)];
                    }
                } else {
                    for (int64_t j = 0; j < hidden; ++j) {
                        const double cp = c[static_cast<size_t>(j)];
                        const float ig = f(clipped(xw[j] + hr[j] + (pd ? pd[j] * cp : 0.0)));
                        const float fg = input_forget ? 1 - ig : f(clipped(xw[2 * hidden + j] + hr[2 * hidden + j] + (pd ? pd[2 * hidden + j] * cp : 0.0)));
                        const float cg = g(clipped(xw[3 * hidden + j] + hr[3 * hidden + j]));
                        const float cn = fg * c[static_cast<size_t>(j)] + ig * cg;
                        const float og = f(clipped(xw[hidden + j] + hr[hidden + j] + (pd ? pd[hidden + j] * double(cn) : 0.0)));
                        c[static_cast<size_t>(j)] = cn;
                        hn[static_cast<size_t>(j)] = og * h_act(cn);
                    }
                }
                h = hn;
                for (int64_t j = 0; j < hidden; ++j) {
                    const int64_t at = batch_first ? ((b * seq + t) * dirs + d) * hidden + j : ((t * dirs + d) * batch + b) * hidden + j;
                    y.data<float>()[at] = h[static_cast<size_t>(j)];
                }
            }
            for (int64_t j = 0; j < hidden; ++j) {
                yh.data<float>()[state_at(d, b, j)] = h[static_cast<size_t>(j)];
                yc.data<float>()[state_at(d, b, j)] = c[static_cast<size_t>(j)];
            }
        }
    }
    if (!ctx.outputs.empty()) ctx.outputs[0] = std::move(y);
    if (ctx.outputs.size() > 1) ctx.outputs[1] = std::move(yh);
    if (ctx.outputs.size() > 2) ctx.outputs[2] = std::move(yc);
}

// ---- DFT, STFT, MelWeightMatrix (opset 17) -------------------------------------------------------
// Direct O(n^2) transforms in double: signals here are short, and the order of the sums is fixed.

// out[k] = sum_n in[n] e^{-+2 pi i k n / len} (1/len for the inverse) for k < bins; `in` holds
// `avail` complex samples (zeros past them, or truncated at len).
void dft_line(const double* re, const double* im, int64_t avail, int64_t len, int64_t bins, bool inverse, double* out_re,
              double* out_im) {
    const double sign = inverse ? 1.0 : -1.0;
    constexpr double kTwoPi = 6.283185307179586476925286766559;
    for (int64_t k = 0; k < bins; ++k) {
        double sr = 0, si = 0;
        for (int64_t t = 0; t < std::min(avail, len); ++t) {
            const double a = sign * kTwoPi * static_cast<double>((k * t) % len) / static_cast<double>(len);
            sr += re[t] * std::cos(a) - im[t] * std::sin(a);
            si += re[t] * std::sin(a) + im[t] * std::cos(a);
        }
        out_re[k] = inverse ? sr / static_cast<double>(len) : sr;
        out_im[k] = inverse ? si / static_cast<double>(len) : si;
    }
}

int64_t scalar_int(const KernelContext& ctx, size_t i, int64_t fallback) {
    if (!ctx.has_input(i) || ctx.in(i).empty()) return fallback;
    if (ctx.in(i).numel() != 1) throw Error(ctx.where() + "input " + std::to_string(i) + " must be a scalar");
    return static_cast<int64_t>(ctx.in(i).get_as_double(0));
}

void dft_kernel(KernelContext& ctx) {
    const Tensor& x = float_input(ctx, 0);
    if (x.rank() < 3 || (x.dim(x.rank() - 1) != 1 && x.dim(x.rank() - 1) != 2))
        throw Error(ctx.where() + "input must be (batch, ..., 1 or 2), got " + shape_str(x.shape()));
    const auto rank = static_cast<int64_t>(x.rank());
    // [-r, -2] counts from the back of the full rank (the last dim holds the complex parts)
    int64_t axis_attr = ctx.node.attr_int("axis", 1);
    if (axis_attr < 0) axis_attr += rank;
    if (axis_attr < 1 || axis_attr > rank - 2)
        throw Error(ctx.where() + "axis " + std::to_string(ctx.node.attr_int("axis", 1)) + " is not a signal axis of rank " + std::to_string(rank));
    const auto axis = static_cast<size_t>(axis_attr);
    const bool inverse = ctx.node.attr_int("inverse", 0) != 0, onesided = ctx.node.attr_int("onesided", 0) != 0;
    const bool complex_in = x.dim(x.rank() - 1) == 2;
    if (onesided && (complex_in || inverse)) throw Error(ctx.where() + "onesided needs a real forward transform");
    const int64_t n = x.dim(axis);
    const int64_t len = scalar_int(ctx, 1, n);
    if (len < 1) throw Error(ctx.where() + "dft_length must be positive");
    const int64_t bins = onesided ? len / 2 + 1 : len;
    Shape shape = x.shape();
    shape[axis] = bins;
    shape.back() = 2;
    Tensor y(DType::Float32, shape);
    int64_t outer = 1, inner = 1;
    for (size_t d = 0; d < axis; ++d) outer *= x.dim(d);
    for (size_t d = axis + 1; d + 1 < x.rank(); ++d) inner *= x.dim(d);
    const int64_t comp = x.dim(x.rank() - 1);
    std::vector<double> re(static_cast<size_t>(n)), im(static_cast<size_t>(n)), ore(static_cast<size_t>(bins)), oim(static_cast<size_t>(bins));
    for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < inner; ++i) {
            for (int64_t t = 0; t < n; ++t) {
                const float* v = x.data<float>() + ((o * n + t) * inner + i) * comp;
                re[static_cast<size_t>(t)] = v[0];
                im[static_cast<size_t>(t)] = complex_in ? v[1] : 0.0;
            }
            dft_line(re.data(), im.data(), n, len, bins, inverse, ore.data(), oim.data());
            for (int64_t k = 0; k < bins; ++k) {
                float* v = y.data<float>() + ((o * bins + k) * inner + i) * 2;
                v[0] = static_cast<float>(ore[static_cast<size_t>(k)]);
                v[1] = static_cast<float>(oim[static_cast<size_t>(k)]);
            }
        }
    ctx.outputs[0] = std::move(y);
}

// Frames of frame_length samples every frame_step, times the window, each DFT'd: output
// (batch, frames, bins, 2) with bins = frame_length / 2 + 1 when onesided (the default).
void stft_kernel(KernelContext& ctx) {
    const Tensor& x = float_input(ctx, 0);
    if (x.rank() != 3 || (x.dim(2) != 1 && x.dim(2) != 2))
        throw Error(ctx.where() + "signal must be (batch, length, 1 or 2), got " + shape_str(x.shape()));
    const int64_t step = scalar_int(ctx, 1, 0);
    const Tensor* window = ctx.has_input(2) && !ctx.in(2).empty() ? &float_input(ctx, 2) : nullptr;
    const int64_t frame = scalar_int(ctx, 3, window ? window->numel() : 0);
    if (step < 1 || frame < 1 || frame > x.dim(1) || (window && window->numel() != frame))
        throw Error(ctx.where() + "frame_step, frame_length and window do not fit the signal");
    const bool onesided = ctx.node.attr_int("onesided", 1) != 0;
    const bool complex_in = x.dim(2) == 2;
    if (onesided && complex_in) throw Error(ctx.where() + "onesided needs a real signal");
    const int64_t batch = x.dim(0), length = x.dim(1), frames = (length - frame) / step + 1;
    const int64_t bins = onesided ? frame / 2 + 1 : frame;
    Tensor y(DType::Float32, {batch, frames, bins, 2});
    std::vector<double> re(static_cast<size_t>(frame)), im(static_cast<size_t>(frame)), ore(static_cast<size_t>(bins)), oim(static_cast<size_t>(bins));
    for (int64_t b = 0; b < batch; ++b)
        for (int64_t f = 0; f < frames; ++f) {
            for (int64_t t = 0; t < frame; ++t) {
                const float* v = x.data<float>() + (b * length + f * step + t) * x.dim(2);
                const double w = window ? window->data<float>()[t] : 1.0;
                re[static_cast<size_t>(t)] = v[0] * w;
                im[static_cast<size_t>(t)] = complex_in ? v[1] * w : 0.0;
            }
            dft_line(re.data(), im.data(), frame, frame, bins, false, ore.data(), oim.data());
            for (int64_t k = 0; k < bins; ++k) {
                float* v = y.data<float>() + ((b * frames + f) * bins + k) * 2;
                v[0] = static_cast<float>(ore[static_cast<size_t>(k)]);
                v[1] = static_cast<float>(oim[static_cast<size_t>(k)]);
            }
        }
    ctx.outputs[0] = std::move(y);
}

// Triangular mel filters as ONNX's reference builds them: num_mel_bins + 2 edges evenly spaced
// in mel (step = range / (num_mel_bins + 2)), mapped to FFT bins by floor((dft_length + 1) * hz / rate).
void mel_weight_matrix_kernel(KernelContext& ctx) {
    const int64_t mels = scalar_int(ctx, 0, 0), dft_length = scalar_int(ctx, 1, 0), rate = scalar_int(ctx, 2, 0);
    const double lo_hz = ctx.in(3).get_as_double(0), hi_hz = ctx.in(4).get_as_double(0);
    if (mels < 1 || dft_length < 1 || rate < 1 || !(lo_hz >= 0 && hi_hz > lo_hz))
        throw Error(ctx.where() + "num_mel_bins, dft_length and sample_rate must be positive and the edges increasing");
    const int64_t to = ctx.node.attr_int("output_datatype", 1);
    if (to != 1) throw Error(ctx.where() + "only float output is supported");
    const int64_t spectrogram_bins = dft_length / 2 + 1;
    auto mel = [](double hz) { return 2595.0 * std::log10(1.0 + hz / 700.0); };
    const double lo_mel = mel(lo_hz), step = (mel(hi_hz) - lo_mel) / static_cast<double>(mels + 2);
    std::vector<int64_t> edge(static_cast<size_t>(mels + 2));
    for (int64_t i = 0; i < mels + 2; ++i) {
        const double hz = 700.0 * (std::pow(10.0, (static_cast<double>(i) * step + lo_mel) / 2595.0) - 1.0);
        edge[static_cast<size_t>(i)] = static_cast<int64_t>(std::floor(static_cast<double>(dft_length + 1) * hz / static_cast<double>(rate)));
    }
    Tensor y(DType::Float32, {spectrogram_bins, mels});
    auto put = [&](int64_t j, int64_t i, double v) {
        if (j < 0 || j >= spectrogram_bins) throw Error(ctx.where() + "upper_edge_hertz lies past the spectrogram's bins");
        y.data<float>()[j * mels + i] = static_cast<float>(v);
    };
    for (int64_t i = 0; i < mels; ++i) {
        const int64_t l = edge[static_cast<size_t>(i)], c = edge[static_cast<size_t>(i + 1)], h = edge[static_cast<size_t>(i + 2)];
        if (c == l) put(c, i, 1.0);
        else
            for (int64_t j = l; j <= c; ++j) put(j, i, static_cast<double>(j - l) / static_cast<double>(c - l));
        for (int64_t j = c; j < h; ++j) put(j, i, static_cast<double>(h - j) / static_cast<double>(h - c));
    }
    ctx.outputs[0] = std::move(y);
}

}  // namespace

void register_linear(KernelRegistry& r) {
    r.add("Gemm", 7, 999, gemm_kernel);
    r.add("Det", 11, 999, det_kernel);
    r.add("RNN", 7, 999, recurrent_kernel<Cell::Rnn>);
    r.add("GRU", 7, 999, recurrent_kernel<Cell::Gru>);
    r.add("LSTM", 7, 999, recurrent_kernel<Cell::Lstm>);
    r.add("DFT", 17, 999, dft_kernel);
    r.add("STFT", 17, 999, stft_kernel);
    r.add("MelWeightMatrix", 17, 999, mel_weight_matrix_kernel);
    r.add("MatMul", 1, 999, matmul_kernel);
}

}  // namespace qcp::engine::kernels
