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

/* The sparse kernels on 32-byte vectors where the compiler has GCC's vector
   extensions (GCC, clang): each lane computes what the scalar code would, multiply
   and add unfused, so the bits match the scalar build's (MSVC's) and every
   target's. Loads and stores go through memcpy (W's and C's rows need not be
   aligned); a broadcast is written lane by lane, so -0 stays -0. */
#if defined(__GNUC__)
typedef float bp_gen_v8f __attribute__((vector_size(32)));
typedef double bp_gen_v4d __attribute__((vector_size(32)));
#define BP_GEN_VLOAD(V_, p) __extension__({ V_ v_; memcpy(&v_, (p), sizeof v_); v_; })
#define BP_GEN_VSTORE(p, v) do { const __typeof__(v) v_ = (v); memcpy((p), &v_, sizeof v_); } while (0)
#define V bp_gen_v8f
#define VL 8
#define VSET1(x) __extension__({ const float x_ = (x); (bp_gen_v8f){x_, x_, x_, x_, x_, x_, x_, x_}; })
#define VLOAD(p) BP_GEN_VLOAD(bp_gen_v8f, p)
#define VSTORE(p, v) BP_GEN_VSTORE(p, v)
#define VMUL(a, b) ((a) * (b))
#define VFMA(a, b, c) ((a) * (b) + (c))
#define SFMA(a, b, c) ((a) * (b) + (c))
#endif
#define T float
#define TS f32
#include "sparse_impl.inc"
#if defined(__GNUC__)
#define V bp_gen_v4d
#define VL 4
#define VSET1(x) __extension__({ const double x_ = (x); (bp_gen_v4d){x_, x_, x_, x_}; })
#define VLOAD(p) BP_GEN_VLOAD(bp_gen_v4d, p)
#define VSTORE(p, v) BP_GEN_VSTORE(p, v)
#define VMUL(a, b) ((a) * (b))
#define VFMA(a, b, c) ((a) * (b) + (c))
#define SFMA(a, b, c) ((a) * (b) + (c))
#endif
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

   4 rows x 2 vectors: 8 accumulators, 2 rows of the panel, the broadcast and the
   products (multiply and add stay separate, so each needs a register) fit in 16 vector
   registers without spilling (a 6-row tile spilled on x86-64-v3).  The tile's size
   changes no result: every element is the chain of gemm_blocked.inc's contract. */
#if defined(__AVX__)
enum { BP_GEN_MR = 4, BP_GEN_NR_F32 = 16, BP_GEN_NR_F64 = 8 };
#else
enum { BP_GEN_MR = 4, BP_GEN_NR_F32 = 8, BP_GEN_NR_F64 = 4 };
#endif
enum { BP_GEN_NC = 128 };

/* The accumulators: with GCC and clang, their generic vector types (vector_size), which
   each target lowers to its own SIMD registers — no intrinsics, any CPU; named vectors
   stay in registers where a plain array of floats would be kept in memory.  Other
   compilers (MSVC) get the same tile in plain arrays. */
#if defined(__GNUC__)
#if defined(__AVX__)
#define BP_GEN_VBYTES 32
#else
#define BP_GEN_VBYTES 16
#endif
typedef float bp_gen_vf32 __attribute__((vector_size(BP_GEN_VBYTES)));
typedef double bp_gen_vf64 __attribute__((vector_size(BP_GEN_VBYTES)));
/* a broadcast (x + (V){0} would turn -0 into +0; lane stores compile to inserts) */
#if BP_GEN_VBYTES == 32
#define BP_SPLAT_bp_gen_vf32(x) ((bp_gen_vf32){x, x, x, x, x, x, x, x})
#define BP_SPLAT_bp_gen_vf64(x) ((bp_gen_vf64){x, x, x, x})
#else
#define BP_SPLAT_bp_gen_vf32(x) ((bp_gen_vf32){x, x, x, x})
#define BP_SPLAT_bp_gen_vf64(x) ((bp_gen_vf64){x, x})
#endif
#define BP_GEN_VEC 1
#else
#define BP_GEN_VEC 0
#endif

#if BP_GEN_VEC
/* V_: the vector type of W_ lanes; NV_ = NR_ / W_ vectors a row of the tile */
#define BP_UKERNEL_GENERIC(NAME_, T_, NR_, V_)                                                  \
    static void NAME_(int64_t kc, const T_ *BP_RESTRICT A, int64_t rsa, int64_t csa, int mr,    \
                      const T_ *BP_RESTRICT Bp, T_ *BP_RESTRICT C, int64_t ldc, int nr,         \
                      int add, const T_ *BP_RESTRICT bias)                                      \
    {                                                                                           \
        enum { W_ = (int)(sizeof(V_) / sizeof(T_)), NV_ = NR_ / W_ };                           \
        V_ acc[BP_GEN_MR][NV_];                                                                 \
        const T_ *a[BP_GEN_MR];                                                                 \
        for (int r = 0; r < BP_GEN_MR; ++r) {                                                   \
            a[r] = A + (r < mr ? r : 0) * rsa; /* rows past mr repeat row 0, never stored */    \
            for (int v = 0; v < NV_; ++v)                                                       \
                acc[r][v] = (V_){0};                                                            \
        }                                                                                       \
        for (int64_t k = 0; k < kc; ++k) {                                                      \
            V_ b[NV_];                                                                          \
            memcpy(b, Bp + k * NR_, sizeof b);                                                  \
            for (int r = 0; r < BP_GEN_MR; ++r) {                                               \
                const T_ ar = a[r][k * csa];                                                    \
                const V_ x = BP_SPLAT_##V_(ar);                                                 \
                for (int v = 0; v < NV_; ++v)                                                   \
                    acc[r][v] += x * b[v];                                                      \
            }                                                                                   \
        }                                                                                       \
        for (int r = 0; r < mr; ++r) {                                                          \
            T_ t[NR_], *c = C + r * ldc;                                                        \
            memcpy(t, acc[r], sizeof t);                                                        \
            for (int j = 0; j < nr; ++j) {                                                      \
                const T_ v = t[j] + (bias ? bias[j] : (T_)0);                                   \
                c[j] = add ? v + c[j] : v;                                                      \
            }                                                                                   \
        }                                                                                       \
    }
#else
#define BP_UKERNEL_GENERIC(NAME_, T_, NR_, V_)                                                  \
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
#endif
BP_UKERNEL_GENERIC(ukernel_generic_f32, float, BP_GEN_NR_F32, bp_gen_vf32)
BP_UKERNEL_GENERIC(ukernel_generic_f64, double, BP_GEN_NR_F64, bp_gen_vf64)

BP_PACK_BT_GENERIC(pack_bt_generic_f32, float)
BP_PACK_BT_GENERIC(pack_bt_generic_f64, double)

BP_GEMM(, gemm_generic_f32, ukernel_generic_f32, float, BP_GEN_MR, BP_GEN_NR_F32, BP_GEN_NC,
        pack_bt_generic_f32)
BP_GEMM(, gemm_generic_f64, ukernel_generic_f64, double, BP_GEN_MR, BP_GEN_NR_F64, BP_GEN_NC,
        pack_bt_generic_f64)

const struct bp_path bp_path_generic = {
    "generic", BP_LEVEL_GENERIC, 0,   /* the byte stores cost X·W more than they save (1.02x) */
    BP_PATH_INIT(f32, gemm_generic_f32, generic, generic),
    BP_PATH_INIT(f64, gemm_generic_f64, generic, generic),
};
