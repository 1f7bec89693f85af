// qcp's opset adapters. Up to 17 they replace ONNX 1.12's adapters where those are wrong for
// inference:
//   Pad 10→11       onnx reads the `value` attribute unconditionally and fails when it is absent
//                   (the default, 0); here pads and value become inputs, value only when non-zero.
//   Resize 10→11    onnx adds roi but keeps the opset-11 defaults (half_pixel coordinates,
//                   round_prefer_floor), which move every sample; opset 10 is asymmetric with
//                   ONNX Runtime's "simple" rounding: floor when upsampling, ceil when downsampling.
//   Softmax, LogSoftmax 12→13  onnx reshapes back to the shape it inferred, so a symbolic batch
//                   dimension is frozen (or the conversion fails); here the reshape reads Shape(x).
//   Resize 12→13    tf_half_pixel_for_nn is gone at 13: refused instead of written invalid.
//   Dropout 9→10, 11→12  onnx keeps a used mask output, whose type (T → bool at 10) and inference
//                   value (ONNX Runtime: zeros before 12, true from 12) change: refused.
//   BatchNormalization 8→9  spatial=0 (per-activation statistics) has no opset-9 form: refused
//                   with that reason rather than onnx's failed assertion.
// Past 17 the table is the ONNX changelog's list for 18 to 21.
#include "opset_adapters.hpp"

#include <algorithm>

#include "qcp/core/error.hpp"

namespace qcp::onnx_io::detail {

namespace {

void remove_attr(ir::Node& n, const std::string& name) {
    n.attributes.erase(std::remove_if(n.attributes.begin(), n.attributes.end(),
                                      [&](const ir::Attribute& a) { return a.name == name; }),
                       n.attributes.end());
}

// Appends a Constant node holding `value`; returns its output's name. Rebuilds the index.
std::string add_constant(ir::Graph& g, const std::string& stem, Tensor value) {
    ir::Node c;
    c.op_type = "Constant";
    c.outputs = {g.unique_name(stem)};
    c.name = c.outputs[0];
    c.attributes.push_back(ir::Attribute::make_tensor("value", std::move(value)));
    g.nodes.push_back(std::move(c));
    g.rebuild_index();
    return g.nodes.back().outputs[0];
}

void set_input(ir::Node& n, size_t i, const std::string& value) {
    if (n.inputs.size() <= i) n.inputs.resize(i + 1);
    n.inputs[i] = value;
}

// Rank of a value from the graph's shape facts, or -1.
int64_t known_rank(const ir::Graph& g, const std::string& value) {
    const ir::ValueInfo* vi = g.shape_info(value);
    return vi && vi->has_shape ? static_cast<int64_t>(vi->dims.size()) : -1;
}

std::string in_node(const ir::Node& n) { return n.describe() + ": "; }

// ---- adapters ---------------------------------------------------------------------------

void compatible(ir::Graph&, size_t, int64_t) {}

// Reduce* at 18 (ReduceSum at 13, done by ONNX's converter): `axes` moves to input 1.
void axes_attribute_to_input(ir::Graph& g, size_t node, int64_t) {
    if (!g.nodes[node].attr("axes")) return;
    const std::vector<int64_t> axes = g.nodes[node].attr_ints("axes");
    const std::string name = add_constant(g, g.nodes[node].outputs.at(0) + "_axes",
                                          Tensor::from_int64s({static_cast<int64_t>(axes.size())}, axes));
    ir::Node& n = g.nodes[node];
    remove_attr(n, "axes");
    set_input(n, 1, name);
}

// Split at 18 wants either the `split` input or `num_outputs`; the equal split of 13 becomes
// num_outputs = the output count (same parts: at 13 the dimension had to divide evenly).
void split_num_outputs(ir::Graph& g, size_t node, int64_t) {
    ir::Node& n = g.nodes[node];
    if (!n.input(1).empty() || n.attr("num_outputs")) return;
    n.set_attr(ir::Attribute::make_int("num_outputs", static_cast<int64_t>(n.outputs.size())));
}

void pad_10_11(ir::Graph& g, size_t node, int64_t) {
    const ir::Node& n0 = g.nodes[node];
    const std::vector<int64_t> pads = n0.attr_ints("pads");
    const std::string mode = n0.attr_string("mode", "constant");
    const float value = n0.attr_float("value", 0.0f);
    const std::string stem = n0.outputs.at(0);
    const ir::ValueInfo* x = g.shape_info(n0.input(0));
    const DType dtype = x && x->dtype != DType::Undefined ? x->dtype : DType::Float32;
    const std::string pads_name = add_constant(g, stem + "_pads", Tensor::from_int64s({static_cast<int64_t>(pads.size())}, pads));
    std::string value_name;
    if (mode == "constant" && value != 0.0f)
        value_name = add_constant(g, stem + "_value", Tensor::scalar_float(value).cast_from_float32(dtype));
    ir::Node& n = g.nodes[node];
    remove_attr(n, "pads");
    remove_attr(n, "value");
    n.inputs.resize(1);
    set_input(n, 1, pads_name);
    if (!value_name.empty()) set_input(n, 2, value_name);
}

void resize_10_11(ir::Graph& g, size_t node, int64_t) {
    const ir::Node& n0 = g.nodes[node];
    const std::string mode = n0.attr_string("mode", "nearest");
    std::string nearest_mode;
    if (mode == "nearest") {
        const Tensor* scales = g.constant(n0.input(1));
        if (!scales)
            throw Error(in_node(n0) + "opset 10 rounds nearest samples by whether each scale is below 1; "
                        "with run-time scales there is no opset-11 nearest_mode that does the same");
        const Tensor s = scales->to_float32();
        const float* p = s.data<float>();
        const bool up = std::all_of(p, p + s.numel(), [](float v) { return v >= 1.0f; });
        const bool down = std::all_of(p, p + s.numel(), [](float v) { return v <= 1.0f; });
        if (!up && !down)
            throw Error(in_node(n0) + "scales enlarge some axes and shrink others; opset 10 rounds those differently "
                        "and no single opset-11 nearest_mode does the same");
        nearest_mode = up ? "floor" : "ceil";
    }
    const std::string roi = add_constant(g, n0.outputs.at(0) + "_roi", Tensor(DType::Float32, {0}));
    ir::Node& n = g.nodes[node];
    n.inputs = {n.input(0), roi, n.input(1)};
    n.set_attr(ir::Attribute::make_string("coordinate_transformation_mode", "asymmetric"));
    if (!nearest_mode.empty()) n.set_attr(ir::Attribute::make_string("nearest_mode", nearest_mode));
}

void resize_12_13(ir::Graph& g, size_t node, int64_t) {
    const ir::Node& n = g.nodes[node];
    if (n.attr_string("coordinate_transformation_mode", "half_pixel") == "tf_half_pixel_for_nn")
        throw Error(in_node(n) + "coordinate_transformation_mode tf_half_pixel_for_nn does not exist at opset 13");
}

// Before 13 (Log)Softmax works on x flattened to 2-D at `axis`; from 13 along `axis` alone. The
// two agree when axis is the last one; otherwise Flatten → (Log)Softmax(axis=-1) → Reshape(Shape(x)).
void softmax_12_13(ir::Graph& g, size_t node, int64_t) {
    const ir::Node& n0 = g.nodes[node];
    const int64_t rank = known_rank(g, n0.input(0));
    int64_t axis = n0.attr_int("axis", 1);
    if (rank > 0 && axis < 0) axis += rank;
    if (rank > 0 && axis == rank - 1) {
        g.nodes[node].set_attr(ir::Attribute::make_int("axis", -1));
        return;
    }
    const std::string x = n0.input(0), y = n0.outputs.at(0), stem = n0.name.empty() ? y : n0.name;
    ir::Node flatten, shape, reshape;
    flatten.op_type = "Flatten";
    flatten.name = stem + "_flatten";
    flatten.inputs = {x};
    flatten.outputs = {g.unique_name(y + "_2d_in")};
    flatten.attributes.push_back(ir::Attribute::make_int("axis", axis));
    shape.op_type = "Shape";
    shape.name = stem + "_shape";
    shape.inputs = {x};
    shape.outputs = {g.unique_name(y + "_shape")};
    reshape.op_type = "Reshape";
    reshape.name = stem + "_reshape";
    const std::string y2d = g.unique_name(y + "_2d");
    reshape.inputs = {y2d, shape.outputs[0]};
    reshape.outputs = {y};
    ir::Node& n = g.nodes[node];
    n.inputs[0] = flatten.outputs[0];
    n.outputs[0] = y2d;
    n.set_attr(ir::Attribute::make_int("axis", -1));
    g.nodes.push_back(std::move(flatten));
    g.nodes.push_back(std::move(shape));
    g.nodes.push_back(std::move(reshape));
    g.rebuild_index();
}

bool mask_used(const ir::Graph& g, const ir::Node& n) {
    const std::string& mask = n.outputs.size() > 1 ? n.outputs[1] : std::string();
    return !mask.empty() && (g.is_graph_output(mask) || !g.consumers(mask).empty());
}

void dropout_9_10(ir::Graph& g, size_t node, int64_t) {
    const ir::Node& n = g.nodes[node];
    if (mask_used(g, n)) throw Error(in_node(n) + "the mask output becomes bool at opset 10 (it is typed like the data before)");
}

void dropout_11_12(ir::Graph& g, size_t node, int64_t) {
    const ir::Node& n0 = g.nodes[node];
    if (mask_used(g, n0))
        throw Error(in_node(n0) + "the mask output's inference value changes at opset 12 (ONNX Runtime: false before, true from 12)");
    if (!n0.attr("ratio")) return;  // the ratio input defaults to 0.5 as the attribute did
    const std::string ratio = add_constant(g, n0.outputs.at(0) + "_ratio", Tensor::scalar_float(n0.attr_float("ratio", 0.5f)));
    ir::Node& n = g.nodes[node];
    remove_attr(n, "ratio");
    set_input(n, 1, ratio);
}

void batch_norm_8_9(ir::Graph& g, size_t node, int64_t) {
    ir::Node& n = g.nodes[node];
    if (n.attr_int("spatial", 1) != 1)
        throw Error(in_node(n) + "spatial=0 (per-activation statistics) has no form at opset 9");
    remove_attr(n, "spatial");
}

constexpr const char* kTypes = "types added";

const StepAdapter kAdapters[] = {
    // replacing ONNX's converter (header comment)
    {"BatchNormalization", 9, batch_norm_8_9, "spatial removed"},
    {"Dropout", 10, dropout_9_10, "mask becomes bool"},
    {"Dropout", 12, dropout_11_12, "ratio becomes an input"},
    {"Pad", 11, pad_10_11, "pads and value become inputs"},
    {"Resize", 11, resize_10_11, "roi input, coordinate and rounding modes"},
    {"Softmax", 13, softmax_12_13, "works along axis instead of on a 2-D flattening"},
    {"LogSoftmax", 13, softmax_12_13, "works along axis instead of on a 2-D flattening"},
    {"Resize", 13, resize_12_13, "tf_half_pixel_for_nn removed"},
    // 18
    {"LpPool", 18, compatible, "ceil_mode added"},
    {"OptionalGetElement", 18, compatible, kTypes},
    {"OptionalHasElement", 18, compatible, kTypes},
    {"Pad", 18, compatible, "optional axes input added"},
    {"ReduceL1", 18, axes_attribute_to_input, "axes become an input"},
    {"ReduceL2", 18, axes_attribute_to_input, "axes become an input"},
    {"ReduceLogSum", 18, axes_attribute_to_input, "axes become an input"},
    {"ReduceLogSumExp", 18, axes_attribute_to_input, "axes become an input"},
    {"ReduceMax", 18, axes_attribute_to_input, "axes become an input"},
    {"ReduceMean", 18, axes_attribute_to_input, "axes become an input"},
    {"ReduceMin", 18, axes_attribute_to_input, "axes become an input"},
    {"ReduceProd", 18, axes_attribute_to_input, "axes become an input"},
    {"ReduceSumSquare", 18, axes_attribute_to_input, "axes become an input"},
    {"Resize", 18, compatible, "antialias, axes, keep_aspect_ratio_policy added"},
    {"ScatterElements", 18, compatible, "reduction max/min added"},
    {"ScatterND", 18, compatible, "reduction max/min added"},
    {"Split", 18, split_num_outputs, "num_outputs added"},
    // 19
    {"AveragePool", 19, compatible, "dilations added"},
    {"Cast", 19, compatible, "float8 types, saturate added"},
    {"CastLike", 19, compatible, "float8 types, saturate added"},
    {"Constant", 19, compatible, kTypes},
    {"DequantizeLinear", 19, compatible, kTypes},
    {"Equal", 19, compatible, kTypes},
    {"Identity", 19, compatible, kTypes},
    {"If", 19, compatible, kTypes},
    {"Loop", 19, compatible, kTypes},
    {"Pad", 19, compatible, "wrap mode added"},
    {"QuantizeLinear", 19, compatible, "float8 types, saturate added"},
    {"Reshape", 19, compatible, kTypes},
    {"Resize", 19, compatible, "half_pixel_symmetric added"},
    {"Scan", 19, compatible, kTypes},
    {"Shape", 19, compatible, kTypes},
    {"Size", 19, compatible, kTypes},
    // 20
    {"ConstantOfShape", 20, compatible, kTypes},
    {"DFT", 20, nullptr, "axis becomes an input with another default"},
    {"GridSample", 20, nullptr, "modes renamed, N-D input"},
    {"IsInf", 20, compatible, kTypes},
    {"IsNaN", 20, compatible, kTypes},
    {"ReduceMax", 20, compatible, "bool type added"},
    {"ReduceMin", 20, compatible, "bool type added"},
    // 21
    {"Cast", 21, compatible, kTypes},
    {"CastLike", 21, compatible, kTypes},
    {"Constant", 21, compatible, kTypes},
    {"ConstantOfShape", 21, compatible, kTypes},
    {"DequantizeLinear", 21, compatible, "int4 types, block_size added"},
    {"Flatten", 21, compatible, kTypes},
    {"GroupNormalization", 21, nullptr, "scale and bias per channel instead of per group"},
    {"Identity", 21, compatible, kTypes},
    {"If", 21, compatible, kTypes},
    {"Loop", 21, compatible, kTypes},
    {"Pad", 21, compatible, kTypes},
    {"QLinearMatMul", 21, compatible, kTypes},
    {"QuantizeLinear", 21, compatible, "int4 types, output_dtype and block_size added"},
    {"Reshape", 21, compatible, kTypes},
    {"Scan", 21, compatible, kTypes},
    {"Shape", 21, compatible, kTypes},
    {"Size", 21, compatible, kTypes},
    {"Squeeze", 21, compatible, kTypes},
    {"Transpose", 21, compatible, kTypes},
    {"Unsqueeze", 21, compatible, kTypes},
};

}  // namespace

bool rewrites_nodes(const StepAdapter& a) { return a.adapt != nullptr && a.adapt != compatible; }

const StepAdapter* own_adapter(const std::string& op, int64_t to) {
    for (const auto& a : kAdapters)
        if (a.to == to && op == a.op) return &a;
    return nullptr;
}

}  // namespace qcp::onnx_io::detail
