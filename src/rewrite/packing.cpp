#include "qcp/rewrite/packing.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <numeric>

#include "qcp/core/error.hpp"
#include "rewrite_util.hpp"

namespace qcp::rewrite {

namespace {

constexpr int64_t kPackMinOpset = 7;  // numpy broadcasting in Mul/Add/Sub/Div
constexpr int64_t kModOpset = 10;      // Mod: one node for q − ⌊q / 2^b⌋·2^b

}  // namespace

std::string decoder_prefix(const ir::Graph& g) {
    int64_t next = 0;
    for (const auto& node : g.nodes)
        for (const auto& out : node.outputs) {
            if (out.size() < 2 || out[0] != '~' || !std::isdigit(static_cast<unsigned char>(out[1]))) continue;
            next = std::max<int64_t>(next, std::strtoll(out.c_str() + 1, nullptr, 10) + 1);
        }
    return "~" + std::to_string(next);
}

PackLayout pack_layout(int bits) {
    if (bits < 1 || bits > 8) throw Error("packed codes take 1 to 8 bits, not " + std::to_string(bits));
    const int group = 8 / std::gcd(bits, 8);
    return {bits, group, bits * group / 8};
}

int64_t packed_bytes(int64_t count, int bits) {
    const PackLayout l = pack_layout(bits);
    return count / l.group * l.bytes + count % l.group;
}

PackedCodes pack_codes(const std::vector<int32_t>& codes, int bits) {
    const PackLayout l = pack_layout(bits);
    PackedCodes p;
    p.bits = bits;
    p.count = static_cast<int64_t>(codes.size());
    const int64_t words = p.count / l.group;
    p.words.resize(static_cast<size_t>(words * l.bytes));
    for (int32_t c : codes)
        if (c < 0 || c >= (1 << bits))
            throw Error("code " + std::to_string(c) + " does not fit " + std::to_string(bits) + " unsigned bits");
    for (int64_t i = 0; i < words; ++i) {
        uint64_t word = 0;
        for (int j = 0; j < l.group; ++j) word |= static_cast<uint64_t>(codes[static_cast<size_t>(i * l.group + j)]) << (bits * j);
        for (int k = 0; k < l.bytes; ++k) p.words[static_cast<size_t>(i * l.bytes + k)] = static_cast<uint8_t>(word >> (8 * k));
    }
    for (int64_t i = words * l.group; i < p.count; ++i) p.tail.push_back(static_cast<uint8_t>(codes[static_cast<size_t>(i)]));
    return p;
}

std::vector<int32_t> unpack_codes(const PackedCodes& p) {
    const PackLayout l = pack_layout(p.bits);
    const int64_t words = p.count / l.group;
    std::vector<int32_t> codes;
    codes.reserve(static_cast<size_t>(p.count));
    for (int64_t i = 0; i < words; ++i) {
        uint64_t word = 0;
        for (int k = 0; k < l.bytes; ++k) word |= static_cast<uint64_t>(p.words[static_cast<size_t>(i * l.bytes + k)]) << (8 * k);
        for (int j = 0; j < l.group; ++j) codes.push_back(static_cast<int32_t>((word >> (p.bits * j)) & ((1u << p.bits) - 1)));
    }
    for (uint8_t c : p.tail) codes.push_back(c);
    return codes;
}

CodeValue emit_packed_codes(ir::Model& model, const std::string& stem, const PackedCodes& p) {
    const int64_t opset = model.opset("");
    if (opset < kPackMinOpset)
        throw Error("the packed format needs opset " + std::to_string(kPackMinOpset) + " or later (model has " + std::to_string(opset) + ")");
    if (p.count < 1) throw Error("internal: no codes to pack for '" + stem + "'");
    const PackLayout l = pack_layout(p.bits);
    const int64_t words = p.count / l.group;
    const std::string b = std::to_string(p.bits);
    ir::Graph& g = model.graph;
    const std::string prefix = decoder_prefix(g);
    auto value = [&](const std::string& tag) { return prefix + tag; };
    auto add = [&](const std::string& op, std::vector<std::string> in, const std::string& out) {
        g.nodes.push_back(make_node(op, "", std::move(in), out));
    };
    auto gather = [&](const std::string& in, const std::string& name, const std::vector<int64_t>& index, const std::string& out) {
        ir::Node n = make_node("Gather", "", {in, shared_constant(g, name, Tensor::from_int64s({l.group}, index))}, out);
        n.attributes.push_back(ir::Attribute::make_int("axis", 1));
        g.nodes.push_back(std::move(n));
    };
    std::string codes;  // words·G codes, (m, G)
    if (words > 0) {
        const Shape shape = l.group > 1 || l.bytes > 1 ? Shape{words, l.bytes} : Shape{words};
        g.initializers.push_back({stem + "_packed", Tensor(DType::UInt8, shape, p.words), ""});
        g.nodes.push_back(cast_node("", stem + "_packed", value("b"), DType::Int32));
        codes = value("b");
        if (l.group > 1) {
            // v_j: the code's byte, plus 256 × the next one when the code runs into it
            std::string v = value("b");
            std::vector<int64_t> shifts, lo, hi;
            for (int j = 0; j < l.group; ++j) {
                const int offset = p.bits * j;
                lo.push_back(offset / 8);
                hi.push_back(std::min(offset / 8 + 1, l.bytes - 1));  // the last byte's codes end in it
                shifts.push_back(int64_t{1} << (offset % 8));
            }
            if (l.bytes > 1) {
                gather(value("b"), "qcp/pack/b" + b + "_low", lo, value("l"));
                gather(value("b"), "qcp/pack/b" + b + "_high", hi, value("h"));
                add("Mul", {value("h"), shared_constant(g, "qcp/pack/i32_256", int_tensor(DType::Int32, {1}, {256}))}, value("u"));
                add("Add", {value("l"), value("u")}, value("v"));
                v = value("v");
            }
            const std::string base = shared_constant(g, "qcp/pack/i32_pow" + b, int_tensor(DType::Int32, {1}, {int64_t{1} << p.bits}));
            add("Div", {v, shared_constant(g, "qcp/pack/b" + b + "_shifts", int_tensor(DType::Int32, {1, l.group}, shifts))}, value("q"));
            if (opset >= kModOpset) {
                add("Mod", {value("q"), base}, value("c"));
            } else {  // q − ⌊q / 2^b⌋·2^b
                add("Div", {value("q"), base}, value("e"));
                add("Mul", {value("e"), base}, value("n"));
                add("Sub", {value("q"), value("n")}, value("c"));
            }
            codes = value("c");
        }
    }
    if (!p.tail.empty()) {
        g.initializers.push_back({stem + "_tail", Tensor(DType::UInt8, {static_cast<int64_t>(p.tail.size())}, p.tail), ""});
        g.nodes.push_back(cast_node("", stem + "_tail", value("t"), DType::Int32));
        if (codes.empty()) {
            codes = value("t");
        } else {
            add("Reshape", {codes, shared_constant(g, "qcp/pack/flat", Tensor::from_int64s({1}, {-1}))}, value("f"));
            ir::Node concat = make_node("Concat", "", {value("f"), value("t")}, value("a"));
            concat.attributes.push_back(ir::Attribute::make_int("axis", 0));
            g.nodes.push_back(std::move(concat));
            codes = value("a");
        }
    }
    g.rebuild_index();
    return {codes, prefix};
}

}  // namespace qcp::rewrite
