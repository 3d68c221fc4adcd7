// Host-side helpers shared by every fastspike operator: argument checks with
// actionable messages, the spike-time dtype dispatch and the denormal guard.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>

#include <cstdint>

#if defined(__x86_64__) || defined(_M_X64)
#include <xmmintrin.h>
#endif

namespace fastspike {

// Largest number of time steps a uint8 / int16 first-spike map can hold
// (the value T itself means "never").
constexpr int64_t kMaxTUint8 = 255;
constexpr int64_t kMaxTInt16 = 32767;
// Rows/columns of never that pool_times may add around its output.
constexpr int64_t kMaxOutPadding = 4096;

inline int64_t max_T_for(at::ScalarType t) {
  return t == at::kByte ? kMaxTUint8 : kMaxTInt16;
}

inline void check_times(const at::Tensor& t, const char* name, int64_t dim,
                        const char* shape) {
  TORCH_CHECK(t.defined(), name, ": expected a tensor, got None");
  TORCH_CHECK(t.scalar_type() == at::kByte || t.scalar_type() == at::kShort,
              name, ": expected first-spike times of dtype uint8 or int16, got ",
              t.scalar_type());
  TORCH_CHECK(t.dim() == dim, name, ": expected a ", dim, "-D tensor ", shape,
              ", got shape ", t.sizes());
}

inline void check_float(const at::Tensor& t, const char* name, int64_t dim,
                        const char* shape) {
  TORCH_CHECK(t.defined(), name, ": expected a tensor, got None");
  TORCH_CHECK(t.scalar_type() == at::kFloat, name,
              ": expected dtype float32, got ", t.scalar_type());
  TORCH_CHECK(t.dim() == dim, name, ": expected a ", dim, "-D tensor ", shape,
              ", got shape ", t.sizes());
}

inline void check_T(int64_t T, at::ScalarType time_dtype, const char* name = "T") {
  TORCH_CHECK(T >= 1, name, ": expected at least 1 time step, got ", T);
  TORCH_CHECK(T <= max_T_for(time_dtype), name, ": ", T,
              " time steps do not fit first-spike times of dtype ", time_dtype,
              " (at most ", max_T_for(time_dtype), ")");
}

inline void check_same_device(const at::Tensor& a, const char* an,
                              const at::Tensor& b, const char* bn) {
  TORCH_CHECK(a.device() == b.device(), an, " and ", bn,
              ": expected tensors on the same device, got ", a.device(), " and ",
              b.device());
}

// Hot CPU loops are compiled three times, for AVX-512, AVX2 and the baseline
// ISA, and the dynamic loader picks one on the running CPU (GNU ifunc), so a
// portable build still uses wide vectors. Floating-point results are the same in both:
// the loops only add, compare and select (no FMA contraction: -ffp-contract=off).
#if defined(__x86_64__) && defined(__linux__) && (defined(__GNUC__) || defined(__clang__))
#define FASTSPIKE_CPU_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define FASTSPIKE_CPU_CLONES
#endif

// Dispatch on the spike-time dtype; the body sees `tau_t`.
#define FASTSPIKE_DISPATCH_TIMES(TYPE, NAME, ...)                       \
  [&] {                                                                 \
    switch (TYPE) {                                                     \
      case at::kByte: {                                                 \
        using tau_t = uint8_t;                                          \
        return __VA_ARGS__();                                           \
      }                                                                 \
      case at::kShort: {                                                \
        using tau_t = int16_t;                                          \
        return __VA_ARGS__();                                           \
      }                                                                 \
      default:                                                          \
        TORCH_CHECK(false, NAME, ": unsupported spike-time dtype ", TYPE); \
    }                                                                   \
  }()

// Flushes subnormal floats to zero (inputs and results) in the calling thread
// for its lifetime. STDP drives weights geometrically towards 0, and x86 CPUs
// compute on subnormals up to ~25x slower; every CPU kernel body (which runs in
// at::parallel_for worker threads) holds one. CUDA kernels are compiled with
// -ftz=true so both backends give the same bits.
class ScopedFlushDenormal {
 public:
  ScopedFlushDenormal() {
#if defined(__x86_64__) || defined(_M_X64)
    old_ = _mm_getcsr();
    _mm_setcsr(old_ | 0x8040u);  // FTZ (bit 15) | DAZ (bit 6)
#elif defined(__aarch64__)
    uint64_t fpcr;
    __asm__ __volatile__("mrs %0, fpcr" : "=r"(fpcr));
    old_ = fpcr;
    fpcr |= (uint64_t(1) << 24);  // FZ
    __asm__ __volatile__("msr fpcr, %0" : : "r"(fpcr));
#endif
  }
  ~ScopedFlushDenormal() {
#if defined(__x86_64__) || defined(_M_X64)
    _mm_setcsr(static_cast<unsigned int>(old_));
#elif defined(__aarch64__)
    __asm__ __volatile__("msr fpcr, %0" : : "r"(old_));
#endif
  }
  ScopedFlushDenormal(const ScopedFlushDenormal&) = delete;
  ScopedFlushDenormal& operator=(const ScopedFlushDenormal&) = delete;

 private:
  uint64_t old_ = 0;
};

}  // namespace fastspike
