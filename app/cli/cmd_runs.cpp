// `mabert runs list|show`: the run registry from the command line.
#include "cli/commands.h"

#include "runs/registry.h"
#include "train/trainer.h"

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>

namespace mabert::cli {

void add_runs_command(CLI::App& app) {
  struct Args {
    std::string registry, kind, id;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  CLI::App* runs = app.add_subcommand("runs", "List and show recorded runs (the registry the GUI shares)");
  runs->require_subcommand(1);
  runs->add_option("--registry", a->registry, "Registry database (default $MABERT_REGISTRY or ~/.local/share/mabert/runs.db)");
  auto open = [a] { return std::make_unique<runs::Registry>(a->registry.empty() ? runs::Registry::default_path() : a->registry); };
  CLI::App* list = runs->add_subcommand("list", "All runs, newest first");
  list->add_option("--kind", a->kind, "Only runs of this kind (pretrain, finetune, ...)");
  list->add_flag("--json", a->json, "Machine-readable output");
  list->callback([a, open] {
    const auto reg = open();
    const auto all = reg->list(a->kind);
    if (a->json) {
      nlohmann::ordered_json j = nlohmann::ordered_json::array();
      for (const auto& r : all) j.push_back({{"id", r.id}, {"kind", r.kind}, {"task", r.task}, {"status", r.status}, {"created", r.created}, {"metrics", r.metrics}});
      std::cout << j.dump(2) << '\n';
      return;
    }
    std::printf("%-20s %-9s %-7s %-14s %s\n", "created", "kind", "task", "status", "run");
    for (const auto& r : all)
      std::printf("%-20s %-9s %-7s %-14s %s\n", r.created.c_str(), r.kind.c_str(), r.task.c_str(), r.status.c_str(), r.id.c_str());
  });
  CLI::App* show = runs->add_subcommand("show", "One run: configuration and metrics");
  show->add_option("id", a->id, "Run id (its folder)")->required();
  show->add_flag("--json", a->json, "Machine-readable output");
  show->callback([a, open] {
    const auto reg = open();
    auto r = reg->get(a->id);
    if (!r) r = reg->get(std::filesystem::absolute(a->id).lexically_normal().string());
    if (!r) throw std::runtime_error("no run '" + a->id + "' in " + reg->path());
    // Runs recorded before data parallelism existed were one process.
    const runs::Placement where = runs::placement_of(*r);
    const int64_t world = where.world_size;
    const std::string& backend = where.backend;
    nlohmann::ordered_json j = {{"id", r->id}, {"kind", r->kind}, {"task", r->task}, {"status", r->status},
                                {"created", r->created}, {"updated", r->updated}, {"world_size", world}, {"backend", backend},
                                {"config", r->config}, {"metrics", r->metrics}};
    if (a->json) {
      std::cout << j.dump(2) << '\n';
      return;
    }
    std::printf("run      %s\nkind     %s%s\nstatus   %s\ncreated  %s, updated %s\nworld size %lld (%s)\n", r->id.c_str(),
                r->kind.c_str(), r->task.empty() ? "" : (" " + r->task).c_str(), r->status.c_str(), r->created.c_str(),
                r->updated.c_str(), static_cast<long long>(world), backend.c_str());
    std::cout << "config   " << r->config.dump(2) << "\nmetrics  " << r->metrics.dump(2) << '\n';
  });
  CLI::App* check = runs->add_subcommand("check", "Check a run folder after a crash: the latest checkpoint loads, the "
                                                  "metrics log parses, the registry opens");
  check->add_option("run", a->id, "Run folder")->required();
  check->add_flag("--json", a->json, "Machine-readable output");
  check->callback([a, open] {
    const train::RunCheck c = train::check_run(a->id);
    const auto reg = open();  // throws, naming the database, when it cannot be opened or read
    (void)reg->list();        // every row readable
    auto rec = reg->get(std::filesystem::absolute(a->id).lexically_normal().string());
    if (!rec) rec = reg->get(a->id);
    const std::string status = rec ? rec->status : "not recorded";
    if (a->json) {
      nlohmann::ordered_json j = {{"checkpoint", c.checkpoint}, {"step", c.step}, {"metric_records", c.metric_records},
                                  {"torn_lines", c.notes}, {"leftovers", c.leftovers}, {"rejected", c.rejected},
                                  {"registry", reg->path()},
                                  {"registry_status", status}};
      std::cout << j.dump(2) << '\n';
      return;
    }
    for (const auto& why : c.rejected) std::printf("checkpoint passed over: %s\n", why.c_str());
    if (c.checkpoint.empty()) std::printf("checkpoint: %s\n", c.rejected.empty() ? "none written yet" : "none usable");
    else std::printf("checkpoint: %s loads (step %lld: weights, AdamW state, trainer and RNG state)\n", c.checkpoint.c_str(),
                     static_cast<long long>(c.step));
    std::printf("metrics.jsonl: %zu records\n", c.metric_records);
    for (const auto& n : c.notes) std::printf("  skipped %s\n", n.c_str());
    for (const auto& l : c.leftovers) std::printf("leftover of an interrupted write (removed by the next save): %s\n", l.c_str());
    std::printf("registry: %s opens; this run: %s\n", reg->path().c_str(), status.c_str());
  });
}

}  // namespace mabert::cli
