// Control flow: If, Loop, Scan. Each runs its body (a Graph attribute, ir::Attribute::graph) in
// a session of its own, which reads the enclosing graphs' values through the running session's
// scope (KernelContext::scope), as ONNX's outer-scope rule allows.
#include <algorithm>
#include <cstring>

#include "kernels.hpp"
#include "qcp/core/error.hpp"
#include "qcp/engine/session.hpp"

namespace qcp::engine::kernels {

namespace {

const ir::Graph& body_attr(const KernelContext& ctx, const std::string& name) {
    const ir::Attribute* a = ctx.node.attr(name);
    if (!a || !a->graph) throw Error(ctx.where() + "has no graph attribute '" + name + "'");
    return *a->graph;
}

Tensor bool_scalar(bool v) {
    Tensor t(DType::Bool, {});
    t.data<uint8_t>()[0] = v ? 1 : 0;
    return t;
}

bool truth(const KernelContext& ctx, const Tensor& t, const char* what) {
    if (t.numel() != 1) throw Error(ctx.where() + what + " must hold one value, got shape " + shape_str(t.shape()));
    return t.get_as_double(0) != 0.0;
}

int64_t normalized_axis(const KernelContext& ctx, int64_t axis, int64_t rank) {
    const int64_t a = axis < 0 ? axis + rank : axis;
    if (a < 0 || a >= rank) throw Error(ctx.where() + "axis " + std::to_string(axis) + " out of range for rank " + std::to_string(rank));
    return a;
}

// Index `i` along `axis` of `t`, that axis removed.
Tensor slice_at(const Tensor& t, int64_t axis, int64_t i) {
    const Shape& s = t.shape();
    int64_t outer = 1;
    for (int64_t d = 0; d < axis; ++d) outer *= s[static_cast<size_t>(d)];
    const int64_t len = s[static_cast<size_t>(axis)];
    Shape out_shape = s;
    out_shape.erase(out_shape.begin() + axis);
    Tensor out = Tensor::uninitialized(t.dtype(), out_shape);
    const size_t inner = out.nbytes() / static_cast<size_t>(std::max<int64_t>(outer, 1));
    const uint8_t* src = t.bytes().data();
    uint8_t* dst = out.data<uint8_t>();
    for (int64_t o = 0; o < outer; ++o)
        std::memcpy(dst + static_cast<size_t>(o) * inner, src + (static_cast<size_t>(o * len + i)) * inner, inner);
    return out;
}

// The parts (one shape, one dtype) stacked along a new axis `axis`.
Tensor stack(const KernelContext& ctx, const std::vector<Tensor>& parts, int64_t axis) {
    const Tensor& first = parts.front();
    for (const Tensor& p : parts)
        if (p.shape() != first.shape() || p.dtype() != first.dtype())
            throw Error(ctx.where() + "body outputs of one scan output differ between iterations: " + shape_str(first.shape()) +
                        " and " + shape_str(p.shape()));
    const Shape& s = first.shape();
    int64_t outer = 1;
    for (int64_t d = 0; d < axis; ++d) outer *= s[static_cast<size_t>(d)];
    Shape out_shape = s;
    out_shape.insert(out_shape.begin() + axis, static_cast<int64_t>(parts.size()));
    Tensor out = Tensor::uninitialized(first.dtype(), out_shape);
    const size_t inner = first.nbytes() / static_cast<size_t>(std::max<int64_t>(outer, 1));
    uint8_t* dst = out.data<uint8_t>();
    const size_t n = parts.size();
    for (int64_t o = 0; o < outer; ++o)
        for (size_t k = 0; k < n; ++k)
            std::memcpy(dst + (static_cast<size_t>(o) * n + k) * inner, parts[k].bytes().data() + static_cast<size_t>(o) * inner, inner);
    return out;
}

// A scan output of no iterations: length 0 along the stacked axis, the rest as the body declares.
Tensor empty_scan(const ir::ValueInfo& vi, int64_t axis) {
    Shape s;
    if (vi.has_shape && vi.fully_known()) s = vi.concrete_shape(1);
    s.insert(s.begin() + std::min<int64_t>(axis, static_cast<int64_t>(s.size())), 0);
    return Tensor(vi.dtype == DType::Undefined ? DType::Float32 : vi.dtype, s);
}

Session body_session(const KernelContext& ctx, const ir::Graph& g) {
    if (!ctx.scope) throw Error(ctx.where() + "internal: a sub-graph kernel run without a scope");
    return Session(g, ctx.opset, g.outer_reads());
}

void if_op(KernelContext& ctx) {
    const ir::Graph& g = body_attr(ctx, truth(ctx, ctx.in(0), "the condition") ? "then_branch" : "else_branch");
    if (g.outputs.size() != ctx.outputs.size())
        throw Error(ctx.where() + "branch has " + std::to_string(g.outputs.size()) + " outputs, the node " +
                    std::to_string(ctx.outputs.size()));
    const Session s = body_session(ctx, g);
    ctx.outputs = s.run({}, ctx.scope);
}

// Loop: inputs (M, cond, v...), body (iteration, cond, v...) -> (cond, v..., scan...).
void loop(KernelContext& ctx) {
    const ir::Graph& g = body_attr(ctx, "body");
    if (ctx.inputs.size() < 2) throw Error(ctx.where() + "needs the trip-count and condition inputs (either may be empty)");
    const size_t carried = ctx.inputs.size() - 2;
    if (g.inputs.size() != carried + 2 || g.outputs.size() < carried + 1)
        throw Error(ctx.where() + "body takes " + std::to_string(g.inputs.size()) + " inputs and gives " +
                    std::to_string(g.outputs.size()) + " outputs; " + std::to_string(carried) +
                    " loop-carried values need 2 + N inputs and 1 + N outputs or more");
    const size_t scans = g.outputs.size() - 1 - carried;
    if (ctx.outputs.size() > carried + scans)
        throw Error(ctx.where() + "has " + std::to_string(ctx.outputs.size()) + " outputs, its body gives " + std::to_string(carried + scans));
    const bool has_trip = ctx.has_input(0), has_cond = ctx.has_input(1);
    if (!has_trip && !has_cond) throw Error(ctx.where() + "has neither a trip count nor a condition: it would never end");
    const int64_t trips = has_trip ? ctx.in(0).to_int64_vector().at(0) : 0;
    bool cond = has_cond ? truth(ctx, ctx.in(1), "the condition") : true;
    std::vector<Tensor> state;
    for (size_t i = 0; i < carried; ++i) state.push_back(ctx.in(2 + i));
    std::vector<std::vector<Tensor>> parts(scans);
    const Session s = body_session(ctx, g);
    for (int64_t it = 0; (!has_trip || it < trips) && cond; ++it) {
        std::vector<Tensor> feed;
        feed.reserve(carried + 2);
        feed.push_back(Tensor::from_int64s({}, {it}));
        feed.push_back(bool_scalar(cond));
        for (auto& v : state) feed.push_back(std::move(v));
        std::vector<Tensor> out = s.run(feed, ctx.scope);
        if (has_cond) cond = truth(ctx, out[0], "the body's condition");
        for (size_t i = 0; i < carried; ++i) state[i] = std::move(out[1 + i]);
        for (size_t k = 0; k < scans; ++k) parts[k].push_back(std::move(out[1 + carried + k]));
    }
    for (size_t o = 0; o < ctx.outputs.size(); ++o) {
        if (o < carried) ctx.outputs[o] = std::move(state[o]);
        else {
            const size_t k = o - carried;
            ctx.outputs[o] = parts[k].empty() ? empty_scan(g.outputs[1 + carried + k], 0) : stack(ctx, parts[k], 0);
        }
    }
}

// Scan (opset 9+): inputs (state..., scan...), body (state..., slice...) -> (state..., scan...).
void scan(KernelContext& ctx) {
    const ir::Graph& g = body_attr(ctx, "body");
    const int64_t m = ctx.node.attr_int("num_scan_inputs", -1);
    if (m < 1 || static_cast<size_t>(m) > ctx.inputs.size())
        throw Error(ctx.where() + "num_scan_inputs " + std::to_string(m) + " must be in [1, " + std::to_string(ctx.inputs.size()) + "]");
    const size_t n = ctx.inputs.size() - static_cast<size_t>(m);
    if (g.inputs.size() != ctx.inputs.size() || g.outputs.size() < n)
        throw Error(ctx.where() + "body takes " + std::to_string(g.inputs.size()) + " inputs and gives " +
                    std::to_string(g.outputs.size()) + " outputs for " + std::to_string(ctx.inputs.size()) + " node inputs");
    const size_t k_out = g.outputs.size() - n;
    if (ctx.outputs.size() > n + k_out) throw Error(ctx.where() + "has more outputs than its body gives");
    auto per = [&](const char* name, size_t count) {
        std::vector<int64_t> v = ctx.node.attr_ints(name, std::vector<int64_t>(count, 0));
        if (v.size() != count) throw Error(ctx.where() + name + " has " + std::to_string(v.size()) + " entries, expected " + std::to_string(count));
        return v;
    };
    const std::vector<int64_t> in_axes = per("scan_input_axes", static_cast<size_t>(m)), in_dirs = per("scan_input_directions", static_cast<size_t>(m));
    const std::vector<int64_t> out_axes = per("scan_output_axes", k_out), out_dirs = per("scan_output_directions", k_out);
    int64_t len = -1;
    std::vector<int64_t> axes(static_cast<size_t>(m));
    for (size_t j = 0; j < axes.size(); ++j) {
        const Tensor& x = ctx.in(n + j);
        axes[j] = normalized_axis(ctx, in_axes[j], static_cast<int64_t>(x.rank()));
        const int64_t l = x.dim(static_cast<size_t>(axes[j]));
        if (len >= 0 && l != len) throw Error(ctx.where() + "scan inputs differ in length: " + std::to_string(len) + " and " + std::to_string(l));
        len = l;
    }
    std::vector<Tensor> state;
    for (size_t i = 0; i < n; ++i) state.push_back(ctx.in(i));
    std::vector<std::vector<Tensor>> parts(k_out);
    const Session s = body_session(ctx, g);
    for (int64_t t = 0; t < len; ++t) {
        std::vector<Tensor> feed;
        for (auto& v : state) feed.push_back(std::move(v));
        for (size_t j = 0; j < axes.size(); ++j) feed.push_back(slice_at(ctx.in(n + j), axes[j], in_dirs[j] ? len - 1 - t : t));
        std::vector<Tensor> out = s.run(feed, ctx.scope);
        state.assign(std::make_move_iterator(out.begin()), std::make_move_iterator(out.begin() + static_cast<std::ptrdiff_t>(n)));
        for (size_t k = 0; k < k_out; ++k) parts[k].push_back(std::move(out[n + k]));
    }
    for (size_t o = 0; o < ctx.outputs.size(); ++o) {
        if (o < n) {
            ctx.outputs[o] = std::move(state[o]);
            continue;
        }
        const size_t k = o - n;
        if (parts[k].empty()) {
            ctx.outputs[o] = empty_scan(g.outputs[n + k], out_axes[k] < 0 ? 0 : out_axes[k]);
            continue;
        }
        if (out_dirs[k]) std::reverse(parts[k].begin(), parts[k].end());
        const int64_t axis = normalized_axis(ctx, out_axes[k], static_cast<int64_t>(parts[k][0].rank()) + 1);
        ctx.outputs[o] = stack(ctx, parts[k], axis);
    }
}

// Scan-8: a batch axis 0 before the sequence axis 1; inputs (sequence_lens, state..., scan...).
void scan8(KernelContext& ctx) {
    const ir::Graph& g = body_attr(ctx, "body");
    const int64_t m = ctx.node.attr_int("num_scan_inputs", -1);
    if (ctx.inputs.empty() || m < 1 || static_cast<size_t>(m) > ctx.inputs.size() - 1)
        throw Error(ctx.where() + "num_scan_inputs " + std::to_string(m) + " does not fit its " + std::to_string(ctx.inputs.size()) + " inputs");
    const size_t n = ctx.inputs.size() - 1 - static_cast<size_t>(m);
    if (g.inputs.size() != n + static_cast<size_t>(m) || g.outputs.size() < n)
        throw Error(ctx.where() + "body's inputs and outputs do not match the node's");
    const size_t k_out = g.outputs.size() - n;
    if (ctx.outputs.size() > n + k_out) throw Error(ctx.where() + "has more outputs than its body gives");
    std::vector<int64_t> dirs = ctx.node.attr_ints("directions", std::vector<int64_t>(static_cast<size_t>(m), 0));
    if (dirs.size() != static_cast<size_t>(m)) throw Error(ctx.where() + "directions must have num_scan_inputs entries");
    const Tensor& first = ctx.in(1 + n);
    if (first.rank() < 2) throw Error(ctx.where() + "scan inputs need a batch and a sequence axis");
    const int64_t batch = first.dim(0), len = first.dim(1);
    for (size_t j = 0; j < static_cast<size_t>(m); ++j) {
        const Tensor& x = ctx.in(1 + n + j);
        if (x.rank() < 2 || x.dim(0) != batch || x.dim(1) != len)
            throw Error(ctx.where() + "scan inputs differ in batch or sequence length");
    }
    for (size_t i = 0; i < n; ++i)
        if (ctx.in(1 + i).rank() < 1 || ctx.in(1 + i).dim(0) != batch) throw Error(ctx.where() + "state " + std::to_string(i) + " lacks the batch axis");
    if (ctx.has_input(0))
        for (int64_t l : ctx.in(0).to_int64_vector())
            if (l != len)
                throw Error(ctx.where() + "sequence_lens shorter than the sequence axis (" + std::to_string(l) + " < " + std::to_string(len) +
                            ") is not supported");
    const Session s = body_session(ctx, g);
    std::vector<std::vector<Tensor>> states(n), outs(k_out);  // per batch element
    for (int64_t b = 0; b < batch; ++b) {
        std::vector<Tensor> state;
        for (size_t i = 0; i < n; ++i) state.push_back(slice_at(ctx.in(1 + i), 0, b));
        std::vector<std::vector<Tensor>> parts(k_out);
        for (int64_t t = 0; t < len; ++t) {
            std::vector<Tensor> feed;
            for (auto& v : state) feed.push_back(std::move(v));
            for (size_t j = 0; j < static_cast<size_t>(m); ++j)
                feed.push_back(slice_at(slice_at(ctx.in(1 + n + j), 0, b), 0, dirs[j] ? len - 1 - t : t));
            std::vector<Tensor> out = s.run(feed, ctx.scope);
            state.assign(std::make_move_iterator(out.begin()), std::make_move_iterator(out.begin() + static_cast<std::ptrdiff_t>(n)));
            for (size_t k = 0; k < k_out; ++k) parts[k].push_back(std::move(out[n + k]));
        }
        for (size_t i = 0; i < n; ++i) states[i].push_back(std::move(state[i]));
        for (size_t k = 0; k < k_out; ++k)
            outs[k].push_back(parts[k].empty() ? empty_scan(g.outputs[n + k], 0) : stack(ctx, parts[k], 0));
    }
    for (size_t o = 0; o < ctx.outputs.size(); ++o) {
        std::vector<Tensor>& per_batch = o < n ? states[o] : outs[o - n];
        if (per_batch.empty()) throw Error(ctx.where() + "a batch of 0 is not supported");
        ctx.outputs[o] = stack(ctx, per_batch, 0);
    }
}

}  // namespace

void register_control_flow(KernelRegistry& r) {
    r.add("If", 1, 999, if_op);
    r.add("Loop", 1, 999, loop);
    r.add("Scan", 8, 8, scan8);
    r.add("Scan", 9, 999, scan);
}

}  // namespace qcp::engine::kernels
