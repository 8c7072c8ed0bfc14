// A small SIMT emulator: runs CUDA kernel source on the CPU, one block at a time, each CUDA
// thread a user-space fiber (ucontext) on one OS thread. It exists so that the selective-scan
// kernels (kernels/selective_scan/scan_cuda_kernels.cuh) are executed and compared with the
// reference on machines without a GPU — CI has none, and no session so far has been lent one.
//
// What it models: thread and block indices, __shared__ memory (one block runs at a time, so a
// function-local static is the block's shared memory), __syncthreads and __syncwarp, warp
// shuffles (__shfl_up_sync, __shfl_xor_sync with a width), atomicAdd, __expf.
// How: every barrier and every shuffle is a round in which each fiber of the block runs up to
// its next barrier; a shuffle is "write my value; round; read my partner's" (two buffers, used
// alternately, keep a fast thread's next write away from a slow thread's read). This needs
// barriers and shuffles to be reached by every thread of the block in the same order — the
// kernels' control flow is uniform per block by design — and the emulator checks it: a fiber
// that ends while others wait at a barrier (a divergent barrier, undefined on a GPU) fails the
// launch. What it does not model: the memory model, warp-synchronous timing, the GPU's
// approximate __expf, performance. It says the code computes the right numbers, nothing more.
#pragma once

#include <ucontext.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

struct SimtDim3 {
  unsigned x = 1, y = 1, z = 1;
};

namespace simt {

struct Fiber {
  ucontext_t ctx{};
  std::unique_ptr<char[]> stack;
  bool done = false;
  unsigned shuffles = 0;  // shuffles this thread has made: picks the exchange buffer
  SimtDim3 tid;
};
constexpr size_t kStackBytes = 64 * 1024;

struct Block {
  ucontext_t scheduler{};
  std::vector<Fiber> fibers;
  int current = -1;
  std::vector<float> exchange[2];  // one slot per thread for shuffles, double-buffered
  std::function<void()> body;
};

inline Block*& block() {
  static Block* b = nullptr;
  return b;
}
inline SimtDim3& block_idx() {
  static SimtDim3 b;
  return b;
}
inline SimtDim3& block_dim() {
  static SimtDim3 d;
  return d;
}

// Back to the scheduler until every fiber of the block has reached its next barrier.
inline void round() {
  Block* b = block();
  swapcontext(&b->fibers[b->current].ctx, &b->scheduler);
}

inline void fiber_entry() {
  Block* b = block();
  b->body();
  b->fibers[b->current].done = true;
  swapcontext(&b->fibers[b->current].ctx, &b->scheduler);
}

// getcontext/swapcontext return twice: keep them in small frames of their own.
inline void init_fiber(Fiber& f, unsigned t) {
  f.stack.reset(new char[kStackBytes]);
  f.tid = {t, 0, 0};
  getcontext(&f.ctx);
  f.ctx.uc_stack.ss_sp = f.stack.get();
  f.ctx.uc_stack.ss_size = kStackBytes;
  f.ctx.uc_link = nullptr;
  makecontext(&f.ctx, fiber_entry, 0);
}

// One round: every live fiber runs to its next barrier (or its end). Returns how many ended.
inline int run_round(Block& b) {
  int finished = 0;
  for (size_t t = 0; t < b.fibers.size(); ++t) {
    if (b.fibers[t].done) continue;
    b.current = static_cast<int>(t);
    swapcontext(&b.scheduler, &b.fibers[t].ctx);
    if (b.fibers[t].done) ++finished;
  }
  return finished;
}

// Runs `kernel` for every block of `grid` with `threads` threads per block (x only).
inline void launch(SimtDim3 grid, unsigned threads, const std::function<void()>& kernel) {
  for (unsigned by = 0; by < grid.y; ++by)
    for (unsigned bx = 0; bx < grid.x; ++bx) {
      Block b;
      struct Reset {
        ~Reset() { block() = nullptr; }
      } reset;  // also when a divergent barrier throws
      b.body = kernel;
      b.fibers.resize(threads);
      b.exchange[0].assign(threads, 0.f);
      b.exchange[1].assign(threads, 0.f);
      block() = &b;
      block_idx() = {bx, by, 0};
      block_dim() = {threads, 1, 1};
      for (unsigned t = 0; t < threads; ++t) init_fiber(b.fibers[t], t);
      // Fibers ending in different rounds means a barrier only some of them reached.
      for (;;) {
        const int finished = run_round(b);
        int live = 0;
        for (const Fiber& f : b.fibers) live += f.done ? 0 : 1;
        if (live == 0) break;
        if (finished > 0)
          throw std::runtime_error("simt: " + std::to_string(finished) + " threads of block (" + std::to_string(bx) + ", " +
                                   std::to_string(by) + ") ended while " + std::to_string(live) +
                                   " waited at a barrier (divergent barrier)");
      }
    }
}

inline unsigned lane() { return block()->fibers[block()->current].tid.x % 32; }
inline unsigned warp_base() { return block()->fibers[block()->current].tid.x - lane(); }

// Write my value, let every thread of the block write theirs (one round), read my partner's.
// Consecutive shuffles alternate buffers: a thread that runs ahead into its next shuffle writes
// the other buffer, and the one after that comes a full round later, when every thread has read.
inline float shuffle_from(float v, unsigned src_lane) {
  Block* b = block();
  Fiber& me = b->fibers[b->current];
  std::vector<float>& slots = b->exchange[me.shuffles++ % 2];
  slots[me.tid.x] = v;
  round();
  return slots[warp_base() + src_lane];
}

}  // namespace simt

// The CUDA names the kernels use.
#define threadIdx (::simt::block()->fibers[::simt::block()->current].tid)
#define blockIdx (::simt::block_idx())
#define blockDim (::simt::block_dim())
#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static

inline void __syncthreads() { simt::round(); }
inline void __syncwarp(unsigned = 0xffffffffu) { simt::round(); }
inline float __expf(float x) { return std::exp(x); }
inline float __shfl_up_sync(unsigned, float v, int delta) {
  const unsigned l = simt::lane();
  return simt::shuffle_from(v, l >= unsigned(delta) ? l - delta : l);
}
inline float __shfl_down_sync(unsigned, float v, int delta) {
  const unsigned l = simt::lane();
  return simt::shuffle_from(v, l + unsigned(delta) < 32 ? l + delta : l);
}
inline float __shfl_xor_sync(unsigned, float v, int mask, int width = 32) {
  const unsigned l = simt::lane();
  const unsigned seg = l - l % unsigned(width);
  return simt::shuffle_from(v, seg + ((l - seg) ^ unsigned(mask)) % unsigned(width));
}
// Fibers of one OS thread never interleave inside this: a plain add is atomic here.
inline float atomicAdd(float* p, float v) {
  const float old = *p;
  *p = old + v;
  return old;
}
