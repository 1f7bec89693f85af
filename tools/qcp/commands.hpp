// One function per subcommand: declares its flags on `app`; the callback fills an options
// struct and calls the library. Each returns through `exit_code`.
#pragma once

#include <CLI/CLI.hpp>

#include "qcp/data/dataset.hpp"
#include "qcp/data/inputs.hpp"
#include "qcp/pipeline/run_options.hpp"

namespace qcp::cli {

// Exit status when a check (an accuracy gate, a failed sweep combination) failed; README's "Exit codes".
constexpr int kExitCheckFailed = 1;

// --size/--mean/--std/--layout/--channels, parsed when the command runs.
struct ImageFlags {
    std::string size, mean, std, layout = "nchw", data_layout, channel_order = "rgb", resize = "stretch";
    int64_t channels = 0;
    float pad = 0.0f;
    data::ImageOptions resolve() const {
        data::ImageOptions o;
        if (!size.empty()) data::parse_size(size, o.height, o.width);
        if (!mean.empty()) o.mean = data::parse_floats(mean);
        if (!std.empty()) o.std = data::parse_floats(std);
        o.layout = data::parse_layout(layout);
        if (!data_layout.empty()) o.data_layout = data::parse_layout(data_layout);
        o.channels = channels;
        o.bgr = data::parse_channel_order(channel_order);
        o.fit = data::parse_resize_mode(resize);
        o.pad = pad;
        return o;
    }
};

inline void add_image_flags(CLI::App* cmd, ImageFlags& f) {
    cmd->add_option("--size", f.size, "Resize images to HxW (image folders)");
    cmd->add_option("--mean", f.mean, "Per-channel mean subtracted after /255 scaling, e.g. 0.485,0.456,0.406");
    cmd->add_option("--std", f.std, "Per-channel std divided after the mean");
    cmd->add_option("--layout", f.layout, "Layout the model expects: nchw or nhwc");
    cmd->add_option("--data-layout", f.data_layout, "Layout of 4-D .npy data when it differs from --layout");
    cmd->add_option("--channels", f.channels, "Force 1 or 3 channels for images");
    cmd->add_option("--channel-order", f.channel_order, "rgb (default) or bgr: the channel order the model takes (images decode as RGB)");
    cmd->add_option("--resize", f.resize,
                    "stretch (default: to HxW) or fit (keep the aspect ratio inside HxW, top-left, pad the rest; PaddleOCR rec)");
    cmd->add_option("--pad", f.pad, "--resize fit: value of the padded area, in model units (after --mean/--std; default 0)");
}

// --input-shape / --input-value (repeatable), parsed when the command runs.
struct InputFlags {
    std::vector<std::string> shapes, values;
    void resolve(RunOptions& o) const {
        for (const auto& s : shapes) o.input_shapes.push_back(data::parse_input_shape(s));
        for (const auto& v : values) o.input_values.push_back(data::parse_input_value(v));
    }
};

inline void add_input_shape_flag(CLI::App* cmd, InputFlags& f) {
    cmd->add_option("--input-shape", f.shapes,
                    "NAME=d0,d1,...: fix the dims of a dynamic input (repeatable); images are resized to its HxW")
        ->expected(1)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
}

inline void add_input_flags(CLI::App* cmd, InputFlags& f) {
    add_input_shape_flag(cmd, f);
    cmd->add_option("--input-value", f.values, "NAME=V: every element of an input without data is V (default 0; repeatable)")
        ->expected(1)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
}

// A repeatable data option: PATH, or NAME=PATH per model input.
inline CLI::Option* add_sources_option(CLI::App* cmd, const std::string& name, std::vector<std::string>& specs,
                                       const std::string& what) {
    return cmd->add_option(name, specs, what + "; NAME=PATH per model input (repeatable)")
        ->expected(1)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
}


void set_inspect_command(CLI::App& app, int& exit_code);
void set_eval_command(CLI::App& app, int& exit_code);
void set_compare_command(CLI::App& app, int& exit_code);
void set_compress_command(CLI::App& app, int& exit_code);
void set_sweep_command(CLI::App& app, int& exit_code);
void set_convert_command(CLI::App& app, int& exit_code);

}  // namespace qcp::cli
