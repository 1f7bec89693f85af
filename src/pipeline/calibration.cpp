#include "calibration.hpp"

#include <algorithm>
#include <cmath>

#include "qcp/core/error.hpp"
#include "qcp/core/parallel.hpp"
#include "qcp/engine/session.hpp"
#include "qcp/ir/conv_pads.hpp"
#include "qcp/quant/hessian.hpp"
#include "qcp/rewrite/quant_rewrite.hpp"

namespace qcp::calibration {

namespace {

// Conv geometry of `n` for im2col rows over an input of shape `x` (auto_pad resolved).
quant::HessianAccumulator::ConvGeometry conv_geometry(const ir::Node& n, const ir::Layer& layer, const Tensor& x) {
    quant::HessianAccumulator::ConvGeometry geo;
    geo.kh = layer.weight_shape[2];
    geo.kw = layer.weight_shape[3];
    const auto strides = n.attr_ints("strides", {1, 1});
    const auto dil = n.attr_ints("dilations", {1, 1});
    geo.stride_h = strides[0], geo.stride_w = strides[1];
    geo.dil_h = dil[0], geo.dil_w = dil[1];
    const std::vector<int64_t> pads = ir::conv_pads(n, {x.dim(2), x.dim(3)}, {geo.kh, geo.kw}, strides, dil);
    geo.pad_top = pads[0], geo.pad_left = pads[1], geo.pad_bottom = pads[2], geo.pad_right = pads[3];
    return geo;
}

}  // namespace

void ChannelStats::add(const Tensor& y, int64_t samples) {
    if (y.rank() < 2) throw Error("statistics correction needs a layer output with a channel axis");
    // y as (batch, outer, c, inner): channels at axis 1, or last
    const int64_t c = channels_last ? y.dim(y.rank() - 1) : y.dim(1);
    const int64_t per_sample = y.numel() / std::max<int64_t>(y.dim(0), 1);
    const int64_t inner = channels_last ? 1 : per_sample / std::max<int64_t>(c, 1);
    const int64_t outer = channels_last ? per_sample / std::max<int64_t>(c, 1) : 1;
    const int64_t n = samples < 0 ? y.dim(0) : std::min(samples, y.dim(0));
    if (sum.empty()) {
        sum.assign(static_cast<size_t>(c), 0.0);
        sum2.assign(static_cast<size_t>(c), 0.0);
    }
    const float* p = y.data<float>();
    for (int64_t b = 0; b < n * outer; ++b)
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
    count += static_cast<double>(n * outer * inner);
}

double ChannelStats::stddev(size_t ch) const { return std::sqrt(std::max(0.0, sum2[ch] / count - mean(ch) * mean(ch))); }

std::map<std::string, ChannelStats> collect_stats(const ir::Model& model, data::Dataset& ds, int64_t count,
                                                  int64_t batch, const std::vector<std::string>& values,
                                                  const std::set<std::string>& channels_last, ReferenceRun* outputs) {
    engine::Session session(model);
    std::map<std::string, ChannelStats> stats;
    for (const auto& v : values) {
        const int p = model.graph.producer(v);
        if (p < 0) throw Error("internal: no producer for '" + v + "'");
        const ir::Node& node = model.graph.nodes[static_cast<size_t>(p)];
        const size_t out_index = static_cast<size_t>(std::find(node.outputs.begin(), node.outputs.end(), v) - node.outputs.begin());
        stats[v].channels_last = channels_last.count(v) > 0;
        session.observe(p, [&stats, v, out_index](const ir::Node&, const std::vector<const Tensor*>&,
                                                  const std::vector<Tensor>& outs) { stats[v].add(outs[out_index]); });
    }
    if (outputs) outputs->start();
    for (int64_t begin = 0; begin < count; begin += batch) {
        std::vector<Tensor> y = session.run(ds.read_inputs(begin, std::min(batch, count - begin)));
        if (outputs) outputs->add(std::move(y));
    }
    if (outputs) outputs->finish(std::nullopt);
    return stats;
}

std::vector<quant::HessianAccumulator> hessian_accumulators(const ir::Graph& g, const ir::Layer& layer) {
    const int64_t groups = std::max<int64_t>(layer.groups, 1);
    return std::vector<quant::HessianAccumulator>(static_cast<size_t>(groups),
                                                  quant::HessianAccumulator(rewrite::quant_target(g, layer).cols));
}

void add_layer_input(std::vector<quant::HessianAccumulator>& acc, const ir::Node& n, const ir::Layer& layer, const Tensor& x) {
    const int64_t groups = static_cast<int64_t>(acc.size());
    if (n.op_type == "Conv") {
        if (x.rank() != 4) throw Error(n.describe() + ": data-aware methods support 2-D convs");
        const auto geo = conv_geometry(n, layer, x);
        const int64_t c = x.dim(1), cg = c / groups, plane = x.dim(2) * x.dim(3);
        if (groups == 1) {
            acc[0].add_conv_input(x.data<float>(), x.dim(0), c, x.dim(2), x.dim(3), geo);
            return;
        }
        // Groups in parallel, each accumulator on one thread (its own parallel_for runs nested,
        // inline): a depthwise layer's accumulators are too small to split, and waking threads
        // for each of their n·groups calls cost more than the sums. Rows reach each accumulator
        // in the same order whatever the thread count.
        parallel_for(groups, 1, [&](int64_t g0, int64_t g1) {
            for (int64_t g = g0; g < g1; ++g)
                for (int64_t b = 0; b < x.dim(0); ++b)
                    acc[static_cast<size_t>(g)].add_conv_input(x.data<float>() + (b * c + g * cg) * plane, 1, cg, x.dim(2), x.dim(3),
                                                               geo);
        });
    } else {
        if (n.op_type == "Gemm" && n.attr_int("transA", 0)) throw Error(n.describe() + ": data-aware methods need transA = 0");
        acc[0].add_rows(x.data<float>(), x.numel() / acc[0].cols());
    }
}

std::vector<std::vector<Eigen::MatrixXd>> collect_hessians(const ir::Model& model, const std::vector<ir::Layer>& targets,
                                                          data::Dataset& ds, int64_t count, int64_t batch) {
    std::vector<std::vector<quant::HessianAccumulator>> accs(targets.size());  // sized once: observers keep references
    engine::Session session(model);
    for (size_t t = 0; t < targets.size(); ++t) {
        const ir::Layer& layer = targets[t];
        accs[t] = hessian_accumulators(model.graph, layer);
        auto& acc = accs[t];
        session.observe(layer.node, [&acc, &layer](const ir::Node& n, const std::vector<const Tensor*>& in, const std::vector<Tensor>&) {
            add_layer_input(acc, n, layer, *in.at(0));
        });
    }
    for (int64_t begin = 0; begin < count; begin += batch) (void)session.run(ds.read_inputs(begin, std::min(batch, count - begin)));
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

}  // namespace qcp::calibration
