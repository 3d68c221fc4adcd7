// CPU kernel for fastspike::conv_fire.
//
// Event-driven, one time step at a time: the input spikes of a sample are
// bucketed by time; at step t every input spike (c, yp, xp) of that bucket
// scatters its weight column W[:, c, i, j] into h[y, x, :] for the outputs it
// reaches, then P[t] = P[t-1] + h and the first crossings are recorded. Within
// a bucket inputs are visited in (c, yp, xp) ascending order, so each output's
// h[t] accumulates in (c, i, j) ascending order: per neuron exactly the fp32
// additions, in the same order, of the CUDA kernel's histogram + prefix sum.
// The cost is (input spikes x kh*kw x F) instead of the dense
// T x F x C x kh*kw per position, and the working set is two [H, W, F] maps.
#include "fastspike/checks.h"
#include "fastspike/math.h"
#include "fastspike/neuron.h"

#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <torch/library.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace fastspike {
namespace {

// Integrates one sample for the features [f0, f0 + fc): per time step, scatter
// the weight columns of that step's input spikes into h, then P += h and record
// the first crossings. spikes holds the sample's input neurons (c*Hp*Wp + yp*Wp
// + xp) bucketed by time, [bucket_start[t], bucket_start[t+1]) for step t.
// Outputs, laid out [H*W, fc]: first (T = never), v (P at the first spike),
// acc (P[T-1]); po, when given, receives P[t] as [T, F, H*W].
FASTSPIKE_CPU_CLONES
void integrate_sample_scatter(const ConvGeometry& g, int64_t T, const int32_t* spikes,
                      const int32_t* bucket_start, const float* wc, int64_t w_stride, int64_t f0, int64_t fc,
                      bool has_th, float th, float* __restrict__ h, float* __restrict__ acc,
                      float* __restrict__ v, int32_t* __restrict__ first, int32_t* __restrict__ mark,
                      int32_t* __restrict__ touched, float* po) {
  const int64_t HW = g.H * g.W, n = HW * fc;
  const int32_t never = static_cast<int32_t>(T);
  for (int64_t e = 0; e < n; ++e) {
    h[e] = 0.f;
    acc[e] = 0.f;
    v[e] = 0.f;
    first[e] = never;
  }
  for (int64_t pos = 0; pos < HW; ++pos) mark[pos] = -1;
  for (int64_t t = 0; t < T; ++t) {
    const int32_t e0 = bucket_start[t], e1 = bucket_start[t + 1];
    if (e0 < e1) {
      // h[t] = sum of the weights of the inputs that fire at t, in (c, i, j) order;
      // the output positions reached are listed once each in `touched`.
      const int32_t tt = static_cast<int32_t>(t);
      int64_t n_touched = 0;
      for (int32_t e = e0; e < e1; ++e) {
        const int64_t in = spikes[e];
        const int64_t c = in / (g.Hp * g.Wp), yp = (in / g.Wp) % g.Hp, xp = in % g.Wp;
        const int64_t i_lo = std::max<int64_t>(0, yp - g.H + 1), i_hi = std::min<int64_t>(g.kh - 1, yp);
        const int64_t j_lo = std::max<int64_t>(0, xp - g.W + 1), j_hi = std::min<int64_t>(g.kw - 1, xp);
        for (int64_t i = i_lo; i <= i_hi; ++i) {
          for (int64_t j = j_lo; j <= j_hi; ++j) {
            const int64_t pos = (yp - i) * g.W + (xp - j);
            if (mark[pos] != tt) {
              mark[pos] = tt;
              touched[n_touched++] = static_cast<int32_t>(pos);
            }
            float* __restrict__ hp = h + pos * fc;
            const float* __restrict__ wr = wc + ((c * g.kh + i) * g.kw + j) * w_stride + f0;
            for (int64_t f = 0; f < fc; ++f) hp[f] += wr[f];
          }
        }
      }
      // P[t] = P[t-1] + h[t] where h[t] != 0; the first t with P[t] > threshold is
      // the spike. (Untouched positions, and steps without input spikes, add 0
      // and change nothing.)
      for (int64_t k = 0; k < n_touched; ++k) {
        const int64_t base = static_cast<int64_t>(touched[k]) * fc;
        float* __restrict__ hp = h + base;
        float* __restrict__ ap = acc + base;
        if (has_th) {
          float* __restrict__ vp = v + base;
          int32_t* __restrict__ fp = first + base;
          for (int64_t f = 0; f < fc; ++f) {
            const float a = ap[f] + hp[f];
            hp[f] = 0.f;
            ap[f] = a;
            const bool cross = neuron::if_fires(fp[f] == never, a, th);
            fp[f] = cross ? tt : fp[f];
            vp[f] = cross ? a : vp[f];
          }
        } else {
          for (int64_t f = 0; f < fc; ++f) {
            ap[f] += hp[f];
            hp[f] = 0.f;
          }
        }
      }
    }
    if (po) {
      for (int64_t f = 0; f < std::min(fc, g.F - f0); ++f)
        for (int64_t pos = 0; pos < HW; ++pos) po[(t * g.F + f0 + f) * HW + pos] = acc[pos * fc + f];
    }
  }
}

// ---------------------------------------------------------------------------
// Gather path (T <= 255), one output position at a time. The receptive field's
// input times, one byte each in (c, i, j) order, are compared with every step t
// to give bit masks; for each step that has inputs, the weight rows of the set
// bits (ascending bit = ascending (c, i, j)) are summed into h in vector
// registers, then P += h and the first crossing is recorded. Per neuron these are
// exactly the fp32 additions, in the same order, of the scatter path above and
// of the CUDA kernel; but nothing is read or written outside L1 except the
// weight rows, where the scatter path read-modify-writes an [H*W, F] map in L2.
namespace gather {

constexpr int64_t kBlock = 32;  // features per block
constexpr int64_t kTile = 8;    // output positions per program tile

// The kernel's paths, for the debug op _conv_fire_debug (forced path, per-path
// task counts). kAuto: chosen from the shapes and the thread count, as in
// production; the others are what ran (or what is forced; kRowsExit and kRows
// are the same code, with and without the early exit).
enum Path : int { kAuto = -1, kScatter = 0, kRowsExit = 1, kRows = 2, kWide = 3, kDirect = 4, kTiles = 5, kPaths = 6 };

struct Task {
  const ConvGeometry* g;
  int64_t T, K, nw, Fp, f0, f1;
  const uint8_t* u;   // the sample's input times as bytes, [C, Hp, Wp] + 8 bytes slack, >= T = never
  const float* wt;    // [Fp / 32][K + 1][32] weight rows by feature block; row K is zero
  bool has_th;
  float th;
  uint8_t* rf;        // [nw * 64 + 8] scratch, padded with 0xFF
  uint64_t* masks;    // [(T + 1) * nw] scratch
  std::vector<int32_t>* prog;   // scratch: the positions' programs
  std::vector<int32_t>* offs;   // [kTile * K] scratch
  std::vector<int32_t>* pairs;  // scratch
  std::vector<int32_t>* present;  // scratch
  int64_t* prog_start;          // [tiles]
  float* hbuf;                  // [(kTile * T + 1) * 32] scratch
  int32_t* first;     // [H*W, f1 - f0] outputs
  float* v;
  float* acc;
  float* po;          // [T, F, H*W] of this sample, or nullptr
  // run_rows scratch (nullptr when the rows are wider than 64 inputs)
  uint64_t* rowbits;  // [C * Hp * T]
  float* row_h;       // [(W + 2 (kw - 1)) * 32]
                      // row_acc, row_v, row_first: [W * 32] each
  float* row_acc;
  float* row_v;
  int32_t* row_first;
  // run_wide: the receptive field in segments of `seg` bytes per (c, i) input row
  // (seg = 4 when kw <= 4, bytes j >= kw never fire; else seg = kw, packed), so
  // input k' = (c * kh + i) * seg + j; Kw = C * kh * seg inputs in nww mask words
  int64_t seg, Kw, nww;
  const float* wrow;  // [Kw][Fp] weight rows, features innermost (an event's blocks are contiguous)
  int force;          // a Path: kAuto, or the gather path to take (run checks it can)
};

namespace generic {
#define FASTSPIKE_GATHER_ISA 0
#include "conv_fire_gather.inc"
#undef FASTSPIKE_GATHER_ISA
}  // namespace generic

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define FASTSPIKE_GATHER_X86 1
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,bmi")
namespace avx512 {
#define FASTSPIKE_GATHER_ISA 512
#include "conv_fire_gather.inc"
#undef FASTSPIKE_GATHER_ISA
}  // namespace avx512
#pragma GCC pop_options
#pragma GCC push_options
#pragma GCC target("avx2,bmi")
namespace avx2 {
#define FASTSPIKE_GATHER_ISA 256
#include "conv_fire_gather.inc"
#undef FASTSPIKE_GATHER_ISA
}  // namespace avx2
#pragma GCC pop_options
#endif

using RunFn = int (*)(const Task&);
using WriteFn = void (*)(const int32_t*, const float*, int64_t, int64_t, int64_t, int64_t, uint8_t*, int16_t*, float*);
struct Impl {
  RunFn run;
  WriteFn write_outputs;
};
// The best build the CPU runs, or the one FASTSPIKE_CPU_ISA names (generic, avx2 or
// avx512; read once per process): the tests run every build on one machine with it.
Impl select_impl() {
  const char* env = std::getenv("FASTSPIKE_CPU_ISA");
  const std::string want = env ? env : "";
  TORCH_CHECK(want.empty() || want == "generic" || want == "avx2" || want == "avx512",
              "FASTSPIKE_CPU_ISA: expected generic, avx2 or avx512, got '", want, "'");
  if (want == "generic") return {&generic::run, &generic::write_outputs};
#ifdef FASTSPIKE_GATHER_X86
  __builtin_cpu_init();
  const bool has512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
  const bool has2 = __builtin_cpu_supports("avx2");
  TORCH_CHECK(want != "avx512" || has512, "FASTSPIKE_CPU_ISA: this CPU has no AVX-512");
  TORCH_CHECK(want != "avx2" || has2, "FASTSPIKE_CPU_ISA: this CPU has no AVX2");
  if (want == "avx2") return {&avx2::run, &avx2::write_outputs};
  if (has512) return {&avx512::run, &avx512::write_outputs};
  if (has2) return {&avx2::run, &avx2::write_outputs};
#else
  TORCH_CHECK(want.empty(), "FASTSPIKE_CPU_ISA: this build has only the generic code");
#endif
  return {&generic::run, &generic::write_outputs};
}

// Debug state: the forced path (kAuto in production) and the tasks (sample x
// feature chunk) each path ran since the last _conv_fire_debug call.
std::atomic<int> forced_path{kAuto};
std::atomic<int64_t> path_tasks[kPaths];

}  // namespace gather

// _conv_fire_debug(force): forces the CPU kernel's path for later calls ("auto",
// "scatter", "rows", "wide", "direct" or "tiles"; "" leaves it as it is) and
// returns, then resets, the number of tasks each path ran since the last call:
// [scatter, rows with early exit, rows, wide, direct, tiles]. For the tests,
// which assert the path each case took.
std::vector<int64_t> conv_fire_debug(const std::string& force) {
  static const char* names[] = {"scatter", "rows", "wide", "direct", "tiles"};
  static const int ids[] = {gather::kScatter, gather::kRows, gather::kWide, gather::kDirect, gather::kTiles};
  if (force == "auto") {
    gather::forced_path = gather::kAuto;
  } else if (!force.empty()) {
    int id = -2;
    for (int i = 0; i < 5; ++i)
      if (force == names[i]) id = ids[i];
    TORCH_CHECK(id != -2, "force: expected '', auto, scatter, rows, wide, direct or tiles, got '", force, "'");
    gather::forced_path = id;
  }
  std::vector<int64_t> counts(gather::kPaths);
  for (int i = 0; i < gather::kPaths; ++i) counts[i] = gather::path_tasks[i].exchange(0);
  return counts;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> conv_fire_cpu(const at::Tensor& times_in,
                                                             const at::Tensor& weight, int64_t T,
                                                             std::optional<double> threshold,
                                                             bool return_potentials,
                                                             bool return_values) {
  const auto g = check_conv(times_in, weight, T);
  check_threshold(threshold);
  const auto w = weight.contiguous();
  {
    const float* wp = w.const_data_ptr<float>();
    const int64_t n = w.numel();
    for (int64_t e = 0; e < n; ++e)
      TORCH_CHECK(math::valid_weight(wp[e]), "weight: expected finite, non-negative weights (the "
                  "integrate-and-fire convolution assumes non-decreasing potentials), got ", wp[e],
                  " at flat index ", e);
  }
  auto times = at::empty({g.B, g.F, g.H, g.W}, times_in.options());
  auto values = return_values ? at::empty({g.B, g.F, g.H, g.W}, times_in.options().dtype(at::kFloat))  // all written
                              : at::empty({0}, times_in.options().dtype(at::kFloat));
  auto potentials = return_potentials
                        ? at::empty({g.B, T, g.F, g.H, g.W}, values.options())
                        : at::empty({0}, values.options());
  if (g.B == 0) return {times, values, potentials};
  const auto tin = times_in.contiguous();
  // Bytes are enough for the times when T <= 255: the gather path.
  const int force = gather::forced_path.load();
  // the wide path returns only first crossings (its early exit): a threshold, no potentials out
  const bool wide_ok = threshold.has_value() && !return_potentials;
  TORCH_CHECK(force == gather::kAuto || force == gather::kScatter || T <= 255,
              "conv_fire: the forced gather path needs T <= 255, got T = ", T);
  TORCH_CHECK(force != gather::kWide || wide_ok,
              "conv_fire: the forced wide path needs a threshold and return_potentials=False");
  const bool use_gather = T <= 255 && force != gather::kScatter;
  static const gather::Impl impl = gather::select_impl();
  const int64_t K = g.C * g.kh * g.kw, nw = (K + 63) / 64;
  const int64_t seg = g.kw <= 4 ? 4 : g.kw, Kw = g.C * g.kh * seg, nww = (Kw + 63) / 64;
  // Weight rows with the output feature innermost, zero-padded to a multiple of
  // the block width so the vector loops have no remainder. Scatter path:
  // wt[k][Fp], blocks of 16. Gather path: blocks of 32 features, each block's
  // rows contiguous (it is read from L1 for every position) plus a zero row:
  // wt[Fp / 32][K + 1][32].
  const int64_t kLanes = use_gather ? gather::kBlock : 16;
  auto round_up = [](int64_t a, int64_t m) { return (a + m - 1) / m * m; };
  const int64_t Fp = round_up(g.F, kLanes);
  const int64_t HW = g.H * g.W;
  TORCH_CHECK(g.C * g.Hp * g.Wp < (int64_t(1) << 31), "times_in: too many input neurons per sample");
  // Split the features so that small batches still use every thread.
  const int64_t threads = at::get_num_threads();
  // (a forced path: one block per chunk for rows and direct, one chunk for wide and tiles)
  const bool one_block = force == gather::kRows || force == gather::kDirect;
  const bool one_chunk = force == gather::kWide || force == gather::kTiles;
  TORCH_CHECK(force != gather::kRows || g.Wp <= 64,
              "conv_fire: the forced rows path needs padded rows of at most 64 inputs, got ", g.Wp);
  const int64_t chunks = one_block   ? Fp / kLanes
                         : one_chunk ? 1
                                     : std::min<int64_t>(Fp / kLanes, std::max<int64_t>(1, (threads + g.B - 1) / g.B));
  const int64_t fc_max = round_up((Fp + chunks - 1) / chunks, kLanes);
  // Which gather layouts the tasks read (see gather::run): several blocks with a
  // threshold and no potentials out -> wrow (run_wide); otherwise wt. Only those
  // are built (a batch-of-one call otherwise spends most of its time on them).
  const int64_t fc_last = Fp - (chunks - 1) * fc_max;  // <= 0: the last chunk is empty
  const bool forced = force != gather::kAuto;
  const bool need_wide = forced ? force == gather::kWide
                                : use_gather && wide_ok && (fc_max > kLanes || fc_last > kLanes);
  const bool need_blocked = forced ? force != gather::kWide
                                   : !use_gather || !wide_ok || fc_max <= kLanes || (fc_last > 0 && fc_last <= kLanes);
  at::Tensor wt, wrow;
  const auto w_rows = w.permute({1, 2, 3, 0}).reshape({K, g.F});  // [k][f]
  if (use_gather) {
    if (need_blocked) {
      auto padded = at::zeros({K, Fp}, w.options());
      padded.narrow(1, 0, g.F).copy_(w_rows);
      wt = at::zeros({Fp / kLanes, K + 1, kLanes}, w.options());
      wt.narrow(1, 0, K).copy_(padded.view({K, Fp / kLanes, kLanes}).permute({1, 0, 2}));
    }
    if (need_wide) {  // rows k' = (c * kh + i) * seg + j, zero for j >= kw (never read)
      wrow = at::zeros({g.C * g.kh, seg, Fp}, w.options());
      wrow.narrow(1, 0, g.kw).narrow(2, 0, g.F).copy_(w_rows.view({g.C * g.kh, g.kw, g.F}));
    }
  } else {
    wt = at::zeros({K, Fp}, w.options());
    wt.narrow(1, 0, g.F).copy_(w_rows);
  }
  const bool has_th = threshold.has_value();
  const float th = has_th ? static_cast<float>(*threshold) : 0.f;

  FASTSPIKE_DISPATCH_TIMES(tin.scalar_type(), "conv_fire", [&] {
    const tau_t* ti = tin.const_data_ptr<tau_t>();
    const float* wc = wt.defined() ? wt.const_data_ptr<float>() : nullptr;
    const float* wr = wrow.defined() ? wrow.const_data_ptr<float>() : nullptr;
    tau_t* to = times.mutable_data_ptr<tau_t>();
    float* vo = return_values ? values.mutable_data_ptr<float>() : nullptr;
    float* po = return_potentials ? potentials.mutable_data_ptr<float>() : nullptr;
    // tasks (sample, feature chunk) are handed out one at a time: samples differ
    // in cost (spike counts), and a static split left one thread idle at the end
    const int64_t n_tasks = g.B * chunks;
    std::atomic<int64_t> next_task{0};
    const int64_t workers = std::min<int64_t>(threads, n_tasks);
    at::parallel_for(0, workers, 1, [&](int64_t worker0, int64_t worker1) {
      ScopedFlushDenormal ftz;
      const int64_t n_max = HW * fc_max;
      std::vector<float> h(use_gather ? 0 : n_max), acc(n_max), v(n_max);
      std::vector<int32_t> first(n_max), mark(use_gather ? 0 : HW), touched(use_gather ? 0 : HW);
      // scatter path: input spikes of one sample bucketed by time, (c, yp, xp) ascending in each bucket
      std::vector<int32_t> bucket_start(T + 1), spikes(use_gather ? 0 : g.C * g.Hp * g.Wp);
      // gather path: receptive-field bytes, step masks, steps with inputs, byte copy of int16 input
      std::vector<uint8_t> rf(use_gather ? std::max(nw, nww) * 64 + 8 : 0, 0xFF);
      std::vector<uint64_t> masks(use_gather ? (T + 1) * std::max(nw, nww) : 0);
      std::vector<int32_t> prog, pairs, present, offs(use_gather ? gather::kTile * K : 0);
      std::vector<int64_t> prog_start(use_gather ? (HW + gather::kTile - 1) / gather::kTile : 0);
      std::vector<float> hbuf(use_gather ? (gather::kTile * T + 1) * gather::kBlock : 0);
      std::vector<uint8_t> bytes(use_gather ? g.C * g.Hp * g.Wp + 8 : 0);
      const bool rows_ok = use_gather && g.Wp <= 64 && fc_max <= gather::kBlock;
      std::vector<uint64_t> rowbits(rows_ok ? g.C * g.Hp * T : 0);
      std::vector<float> rowf(rows_ok ? (3 * g.W + 2 * (g.kw - 1)) * gather::kBlock : 0);
      std::vector<int32_t> rowi(rows_ok ? g.W * gather::kBlock : 0);
      int64_t prepared_b = -1;
      for (int64_t task = worker0 < worker1 ? next_task.fetch_add(1) : n_tasks; task < n_tasks;
           task = next_task.fetch_add(1)) {
        const int64_t b = task / chunks;
        const int64_t f0 = (task % chunks) * fc_max;
        const int64_t f1 = std::min(Fp, f0 + fc_max);
        if (f0 >= f1) continue;
        const int64_t fc = f1 - f0;
        const int64_t n_in = g.C * g.Hp * g.Wp;
        const tau_t* tb = ti + b * n_in;
        if (use_gather) {
          if (prepared_b != b) {  // bytes, with slack for 8-byte row loads
            if constexpr (std::is_same_v<tau_t, uint8_t>) {
              std::memcpy(bytes.data(), tb, n_in);  // values >= T never match a step
            } else {  // (negative int16 times count as 0, "already fired", as on CUDA)
              for (int64_t e = 0; e < n_in; ++e)
                bytes[e] = static_cast<uint8_t>(std::clamp<int64_t>(tb[e], 0, T));
            }
            prepared_b = b;
          }
          gather::Task k{&g, T, K, nw, Fp, f0, f1, bytes.data(), wc, has_th, th, rf.data(), masks.data(),
                         &prog, &offs, &pairs, &present, prog_start.data(), hbuf.data(), first.data(), v.data(), acc.data(),
                         po ? po + b * T * g.F * HW : nullptr,
                         rows_ok ? rowbits.data() : nullptr, rowf.data(),
                         rowf.data() + (g.W + 2 * (g.kw - 1)) * gather::kBlock,
                         rowf.data() + (2 * g.W + 2 * (g.kw - 1)) * gather::kBlock, rowi.data(),
                         seg, Kw, nww, wr, force};
          gather::path_tasks[impl.run(k)].fetch_add(1, std::memory_order_relaxed);
        } else {
          if (prepared_b != b) {  // counting sort of the sample's input spikes by time
            std::fill(bucket_start.begin(), bucket_start.end(), 0);
            auto step = [&](int64_t e) { return std::max<int64_t>(0, static_cast<int64_t>(tb[e])); };
            for (int64_t e = 0; e < n_in; ++e)
              if (tb[e] < T) ++bucket_start[step(e) + 1];
            for (int64_t t = 0; t < T; ++t) bucket_start[t + 1] += bucket_start[t];
            std::vector<int32_t> fill(bucket_start.begin(), bucket_start.end() - 1);
            for (int64_t e = 0; e < n_in; ++e)
              if (tb[e] < T) spikes[fill[step(e)]++] = static_cast<int32_t>(e);
            prepared_b = b;
          }
          integrate_sample_scatter(g, T, spikes.data(), bucket_start.data(), wc, Fp, f0, fc, has_th, th,
                                   h.data(), acc.data(), v.data(), first.data(), mark.data(), touched.data(),
                                   po ? po + b * T * g.F * HW : nullptr);
          gather::path_tasks[gather::kScatter].fetch_add(1, std::memory_order_relaxed);
        }
        // [H*W, fc] -> [F, H*W], 16 positions at a time (padding features are dropped)
        const int64_t nf = std::min(fc, g.F - f0);
        if (has_th) {
          tau_t* tf = to + (b * g.F + f0) * HW;
          constexpr bool bytes_out = std::is_same_v<tau_t, uint8_t>;
          uint8_t* t8 = bytes_out ? reinterpret_cast<uint8_t*>(tf) : nullptr;
          int16_t* t16 = bytes_out ? nullptr : reinterpret_cast<int16_t*>(tf);
          impl.write_outputs(first.data(), v.data(), HW, fc, nf, HW, t8, t16,
                             vo ? vo + (b * g.F + f0) * HW : nullptr);
          continue;
        }
        constexpr int64_t kPosTile = 16;
        for (int64_t p0 = 0; p0 < HW; p0 += kPosTile) {
          const int64_t p1 = std::min(HW, p0 + kPosTile);
          for (int64_t f = 0; f < nf; ++f) {
            tau_t* tf = to + (b * g.F + f0 + f) * HW;
            float* vf = vo ? vo + (b * g.F + f0 + f) * HW : nullptr;
            for (int64_t pos = p0; pos < p1; ++pos) {
              const int64_t e = pos * fc + f;
              const bool fires = acc[e] > 0.f;
              tf[pos] = static_cast<tau_t>(fires ? T - 1 : T);
              if (vf) vf[pos] = fires ? acc[e] : 0.f;
            }
          }
        }
      }
    });
  });
  return {times, values, potentials};
}

}  // namespace

TORCH_LIBRARY_IMPL(fastspike, CPU, m) { m.impl("conv_fire", &conv_fire_cpu); }

TORCH_LIBRARY_FRAGMENT(fastspike, m) { m.def("_conv_fire_debug(str force) -> int[]", &conv_fire_debug); }

}  // namespace fastspike
