#include <iostream>

#include "commands.hpp"
#include "qcp/pipeline/inspect.hpp"

namespace qcp::cli {

void set_inspect_command(CLI::App& app, int& exit_code) {
    auto* cmd = app.add_subcommand("inspect", "List a model's conv/FC layers, sizes and MACs, and what qcp can compress");
    auto opts = std::make_shared<InspectOptions>();
    auto json = std::make_shared<bool>(false);
    auto inputs = std::make_shared<InputFlags>();
    cmd->add_option("model", opts->model, "ONNX model file")->required();
    cmd->add_flag("--json", *json, "Print one JSON object instead of the table");
    add_input_shape_flag(cmd, *inputs);
    cmd->callback([opts, json, inputs, &exit_code] {
        for (const auto& s : inputs->shapes) opts->input_shapes.push_back(data::parse_input_shape(s));
        const InspectReport report = inspect(*opts);
        if (*json)
            std::cout << inspect_to_json(report).dump(2) << "\n";
        else
            std::cout << inspect_to_table(report);
        exit_code = 0;
    });
}

}  // namespace qcp::cli
