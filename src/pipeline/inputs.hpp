// A model's inputs as the data feeding sees them (internal to pipeline): --input-shape applied,
// sources opened per input (data/inputs.hpp), and the shapes fixed in the model for inspect.
#pragma once

#include <memory>
#include <vector>

#include "qcp/data/inputs.hpp"
#include "qcp/ir/graph.hpp"
#include "qcp/pipeline/run_options.hpp"

namespace qcp {

// The graph inputs that are not initializers, in order (the engine's), with `shapes` applied.
std::vector<data::ModelInput> model_inputs(const ir::Model& model, const std::vector<data::InputShape>& shapes);
// The dataset feeding every input of `model` from `sources` and the options' shapes and values.
std::unique_ptr<data::Dataset> open_model_data(const ir::Model& model, const data::Sources& sources, const RunOptions& o);
// Writes `shapes` into the model's input declarations (checked as above) and re-runs shape
// inference, so that layer MACs are known. For reports only: a model saved afterwards keeps them.
void fix_input_shapes(ir::Model& model, const std::vector<data::InputShape>& shapes);

}  // namespace qcp
