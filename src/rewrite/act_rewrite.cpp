#include "qcp/rewrite/act_rewrite.hpp"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <set>

#include "qcp/core/error.hpp"
#include "rewrite_util.hpp"

namespace qcp::rewrite {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr int32_t kU8Min = 0, kU8Max = 255;
// int32 bias codes: the most a code may be, and where a raised weight scale puts it (headroom
// for the accumulator it is added to)
constexpr double kBiasCodeLimit = double(std::numeric_limits<int32_t>::max());
constexpr double kBiasCodeTarget = double(1 << 30);

bool is_target_op(const std::string& op) { return op == "Conv" || op == "Gemm" || op == "MatMul"; }
bool has_bias_input(const std::string& op) { return op == "Conv" || op == "Gemm"; }

const ir::Node* dq_producer(const ir::Graph& g, const std::string& value) {
    const int p = g.producer(value);
    if (p < 0) return nullptr;
    const ir::Node& n = g.nodes[static_cast<size_t>(p)];
    return n.op_type == "DequantizeLinear" ? &n : nullptr;
}

// The integer type of a DequantizeLinear's input: a constant's dtype, or what a QuantizeLinear makes.
DType int_type(const ir::Graph& g, const std::string& value) {
    if (const Tensor* t = g.constant(value)) return t->dtype();
    const int p = g.producer(value);
    if (p < 0 || g.nodes[static_cast<size_t>(p)].op_type != "QuantizeLinear") return DType::Undefined;
    const ir::Node& q = g.nodes[static_cast<size_t>(p)];
    if (const Tensor* zp = q.input(2).empty() ? nullptr : g.constant(q.input(2))) return zp->dtype();
    const int64_t t = q.attr_int("output_dtype", 0);
    return t ? static_cast<DType>(t) : DType::UInt8;
}

// Whether `value` comes from a Gather within a few Reshape/Cast steps (pq's codebook lookup).
bool gathered(const ir::Graph& g, std::string value) {
    for (int hop = 0; hop < 4; ++hop) {
        const int p = g.producer(value);
        if (p < 0) return false;
        const ir::Node& n = g.nodes[static_cast<size_t>(p)];
        if (n.op_type == "Gather") return true;
        if (n.inputs.empty()) return false;
        value = n.input(0);
    }
    return false;
}

// The weight's output-channel axis and count (Conv (M, C/g, k…): 0; Gemm: transB ? 0 : 1; MatMul: 1).
int out_axis(const ir::Node& n) {
    if (n.op_type == "Gemm") return n.attr_int("transB", 0) ? 0 : 1;
    return n.op_type == "MatMul" ? 1 : 0;
}

// Bounds of a Relu, or of a Clip whose bounds are constants; false for anything else.
bool clip_bounds(const ir::Graph& g, const ir::Node& n, double& lo, double& hi) {
    if (n.op_type == "Relu") {
        lo = 0, hi = kInf;
        return true;
    }
    if (n.op_type != "Clip") return false;
    lo = n.attr_float("min", -FLT_MAX), hi = n.attr_float("max", FLT_MAX);
    for (size_t i : {size_t(1), size_t(2)}) {
        if (n.input(i).empty()) continue;
        const Tensor* t = g.constant(n.input(i));
        if (!t || t->numel() != 1) return false;
        (i == 1 ? lo : hi) = t->get_as_double(0);
    }
    return true;
}

// The value whose Q the op's fusion takes: its output, or the Relu/Clip after it ("" for none).
std::string output_site(const ir::Graph& g, const ir::Node& n) {
    const std::string& y = n.outputs.at(0);
    if (g.is_graph_output(y)) return "";
    const auto& cs = g.consumers(y);
    if (cs.size() == 1) {
        const ir::Node& c = g.nodes[static_cast<size_t>(cs[0])];
        double lo = 0, hi = 0;
        if (clip_bounds(g, c, lo, hi) && !g.is_graph_output(c.outputs.at(0))) return c.outputs.at(0);
    }
    return y;
}

ActSite site_of(const ir::Graph& g, const std::string& value) {
    ActSite s;
    s.value = value;
    const int p = g.producer(value);
    if (p >= 0) (void)clip_bounds(g, g.nodes[static_cast<size_t>(p)], s.lo_bound, s.hi_bound);
    return s;
}

int target_node(const ir::Graph& g, const std::string& output) {
    const int p = g.producer(output);
    if (p < 0) throw Error("internal: no node produces activation target '" + output + "'");
    return p;
}

void add_initializer(ir::Graph& g, const std::string& name, Tensor t) { g.initializers.push_back({name, std::move(t), ""}); }

ir::Node qdq_node(const std::string& op, const std::string& name, std::vector<std::string> in, const std::string& out) {
    ir::Node n;
    n.op_type = op;
    n.name = name;
    n.inputs = std::move(in);
    n.outputs = {out};
    return n;
}

// The int4 codes behind `value` as int8 (ORT fuses 8-bit weights only).
void widen_int4(ir::Graph& g, const std::string& value) {
    ir::Initializer* init = g.find_initializer(g.constant_source(value));
    if (!init || init->tensor.dtype() != DType::Int4) return;
    Tensor wide(DType::Int8, init->tensor.shape());
    for (int64_t i = 0; i < wide.numel(); ++i) wide.data<int8_t>()[i] = static_cast<int8_t>(init->tensor.get_as_double(i));
    init->tensor = std::move(wide);
}

// Raises the weight scale of output channel `c` to `scale`, re-rounding that channel's int8 codes.
void raise_channel_scale(ir::Graph& g, const ir::Node& dq, int axis, int64_t c, float scale) {
    ir::Initializer* codes = g.find_initializer(g.constant_source(dq.input(0)));
    ir::Initializer* scales = g.find_initializer(g.constant_source(dq.input(1)));
    if (!codes || !scales || codes->tensor.dtype() != DType::Int8) throw Error("internal: weight codes of '" + dq.name + "' not found");
    const Shape& shape = codes->tensor.shape();
    int64_t inner = 1;
    for (size_t d = static_cast<size_t>(axis) + 1; d < shape.size(); ++d) inner *= shape[d];
    const int64_t dim = shape[static_cast<size_t>(axis)];
    float& old = scales->tensor.data<float>()[c];
    int8_t* q = codes->tensor.data<int8_t>();
    for (int64_t i = 0; i < codes->tensor.numel(); ++i)
        if ((i / inner) % dim == c) q[i] = static_cast<int8_t>(std::nearbyint(double(q[i]) * old / scale));
    old = scale;
}

// Replaces a target's float bias by int32 codes on the scale sx·sw; returns how many saturated.
// A channel whose weight scale is so small (dead weights) that its bias code would pass
// kBiasCodeLimit gets its weight scale raised until the code is kBiasCodeTarget, as ORT's
// quantizer does; only a per-tensor weight scale, shared by all channels, is left to saturate.
int64_t quantize_bias(ir::Graph& g, int node, float sx) {
    ir::Node& n = g.nodes[static_cast<size_t>(node)];
    const std::string old = n.input(2);
    const ir::Node& dq = *dq_producer(g, n.input(1));
    std::vector<float> sw = g.constant(dq.input(1))->to_float_vector();
    const std::vector<float> b = g.constant(old)->to_float_vector();
    const Shape bias_shape = g.constant(old)->shape();
    const float beta = n.op_type == "Gemm" ? n.attr_float("beta", 1.0f) : 1.0f;
    const bool per_channel = sw.size() > 1;
    const int64_t count = per_channel ? static_cast<int64_t>(sw.size()) : static_cast<int64_t>(b.size());
    Tensor codes(DType::Int32, per_channel ? Shape{count} : bias_shape);
    std::vector<float> scales(per_channel ? sw.size() : 1);
    int64_t saturated = 0;
    for (int64_t c = 0; c < count; ++c) {
        const size_t w = per_channel ? static_cast<size_t>(c) : 0;
        const double bc = double(beta) * b[b.size() == 1 ? 0 : static_cast<size_t>(c)];
        if (per_channel && std::fabs(bc / (double(sx) * sw[w])) > kBiasCodeLimit) {
            sw[w] = static_cast<float>(std::fabs(bc) / (double(sx) * kBiasCodeTarget));
            raise_channel_scale(g, dq, out_axis(n), c, sw[w]);
        }
        const float s = sx * sw[w];
        if (c < static_cast<int64_t>(scales.size())) scales[static_cast<size_t>(c)] = s;
        const double v = std::nearbyint(bc / double(s));
        if (std::fabs(v) > kBiasCodeLimit) ++saturated;
        codes.data<int32_t>()[c] = static_cast<int32_t>(std::clamp(v, -kBiasCodeLimit, kBiasCodeLimit));
    }
    const std::string q = g.unique_name(old + "_act_int32");
    add_initializer(g, q, std::move(codes));
    g.rebuild_index();
    const std::string scale = g.unique_name(old + "_act_scale");
    add_initializer(g, scale, per_channel ? Tensor::from_floats({count}, scales) : Tensor::scalar_float(scales[0]));
    g.rebuild_index();
    const std::string out = g.unique_name(old + "_act_dq");
    ir::Node bdq = qdq_node("DequantizeLinear", out, {q, scale}, out);
    if (per_channel) bdq.attributes.push_back(ir::Attribute::make_int("axis", 0));
    n.inputs[2] = out;
    if (n.op_type == "Gemm") n.set_attr(ir::Attribute::make_float("beta", 1.0f));
    g.nodes.push_back(std::move(bdq));
    g.rebuild_index();
    remove_dead_value(g, old);
    return saturated;
}

// An explicit all-zero zero point on a Gemm weight's DequantizeLinear; returns its stored bits.
int64_t add_weight_zero_point(ir::Graph& g, int node) {
    const int p = g.producer(g.nodes[static_cast<size_t>(node)].input(1));
    ir::Node& dq = g.nodes[static_cast<size_t>(p)];
    if (!dq.input(2).empty()) return 0;
    const Shape shape = g.constant(dq.input(1))->shape();
    const std::string zp = g.unique_name(dq.input(0) + "_zero_point");
    dq.inputs.resize(2);
    dq.inputs.push_back(zp);
    add_initializer(g, zp, Tensor(DType::Int8, shape));
    g.rebuild_index();
    return 8 * shape_numel(shape);
}

// IsClipMadeRedundantByQ: Relu when the zero point is the type's minimum; Clip when its bounds
// quantize outside [0, 255].
bool clip_made_redundant(const ir::Graph& g, const ir::Node& clip, const ir::Node& q) {
    const Tensor* s = g.constant(q.input(1));
    const Tensor* z = q.input(2).empty() ? nullptr : g.constant(q.input(2));
    if (!s || s->numel() != 1 || (!q.input(2).empty() && (!z || z->numel() != 1))) return false;
    const double scale = s->get_as_double(0);
    const int32_t zp = z ? static_cast<int32_t>(z->get_as_double(0)) : 0;
    if (clip.op_type == "Relu") return zp == kU8Min;
    double lo = 0, hi = 0;
    if (!clip_bounds(g, clip, lo, hi)) return false;
    const double qlo = std::rint(lo / scale) + zp, qhi = std::rint(hi / scale) + zp;
    return qlo <= kU8Min && qhi >= kU8Max;
}

}  // namespace

std::string act_target_blocker(const ir::Graph& g, int node) {
    const ir::Node& n = g.nodes.at(static_cast<size_t>(node));
    if (!is_target_op(n.op_type)) return "not a Conv, Gemm or MatMul";
    if (g.constant(n.input(0))) return "its input is a constant";
    const ir::Node* dq = dq_producer(g, n.input(1));
    if (!dq) return gathered(g, n.input(1)) ? "weight is a Gather of a float codebook (pq), not integer codes"
                                            : "weight is not integer codes behind a DequantizeLinear";
    const Tensor* codes = g.constant(dq->input(0));
    if (!codes || (codes->dtype() != DType::Int8 && codes->dtype() != DType::Int4))
        return "weight codes are not signed int8/int4 constants";
    if (!dq->input(2).empty()) {
        const Tensor* zp = g.constant(dq->input(2));
        if (!zp) return "weight zero point is not a constant";
        for (int64_t i = 0; i < zp->numel(); ++i)
            if (zp->get_as_double(i) != 0) return "weight zero points are not 0";
    }
    if (dq->attr_int("block_size", 0) > 0) return "weight has blocked scales";
    const Tensor* scale = g.constant(dq->input(1));
    if (!scale || scale->dtype() != DType::Float32) return "weight scale is not a float constant";
    if (n.op_type == "MatMul" && codes->rank() != 2) return "MatMul weight is not a matrix";
    const int axis = out_axis(n);
    if (scale->numel() > 1) {
        const int64_t rank = static_cast<int64_t>(codes->rank());
        int64_t a = dq->attr_int("axis", 1);
        if (a < 0) a += rank;
        if (a != axis) return "weight scales are not per output channel";
    }
    const int64_t channels = codes->dim(static_cast<size_t>(axis));
    if (has_bias_input(n.op_type) && !n.input(2).empty()) {
        const Tensor* b = g.constant(n.input(2));
        if (!b || b->dtype() != DType::Float32) return "bias is not a float constant";
        if (b->numel() != channels && b->numel() != 1) return "bias is not one value per output channel";
    }
    return "";
}

std::vector<ActSite> plan_act_sites(const ir::Graph& g, const std::vector<std::string>& targets) {
    std::vector<ActSite> sites;
    std::set<std::string> seen;
    auto add = [&](const std::string& v) {
        if (!v.empty() && seen.insert(v).second) sites.push_back(site_of(g, v));
    };
    for (const auto& t : targets) {
        const ir::Node& n = g.nodes[static_cast<size_t>(target_node(g, t))];
        add(n.input(0));
        add(output_site(g, n));
    }
    return sites;
}

void insert_act_qdq(ir::Model& model, const std::vector<ActSite>& sites, const std::map<std::string, quant::ActParams>& params) {
    ir::Graph& g = model.graph;
    for (const auto& s : sites) {
        const auto it = params.find(s.value);
        if (it == params.end()) throw Error("internal: no activation parameters for '" + s.value + "'");
        const std::vector<int> readers = g.consumers(s.value);
        const std::string scale = g.unique_name(s.value + "_act_scale");
        add_initializer(g, scale, Tensor::scalar_float(it->second.scale));
        g.rebuild_index();
        const std::string zp = g.unique_name(s.value + "_act_zero_point");
        Tensor z(DType::UInt8, {});
        z.data<uint8_t>()[0] = static_cast<uint8_t>(it->second.zero_point);
        add_initializer(g, zp, std::move(z));
        g.rebuild_index();
        const std::string q = g.unique_name(s.value + "_act_q");
        const std::string dq = g.unique_name(s.value + "_act_dq");
        for (int r : std::set<int>(readers.begin(), readers.end()))
            for (auto& in : g.nodes[static_cast<size_t>(r)].inputs)
                if (in == s.value) in = dq;
        g.nodes.push_back(qdq_node("QuantizeLinear", q, {s.value, scale, zp}, q));
        g.nodes.push_back(qdq_node("DequantizeLinear", dq, {q, scale, zp}, dq));
        g.rebuild_index();
    }
}

ActRewrite prepare_act_targets(ir::Model& model, const std::vector<std::string>& targets) {
    ir::Graph& g = model.graph;
    ActRewrite out;
    out.extra_bits.assign(targets.size(), 0);
    for (size_t i = 0; i < targets.size(); ++i) {
        const int node = target_node(g, targets[i]);
        const ir::Node& n = g.nodes[static_cast<size_t>(node)];
        const ir::Node* dx = dq_producer(g, n.input(0));
        const Tensor* sx = dx ? g.constant(dx->input(1)) : nullptr;
        if (!sx || sx->numel() != 1) throw Error("internal: activation target '" + targets[i] + "' has no per-tensor input DequantizeLinear");
        const float input_scale = static_cast<float>(sx->get_as_double(0));
        widen_int4(g, dq_producer(g, n.input(1))->input(0));
        const bool gemm = n.op_type == "Gemm", bias = has_bias_input(n.op_type) && !n.input(2).empty();
        if (gemm) out.extra_bits[i] += add_weight_zero_point(g, node);
        if (bias) out.saturated_biases += quantize_bias(g, node, input_scale);
    }
    return out;
}

bool ort_quantizes_float_weights(const ir::Graph& g, int node) {
    const ir::Node& n = g.nodes.at(static_cast<size_t>(node));
    if (n.op_type != "Conv" && n.op_type != "ConvTranspose" && n.op_type != "Gemm") return false;
    const ir::Node* dx = dq_producer(g, n.input(0));
    const Tensor* sx = dx ? g.constant(dx->input(1)) : nullptr;
    if (!sx || sx->numel() != 1) return false;
    const ir::Node* cur = &n;  // IsNoBranchPathToQuantizeLinear: through Relu/Clip only
    for (;;) {
        if (cur->outputs.size() != 1) return false;
        const auto& cs = g.consumers(cur->outputs[0]);
        if (cs.size() != 1) return false;
        cur = &g.nodes[static_cast<size_t>(cs[0])];
        if (cur->op_type == "QuantizeLinear") break;
        if (cur->op_type != "Relu" && cur->op_type != "Clip") return false;
    }
    if (!n.input(2).empty()) {  // a bias it cannot quantize stops it altogether
        const Tensor* b = g.constant(n.input(2));
        if (!b || b->rank() != 1) return false;
    }
    if (dq_producer(g, n.input(1))) return false;  // integer weights already (targets' float biases become int32 anyway)
    const Tensor* w = g.constant(n.input(1));
    return w && w->dtype() == DType::Float32;
}

std::string ort_qdq_fusion(const ir::Graph& g, int node) {
    const ir::Node& n = g.nodes.at(static_cast<size_t>(node));
    if (!is_target_op(n.op_type)) return "none: not a Conv, Gemm or MatMul";
    const bool gemm = n.op_type == "Gemm";
    const std::string kernel = n.op_type == "Conv" ? "QLinearConv" : gemm ? "QGemm" : "QLinearMatMul";
    const ir::Node* dx = dq_producer(g, n.input(0));
    if (!dx) return "none: float input (no DequantizeLinear)";
    const DType tx = int_type(g, dx->input(0));
    if (tx == DType::Int8) return "none: int8 activations (ORT on x86 fuses uint8 ones)";
    if (tx != DType::UInt8) return "none: activations are not uint8";
    const ir::Node* dw = dq_producer(g, n.input(1));
    if (!dw) return "none: float weight (no DequantizeLinear)";
    const DType tw = int_type(g, dw->input(0));
    if (tw == DType::Int4 || tw == DType::UInt4) return "none: 4-bit weight codes (ORT fuses 8-bit ones)";
    if (tw != DType::Int8 && tw != DType::UInt8) return "none: weight codes are not 8-bit";
    if (g.is_graph_output(dx->outputs[0]) || g.is_graph_output(dw->outputs[0]))
        return "none: a DequantizeLinear output is a graph output";
    if (has_bias_input(n.op_type) && !n.input(2).empty()) {
        const ir::Node* db = dq_producer(g, n.input(2));
        if (!db || int_type(g, db->input(0)) != DType::Int32) return "none: float bias (ORT needs an int32 DequantizeLinear)";
        if (gemm && n.attr_float("beta", 1.0f) != 1.0f) return "none: Gemm beta is not 1";
    }
    if (gemm && dw->input(2).empty()) return "none: Gemm weight DequantizeLinear without a zero point";

    const std::string& y = n.outputs.at(0);
    if (g.is_graph_output(y)) return gemm ? "QGemm (float output)" : "none: output is a graph output";
    const auto& cs = g.consumers(y);
    const ir::Node* q = nullptr;
    if (cs.size() == 1) {
        const ir::Node& c = g.nodes[static_cast<size_t>(cs[0])];
        const auto& next = g.consumers(c.outputs.at(0));
        if ((c.op_type == "Relu" || c.op_type == "Clip") && next.size() == 1 && !g.is_graph_output(c.outputs.at(0))) {
            const ir::Node& cq = g.nodes[static_cast<size_t>(next[0])];
            if (cq.op_type != "QuantizeLinear" || !clip_made_redundant(g, c, cq))
                return "none: the " + c.op_type + " after it is not made redundant by a QuantizeLinear";
            q = &cq;
        } else if (c.op_type == "QuantizeLinear") {
            q = &c;
        }
    }
    if (!q) {
        const bool any_q = std::any_of(cs.begin(), cs.end(), [&](int c) { return g.nodes[static_cast<size_t>(c)].op_type == "QuantizeLinear"; });
        if (gemm && !any_q) return "QGemm (float output)";
        return any_q ? "none: output feeds more than its QuantizeLinear" : "none: output is not quantized";
    }
    if (int_type(g, q->outputs.at(0)) != tx) return "none: output type differs from the input's";
    return kernel;
}

}  // namespace qcp::rewrite
