#include "qcp/pipeline/compress.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>

#include "budget.hpp"
#include "plan.hpp"
#include "qcp/core/error.hpp"
#include "qcp/core/fs.hpp"
#include "qcp/core/log.hpp"
#include "qcp/core/parallel.hpp"
#include "qcp/core/sha256.hpp"
#include "qcp/core/version.hpp"
#include "qcp/engine/session.hpp"
#include "qcp/onnx_io/onnx_io.hpp"
#include "qcp/pipeline/inspect.hpp"
#include "qcp/pipeline/metrics.hpp"
#include "qcp/pipeline/table.hpp"
#include "qcp/quant/gptq.hpp"
#include "qcp/quant/hessian.hpp"
#include "qcp/rewrite/cp_rewrite.hpp"
#include "qcp/quant/pq.hpp"
#include "qcp/rewrite/pq_rewrite.hpp"
#include "qcp/rewrite/quant_rewrite.hpp"

namespace qcp {

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// admm-cp's objective when --calib is given and --objective is not (see docs/RESULTS.md).
constexpr const char* kDefaultObjectiveWithCalib = "weight";

// Samples used to re-estimate per-channel statistics (mean/std are stable well before this).
constexpr int64_t kCorrectionSamples = 512;

const char* granularity_name(decomp::Granularity g) { return g == decomp::Granularity::Tensor ? "tensor" : "channel"; }

// admm-cp's objective: as asked, else the layer-output error when calibration data is given.
std::string resolved_objective(const CompressOptions& o) {
    if (!o.objective.empty()) return o.objective;
    return o.calib.empty() ? "weight" : kDefaultObjectiveWithCalib;
}

int64_t dtype_bits_of(const ir::Graph& g, const std::string& value) {
    const Tensor* t = g.constant(value);
    return t ? dtype_traits(t->dtype()).bits : 32;
}

// Largest rank worth using: beyond it the CP model is no longer limited by the rank.
int max_useful_rank(const rewrite::FactorTarget& t) {
    if (t.k == 1) return static_cast<int>(std::min(t.i, t.j));
    return static_cast<int>(std::min({t.i * t.j, t.i * t.k, t.j * t.k}));
}

// Output channels (axis 1) mean and variance of one value, accumulated over batches.
struct ChannelStats {
    std::vector<double> sum, sum2;
    double count = 0;
    void add(const Tensor& y) {
        if (y.rank() < 2) throw Error("statistics correction needs a layer output with a channel axis");
        const int64_t n = y.dim(0), c = y.dim(1), inner = y.numel() / std::max<int64_t>(n * c, 1);
        if (sum.empty()) {
            sum.assign(static_cast<size_t>(c), 0.0);
            sum2.assign(static_cast<size_t>(c), 0.0);
        }
        const float* p = y.data<float>();
        for (int64_t b = 0; b < n; ++b)
            for (int64_t ch = 0; ch < c; ++ch) {
                double s = 0, s2 = 0;
                const float* q = p + (b * c + ch) * inner;
                for (int64_t i = 0; i < inner; ++i) {
                    s += q[i];
                    s2 += double(q[i]) * q[i];
                }
                sum[static_cast<size_t>(ch)] += s;
                sum2[static_cast<size_t>(ch)] += s2;
            }
        count += static_cast<double>(n * inner);
    }
    double mean(size_t ch) const { return sum[ch] / count; }
    double stddev(size_t ch) const { return std::sqrt(std::max(0.0, sum2[ch] / count - mean(ch) * mean(ch))); }
};

// Runs `model` over the first `count` samples, observing the producers of `values`.
std::map<std::string, ChannelStats> collect_stats(const ir::Model& model, data::Dataset& ds, int64_t count,
                                                  int64_t batch, const std::vector<std::string>& values) {
    engine::Session session(model);
    std::map<std::string, ChannelStats> stats;
    for (const auto& v : values) {
        const int p = model.graph.producer(v);
        if (p < 0) throw Error("internal: no producer for '" + v + "'");
        const ir::Node& node = model.graph.nodes[static_cast<size_t>(p)];
        const size_t out_index = static_cast<size_t>(std::find(node.outputs.begin(), node.outputs.end(), v) - node.outputs.begin());
        session.observe(p, [&stats, v, out_index](const ir::Node&, const std::vector<const Tensor*>&,
                                                  const std::vector<Tensor>& outs) { stats[v].add(outs[out_index]); });
    }
    for (int64_t begin = 0; begin < count; begin += batch) (void)session.run(ds.read(begin, std::min(batch, count - begin)));
    return stats;
}

// Conv geometry of `n` for im2col rows over an input of shape `x` (auto_pad resolved).
quant::HessianAccumulator::ConvGeometry conv_geometry(const ir::Node& n, const ir::Layer& layer, const Tensor& x) {
    quant::HessianAccumulator::ConvGeometry geo;
    geo.kh = layer.weight_shape[2];
    geo.kw = layer.weight_shape[3];
    const auto strides = n.attr_ints("strides", {1, 1});
    const auto dil = n.attr_ints("dilations", {1, 1});
    geo.stride_h = strides[0], geo.stride_w = strides[1];
    geo.dil_h = dil[0], geo.dil_w = dil[1];
    std::vector<int64_t> pads = n.attr_ints("pads", {0, 0, 0, 0});
    const std::string auto_pad = n.attr_string("auto_pad", "NOTSET");
    if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
        const int64_t k[2] = {geo.kh, geo.kw}, s[2] = {geo.stride_h, geo.stride_w}, d[2] = {geo.dil_h, geo.dil_w};
        for (int a = 0; a < 2; ++a) {
            const int64_t in_size = x.dim(2 + static_cast<size_t>(a));
            const int64_t out_size = (in_size + s[a] - 1) / s[a];
            const int64_t total = std::max<int64_t>(0, (out_size - 1) * s[a] + d[a] * (k[a] - 1) + 1 - in_size);
            const int64_t small = total / 2, big = total - small;
            pads[static_cast<size_t>(a)] = auto_pad == "SAME_UPPER" ? small : big;
            pads[static_cast<size_t>(a) + 2] = auto_pad == "SAME_UPPER" ? big : small;
        }
    } else if (auto_pad == "VALID") {
        pads = {0, 0, 0, 0};
    }
    geo.pad_top = pads[0], geo.pad_left = pads[1], geo.pad_bottom = pads[2], geo.pad_right = pads[3];
    return geo;
}

// H = XᵀX of the inputs each of `targets` sees in `model` over `count` samples, in one pass: im2col
// rows for convs, one H per group of a grouped conv (cols = Cin/groups·kh·kw each), one otherwise.
std::vector<std::vector<Eigen::MatrixXd>> collect_hessians(const ir::Model& model, const std::vector<ir::Layer>& targets,
                                                          data::Dataset& ds, int64_t count, int64_t batch) {
    std::vector<std::vector<quant::HessianAccumulator>> accs(targets.size());  // sized once: observers keep references
    engine::Session session(model);
    for (size_t t = 0; t < targets.size(); ++t) {
        const ir::Layer& layer = targets[t];
        const int64_t groups = std::max<int64_t>(layer.groups, 1);
        const rewrite::QuantTarget shape = rewrite::quant_target(model.graph, layer);
        accs[t].assign(static_cast<size_t>(groups), quant::HessianAccumulator(shape.cols));
        auto& acc = accs[t];
        const int64_t cols = shape.cols;
        session.observe(layer.node, [&acc, &layer, groups, cols](const ir::Node& n, const std::vector<const Tensor*>& in,
                                                                 const std::vector<Tensor>&) {
            const Tensor& x = *in.at(0);
            if (n.op_type == "Conv") {
                if (x.rank() != 4) throw Error(n.describe() + ": data-aware methods support 2-D convs");
                const auto geo = conv_geometry(n, layer, x);
                const int64_t c = x.dim(1), cg = c / groups, plane = x.dim(2) * x.dim(3);
                if (groups == 1) {
                    acc[0].add_conv_input(x.data<float>(), x.dim(0), c, x.dim(2), x.dim(3), geo);
                    return;
                }
                for (int64_t b = 0; b < x.dim(0); ++b)
                    for (int64_t g = 0; g < groups; ++g)
                        acc[static_cast<size_t>(g)].add_conv_input(x.data<float>() + (b * c + g * cg) * plane, 1, cg, x.dim(2),
                                                                   x.dim(3), geo);
            } else {
                if (n.op_type == "Gemm" && n.attr_int("transA", 0)) throw Error(n.describe() + ": data-aware methods need transA = 0");
                acc[0].add_rows(x.data<float>(), x.numel() / cols);
            }
        });
    }
    for (int64_t begin = 0; begin < count; begin += batch) (void)session.run(ds.read(begin, std::min(batch, count - begin)));
    std::vector<std::vector<Eigen::MatrixXd>> out;
    for (const auto& acc : accs) {
        out.emplace_back();
        for (const auto& a : acc) out.back().push_back(a.hessian());
    }
    return out;
}

std::vector<Eigen::MatrixXd> layer_hessians(const ir::Model& model, const ir::Layer& layer, data::Dataset& ds, int64_t count,
                                            int64_t batch) {
    return collect_hessians(model, {layer}, ds, count, batch).at(0);
}

// GPTQ on each group of rows with its own H (a grouped conv's output channels see only their
// group's inputs); the groups' codes and per-row (or per-block) scales concatenate in row order.
quant::GptqResult gptq_grouped(const float* w, int64_t rows, int64_t cols, const std::vector<Eigen::MatrixXd>& hs,
                               const quant::GptqOptions& go) {
    if (hs.size() == 1) return quant::gptq_quantize(w, rows, cols, hs[0], go);
    const int64_t groups = static_cast<int64_t>(hs.size()), rg = rows / groups;
    quant::GptqResult all;
    all.q.rows = rows;
    all.q.cols = cols;
    all.q.scheme = go.scheme;
    for (int64_t g = 0; g < groups; ++g) {
        const quant::GptqResult r = quant::gptq_quantize(w + g * rg * cols, rg, cols, hs[static_cast<size_t>(g)], go);
        all.q.codes.insert(all.q.codes.end(), r.q.codes.begin(), r.q.codes.end());
        all.q.scales.insert(all.q.scales.end(), r.q.scales.begin(), r.q.scales.end());
        all.q.zero_points.insert(all.q.zero_points.end(), r.q.zero_points.begin(), r.q.zero_points.end());
        all.loss_before += r.loss_before;
        all.loss_after += r.loss_after;
    }
    return all;
}

// ‖W − Ŵ‖_F / ‖W‖_F in double (0 for an all-zero W).
double weight_rel_error(const std::vector<float>& w, const std::vector<float>& wq) {
    double e = 0, n = 0;
    for (size_t i = 0; i < wq.size(); ++i) {
        e += (double(w[i]) - wq[i]) * (double(w[i]) - wq[i]);
        n += double(w[i]) * w[i];
    }
    return n > 0 ? std::sqrt(e / n) : 0.0;
}

// rtn or gptq on one layer of `out`, rewriting its weight in place.
void quantize_layer(ir::Model& out, const ir::Layer& layer, LayerPlan& p, const CompressOptions& o,
                    data::Dataset* calib, int64_t calib_n) {
    const rewrite::QuantTarget t = rewrite::quant_target(out.graph, layer);
    quant::QuantScheme scheme;
    scheme.bits = p.bits;
    scheme.symmetric = o.symmetric;
    if (o.block_size > 0) {
        scheme.granularity = quant::Granularity::Block;
        scheme.block_size = o.block_size;
    } else {
        scheme.granularity = o.granularity == decomp::Granularity::Tensor ? quant::Granularity::Tensor
                                                                          : quant::Granularity::Channel;
    }
    p.scheme = std::string(o.symmetric ? "sym " : "asym ") + quant::granularity_name(scheme.granularity) +
               (o.block_size > 0 ? " " + std::to_string(o.block_size) : "");
    quant::QuantizedMatrix q;
    p.status = "done";
    const bool grouped = layer.groups > 1;
    if (p.method == "gptq" && !(grouped && scheme.granularity == quant::Granularity::Tensor)) {
        const auto hs = layer_hessians(out, layer, *calib, calib_n, o.batch);
        quant::GptqOptions go;
        go.scheme = scheme;
        go.damp = o.damp;
        go.act_order = o.act_order;
        const quant::GptqResult r = gptq_grouped(t.w.data(), t.rows, t.cols, hs, go);
        q = r.q;
        p.output_error_before = r.loss_before;
        p.output_error_after = r.loss_after;
    } else {
        if (p.method == "gptq") p.status = "rtn fallback (grouped conv with one scale per tensor)";
        q = quant::rtn_quantize(t.w.data(), t.rows, t.cols, scheme);
    }
    p.rel_error = weight_rel_error(t.w, q.dequantized());
    const int64_t bias = p.params_before - t.rows * t.cols;
    p.weight_bits_after = rewrite::rewrite_quantized(out, layer, rewrite::grid_weight_for(layer, t, q), o.format) + 32 * bias;
}

// The weight matrix shape quant_target() gives: rows = outputs, cols = inputs per output.
std::pair<int64_t, int64_t> quant_matrix_shape(const ir::Graph& g, const ir::Layer& l) {
    const ir::Node& node = g.nodes.at(static_cast<size_t>(l.node));
    const int64_t d0 = l.weight_shape.at(0), rest = shape_numel(l.weight_shape) / std::max<int64_t>(d0, 1);
    const bool transposed = l.op == "MatMul" || (l.op == "Gemm" && node.attr_int("transB", 0) == 0);
    return transposed ? std::make_pair(rest, d0) : std::make_pair(d0, rest);
}

// pq's sub-vector length (one kernel slice for k×k convs, 4 inputs otherwise, or as asked),
// codewords clamped to the sub-vectors there are, and the stored size; selects the layer when
// that is smaller than the float weight.
void plan_pq(const ir::Graph& g, const ir::Layer& l, LayerPlan& p) {
    const auto [rows, cols] = quant_matrix_shape(g, l);
    const int64_t kernel = l.op == "Conv" && l.weight_shape.size() > 2 ? shape_numel(l.weight_shape) / l.weight_shape[0] / l.weight_shape[1] : 1;
    const int64_t d = p.subvector > 0 ? p.subvector : kernel > 1 ? kernel : 4;
    p.subvector = d;
    if (cols % d != 0) {
        p.reason = "sub-vector length " + std::to_string(d) + " does not divide the " + std::to_string(cols) + " inputs per output";
        return;
    }
    p.centroids = std::min(p.centroids, rows * (cols / d));
    const rewrite::PqBits bits = rewrite::pq_bits(rows, cols / d, p.centroids, d);
    const int64_t bias = l.params - rows * cols;
    if (bits.storage_bits >= 32 * rows * cols) {
        p.reason = std::to_string(p.centroids) + " codewords of " + std::to_string(d) + " would not reduce size";
        return;
    }
    p.selected = true;
    p.bits = 0;
    p.weight_bits_after = bits.storage_bits + 32 * bias;
    p.ideal_bits_after = bits.ideal_bits + 32 * bias;
}

// pq on one layer of `out`, with the metric of its inputs in `out` (earlier layers already
// compressed) when calibration data is given and the metric is on.
void pq_layer(ir::Model& out, const ir::Layer& layer, LayerPlan& p, const CompressOptions& o, data::Dataset* calib,
              int64_t calib_n) {
    const rewrite::QuantTarget t = rewrite::quant_target(out.graph, layer);
    std::vector<Eigen::MatrixXd> hs;
    if (calib && o.pq_metric) hs = layer_hessians(out, layer, *calib, calib_n, o.batch);
    quant::PqOptions po;
    po.d = p.subvector;
    po.k = p.centroids;
    po.iters = o.pq_iters;
    po.seed = o.seed;
    po.damp = o.damp;
    po.refit = o.pq_refit;
    const quant::PqResult r = quant::pq_quantize(t.w.data(), t.rows, t.cols, hs, po);
    p.rel_error = weight_rel_error(t.w, r.dequantized());
    p.centroids = r.k;
    p.iterations = r.iterations;
    p.status = r.converged ? "converged" : "max_iterations";
    p.scheme = "k " + std::to_string(r.k) + " d " + std::to_string(r.d) + (hs.empty() ? " weight" : " activation") +
               (r.refit_applied ? " refit" : "");
    p.loss_init = r.loss_init;
    p.loss_em = r.loss_em;
    p.output_error_before = r.loss_em;   // before the joint refit
    p.output_error_after = r.loss_final;
    const rewrite::PqBits bits = rewrite::rewrite_pq(out, layer, t, r, o.format);
    const int64_t bias = p.params_before - t.rows * t.cols;
    p.weight_bits_after = bits.storage_bits + 32 * bias;
    p.ideal_bits_after = bits.ideal_bits + 32 * bias;
}

struct Rewritten {
    size_t plan_index;
    std::string output;  // the layer's output value
    rewrite::CpRewrite rw;
};

}  // namespace

CompressReport compress(const CompressOptions& o) {
    const auto t_start = Clock::now();
    plan::validate_options(o);
    const auto rules = plan::parse_rules(o.layer_rules);
    const auto excludes = plan::parse_excludes(o.excludes);
    if (!o.dry_run) {
        if (fs::same_file(o.model, o.output)) throw Error("output " + o.output.string() + " is the input model; refusing to overwrite it");
        std::error_code ec;
        if (!o.force && std::filesystem::exists(o.output, ec))
            throw Error(o.output.string() + ": already exists (use --force to overwrite)");
    }
    set_num_threads(o.threads);

    CompressReport report;
    report.options = o;
    ir::Model model = onnx_io::load_model(o.model);
    const InspectReport info = inspect_model(model, o.model.string(), std::filesystem::file_size(o.model));
    report.input_bytes = info.bytes;
    report.input_params = info.params;
    report.input_macs = info.macs;
    report.input_sha256 = sha256_file(o.model);

    // ---- plan -------------------------------------------------------------------------
    const std::vector<ir::Layer> layers = ir::find_layers(model.graph);
    for (size_t li = 0; li < layers.size(); ++li) {
        const ir::Layer& l = layers[li];
        LayerPlan p;
        p.name = l.name;
        p.op = l.op;
        p.weight_shape = l.weight_shape;
        p.params_before = l.params;
        p.params_after = l.params;
        p.weight_bits_before = l.params * dtype_bits_of(model.graph, l.weight);
        p.weight_bits_after = p.weight_bits_before;
        p.macs_before = p.macs_after = l.macs;
        p.method = o.method;
        p.bits = o.bits;
        p.granularity = o.granularity.value_or(decomp::Granularity::Tensor);
        p.centroids = o.centroids;
        p.subvector = o.pq_block;
        std::optional<int> rank = o.rank;
        std::optional<double> ratio = o.rank_ratio;
        bool explicit_rule = false;
        for (const auto& rule : rules) {
            if (!std::regex_search(l.name, rule.pattern)) continue;
            explicit_rule = true;
            if (rule.rank) rank = rule.rank, ratio.reset();
            if (rule.rank_ratio) ratio = rule.rank_ratio, rank.reset();
            if (rule.bits) p.bits = *rule.bits;
            if (rule.method) p.method = *rule.method;
            if (rule.granularity) p.granularity = *rule.granularity;
            if (rule.centroids) p.centroids = *rule.centroids;
            if (rule.pq_block) p.subvector = *rule.pq_block;
        }
        const bool factorizes = plan::find_method(p.method).factorizes;
        const bool stem = factorizes && l.op == "Conv" && l.weight_shape.size() >= 2 && l.weight_shape[1] * l.groups <= 3;
        const bool classifier = factorizes && li + 1 == layers.size() && layers.size() > 1;
        bool excluded = false;
        for (const auto& ex : excludes) excluded = excluded || std::regex_search(l.name, ex);
        if (excluded) p.reason = "excluded by --exclude";
        else if (!factorizes) {
            if (!l.can_quantize) p.reason = l.reason;
            else if (l.op == "ConvTranspose") p.reason = "ConvTranspose is not quantized";
            else if (o.block_size > 0 && l.weight_shape.size() != 2) p.reason = "blocked scales need a 2-D (Gemm/MatMul) weight";
            if (p.reason.empty() && p.method == "pq") plan_pq(model.graph, l, p);
            else if (p.reason.empty()) {
                p.selected = true;
                const int64_t bias = l.params - shape_numel(l.weight_shape);
                p.weight_bits_after = shape_numel(l.weight_shape) * p.bits + 32 * bias;  // scales added after
            }
        } else if (!l.can_factorize) p.reason = l.reason;
        else if (stem && !explicit_rule) p.reason = "stem conv (Cin <= 3), excluded by default";
        else if (classifier && !explicit_rule) p.reason = "last classifier, excluded by default";
        if (p.reason.empty() && !p.selected) {
            const auto target = rewrite::factor_target(model.graph, l);
            int r = rank ? *rank : rewrite::rank_for_ratio(target, ratio.value_or(2.0));
            if (r > max_useful_rank(target)) {
                spdlog::warn("{}: rank {} clamped to {}, the most this layer can use", l.name, r, max_useful_rank(target));
                r = max_useful_rank(target);
            }
            p.rank = r;
            const int64_t after = rewrite::factorized_params(target, r) + (l.params - target.i * target.j * target.k);
            if (after >= l.params) {
                p.reason = "rank " + std::to_string(r) + " would not reduce size";
            } else {
                p.selected = true;
                p.params_after = after;
                const int64_t bias = l.params - target.i * target.j * target.k;
                p.weight_bits_after = rewrite::factorized_params(target, r) * p.bits + 32 * bias;  // scales added after solve
                p.macs_after = rewrite::factorized_macs(model.graph, l, r);
            }
        }
        if (!p.selected) {
            p.method = "none";
            p.rank = 0;
            p.bits = 0;
        }
        report.layers.push_back(std::move(p));
    }

    // ---- calibration data ---------------------------------------------------------------
    std::unique_ptr<data::Dataset> calib;
    int64_t calib_n = 0;
    if (!o.calib.empty()) {
        engine::Session probe(model);
        const ir::ValueInfo* vi = model.graph.shape_info(probe.input_names().at(0));
        const Shape input = vi ? vi->concrete_shape(-1) : Shape{};
        calib = data::open_dataset(o.calib, o.image, input);
        data::check_compatible(*calib, input);
        calib_n = std::min(o.calib_count, calib->size());
    }
    // ---- global budget: ranks / bits per layer from measured damage ---------------------
    const std::string objective = resolved_objective(o);
    if (objective == "output" && !calib && !o.dry_run) throw Error("--objective output needs calibration data (--calib)");
    std::map<size_t, Eigen::MatrixXd> hessians;  // input Hessians of single-group layers, by plan index
    auto need_hessians = [&](bool all_selected) {
        if (!calib) return;
        std::vector<ir::Layer> targets;
        std::vector<size_t> index;
        for (size_t li = 0; li < layers.size(); ++li) {
            const LayerPlan& p = report.layers[li];
            if (!p.selected || layers[li].groups > 1 || hessians.count(li)) continue;
            if (!all_selected && p.method != "admm-cp") continue;
            targets.push_back(layers[li]);
            index.push_back(li);
        }
        if (targets.empty()) return;
        const auto t_h = Clock::now();
        auto hs = collect_hessians(model, targets, *calib, calib_n, o.batch);
        for (size_t t = 0; t < index.size(); ++t) hessians[index[t]] = std::move(hs[t].at(0));
        spdlog::debug("input Hessians of {} layers: {:.1f} s", index.size(), since(t_h));
    };
    if (o.target_ratio || o.target_size || o.target_macs) {
        const auto t_b = Clock::now();
        need_hessians(true);
        std::map<size_t, Eigen::MatrixXd> metric;  // CP damage through the output metric only when it is the objective
        if (!plan::find_method(o.method).factorizes || objective == "output") metric = hessians;
        CompressOptions bo = o;
        bo.objective = objective;
        bo.bits_auto = o.bits_auto || !plan::find_method(o.method).factorizes;
        const auto curves = budget::measure_curves(model.graph, layers, report.layers, bo, metric, report.input_sha256,
                                                   model.opset(""));
        int64_t bits_sel = 0, macs_sel = 0;
        for (const auto& c : curves) {
            bits_sel += c.weight_bits_before;
            macs_sel += std::max<int64_t>(c.macs_before, 0);
        }
        budget::Cost cost = budget::Cost::Bits;
        double limit = 0;
        if (o.target_ratio) {
            limit = double(bits_sel) / *o.target_ratio;
            report.budget_target = "ratio";
            report.budget_value = *o.target_ratio;
        } else if (o.target_size) {
            cost = budget::Cost::StoredBits;
            limit = 8.0 * double(*o.target_size) - (8.0 * double(report.input_bytes) - double(bits_sel));
            report.budget_target = "size";
            report.budget_value = double(*o.target_size);
        } else {
            cost = budget::Cost::Macs;
            limit = *o.target_macs * double(report.input_macs) - double(report.input_macs - macs_sel);
            report.budget_target = "macs";
            report.budget_value = *o.target_macs;
        }
        const std::vector<int> pick = budget::allocate(curves, cost, limit);
        double damage = 0;
        for (size_t c = 0; c < curves.size(); ++c) {
            LayerPlan& p = report.layers[curves[c].layer];
            p.budgeted = true;
            if (pick[c] < 0) {
                p.selected = false;
                p.reason = "left as it is by the budget";
                p.method = "none";
                p.rank = p.bits = 0;
                p.params_after = p.params_before;
                p.weight_bits_after = p.weight_bits_before;
                p.macs_after = p.macs_before;
                continue;
            }
            const budget::Candidate& k = curves[c].options[static_cast<size_t>(pick[c])];
            p.rank = k.rank;
            p.bits = k.bits;
            p.params_after = k.params_after;
            p.weight_bits_after = k.weight_bits_after;
            p.macs_after = k.macs_after;
            p.predicted_damage = k.damage;
            damage += k.damage;
        }
        // Ranks come from a coarse ladder; what the ladder leaves of the budget goes to the
        // planned CP layers as extra rank, most damaged first, so the target is met closely.
        if (plan::find_method(o.method).factorizes) {
            double used = 0;
            for (size_t c = 0; c < curves.size(); ++c) {
                const LayerPlan& p = report.layers[curves[c].layer];
                used += cost == budget::Cost::Macs ? double(std::max<int64_t>(p.macs_after, 0))
                                                   : double(p.weight_bits_after) +
                                                         (cost == budget::Cost::StoredBits && p.selected
                                                              ? double(curves[c].options[static_cast<size_t>(pick[c])].stored_bits_after -
                                                                       p.weight_bits_after)
                                                              : 0.0);
            }
            std::vector<size_t> order;
            for (size_t c = 0; c < curves.size(); ++c)
                if (pick[c] >= 0) order.push_back(c);
            std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
                return curves[a].options[static_cast<size_t>(pick[a])].damage > curves[b].options[static_cast<size_t>(pick[b])].damage;
            });
            for (size_t c : order) {
                LayerPlan& p = report.layers[curves[c].layer];
                const ir::Layer& l = layers[curves[c].layer];
                const auto target = rewrite::factor_target(model.graph, l);
                const int64_t width = cost == budget::Cost::StoredBits ? (o.format == rewrite::WeightFormat::Float ? 32 : 8) : p.bits;
                for (;;) {
                    if (p.rank + 1 > max_useful_rank(target)) break;
                    const double step = cost == budget::Cost::Macs
                                            ? double(rewrite::factorized_macs(model.graph, l, p.rank + 1) - p.macs_after)
                                            : double((rewrite::factorized_params(target, p.rank + 1) -
                                                      rewrite::factorized_params(target, p.rank)) * width);
                    const int64_t params_next = p.params_after + rewrite::factorized_params(target, p.rank + 1) -
                                                rewrite::factorized_params(target, p.rank);
                    if (used + step > limit || params_next >= p.params_before) break;
                    used += step;
                    p.weight_bits_after += (rewrite::factorized_params(target, p.rank + 1) - rewrite::factorized_params(target, p.rank)) * p.bits;
                    p.params_after = params_next;
                    ++p.rank;
                    p.macs_after = rewrite::factorized_macs(model.graph, l, p.rank);
                }
            }
        }
        report.budget_predicted_damage = damage;
        spdlog::info("budget: {} layers planned in {:.1f} s (predicted damage {:.4g})", curves.size(), since(t_b), damage);
    }

    if (o.dry_run) {
        report.seconds = since(t_start);
        report.output_params = report.input_params;
        report.output_macs = report.input_macs;
        for (const auto& p : report.layers) {
            report.output_params += p.params_after - p.params_before;
            if (p.macs_after >= 0 && p.macs_before >= 0) report.output_macs += p.macs_after - p.macs_before;
        }
        return report;
    }

    if (objective == "output") need_hessians(false);
    const bool correct = o.correct.value_or(calib != nullptr);
    if (correct && !calib) throw Error("--correct needs calibration data (--calib)");

    // ---- solve and rewrite ------------------------------------------------------------
    std::vector<std::string> layer_outputs;  // read now: `model` may be moved into `out` below
    for (const auto& l : layers) layer_outputs.push_back(model.graph.nodes[static_cast<size_t>(l.node)].outputs.at(0));
    // Without calibration data nothing reads the original again: move it instead of copying
    // every weight (a model of several GB would otherwise need twice its size).
    ir::Model out = calib ? model : std::move(model);
    std::vector<Rewritten> done;
    const size_t total_selected = static_cast<size_t>(std::count_if(report.layers.begin(), report.layers.end(),
                                                                    [](const LayerPlan& p) { return p.selected; }));
    size_t quantized_count = 0;
    for (size_t li = 0; li < layers.size(); ++li) {
        LayerPlan& p = report.layers[li];
        if (!p.selected) continue;
        const std::string& output = layer_outputs[li];
        // the layer in the partly rewritten graph (indices moved; the output name did not)
        const auto current = ir::find_layers(out.graph);
        const auto it = std::find_if(current.begin(), current.end(), [&](const ir::Layer& l) {
            return out.graph.nodes[static_cast<size_t>(l.node)].outputs.at(0) == output;
        });
        if (it == current.end()) throw Error("internal: layer " + p.name + " vanished during rewriting");
        const auto t0 = Clock::now();
        if (p.method == "pq") {
            pq_layer(out, *it, p, o, calib.get(), calib_n);
            p.seconds = since(t0);
            const std::string line = fmt::format("[{}/{}] {} pq {}: rel. error {:.4f} ({:.1f} s)", ++quantized_count, total_selected,
                                                 p.name, p.scheme, *p.rel_error, p.seconds);
            if (log::progress_enabled()) spdlog::info("{}", line);
            else spdlog::debug("{}", line);
            continue;
        }
        if (!plan::find_method(p.method).factorizes) {
            quantize_layer(out, *it, p, o, calib.get(), calib_n);
            p.seconds = since(t0);
            const std::string line = fmt::format("[{}/{}] {} {} {}-bit {}: rel. error {:.4f} ({:.1f} s)", ++quantized_count,
                                                 total_selected, p.name, p.method, p.bits, p.scheme, *p.rel_error, p.seconds);
            if (log::progress_enabled()) spdlog::info("{}", line);
            else spdlog::debug("{}", line);
            continue;
        }
        const auto target = rewrite::factor_target(out.graph, *it);
        decomp::AdmmOptions opt;
        opt.bits = p.bits;
        opt.granularity = p.granularity;
        opt.init.seed = o.seed;
        decomp::CpResult cp;
        if (p.method == "admm-cp" && objective == "output" && hessians.count(li)) {
            const auto metric = decomp::cp_kronecker_metric(hessians[li], target.j, target.k, o.damp);
            hessians.erase(li);
            cp = decomp::cp_admm_metric(target.view(), p.rank, opt, metric);
            p.output_rel_error = cp.metric_rel_error;
            p.objective = "output";
        } else if (p.method == "admm-cp") {
            cp = decomp::cp_admm(target.view(), p.rank, opt);
            p.objective = "weight";
        } else {
            const decomp::CpResult fl = decomp::cp_als(target.view(), p.rank, opt.init);
            cp = decomp::quantize_factors(target.view(), fl, p.bits, p.granularity);
            cp.iterations = fl.iterations;
            cp.status = fl.status;
        }
        p.rel_error = cp.rel_error;
        p.rel_error_init = p.method == "admm-cp" ? cp.rel_error_start : cp.rel_error;
        p.status = decomp::status_name(cp.status);
        p.iterations = cp.iterations;
        p.seconds = since(t0);
        Rewritten rwt{li, output, rewrite::rewrite_cp(out, *it, cp, o.format)};
        p.weight_bits_after = rwt.rw.storage_bits;
        p.macs_after = rwt.rw.macs;
        const std::string line = fmt::format("[{}/{}] {} {} rank {} {}-bit: rel. error {:.4f}, {} after {} iterations ({:.1f} s)",
                                             done.size() + quantized_count + 1, total_selected, p.name, p.method, p.rank, p.bits,
                                             *p.rel_error, p.status, p.iterations, p.seconds);
        if (log::progress_enabled()) spdlog::info("{}", line);
        else spdlog::debug("{}", line);
        done.push_back(std::move(rwt));
    }

    // ---- statistics correction: layer by layer, in network order -----------------------
    const auto t_correct = Clock::now();
    if (correct && !done.empty()) {
        const int64_t n = std::min(calib_n, kCorrectionSamples);
        std::vector<std::string> outputs;
        for (const auto& d : done)
            if (d.rw.supports_correction) outputs.push_back(d.output);
        const auto want = collect_stats(model, *calib, n, o.batch, outputs);
        for (auto& d : done) {
            if (!d.rw.supports_correction) continue;
            out.graph.rebuild_index();
            const auto have = collect_stats(out, *calib, n, o.batch, {d.output});
            const ChannelStats& w = want.at(d.output);
            const ChannelStats& h = have.at(d.output);
            std::vector<float> scale(w.sum.size()), shift(w.sum.size());
            for (size_t c = 0; c < scale.size(); ++c) {
                const double sd = h.stddev(c);
                const double a = sd > 1e-12 ? w.stddev(c) / sd : 1.0;
                scale[c] = static_cast<float>(a);
                shift[c] = static_cast<float>(w.mean(c) - a * h.mean(c));
            }
            rewrite::apply_channel_affine(out, d.rw, scale, shift, o.format);
            LayerPlan& p = report.layers[d.plan_index];
            p.weight_bits_after = d.rw.storage_bits;
            p.corrected = true;
        }
    }

    spdlog::debug("statistics correction: {:.1f} s", since(t_correct));

    // ---- save -------------------------------------------------------------------------
    out.graph.sort_topologically();
    out.set_metadata("qcp_version", kVersion);
    out.set_metadata("qcp_method", o.method);
    onnx_io::SaveOptions save;
    save.overwrite = o.force;
    save.external_data = o.external_data;
    onnx_io::save_model(out, o.output, save);
    report.written = true;
    std::error_code ec;
    const std::filesystem::path side = o.output.string() + ".data";
    report.output_bytes = std::filesystem::file_size(o.output, ec);
    if (std::filesystem::exists(side, ec)) report.output_bytes += std::filesystem::file_size(side, ec);
    report.output_params = report.input_params;
    report.output_macs = report.input_macs;
    for (const auto& p : report.layers) {
        report.output_params += p.params_after - p.params_before;
        if (p.macs_after >= 0 && p.macs_before >= 0) report.output_macs += p.macs_after - p.macs_before;
    }

    // ---- check: original vs compressed on the calibration samples ----------------------
    if (calib) try {
        const ir::Model written = onnx_io::load_model(o.output);
        engine::Session a(model), b(written);
        Metrics m;
        for (int64_t begin = 0; begin < calib_n; begin += o.batch) {
            const Tensor x = calib->read(begin, std::min(o.batch, calib_n - begin));
            const auto ya = a.run(x);
            const auto yb = b.run(x);
            m.add(yb.at(0), nullptr, &ya.at(0));
        }
        report.check_samples = m.samples();
        report.check_top1_agreement = m.agreement();
        report.check_output_rel_error = m.output_rel_error();
    } catch (...) {  // a file that fails its own check is not left behind as if it were fine
        std::filesystem::remove(o.output, ec);
        if (o.external_data) std::filesystem::remove(side, ec);
        throw;
    }
    report.seconds = since(t_start);
    return report;
}

nlohmann::ordered_json compress_to_json(const CompressReport& r) {
    using json = nlohmann::ordered_json;
    const CompressOptions& o = r.options;
    auto opt = [](const auto& v) -> json {
        if (!v) return nullptr;
        return *v;
    };
    json settings = {{"rank", opt(o.rank)},
                     {"rank_ratio", o.rank || o.rank_ratio ? opt(o.rank_ratio) : json(2.0)},
                     {"bits", o.bits},
                     {"granularity", o.block_size > 0 ? "block" : granularity_name(o.granularity.value_or(
                                         plan::find_method(o.method).factorizes ? decomp::Granularity::Tensor
                                                                                : decomp::Granularity::Channel))},
                     {"symmetric", o.symmetric},
                     {"block_size", o.block_size > 0 ? json(o.block_size) : json(nullptr)},
                     {"damp", o.damp},
                     {"objective", resolved_objective(o)},
                     {"act_order", o.act_order},
                     {"format", o.format == rewrite::WeightFormat::Qdq ? "qdq" : "float"},
                     {"calib", o.calib.empty() ? json(nullptr) : json(o.calib.string())},
                     {"calib_count", o.calib_count},
                     {"correct", o.correct.value_or(!o.calib.empty())},
                     {"layer_rules", o.layer_rules},
                     {"excludes", o.excludes},
                     {"target_ratio", opt(o.target_ratio)},
                     {"target_size", opt(o.target_size)},
                     {"target_macs", opt(o.target_macs)},
                     {"bits_auto", o.bits_auto},
                     {"centroids", o.method == "pq" ? json(o.centroids) : json(nullptr)},
                     {"pq_block", o.method == "pq" && o.pq_block > 0 ? json(o.pq_block) : json(nullptr)},
                     {"pq_iters", o.method == "pq" ? json(o.pq_iters) : json(nullptr)},
                     {"pq_metric", o.method == "pq" ? json(o.pq_metric) : json(nullptr)},
                     {"pq_refit", o.method == "pq" ? json(o.pq_refit) : json(nullptr)},
                     {"dry_run", o.dry_run}};
    json layers = json::array();
    int64_t bits_before = 0, bits_after = 0, ideal_after = 0;
    for (const auto& p : r.layers) {
        if (p.selected) {
            bits_before += p.weight_bits_before;
            bits_after += p.weight_bits_after;
            ideal_after += p.ideal_bits_after.value_or(p.weight_bits_after);
        }
        layers.push_back({{"name", p.name},
                          {"op", p.op},
                          {"weight_shape", p.weight_shape},
                          {"method", p.method},
                          {"rank", p.selected && p.rank > 0 ? json(p.rank) : json(nullptr)},
                          {"bits", p.selected && p.bits > 0 ? json(p.bits) : json(nullptr)},
                          {"granularity", p.selected && p.scheme.empty() ? json(granularity_name(p.granularity)) : json(nullptr)},
                          {"scheme", p.scheme.empty() ? json(nullptr) : json(p.scheme)},
                          {"output_error_before", opt(p.output_error_before)},
                          {"output_error_after", opt(p.output_error_after)},
                          {"params_before", p.params_before},
                          {"params_after", p.params_after},
                          {"weight_bits_before", p.weight_bits_before},
                          {"weight_bits_after", p.weight_bits_after},
                          {"macs_before", p.macs_before < 0 ? json(nullptr) : json(p.macs_before)},
                          {"macs_after", p.macs_after < 0 ? json(nullptr) : json(p.macs_after)},
                          {"rel_error", opt(p.rel_error)},
                          {"rel_error_rounded_cp_als", opt(p.rel_error_init)},
                          {"objective", p.objective.empty() ? json(nullptr) : json(p.objective)},
                          {"output_rel_error", opt(p.output_rel_error)},
                          {"predicted_damage", opt(p.predicted_damage)},
                          {"centroids", p.selected && p.method == "pq" ? json(p.centroids) : json(nullptr)},
                          {"subvector", p.selected && p.method == "pq" ? json(p.subvector) : json(nullptr)},
                          {"ideal_weight_bits_after", opt(p.ideal_bits_after)},
                          {"status", p.selected ? json(p.status.empty() ? "planned" : p.status) : json("skipped")},
                          {"reason", p.reason.empty() ? json(nullptr) : json(p.reason)},
                          {"corrected", p.corrected},
                          {"iterations", p.iterations},
                          {"seconds", p.seconds}});
    }
    auto ratio = [](double a, double b) -> json { return b > 0 ? json(a / b) : json(nullptr); };
    int64_t budget_before = 0, budget_after = 0;
    for (const auto& p : r.layers)
        if (p.budgeted) {
            budget_before += p.weight_bits_before;
            budget_after += p.weight_bits_after;
        }
    json budget = nullptr;
    if (r.budget_target) {
        json achieved = nullptr;
        if (*r.budget_target == "ratio") achieved = ratio(double(budget_before), double(budget_after));
        else if (*r.budget_target == "size" && r.written) achieved = r.output_bytes;
        else if (*r.budget_target == "macs") achieved = ratio(double(r.output_macs), double(r.input_macs));
        budget = {{"target", *r.budget_target}, {"value", r.budget_value}, {"achieved", achieved},
                  {"weight_bits_before", budget_before}, {"weight_bits_after", budget_after},
                  {"predicted_damage", r.budget_predicted_damage}};
    }
    json report = {{"qcp_version", kVersion},
                   {"method", o.method},
                   {"seed", o.seed},
                   {"settings", settings},
                   {"input", {{"path", o.model.string()}, {"sha256", r.input_sha256}, {"bytes", r.input_bytes},
                              {"params", r.input_params}, {"macs", r.input_macs}}},
                   {"output", {{"path", o.dry_run ? json(nullptr) : json(o.output.string())},
                               {"bytes", r.written ? json(r.output_bytes) : json(nullptr)},
                               {"params", r.output_params}, {"macs", r.output_macs}}},
                   {"layers", layers},
                   {"totals", {{"weight_bits_before", bits_before},
                               {"weight_bits_after", bits_after},
                               {"compression_ratio", ratio(double(bits_before), double(bits_after))},
                               {"ideal_compression_ratio", ratio(double(bits_before), double(ideal_after))},
                               {"file_ratio", r.written ? ratio(double(r.input_bytes), double(r.output_bytes)) : json(nullptr)},
                               {"macs_ratio", ratio(double(r.input_macs), double(r.output_macs))},
                               {"seconds", r.seconds}}},
                   {"budget", budget},
                   {"check", {{"samples", opt(r.check_samples)},
                              {"top1_agreement", opt(r.check_top1_agreement)},
                              {"output_rel_error", opt(r.check_output_rel_error)}}}};
    return report;
}

std::string compress_to_table(const CompressReport& r) {
    Table t({"layer", "op", "weight shape", "method", "rank", "bits", "params", "MACs", "rel. error", "status"});
    int64_t before = 0, after = 0;
    for (const auto& p : r.layers) {
        const std::string params = p.selected ? human_count(p.params_before) + " -> " + human_count(p.params_after)
                                              : human_count(p.params_before);
        const std::string macs = p.macs_before < 0 ? "?"
                                 : p.selected && p.macs_after >= 0
                                     ? human_count(p.macs_before) + " -> " + human_count(p.macs_after)
                                     : human_count(p.macs_before);
        std::string status = p.selected ? (p.status.empty() ? "planned" : p.status) : "skipped: " + p.reason;
        if (p.selected && p.method == "pq") status += " (k " + std::to_string(p.centroids) + ", d " + std::to_string(p.subvector) + ")";
        if (p.corrected) status += ", corrected";
        t.add_row({p.name, p.op, shape_str(p.weight_shape), p.selected ? p.method : "-",
                   p.selected && p.rank > 0 ? std::to_string(p.rank) : "-", p.selected && p.bits > 0 ? std::to_string(p.bits) : "-", params, macs,
                   p.rel_error ? fixed(*p.rel_error, 4) : "-", status});
        if (p.selected) {
            before += p.weight_bits_before;
            after += p.weight_bits_after;
        }
    }
    std::string s = t.render() + "\n";
    const size_t selected = static_cast<size_t>(std::count_if(r.layers.begin(), r.layers.end(), [](const LayerPlan& p) { return p.selected; }));
    const size_t fell_back = static_cast<size_t>(std::count_if(r.layers.begin(), r.layers.end(), [](const LayerPlan& p) {
        return p.status.find("fallback") != std::string::npos;
    }));
    s += std::to_string(selected) + " of " + std::to_string(r.layers.size()) + " conv/FC layers compressed (" +
         std::to_string(r.layers.size() - selected) + " left as they were" +
         (fell_back ? ", " + std::to_string(fell_back) + " fell back to rtn" : std::string()) + ")\n";
    s += "compressed layers: " + human_bytes(static_cast<uint64_t>(before / 8)) + " -> " +
         human_bytes(static_cast<uint64_t>(after / 8)) + (after > 0 ? " (" + fixed(double(before) / after, 2) + "x)" : "") + "\n";
    if (r.budget_target) {
        int64_t b0 = 0, b1 = 0;
        for (const auto& p : r.layers)
            if (p.budgeted) b0 += p.weight_bits_before, b1 += p.weight_bits_after;
        std::string achieved;
        if (*r.budget_target == "ratio") achieved = fixed(double(b0) / std::max<int64_t>(b1, 1), 2) + "x";
        else if (*r.budget_target == "size") achieved = r.written ? std::to_string(r.output_bytes) + " bytes" : "(not written)";
        else achieved = fixed(double(r.output_macs) / std::max<int64_t>(r.input_macs, 1), 3) + " of the MACs";
        s += "budget: target " + *r.budget_target + " " + fixed(r.budget_value, *r.budget_target == "size" ? 0 : 3) +
             ", planned " + achieved + " (predicted damage " + fixed(r.budget_predicted_damage, 4) + ")\n";
    }
    s += "params: " + human_count(r.input_params) + " -> " + human_count(r.output_params) + "; MACs: " +
         human_count(r.input_macs) + " -> " + human_count(r.output_macs) + "\n";
    if (r.written)
        s += "file: " + human_bytes(r.input_bytes) + " -> " + human_bytes(r.output_bytes) + " (" +
             fixed(double(r.input_bytes) / std::max<uint64_t>(r.output_bytes, 1), 2) + "x) written to " +
             r.options.output.string() + "\n";
    if (r.check_samples)
        s += "check on " + std::to_string(*r.check_samples) + " calibration samples: top-1 agreement " +
             fixed(100.0 * r.check_top1_agreement.value_or(0), 2) + "%, output rel. error " +
             fixed(r.check_output_rel_error.value_or(0), 4) + "\n";
    s += "time: " + fixed(r.seconds, 1) + " s\n";
    return s;
}

}  // namespace qcp
