// Calibration streamed through a network that is rewritten layer by layer (internal to pipeline).
//
// A Stream holds, for every calibration batch, the live values of `model` computed so far. The
// solve walks the layers in network order; before layer i it asks for the layer's input, and the
// stream runs, in the current graph's topological order, only the nodes not run yet that the
// input depends on. The rewrites keep a layer's output name and replace its node(s) in place, so
// when layer i + 1 is reached the rewritten (and corrected) nodes of layer i are the ones that run.
// Each node runs once per batch in all — O(layers) instead of one network run per layer — and
// gives the same bits as Session::run (same kernels, same batches), so Hessians and statistics
// equal the per-layer re-runs exactly.
//
// Memory: a value is freed once every node reading it has run (the inputs of the nodes run for
// the latest request are kept until the next one, so invalidate() can re-run them). The live set
// of all batches is held at once; when its bytes pass `max_live_bytes` (default: half of what the
// qcp::memory limit leaves when the stream opens) or running throws, the stream stops, frees its
// values and reports why; callers then fall back to the per-layer re-runs of calibration.hpp.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <Eigen/Core>

#include "calibration.hpp"

namespace qcp::calibration {

class Stream {
public:
    // `model` is read as it is when asked (its graph's index kept current by the caller) and must
    // outlive the stream; batches are [0, batch), [batch, 2·batch), … up to `count`, as in
    // collect_hessians. Nothing runs before the first request.
    Stream(const ir::Model& model, data::Dataset& ds, int64_t count, int64_t batch,
           uint64_t max_live_bytes = default_max_live_bytes());
    // Half of what the qcp::memory limit leaves now (unlimited without a limit).
    static uint64_t default_max_live_bytes();

    // False once the stream stopped (see reason()).
    bool active() const { return active_; }
    const std::string& reason() const { return reason_; }

    // The layer's input Hessians (one per group), as layer_hessians(model, layer, …) gives them;
    // nullopt when the stream is not (or no longer) active.
    std::optional<std::vector<Eigen::MatrixXd>> layer_hessians(const ir::Layer& layer);
    // Per-channel statistics of `value` over the first `samples` samples (ChannelStats::
    // channels_last as given); nullopt when inactive.
    std::optional<ChannelStats> stats(const std::string& value, int64_t samples, bool channels_last = false);

    // The producer of `value` (and the nodes computing constants for it) changed their
    // initializers: forget what they computed so the next request runs them again.
    void invalidate(const std::string& value);

    // Makes every value in `values` live in every batch; false when the stream is inactive.
    bool compute(const std::vector<std::string>& values);
    // Per batch, the live value `name` (after compute({name})).
    const Tensor& value(size_t batch, const std::string& name) const;
    // Per batch, a copy of each of `values` (computed first); nullopt when the stream is inactive
    // or one of them is a constant (not a streamed value).
    std::optional<std::vector<std::vector<Tensor>>> values(const std::vector<std::string>& values);
    size_t batches() const { return static_cast<size_t>((count_ + batch_ - 1) / batch_); }
    uint64_t live_bytes() const;
    int64_t nodes_run() const { return nodes_run_; }  // node executions, all batches together
    int64_t served() const { return served_; }        // requests answered from the stream

private:
    void start();
    void run(const std::vector<std::string>& values);
    void stop(const std::string& why);
    bool computed(const std::string& value) const { return done_.count(value) > 0; }

    const ir::Model& model_;
    data::Dataset& ds_;
    int64_t count_, batch_;
    uint64_t max_live_bytes_;
    bool active_ = true, started_ = false;
    std::string reason_;
    std::vector<std::unordered_map<std::string, Tensor>> env_;  // per batch: the live values
    std::unordered_set<std::string> done_;  // values computed (live or freed), graph inputs included
    int64_t nodes_run_ = 0;
    int64_t served_ = 0;
};

// The layer's input Hessians from `stream` when it is active, else by a run of `model` over the
// calibration data (layer_hessians); the stream is stopped and left behind on any failure.
std::vector<Eigen::MatrixXd> streamed_layer_hessians(Stream* stream, const ir::Model& model, const ir::Layer& layer,
                                                     data::Dataset& ds, int64_t count, int64_t batch);

}  // namespace qcp::calibration
