/* kernels_generic.c — the portable path: plain C99 for any CPU and compiler, the
   reference the SIMD paths are tested against and what runs where no SIMD file
   applies (or under BACKPROP_FORCE_GENERIC=1).  No intrinsics; written so that a
   compiler vectorizes it for whatever it targets: the GEMM micro-kernel is a register
   tile with fixed trip counts (BP_GEN_MR x BP_GEN_NR accumulators), the element-wise
   loops are plain.  Multiply and add stay separate (-ffp-contract=off, build_ffi.py),
   so GCC, clang and MSVC give the same bits on any CPU. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "kernels_paths.inc"
#include "gemm_blocked.inc"

/* ---------------------------------------------------------------------------
   Element-wise and sparse kernels.                                             */

#define TATTR
#define TP generic
#define T float
#define TS f32
#define T_TINY FLT_MIN
#include "kernels_impl.inc"
#define T double
#define TS f64
#define T_TINY DBL_MIN
#include "kernels_impl.inc"

#define T float
#define TS f32
#include "sparse_impl.inc"
#define T double
#define TS f64
#include "sparse_impl.inc"
#undef TP
#undef TATTR

/* ---------------------------------------------------------------------------
   GEMM: the blocked driver of gemm_blocked.inc around a portable micro-kernel.

   Register tile, BP_GEN_MR rows x BP_GEN_NR columns of C in acc[][] (fixed sizes,
   so the compiler unrolls the r loop, vectorizes the j loop and keeps acc in
   registers):

            panel row k: b[0] ... b[NR-1]
     a0[k]  ->          acc[0][0 .. NR-1]
      ...
     a5[k]  ->          acc[5][0 .. NR-1]

   Sized for 16 vector registers of 256 bits (6 x 16 floats = 12 ymm on x86-64-v3;
   6 x 4 q-registers of 32 on arm64); with only 128-bit vectors and 16 registers
   (x86-64 baseline SSE2) a 4 x 8 tile avoids spilling.  The tile's size changes no
   result: every element is the chain of gemm_blocked.inc's contract. */
#if defined(__AVX__) || BP_ARCH_AARCH64
enum { BP_GEN_MR = 6, BP_GEN_NR_F32 = 16, BP_GEN_NR_F64 = 8 };
#else
enum { BP_GEN_MR = 4, BP_GEN_NR_F32 = 8, BP_GEN_NR_F64 = 4 };
#endif
enum { BP_GEN_NC = 128 };

#define BP_UKERNEL_GENERIC(NAME_, T_, NR_)                                                      \
    static void NAME_(int64_t kc, const T_ *BP_RESTRICT A, int64_t rsa, int64_t csa, int mr,    \
                      const T_ *BP_RESTRICT Bp, T_ *BP_RESTRICT C, int64_t ldc, int nr,         \
                      int add, const T_ *BP_RESTRICT bias)                                      \
    {                                                                                           \
        T_ acc[BP_GEN_MR][NR_];                                                                 \
        const T_ *a[BP_GEN_MR];                                                                 \
        for (int r = 0; r < BP_GEN_MR; ++r) {                                                   \
            a[r] = A + (r < mr ? r : 0) * rsa; /* rows past mr repeat row 0, never stored */    \
            for (int j = 0; j < NR_; ++j)                                                       \
                acc[r][j] = 0;                                                                  \
        }                                                                                       \
        for (int64_t k = 0; k < kc; ++k) {                                                      \
            const T_ *b = Bp + k * NR_;                                                         \
            for (int r = 0; r < BP_GEN_MR; ++r) {                                               \
                const T_ x = a[r][k * csa];                                                     \
                for (int j = 0; j < NR_; ++j)                                                   \
                    acc[r][j] += x * b[j];                                                      \
            }                                                                                   \
        }                                                                                       \
        for (int r = 0; r < mr; ++r) {                                                          \
            T_ *c = C + r * ldc;                                                                \
            for (int j = 0; j < nr; ++j) {                                                      \
                const T_ v = acc[r][j] + (bias ? bias[j] : (T_)0);                              \
                c[j] = add ? v + c[j] : v;                                                      \
            }                                                                                   \
        }                                                                                       \
    }
BP_UKERNEL_GENERIC(ukernel_generic_f32, float, BP_GEN_NR_F32)
BP_UKERNEL_GENERIC(ukernel_generic_f64, double, BP_GEN_NR_F64)

BP_PACK_BT_GENERIC(pack_bt_generic_f32, float)
BP_PACK_BT_GENERIC(pack_bt_generic_f64, double)

BP_GEMM(, gemm_generic_f32, ukernel_generic_f32, float, BP_GEN_MR, BP_GEN_NR_F32, BP_GEN_NC,
        pack_bt_generic_f32)
BP_GEMM(, gemm_generic_f64, ukernel_generic_f64, double, BP_GEN_MR, BP_GEN_NR_F64, BP_GEN_NC,
        pack_bt_generic_f64)

const struct bp_path bp_path_generic = {
    "generic", BP_LEVEL_GENERIC,
    BP_PATH_INIT(f32, gemm_generic_f32, generic, generic),
    BP_PATH_INIT(f64, gemm_generic_f64, generic, generic),
};
