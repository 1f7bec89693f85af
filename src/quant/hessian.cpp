#include "qcp/quant/hessian.hpp"

#include <algorithm>
#include <string>
#include <utility>

#include "qcp/core/error.hpp"
#include "isa.hpp"
#include "qcp/core/parallel.hpp"

namespace qcp::quant {
namespace {

using BufferMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

constexpr int64_t kFeaturesPerTask = 8; // im2col: buffer rows (features) per task

int64_t conv_out_size(int64_t in, int64_t k, int64_t stride, int64_t pad_a, int64_t pad_b, int64_t dil) {
    return (in + pad_a + pad_b - dil * (k - 1) - 1) / stride + 1;
}

}  // namespace

HessianAccumulator::HessianAccumulator(int64_t cols)
    : cols_(cols), total_(Eigen::MatrixXd::Zero(cols, cols)), buffer_(static_cast<size_t>(cols * kHessianBlockRows)) {
    if (cols < 1) throw Error("HessianAccumulator: cols must be >= 1, got " + std::to_string(cols));
}

void HessianAccumulator::add_rows(const float* x, int64_t n_rows) {
    if (n_rows < 0) throw Error("HessianAccumulator::add_rows: negative row count " + std::to_string(n_rows));
    Eigen::Map<BufferMatrix> buffer(buffer_.data(), cols_, kHessianBlockRows);
    for (int64_t i = 0; i < n_rows;) {
        const int64_t take = std::min(n_rows - i, kHessianBlockRows - pending_);
        buffer.middleCols(pending_, take) = Eigen::Map<const BufferMatrix>(x + i * cols_, take, cols_).transpose();
        pending_ += take;
        i += take;
        if (pending_ == kHessianBlockRows) flush();
    }
    rows_seen_ += n_rows;
}

void HessianAccumulator::add_conv_input(const float* x, int64_t n, int64_t c, int64_t h, int64_t w, const ConvGeometry& g) {
    const char* who = "HessianAccumulator::add_conv_input";
    if (g.kh < 1 || g.kw < 1 || g.stride_h < 1 || g.stride_w < 1 || g.dil_h < 1 || g.dil_w < 1 || g.pad_top < 0 ||
        g.pad_left < 0 || g.pad_bottom < 0 || g.pad_right < 0 || n < 0 || c < 1 || h < 1 || w < 1)
        throw Error(std::string(who) + ": invalid conv geometry or input shape");
    if (c * g.kh * g.kw != cols_)
        throw Error(std::string(who) + ": C·kh·kw = " + std::to_string(c * g.kh * g.kw) + " but the accumulator has " +
                    std::to_string(cols_) + " columns");
    const int64_t oh = conv_out_size(h, g.kh, g.stride_h, g.pad_top, g.pad_bottom, g.dil_h);
    const int64_t ow = conv_out_size(w, g.kw, g.stride_w, g.pad_left, g.pad_right, g.dil_w);
    if (oh < 1 || ow < 1) throw Error(std::string(who) + ": the kernel does not fit the padded input");

    const int64_t positions = n * oh * ow;
    for (int64_t p0 = 0; p0 < positions;) {
        const int64_t take = std::min(positions - p0, kHessianBlockRows - pending_);
        float* dst0 = buffer_.data() + pending_;
        // Each task fills whole buffer rows (features) for positions [p0, p0 + take).
        parallel_for(cols_, kFeaturesPerTask, [&](int64_t f0, int64_t f1) {
            for (int64_t f = f0; f < f1; ++f) {
                const int64_t ci = f / (g.kh * g.kw), ky = f / g.kw % g.kh, kx = f % g.kw;
                float* dst = dst0 + f * kHessianBlockRows;
                int64_t p = p0;
                while (p < p0 + take) {  // one run of output columns per (image, output row)
                    const int64_t img = p / (oh * ow), oy = p / ow % oh, ox0 = p % ow;
                    const int64_t ox1 = std::min(ow, ox0 + (p0 + take - p));
                    const int64_t iy = oy * g.stride_h - g.pad_top + ky * g.dil_h;
                    if (iy < 0 || iy >= h) {
                        std::fill(dst, dst + (ox1 - ox0), 0.0f);
                    } else {
                        const float* src = x + ((img * c + ci) * h + iy) * w;
                        const int64_t offset = kx * g.dil_w - g.pad_left;
                        for (int64_t ox = ox0; ox < ox1; ++ox) {
                            const int64_t ix = ox * g.stride_w + offset;
                            dst[ox - ox0] = ix >= 0 && ix < w ? src[ix] : 0.0f;
                        }
                    }
                    dst += ox1 - ox0;
                    p += ox1 - ox0;
                }
            }
        });
        pending_ += take;
        p0 += take;
        if (pending_ == kHessianBlockRows) flush();
    }
    rows_seen_ += positions;
}

void HessianAccumulator::flush() const {
    if (pending_ == 0) return;
    hessian_add_block(buffer_.data(), cols_, kHessianBlockRows, pending_, total_);
    pending_ = 0;
}

const Eigen::MatrixXd& HessianAccumulator::hessian() const {
    flush();
    return total_;
}

}  // namespace qcp::quant
