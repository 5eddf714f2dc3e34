/* kernels_neon.c — the arm64 path (Advanced SIMD, "NEON": part of every AArch64 CPU,
   so no run-time test): the GEMM micro-kernel and the sparse first layer in NEON
   intrinsics with the vector fused multiply-add (fmla); the element-wise kernels are
   the portable C, which the compiler vectorizes for NEON by itself.

   Why intrinsics rather than portable C compiled with contraction on: the fused
   multiply-adds are then written out, in the order of the x86 kernels (gemm_blocked.inc's
   contract; sparse_impl.inc's chains), so this path does not depend on a compiler's
   -ffp-contract default (GCC contracts nothing in ISO C mode, clang contracts within an
   expression), is bit-identical for any thread count, and computes each element of a
   product exactly as the AVX2/AVX-512 kernels do. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "kernels_paths.inc"

#if BP_HAVE_NEON
#include <arm_neon.h>
#include "gemm_blocked.inc"

/* ---------------------------------------------------------------------------
   Element-wise kernels (portable C) and sparse kernels (NEON vectors).        */

#define TATTR
#define TP neon
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
#define V float32x4_t
#define VL 4
#define VSET1(x) vdupq_n_f32(x)
#define VLOAD(p) vld1q_f32(p)
#define VSTORE(p, v) vst1q_f32((p), (v))
#define VMUL(a, b) vmulq_f32((a), (b))
#define VFMA(a, b, c) vfmaq_f32((c), (a), (b))
#define SFMA(a, b, c) fmaf((a), (b), (c))
#include "sparse_impl.inc"
#define T double
#define TS f64
#define V float64x2_t
#define VL 2
#define VSET1(x) vdupq_n_f64(x)
#define VLOAD(p) vld1q_f64(p)
#define VSTORE(p, v) vst1q_f64((p), (v))
#define VMUL(a, b) vmulq_f64((a), (b))
#define VFMA(a, b, c) vfmaq_f64((c), (a), (b))
#define SFMA(a, b, c) fma((a), (b), (c))
#include "sparse_impl.inc"
#undef TP
#undef TATTR

/* ---------------------------------------------------------------------------
   GEMM micro-kernel (blocking: gemm_blocked.inc).  Register tile, 4 q-registers a
   row (16 floats / 8 doubles, the AVX2 panel width):

            panel row k: b0    b1    b2    b3
     a0[k]  ->           c00   c01   c02   c03
      ...                ...
     a5[k]  ->           c50   c51   c52   c53     24 of the 32 vector registers

   per k: 4 loads of the packed panel, 6 broadcast loads (ld1r) of op(A), 24 fmla.
   Edges: rows past mr repeat row 0 and are not stored; a panel of nr < NR columns
   is zero-padded when packed, and its row is stored element by element. */

enum { MR_NEON = 6, NR_NEON_F32 = 16, NR_NEON_F64 = 8, NC_NEON_F32 = 128, NC_NEON_F64 = 64 };

/* one row of C: + bias (or 0), + old C if add; columns [0, nr) only */
#define BP_NEON_ROW(T_, V_, W_, LD_, ST_, ADD_, DUP0_, r_, x0_, x1_, x2_, x3_)              \
    if (mr > r_) {                                                                              \
        T_ *c = C + r_ * ldc;                                                                   \
        const V_ acc[4] = {x0_, x1_, x2_, x3_};                                                 \
        if (nr == 4 * W_) {                                                                     \
            for (int q = 0; q < 4; ++q) {                                                       \
                V_ v = ADD_(acc[q], bias ? LD_(bias + q * W_) : DUP0_);                         \
                if (add)                                                                        \
                    v = ADD_(v, LD_(c + q * W_));                                               \
                ST_(c + q * W_, v);                                                             \
            }                                                                                   \
        } else {                                                                                \
            T_ t[4 * W_];                                                                       \
            for (int q = 0; q < 4; ++q)                                                         \
                ST_(t + q * W_, acc[q]);                                                        \
            for (int j = 0; j < nr; ++j) {                                                      \
                const T_ v = t[j] + (bias ? bias[j] : (T_)0);                                   \
                c[j] = add ? v + c[j] : v;                                                      \
            }                                                                                   \
        }                                                                                       \
    }

#define BP_FMLA_ROW(DUPLD_, FMA_, x0_, x1_, x2_, x3_, ap_)                                     \
    x = DUPLD_(ap_ + off);                                                                      \
    x0_ = FMA_(x0_, x, b0); x1_ = FMA_(x1_, x, b1); x2_ = FMA_(x2_, x, b2); x3_ = FMA_(x3_, x, b3);

#define BP_UKERNEL_NEON(NAME_, T_, V_, W_, DUPLD_, LD_, ST_, FMA_, ADD_, DUP0_)                 \
    static void NAME_(int64_t kc, const T_ *BP_RESTRICT A, int64_t rsa, int64_t csa, int mr,    \
                      const T_ *BP_RESTRICT Bp, T_ *BP_RESTRICT C, int64_t ldc, int nr,         \
                      int add, const T_ *BP_RESTRICT bias)                                      \
    {                                                                                           \
        const T_ *a0 = A, *a1 = A + (mr > 1 ? rsa : 0), *a2 = A + (mr > 2 ? 2 * rsa : 0),      \
                 *a3 = A + (mr > 3 ? 3 * rsa : 0), *a4 = A + (mr > 4 ? 4 * rsa : 0),            \
                 *a5 = A + (mr > 5 ? 5 * rsa : 0);                                              \
        V_ c00 = DUP0_, c01 = DUP0_, c02 = DUP0_, c03 = DUP0_, c10 = DUP0_, c11 = DUP0_,        \
           c12 = DUP0_, c13 = DUP0_, c20 = DUP0_, c21 = DUP0_, c22 = DUP0_, c23 = DUP0_,        \
           c30 = DUP0_, c31 = DUP0_, c32 = DUP0_, c33 = DUP0_, c40 = DUP0_, c41 = DUP0_,        \
           c42 = DUP0_, c43 = DUP0_, c50 = DUP0_, c51 = DUP0_, c52 = DUP0_, c53 = DUP0_;        \
        int64_t off = 0;                                                                        \
        for (int64_t k = 0; k < kc; ++k, off += csa, Bp += 4 * W_) {                            \
            const V_ b0 = LD_(Bp), b1 = LD_(Bp + W_), b2 = LD_(Bp + 2 * W_),                    \
                     b3 = LD_(Bp + 3 * W_);                                                     \
            V_ x;                                                                               \
            BP_FMLA_ROW(DUPLD_, FMA_, c00, c01, c02, c03, a0)                             \
            BP_FMLA_ROW(DUPLD_, FMA_, c10, c11, c12, c13, a1)                             \
            BP_FMLA_ROW(DUPLD_, FMA_, c20, c21, c22, c23, a2)                             \
            BP_FMLA_ROW(DUPLD_, FMA_, c30, c31, c32, c33, a3)                             \
            BP_FMLA_ROW(DUPLD_, FMA_, c40, c41, c42, c43, a4)                             \
            BP_FMLA_ROW(DUPLD_, FMA_, c50, c51, c52, c53, a5)                             \
        }                                                                                       \
        BP_NEON_ROW(T_, V_, W_, LD_, ST_, ADD_, DUP0_, 0, c00, c01, c02, c03)                \
        BP_NEON_ROW(T_, V_, W_, LD_, ST_, ADD_, DUP0_, 1, c10, c11, c12, c13)                \
        BP_NEON_ROW(T_, V_, W_, LD_, ST_, ADD_, DUP0_, 2, c20, c21, c22, c23)                \
        BP_NEON_ROW(T_, V_, W_, LD_, ST_, ADD_, DUP0_, 3, c30, c31, c32, c33)                \
        BP_NEON_ROW(T_, V_, W_, LD_, ST_, ADD_, DUP0_, 4, c40, c41, c42, c43)                \
        BP_NEON_ROW(T_, V_, W_, LD_, ST_, ADD_, DUP0_, 5, c50, c51, c52, c53)                \
    }
BP_UKERNEL_NEON(ukernel_neon_f32, float, float32x4_t, 4, vld1q_dup_f32, vld1q_f32, vst1q_f32,
                vfmaq_f32, vaddq_f32, vdupq_n_f32(0.0f))
BP_UKERNEL_NEON(ukernel_neon_f64, double, float64x2_t, 2, vld1q_dup_f64, vld1q_f64, vst1q_f64,
                vfmaq_f64, vaddq_f64, vdupq_n_f64(0.0))

BP_PACK_BT_GENERIC(pack_bt_neon_f32, float)
BP_PACK_BT_GENERIC(pack_bt_neon_f64, double)
BP_GEMM(, gemm_neon_f32, ukernel_neon_f32, float, MR_NEON, NR_NEON_F32, NC_NEON_F32, pack_bt_neon_f32)
BP_GEMM(, gemm_neon_f64, ukernel_neon_f64, double, MR_NEON, NR_NEON_F64, NC_NEON_F64, pack_bt_neon_f64)

const struct bp_path bp_path_neon = {
    "neon", BP_LEVEL_NEON, 0,         /* unmeasured: the path that needs no proof */
    BP_PATH_INIT(f32, gemm_neon_f32, neon, neon),
    BP_PATH_INIT(f64, gemm_neon_f64, neon, neon),
};

#else
typedef int bp_no_neon_here; /* (ISO C wants something in a translation unit) */
#endif /* BP_HAVE_NEON */
