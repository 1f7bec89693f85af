#include "qcp/ir/graph.hpp"

#include <algorithm>
#include <functional>
#include <set>
#include <sstream>

#include "qcp/core/error.hpp"

namespace qcp::ir {

Attribute Attribute::make_int(std::string name, int64_t v) {
    Attribute a;
    a.name = std::move(name);
    a.type = AttrType::Int;
    a.i = v;
    return a;
}

Attribute Attribute::make_float(std::string name, float v) {
    Attribute a;
    a.name = std::move(name);
    a.type = AttrType::Float;
    a.f = v;
    return a;
}

Attribute Attribute::make_string(std::string name, std::string v) {
    Attribute a;
    a.name = std::move(name);
    a.type = AttrType::String;
    a.s = std::move(v);
    return a;
}

Attribute Attribute::make_ints(std::string name, std::vector<int64_t> v) {
    Attribute a;
    a.name = std::move(name);
    a.type = AttrType::Ints;
    a.ints = std::move(v);
    return a;
}

Attribute Attribute::make_floats(std::string name, std::vector<float> v) {
    Attribute a;
    a.name = std::move(name);
    a.type = AttrType::Floats;
    a.floats = std::move(v);
    return a;
}

Attribute Attribute::make_tensor(std::string name, qcp::Tensor v) {
    Attribute a;
    a.name = std::move(name);
    a.type = AttrType::Tensor;
    a.t = std::move(v);
    return a;
}

const Attribute* Node::attr(const std::string& n) const {
    for (const auto& a : attributes)
        if (a.name == n) return &a;
    return nullptr;
}

int64_t Node::attr_int(const std::string& n, int64_t fallback) const {
    const Attribute* a = attr(n);
    if (!a) return fallback;
    if (a->type != AttrType::Int) throw Error(describe() + ": attribute '" + n + "' must be an int");
    return a->i;
}

float Node::attr_float(const std::string& n, float fallback) const {
    const Attribute* a = attr(n);
    if (!a) return fallback;
    if (a->type != AttrType::Float) throw Error(describe() + ": attribute '" + n + "' must be a float");
    return a->f;
}

std::string Node::attr_string(const std::string& n, const std::string& fallback) const {
    const Attribute* a = attr(n);
    if (!a) return fallback;
    if (a->type != AttrType::String) throw Error(describe() + ": attribute '" + n + "' must be a string");
    return a->s;
}

std::vector<int64_t> Node::attr_ints(const std::string& n, std::vector<int64_t> fallback) const {
    const Attribute* a = attr(n);
    if (!a) return fallback;
    if (a->type != AttrType::Ints) throw Error(describe() + ": attribute '" + n + "' must be a list of ints");
    return a->ints;
}

void Node::set_attr(Attribute a) {
    for (auto& existing : attributes)
        if (existing.name == a.name) {
            existing = std::move(a);
            return;
        }
    attributes.push_back(std::move(a));
}

const std::string& Node::input(size_t i) const {
    static const std::string kNone;
    return i < inputs.size() ? inputs[i] : kNone;
}

std::string Node::describe() const {
    return op_type + " '" + (name.empty() ? (outputs.empty() ? std::string("?") : outputs[0]) : name) + "'";
}

std::vector<std::string> Node::implicit_inputs() const {
    std::vector<std::string> reads;
    for (const auto& a : attributes)
        if (a.graph)
            for (auto& v : a.graph->outer_reads())
                if (std::find(reads.begin(), reads.end(), v) == reads.end()) reads.push_back(std::move(v));
    return reads;
}

std::vector<std::string> Graph::outer_reads() const {
    std::set<std::string> defined;
    for (const auto& in : inputs) defined.insert(in.name);
    for (const auto& init : initializers) defined.insert(init.name);
    for (const auto& n : nodes) defined.insert(n.outputs.begin(), n.outputs.end());
    std::vector<std::string> reads;
    auto add = [&](const std::string& v) {
        if (!v.empty() && !defined.count(v) && std::find(reads.begin(), reads.end(), v) == reads.end()) reads.push_back(v);
    };
    for (const auto& n : nodes) {
        for (const auto& in : n.inputs) add(in);
        for (const auto& in : n.implicit_inputs()) add(in);
    }
    for (const auto& out : outputs) add(out.name);  // a body may pass an outer value straight out
    return reads;
}

Shape ValueInfo::concrete_shape(int64_t unknown_as) const {
    Shape s;
    for (const auto& d : dims) s.push_back(d.known() ? d.value : unknown_as);
    return s;
}

bool ValueInfo::fully_known() const {
    return has_shape && std::all_of(dims.begin(), dims.end(), [](const Dim& d) { return d.known(); });
}

std::string ValueInfo::shape_str() const {
    if (!has_shape) return "?";
    std::ostringstream os;
    os << '(';
    for (size_t i = 0; i < dims.size(); ++i) {
        os << (i ? ", " : "");
        if (dims[i].known())
            os << dims[i].value;
        else
            os << (dims[i].param.empty() ? "?" : dims[i].param);
    }
    os << ')';
    return os.str();
}

void Graph::rebuild_index() {
    producer_.clear();
    consumers_.clear();
    initializer_index_.clear();
    materialised_.clear();
    for (size_t i = 0; i < initializers.size(); ++i) initializer_index_[initializers[i].name] = i;
    for (size_t n = 0; n < nodes.size(); ++n) {
        for (const auto& out : nodes[n].outputs)
            if (!out.empty()) producer_[out] = static_cast<int>(n);
        for (const auto& in : nodes[n].inputs)
            if (!in.empty()) consumers_[in].push_back(static_cast<int>(n));
    }
}

int Graph::producer(const std::string& value) const {
    auto it = producer_.find(value);
    return it == producer_.end() ? -1 : it->second;
}

const std::vector<int>& Graph::consumers(const std::string& value) const {
    static const std::vector<int> kNone;
    auto it = consumers_.find(value);
    return it == consumers_.end() ? kNone : it->second;
}

bool Graph::is_graph_output(const std::string& value) const {
    return std::any_of(outputs.begin(), outputs.end(), [&](const ValueInfo& v) { return v.name == value; });
}

bool Graph::is_graph_input(const std::string& value) const {
    return std::any_of(inputs.begin(), inputs.end(), [&](const ValueInfo& v) { return v.name == value; });
}

const Initializer* Graph::find_initializer(const std::string& n) const {
    auto it = initializer_index_.find(n);
    return it == initializer_index_.end() ? nullptr : &initializers[it->second];
}

Initializer* Graph::find_initializer(const std::string& n) {
    auto it = initializer_index_.find(n);
    return it == initializer_index_.end() ? nullptr : &initializers[it->second];
}

namespace {

constexpr int kMaxIdentityChain = 64;

}  // namespace

const qcp::Tensor* Graph::constant(const std::string& value) const {
    std::string v = value;
    for (int hop = 0; hop < kMaxIdentityChain; ++hop) {
        if (const Initializer* init = find_initializer(v)) return &init->tensor;
        const int p = producer(v);
        if (p < 0) return nullptr;
        const Node& node = nodes[static_cast<size_t>(p)];
        if (!node.domain.empty() && node.domain != "ai.onnx") return nullptr;
        if (node.op_type == "Identity" && !node.inputs.empty()) {
            v = node.inputs[0];
            continue;
        }
        if (node.op_type != "Constant") return nullptr;
        if (const Attribute* a = node.attr("value")) return &a->t;
        auto cached = materialised_.find(v);
        if (cached != materialised_.end()) return &cached->second;
        qcp::Tensor t;
        if (const Attribute* a = node.attr("value_float")) t = qcp::Tensor::from_floats({}, {a->f});
        else if (const Attribute* a = node.attr("value_floats"))
            t = qcp::Tensor::from_floats({static_cast<int64_t>(a->floats.size())}, a->floats);
        else if (const Attribute* a = node.attr("value_int")) t = qcp::Tensor::from_int64s({}, {a->i});
        else if (const Attribute* a = node.attr("value_ints"))
            t = qcp::Tensor::from_int64s({static_cast<int64_t>(a->ints.size())}, a->ints);
        else
            return nullptr;  // sparse_value / strings: not a numeric constant qcp can use
        return &materialised_.emplace(v, std::move(t)).first->second;
    }
    return nullptr;
}

std::string Graph::constant_source(const std::string& value) const {
    std::string v = value;
    for (int hop = 0; hop < kMaxIdentityChain; ++hop) {
        if (find_initializer(v)) return v;
        const int p = producer(v);
        if (p < 0 || nodes[static_cast<size_t>(p)].op_type != "Identity") return "";
        v = nodes[static_cast<size_t>(p)].input(0);
    }
    return "";
}

const ValueInfo* Graph::shape_info(const std::string& value) const {
    for (const auto* list : {&inputs, &outputs, &value_info})
        for (const auto& vi : *list)
            if (vi.name == value && vi.has_shape) return &vi;
    auto it = inferred.find(value);
    if (it != inferred.end()) return &it->second;
    return nullptr;
}

std::vector<int> Graph::topological_order(const std::vector<std::string>& outer) const {
    std::set<std::string> available(outer.begin(), outer.end());
    for (const auto& in : inputs) available.insert(in.name);
    for (const auto& init : initializers) available.insert(init.name);
    std::vector<int> indegree(nodes.size(), 0);
    std::map<std::string, std::vector<int>> waiting;
    for (size_t n = 0; n < nodes.size(); ++n) {
        std::set<std::string> seen;
        std::vector<std::string> reads = nodes[n].inputs;
        for (auto& v : nodes[n].implicit_inputs()) reads.push_back(std::move(v));
        for (const auto& in : reads) {
            if (in.empty() || available.count(in) || !seen.insert(in).second) continue;
            if (producer(in) < 0)
                throw Error(nodes[n].describe() + ": input '" + in + "' is not produced by any node, input or initializer");
            ++indegree[n];
            waiting[in].push_back(static_cast<int>(n));
        }
    }
    // Kahn's algorithm, taking ready nodes in file order so the schedule is deterministic
    std::vector<int> order;
    std::set<int> ready;
    for (size_t n = 0; n < nodes.size(); ++n)
        if (indegree[n] == 0) ready.insert(static_cast<int>(n));
    while (!ready.empty()) {
        const int n = *ready.begin();
        ready.erase(ready.begin());
        order.push_back(n);
        for (const auto& out : nodes[static_cast<size_t>(n)].outputs) {
            auto it = waiting.find(out);
            if (it == waiting.end()) continue;
            for (int c : it->second)
                if (--indegree[static_cast<size_t>(c)] == 0) ready.insert(c);
            waiting.erase(it);
        }
    }
    if (order.size() != nodes.size()) {
        for (size_t n = 0; n < nodes.size(); ++n)
            if (indegree[n] > 0) throw Error("graph has a cycle through " + nodes[n].describe());
    }
    return order;
}

void Graph::sort_topologically() {
    const std::vector<int> order = topological_order();
    std::vector<Node> sorted;
    sorted.reserve(nodes.size());
    for (int n : order) sorted.push_back(std::move(nodes[static_cast<size_t>(n)]));
    nodes = std::move(sorted);
    rebuild_index();
}

std::string Graph::unique_name(const std::string& stem) const {
    auto used = [&](const std::string& n) {
        return producer(n) >= 0 || find_initializer(n) || !consumers(n).empty() || is_graph_input(n) ||
               is_graph_output(n);
    };
    if (!used(stem)) return stem;
    for (int i = 1;; ++i) {
        std::string candidate = stem + "_" + std::to_string(i);
        if (!used(candidate)) return candidate;
    }
}

int64_t Model::opset(const std::string& d) const {
    const std::string want = d == "ai.onnx" ? "" : d;
    for (const auto& o : opset_import)
        if ((o.domain == "ai.onnx" ? "" : o.domain) == want) return o.version;
    return 0;
}

void Model::set_opset(const std::string& d, int64_t version) {
    const std::string want = d == "ai.onnx" ? "" : d;
    for (auto& o : opset_import)
        if ((o.domain == "ai.onnx" ? "" : o.domain) == want) {
            o.version = version;
            return;
        }
    opset_import.push_back({d, version});
}

void Model::set_metadata(const std::string& key, const std::string& value) {
    for (auto& kv : metadata_props)
        if (kv.first == key) {
            kv.second = value;
            return;
        }
    metadata_props.emplace_back(key, value);
}

}  // namespace qcp::ir
