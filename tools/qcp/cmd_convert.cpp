#include <iostream>

#include "commands.hpp"
#include "qcp/pipeline/convert.hpp"

namespace qcp::cli {

void set_convert_command(CLI::App& app, int& exit_code) {
    auto* cmd = app.add_subcommand("convert", "Upgrade a model's default-domain opset (ONNX's version converter up to 17, "
                                              "qcp's adapters to 21), checked in qcp's engine against the original");
    struct State {
        ConvertOptions opts;
        ImageFlags image;
        bool json = false;
    };
    auto st = std::make_shared<State>();
    auto& o = st->opts;
    start_group(cmd, kGroupModel);
    cmd->add_option("model", o.model, "ONNX model to convert")->required();
    cmd->add_option("--opset", o.opset, "Target opset, from the model's own up to 21")->required();
    start_group(cmd, kGroupData);
    cmd->add_option("--calib", o.calib, "Check on the first samples of this data (IDX, .npy, image folder) instead of random inputs");
    add_image_flags(cmd, st->image);
    start_group(cmd, kGroupOutput);
    cmd->add_option("-o,--output", o.output, "Converted model to write")->required();
    cmd->add_flag("--external-data", o.external_data, "Write weights to OUT.data beside the model");
    cmd->add_flag("--json", st->json, "Print one JSON object");
    cmd->add_flag("--force", o.force, "Overwrite an existing output file");
    start_group(cmd, kGroupRun);
    add_threads_option(cmd, o.threads);
    cmd->callback([st, &exit_code] {
        st->opts.image = st->image.resolve();
        const ConvertReport r = convert(st->opts);
        std::cout << (st->json ? convert_to_json(r).dump(2) + "\n" : convert_to_table(r));
        exit_code = 0;
    });
}

}  // namespace qcp::cli
