// What calibration data tells about a network (internal to pipeline): the input Hessians
// H = XᵀX of its conv/FC layers and the per-channel statistics of values, each gathered by
// running the engine over the first samples of a dataset with observers on the nodes.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "qcp/core/tensor.hpp"
#include "qcp/data/dataset.hpp"
#include "qcp/ir/graph.hpp"
#include "qcp/ir/layers.hpp"
#include "qcp/pipeline/evaluate.hpp"
#include "qcp/quant/hessian.hpp"

namespace qcp::calibration {

// Output channel mean and variance of one value, accumulated over batches. The channels are
// axis 1 ((N, C, …): Conv and Gemm outputs), or with channels_last the last axis ((N, …, C):
// MatMul outputs, e.g. a sequence model's (N, T, C)).
struct ChannelStats {
    std::vector<double> sum, sum2;
    double count = 0;
    bool channels_last = false;
    // Adds the first `samples` items of y's batch axis (all of them when negative).
    void add(const Tensor& y, int64_t samples = -1);
    double mean(size_t ch) const { return sum[ch] / count; }
    double stddev(size_t ch) const;
};

// Runs `model` over the first `count` samples, observing the producers of `values`; those in
// `channels_last` have their channels on the last axis. With `outputs` (not yet filled), the
// network outputs of that run fill it too, one entry per batch.
std::map<std::string, ChannelStats> collect_stats(const ir::Model& model, data::Dataset& ds, int64_t count, int64_t batch,
                                                  const std::vector<std::string>& values,
                                                  const std::set<std::string>& channels_last = {},
                                                  ReferenceRun* outputs = nullptr);

// H = XᵀX of the inputs each of `targets` sees in `model` over `count` samples, in one pass: im2col
// rows for convs, one H per group of a grouped conv (cols = Cin/groups·kh·kw each), one otherwise.
std::vector<std::vector<Eigen::MatrixXd>> collect_hessians(const ir::Model& model, const std::vector<ir::Layer>& targets,
                                                          data::Dataset& ds, int64_t count, int64_t batch);
// One layer's input Hessians as they are built: one accumulator per group of a grouped conv.
std::vector<quant::HessianAccumulator> hessian_accumulators(const ir::Graph& g, const ir::Layer& layer);
// Adds the rows the layer's node `n` makes of its data input `x` (a batch) to `acc`.
void add_layer_input(std::vector<quant::HessianAccumulator>& acc, const ir::Node& n, const ir::Layer& layer, const Tensor& x);

// The Hessians (one per group) of one layer.
std::vector<Eigen::MatrixXd> layer_hessians(const ir::Model& model, const ir::Layer& layer, data::Dataset& ds, int64_t count,
                                            int64_t batch);

}  // namespace qcp::calibration
