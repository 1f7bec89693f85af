// One function per subcommand: declares its flags on `app`; the callback fills an options
// struct and calls the library. Each returns through `exit_code`.
#pragma once

#include <CLI/CLI.hpp>

#include "qcp/data/dataset.hpp"

namespace qcp::cli {

// Exit status when a check (an accuracy gate, a failed sweep combination) failed; README's "Exit codes".
constexpr int kExitCheckFailed = 1;

// --size/--mean/--std/--layout/--channels, parsed when the command runs.
struct ImageFlags {
    std::string size, mean, std, layout = "nchw", data_layout;
    int64_t channels = 0;
    data::ImageOptions resolve() const {
        data::ImageOptions o;
        if (!size.empty()) data::parse_size(size, o.height, o.width);
        if (!mean.empty()) o.mean = data::parse_floats(mean);
        if (!std.empty()) o.std = data::parse_floats(std);
        o.layout = data::parse_layout(layout);
        if (!data_layout.empty()) o.data_layout = data::parse_layout(data_layout);
        o.channels = channels;
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
}


void set_inspect_command(CLI::App& app, int& exit_code);
void set_eval_command(CLI::App& app, int& exit_code);
void set_compare_command(CLI::App& app, int& exit_code);
void set_compress_command(CLI::App& app, int& exit_code);
void set_sweep_command(CLI::App& app, int& exit_code);
void set_convert_command(CLI::App& app, int& exit_code);

}  // namespace qcp::cli
