#include <iostream>

#include "commands.hpp"
#include "fidelity_flags.hpp"
#include "qcp/core/error.hpp"
#include "qcp/core/log.hpp"
#include "qcp/pipeline/compress.hpp"
#include "qcp/pipeline/evaluate.hpp"
#include "qcp/pipeline/sweep.hpp"

namespace qcp::cli {

namespace {

template <typename T>
std::string joined(const std::vector<T>& v) {
    std::ostringstream s;
    for (size_t i = 0; i < v.size(); ++i) s << (i ? "," : "") << v[i];
    return s.str();
}

}  // namespace

void set_sweep_command(CLI::App& app, int& exit_code) {
    auto* cmd = app.add_subcommand(
        "sweep", "Compress a model with every combination of methods and settings, evaluate each, and write "
                 "results.csv, results.json, results.md, pareto.svg (top-1 vs file size) and pareto_macs.svg to --out");
    struct State {
        SweepOptions opts;
        ImageFlags image;
        FidelityFlags fidelity;
        InputFlags inputs;
        std::vector<std::string> data, calib;
        bool json = false, replot = false;
    };
    auto st = std::make_shared<State>();
    auto& o = st->opts;
    std::vector<std::string> method_list;
    for (const auto& m : compress_methods()) method_list.push_back(m.name);
    start_group(cmd, kGroupModel);
    cmd->add_option("model", o.model, "ONNX model to sweep (required unless --replot)");
    add_input_flags(cmd, st->inputs);
    start_group(cmd, kGroupMethod);
    cmd->add_option("--methods", o.methods, "Comma-separated methods (default: all; gptq/pq skipped without --calib)")
        ->delimiter(',')
        ->check(CLI::IsMember(method_list));
    cmd->add_option("--bits", o.bits, "Comma-separated bit widths (default: " + joined(kSweepDefaultCpBits) +
                                          " for CP methods, " + joined(kSweepDefaultQuantBits) + " for rtn/gptq; pq ignores it)")
        ->delimiter(',');
    cmd->add_option("--rank-ratios", o.rank_ratios, "Comma-separated rank ratios for CP methods (default: " +
                                                        joined(kSweepDefaultRankRatios) + ")")
        ->delimiter(',');
    cmd->add_option("--centroids", o.centroids, "Comma-separated codebook sizes for pq (default: " +
                                                    joined(kSweepDefaultCentroids) + ")")
        ->delimiter(',');
    start_group(cmd, kGroupCalibration);
    add_sources_option(cmd, "--calib", st->calib, "Calibration data: statistics correction and check for every run; gptq and pq need it");
    cmd->add_option("--calib-count", o.calib_count, "Calibration samples to use (default 1000)");
    start_group(cmd, kGroupData);
    add_sources_option(cmd, "--data", st->data, "Evaluation images (IDX, .npy, image folder; required unless --replot)");
    cmd->add_option("--labels", o.labels,
                    "Evaluation labels (IDX, .npy, text): rank by top-1; without, by the first output's fidelity to fp32 "
                    "(top-1 agreement, position agreement, mask IoU or SQNR)");
    cmd->add_option("--count", o.count, "Evaluate on the first N samples (default: all)");
    cmd->add_option("--batch", o.batch, "Evaluation batch size (default 256)");
    add_image_flags(cmd, st->image);
    start_group(cmd, kGroupCheck);
    add_fidelity_flags(cmd, st->fidelity);
    start_group(cmd, kGroupOutput);
    cmd->add_option("-o,--out", o.out, "Output folder (models/ and the result files go there)")->required();
    cmd->add_flag("--force", o.force, "Replace result files and models already in --out");
    cmd->add_flag("--json", st->json, "Print results.json instead of the table");
    cmd->add_flag("--replot", st->replot,
                  "Only redraw the charts, results.csv and results.md of the finished sweep in --out from its results.json");
    start_group(cmd, kGroupRun);
    add_threads_option(cmd, o.threads);
    cmd->add_option("--seed", o.seed, "Seed for every random choice (default 0)");
    cmd->callback([st, &exit_code] {
        if (st->replot) {
            const SweepReport r = sweep_replot(st->opts.out);
            std::cout << (st->json ? sweep_to_json(r).dump(2) + "\n"
                                   : sweep_to_table(r) + "rewrote results.csv, results.md, pareto.svg, pareto_macs.svg in " +
                                         st->opts.out.string() + "\n");
            exit_code = 0;
            return;
        }
        st->opts.image = st->image.resolve();
        st->opts.fidelity = st->fidelity.resolve();
        st->inputs.resolve(st->opts);
        st->opts.data = data::Sources{st->data};
        st->opts.calib = data::Sources{st->calib};
        const SweepReport r = sweep(st->opts);
        std::cout << (st->json ? sweep_to_json(r).dump(2) + "\n"
                               : sweep_to_table(r) + "wrote results.csv, results.json, results.md, pareto.svg, pareto_macs.svg to " +
                                     st->opts.out.string() + "\n");
        size_t failed = 0;
        for (const auto& row : r.rows) failed += row.status != "ok";
        if (failed) spdlog::error("{} of {} combinations failed (see {})", failed, r.rows.size(), (r.options.out / "results.csv").string());
        exit_code = failed ? kExitCheckFailed : 0;
    });
}

}  // namespace qcp::cli
