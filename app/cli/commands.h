// Subcommands of the `mabert` command line. Each adds itself to the app; the work is in core/.
#pragma once

#include <CLI/CLI.hpp>

#include <map>
#include <string>

namespace mabert::cli {

// `--padding right|left` as every command spells it, read into a bool (true: pad on the left).
inline CLI::CheckedTransformer padding_side() {
  return CLI::CheckedTransformer(std::map<std::string, bool>{{"right", false}, {"left", true}});
}

void add_info_command(CLI::App& app);
void add_bench_command(CLI::App& app);
void add_train_commands(CLI::App& app);
void add_runs_command(CLI::App& app);
void add_bench_model_command(CLI::App* bench);  // `bench model`, beside `bench scan`
void add_experiment_commands(CLI::App& app);    // ablate, drift
void add_export_commands(CLI::App& app);        // export, encode
void add_data_commands(CLI::App& app);          // data prepare, data info

}  // namespace mabert::cli
