// Benchmark of product quantization (run on demand).
//   bench_pq [--model M.onnx --data IMAGES [--count N]] [--k K] [--threads N]
// Without a model: one synthetic 128 × 1152 layer (a 128→128 3×3 conv) with H = XᵀX of 4096
// correlated samples. With a model: every Conv/Gemm/MatMul, H per conv group from the original
// network on N calibration samples, d = kh·kw for k×k convs and 4 otherwise (the --method pq
// defaults). Prints seconds, EM iterations and splits, and the raw output error
// tr(ΔW H ΔWᵀ) / tr(W H Wᵀ) of PQ with the activation metric (after EM and after the refit)
// next to plain weight k-means (identity metric).
#include <Eigen/Core>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <random>
#include <string>
#include <vector>

#include "qcp/core/parallel.hpp"
#include "qcp/data/dataset.hpp"
#include "qcp/engine/session.hpp"
#include "qcp/ir/layers.hpp"
#include "qcp/onnx_io/onnx_io.hpp"
#include "qcp/quant/hessian.hpp"
#include "qcp/quant/pq.hpp"
#include "qcp/rewrite/quant_rewrite.hpp"

using namespace qcp;
using Clock = std::chrono::steady_clock;

static double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

struct Layer {
    std::string name;
    std::vector<float> w;
    int64_t rows = 0, cols = 0, d = 0;
    std::vector<Eigen::MatrixXd> h;
};

static double quadratic(const std::vector<float>& w, int64_t rows, int64_t cols, const std::vector<Eigen::MatrixXd>& h) {
    const std::vector<float> zero(w.size(), 0.f);
    return quant::pq_layer_loss(w.data(), zero.data(), rows, cols, h, 0.0);
}

static double total_seconds = 0;

static void run(const Layer& l, int64_t k) {
    quant::PqOptions o;
    o.d = l.d;
    o.k = k;
    o.refit = false;
    auto t0 = Clock::now();
    const quant::PqResult em = quant::pq_quantize(l.w.data(), l.rows, l.cols, l.h, o);
    const double t_em = since(t0);
    o.refit = true;
    t0 = Clock::now();
    const quant::PqResult full = quant::pq_quantize(l.w.data(), l.rows, l.cols, l.h, o);
    const double t_full = since(t0);
    total_seconds += t_full;
    const quant::PqResult plain = quant::pq_quantize(l.w.data(), l.rows, l.cols, {}, o);
    const double ref = quadratic(l.w, l.rows, l.cols, l.h);
    auto rel = [&](const quant::PqResult& r) {
        return quant::pq_layer_loss(l.w.data(), r.dequantized().data(), l.rows, l.cols, l.h, 0.0) / ref;
    };
    std::printf("%-34s %4lldx%-5lld d=%lld k=%-3lld %6.2f s (em %5.2f s, %2d it%s, %lld splits) | out err: identity %.4f, metric em %.4f, +refit %.4f\n",
                l.name.c_str(), (long long)l.rows, (long long)l.cols, (long long)l.d, (long long)full.k, t_full, t_em,
                full.iterations, full.converged ? " conv" : "", (long long)full.empty_splits, rel(plain), rel(em), rel(full));
}

static Layer synthetic() {
    Layer l{"synthetic conv 128x128x3x3", {}, 128, 1152, 9, {}};
    std::mt19937 gen(1);
    std::normal_distribution<float> n;
    l.w.resize(static_cast<size_t>(l.rows * l.cols));
    for (float& x : l.w) x = n(gen) * 0.05f;
    Eigen::MatrixXf x(4096, l.cols);
    for (Eigen::Index i = 0; i < x.size(); ++i) x.data()[i] = n(gen);
    for (Eigen::Index c = 1; c < x.cols(); ++c) x.col(c) = 0.7f * x.col(c - 1) + x.col(c) * (1.0f + 0.5f * float(c % 7));
    l.h = {(x.transpose() * x).cast<double>()};
    return l;
}

// Every quantizable layer of the model, with H per conv group on `count` samples of the original network.
static std::vector<Layer> model_layers(const std::string& path, const std::string& data, int64_t count) {
    const ir::Model model = onnx_io::load_model(path);
    std::vector<Layer> out;
    std::deque<std::vector<quant::HessianAccumulator>> acc;  // stable addresses for the observers
    engine::Session session(model);
    for (const ir::Layer& layer : ir::find_layers(model.graph)) {
        if (!layer.unusable.empty() || layer.op == "ConvTranspose") continue;
        const rewrite::QuantTarget t = rewrite::quant_target(model.graph, layer);
        const int64_t taps = layer.weight_shape.size() == 4 ? layer.weight_shape[2] * layer.weight_shape[3] : 1;
        out.push_back({layer.name, t.w, t.rows, t.cols, taps > 1 ? taps : 4, {}});
        acc.emplace_back(static_cast<size_t>(layer.groups), quant::HessianAccumulator(t.cols));
        auto* a = &acc.back();
        const int64_t groups = layer.groups, cols = t.cols;
        const Shape ws = layer.weight_shape;
        session.observe(layer.node, [a, groups, cols, ws](const ir::Node& n, const std::vector<const Tensor*>& in, const std::vector<Tensor>&) {
            const Tensor& x = *in.at(0);
            if (n.op_type != "Conv") {
                (*a)[0].add_rows(x.data<float>(), x.numel() / cols);
                return;
            }
            quant::HessianAccumulator::ConvGeometry geo;
            geo.kh = ws[2], geo.kw = ws[3];
            const auto s = n.attr_ints("strides", {1, 1}), p = n.attr_ints("pads", {0, 0, 0, 0});
            geo.stride_h = s[0], geo.stride_w = s[1];
            geo.pad_top = p[0], geo.pad_left = p[1], geo.pad_bottom = p[2], geo.pad_right = p[3];
            const int64_t c = x.dim(1) / groups, plane = x.dim(2) * x.dim(3);
            std::vector<float> slice(static_cast<size_t>(x.dim(0) * c * plane));
            for (int64_t g = 0; g < groups; ++g) {
                for (int64_t b = 0; b < x.dim(0); ++b)
                    std::memcpy(&slice[b * c * plane], x.data<float>() + (b * x.dim(1) + g * c) * plane, sizeof(float) * c * plane);
                (*a)[g].add_conv_input(slice.data(), x.dim(0), c, x.dim(2), x.dim(3), geo);
            }
        });
    }
    auto ds = data::open_dataset(data, {}, {1, 1, 28, 28});
    for (int64_t b = 0; b < count; b += 128) (void)session.run(ds->read(b, std::min<int64_t>(128, count - b)));
    for (size_t i = 0; i < out.size(); ++i)
        for (auto& a : acc[i]) out[i].h.push_back(a.hessian());
    return out;
}

int main(int argc, char** argv) {
    std::string model, data;
    int64_t count = 1024, k = 256;
    int threads = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string a = argv[i];
        if (a == "--model") model = argv[i + 1];
        else if (a == "--data") data = argv[i + 1];
        else if (a == "--count") count = std::stoll(argv[i + 1]);
        else if (a == "--k") k = std::stoll(argv[i + 1]);
        else if (a == "--threads") threads = std::stoi(argv[i + 1]);
    }
    set_num_threads(threads);
    std::printf("threads: %d\n", num_threads());
    if (model.empty()) {
        run(synthetic(), k);
        return 0;
    }
    const auto t0 = Clock::now();
    const std::vector<Layer> layers = model_layers(model, data, count);
    std::printf("Hessians of %zu layers on %lld samples: %.2f s\n", layers.size(), (long long)count, since(t0));
    for (const Layer& l : layers) run(l, k);
    std::printf("pq_quantize (metric + refit) total: %.2f s\n", total_seconds);
}
