// Subcommands of the `mabert` command line. Each adds itself to the app; the work is in core/.
#pragma once

#include <CLI/CLI.hpp>

namespace mabert::cli {

void add_info_command(CLI::App& app);
void add_bench_command(CLI::App& app);
void add_train_commands(CLI::App& app);
void add_runs_command(CLI::App& app);
void add_bench_model_command(CLI::App* bench);  // `bench model`, beside `bench scan`
void add_experiment_commands(CLI::App& app);    // ablate, drift
void add_export_commands(CLI::App& app);        // export, encode

}  // namespace mabert::cli
