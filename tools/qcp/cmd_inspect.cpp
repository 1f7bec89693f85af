#include <iostream>

#include "commands.hpp"
#include "qcp/pipeline/inspect.hpp"

namespace qcp::cli {

void set_inspect_command(CLI::App& app, int& exit_code) {
    auto* cmd = app.add_subcommand("inspect", "List a model's conv/FC layers, sizes and MACs, and what qcp can compress");
    auto opts = std::make_shared<InspectOptions>();
    auto json = std::make_shared<bool>(false);
    cmd->add_option("model", opts->model, "ONNX model file")->required();
    cmd->add_flag("--json", *json, "Print one JSON object instead of the table");
    cmd->callback([opts, json, &exit_code] {
        const InspectReport report = inspect(*opts);
        if (*json)
            std::cout << inspect_to_json(report).dump(2) << "\n";
        else
            std::cout << inspect_to_table(report);
        exit_code = 0;
    });
}

}  // namespace qcp::cli
