// If, Loop and Scan against naive loops written out here: bodies built in code, reading an
// outer-scope value, with state, scan outputs, reversed directions and a non-zero output axis.
#include <gtest/gtest.h>

#include <memory>
#include <random>

#include "qcp/core/error.hpp"
#include "qcp/engine/session.hpp"

namespace qcp {
namespace {

ir::ValueInfo value(const std::string& name, DType t = DType::Float32) {
    ir::ValueInfo v;
    v.name = name;
    v.dtype = t;
    return v;
}

ir::Node node(const std::string& op, std::vector<std::string> in, std::vector<std::string> out) {
    ir::Node n;
    n.op_type = op;
    n.name = op + "_" + out.at(0);
    n.inputs = std::move(in);
    n.outputs = std::move(out);
    return n;
}

ir::Attribute graph_attr(const std::string& name, ir::Graph g) {
    g.rebuild_index();
    ir::Attribute a;
    a.name = name;
    a.type = ir::AttrType::Graph;
    a.graph = std::make_shared<const ir::Graph>(std::move(g));
    return a;
}

std::vector<float> random_floats(size_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    std::vector<float> v(n);
    for (auto& x : v) x = u(rng);
    return v;
}

void expect_floats(const Tensor& t, const Shape& shape, const std::vector<float>& want) {
    ASSERT_EQ(t.shape(), shape);
    const std::vector<float> got = t.to_float_vector();
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-6f * (1.0f + std::abs(want[i]))) << "element " << i;
}

// Loop, trip count 4: y ← y + x (x from the outer graph), scan output y·y. Neg(x) runs first in
// the outer graph, so x must outlive its last explicit reader for the body to see it.
TEST(ControlFlow, LoopWithTripCountMatchesNaiveLoop) {
    ir::Graph body;
    body.inputs = {value("i", DType::Int64), value("c", DType::Bool), value("y_in")};
    body.outputs = {value("c_out", DType::Bool), value("y_out"), value("sq")};
    body.nodes = {node("Identity", {"c"}, {"c_out"}), node("Add", {"y_in", "x"}, {"y_out"}), node("Mul", {"y_out", "y_out"}, {"sq"})};

    ir::Model m;
    m.opset_import = {{"", 13}};
    m.graph.inputs = {value("x"), value("y0")};
    m.graph.outputs = {value("neg"), value("y_final"), value("squares")};
    m.graph.initializers.push_back({"trips", Tensor::from_int64s({}, {4}), ""});
    ir::Node loop = node("Loop", {"trips", "", "y0"}, {"y_final", "squares"});
    loop.attributes.push_back(graph_attr("body", body));
    m.graph.nodes = {node("Neg", {"x"}, {"neg"}), loop};
    m.graph.rebuild_index();

    const std::vector<float> x = random_floats(3, 1), y0 = random_floats(3, 2);
    const engine::Session s(m);
    const auto out = s.run({Tensor::from_floats({3}, x), Tensor::from_floats({3}, y0)});
    std::vector<float> y = y0, squares;
    for (int it = 0; it < 4; ++it)
        for (size_t k = 0; k < 3; ++k) {
            y[k] += x[k];
            squares.push_back(y[k] * y[k]);
        }
    // squares were pushed per iteration, k fastest: the (4, 3) stacking order
    expect_floats(out[1], {3}, y);
    expect_floats(out[2], {4, 3}, squares);
    expect_floats(out[0], {3}, {-x[0], -x[1], -x[2]});
}

// Loop as a while loop: no trip count, the body's condition is iteration < 2, so it runs 3 times.
TEST(ControlFlow, LoopWithConditionStopsWhenItTurnsFalse) {
    ir::Graph body;
    body.inputs = {value("i", DType::Int64), value("c", DType::Bool), value("acc_in")};
    body.outputs = {value("c_out", DType::Bool), value("acc_out")};
    body.initializers.push_back({"two", Tensor::from_int64s({}, {2}), ""});
    body.initializers.push_back({"one", Tensor::scalar_float(1.0f), ""});
    body.nodes = {node("Less", {"i", "two"}, {"c_out"}), node("Add", {"acc_in", "one"}, {"acc_out"})};

    ir::Model m;
    m.opset_import = {{"", 13}};
    m.graph.inputs = {value("acc0")};
    m.graph.outputs = {value("acc")};
    Tensor yes(DType::Bool, {});
    yes.data<uint8_t>()[0] = 1;
    m.graph.initializers.push_back({"cond", yes, ""});
    ir::Node loop = node("Loop", {"", "cond", "acc0"}, {"acc"});
    loop.attributes.push_back(graph_attr("body", body));
    m.graph.nodes = {loop};
    m.graph.rebuild_index();
    const auto out = engine::Session(m).run({Tensor::scalar_float(0.5f)});
    expect_floats(out[0], {}, {3.5f});
}

TEST(ControlFlow, LoopWithoutTripCountOrConditionIsRefused) {
    ir::Graph body;
    body.inputs = {value("i", DType::Int64), value("c", DType::Bool), value("v")};
    body.outputs = {value("c", DType::Bool), value("v")};
    ir::Model m;
    m.opset_import = {{"", 13}};
    m.graph.inputs = {value("x")};
    m.graph.outputs = {value("y")};
    ir::Node loop = node("Loop", {"", "", "x"}, {"y"});
    loop.name = "endless";
    loop.attributes.push_back(graph_attr("body", body));
    m.graph.nodes = {loop};
    m.graph.rebuild_index();
    try {
        (void)engine::Session(m).run({Tensor::scalar_float(1.0f)});
        FAIL() << "ran";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("endless"), std::string::npos) << e.what();
    }
}

// Scan (opset 11): a running sum over axis 1 of a (2, 5) input read backwards, scaled by an outer
// value; the per-step sums stacked along output axis 1.
TEST(ControlFlow, ScanReversedWithOutputAxisMatchesNaiveLoop) {
    ir::Graph body;
    body.inputs = {value("s_in"), value("x_t")};
    body.outputs = {value("s_out"), value("step")};
    body.nodes = {node("Mul", {"x_t", "scale"}, {"xs"}), node("Add", {"s_in", "xs"}, {"s_out"}), node("Identity", {"s_out"}, {"step"})};

    ir::Model m;
    m.opset_import = {{"", 11}};
    m.graph.inputs = {value("s0"), value("x"), value("scale")};
    m.graph.outputs = {value("s"), value("steps")};
    ir::Node scan = node("Scan", {"s0", "x"}, {"s", "steps"});
    scan.attributes.push_back(graph_attr("body", body));
    scan.attributes.push_back(ir::Attribute::make_int("num_scan_inputs", 1));
    scan.attributes.push_back(ir::Attribute::make_ints("scan_input_axes", {-1}));
    scan.attributes.push_back(ir::Attribute::make_ints("scan_input_directions", {1}));
    scan.attributes.push_back(ir::Attribute::make_ints("scan_output_axes", {1}));
    m.graph.nodes = {scan};
    m.graph.rebuild_index();

    const std::vector<float> x = random_floats(10, 3), s0 = random_floats(2, 4);
    const float scale = 0.75f;
    const auto out = engine::Session(m).run({Tensor::from_floats({2}, s0), Tensor::from_floats({2, 5}, x), Tensor::scalar_float(scale)});
    std::vector<float> s = s0, steps(10);
    for (int t = 0; t < 5; ++t) {
        const int col = 4 - t;  // reversed
        for (int r = 0; r < 2; ++r) {
            s[static_cast<size_t>(r)] += x[static_cast<size_t>(r * 5 + col)] * scale;
            steps[static_cast<size_t>(r * 5 + t)] = s[static_cast<size_t>(r)];  // output axis 1: (2, T)
        }
    }
    expect_floats(out[0], {2}, s);
    expect_floats(out[1], {2, 5}, steps);
}

// Scan-8: batch axis 0, sequence axis 1, state per batch element.
TEST(ControlFlow, Scan8RunsEachBatchElementOnItsOwn) {
    ir::Graph body;
    body.inputs = {value("s_in"), value("x_t")};
    body.outputs = {value("s_out"), value("step")};
    body.nodes = {node("Add", {"s_in", "x_t"}, {"s_out"}), node("Mul", {"s_out", "x_t"}, {"step"})};

    ir::Model m;
    m.opset_import = {{"", 8}};
    m.graph.inputs = {value("s0"), value("x")};
    m.graph.outputs = {value("s"), value("steps")};
    ir::Node scan = node("Scan", {"", "s0", "x"}, {"s", "steps"});
    scan.attributes.push_back(graph_attr("body", body));
    scan.attributes.push_back(ir::Attribute::make_int("num_scan_inputs", 1));
    m.graph.nodes = {scan};
    m.graph.rebuild_index();

    const int B = 2, T = 3, D = 2;
    const std::vector<float> x = random_floats(B * T * D, 5), s0 = random_floats(B * D, 6);
    const auto out = engine::Session(m).run({Tensor::from_floats({B, D}, s0), Tensor::from_floats({B, T, D}, x)});
    std::vector<float> s = s0, steps(B * T * D);
    for (int b = 0; b < B; ++b)
        for (int t = 0; t < T; ++t)
            for (int d = 0; d < D; ++d) {
                const float xv = x[static_cast<size_t>((b * T + t) * D + d)];
                float& sv = s[static_cast<size_t>(b * D + d)];
                sv += xv;
                steps[static_cast<size_t>((b * T + t) * D + d)] = sv * xv;
            }
    expect_floats(out[0], {B, D}, s);
    expect_floats(out[1], {B, T, D}, steps);
}

TEST(ControlFlow, IfRunsTheBranchTheConditionNames) {
    ir::Graph then_b, else_b;
    then_b.outputs = {value("t")};
    then_b.nodes = {node("Neg", {"x"}, {"t"})};
    else_b.outputs = {value("e")};
    else_b.nodes = {node("Abs", {"x"}, {"e"})};
    ir::Model m;
    m.opset_import = {{"", 13}};
    m.graph.inputs = {value("c", DType::Bool), value("x")};
    m.graph.outputs = {value("y")};
    ir::Node n = node("If", {"c"}, {"y"});
    n.attributes.push_back(graph_attr("then_branch", then_b));
    n.attributes.push_back(graph_attr("else_branch", else_b));
    m.graph.nodes = {n};
    m.graph.rebuild_index();
    const engine::Session s(m);
    for (bool c : {true, false}) {
        Tensor cond(DType::Bool, {});
        cond.data<uint8_t>()[0] = c;
        const auto out = s.run({cond, Tensor::from_floats({2}, {-1.5f, 2.0f})});
        expect_floats(out[0], {2}, c ? std::vector<float>{1.5f, -2.0f} : std::vector<float>{1.5f, 2.0f});
    }
}

}  // namespace
}  // namespace qcp
