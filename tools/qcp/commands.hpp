// One function per subcommand: declares its flags on `app`; the callback fills an options
// struct and calls the library. Each returns through `exit_code`.
#pragma once

#include <CLI/CLI.hpp>

#include <optional>

#include "qcp/core/memory.hpp"
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

// --help sections, in this order where a command has them (CLI11 lists groups by first use).
inline const std::string kGroupModel = "Model";
inline const std::string kGroupMethod = "Method";
inline const std::string kGroupBudget = "Budget";
inline const std::string kGroupCalibration = "Calibration";
inline const std::string kGroupData = "Data";
inline const std::string kGroupCheck = "Check";
inline const std::string kGroupOutput = "Output";
inline const std::string kGroupRun = "Run";

// Options added to `cmd` from here on go into the --help section `group` (the add_*_flags helpers too).
inline void start_group(CLI::App* cmd, const std::string& group) { cmd->option_defaults()->group(group); }

inline void add_image_flags(CLI::App* cmd, ImageFlags& f) {
    const auto layouts = CLI::IsMember({"nchw", "nhwc"}, CLI::ignore_case);
    cmd->add_option("--size", f.size, "Resize images to HxW (image folders)");
    cmd->add_option("--mean", f.mean, "Per-channel mean subtracted after /255 scaling, e.g. 0.485,0.456,0.406");
    cmd->add_option("--std", f.std, "Per-channel std divided after the mean");
    cmd->add_option("--layout", f.layout, "Layout the model expects (default nchw)")->check(layouts);
    cmd->add_option("--data-layout", f.data_layout, "Layout of 4-D .npy data when it differs from --layout")->check(layouts);
    cmd->add_option("--channels", f.channels, "Force 1 or 3 channels for images")->check(CLI::IsMember({1, 3}));
    cmd->add_option("--channel-order", f.channel_order, "The channel order the model takes (default rgb; images decode as RGB)")
        ->check(CLI::IsMember({"rgb", "bgr"}, CLI::ignore_case));
    cmd->add_option("--resize", f.resize,
                    "stretch (default: to HxW) or fit (keep the aspect ratio inside HxW, top-left, pad the rest; PaddleOCR rec)")
        ->check(CLI::IsMember({"stretch", "fit"}));
    cmd->add_option("--pad", f.pad, "--resize fit: value of the padded area, in model units (after --mean/--std; default 0)");
}

// --threads, the same on every command (qcp/core/parallel.hpp has the default's rules).
inline CLI::Option* add_threads_option(CLI::App* cmd, int& threads) {
    return cmd->add_option("--threads", threads,
                           "Threads (default: OMP_NUM_THREADS if set, else the cgroup CPU quota, else the CPUs this process "
                           "may run on; -v logs which). Outputs are identical at any count")
        ->check(CLI::Range(0, 1 << 16));
}

// An option taking a size in bytes: 200000, 800K, 5M, 1.5G (memory::parse_size, the one parser
// of every size the CLI takes; K is 1024). Bad text is the usual one-line error, exit 2.
inline CLI::Option* add_size_option(CLI::App* cmd, const std::string& name, std::optional<uint64_t>& bytes,
                                    const std::string& what) {
    std::optional<uint64_t>* target = &bytes;
    const std::string flag = name.substr(name.rfind(',') + 1);
    return cmd
        ->add_option_function<std::string>(
            name, [target, flag](const std::string& text) { *target = memory::parse_size(text, flag); },
            what + " (bytes, or K, M, G, T: powers of 1024, e.g. 800K, 5M, 1.5G)")
        ->type_name("SIZE");
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
