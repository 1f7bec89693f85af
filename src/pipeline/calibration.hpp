// What calibration data tells about a network (internal to pipeline): the input Hessians
// H = XᵀX of its conv/FC layers and the per-channel statistics of values, each gathered by
// running the engine over the first samples of a dataset with observers on the nodes.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "qcp/core/tensor.hpp"
#include "qcp/data/dataset.hpp"
#include "qcp/ir/graph.hpp"
#include "qcp/ir/layers.hpp"

namespace qcp::calibration {

// Output channel (axis 1) mean and variance of one value, accumulated over batches.
struct ChannelStats {
    std::vector<double> sum, sum2;
    double count = 0;
    void add(const Tensor& y);
    double mean(size_t ch) const { return sum[ch] / count; }
    double stddev(size_t ch) const;
};

// Runs `model` over the first `count` samples, observing the producers of `values`.
std::map<std::string, ChannelStats> collect_stats(const ir::Model& model, data::Dataset& ds, int64_t count, int64_t batch,
                                                  const std::vector<std::string>& values);

// H = XᵀX of the inputs each of `targets` sees in `model` over `count` samples, in one pass: im2col
// rows for convs, one H per group of a grouped conv (cols = Cin/groups·kh·kw each), one otherwise.
std::vector<std::vector<Eigen::MatrixXd>> collect_hessians(const ir::Model& model, const std::vector<ir::Layer>& targets,
                                                          data::Dataset& ds, int64_t count, int64_t batch);
// The Hessians (one per group) of one layer.
std::vector<Eigen::MatrixXd> layer_hessians(const ir::Model& model, const ir::Layer& layer, data::Dataset& ds, int64_t count,
                                            int64_t batch);

}  // namespace qcp::calibration
