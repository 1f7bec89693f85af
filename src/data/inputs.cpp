// Several model inputs: NAME=PATH sources, --input-shape, constant inputs (see inputs.hpp).
#include "qcp/data/inputs.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "qcp/core/error.hpp"
#include "qcp/data/readers.hpp"

namespace qcp::data {

namespace {

// "NAME=REST": the name and the rest, or throws with `form` as the expected spelling.
std::pair<std::string, std::string> split_named(const std::string& text, const std::string& option, const std::string& form) {
    const auto eq = text.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == text.size())
        throw Error(option + " '" + text + "': expected " + form);
    return {text.substr(0, eq), text.substr(eq + 1)};
}

template <typename T>
void fill(Tensor& t, T v) {
    T* p = t.data<T>();
    std::fill(p, p + t.numel(), v);
}

// One input per position: a dataset or a constant.
class InputsDataset final : public Dataset {
public:
    InputsDataset(std::vector<ModelInput> inputs, std::vector<std::unique_ptr<Dataset>> data, std::vector<double> values)
        : inputs_(std::move(inputs)), data_(std::move(data)), values_(std::move(values)) {
        for (size_t i = 0; i < data_.size(); ++i)
            if (data_[i]) {
                if (!primary_) primary_ = data_[i].get();
                else if (data_[i]->size() != primary_->size())
                    throw Error("input '" + inputs_[i].name + "': " + data_[i]->describe() + " holds " +
                                std::to_string(data_[i]->size()) + " samples but " + primary_->describe() + " holds " +
                                std::to_string(primary_->size()) + "; every input's data needs the same count");
            }
        if (!primary_) throw Error("internal: no input has data");
    }

    int64_t size() const override { return primary_->size(); }
    Shape sample_shape() const override { return primary_->sample_shape(); }
    Layout layout() const override { return primary_->layout(); }
    std::string describe() const override {
        std::string s;
        for (size_t i = 0; i < inputs_.size(); ++i) {
            s += (i ? "; " : "") + inputs_[i].name + ": ";
            if (data_[i]) s += data_[i]->describe();
            else {
                char v[32];
                std::snprintf(v, sizeof v, "%g", values_[i]);
                s += std::string("constant ") + v;
            }
        }
        return s;
    }
    Tensor read(int64_t begin, int64_t count) override { return primary_->read(begin, count); }
    std::vector<Tensor> read_inputs(int64_t begin, int64_t count) override {
        std::vector<Tensor> out;
        for (size_t i = 0; i < inputs_.size(); ++i)
            out.push_back(data_[i] ? data_[i]->read(begin, count) : constant_input(inputs_[i], values_[i], count));
        return out;
    }

private:
    std::vector<ModelInput> inputs_;
    std::vector<std::unique_ptr<Dataset>> data_;  // nullptr: a constant
    std::vector<double> values_;
    Dataset* primary_ = nullptr;
};

}  // namespace

std::string Sources::string() const {
    std::string s;
    for (const auto& t : specs) s += (s.empty() ? "" : " ") + t;
    return s;
}

std::filesystem::path Sources::filename() const {
    std::string s;
    for (const auto& t : specs) {
        const auto slash = t.find_last_of('/');
        const auto eq = t.find('=');
        std::string name = std::filesystem::path(t).filename().string();
        if (eq != std::string::npos && slash != std::string::npos && eq < slash) name = t.substr(0, eq + 1) + name;
        s += (s.empty() ? "" : " ") + name;
    }
    return s;
}

InputShape parse_input_shape(const std::string& text) {
    const std::string form = "NAME=d0,d1,... with positive dims, e.g. x=1,3,48,320";
    auto [name, dims] = split_named(text, "--input-shape", form);
    InputShape s;
    s.name = name;
    size_t start = 0;
    while (start <= dims.size()) {
        const size_t comma = std::min(dims.find(',', start), dims.size());
        const std::string item = dims.substr(start, comma - start);
        if (item.empty() || item.size() > 9 || !std::all_of(item.begin(), item.end(), [](unsigned char c) { return std::isdigit(c); }) ||
            std::stoll(item) < 1)
            throw Error("--input-shape '" + text + "': expected " + form);
        s.dims.push_back(std::stoll(item));
        start = comma + 1;
    }
    return s;
}

InputValue parse_input_value(const std::string& text) {
    auto [name, value] = split_named(text, "--input-value", "NAME=V, e.g. scale=0.5");
    InputValue v;
    v.name = name;
    size_t used = 0;
    try {
        v.value = std::stod(value, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    if (used != value.size() || !std::isfinite(v.value)) throw Error("--input-value '" + text + "': expected NAME=V, e.g. scale=0.5");
    return v;
}

std::vector<ModelInput> apply_input_shapes(std::vector<ModelInput> inputs, const std::vector<InputShape>& shapes) {
    for (auto& in : inputs) in.dynamic_batch = in.dynamic_batch || in.shape.empty() || in.shape[0] <= 0;
    std::vector<std::string> seen;
    for (const auto& s : shapes) {
        const auto it = std::find_if(inputs.begin(), inputs.end(), [&](const ModelInput& m) { return m.name == s.name; });
        if (it == inputs.end()) {
            std::string names;
            for (const auto& m : inputs) names += (names.empty() ? "" : ", ") + m.name;
            throw Error("--input-shape " + s.name + ": the model has no input '" + s.name + "' (inputs: " + names + ")");
        }
        if (std::find(seen.begin(), seen.end(), s.name) != seen.end()) throw Error("--input-shape " + s.name + ": given twice");
        seen.push_back(s.name);
        if (!it->shape.empty() && it->shape.size() != s.dims.size())
            throw Error("--input-shape " + s.name + ": " + std::to_string(s.dims.size()) + " dims but the input has rank " +
                        std::to_string(it->shape.size()) + " " + model_shape_str(it->shape));
        for (size_t d = 0; d < it->shape.size(); ++d)
            if (it->shape[d] > 0 && it->shape[d] != s.dims[d])
                throw Error("--input-shape " + s.name + ": dim " + std::to_string(d) + " is " + std::to_string(s.dims[d]) +
                            " but the model fixes it to " + std::to_string(it->shape[d]) + " " + model_shape_str(it->shape));
        it->shape = s.dims;
    }
    return inputs;
}

std::vector<std::pair<size_t, std::filesystem::path>> resolve_sources(const Sources& sources,
                                                                      const std::vector<ModelInput>& inputs) {
    if (inputs.empty() && !sources.empty()) throw Error("the model has no inputs to feed data to");
    std::vector<std::pair<size_t, std::filesystem::path>> out;
    for (const auto& spec : sources.specs) {
        size_t index = 0;
        std::filesystem::path path = spec;
        const auto eq = spec.find('=');
        bool named = false;
        if (eq != std::string::npos && eq > 0)
            for (size_t i = 0; i < inputs.size(); ++i)
                if (inputs[i].name == spec.substr(0, eq)) index = i, path = spec.substr(eq + 1), named = true;
        if (!named && inputs.size() > 1 && eq != std::string::npos && eq > 0 && !std::filesystem::exists(spec)) {
            std::string names;
            for (const auto& m : inputs) names += (names.empty() ? "" : ", ") + m.name;
            throw Error("'" + spec + "': the model has no input '" + spec.substr(0, eq) + "' (inputs: " + names + ")");
        }
        for (const auto& [i, p] : out)
            if (i == index)
                throw Error("'" + spec + "': input '" + inputs[index].name + "' already has data (" + p.string() + ")" +
                            (named ? "" : "; name each input's data: NAME=PATH"));
        if (path.empty()) throw Error("'" + spec + "': no path after '='");
        out.emplace_back(index, path);
    }
    return out;
}

Tensor constant_input(const ModelInput& input, double value, int64_t count) {
    Shape shape = input.shape;
    if (!shape.empty() && input.dynamic_batch) shape[0] = count;
    Tensor t(input.dtype, shape);
    switch (input.dtype) {
        case DType::Float32: fill(t, static_cast<float>(value)); break;
        case DType::Float64: fill(t, value); break;
        case DType::Float16: fill(t, float_to_half(static_cast<float>(value))); break;
        case DType::Int8: fill(t, static_cast<int8_t>(value)); break;
        case DType::Int16: fill(t, static_cast<int16_t>(value)); break;
        case DType::Int32: fill(t, static_cast<int32_t>(value)); break;
        case DType::Int64: fill(t, static_cast<int64_t>(value)); break;
        case DType::UInt8: fill(t, static_cast<uint8_t>(value)); break;
        case DType::UInt16: fill(t, static_cast<uint16_t>(value)); break;
        case DType::Bool: fill(t, static_cast<uint8_t>(value != 0)); break;
        default: throw Error("input '" + input.name + "': cannot make a constant of dtype " + dtype_name(input.dtype));
    }
    return t;
}

std::unique_ptr<Dataset> open_inputs(const Sources& sources, const ImageOptions& image, const std::vector<ModelInput>& inputs,
                                     const std::vector<InputValue>& values) {
    const auto resolved = resolve_sources(sources, inputs);
    if (resolved.empty()) throw Error("no data given");
    std::vector<std::unique_ptr<Dataset>> data(inputs.size());
    for (const auto& [i, path] : resolved) {
        data[i] = open_dataset(path, image, inputs[i].shape);
        check_compatible(*data[i], inputs[i].shape);
    }
    std::vector<double> fixed(inputs.size(), 0.0);
    std::vector<bool> valued(inputs.size(), false);
    for (const auto& v : values) {
        const auto it = std::find_if(inputs.begin(), inputs.end(), [&](const ModelInput& m) { return m.name == v.name; });
        if (it == inputs.end()) throw Error("--input-value " + v.name + ": the model has no input '" + v.name + "'");
        const size_t i = static_cast<size_t>(it - inputs.begin());
        if (data[i]) throw Error("--input-value " + v.name + ": the input already has data");
        if (valued[i]) throw Error("--input-value " + v.name + ": given twice");
        valued[i] = true;
        fixed[i] = v.value;
    }
    if (inputs.size() == 1) return std::move(data[0]);
    for (size_t i = 0; i < inputs.size(); ++i) {
        if (data[i]) continue;
        const ModelInput& in = inputs[i];
        const bool usable = !in.shape.empty() && std::all_of(in.shape.begin() + (in.dynamic_batch ? 1 : 0), in.shape.end(),
                                                             [](int64_t d) { return d > 0; });
        if (!usable)
            throw Error("input '" + in.name + "' " + (in.shape.empty() ? std::string("(rank unknown)") : model_shape_str(in.shape)) +
                        " has no data and no full shape: give --data/--calib " + in.name + "=PATH or --input-shape " + in.name +
                        "=d0,d1,...");
        (void)constant_input(in, fixed[i], 1);  // a dtype it cannot fill fails now, not mid-run
    }
    return std::make_unique<InputsDataset>(inputs, std::move(data), std::move(fixed));
}

}  // namespace qcp::data
