// The only file that includes c10d: the store, the process group and the collectives.
#include "dist/world.h"

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#if MABERT_WITH_NCCL
#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif
#include <torch/torch.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <thread>
#include <stdexcept>

namespace mabert::dist {
namespace {

int env_int(const char* name, int fallback, int lo) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  if (*end != '\0' || x < lo || x > (1 << 24))
    throw std::runtime_error(std::string("environment variable ") + name + "='" + v + "' is not a valid number");
  return static_cast<int>(x);
}

// A collective that fails (a peer gone, a timeout) says so in words, naming this rank.
template <typename F>
void collective(const char* what, int rank, F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    std::string msg = e.what();
    const auto nl = msg.find('\n');
    if (nl != std::string::npos) msg.resize(nl);
    throw std::runtime_error("rank " + std::to_string(rank) + ": " + what +
                             " failed — a peer process exited, hung or is unreachable (" + msg + ")");
  }
}

}  // namespace

Launch launch_from_env() {
  Launch l;
  l.world_size = env_int("WORLD_SIZE", 1, 1);
  l.rank = env_int("RANK", 0, 0);
  l.local_rank = env_int("LOCAL_RANK", l.rank, 0);
  l.local_world_size = env_int("LOCAL_WORLD_SIZE", l.world_size, 1);
  l.restart = env_int("TORCHELASTIC_RESTART_COUNT", 0, 0);
  if (l.rank >= l.world_size)
    throw std::runtime_error("RANK=" + std::to_string(l.rank) + " is not below WORLD_SIZE=" + std::to_string(l.world_size));
  l.launched = std::getenv("WORLD_SIZE") && std::getenv("MASTER_ADDR") && std::getenv("MASTER_PORT");
  if (!l.launched) {
    if (l.distributed()) throw std::runtime_error("WORLD_SIZE > 1 but MASTER_ADDR or MASTER_PORT is not set (launch with torchrun)");
    return l;
  }
  const char* addr = std::getenv("MASTER_ADDR");
  if (!addr || !*addr) throw std::runtime_error("WORLD_SIZE > 1 but MASTER_ADDR is not set (launch with torchrun)");
  l.master_addr = addr;
  l.master_port = env_int("MASTER_PORT", 0, 1);
  if (l.master_port == 0) throw std::runtime_error("WORLD_SIZE > 1 but MASTER_PORT is not set (launch with torchrun)");
  const char* agent = std::getenv("TORCHELASTIC_USE_AGENT_STORE");
  l.agent_store = agent && std::string(agent) == "True";
  return l;
}

namespace {

// Which network Gloo uses, by the conventions PyTorch and clusters share: GLOO_SOCKET_IFNAME
// (interfaces, comma-separated: one device each), else MABERT_GLOO_HOSTNAME (an address to bind),
// else loopback for a single machine, else the address the host name resolves to.
std::vector<std::shared_ptr<gloo::transport::Device>> gloo_devices(const Launch& l) {
  std::vector<std::shared_ptr<gloo::transport::Device>> devices;
  const char* ifnames = std::getenv("GLOO_SOCKET_IFNAME");
  const std::string list = ifnames ? ifnames : "";
  for (size_t at = 0; at < list.size();) {
    const size_t comma = std::min(list.find(',', at), list.size());
    const std::string name = list.substr(at, comma - at);
    at = comma + 1;
    if (name.empty()) continue;
    try {
      devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(name));
    } catch (const std::exception&) {
      throw std::runtime_error("rank " + std::to_string(l.rank) + ": GLOO_SOCKET_IFNAME='" + list + "': no network interface '" +
                               name + "' with an address on this machine (`ip -brief address` lists them)");
    }
  }
  if (!devices.empty()) return devices;
  const char* host = std::getenv("MABERT_GLOO_HOSTNAME");
  const bool loopback = l.master_addr == "127.0.0.1" || l.master_addr == "localhost";
  devices.push_back(host && *host ? c10d::ProcessGroupGloo::createDeviceForHostname(host)
                    : loopback    ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                                  : c10d::ProcessGroupGloo::createDefaultDevice());
  return devices;
}

}  // namespace

struct World::Group {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::Backend> pg;
};

World::World() = default;
World::~World() = default;

std::shared_ptr<World> World::join(const Launch& l, DeviceKind device, std::chrono::seconds timeout) {
  auto w = std::make_shared<World>();
  if (!l.launched) return w;
  w->rank_ = l.rank, w->size_ = l.world_size;
  w->group_ = std::make_shared<Group>();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(timeout);
  c10d::TCPStoreOptions so;
  so.port = static_cast<std::uint16_t>(l.master_port);
  so.isServer = !l.agent_store && l.rank == 0;  // under torchrun the agent serves it
  so.numWorkers = std::nullopt;
  so.waitWorkers = false;
  so.timeout = ms;
  try {
    auto tcp = c10::make_intrusive<c10d::TCPStore>(l.master_addr, so);
    // A restarted group reuses the agent's store: keys of the earlier attempt must not be seen.
    w->group_->store = c10::make_intrusive<c10d::PrefixStore>("mabert/attempt-" + std::to_string(l.restart), tcp);
  } catch (const std::exception& e) {
    throw std::runtime_error("rank " + std::to_string(l.rank) + ": cannot reach the rendezvous store at " + l.master_addr +
                             ":" + std::to_string(l.master_port) + " within " + std::to_string(timeout.count()) +
                             " s (" + std::string(e.what()).substr(0, 200) + ")");
  }
  if (device == DeviceKind::Cuda) {
#if MABERT_WITH_NCCL
    // NCCL takes only CUDA tensors, on this rank's GPU: the collectives below stage their
    // host-side values (sums, gathers, generator states) through it.
    c10::cuda::set_device(static_cast<c10::DeviceIndex>(l.local_rank));
    w->comm_device_ = c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(l.local_rank));
    auto opts = c10d::ProcessGroupNCCL::Options::create();
    opts->timeout = ms;
    w->group_->pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(w->group_->store, l.rank, l.world_size, opts);
    w->backend_ = "nccl";
#else
    throw std::runtime_error("--device cuda with several ranks needs NCCL, and this build has none (nccl.h was not found)");
#endif
  } else {
    auto opts = c10d::ProcessGroupGloo::Options::create(ms);
    opts->devices = gloo_devices(l);
    collective("connecting the Gloo group", l.rank, [&] {
      w->group_->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(w->group_->store, l.rank, l.world_size, opts);
    });
    w->backend_ = "gloo";
  }
  return w;
}

void World::broadcast(const std::vector<at::Tensor>& tensors) {
  if (!group_) return;
  for (const at::Tensor& t : tensors) {
    std::vector<at::Tensor> one = {staged(t)};
    collective("broadcast", rank_, [&] { group_->pg->broadcast(one, c10d::BroadcastOptions{})->wait(); });
    if (!one[0].is_same(t)) t.copy_(one[0]);
  }
}

void World::all_reduce_sum(const std::vector<at::Tensor>& tensors, int64_t bucket_bytes) {
  if (!group_ || tensors.empty()) return;
  // Buckets of one dtype and device, each flattened into one tensor for one all-reduce.
  size_t i = 0;
  while (i < tensors.size()) {
    std::vector<at::Tensor> bucket = {tensors[i]};
    int64_t bytes = tensors[i].numel() * tensors[i].element_size();
    size_t j = i + 1;
    while (j < tensors.size() && tensors[j].scalar_type() == tensors[i].scalar_type() &&
           tensors[j].device() == tensors[i].device() && bytes + tensors[j].numel() * tensors[j].element_size() <= bucket_bytes) {
      bytes += tensors[j].numel() * tensors[j].element_size();
      bucket.push_back(tensors[j++]);
    }
    std::vector<at::Tensor> flat;
    for (const auto& t : bucket) flat.push_back(t.reshape(-1));
    std::vector<at::Tensor> buf = {staged(at::cat(flat))};
    collective("all-reduce", rank_, [&] { group_->pg->allreduce(buf, c10d::AllreduceOptions{})->wait(); });
    int64_t off = 0;
    for (const auto& t : bucket) {
      t.copy_(buf[0].narrow(0, off, t.numel()).view(t.sizes()));
      off += t.numel();
    }
    i = j;
  }
}

struct PendingSum::State {
  std::vector<at::Tensor> tensors;
  std::vector<at::Tensor> buf;
  c10::intrusive_ptr<c10d::Work> work;
  int rank = 0;
  bool done = false;
};

PendingSum World::all_reduce_sum_start(const std::vector<at::Tensor>& tensors) {
  PendingSum p;
  p.s_ = std::make_shared<PendingSum::State>();
  p.s_->done = !group_ || tensors.empty();
  if (p.s_->done) return p;
  for (const auto& t : tensors)
    if (t.scalar_type() != tensors[0].scalar_type() || t.device() != tensors[0].device())
      throw std::invalid_argument("all_reduce_sum_start: tensors of one dtype and device");
  std::vector<at::Tensor> flat;
  for (const auto& t : tensors) flat.push_back(t.reshape(-1));
  p.s_->tensors = tensors;
  p.s_->buf = {staged(at::cat(flat))};
  p.s_->rank = rank_;
  collective("all-reduce", rank_, [&] { p.s_->work = group_->pg->allreduce(p.s_->buf, c10d::AllreduceOptions{}); });
  return p;
}

void PendingSum::wait() {
  if (!s_ || s_->done) return;
  collective("all-reduce", s_->rank, [&] { s_->work->wait(); });
  int64_t off = 0;
  for (const auto& t : s_->tensors) {
    t.copy_(s_->buf[0].narrow(0, off, t.numel()).view(t.sizes()));
    off += t.numel();
  }
  s_->done = true;
  s_->work.reset(), s_->buf.clear();
}

double World::sum(double v) {
  if (!group_) return v;
  at::Tensor t = at::full({1}, v, at::TensorOptions().dtype(at::kDouble));
  all_reduce_sum({t});
  return t.item<double>();
}

std::pair<double, double> World::sum2(double a, double b) {
  if (!group_) return {a, b};
  at::Tensor t = at::tensor({a, b}, at::TensorOptions().dtype(at::kDouble));
  all_reduce_sum({t});
  return {t[0].item<double>(), t[1].item<double>()};
}

bool World::any(bool v) { return sum(v ? 1.0 : 0.0) > 0; }

void World::barrier() {
  if (!group_) return;
  collective("barrier", rank_, [&] { group_->pg->barrier(c10d::BarrierOptions{})->wait(); });
}

void World::root_first(const std::string& what, const std::function<void()>& work) {
  if (!group_) return work();
  const std::string key = "root-first/" + std::to_string(root_first_calls_++);
  if (root()) {
    try {
      work();
    } catch (const std::exception& e) {
      group_->store->set(key, std::string("failed: ") + e.what());
      throw;
    }
    collective("telling the ranks", rank_, [&] { group_->store->set(key, std::string("done")); });
    return;
  }
  bool ready = false;
  while (!ready) {
    collective(("waiting for rank 0 to " + what).c_str(), rank_, [&] { ready = group_->store->check({key}); });
    if (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  std::vector<uint8_t> v;
  collective("reading rank 0's outcome", rank_, [&] { v = group_->store->get(key); });
  const std::string outcome(v.begin(), v.end());
  if (outcome != "done")
    throw std::runtime_error("rank " + std::to_string(rank_) + ": rank 0 could not " + what + ": " + outcome.substr(8));
}

int64_t World::ticket(const std::string& name) {
  if (!group_) return local_tickets_[name]++;
  int64_t n = 0;
  collective("taking a ticket from the store", rank_, [&] { n = group_->store->add("ticket/" + name, 1); });
  return n - 1;
}

std::vector<int64_t> World::all_gather(int64_t v) {
  if (!group_) return {v};
  std::vector<int64_t> values;
  for (const auto& t : all_gather_bytes(at::full({1}, v, at::TensorOptions().dtype(at::kLong))))
    values.push_back(t.item<int64_t>());
  return values;
}

std::vector<at::Tensor> World::all_gather_bytes(const at::Tensor& bytes) {
  if (!group_) return {bytes};
  std::vector<at::Tensor> in = {staged(bytes.contiguous())};
  std::vector<std::vector<at::Tensor>> out(1);
  for (int r = 0; r < size_; ++r) out[0].push_back(at::empty_like(in[0]));
  collective("all-gather", rank_, [&] { group_->pg->allgather(out, in, c10d::AllgatherOptions{})->wait(); });
  for (auto& t : out[0]) t = t.to(bytes.device());  // back where the caller keeps it (the CPU)
  return out[0];
}

std::vector<std::vector<double>> World::all_gather_values(const std::vector<double>& values) {
  if (!group_) return {values};
  const std::vector<int64_t> counts = all_gather(static_cast<int64_t>(values.size()));
  const int64_t most = *std::max_element(counts.begin(), counts.end());
  at::Tensor mine = at::zeros({most}, at::TensorOptions().dtype(at::kDouble));
  std::copy(values.begin(), values.end(), mine.data_ptr<double>());
  const std::vector<at::Tensor> all = all_gather_bytes(mine);
  std::vector<std::vector<double>> out;
  for (size_t r = 0; r < all.size(); ++r) {
    const at::Tensor t = all[r].contiguous();
    out.emplace_back(t.data_ptr<double>(), t.data_ptr<double>() + counts[r]);
  }
  return out;
}

at::Tensor World::staged(const at::Tensor& t) const {
  return t.device() == comm_device_ ? t : t.to(comm_device_);
}

std::pair<int64_t, int64_t> shard(int64_t rows, int rank, int size) {
  return {rows * rank / size, rows * (rank + 1) / size};
}

}  // namespace mabert::dist
