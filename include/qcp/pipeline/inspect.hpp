// `qcp inspect`: what a model holds and what qcp can do with each layer.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "qcp/data/inputs.hpp"
#include "qcp/ir/graph.hpp"
#include "qcp/ir/layers.hpp"

namespace qcp {

struct InspectOptions {
    InspectOptions() = default;
    InspectOptions(std::filesystem::path m, std::vector<data::InputShape> shapes = {})  // NOLINT: implicit, inspect({path})
        : model(std::move(m)), input_shapes(std::move(shapes)) {}
    std::filesystem::path model;
    std::vector<data::InputShape> input_shapes;  // --input-shape: fixes dynamic dims, so layer MACs are known
};

struct InspectReport {
    std::string path;
    uint64_t bytes = 0;           // file size (plus external data files)
    int64_t ir_version = 0;
    int64_t opset = 0;
    std::string producer;
    std::vector<ir::Layer> layers;
    std::vector<std::vector<std::string>> layer_methods;  // per layer: the methods of the table that can take it
    std::vector<bool> can_factorize, can_quantize;        // per layer: some CP method / some quantizer can
    std::vector<std::string> reasons;                     // per layer: why a CP method cannot ("" when it can)
    int64_t params = 0;           // all float constants in the model
    int64_t layer_params = 0;     // weights + biases of the listed layers
    int64_t macs = 0;             // sum over layers with known shapes, batch 1
    bool macs_complete = true;    // false when some layer's shapes were unknown
    std::vector<ir::ValueInfo> inputs;
    std::vector<ir::ValueInfo> outputs;
};

InspectReport inspect(const InspectOptions& options);
// The report from a model already in memory (bytes: the size of its file(s)).
InspectReport inspect_model(const ir::Model& model, const std::string& path, uint64_t bytes);

nlohmann::ordered_json inspect_to_json(const InspectReport& report);
std::string inspect_to_table(const InspectReport& report);

}  // namespace qcp
