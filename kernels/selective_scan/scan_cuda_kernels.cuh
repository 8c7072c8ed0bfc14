// The selective-scan CUDA kernels themselves (see scan_cuda.cu for the design), in a header so
// that the same source also runs on the CPU under the SIMT emulator of the tests
// (tests/kernels/simt_emulator.h): nvcc sees CUDA's intrinsics, the emulator provides its own
// __syncthreads, shuffles, atomics and thread indices. No includes here on purpose: the includer
// provides CudaScanParams/CudaScanGrads (scan_cuda.h) and the intrinsics.
#pragma once

namespace mabert::kernels::cuda {

constexpr int kChannels = 8;

__device__ __forceinline__ float load(const float* p, int64_t i) { return p[i]; }
__device__ __forceinline__ void store(float* p, int64_t i, float v) { p[i] = v; }
#ifdef __CUDACC__
__device__ __forceinline__ float load(const __nv_bfloat16* p, int64_t i) { return __bfloat162float(p[i]); }
__device__ __forceinline__ float load(const __half* p, int64_t i) { return __half2float(p[i]); }
__device__ __forceinline__ void store(__nv_bfloat16* p, int64_t i, float v) { p[i] = __float2bfloat16(v); }
__device__ __forceinline__ void store(__half* p, int64_t i, float v) { p[i] = __float2half(v); }
#endif

__device__ __forceinline__ float softplus_f(float v) { return v > 20.f ? v : log1pf(__expf(v)); }
__device__ __forceinline__ float sigmoid_f(float v) { return 1.f / (1.f + __expf(-v)); }

template <int kLanes>
__device__ __forceinline__ float group_sum(float v) {
#pragma unroll
  for (int off = kLanes / 2; off > 0; off /= 2) v += __shfl_xor_sync(0xffffffffu, v, off, kLanes);
  return v;
}

// Chunk k in scan order covers memory times [t_lo, t_lo + len).
__device__ __forceinline__ void chunk_range(int64_t L, int k, bool reverse, int64_t& t_lo, int& len) {
  if (!reverse) {
    t_lo = int64_t(k) * kChunk;
    len = int(L - t_lo < kChunk ? L - t_lo : kChunk);
  } else {
    const int64_t hi = L - int64_t(k) * kChunk;
    t_lo = hi - kChunk > 0 ? hi - kChunk : 0;
    len = int(hi - t_lo);
  }
}

// Stages u, effective Δ (and its raw pre-softplus value), z, B and C of one chunk.
template <typename T, int kLanes>
__device__ void stage_chunk(const CudaScanParams& p, int64_t b, int64_t c0, int64_t t_lo, int len,
                            float (*su)[kChunk], float (*sd)[kChunk], float (*sraw)[kChunk], float (*sz)[kChunk],
                            float (*sB)[kLanes], float (*sC)[kLanes]) {
  const int64_t L = p.length, C = p.channels, N = p.dstate;
  for (int i = threadIdx.x; i < kChannels * kChunk; i += blockDim.x) {
    const int ch = i / kChunk, j = i % kChunk;
    const int64_t c = c0 + ch;
    float u = 0.f, d = 0.f, raw = 0.f, z = 0.f;
    if (c < C && j < len) {
      const int64_t at = (b * C + c) * L + t_lo + j;
      u = load(static_cast<const T*>(p.u), at);
      raw = load(static_cast<const T*>(p.delta), at) + (p.bias ? p.bias[c] : 0.f);
      const bool pad = p.mask && p.mask[b * L + t_lo + j] == 0.f;
      d = pad ? 0.f : (p.softplus ? softplus_f(raw) : raw);
      if (pad) raw = -INFINITY;  // marks a pad step for the backward (no gradient to Δ)
      if (p.z) z = load(static_cast<const T*>(p.z), at);
    }
    su[ch][j] = u, sd[ch][j] = d, sraw[ch][j] = raw, sz[ch][j] = z;
  }
  for (int i = threadIdx.x; i < kChunk * kLanes; i += blockDim.x) {
    const int j = i / kLanes, n = i % kLanes;
    float bv = 0.f, cv = 0.f;
    if (j < len && n < N) {
      const int64_t at = (b * L + t_lo + j) * N + n;
      bv = load(static_cast<const T*>(p.B), at);
      cv = load(static_cast<const T*>(p.C), at);
    }
    sB[j][n] = bv, sC[j][n] = cv;
  }
}

template <typename T, int kLanes>
__global__ void __launch_bounds__(kChannels * kLanes) scan_fwd_kernel(CudaScanParams p) {
  __shared__ float su[kChannels][kChunk], sd[kChannels][kChunk], sraw[kChannels][kChunk], sz[kChannels][kChunk];
  __shared__ float sy[kChannels][kChunk];
  __shared__ float sB[kChunk][kLanes], sC[kChunk][kLanes];
  const int64_t b = blockIdx.y, c0 = int64_t(blockIdx.x) * kChannels;
  const int ch = threadIdx.x / kLanes, n = threadIdx.x % kLanes;
  const int64_t c = c0 + ch, L = p.length, C = p.channels, N = p.dstate;
  const bool valid = c < C && n < N;
  const float A = valid ? p.A[c * N + n] : 0.f;
  const float D = (c < C && p.D) ? p.D[c] : 0.f;
  const int chunks = int((L + kChunk - 1) / kChunk);
  float h = 0.f;
  for (int k = 0; k < chunks; ++k) {
    int64_t t_lo;
    int len;
    chunk_range(L, k, p.reverse, t_lo, len);
    __syncthreads();
    stage_chunk<T, kLanes>(p, b, c0, t_lo, len, su, sd, sraw, sz, sB, sC);
    if (p.chunk_states && valid) p.chunk_states[((b * C + c) * chunks + k) * N + n] = h;
    __syncthreads();
    for (int step = 0; step < len; ++step) {
      const int j = p.reverse ? len - 1 - step : step;
      const float d = sd[ch][j], u = su[ch][j];
      h = __expf(d * A) * h + d * u * sB[j][n];
      const float y = group_sum<kLanes>(sC[j][n] * h) + D * u;
      if (p.states && valid) p.states[((b * C + c) * L + t_lo + j) * N + n] = h;
      if (n == 0) {
        const float z = sz[ch][j];
        sy[ch][j] = p.z ? y * z * sigmoid_f(z) : y;
        if (p.delta_out && c < C) p.delta_out[(b * C + c) * L + t_lo + j] = d;
      }
    }
    __syncthreads();
    for (int i = threadIdx.x; i < kChannels * kChunk; i += blockDim.x) {
      const int chi = i / kChunk, j = i % kChunk;
      if (c0 + chi < C && j < len) store(static_cast<T*>(p.y), (b * C + c0 + chi) * L + t_lo + j, sy[chi][j]);
    }
  }
}

// ---- Time-parallel forward -------------------------------------------------------------------

constexpr int kThreads = 128;  // threads per block: one channel of one batch row
constexpr int kItems = 8;      // consecutive scan steps per thread
constexpr int kSpan = kThreads * kItems;
constexpr int kMaxN = 32;
static_assert(kChunk % kItems == 0, "chunk boundaries must fall on a thread's first item");

// The affine map h ↦ a h + b of one step, or of several composed.
struct Step {
  float a, b;
};
// x, then y.
__device__ __forceinline__ Step then(Step x, Step y) { return {x.a * y.a, y.a * x.b + y.b}; }
__device__ __forceinline__ Step shfl_up(Step x, int off) {
  return {__shfl_up_sync(0xffffffffu, x.a, off), __shfl_up_sync(0xffffffffu, x.b, off)};
}
__device__ __forceinline__ Step shfl_down(Step x, int off) {
  return {__shfl_down_sync(0xffffffffu, x.a, off), __shfl_down_sync(0xffffffffu, x.b, off)};
}

// The maps of every earlier thread of the block composed in time order (identity for thread 0).
// Every thread must call it; `totals` is kThreads/32 Steps of shared memory, free again on return.
__device__ __forceinline__ Step exclusive_prefix(Step mine, Step* totals) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  Step inc = mine;
#pragma unroll
  for (int off = 1; off < 32; off *= 2) {
    const Step o = shfl_up(inc, off);
    if (lane >= off) inc = then(o, inc);
  }
  if (lane == 31) totals[warp] = inc;
  __syncthreads();
  Step before{1.f, 0.f};
  for (int w = 0; w < warp; ++w) before = then(before, totals[w]);
  const Step prev = shfl_up(inc, 1);
  if (lane > 0) before = then(before, prev);
  __syncthreads();
  return before;
}

// The maps of every later thread composed latest first (identity for the last thread): what
// a quantity flowing backwards in time goes through before it reaches this thread's items.
__device__ __forceinline__ Step exclusive_suffix(Step mine, Step* totals) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  Step inc = mine;
#pragma unroll
  for (int off = 1; off < 32; off *= 2) {
    const Step o = shfl_down(inc, off);
    if (lane + off < 32) inc = then(o, inc);
  }
  if (lane == 0) totals[warp] = inc;
  __syncthreads();
  Step after{1.f, 0.f};
  for (int w = kThreads / 32 - 1; w > warp; --w) after = then(after, totals[w]);
  const Step next = shfl_down(inc, 1);
  if (lane < 31) after = then(after, next);
  __syncthreads();
  return after;
}

// The sum of v over the block, in every thread. `scratch`: kThreads/32 floats of shared memory.
__device__ __forceinline__ float block_sum(float v, float* scratch) {
#pragma unroll
  for (int off = 16; off > 0; off /= 2) v += __shfl_xor_sync(0xffffffffu, v, off);
  if (threadIdx.x % 32 == 0) scratch[threadIdx.x / 32] = v;
  __syncthreads();
  float total = 0.f;
  for (int w = 0; w < kThreads / 32; ++w) total += scratch[w];
  __syncthreads();
  return total;
}

// What a block of the parallel kernels works on: one channel c of one batch row b, and, per
// pass, this thread's kItems consecutive scan steps from `first` on.
template <typename T>
struct ChannelRow {
  const CudaScanParams& p;
  int64_t c, b, L, C, N, row, chunks;
  float D, bias;
  const T *Bnl, *Cnl;  // this batch row's B and C, {N, L}
  int64_t first = 0;   // this thread's first scan step in the current pass
  int valid = 0;       // how many of its items are before the end (the rest are identity steps)

  __device__ explicit ChannelRow(const CudaScanParams& params)
      : p(params), c(blockIdx.x), b(blockIdx.y), L(params.length), C(params.channels), N(params.dstate),
        row((b * C + c) * L), chunks((L + kChunk - 1) / kChunk), D(params.D ? params.D[c] : 0.f),
        bias(params.bias ? params.bias[c] : 0.f), Bnl(static_cast<const T*>(params.B_nl) + b * N * L),
        Cnl(static_cast<const T*>(params.C_nl) + b * N * L) {}

  __device__ void start_pass(int64_t s0) {
    first = s0 + int64_t(threadIdx.x) * kItems;
    valid = int(L - first < kItems ? (L - first > 0 ? L - first : 0) : kItems);
  }
  __device__ int64_t time_of(int i) const { return p.reverse ? L - 1 - (first + i) : first + i; }  // memory time of item i
  __device__ float B(int n, int i) const { return load(Bnl, n * L + time_of(i)); }
  __device__ float Cm(int n, int i) const { return load(Cnl, n * L + time_of(i)); }
  __device__ float chunk_state(int64_t s, int n) const { return p.chunk_states[((b * C + c) * chunks + s / kChunk) * N + n]; }
  __device__ float& chunk_state(int64_t s, int n) { return p.chunk_states[((b * C + c) * chunks + s / kChunk) * N + n]; }

  // u and the effective Δ of item i (Δ = 0 on a pad); `slope`, when given, gets softplus′ (0 on pads).
  __device__ void load_step(int i, float& u, float& d, float* slope = nullptr) const {
    const int64_t t = time_of(i);
    u = load(static_cast<const T*>(p.u), row + t);
    const float raw = load(static_cast<const T*>(p.delta), row + t) + bias;
    const bool pad = p.mask && p.mask[b * L + t] == 0.f;
    d = pad ? 0.f : (p.softplus ? softplus_f(raw) : raw);
    if (slope) *slope = pad ? 0.f : (p.softplus ? sigmoid_f(raw) : 1.f);
  }
};

template <typename T>
__global__ void __launch_bounds__(kThreads, 8) scan_fwd_parallel_kernel(CudaScanParams p) {
  __shared__ Step totals[kThreads / 32];
  __shared__ float carry[kMaxN];  // the state after the previous pass, per n
  ChannelRow<T> r(p);
  if (threadIdx.x < kMaxN) carry[threadIdx.x] = 0.f;
  __syncthreads();

  for (int64_t s0 = 0; s0 < r.L; s0 += kSpan) {
    r.start_pass(s0);
    float u[kItems], d[kItems], y[kItems];
#pragma unroll
    for (int i = 0; i < kItems; ++i) {
      u[i] = d[i] = 0.f;
      if (i < r.valid) {
        r.load_step(i, u[i], d[i]);
        if (p.delta_out) p.delta_out[r.row + r.time_of(i)] = d[i];
      }
      y[i] = r.D * u[i];
    }
    for (int n = 0; n < r.N; ++n) {
      const float A = p.A[r.c * r.N + n];
      float a[kItems], inj[kItems];
      Step mine{1.f, 0.f};
#pragma unroll
      for (int i = 0; i < kItems; ++i) {
        a[i] = i < r.valid ? __expf(d[i] * A) : 1.f;
        inj[i] = i < r.valid ? d[i] * u[i] * r.B(n, i) : 0.f;
        mine = then(mine, Step{a[i], inj[i]});
      }
      const Step before = exclusive_prefix(mine, totals);  // everything before this thread in this pass
      float h = before.a * carry[n] + before.b;             // the state before this thread's first item
      if (p.chunk_states && r.first < r.L && r.first % kChunk == 0) r.chunk_state(r.first, n) = h;
#pragma unroll
      for (int i = 0; i < kItems; ++i) {
        h = a[i] * h + inj[i];
        if (i < r.valid) {
          y[i] += r.Cm(n, i) * h;
          if (p.states) p.states[(r.row + r.time_of(i)) * r.N + n] = h;
        }
      }
      __syncthreads();  // every thread has read carry[n]
      if (threadIdx.x == kThreads - 1) carry[n] = h;  // past-the-end items are identities
    }
#pragma unroll
    for (int i = 0; i < kItems; ++i) {
      if (i >= r.valid) continue;
      const int64_t t = r.time_of(i);
      float out = y[i];
      if (p.z) {
        const float z = load(static_cast<const T*>(p.z), r.row + t);
        out *= z * sigmoid_f(z);
      }
      store(static_cast<T*>(p.y), r.row + t, out);
    }
  }
}

// ---- Time-parallel backward ------------------------------------------------------------------
//
// The same layout as the parallel forward, walking the passes in reverse scan order. Per state
// n: the forward maps are scanned again from the pass's saved chunk state to recompute h before
// each step; then the gradient flowing back along time is scanned the other way. With
// G_s = ∂/∂h_s (everything after s included) and E_s = a_s G_s (what step s hands to s − 1),
//   G_s = C_s dy_s + E_{s+1},   E_s = a_s E_{s+1} + a_s C_s dy_s,
// so step s is the map E_{s+1} ↦ a_s E_{s+1} + a_s C_s dy_s, composed latest first. From G_s
// and h: dC_s += dy_s h_s, dB_s += G_s Δ_s u_s (both summed over channels by atomics), dA_n +=
// G_s a_s h_{s−1} Δ_s, dΔ_s += G_s (A_n a_s h_{s−1} + u_s B_s), du_s = D dy_s + Δ_s Σ_n G_s B_s.

template <typename T>
__global__ void __launch_bounds__(kThreads) scan_bwd_parallel_kernel(CudaScanParams p, CudaScanGrads g) {
  __shared__ Step totals[kThreads / 32];
  __shared__ float scratch[kThreads / 32];
  __shared__ float carry[kMaxN];  // E entering the pass from the next one, per n
  ChannelRow<T> r(p);
  if (threadIdx.x < kMaxN) carry[threadIdx.x] = 0.f;
  float dD = 0.f, dbias = 0.f;  // this thread's shares
  __syncthreads();

  for (int64_t s0 = (r.L - 1) / kSpan * kSpan; s0 >= 0; s0 -= kSpan) {
    r.start_pass(s0);
    float u[kItems], d[kItems], slope[kItems], dy[kItems], ypre[kItems], dd[kItems], dub[kItems];
#pragma unroll
    for (int i = 0; i < kItems; ++i) {
      u[i] = d[i] = slope[i] = dy[i] = 0.f;
      if (i < r.valid) {
        r.load_step(i, u[i], d[i], &slope[i]);
        const int64_t t = r.time_of(i);
        dy[i] = load(static_cast<const T*>(g.dout), r.row + t);
        if (p.z) {
          const float z = load(static_cast<const T*>(p.z), r.row + t);
          dy[i] *= z * sigmoid_f(z);
        }
      }
      ypre[i] = r.D * u[i];
      dd[i] = dub[i] = 0.f;
    }
    for (int n = 0; n < r.N; ++n) {
      const float A = p.A[r.c * r.N + n];
      float a[kItems], hprev[kItems];
      Step mine{1.f, 0.f};
#pragma unroll
      for (int i = 0; i < kItems; ++i) {
        a[i] = i < r.valid ? __expf(d[i] * A) : 1.f;
        mine = then(mine, Step{a[i], i < r.valid ? d[i] * u[i] * r.B(n, i) : 0.f});
      }
      const Step before = exclusive_prefix(mine, totals);
      float h = before.a * r.chunk_state(s0, n) + before.b;
#pragma unroll
      for (int i = 0; i < kItems; ++i) {
        hprev[i] = h;
        if (i < r.valid) {
          h = a[i] * h + d[i] * u[i] * r.B(n, i);
          ypre[i] += r.Cm(n, i) * h;
        }
      }
      Step back{1.f, 0.f};  // this thread's backward map, latest step first
#pragma unroll
      for (int i = kItems - 1; i >= 0; --i) {
        const float cdy = i < r.valid ? r.Cm(n, i) * dy[i] : 0.f;
        back = then(back, Step{a[i], a[i] * cdy});
      }
      const Step after = exclusive_suffix(back, totals);
      float E = after.a * carry[n] + after.b;  // E_{s+1} for this thread's last step
      float dA = 0.f;
#pragma unroll
      for (int i = kItems - 1; i >= 0; --i) {
        if (i >= r.valid) continue;  // past the end: identity steps
        const int64_t at = (r.b * r.L + r.time_of(i)) * r.N + n;
        const float Bv = r.B(n, i), G = r.Cm(n, i) * dy[i] + E;
        const float ahp = a[i] * hprev[i];
        atomicAdd(g.dC + at, dy[i] * (ahp + d[i] * u[i] * Bv));
        atomicAdd(g.dB + at, G * d[i] * u[i]);
        dA += G * ahp * d[i];
        dd[i] += G * (A * ahp + u[i] * Bv);
        dub[i] += G * Bv;
        E = a[i] * G;
      }
      const float dA_block = block_sum(dA, scratch);  // also: every thread has read carry[n]
      if (threadIdx.x == 0) {
        atomicAdd(g.dA + r.c * r.N + n, dA_block);
        carry[n] = E;  // E at the pass's first step, for the pass before it
      }
    }
#pragma unroll
    for (int i = 0; i < kItems; ++i) {
      if (i >= r.valid) continue;
      const int64_t at = r.row + r.time_of(i);
      const float dv = dd[i] * slope[i];
      dbias += dv;
      dD += dy[i] * u[i];
      store(static_cast<T*>(g.du), at, dy[i] * r.D + d[i] * dub[i]);
      store(static_cast<T*>(g.ddelta), at, dv);
      if (p.z && g.dz) {
        const float z = load(static_cast<const T*>(p.z), at), sg = sigmoid_f(z);
        const float go = load(static_cast<const T*>(g.dout), at);
        store(static_cast<T*>(g.dz), at, go * ypre[i] * sg * (1.f + z * (1.f - sg)));
      }
    }
    __syncthreads();  // carry[] written by thread 0 is read by every thread in the next pass
  }
  const float dD_block = block_sum(dD, scratch), dbias_block = block_sum(dbias, scratch);
  if (threadIdx.x == 0) {
    if (g.dD) atomicAdd(g.dD + r.c, dD_block);
    if (g.dbias) atomicAdd(g.dbias + r.c, dbias_block);
  }
}

// ---- Backward, chunk-sequential ------------------------------------------------------------

template <typename T, int kLanes>
__global__ void __launch_bounds__(kChannels * kLanes) scan_bwd_kernel(CudaScanParams p, CudaScanGrads g) {
  // sraw holds the raw Δ and then ddelta; sz holds z and then dz; sgo holds dout and then du.
  __shared__ float su[kChannels][kChunk], sd[kChannels][kChunk], sraw[kChannels][kChunk], sz[kChannels][kChunk];
  __shared__ float sgo[kChannels][kChunk];
  __shared__ float sB[kChunk][kLanes], sC[kChunk][kLanes], sdB[kChunk][kLanes], sdC[kChunk][kLanes];
  const int64_t b = blockIdx.y, c0 = int64_t(blockIdx.x) * kChannels;
  const int ch = threadIdx.x / kLanes, n = threadIdx.x % kLanes;
  const int64_t c = c0 + ch, L = p.length, C = p.channels, N = p.dstate;
  const bool valid = c < C && n < N;
  const float A = valid ? p.A[c * N + n] : 0.f;
  const float D = (c < C && p.D) ? p.D[c] : 0.f;
  const int chunks = int((L + kChunk - 1) / kChunk);
  float dh = 0.f, dA = 0.f, dD = 0.f, dbias = 0.f;
  for (int k = chunks - 1; k >= 0; --k) {
    int64_t t_lo;
    int len;
    chunk_range(L, k, p.reverse, t_lo, len);
    __syncthreads();
    stage_chunk<T, kLanes>(p, b, c0, t_lo, len, su, sd, sraw, sz, sB, sC);
    for (int i = threadIdx.x; i < kChannels * kChunk; i += blockDim.x) {
      const int chi = i / kChunk, j = i % kChunk;
      sgo[chi][j] = (c0 + chi < C && j < len) ? load(static_cast<const T*>(g.dout), (b * C + c0 + chi) * L + t_lo + j) : 0.f;
    }
    for (int i = threadIdx.x; i < kChunk * kLanes; i += blockDim.x) sdB[i / kLanes][i % kLanes] = sdC[i / kLanes][i % kLanes] = 0.f;
    __syncthreads();

    // Recompute this chunk's states (hs[s] = state after step s − 1) and the readout before the gate.
    float hs[kChunk + 1];
    float ypre[kChunk];
    hs[0] = valid ? p.chunk_states[((b * C + c) * chunks + k) * N + n] : 0.f;
#pragma unroll
    for (int step = 0; step < kChunk; ++step) {
      if (step < len) {
        const int j = p.reverse ? len - 1 - step : step;
        const float d = sd[ch][j], u = su[ch][j];
        hs[step + 1] = __expf(d * A) * hs[step] + d * u * sB[j][n];
        ypre[step] = group_sum<kLanes>(sC[j][n] * hs[step + 1]) + D * u;
      } else {
        hs[step + 1] = hs[step];
        ypre[step] = 0.f;
      }
    }
    // Reverse sweep.
#pragma unroll
    for (int step = kChunk - 1; step >= 0; --step) {
      if (step < len) {
        const int j = p.reverse ? len - 1 - step : step;
        const float d = sd[ch][j], u = su[ch][j], go = sgo[ch][j];
        float dy = go, dz = 0.f;
        if (p.z) {
          const float z = sz[ch][j], sg = sigmoid_f(z);
          dy = go * z * sg;
          dz = go * ypre[step] * sg * (1.f + z * (1.f - sg));
        }
        const float a = __expf(d * A);
        const float dhn = dh + dy * sC[j][n];
        const float ahp = a * hs[step];
        if (valid) {
          atomicAdd(&sdC[j][n], dy * hs[step + 1]);
          atomicAdd(&sdB[j][n], dhn * d * u);
        }
        dA += dhn * ahp * d;
        const float dd = group_sum<kLanes>(dhn * (A * ahp + u * sB[j][n]));
        const float dub = group_sum<kLanes>(dhn * sB[j][n]);
        dh = a * dhn;
        // Every lane has read sraw/sz/sgo for this step before lane 0 overwrites them below.
        __syncwarp();
        if (n == 0) {
          const float raw = sraw[ch][j];
          const bool pad = raw == -INFINITY;
          const float dv = pad ? 0.f : (p.softplus ? dd * sigmoid_f(raw) : dd);
          dD += dy * u;
          dbias += dv;
          sraw[ch][j] = dv;
          sz[ch][j] = dz;
          sgo[ch][j] = dy * D + d * dub;
        }
      }
    }
    __syncthreads();
    for (int i = threadIdx.x; i < kChannels * kChunk; i += blockDim.x) {
      const int chi = i / kChunk, j = i % kChunk;
      if (c0 + chi < C && j < len) {
        const int64_t at = (b * C + c0 + chi) * L + t_lo + j;
        store(static_cast<T*>(g.du), at, sgo[chi][j]);
        store(static_cast<T*>(g.ddelta), at, sraw[chi][j]);
        if (g.dz) store(static_cast<T*>(g.dz), at, sz[chi][j]);
      }
    }
    for (int i = threadIdx.x; i < kChunk * kLanes; i += blockDim.x) {
      const int j = i / kLanes, nn = i % kLanes;
      if (j < len && nn < N) {
        const int64_t at = (b * L + t_lo + j) * N + nn;
        atomicAdd(g.dB + at, sdB[j][nn]);
        atomicAdd(g.dC + at, sdC[j][nn]);
      }
    }
  }
  if (valid) atomicAdd(g.dA + c * N + n, dA);
  if (c < C && n == 0) {
    if (g.dD) atomicAdd(g.dD + c, dD);
    if (g.dbias) atomicAdd(g.dbias + c, dbias);
  }
}

}  // namespace mabert::kernels::cuda
