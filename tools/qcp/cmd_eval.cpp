#include <iostream>

#include "commands.hpp"
#include "fidelity_flags.hpp"
#include "qcp/core/error.hpp"
#include "qcp/core/log.hpp"
#include "qcp/pipeline/evaluate.hpp"
#include "qcp/pipeline/gate.hpp"
#include "qcp/pipeline/table.hpp"

namespace qcp::cli {

void set_eval_command(CLI::App& app, int& exit_code) {
    auto* cmd = app.add_subcommand("eval", "Run a model on a dataset: top-1/top-5, and fidelity against --ref");
    struct State {
        EvalOptions opts;
        ImageFlags image;
        FidelityFlags fidelity;
        InputFlags inputs;
        std::vector<std::string> data;
        bool json = false;
        double min_top1 = 0;
    };
    auto st = std::make_shared<State>();
    start_group(cmd, kGroupModel);
    cmd->add_option("model", st->opts.model, "ONNX model")->required();
    cmd->add_option("--ref", st->opts.ref,
                    "Reference model: per output rel. error, SQNR, cosine, and top-1 agreement (N, C), position/sequence/CTC "
                    "agreement (N, T, C) or mask IoU (N, 1, H, W)");
    add_input_flags(cmd, st->inputs);
    start_group(cmd, kGroupData);
    add_sources_option(cmd, "--data", st->data, "IDX images, .npy, or a folder of PNG/JPEG")->required();
    cmd->add_option("--labels", st->opts.labels, "IDX labels, .npy, or text (one integer per line)");
    cmd->add_option("--count", st->opts.count, "Use the first N samples (default: all)");
    cmd->add_option("--batch", st->opts.batch, "Batch size (default 256)");
    add_image_flags(cmd, st->image);
    start_group(cmd, kGroupCheck);
    auto* min_top1_opt = cmd->add_option("--min-top1", st->min_top1,
                                         "Accuracy gate: exit 1 when top-1 is below A percent (0-100; needs --labels)");
    add_fidelity_flags(cmd, st->fidelity);
    start_group(cmd, kGroupOutput);
    cmd->add_flag("--json", st->json, "Print one JSON object");
    cmd->add_option("--dump-outputs", st->opts.dump_outputs, "Write the model's outputs for every sample to FILE.npy");
    cmd->add_flag("--force", st->opts.force, "Overwrite an existing --dump-outputs file");
    start_group(cmd, kGroupRun);
    add_threads_option(cmd, st->opts.threads);
    cmd->callback([st, min_top1_opt, &exit_code] {
        st->opts.image = st->image.resolve();
        st->opts.fidelity = st->fidelity.resolve();
        st->inputs.resolve(st->opts);
        st->opts.data = data::Sources{st->data};
        const bool gate = min_top1_opt->count() > 0;
        if (gate) validate_min_top1(st->min_top1, st->opts);
        const EvalReport r = evaluate(st->opts);
        auto json = eval_to_json(r);
        bool passed = true;
        std::string text = eval_to_text(r);
        if (gate) {
            json["gate"] = min_top1_gate(r, st->min_top1);
            const double top1 = json["gate"]["top1"].get<double>();
            passed = json["gate"]["passed"].get<bool>();
            text += "gate:       top-1 " + fixed(top1, 2) + "% vs --min-top1 " + fixed(st->min_top1, 2) + "%: " +
                    (passed ? "passed" : "FAILED") + "\n";
            if (!passed) spdlog::error("accuracy gate failed: top-1 {:.2f}% is below --min-top1 {:g}%", top1, st->min_top1);
        }
        std::cout << (st->json ? json.dump(2) + "\n" : text);
        exit_code = passed ? 0 : kExitCheckFailed;
    });
}

void set_compare_command(CLI::App& app, int& exit_code) {
    auto* cmd = app.add_subcommand("compare", "Two models side by side on one dataset: accuracy, agreement, size, latency");
    struct State {
        CompareOptions opts;
        ImageFlags image;
        FidelityFlags fidelity;
        InputFlags inputs;
        std::vector<std::string> data;
        bool json = false;
    };
    auto st = std::make_shared<State>();
    start_group(cmd, kGroupModel);
    cmd->add_option("model_a", st->opts.model_a, "First (reference) model")->required();
    cmd->add_option("model_b", st->opts.model_b, "Second model")->required();
    add_input_flags(cmd, st->inputs);
    start_group(cmd, kGroupData);
    add_sources_option(cmd, "--data", st->data, "IDX images, .npy, or a folder of PNG/JPEG")->required();
    cmd->add_option("--labels", st->opts.labels, "IDX labels, .npy, or text");
    cmd->add_option("--count", st->opts.count, "Use the first N samples (default: all)");
    cmd->add_option("--batch", st->opts.batch, "Batch size (default 256)");
    add_image_flags(cmd, st->image);
    start_group(cmd, kGroupCheck);
    add_fidelity_flags(cmd, st->fidelity);
    start_group(cmd, kGroupOutput);
    cmd->add_flag("--json", st->json, "Print one JSON object");
    start_group(cmd, kGroupRun);
    add_threads_option(cmd, st->opts.threads);
    cmd->callback([st, &exit_code] {
        st->opts.image = st->image.resolve();
        st->opts.fidelity = st->fidelity.resolve();
        st->inputs.resolve(st->opts);
        st->opts.data = data::Sources{st->data};
        const CompareReport r = compare(st->opts);
        std::cout << (st->json ? compare_to_json(r).dump(2) + "\n" : compare_to_text(r));
        exit_code = 0;
    });
}

}  // namespace qcp::cli
