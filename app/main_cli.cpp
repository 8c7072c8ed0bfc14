// `mabert`: the command-line face of MaBERT Studio. Subcommands live in app/cli/; the work in core/.
#include "cli/commands.h"

#include "model/config.h"
#include "util/allocator.h"
#include "util/errors.h"
#include "util/openmp_wait.h"

#include <c10/util/Exception.h>

#include <exception>
#include <iostream>
#include <string>

namespace {

// Commands that run models get libgomp's spinning bounded (util/openmp_wait.h); the quick ones
// that only read files are not re-executed for it.
bool runs_models(int argc, char** argv) {
  if (argc < 2) return false;
  const std::string cmd = argv[1];
  return cmd != "info" && cmd != "runs" && cmd != "export" && cmd.rfind('-', 0) != 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (runs_models(argc, argv)) mabert::bound_openmp_spinning(argv);
  mabert::keep_freed_memory();
  CLI::App app{"mabert: hybrid Transformer–Mamba encoders (MaBERT) — inspect, train, evaluate, benchmark"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "mabert 0.1.0");
  mabert::cli::add_info_command(app);
  mabert::cli::add_train_commands(app);
  mabert::cli::add_bench_command(app);
  mabert::cli::add_runs_command(app);
  mabert::cli::add_experiment_commands(app);
  mabert::cli::add_export_commands(app);
  mabert::cli::add_data_commands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    std::cerr << "mabert: error: " << mabert::describe_error(e) << '\n';
    return 1;
  }
  return 0;
}
