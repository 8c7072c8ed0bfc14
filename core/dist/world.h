// Data parallelism on PyTorch's c10d (the engine Python's DDP uses): a World is this process's
// place in a job torchrun launched — rank, size, the process group (Gloo on CPU, NCCL on CUDA) —
// and the few collectives training needs. Without torchrun's variables a job is one process and
// every collective is the identity. Only dist/world.cpp includes the c10d headers.
#pragma once

#include "util/device.h"

#include <ATen/core/Tensor.h>

#include <chrono>
#include <map>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace mabert::dist {

// What torchrun put in the environment (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE,
// MASTER_ADDR, MASTER_PORT, TORCHELASTIC_RESTART_COUNT, TORCHELASTIC_USE_AGENT_STORE).
struct Launch {
  int rank = 0, world_size = 1, local_rank = 0, local_world_size = 1, restart = 0;
  std::string master_addr;
  int master_port = 0;
  bool agent_store = false;  // torchrun's agent serves the store: every rank is a client
  bool launched = false;     // started by torchrun (or by hand with its variables), even as 1 process
  bool distributed() const { return world_size > 1; }
};
// Throws std::runtime_error naming the variable when one is present but malformed, or when
// WORLD_SIZE > 1 comes without MASTER_ADDR/MASTER_PORT.
Launch launch_from_env();

// An all-reduce started by World::all_reduce_sum_start and not yet waited for.
class PendingSum {
 public:
  // Blocks until the sum is done and copies it into the tensors it was started on (idempotent).
  // A failed collective is an error naming this rank, as for the blocking collectives.
  void wait();
  bool started() const { return s_ != nullptr; }

 private:
  friend class World;
  struct State;
  std::shared_ptr<State> s_;
};

class World {
 public:
  World();  // one process
  // Joins the group: the store at MASTER_ADDR:MASTER_PORT (served by torchrun's agent, or by rank 0
  // without one), under a prefix per restart; the backend for `device`. `timeout` bounds every
  // collective: a dead or hung peer is an error on the others within it.
  static std::shared_ptr<World> join(const Launch& launch, DeviceKind device, std::chrono::seconds timeout);
  ~World();

  int rank() const { return rank_; }
  // A process group exists (torchrun launched this process, even alone): collectives go through
  // the backend, so one rank on one GPU exercises NCCL. Otherwise each is the identity.
  bool grouped() const { return group_ != nullptr; }
  int size() const { return size_; }
  bool root() const { return rank_ == 0; }
  const std::string& backend() const { return backend_; }  // "none" | "gloo" | "nccl"

  // In place, from rank 0.
  void broadcast(const std::vector<at::Tensor>& tensors);
  // In place, summed over ranks, in buckets of at most `bucket_bytes` (flattened per dtype).
  void all_reduce_sum(const std::vector<at::Tensor>& tensors, int64_t bucket_bytes = 25 << 20);
  // The same sum over tensors of one dtype and device, as one flat buffer, started now and
  // finished by wait(): communication that runs while this process computes (gradient buckets
  // launched during backward). One process: done at once.
  PendingSum all_reduce_sum_start(const std::vector<at::Tensor>& tensors);
  double sum(double v);
  std::pair<double, double> sum2(double a, double b);  // two sums in one all-reduce
  bool any(bool v);
  void barrier();
  // Rank 0 does `work` while the others wait for it on the store, with no deadline: work that may
  // outlast the collective timeout (training a tokenizer on a real corpus). Rank 0's failure
  // reaches the others as an error with its message; its death stops them through torchrun (or,
  // without torchrun's agent, through the store rank 0 served going away). One process: work().
  void root_first(const std::string& what, const std::function<void()>& work);
  // The next number of the counter `name`, shared by every rank (the store's atomic add; a local
  // counter for one process): a work queue.
  int64_t ticket(const std::string& name);
  // Every rank's value, in rank order.
  std::vector<int64_t> all_gather(int64_t v);
  // A byte tensor of each rank (equal sizes), in rank order (per-rank generator states).
  std::vector<at::Tensor> all_gather_bytes(const at::Tensor& bytes);
  // Each rank's values (any count, may differ by rank), in rank order: sharded evaluation.
  std::vector<std::vector<double>> all_gather_values(const std::vector<double>& values);

 private:
  struct Group;
  std::shared_ptr<Group> group_;
  int rank_ = 0, size_ = 1;
  std::string backend_ = "none";
  std::map<std::string, int64_t> local_tickets_;
  int64_t root_first_calls_ = 0;
  // Where the backend takes tensors: the CPU for Gloo, this rank's GPU for NCCL. Every collective
  // accepts tensors anywhere and stages them there (sums and gathers of host values included), so
  // one call site serves both backends.
  c10::Device comm_device_{c10::kCPU};
  at::Tensor staged(const at::Tensor& t) const;  // t on comm_device_ (itself when it is there)
};

// The rows [begin, end) of a global batch of `rows` examples that `rank` of `size` takes: as even
// as possible, in rank order, so the union over ranks is the whole batch.
std::pair<int64_t, int64_t> shard(int64_t rows, int rank, int size);

}  // namespace mabert::dist
