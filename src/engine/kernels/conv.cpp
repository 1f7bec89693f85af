// Conv (every opset; 1, 11 and 22 differ only in types): 1-D, 2-D and 3-D; group, strides, pads,
// dilations, auto_pad, optional bias, kernel_shape given or taken from the weight.
//
// General case, as a GEMM per group: Y_g (Cout/g × columns) = W_g (Cout/g × Cin/g·k, packed once per
// call) · im2col (Cin/g·k × columns), where the columns are output positions of the whole batch, so the
// result lands in NCHW order with no transpose. The columns are cut into tasks (a few whole images, or a
// range of one large image); a task writes its im2col rows straight into sgemm B panels, one K block at
// a time. im2col has two forms: on AVX-512, Gather16 chunks (a permute of two masked loads per 16
// columns) read the input directly; elsewhere, each input channel is first copied into zero-padded
// "phase planes", from which every output row is one contiguous run. A 1×1 stride-1 unpadded conv's
// im2col rows are the input rows themselves. Convs with one input channel per group and few outputs
// per channel (depthwise) run a direct kernel: their GEMM would have K = kh·kw, too short for the
// micro-kernel. Every output element is computed by one task in a fixed order, so results do not
// depend on the thread count.
#include <algorithm>
#include <array>
#include <cstring>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define QCP_CONV_X86 1
#endif

#include "conv_impl.hpp"
#include "kernels.hpp"
#include "qcp/core/parallel.hpp"
#include "qcp/engine/epilogue.hpp"
#include "qcp/ir/conv_pads.hpp"
#include "sgemm.hpp"
#include "util.hpp"

namespace qcp::engine::kernels {

const float* conv_bias(const KernelContext& ctx, int64_t channels) {
    if (!ctx.has_input(2)) return nullptr;
    const Tensor& b = float_input(ctx, 2);
    if (b.numel() != channels)
        throw Error(ctx.where() + "bias " + shape_str(b.shape()) + " does not match " + std::to_string(channels) +
                    " output channels");
    return b.data<float>();
}

Shape conv_output_shape(const Tensor& x, int64_t batch, int64_t channels, const std::array<int64_t, 3>& out) {
    Shape shape = {batch, channels};
    for (size_t i = 2; i < x.rank(); ++i) shape.push_back(out[3 - (x.rank() - i)]);
    return shape;
}

ConvAttrs read_conv_attrs(const KernelContext& ctx, const Shape& weight_shape, size_t nd) {
    const ir::Node& node = ctx.node;
    ConvAttrs a;
    a.group = node.attr_int("group", 1);
    if (a.group < 1) throw Error(ctx.where() + "group must be >= 1, got " + std::to_string(a.group));
    const std::string auto_pad = node.attr_string("auto_pad", "NOTSET");  // "" is NOTSET; ir::conv_pads resolves it
    if (!auto_pad.empty() && auto_pad != "NOTSET" && auto_pad != "SAME_UPPER" && auto_pad != "SAME_LOWER" &&
        auto_pad != "VALID")
        throw Error(ctx.where() + "unsupported auto_pad '" + auto_pad + "'");
    const Shape weight_kernel(weight_shape.end() - static_cast<std::ptrdiff_t>(nd), weight_shape.end());
    a.kernel = node.attr_ints("kernel_shape", weight_kernel);
    if (a.kernel != weight_kernel)
        throw Error(ctx.where() + "kernel_shape " + shape_str(a.kernel) + " differs from the weight's " +
                    shape_str(weight_kernel));
    a.strides = node.attr_ints("strides", std::vector<int64_t>(nd, 1));
    a.dilations = node.attr_ints("dilations", std::vector<int64_t>(nd, 1));
    const auto pads = node.attr_ints("pads", std::vector<int64_t>(2 * nd, 0));
    auto check = [&](const std::vector<int64_t>& v, size_t len, int64_t min, const char* name) {
        if (v.size() != len) throw Error(ctx.where() + name + " needs " + std::to_string(len) + " values");
        for (int64_t x : v)
            if (x < min) throw Error(ctx.where() + name + " value " + std::to_string(x) + " out of range");
    };
    check(a.strides, nd, 1, "strides");
    check(a.dilations, nd, 1, "dilations");
    check(pads, 2 * nd, 0, "pads");
    return a;
}

namespace {

int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
int64_t ceil_div(int64_t a, int64_t b) { return -floor_div(-a, b); }

// Conv shapes with the spatial dims right-aligned into 3 (a 1-D conv is 1 × 1 × W).
struct Geometry {
    int64_t batch = 0, cin = 0, cout = 0, group = 1;
    int64_t cg = 0, mg = 0;  // input and output channels per group
    std::array<int64_t, 3> in{1, 1, 1}, out{1, 1, 1}, k{1, 1, 1}, s{1, 1, 1}, d{1, 1, 1}, pad{0, 0, 0};
    int64_t in_size() const { return in[0] * in[1] * in[2]; }
    int64_t out_size() const { return out[0] * out[1] * out[2]; }
    int64_t k_size() const { return k[0] * k[1] * k[2]; }
    bool pointwise = false;  // 1×1, stride 1, no padding: im2col is the input itself
};

Geometry conv_geometry(const KernelContext& ctx, const Tensor& x, const Tensor& w) {
    if (x.rank() < 3 || x.rank() > 5 || w.rank() != x.rank())
        throw Error(ctx.where() + "expects X and W of equal rank 3 to 5, got " + shape_str(x.shape()) + " and " +
                    shape_str(w.shape()));
    const size_t nd = x.rank() - 2;
    const ConvAttrs a = read_conv_attrs(ctx, w.shape(), nd);
    Geometry g;
    g.batch = x.dim(0);
    g.cin = x.dim(1);
    g.cout = w.dim(0);
    g.group = a.group;
    if (g.cin % g.group != 0 || g.cout % g.group != 0 || w.dim(1) * g.group != g.cin)
        throw Error(ctx.where() + "X " + shape_str(x.shape()) + " and W " + shape_str(w.shape()) +
                    " do not match group " + std::to_string(g.group));
    g.cg = g.cin / g.group;
    g.mg = g.cout / g.group;
    const Shape in(x.shape().begin() + 2, x.shape().end());
    const std::vector<int64_t> pads = ir::conv_pads(ctx.node, in, a.kernel, a.strides, a.dilations);
    for (size_t i = 0; i < nd; ++i) {
        const size_t j = 3 - nd + i;
        g.in[j] = in[i];
        g.k[j] = a.kernel[i];
        g.s[j] = a.strides[i];
        g.d[j] = a.dilations[i];
        const int64_t span = (g.k[j] - 1) * g.d[j] + 1;  // dilated kernel extent
        const int64_t begin = pads[i], end = pads[i + nd];
        g.pad[j] = begin;
        const int64_t extent = g.in[j] + begin + end - span;
        if (extent < 0)
            throw Error(ctx.where() + "kernel " + shape_str(a.kernel) + " is larger than the padded input " +
                        shape_str(x.shape()));
        g.out[j] = extent / g.s[j] + 1;
    }
    g.pointwise = g.k_size() == 1 && g.s == std::array<int64_t, 3>{1, 1, 1} && g.in == g.out;
    return g;
}

// im2col copies runs of 1 to a few dozen floats: GCC would turn these loops into memmove/memset
// calls that cost more than the copy itself (glibc marks its own such loops the same way).
#if defined(__GNUC__) && !defined(__clang__)
#define QCP_NO_LOOP_TO_LIBCALL __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define QCP_NO_LOOP_TO_LIBCALL
#endif

QCP_NO_LOOP_TO_LIBCALL inline void copy_floats(float* __restrict dst, const float* __restrict src, int64_t n) {
    for (int64_t i = 0; i < n; ++i) dst[i] = src[i];
}

QCP_NO_LOOP_TO_LIBCALL inline void zero_floats(float* dst, int64_t n) {
    for (int64_t i = 0; i < n; ++i) dst[i] = 0.0f;
}

// Copies n floats in whole 16-float blocks: reads and writes up to 15 floats past the end, which
// both buffers must allow (the next run overwrites what spilled). Buffers that im2col reads or writes
// this way end with kCopySlack spare floats.
constexpr int64_t kCopySlack = 16;
QCP_NO_LOOP_TO_LIBCALL __attribute__((always_inline)) inline void copy_blocks(float* dst, const float* src, int64_t n) {
    for (int64_t i = 0; i < n; i += 16) std::memcpy(dst + i, src + i, 16 * sizeof(float));
}

// im2col reads each input channel through phase planes: the zero-padded plane split by stride
// phase, phase (a0, a1, a2) holding padded[z·s0 + a0][y·s1 + a1][x·s2 + a2]. Tap (kz, ky, kx) at output
// (od, oh, ow) reads padded[od·s0 + e0][oh·s1 + e1][ow·s2 + e2] with e = k·d, which is phase e mod s at
// (od + e0/s0, oh + e1/s1, ow + e2/s2). So every output row of every tap is one contiguous run, with
// no bounds checks, whatever the strides, pads and dilations.
struct PhaseLayout {
    std::array<int64_t, 3> q{1, 1, 1};  // phase plane dims
    int64_t plane = 1;                   // floats per phase plane
    int64_t phases = 1;                  // s0·s1·s2
    std::vector<char> used;              // phases that some tap reads
    std::vector<int64_t> tap_start;      // per tap: where output (0, 0, 0) reads, from the first phase
    int64_t image = 0;                   // floats for one channel's phases, plus copy slack
};

std::array<int64_t, 3> tap_offsets(const Geometry& g, int64_t tap) {
    const int64_t kz = tap / (g.k[1] * g.k[2]), ky = tap / g.k[2] % g.k[1], kx = tap % g.k[2];
    return {kz * g.d[0], ky * g.d[1], kx * g.d[2]};
}

int64_t phase_of(const Geometry& g, const std::array<int64_t, 3>& e) {
    return ((e[0] % g.s[0]) * g.s[1] + e[1] % g.s[1]) * g.s[2] + e[2] % g.s[2];
}

PhaseLayout phase_layout(const Geometry& g) {
    PhaseLayout l;
    for (int i = 0; i < 3; ++i) l.q[i] = ceil_div((g.out[i] - 1) * g.s[i] + (g.k[i] - 1) * g.d[i] + 1, g.s[i]);
    l.plane = l.q[0] * l.q[1] * l.q[2];
    l.phases = g.s[0] * g.s[1] * g.s[2];
    l.used.assign(static_cast<size_t>(l.phases), 0);
    for (int64_t tap = 0; tap < g.k_size(); ++tap) {
        const auto e = tap_offsets(g, tap);
        const int64_t phase = phase_of(g, e);
        l.used[static_cast<size_t>(phase)] = 1;
        l.tap_start.push_back(phase * l.plane + ((e[0] / g.s[0]) * l.q[1] + e[1] / g.s[1]) * l.q[2] + e[2] / g.s[2]);
    }
    l.image = l.phases * l.plane + kCopySlack;
    return l;
}

// Phase-plane rows [z0, z1) × [y0, y1) that output positions [o0, o1) read.
struct PhaseRows {
    int64_t z0, z1, y0, y1;
};

PhaseRows phase_rows(const Geometry& g, const PhaseLayout& l, int64_t o0, int64_t o1) {
    const int64_t first = o0 / g.out[2], last = (o1 - 1) / g.out[2];  // flattened (od, oh) rows
    const int64_t z_reach = (g.k[0] - 1) * g.d[0] / g.s[0], y_reach = (g.k[1] - 1) * g.d[1] / g.s[1];
    PhaseRows r{first / g.out[1], std::min(l.q[0], last / g.out[1] + z_reach + 1), 0, l.q[1]};
    if (r.z0 == last / g.out[1]) {  // within one depth slice: only the rows it covers
        r.y0 = first % g.out[1];
        r.y1 = std::min(l.q[1], last % g.out[1] + y_reach + 1);
    }
    return r;
}

// Fills rows `rows` of the used phase planes of one input channel plane. Writes up to kCopySlack
// floats past the last row.
QCP_NO_LOOP_TO_LIBCALL void build_phases(const Geometry& g, const PhaseLayout& l, const PhaseRows& rows,
                                         const float* src, float* dst) {
    const auto& q = l.q;
    for (int64_t ph = 0; ph < l.phases; ++ph) {
        if (!l.used[static_cast<size_t>(ph)]) continue;
        const int64_t a0 = ph / (g.s[1] * g.s[2]), a1 = ph / g.s[2] % g.s[1], a2 = ph % g.s[2];
        const int64_t shift = a2 - g.pad[2];  // input column = x·s2 + shift
        const int64_t x_lo = std::clamp<int64_t>(ceil_div(-shift, g.s[2]), 0, q[2]);
        const int64_t x_hi = std::clamp<int64_t>(floor_div(g.in[2] - 1 - shift, g.s[2]) + 1, x_lo, q[2]);
        float* out = dst + ph * l.plane;
        for (int64_t z = rows.z0; z < rows.z1; ++z)
            for (int64_t y = rows.y0; y < rows.y1; ++y) {
                const int64_t iz = z * g.s[0] + a0 - g.pad[0], iy = y * g.s[1] + a1 - g.pad[1];
                float* row = out + (z * q[1] + y) * q[2];
                // rows are filled in order, so what copy_padded_row spills past a row is rewritten next
                if (iz < 0 || iz >= g.in[0] || iy < 0 || iy >= g.in[1]) {
                    sgemm::copy_padded_row(row, nullptr, 0, 0, q[2]);
                    continue;
                }
                const float* srow = src + (iz * g.in[1] + iy) * g.in[2] + shift;
                if (g.s[2] == 1) {
                    sgemm::copy_padded_row(row, srow, x_lo, x_hi, q[2]);
                    continue;
                }
                zero_floats(row, x_lo);
                if (g.s[2] == 2) {  // a constant stride lets the compiler vectorise
                    for (int64_t x = x_lo; x < x_hi; ++x) row[x] = srow[2 * x];
                } else {
                    for (int64_t x = x_lo; x < x_hi; ++x) row[x] = srow[x * g.s[2]];
                }
                zero_floats(row + x_hi, q[2] - x_hi);
            }
    }
}

// A task covers columns [c0, c1) of the whole batch's im2col matrix (column = image · H·W + output
// position), so no B panel is left part-empty at image ends. A segment is its part in one image.
struct Segment {
    int64_t image;   // batch index
    int64_t o0, o1;  // output positions within the image
    int64_t col;     // its first column, counted from c0
};

std::vector<Segment> task_segments(int64_t hw, int64_t c0, int64_t c1) {
    std::vector<Segment> segments;
    for (int64_t c = c0; c < c1;) {
        const int64_t o0 = c % hw, o1 = std::min(hw, o0 + (c1 - c));
        segments.push_back({c / hw, o0, o1, c - c0});
        c += o1 - o0;
    }
    return segments;
}

// A segment's output positions as runs along W: im2col row `tap` copies, for every run, `len` floats
// from phases + tap_start[tap] + src to B row + dst. The same for every channel and tap.
struct Run {
    int64_t src, dst, len;
};

void append_runs(const Geometry& g, const PhaseLayout& l, const Segment& seg, int64_t src_base, std::vector<Run>& runs) {
    const int64_t ow_count = g.out[2], oh_count = g.out[1];
    int64_t ow0 = seg.o0 % ow_count, oh = seg.o0 / ow_count % oh_count, od = seg.o0 / ow_count / oh_count;
    for (int64_t o = seg.o0; o < seg.o1; ow0 = 0) {
        const int64_t len = std::min(ow_count - ow0, seg.o1 - o);
        runs.push_back({src_base + (od * l.q[1] + oh) * l.q[2] + ow0, seg.col + o - seg.o0, len});
        o += len;
        if (++oh == oh_count) {
            oh = 0;
            ++od;
        }
    }
}

// Writes up to kCopySlack floats past the row's end; runs are in column order, so each spill is
// overwritten by the next run.
QCP_NO_LOOP_TO_LIBCALL void im2col_row(const std::vector<Run>& runs, const float* src, float* dst) {
    for (const Run& r : runs) copy_blocks(dst + r.dst, src + r.src, r.len);
}

// The AVX-512 im2col reads the input directly: for each tap, sgemm::Gather16 chunks that fetch 16
// columns with a permute of two masked loads (zero in padding), so no phase planes are needed and one
// chunk costs about as much as one copied run. plan[tap · chunks + c] covers columns [16c, 16c + 16);
// sources are relative to the channel's plane in the task's first image.
std::vector<sgemm::Gather16> gather_plan(const Geometry& g, const std::vector<Segment>& segments, int64_t ncols) {
    const int64_t chunks = sgemm::round_up(ncols, 16) / 16, image_stride = g.cin * g.in_size();
    std::vector<sgemm::Gather16> plan(static_cast<size_t>(g.k_size() * chunks));
    std::vector<int64_t> pos(static_cast<size_t>(chunks * 16));
    for (int64_t tap = 0; tap < g.k_size(); ++tap) {
        const auto e = tap_offsets(g, tap);
        std::fill(pos.begin(), pos.end(), -1);
        for (const Segment& seg : segments) {
            const int64_t base = (seg.image - segments[0].image) * image_stride;
            int64_t ow = seg.o0 % g.out[2], oh = seg.o0 / g.out[2] % g.out[1], od = seg.o0 / g.out[2] / g.out[1];
            for (int64_t o = seg.o0; o < seg.o1; ++o) {
                const int64_t iz = od * g.s[0] - g.pad[0] + e[0], iy = oh * g.s[1] - g.pad[1] + e[1],
                              ix = ow * g.s[2] - g.pad[2] + e[2];
                if (iz >= 0 && iz < g.in[0] && iy >= 0 && iy < g.in[1] && ix >= 0 && ix < g.in[2])
                    pos[static_cast<size_t>(seg.col + o - seg.o0)] = base + (iz * g.in[1] + iy) * g.in[2] + ix;
                if (++ow == g.out[2]) {
                    ow = 0;
                    if (++oh == g.out[1]) {
                        oh = 0;
                        ++od;
                    }
                }
            }
        }
        for (int64_t c = 0; c < chunks; ++c) plan[static_cast<size_t>(tap * chunks + c)] = sgemm::gather16_plan(&pos[static_cast<size_t>(16 * c)]);
    }
    return plan;
}

// One GEMM task: output channels of group `gi` in A panels [p0, p1), for im2col columns [c0, c1).
// im2col uses `plan` (AVX-512, from gather_plan for this column layout) when given, else phase planes.
void conv_task(const Geometry& g, const PhaseLayout& l, const float* x, const float* a_packed, const float* bias,
               float* y, int64_t gi, int64_t c0, int64_t c1, int64_t p0, int64_t p1, const sgemm::Gather16* plan, bool relu,
               const Epilogue* epilogue) {
    using sgemm::kNR;
    const int64_t kk = g.k_size(), k_total = g.cg * kk, hw = g.out_size(), in_size = g.in_size();
    const int64_t ncols = c1 - c0, npad = sgemm::round_up(ncols, kNR);
    // B rows padded by kCopySlack (16) floats: room for copy_blocks' spill, and an odd number of cache
    // lines per row, so a B panel's rows spread over every L1 set
    const int64_t ldb = npad + kCopySlack;
    const std::vector<Segment> segments = task_segments(hw, c0, c1);
    // im2col: plain copies (pointwise), AVX-512 chunks straight from the input, or runs from phase planes
    const bool gather = !g.pointwise && plan;
    const bool phased = !g.pointwise && !gather;
    const int64_t chunks = sgemm::round_up(ncols, 16) / 16;
    std::vector<Run> runs;
    std::vector<PhaseRows> rows;
    for (size_t i = 0; i < segments.size() && phased; ++i) {
        append_runs(g, l, segments[i], static_cast<int64_t>(i) * l.image, runs);
        rows.push_back(phase_rows(g, l, segments[i].o0, segments[i].o1));
    }
    float* bp = sgemm::scratch(1, sgemm::kc_begin(k_total, 1) * ldb);
    float* phases = phased ? sgemm::scratch(3, static_cast<int64_t>(segments.size()) * l.image) : nullptr;
    const sgemm::RowPanels panels(g.mg);
    const int64_t m0 = panels.start(p0), m1 = panels.start(p1);  // output channels (within the group)
    // within one image: write straight into Y; across images: into a scratch tile, then copy out
    const bool direct = segments.size() == 1;
    const int64_t ldc = direct ? hw : npad;
    float* c = direct ? y + (segments[0].image * g.cout + gi * g.mg + m0) * hw + segments[0].o0
                      : sgemm::scratch(2, (m1 - m0) * npad);
    const float* xg = x + gi * g.cg * in_size;
    const float* x_first = xg + segments[0].image * g.cin * in_size;

    const int64_t blocks = sgemm::kc_blocks(k_total);
    for (int64_t blk = 0; blk < blocks; ++blk) {
        const int64_t k0 = sgemm::kc_begin(k_total, blk), kc = sgemm::kc_begin(k_total, blk + 1) - k0;
        int64_t built = -1;  // channel whose phase planes are in `phases`
        for (int64_t kr = 0; kr < kc; ++kr) {
            const int64_t ci = (k0 + kr) / kk, tap = (k0 + kr) % kk;
            float* brow = bp + kr * ldb;
            if (g.pointwise) {
                for (const Segment& seg : segments)
                    std::memcpy(brow + seg.col, xg + (seg.image * g.cin + ci) * in_size + seg.o0,
                                sizeof(float) * static_cast<size_t>(seg.o1 - seg.o0));
            } else if (gather) {
                sgemm::gather_chunks(plan + tap * chunks, chunks, x_first + ci * in_size, brow);
            } else {
                if (ci != built) {
                    for (size_t i = 0; i < segments.size(); ++i)
                        build_phases(g, l, rows[i], xg + (segments[i].image * g.cin + ci) * in_size,
                                     phases + static_cast<int64_t>(i) * l.image);
                    built = ci;
                }
                im2col_row(runs, phases + l.tap_start[static_cast<size_t>(tap)], brow);
            }
        }
        const float* ap = a_packed + (gi * k_total + k0) * g.mg;
        for (int64_t j0 = 0; j0 < ncols; j0 += kNR) {
            const int64_t cols = direct ? std::min<int64_t>(kNR, ncols - j0) : kNR;
            for (int64_t p = p0; p < p1; ++p) {
                const int64_t i0 = panels.start(p);
                sgemm::micro_kernel(kc, ap + i0 * kc, panels.rows(p), bp + j0, ldb, c + (i0 - m0) * ldc + j0, ldc,
                                    cols, blk > 0);
            }
        }
    }

    for (const Segment& seg : segments)
        for (int64_t m = m0; m < m1; ++m) {
            const float b = bias ? bias[gi * g.mg + m] : 0.0f;
            float* out = y + (seg.image * g.cout + gi * g.mg + m) * hw + seg.o0;
            const int64_t len = seg.o1 - seg.o0;
            // bias and a fused Relu (engine fusion of Conv → Relu) while the tile is in cache
            if (direct) {
                if (relu)
                    for (int64_t o = 0; o < len; ++o) out[o] = std::max(out[o] + b, 0.0f);
                else if (bias)
                    for (int64_t o = 0; o < len; ++o) out[o] += b;
            } else {
                const float* src = c + (m - m0) * ldc + seg.col;
                if (relu)
                    for (int64_t o = 0; o < len; ++o) out[o] = std::max(src[o] + b, 0.0f);
                else
                    for (int64_t o = 0; o < len; ++o) out[o] = src[o] + b;
            }
            if (epilogue) epilogue->apply(out, len, gi * g.mg + m);
        }
}

// How conv_gemm cuts the work, from the shapes alone: small images go whole, several to a task, with the
// image count chosen so that the columns nearly fill whole B panels (then every full task has the same
// column layout and shares one gather plan); large images are cut into column ranges. Tasks run per group,
// and per block of A panels when there are too few tasks to share among threads.
struct Tiling {
    int64_t images = 0;   // whole images per task; 0: column ranges of one image
    int64_t columns = 0;  // im2col columns per task
    int64_t tasks = 0;    // per group
    int64_t panel_blocks = 1;
};

constexpr int64_t kTaskColumns = 512;  // B (K block × columns) and C tiles stay in L2
constexpr int64_t kMinTasks = 8;

Tiling conv_tiling(const Geometry& g) {
    Tiling t;
    const int64_t hw = g.out_size();
    if (hw <= kTaskColumns) {
        auto waste = [&](int64_t p) { return double(sgemm::round_up(p * hw, sgemm::kNR) - p * hw) / double(p * hw); };
        t.images = 1;
        for (int64_t p = 2; p <= std::min(g.batch, kTaskColumns / hw); ++p)
            if (waste(p) < waste(t.images) - 1e-9) t.images = p;
        t.columns = t.images * hw;
        t.tasks = (g.batch + t.images - 1) / t.images;
    } else {
        const int64_t chunks = (hw + kTaskColumns - 1) / kTaskColumns;
        t.columns = sgemm::round_up((hw + chunks - 1) / chunks, sgemm::kNR);
        t.tasks = g.batch * ((hw + t.columns - 1) / t.columns);
    }
    const int64_t panels = sgemm::RowPanels(g.mg).count;
    if (t.tasks * g.group < kMinTasks)
        t.panel_blocks = std::min(panels, (kMinTasks + t.tasks * g.group - 1) / (t.tasks * g.group));
    return t;
}

void conv_gemm(const Geometry& g, const float* x, const float* w, const float* bias, float* y, bool relu,
               const Epilogue* epilogue) {
    const int64_t k_total = g.cg * g.k_size();
    std::vector<float> a_packed(static_cast<size_t>(g.group * g.mg * k_total));
    for (int64_t gi = 0; gi < g.group; ++gi)
        for (int64_t blk = 0; blk < sgemm::kc_blocks(k_total); ++blk) {
            const int64_t k0 = sgemm::kc_begin(k_total, blk), kc = sgemm::kc_begin(k_total, blk + 1) - k0;
            sgemm::pack_a({w + gi * g.mg * k_total, k_total, 1}, g.mg, k0, kc,
                          a_packed.data() + (gi * k_total + k0) * g.mg);
        }

    const Tiling tiling = conv_tiling(g);
    const int64_t hw = g.out_size(), per_image = (hw + tiling.columns - 1) / tiling.columns;
    // gather plans depend on where a task's columns fall in its images, not on which images: whole-image
    // tasks share one (and a short last task another), column ranges one per position in the image
    std::vector<std::vector<sgemm::Gather16>> plans;
    const bool gather = !g.pointwise && sgemm::current_isa() == sgemm::Isa::Avx512;
    const int64_t last_images = tiling.images > 0 ? g.batch - (tiling.tasks - 1) * tiling.images : 0;
    if (gather && tiling.images > 0) {
        plans.push_back(gather_plan(g, task_segments(hw, 0, tiling.columns), tiling.columns));
        plans.push_back(gather_plan(g, task_segments(hw, 0, last_images * hw), last_images * hw));
    } else if (gather) {
        for (int64_t c0 = 0; c0 < hw; c0 += tiling.columns) {
            const int64_t c1 = std::min(hw, c0 + tiling.columns);
            plans.push_back(gather_plan(g, task_segments(hw, c0, c1), c1 - c0));
        }
    }
    const int64_t panels = sgemm::RowPanels(g.mg).count;
    const int64_t per_block = (panels + tiling.panel_blocks - 1) / tiling.panel_blocks;
    const PhaseLayout layout = phase_layout(g);
    parallel_for(tiling.tasks * g.group * tiling.panel_blocks, 1, [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; ++t) {
            const int64_t block = t % tiling.panel_blocks, gi = t / tiling.panel_blocks % g.group;
            const int64_t task = t / tiling.panel_blocks / g.group;
            const int64_t p0 = std::min(panels, block * per_block), p1 = std::min(panels, p0 + per_block);
            if (p0 == p1) continue;
            int64_t c0 = 0, c1 = 0;
            const sgemm::Gather16* plan = nullptr;
            if (tiling.images > 0) {
                c0 = task * tiling.columns;
                c1 = std::min(g.batch * hw, c0 + tiling.columns);
                if (gather) plan = plans[task + 1 < tiling.tasks ? 0 : 1].data();
            } else {
                const int64_t n = task / per_image, chunk = task % per_image;
                c0 = n * hw + chunk * tiling.columns;
                c1 = n * hw + std::min(hw, (chunk + 1) * tiling.columns);
                if (gather) plan = plans[static_cast<size_t>(chunk)].data();
            }
            conv_task(g, layout, x, a_packed.data(), bias, y, gi, c0, c1, p0, p1, plan, relu, epilogue);
        }
    });
}

// Depthwise (one input channel per group), 1-D or 2-D. The input plane is padded into phase planes
// (as for im2col), so tap t of output (oh, ow) reads phases[tap_start[t] + oh·q2 + ow]: over the flat
// index p = oh·q2 + ow every tap is one contiguous stream, and the whole plane is one long vectorisable
// loop. Columns ow >= OW of that "wide" output are junk and dropped when copying out.
template <int Taps>
void depthwise_wide(const float* __restrict src, const int64_t* tap_start, const float* __restrict w, float bias,
                    int64_t n, float* __restrict wide) {
    for (int64_t p = 0; p < n; ++p) {
        float acc = bias;
        for (int t = 0; t < Taps; ++t) acc += w[t] * src[tap_start[t] + p];
        wide[p] = acc;
    }
}

void depthwise_wide_any(const float* __restrict src, const int64_t* tap_start, int64_t taps,
                        const float* __restrict w, float bias, int64_t n, float* __restrict wide) {
    for (int64_t p = 0; p < n; ++p) wide[p] = bias;
    for (int64_t t = 0; t < taps; ++t) {
        const float* __restrict in = src + tap_start[t];
        for (int64_t p = 0; p < n; ++p) wide[p] += w[t] * in[p];
    }
}

#ifdef QCP_CONV_X86
// AVX-512, stride 1 or 2 along W: 16 outputs of a row at a time, each tap one masked load (zeros where
// it falls in the padding; at stride 2, two loads and a permute that keeps the even lanes), so no
// padded copy is needed. Rows go kDwRows at a time: each input row is loaded
// once for every output row of the block that reads it (a 5×5 kernel loads 8 rows for 4 outputs rather
// than 20). Each output still adds its taps in (ky, kx) order, skipping rows in the padding, as when
// it went row by row (the compiler fuses each multiply-add, so the bits differ from depthwise_wide's).
constexpr int kDwRows = 4;

__attribute__((target("avx512f"))) void depthwise_plane_avx512(const Geometry& g, const float* in, const float* w,
                                                               float bias, float* out) {
    auto lanes = [](int64_t lo, int64_t hi) { return static_cast<__mmask16>(((1u << hi) - 1) & ~((1u << lo) - 1)); };
    const int64_t ow_count = g.out[2], iw_count = g.in[2], kh = g.k[1], kw = g.k[2], sw = g.s[2];
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    for (int64_t oh0 = 0; oh0 < g.out[1]; oh0 += kDwRows) {
        const int64_t rows = std::min<int64_t>(kDwRows, g.out[1] - oh0);
        int64_t top[kDwRows];  // input row of each output row's tap ky = 0
        for (int j = 0; j < kDwRows; ++j) top[j] = (oh0 + j) * g.s[1] - g.pad[1];
        const int64_t ih_begin = std::max<int64_t>(0, top[0]);
        const int64_t ih_end = std::min(g.in[1], top[rows - 1] + (kh - 1) * g.d[1] + 1);
        for (int64_t ow0 = 0; ow0 < ow_count; ow0 += 16) {
            const int64_t n = std::min<int64_t>(16, ow_count - ow0);
            __m512 acc[kDwRows];
            for (int j = 0; j < kDwRows; ++j) acc[j] = _mm512_set1_ps(bias);
            for (int64_t ih = ih_begin; ih < ih_end; ++ih) {
                const float* wrow[kDwRows];  // the weight row that output row j applies to input row ih
                for (int j = 0; j < kDwRows; ++j) {
                    const int64_t off = ih - top[j];
                    const bool used = j < rows && off >= 0 && off % g.d[1] == 0 && off / g.d[1] < kh;
                    wrow[j] = used ? w + off / g.d[1] * kw : nullptr;
                }
                for (int64_t kx = 0; kx < kw; ++kx) {
                    const int64_t iw0 = ow0 * sw - g.pad[2] + kx * g.d[2];  // input column of lane 0
                    const float* src = in + ih * iw_count + iw0;
                    __m512 v;
                    if (sw == 1) {
                        const int64_t lo = std::clamp<int64_t>(-iw0, 0, n), hi = std::clamp<int64_t>(iw_count - iw0, lo, n);
                        v = _mm512_maskz_loadu_ps(lanes(lo, hi), src);
                    } else {  // lane j reads src[2j]: columns [0, 2n - 1) of src, of which [lo, hi) are inside
                        const int64_t span = 2 * n - 1;
                        const int64_t lo = std::clamp<int64_t>(-iw0, 0, span), hi = std::clamp<int64_t>(iw_count - iw0, lo, span);
                        const uint32_t m = static_cast<uint32_t>(((uint64_t{1} << hi) - 1) & ~((uint64_t{1} << lo) - 1));
                        const __m512 a = _mm512_maskz_loadu_ps(static_cast<__mmask16>(m & 0xffff), src);
                        const __m512 b = _mm512_maskz_loadu_ps(static_cast<__mmask16>(m >> 16), src + 16);
                        v = _mm512_permutex2var_ps(a, even, b);
                    }
                    for (int j = 0; j < kDwRows; ++j)
                        if (wrow[j]) acc[j] = _mm512_add_ps(acc[j], _mm512_mul_ps(_mm512_set1_ps(wrow[j][kx]), v));
                }
            }
            for (int j = 0; j < rows; ++j) _mm512_mask_storeu_ps(out + (oh0 + j) * ow_count + ow0, lanes(0, n), acc[j]);
        }
    }
}
#endif

void conv_depthwise(const Geometry& g, const float* x, const float* w, const float* bias, float* y,
                    const Epilogue* epilogue) {
#ifdef QCP_CONV_X86
    if (sgemm::current_isa() == sgemm::Isa::Avx512 && g.s[2] <= 2) {
        const int64_t work = g.out_size() * g.k_size();
        parallel_for(g.batch * g.cout, std::max<int64_t>(1, 32768 / std::max<int64_t>(work, 1)),
                     [&](int64_t p0, int64_t p1) {
                         for (int64_t p = p0; p < p1; ++p) {
                             const int64_t n = p / g.cout, oc = p % g.cout;
                             depthwise_plane_avx512(g, x + (n * g.cin + oc / g.mg) * g.in_size(), w + oc * g.k_size(),
                                                    bias ? bias[oc] : 0.0f, y + p * g.out_size());
                             if (epilogue) epilogue->apply(y + p * g.out_size(), g.out_size(), oc);
                         }
                     });
        return;
    }
#endif
    const PhaseLayout l = phase_layout(g);
    const PhaseRows all_rows{0, l.q[0], 0, l.q[1]};
    const int64_t oh_count = g.out[1], ow_count = g.out[2], wide_size = oh_count * l.q[2];
    // the junk columns of the last wide row read up to (kw − 1)·dw floats past the last phase plane
    const int64_t phase_floats = l.image + (g.k[2] - 1) * g.d[2];
    const int64_t units = g.batch * g.cin;  // input planes; each feeds mg output planes
    const int64_t work = g.mg * g.out_size() * g.k_size();
    parallel_for(units, std::max<int64_t>(1, 32768 / std::max<int64_t>(work, 1)), [&](int64_t u0, int64_t u1) {
        float* phases = sgemm::scratch(3, phase_floats);
        float* wide = sgemm::scratch(2, wide_size);
        for (int64_t u = u0; u < u1; ++u) {
            build_phases(g, l, all_rows, x + u * g.in_size(), phases);
            const int64_t n = u / g.cin, ic = u % g.cin;
            for (int64_t m = 0; m < g.mg; ++m) {
                const int64_t oc = ic * g.mg + m;
                const float* wk = w + oc * g.k_size();
                const float b = bias ? bias[oc] : 0.0f;
                if (g.k_size() == 9)
                    depthwise_wide<9>(phases, l.tap_start.data(), wk, b, wide_size, wide);
                else
                    depthwise_wide_any(phases, l.tap_start.data(), g.k_size(), wk, b, wide_size, wide);
                float* out = y + (n * g.cout + oc) * g.out_size();
                for (int64_t oh = 0; oh < oh_count; ++oh)
                    copy_floats(out + oh * ow_count, wide + oh * l.q[2], ow_count);
                if (epilogue) epilogue->apply(out, g.out_size(), oc);
            }
        }
    });
}

void conv_kernel(KernelContext& ctx) {
    const Tensor& x = float_input(ctx, 0);
    const Tensor& w = float_input(ctx, 1);
    const Geometry g = conv_geometry(ctx, x, w);
    const float* bias = conv_bias(ctx, g.cout);
    const Shape out_shape = conv_output_shape(x, g.batch, g.cout, g.out);
    Tensor y = Tensor::uninitialized(DType::Float32, out_shape);
    if (y.numel() > 0) {
        // one input channel per group: direct, unless each channel feeds enough outputs for a GEMM
        if (g.cg == 1 && g.mg < 4 && x.rank() <= 4) {
            conv_depthwise(g, x.data<float>(), w.data<float>(), bias, y.data<float>(), ctx.epilogue);
            if (ctx.fused_relu) {
                float* p = y.data<float>();
                parallel_for(y.numel(), 1 << 16, [p](int64_t b, int64_t e) {
                    for (int64_t i = b; i < e; ++i) p[i] = std::max(p[i], 0.0f);
                });
            }
        } else {
            conv_gemm(g, x.data<float>(), w.data<float>(), bias, y.data<float>(), ctx.fused_relu, ctx.epilogue);
        }
    }
    ctx.outputs[0] = std::move(y);
}

}  // namespace

void register_conv(KernelRegistry& r) {
    r.add("Conv", 1, 999, conv_kernel);
    r.add("ConvTranspose", 1, 999, conv_transpose_kernel);
}

}  // namespace qcp::engine::kernels
