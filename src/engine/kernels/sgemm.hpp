// Packed single-precision GEMM shared by Conv, ConvTranspose, Gemm and MatMul, and the SIMD im2col
// helpers of the conv kernels (internal to the engine).
//
// BLIS-style: A is packed into panels of up to mr() rows, B into panels of kNR columns, and a register-
// blocked micro-kernel multiplies one A panel by one B panel over a K block. The micro-kernel is
// picked at run time (AVX-512, AVX2+FMA, or portable C++), so a portable build (QCP_NATIVE=OFF) still
// runs AVX-512 code, where Eigen's GEMM would be fixed to SSE2; on the small per-image products of conv
// layers a hand-blocked kernel is also faster than Eigen's. Every output element sums its K products in
// the same order whatever the blocking of M and N, so callers may split M and N across threads freely;
// only the K blocking (kc_blocks) shapes the rounding, and it depends on K alone.
#pragma once

#include <cstdint>

namespace qcp::engine::kernels::sgemm {

constexpr int kNR = 32;  // columns per B panel (and per micro-tile)

enum class Isa { Generic, Avx2, Avx512 };
// The best kernel this CPU runs (the default).
Isa best_isa();
// Selects the micro-kernel (tests use this to cover every path the CPU supports); returns the old one.
// Not thread-safe: call between runs.
Isa set_isa(Isa isa);
Isa current_isa();
int mr();  // most rows per A panel for the current micro-kernel

// K is reduced in blocks of at most kKC: block b covers [kc_begin(K, b), kc_begin(K, b + 1)).
int64_t kc_blocks(int64_t k);
int64_t kc_begin(int64_t k, int64_t block);

inline int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

// A strided matrix view: element (i, j) is p[i * rs + j * cs].
struct View {
    const float* p;
    int64_t rs;
    int64_t cs;
};

// m rows split into panels of nearly equal height, at most mr() each (20 rows with mr() = 8: 7, 7, 6
// rather than 8, 8, 4): panel p covers rows [start(p), start(p) + rows(p)).
struct RowPanels {
    int64_t count = 0, base = 0, extra = 0;
    explicit RowPanels(int64_t m);
    int64_t start(int64_t p) const { return p * base + (p < extra ? p : extra); }
    int64_t rows(int64_t p) const { return base + (p < extra ? 1 : 0); }
};

// Packs rows [0, m) and columns [k0, k0 + kc) of A by RowPanels(m): panel p goes to dst + start(p) · kc
// as kc groups of rows(p) floats (k-major). dst needs m · kc floats.
void pack_a(View a, int64_t m, int64_t k0, int64_t kc, float* dst);
// Packs rows [k0, k0 + kc) and columns [0, n) of B into panels of kc × kNR floats (zero columns
// past n): dst needs kc * round_up(n, kNR) floats.
void pack_b(View b, int64_t k0, int64_t kc, int64_t n, float* dst);

// C (rows × cols, row stride ldc; rows <= mr(), cols <= kNR) = or += a_panel · b_panel over kc, where
// a_panel is a packed panel of `rows` rows and b_panel holds kc rows of kNR floats at row stride ldb (kNR
// when packed by pack_b; any stride works, but a multiple of 1 KiB makes the rows collide in L1).
void micro_kernel(int64_t kc, const float* a_panel, int64_t rows, const float* b_panel, int64_t ldb, float* c,
                  int64_t ldc, int64_t cols, bool accumulate);

// All of B packed once, for many row blocks of A: K block b's panels start at kc_begin(k, b) · round_up(n, kNR).
// dst needs k · round_up(n, kNR) floats.
void pack_b_all(View b, int64_t k, int64_t n, float* dst);
// C (m × n, row stride ldc) = A (m × k) · B, with B from pack_b_all, on one thread.
void gemm_packed(int64_t m, int64_t n, int64_t k, View a, const float* b_packed, float* c, int64_t ldc);

// C (m × n, row stride ldc) = A (m × k) · B (k × n) on one thread. Callers parallelise by calling it on
// row or column blocks.
void gemm(int64_t m, int64_t n, int64_t k, View a, View b, float* c, int64_t ldc);

// Row copy for zero-padded planes: dst[x] = src[x] for x in [lo, hi) and 0 elsewhere in [0, n). Reads only
// src[lo, hi); may write up to 15 floats past dst + n (in blocks of 16, masked on AVX-512).
void copy_padded_row(float* dst, const float* src, int64_t lo, int64_t hi, int64_t n);

// 16 consecutive floats of an im2col row: lane j is 0 if bit j of `zero` is set, else
// src[base[w] + idx[j]] with w = bit j of `second`. With windows = 1 or 2, each lane group lies within
// 32 floats of its base, and AVX-512 fetches it with two masked loads (of the floats marked in load[w])
// and a permute; windows = 0 means a gather from base[0].
struct Gather16 {
    int64_t base[2];
    int32_t idx[16];
    uint32_t load[2];
    uint16_t second, zero;
    uint8_t windows;
};
// Builds the chunk for source positions pos[0..15] (increasing, or -1 for a zero).
Gather16 gather16_plan(const int64_t* pos);
// dst[16c + j] = lane j of chunks[c] for every chunk c. Reads only the floats the lanes name.
void gather_chunks(const Gather16* chunks, int64_t count, const float* src, float* dst);

// A scratch buffer of at least n floats, 64-byte aligned, one per thread and slot, reused across calls
// (so hot loops do not allocate); zero-filled when first allocated. Slots 0..3 are free for callers
// (gemm() and gemm_packed() use 4 and 5); a slot's contents die at the next call with that slot.
float* scratch(int slot, int64_t n);

}  // namespace qcp::engine::kernels::sgemm
