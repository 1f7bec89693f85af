// convert_opset(): one opset step at a time; ONNX's version converter for the nodes it adapts
// up to 17, qcp's adapters (opset_adapters.cpp) for the rest.
#include "qcp/onnx_io/opset.hpp"

#include <onnx/version_converter/convert.h>

#include <iostream>
#include <set>
#include <sstream>

#include "from_proto.hpp"
#include "opset_adapters.hpp"
#include "qcp/core/error.hpp"
#include "qcp/core/log.hpp"
#include "qcp/onnx_io/onnx_io.hpp"
#include "to_proto.hpp"

namespace qcp::onnx_io {

namespace {

namespace vc = onnx::version_conversion;

// ONNX 1.12's converter looks at every node whatever its domain (it fails on an op it has no
// schema for, and would adapt a custom op named like an ONNX one). So while it runs, the nodes it
// must not touch (other domains, and those qcp adapts in this step) stand in as ops that never
// changed schema, numbered in this domain, and are put back afterwards.
constexpr const char* kHiddenDomain = "qcp.opset.hidden.";
constexpr const char* kStandInOp = "Not";  // one schema, since opset 1

// ir_version of the ONNX release that introduced each opset (onnx/helper.py's VERSION_TABLE).
int64_t ir_version_for(int64_t opset) {
    static const int64_t kIr[] = {3, 3, 4, 5, 6, 7, 7, 7, 8, 8, 8, 8, 9, 9, 10};  // opsets 7..21
    return kIr[opset - kMinOpset];
}

std::string step_str(int64_t to) { return std::to_string(to - 1) + "→" + std::to_string(to); }

bool default_domain(const ir::Node& n) { return n.domain.empty() || n.domain == "ai.onnx"; }

// ONNX's converter, with what it knows opened up: which ops exist, which changed in an opset,
// and which steps it has an adapter for (it throws only once it meets a node without one).
class OnnxConverter : public vc::DefaultVersionConverter {
public:
    bool knows(const std::string& op) const {
        auto it = all_schemas.find(op);
        return it != all_schemas.end() && it->second.count("");
    }
    bool changed_at(const std::string& op, int64_t to) const { return all_schemas.at(op).at("").count(to) > 0; }
    bool has_adapter(const std::string& op, int64_t to) const {
        auto a = adapters.find(op);
        if (a == adapters.end()) return false;
        auto from = a->second.find(onnx::OpSetID(to - 1).toString());
        return from != a->second.end() && from->second.count(onnx::OpSetID(to).toString()) > 0;
    }
    const char* deprecated_note(const std::string& op, int64_t to) const {
        const auto& versions = all_schemas.at(op).at("");
        auto it = versions.find(to);
        return it != versions.end() && it->second->Deprecated() ? " (deprecated there)" : "";
    }
};

// Built once (it indexes every schema and adapter): ~10 ms.
const OnnxConverter& onnx_converter() {
    static const OnnxConverter converter;
    return converter;
}

// libonnx prints a warning on std::cerr for every node of another domain; those are ours.
class QuietCerr {
public:
    QuietCerr() : saved_(std::cerr.rdbuf(sink_.rdbuf())) {}
    ~QuietCerr() { std::cerr.rdbuf(saved_); }
    QuietCerr(const QuietCerr&) = delete;
    QuietCerr& operator=(const QuietCerr&) = delete;

private:
    std::ostringstream sink_;
    std::streambuf* saved_;
};

std::string one_line(const std::exception& e) {
    std::string s = e.what();
    for (auto& c : s)
        if (c == '\n') c = ' ';
    return s;
}

std::vector<std::string> names(const std::vector<ir::ValueInfo>& vs) {
    std::vector<std::string> out;
    for (const auto& v : vs) out.push_back(v.name);
    return out;
}

// Runs ONNX's converter for step to-1 → to over the whole model and takes its nodes and
// initializers; the graph's inputs, outputs and value_info stay qcp's.
void onnx_step(ir::Model& model, int64_t to, const OnnxConverter& converter) {
    onnx::ModelProto in;
    detail::model_to_proto(model, &in, nullptr, detail::DataMode::Full);
    for (auto& o : *in.mutable_opset_import())
        if (o.domain() == "ai.onnx") o.set_domain("");
    // below IR 4 ONNX's IR importer sees only the initializers that are also graph inputs
    in.set_ir_version(std::max<int64_t>(in.ir_version(), 4));
    onnx::ModelProto out;
    try {
        QuietCerr quiet;
        out = converter.convert_version(in, onnx::OpSetID(to - 1), onnx::OpSetID(to));
    } catch (const std::exception& e) {
        throw Error("ONNX's version converter failed at opset " + step_str(to) + ": " + one_line(e));
    }
    ir::Graph g = detail::graph_from_proto(*out.mutable_graph(), {}, nullptr);
    ir::Graph& old = model.graph;
    if (names(g.outputs) != names(old.outputs))
        throw Error("ONNX's version converter renamed graph outputs at opset " + step_str(to));
    old.nodes = std::move(g.nodes);
    old.initializers = std::move(g.initializers);
    old.rebuild_index();
}

// Every node that needs a step, checked before any is changed: qcp's adapter (nodes returned)
// or ONNX's (`onnx_needed`); a node with neither is refused.
std::vector<size_t> plan_step(const ir::Graph& g, int64_t to, const OnnxConverter* converter, bool& onnx_needed) {
    std::vector<size_t> own;
    onnx_needed = false;
    for (size_t i = 0; i < g.nodes.size(); ++i) {
        const ir::Node& n = g.nodes[i];
        if (!default_domain(n)) continue;
        if (const detail::StepAdapter* a = detail::own_adapter(n.op_type, to)) {
            if (!a->adapt)
                throw Error(n.describe() + ": no adapter for " + n.op_type + " from opset " + step_str(to) + " (" +
                            a->change + ")");
            own.push_back(i);
        } else if (converter) {
            if (!converter->knows(n.op_type))
                throw Error(n.describe() + ": " + n.op_type + " is not an ONNX operator; cannot convert it to opset " +
                            std::to_string(to));
            if (!converter->changed_at(n.op_type, to)) continue;
            if (!converter->has_adapter(n.op_type, to))
                throw Error(n.describe() + ": ONNX's version converter has no adapter for " + n.op_type + " from opset " +
                            step_str(to) + converter->deprecated_note(n.op_type, to));
            onnx_needed = true;
        }
    }
    return own;
}

void refuse_unconvertible(const ir::Model& model, int64_t target) {
    const int64_t from = model.opset("");
    if (target < kMinOpset || target > kMaxOpset)
        throw Error("--opset " + std::to_string(target) + " is out of range (qcp converts to opsets " +
                    std::to_string(kMinOpset) + " to " + std::to_string(kMaxOpset) + ")");
    if (target < from)
        throw Error("--opset " + std::to_string(target) + " is lower than the model's opset " + std::to_string(from) +
                    "; qcp only upgrades");
    if (target == from) return;
    for (const auto& n : model.graph.nodes)
        for (const auto& a : n.attributes)
            if (a.type == ir::AttrType::Graph || a.type == ir::AttrType::Graphs)
                throw Error(n.describe() + ": holds a sub-graph ('" + a.name + "'); qcp does not convert models with sub-graphs");
    if (from < detail::kLibonnxLastOpset && !model.graph.opaque_sparse_initializers.empty())
        throw Error("the model has sparse initializers, which ONNX's version converter drops");
    if (!model.opaque_functions.empty())
        throw Error("the model defines local functions, whose bodies qcp does not convert");
}

}  // namespace

OpsetConversion convert_opset(ir::Model& model, int64_t target) {
    OpsetConversion r;
    r.from = r.to = model.opset("");
    refuse_unconvertible(model, target);
    if (target == r.from) return r;
    ir::Graph& g = model.graph;
    g.sort_topologically();
    for (int64_t to = r.from + 1; to <= target; ++to) {
        const OnnxConverter* converter = to <= detail::kLibonnxLastOpset ? &onnx_converter() : nullptr;
        bool onnx_needed = false;
        std::vector<size_t> own = plan_step(g, to, converter, onnx_needed);
        if (onnx_needed) {
            std::vector<std::pair<std::string, std::string>> hidden;  // (op_type, domain) by number
            std::set<size_t> ours(own.begin(), own.end());
            for (size_t i = 0; i < g.nodes.size(); ++i) {
                ir::Node& n = g.nodes[i];
                if (default_domain(n) && !ours.count(i)) continue;
                hidden.emplace_back(n.op_type, n.domain);
                n.domain = kHiddenDomain + std::to_string(hidden.size() - 1) + (ours.count(i) ? "+" : "");
                n.op_type = kStandInOp;
            }
            onnx_step(model, to, *converter);
            ++r.onnx_steps;
            own.clear();  // ONNX's converter inserted nodes: find ours again
            const std::string prefix = kHiddenDomain;
            for (size_t i = 0; i < g.nodes.size(); ++i) {
                ir::Node& n = g.nodes[i];
                if (n.domain.compare(0, prefix.size(), prefix) != 0) continue;
                const bool adapt = n.domain.back() == '+';
                const size_t k = std::stoul(n.domain.substr(prefix.size()));
                n.op_type = hidden.at(k).first;
                n.domain = hidden.at(k).second;
                if (adapt) own.push_back(i);
            }
            g.rebuild_index();
        }
        for (size_t i : own) {
            const ir::Node& n = g.nodes[i];
            const detail::StepAdapter& a = *detail::own_adapter(n.op_type, to);
            if (detail::rewrites_nodes(a)) r.nodes.push_back(n.op_type + " '" + n.name + "' " + step_str(to));
            a.adapt(g, i, to);
        }
        if (!own.empty()) g.sort_topologically();  // adapters append their new nodes
        model.set_opset("", to);
        model.ir_version = std::max(model.ir_version, ir_version_for(to));
        // past 17 ONNX 1.12 has no schemas to infer with: the shapes found at 17 stay
        if (to <= detail::kLibonnxLastOpset && (to == target || to == detail::kLibonnxLastOpset)) infer_shapes(model);
    }
    r.to = target;
    spdlog::debug("opset {} → {}: {} step(s) by ONNX's version converter, {} node(s) by qcp's adapters", r.from, r.to,
                  r.onnx_steps, r.nodes.size());
    return r;
}

}  // namespace qcp::onnx_io
