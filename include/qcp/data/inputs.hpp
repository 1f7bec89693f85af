// Feeding every input of a model: data for some inputs, fixed values for the rest.
//
// Command-line forms (repeatable):
//   --data PATH / --calib PATH            a model with one input (or: the first input, in graph order)
//   --data NAME=PATH / --calib NAME=PATH  the input NAME; PATH in any format of dataset.hpp
//   --input-shape NAME=d0,d1,...          fixes the dims of input NAME (dynamic ones; a static dim
//                                         must be repeated as it is). Image data is resized to its
//                                         H × W; a constant input takes this shape.
//   --input-value NAME=V                  the constant every element of input NAME holds (default 0)
// A Sources text is NAME=PATH when the part before the first '=' is the name of a model input,
// else it is a PATH, so paths holding '=' still work.
//
// An input without data is a constant tensor of V (0 unless --input-value gives it) in the input's
// dtype (float32/16/64, int8..int64, uint8..uint64, bool), of its shape after --input-shape; a
// dynamic first dim follows the batch (the samples of one read). Any other unknown dim is an error
// naming the input. All data-fed inputs must hold the same number of samples: sample i of each
// belongs together.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "qcp/core/tensor.hpp"
#include "qcp/data/dataset.hpp"

namespace qcp::data {

// The --data / --calib texts of one command. Converts from a single path (the one-input form).
struct Sources {
    std::vector<std::string> specs;
    Sources() = default;
    Sources(const std::filesystem::path& path) { if (!path.empty()) specs.push_back(path.string()); }  // NOLINT: implicit
    Sources(const char* path) : Sources(std::filesystem::path(path)) {}                                  // NOLINT: implicit
    Sources(const std::string& path) : Sources(std::filesystem::path(path)) {}                           // NOLINT: implicit
    explicit Sources(std::vector<std::string> texts) : specs(std::move(texts)) {}
    bool empty() const { return specs.empty(); }
    std::string string() const;  // the texts joined by ' ' (cache keys, messages)
    std::filesystem::path filename() const;  // each text's file name (NAME= kept), joined by spaces
};

struct InputShape {
    std::string name;
    Shape dims;  // every dim >= 1
};
struct InputValue {
    std::string name;
    double value = 0;
};
// "x=1,3,48,320" and "s=0.5"; throw qcp::Error naming the text.
InputShape parse_input_shape(const std::string& text);
InputValue parse_input_value(const std::string& text);

// A model input as the feeding sees it: shape with unknown dims as -1 (empty: rank unknown).
struct ModelInput {
    std::string name;
    DType dtype = DType::Float32;
    Shape shape;
    bool dynamic_batch = false;  // the model's first dim is unknown (set by apply_input_shapes)
};

// Fixes dims from --input-shape: every NAME must be an input, ranks equal, and static dims equal
// (else a one-line error naming the input and dim). Returns the inputs with the shapes applied.
std::vector<ModelInput> apply_input_shapes(std::vector<ModelInput> inputs, const std::vector<InputShape>& shapes);

// NAME → PATH for each spec; a plain PATH goes to the first input. Throws on an unknown or
// repeated input, or a second plain path.
std::vector<std::pair<size_t, std::filesystem::path>> resolve_sources(const Sources& sources,
                                                                      const std::vector<ModelInput>& inputs);

// The dataset behind `sources` for `inputs` (shapes already applied): for a one-input model fed by
// one source it is that source's dataset; otherwise read_inputs() gives one tensor per input and
// read() the first data-fed input's. Each source is opened against its input's shape and checked
// with check_compatible. Throws a one-line qcp::Error for an input with neither data nor a usable
// shape, a value for an input that has data, or differing sample counts.
std::unique_ptr<Dataset> open_inputs(const Sources& sources, const ImageOptions& image,
                                     const std::vector<ModelInput>& inputs, const std::vector<InputValue>& values);

// A constant input's tensor for `count` samples (the first dim follows count when dynamic).
Tensor constant_input(const ModelInput& input, double value, int64_t count);

}  // namespace qcp::data
