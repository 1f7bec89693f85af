#include "stream.hpp"

#include <algorithm>
#include <map>

#include "qcp/core/error.hpp"
#include "qcp/core/log.hpp"
#include "qcp/core/memory.hpp"
#include "qcp/engine/session.hpp"

namespace qcp::calibration {

namespace {

// The first output a node writes: its identity in done_, which outlives node indices.
const std::string& first_output(const ir::Node& n) {
    static const std::string none;
    for (const auto& o : n.outputs)
        if (!o.empty()) return o;
    return none;
}

// What the live set may take of what the memory limit leaves: the rest is for the solver and for
// the per-layer re-runs that take over when the stream stops.
constexpr uint64_t kLiveShareDivisor = 2;

}  // namespace

Stream::Stream(const ir::Model& model, data::Dataset& ds, int64_t count, int64_t batch, uint64_t max_live_bytes)
    : model_(model), ds_(ds), count_(count), batch_(std::max<int64_t>(batch, 1)), max_live_bytes_(max_live_bytes) {}

uint64_t Stream::default_max_live_bytes() {
    const uint64_t limit = memory::limit();
    if (limit == 0) return std::numeric_limits<uint64_t>::max();
    const uint64_t used = memory::in_use();
    return limit > used ? (limit - used) / kLiveShareDivisor : 0;
}

uint64_t Stream::live_bytes() const {
    uint64_t bytes = 0;
    for (const auto& env : env_)
        for (const auto& [name, t] : env) bytes += t.nbytes();
    return bytes;
}

const Tensor& Stream::value(size_t batch, const std::string& name) const {
    const auto it = env_.at(batch).find(name);
    if (it == env_[batch].end()) throw Error("internal: streamed value '" + name + "' is not live");
    return it->second;
}

std::optional<std::vector<std::vector<Tensor>>> Stream::values(const std::vector<std::string>& names) {
    for (const auto& v : names)
        if (v.empty() || model_.graph.find_initializer(v)) return std::nullopt;
    if (!compute(names)) return std::nullopt;
    std::vector<std::vector<Tensor>> per_batch(env_.size());
    for (size_t b = 0; b < env_.size(); ++b)
        for (const auto& v : names) per_batch[b].push_back(value(b, v));
    return per_batch;
}

void Stream::stop(const std::string& why) {
    if (!active_) return;
    active_ = false;
    reason_ = why;
    env_.clear();
    done_.clear();
    spdlog::info("calibration: streaming stopped ({}); the remaining layers re-run the network per layer", why);
}

void Stream::start() {
    started_ = true;
    const ir::Graph& g = model_.graph;
    // A node with sub-graphs reads values it does not name as inputs, which the live-set
    // bookkeeping here does not track; such models take the per-layer re-runs (a Session).
    for (const auto& n : g.nodes)
        for (const auto& a : n.attributes)
            if (a.graph) throw Error(n.describe() + " has a sub-graph");
    std::vector<std::string> names;
    for (const auto& in : g.inputs)
        if (!g.find_initializer(in.name)) names.push_back(in.name);
    for (int64_t begin = 0; begin < count_; begin += batch_) {
        std::vector<Tensor> inputs = ds_.read_inputs(begin, std::min(batch_, count_ - begin));
        if (inputs.size() != names.size())
            throw Error("model expects " + std::to_string(names.size()) + " input(s), got " + std::to_string(inputs.size()));
        auto& env = env_.emplace_back();
        for (size_t i = 0; i < names.size(); ++i) env[names[i]] = std::move(inputs[i]);
    }
    done_.insert(names.begin(), names.end());
}

bool Stream::compute(const std::vector<std::string>& values) {
    if (!active_) return false;
    try {
        if (!started_) start();
        run(values);
    } catch (const Error& e) {
        stop(e.what());
        return false;
    }
    const uint64_t bytes = live_bytes();
    if (bytes > max_live_bytes_) {
        stop("live activations " + memory::format_size(bytes) + " exceed the " + memory::format_size(max_live_bytes_) +
             " the memory limit leaves them");
        return false;
    }
    ++served_;
    return true;
}

void Stream::run(const std::vector<std::string>& values) {
    if (env_.empty()) return;
    const ir::Graph& g = model_.graph;
    auto live = [&](const std::string& v) { return env_[0].count(v) > 0; };
    auto is_const = [&](const std::string& v) { return v.empty() || g.find_initializer(v) != nullptr; };

    // the nodes to run: every one not run yet that a requested value depends on
    std::vector<char> need(g.nodes.size(), 0);
    std::vector<std::string> stack(values.begin(), values.end());
    while (!stack.empty()) {
        const std::string v = std::move(stack.back());
        stack.pop_back();
        if (is_const(v) || live(v)) continue;
        const int p = g.producer(v);
        if (p < 0) throw Error("internal: streamed value '" + v + "' has no producer and is not live");
        if (need[static_cast<size_t>(p)]) continue;
        need[static_cast<size_t>(p)] = 1;
        for (const auto& in : g.nodes[static_cast<size_t>(p)].inputs) stack.push_back(in);
    }
    std::vector<int> steps;
    for (int n : g.topological_order())
        if (need[static_cast<size_t>(n)]) steps.push_back(n);
    std::map<int, size_t> position;
    for (size_t k = 0; k < steps.size(); ++k) position[steps[k]] = k;

    // Kept past this request: the requested values and the inputs of their producers (so that
    // invalidate() can re-run those); graph outputs are not needed by calibration.
    std::unordered_set<std::string> keep(values.begin(), values.end());
    for (const auto& v : values) {
        const int p = g.producer(v);
        if (p >= 0)
            for (const auto& in : g.nodes[static_cast<size_t>(p)].inputs) keep.insert(in);
    }
    // Where each value dies: before the first step (-1) or after its last reader's step; never
    // while a reader that has not run stays out of this request.
    auto node_done = [&](int n) {
        const std::string& o = first_output(g.nodes[static_cast<size_t>(n)]);
        return !o.empty() && computed(o) && !need[static_cast<size_t>(n)];
    };
    std::vector<std::vector<std::string>> release_after(steps.size());
    std::vector<std::string> release_first;
    std::unordered_set<std::string> candidates;
    for (const auto& [name, t] : env_[0]) candidates.insert(name);
    for (int n : steps)
        for (const auto& o : g.nodes[static_cast<size_t>(n)].outputs) candidates.insert(o);
    for (const auto& v : candidates) {
        if (v.empty() || keep.count(v)) continue;
        long last = -1;
        bool pending = false;
        for (int r : g.consumers(v)) {
            const auto it = position.find(r);
            if (it != position.end()) last = std::max(last, static_cast<long>(it->second));
            else if (!node_done(r)) pending = true;
        }
        if (pending) continue;
        (last < 0 ? release_first : release_after[static_cast<size_t>(last)]).push_back(v);
    }
    // Conv → Relu pairs fused as Session fuses them (same bits, one pass over the output)
    std::vector<char> fuse(steps.size(), 0), skip(steps.size(), 0);
    for (size_t k = 0; k < steps.size(); ++k) {
        const ir::Node& n = g.nodes[static_cast<size_t>(steps[k])];
        if (n.op_type != "Conv" || n.outputs.size() != 1 || keep.count(n.outputs[0]) || g.is_graph_output(n.outputs[0])) continue;
        const auto& readers = g.consumers(n.outputs[0]);
        if (readers.size() != 1 || g.nodes[static_cast<size_t>(readers[0])].op_type != "Relu") continue;
        const auto it = position.find(readers[0]);
        if (it == position.end()) continue;
        fuse[k] = 1;
        skip[it->second] = 1;
    }

    const int64_t opset = model_.opset("");
    for (auto& env : env_) {
        for (const auto& v : release_first) env.erase(v);
        for (size_t k = 0; k < steps.size(); ++k) {
            const ir::Node& node = g.nodes[static_cast<size_t>(steps[k])];
            if (!skip[k]) {
                std::vector<const Tensor*> inputs;
                inputs.reserve(node.inputs.size());
                for (const auto& in : node.inputs) {
                    if (in.empty()) {
                        inputs.push_back(nullptr);
                    } else if (const auto it = env.find(in); it != env.end()) {
                        inputs.push_back(&it->second);
                    } else if (const ir::Initializer* init = g.find_initializer(in)) {
                        inputs.push_back(&init->tensor);
                    } else {
                        throw Error(node.describe() + ": input '" + in + "' has no value");
                    }
                }
                std::vector<Tensor> outs = engine::run_node(node, opset, inputs, fuse[k] != 0);
                if (fuse[k]) {
                    const ir::Node& relu = g.nodes[static_cast<size_t>(g.consumers(node.outputs[0])[0])];
                    env[relu.outputs[0]] = std::move(outs[0]);
                } else {
                    for (size_t o = 0; o < node.outputs.size(); ++o)
                        if (!node.outputs[o].empty()) env[node.outputs[o]] = std::move(outs[o]);
                }
                ++nodes_run_;
            }
            for (const auto& v : release_after[k]) env.erase(v);
        }
    }
    for (int n : steps)
        for (const auto& o : g.nodes[static_cast<size_t>(n)].outputs)
            if (!o.empty()) done_.insert(o);
}

void Stream::invalidate(const std::string& value) {
    if (!active_) return;
    const ir::Graph& g = model_.graph;
    const int p = g.producer(value);
    if (p < 0) return;
    // nodes computing constants (DequantizeLinear of a weight, Constant): re-run from initializers
    std::map<int, bool> memo;
    auto constant_only = [&](auto&& self, int n) -> bool {
        if (const auto it = memo.find(n); it != memo.end()) return it->second;
        memo[n] = false;  // cycles cannot occur in a valid graph; this ends the walk if one does
        bool c = true;
        for (const auto& in : g.nodes[static_cast<size_t>(n)].inputs) {
            if (in.empty() || g.find_initializer(in)) continue;
            const int q = g.producer(in);
            if (q < 0 || !self(self, q)) {
                c = false;
                break;
            }
        }
        return memo[n] = c;
    };
    std::vector<int> forget{p};
    for (size_t i = 0; i < forget.size(); ++i) {
        for (const auto& in : g.nodes[static_cast<size_t>(forget[i])].inputs) {
            const int q = in.empty() ? -1 : g.producer(in);
            if (q >= 0 && constant_only(constant_only, q) && std::find(forget.begin(), forget.end(), q) == forget.end())
                forget.push_back(q);
        }
    }
    for (int n : forget)
        for (const auto& o : g.nodes[static_cast<size_t>(n)].outputs) {
            done_.erase(o);
            for (auto& env : env_) env.erase(o);
        }
}

std::optional<std::vector<Eigen::MatrixXd>> Stream::layer_hessians(const ir::Layer& layer) {
    const ir::Node& node = model_.graph.nodes.at(static_cast<size_t>(layer.node));
    const std::string& x = node.input(0);
    if (!compute({x})) return std::nullopt;
    auto acc = hessian_accumulators(model_.graph, layer);
    for (const auto& env : env_) add_layer_input(acc, node, layer, env.at(x));
    std::vector<Eigen::MatrixXd> hs;
    for (const auto& a : acc) hs.push_back(a.hessian());
    return hs;
}

std::optional<ChannelStats> Stream::stats(const std::string& value, int64_t samples, bool channels_last) {
    if (!compute({value})) return std::nullopt;
    ChannelStats s;
    s.channels_last = channels_last;
    for (size_t b = 0; b < env_.size(); ++b) {
        const int64_t begin = static_cast<int64_t>(b) * batch_;
        if (begin >= samples) break;
        s.add(env_[b].at(value), samples - begin);
    }
    return s;
}

std::vector<Eigen::MatrixXd> streamed_layer_hessians(Stream* stream, const ir::Model& model, const ir::Layer& layer,
                                                     data::Dataset& ds, int64_t count, int64_t batch) {
    if (stream && stream->active())
        if (auto hs = stream->layer_hessians(layer)) return std::move(*hs);
    return layer_hessians(model, layer, ds, count, batch);
}

}  // namespace qcp::calibration
