// Session: runs a Graph on the CPU, node by node in topological order.
//
// Intermediate tensors are freed after their last consumer ran, so peak memory is the largest
// live set. Initializers are read in place, never copied. Observers see chosen nodes' inputs
// and outputs as they are computed (for calibration statistics), batch by batch.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "qcp/core/tensor.hpp"
#include "qcp/engine/epilogue.hpp"
#include "qcp/engine/kernel.hpp"
#include "qcp/ir/graph.hpp"

namespace qcp::engine {

using Observer = std::function<void(const ir::Node& node, const std::vector<const Tensor*>& inputs,
                                    const std::vector<Tensor>& outputs)>;
// Scope (the enclosing graphs' values a sub-graph reads) is declared with KernelContext in kernel.hpp.

// The kernel for `node` at the default-domain `opset`; throws qcp::Error naming the node and its op
// when qcp's engine has none (or the node is in another domain).
KernelFn bind_kernel(const ir::Node& node, int64_t opset);

// Runs one node outside a Session, as Session::run runs it: `inputs` by position (nullptr for an
// omitted optional input; initializers are passed in place by the caller), `fused_relu` as in
// KernelContext (only a Conv honours it). Returns one tensor per node output ("" outputs included,
// left empty by kernels that skip them). For callers that carry their own values between nodes
// (calibration streamed layer by layer).
std::vector<Tensor> run_node(const ir::Node& node, int64_t opset, const std::vector<const Tensor*>& inputs,
                             bool fused_relu = false);

class Session {
public:
    // Binds every node to a kernel; throws qcp::Error naming the first node whose op (at the
    // model's opset) has none, before any work. `model` must outlive the session.
    explicit Session(const ir::Model& model);
    // A sub-graph's session: every graph input is an input, and the values named in `outer`
    // (Graph::outer_reads) come from the scope given to run().
    Session(const ir::Graph& graph, int64_t opset, const std::vector<std::string>& outer);
    // With QCP_PROFILE=1 in the environment, prints seconds per op type to stderr (Conv split by kind,
    // kernel, stride and fused epilogue: "Conv dw 5x5 s1,1 +epi").
    ~Session();

    // Graph inputs that are not initializers, in order.
    const std::vector<std::string>& input_names() const { return input_names_; }
    const std::vector<std::string>& output_names() const { return output_names_; }

    // Runs with one tensor per input (by position); returns the graph outputs in order.
    std::vector<Tensor> run(const std::vector<Tensor>& inputs) const { return run(inputs, nullptr); }
    // With the enclosing scopes' values (a sub-graph's session).
    std::vector<Tensor> run(const std::vector<Tensor>& inputs, const Scope* outer) const;
    std::vector<Tensor> run(const Tensor& input) const { return run(std::vector<Tensor>{input}); }

    // Calls `observer` after node `node_index` runs. Several observers may watch one node.
    void observe(int node_index, Observer observer);
    void clear_observers() { observers_.clear(); }

    // How many nodes after Conv `node_index` run as its epilogue when no observer watches them
    // (0 for other nodes).
    size_t epilogue_length(int node_index) const { return epilogue_nodes_.at(static_cast<size_t>(node_index)).size(); }

private:
    const ir::Graph& graph_;
    int64_t opset_ = 0;
    std::vector<int> order_;
    std::vector<KernelFn> kernels_;  // by node index
    std::vector<std::string> input_names_;
    std::vector<std::string> output_names_;
    std::vector<std::pair<int, Observer>> observers_;
    // for each position in order_, values whose last reader is that node
    std::vector<std::vector<std::string>> release_after_;
    // epilogue_nodes_[n]: the elementwise nodes after Conv n that run as its epilogues_[n] (engine
    // fusion; see epilogue.hpp), unless an observer watches the Conv or one of them
    std::vector<std::vector<int>> epilogue_nodes_;
    std::vector<Epilogue> epilogues_;
    bool profile_ = false;
    mutable std::map<std::string, double> profile_seconds_;
};

}  // namespace qcp::engine
