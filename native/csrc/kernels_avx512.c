/* kernels_avx512.c — the AVX-512F path (x86-64: Skylake-SP, Ice Lake, Zen 4 and
   later): the GEMMs with 512-bit vectors and mask registers; the element-wise and
   sparse kernels as on the AVX2 path (the element-wise ones, memory-bound, keep
   their AVX2 code, but for the softmax's exps, eight doubles a vector; the sparse ones
   are compiled for AVX-512).  Every function carries
   BP_TARGET("avx512f,avx2,fma") (GCC and clang alike); kernels_select.c runs this
   path only on a CPU (and OS) with AVX-512F, and not under BACKPROP_NO_AVX512=1.

   The GEMMs: the blocked driver of gemm_blocked.inc with an MR x 64 (float) /
   MR x 32 (double) tile in 24 zmm accumulators (the 4-vector kernel below, which
   the small products share), and mask registers at the edges.  Every kernel computes
   each element as the micro-kernel contract of gemm_blocked.inc says, so this path
   gives the AVX2 path's bits. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "kernels_paths.inc"

#if BP_HAVE_X86_SIMD
#include <immintrin.h>
#include "exp_near.inc"
#include "gemm_blocked.inc"
#include "kernels_x86.inc"

#define BP_AVX2 BP_TARGET("avx2,fma")
#define BP_AVX512 BP_TARGET("avx512f,avx2,fma")

/* ---------------------------------------------------------------------------
   Element-wise kernels: the AVX2 path's (the same C for the same target, so the
   same code), the softmax's exps eight at a time; sparse kernels: the portable C on
   512-bit vectors.                                                             */

/* exp_in_place's float exps, eight at a time (exp_vec.inc) */
BP_AVX512 static inline unsigned bp_expv_flags512(__m512d x, __m512i d)
{
    const __mmask8 in = _mm512_cmp_pd_mask(x, _mm512_set1_pd(-87.0), _CMP_GE_OQ) &
                        _mm512_cmp_pd_mask(x, _mm512_setzero_pd(), _CMP_LE_OQ);
    const __mmask8 clear = _mm512_cmpgt_epi64_mask(d, _mm512_set1_epi64(4096)) |
                           _mm512_cmplt_epi64_mask(d, _mm512_set1_epi64(-4096));
    return (unsigned)(uint8_t)~(in & clear);
}
#define EXPV_NAME bp_exp_f32_avx512
#define EXPV_ATTR BP_AVX512
#define EXPV_W 8
#define EXPV_D __m512d
#define EXPV_I __m512i
#define EXPV_SET1(v) _mm512_set1_pd(v)
#define EXPV_SET1I(v) _mm512_set1_epi64(v)
#define EXPV_ADD(a, b) _mm512_add_pd((a), (b))
#define EXPV_SUB(a, b) _mm512_sub_pd((a), (b))
#define EXPV_MUL(a, b) _mm512_mul_pd((a), (b))
#define EXPV_MIN(a, b) _mm512_min_pd((a), (b))
#define EXPV_MAX(a, b) _mm512_max_pd((a), (b))
#define EXPV_ISUB(a, b) _mm512_sub_epi64((a), (b))
#define EXPV_SHL52(a) _mm512_slli_epi64((a), 52)
#define EXPV_AND(a, b) _mm512_and_si512((a), (b))
#define EXPV_CASTI(a) _mm512_castpd_si512(a)
#define EXPV_CASTD(a) _mm512_castsi512_pd(a)
#define EXPV_LOADF(p) _mm512_cvtps_pd(_mm256_loadu_ps(p))
#define EXPV_STOREF(p, v) _mm256_storeu_ps((p), _mm512_cvtpd_ps(v))
#define EXPV_STORED(p, v) _mm512_storeu_pd((p), (v))
#define EXPV_FLAGS(x, d) bp_expv_flags512((x), (d))
#include "exp_vec.inc"
#define BP_EXP_F32 bp_exp_f32_avx512

#define TATTR BP_AVX2
#define TP avx2
#define T float
#define TS f32
#define T_TINY FLT_MIN
#include "kernels_impl.inc"
#define T double
#define TS f64
#define T_TINY DBL_MIN
#include "kernels_impl.inc"
#undef TP
#undef BP_EXP_F32
#undef TATTR

#define TATTR BP_AVX512
#define TP avx512
#define T float
#define TS f32
#define V __m512
#define VL 16
#define VSET1(x) _mm512_set1_ps(x)
#define VLOAD(p) _mm512_loadu_ps(p)
#define VSTORE(p, v) _mm512_storeu_ps((p), (v))
#define VMUL(a, b) _mm512_mul_ps((a), (b))
#define VFMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define SFMA(a, b, c) fmaf((a), (b), (c))
#include "sparse_impl.inc"
#define T double
#define TS f64
#define V __m512d
#define VL 8
#define VSET1(x) _mm512_set1_pd(x)
#define VLOAD(p) _mm512_loadu_pd(p)
#define VSTORE(p, v) _mm512_storeu_pd((p), (v))
#define VMUL(a, b) _mm512_mul_pd((a), (b))
#define VFMA(a, b, c) _mm512_fmadd_pd((a), (b), (c))
#define SFMA(a, b, c) fma((a), (b), (c))
#include "sparse_impl.inc"
#undef TP
#undef TATTR

/* ---------------------------------------------------------------------------
   GEMMs.                                                                      */

enum { NR512_F32 = 64, NR512_F64 = 32, NR512N_F32 = 32, NR512N_F64 = 16, NC512_F32 = 128, NC512_F64 = 64 };

/* the mask of a vector's first n lanes (none if n <= 0, all W if n >= W) */
#define BP_LANES(n, W_) ((n) >= (W_) ? 0xFFFFu >> (16 - (W_)) : (n) > 0 ? (1u << (n)) - 1u : 0u)
/* Micro-kernels for products too small to pack (see gemm_nopack512 below): B's rows
   are read in place. One vector a row (N <= 16 floats / 8 doubles, e.g. the 10
   output classes): 16 rows in 16 accumulators, one load of B and 16 broadcasts of
   op(A) per k. Two vectors a row (N <= 32 / 16): 8 rows, 16 accumulators. Four
   (N <= 64 / 32, e.g. float64's 64x64 @ 64x32): 6 rows, 24 accumulators, so a
   broadcast feeds 4 FMAs and op(A) is read once. A masked load costs an extra uop
   on the FMA ports (measured ~15 % on 64x64 @ 64x32), so only a partial last vector
   is loaded with a mask: the k loop is written once per case.
   (Generated code: the accumulators are named, so they stay in registers; the k loop
   is unrolled 4 times, measured 5–20 % faster on the chapter's 64x64 @ 64x32.) */
enum { MR1 = 16, MR2 = 8, MR4 = 6 };
/* The small kernels' epilogue, one row of C: + bias, + old C (if add), masked stores
   (which never touch lanes past nr); then the next row. */
#define BP_OUT_VEC(MSTORE_, ADD_, MLOADZ_, p_, m_, acc_, bb_)                                       \
    MSTORE_(p_, m_, add ? ADD_(ADD_(acc_, bb_), MLOADZ_(m_, p_)) : ADD_(acc_, bb_))
#define BP_OUT_ROW1(MSTORE_, ADD_, MLOADZ_, W_, a0_)                                                \
    do {                                                                                          \
        BP_OUT_VEC(MSTORE_, ADD_, MLOADZ_, c, m0, a0_, bb0);                                      \
        c += ldc;                                                                                 \
    } while (0)
#define BP_OUT_ROW2(MSTORE_, ADD_, MLOADZ_, W_, a0_, a1_)                                           \
    do {                                                                                          \
        BP_OUT_VEC(MSTORE_, ADD_, MLOADZ_, c, m0, a0_, bb0);                                      \
        BP_OUT_VEC(MSTORE_, ADD_, MLOADZ_, c + W_, m1, a1_, bb1);                                 \
        c += ldc;                                                                                 \
    } while (0)
#define BP_OUT_ROW4(MSTORE_, ADD_, MLOADZ_, W_, a0_, a1_, a2_, a3_)                                \
    do {                                                                                          \
        BP_OUT_VEC(MSTORE_, ADD_, MLOADZ_, c, m0, a0_, bb0);                                      \
        BP_OUT_VEC(MSTORE_, ADD_, MLOADZ_, c + W_, m1, a1_, bb1);                                 \
        BP_OUT_VEC(MSTORE_, ADD_, MLOADZ_, c + 2 * W_, m2, a2_, bb2);                             \
        BP_OUT_VEC(MSTORE_, ADD_, MLOADZ_, c + 3 * W_, m3, a3_, bb3);                             \
        c += ldc;                                                                                 \
    } while (0)
#define BP_K_LOOP_1V(V_, SET1_, FMADD_, LOAD0_)                                                               \
    BP_UNROLL4 for (int64_t k = 0; k < kc; ++k, off += csa, B += ldb) {                          \
        const V_ b0 = LOAD0_;                                                                                 \
        V_ x;                                                                                                 \
        x = SET1_(a0[off]); c0_0 = FMADD_(x, b0, c0_0);                                                       \
        x = SET1_(a1[off]); c1_0 = FMADD_(x, b0, c1_0);                                                       \
        x = SET1_(a2[off]); c2_0 = FMADD_(x, b0, c2_0);                                                       \
        x = SET1_(a3[off]); c3_0 = FMADD_(x, b0, c3_0);                                                       \
        x = SET1_(a4[off]); c4_0 = FMADD_(x, b0, c4_0);                                                       \
        x = SET1_(a5[off]); c5_0 = FMADD_(x, b0, c5_0);                                                       \
        x = SET1_(a6[off]); c6_0 = FMADD_(x, b0, c6_0);                                                       \
        x = SET1_(a7[off]); c7_0 = FMADD_(x, b0, c7_0);                                                       \
        x = SET1_(a8[off]); c8_0 = FMADD_(x, b0, c8_0);                                                       \
        x = SET1_(a9[off]); c9_0 = FMADD_(x, b0, c9_0);                                                       \
        x = SET1_(a10[off]); c10_0 = FMADD_(x, b0, c10_0);                                                    \
        x = SET1_(a11[off]); c11_0 = FMADD_(x, b0, c11_0);                                                    \
        x = SET1_(a12[off]); c12_0 = FMADD_(x, b0, c12_0);                                                    \
        x = SET1_(a13[off]); c13_0 = FMADD_(x, b0, c13_0);                                                    \
        x = SET1_(a14[off]); c14_0 = FMADD_(x, b0, c14_0);                                                    \
        x = SET1_(a15[off]); c15_0 = FMADD_(x, b0, c15_0);                                                    \
    }
#define BP_UKERNEL512_1V(NAME_, T_, V_, W_, SET1_, FMADD_, ZERO_, LOADU_, MLOADZ_, MSTORE_, ADD_)             \
    BP_AVX512 static void NAME_(int64_t kc, const T_ *BP_RESTRICT A, int64_t rsa, int64_t csa, int mr,                     \
                      const T_ *BP_RESTRICT B, int64_t ldb, T_ *BP_RESTRICT C, int64_t ldc, int nr,                 \
                      int add, const T_ *BP_RESTRICT bias)                                                       \
    {                                                                                                         \
        const T_ *a0 = A, *a1 = A + (mr > 1 ? 1 * rsa : 0), *a2 = A + (mr > 2 ? 2 * rsa : 0),                 \
                 *a3 = A + (mr > 3 ? 3 * rsa : 0), *a4 = A + (mr > 4 ? 4 * rsa : 0), *a5 = A + (mr > 5 ? 5 * rsa : 0),\
                 *a6 = A + (mr > 6 ? 6 * rsa : 0), *a7 = A + (mr > 7 ? 7 * rsa : 0), *a8 = A + (mr > 8 ? 8 * rsa : 0),\
                 *a9 = A + (mr > 9 ? 9 * rsa : 0), *a10 = A + (mr > 10 ? 10 * rsa : 0), *a11 = A + (mr > 11 ? 11 * rsa : 0),\
                 *a12 = A + (mr > 12 ? 12 * rsa : 0), *a13 = A + (mr > 13 ? 13 * rsa : 0), *a14 = A + (mr > 14 ? 14 * rsa : 0),\
                 *a15 = A + (mr > 15 ? 15 * rsa : 0);                                                         \
        const uint32_t m0 = BP_LANES(nr, W_);                                                                 \
        V_ c0_0 = ZERO_(), c1_0 = ZERO_(), c2_0 = ZERO_(), c3_0 = ZERO_(), c4_0 = ZERO_(), c5_0 = ZERO_(),    \
           c6_0 = ZERO_(), c7_0 = ZERO_(), c8_0 = ZERO_(), c9_0 = ZERO_(), c10_0 = ZERO_(), c11_0 = ZERO_(),  \
           c12_0 = ZERO_(), c13_0 = ZERO_(), c14_0 = ZERO_(), c15_0 = ZERO_();                                \
        int64_t off = 0;                                                                                      \
        /* a masked load costs an extra uop on the FMA ports: full vectors load plainly */                 \
        if (nr == W_)                                                                                         \
            BP_K_LOOP_1V(V_, SET1_, FMADD_, LOADU_(B))                                                        \
        else                                                                                                  \
            BP_K_LOOP_1V(V_, SET1_, FMADD_, MLOADZ_(m0, B))                                                   \
        /* rows [0, mr), written out row by row: the accumulators never leave the registers */              \
        const V_ bb0 = bias ? MLOADZ_(m0, bias) : ZERO_();                                                    \
        T_ *c = C;                                                                                            \
        if (mr > 0) BP_OUT_ROW1(MSTORE_, ADD_, MLOADZ_, W_, c0_0);                                            \
        if (mr > 1) BP_OUT_ROW1(MSTORE_, ADD_, MLOADZ_, W_, c1_0);                                            \
        if (mr > 2) BP_OUT_ROW1(MSTORE_, ADD_, MLOADZ_, W_, c2_0);                                            \
        if (mr > 3) BP_OUT_ROW1(MSTORE_, ADD_, MLOADZ_, W_, c3_0);                                            \
        if (mr > 4) BP_OUT_ROW1(MSTORE_, ADD_, MLOADZ_, W_, c4_0);                                            \
        if (mr > 5) BP_OUT_ROW1(MSTORE_, ADD_, MLOADZ_, W_, c5_0);                                            \
        if (mr > 6) BP_OUT_ROW1(MSTORE_, ADD_, MLOADZ_, W_, c6_0);                                            \
        if (mr > 7) BP_OUT_ROW1(MSTORE_, ADD_, MLOADZ_, W_, c7_0);                                            \
        if (mr > 8) BP_OUT_ROW1(MSTORE_, ADD_, MLOADZ_, W_, c8_0);                                            \
        if (mr > 9) BP_OUT_ROW1(MSTORE_, ADD_, MLOADZ_, W_, c9_0);                                            \
        if (mr > 10) BP_OUT_ROW1(MSTORE_, ADD_, MLOADZ_, W_, c10_0);                                          \
        if (mr > 11) BP_OUT_ROW1(MSTORE_, ADD_, MLOADZ_, W_, c11_0);                                          \
        if (mr > 12) BP_OUT_ROW1(MSTORE_, ADD_, MLOADZ_, W_, c12_0);                                          \
        if (mr > 13) BP_OUT_ROW1(MSTORE_, ADD_, MLOADZ_, W_, c13_0);                                          \
        if (mr > 14) BP_OUT_ROW1(MSTORE_, ADD_, MLOADZ_, W_, c14_0);                                          \
        if (mr > 15) BP_OUT_ROW1(MSTORE_, ADD_, MLOADZ_, W_, c15_0);                                          \
    }

#define BP_K_LOOP_2V(V_, SET1_, FMADD_, LOAD0_, LOAD1_)                                                      \
    BP_UNROLL4 for (int64_t k = 0; k < kc; ++k, off += csa, B += ldb) {                          \
        const V_ b0 = LOAD0_, b1 = LOAD1_;                                                                    \
        V_ x;                                                                                                 \
        x = SET1_(a0[off]); c0_0 = FMADD_(x, b0, c0_0); c0_1 = FMADD_(x, b1, c0_1);                           \
        x = SET1_(a1[off]); c1_0 = FMADD_(x, b0, c1_0); c1_1 = FMADD_(x, b1, c1_1);                           \
        x = SET1_(a2[off]); c2_0 = FMADD_(x, b0, c2_0); c2_1 = FMADD_(x, b1, c2_1);                           \
        x = SET1_(a3[off]); c3_0 = FMADD_(x, b0, c3_0); c3_1 = FMADD_(x, b1, c3_1);                           \
        x = SET1_(a4[off]); c4_0 = FMADD_(x, b0, c4_0); c4_1 = FMADD_(x, b1, c4_1);                           \
        x = SET1_(a5[off]); c5_0 = FMADD_(x, b0, c5_0); c5_1 = FMADD_(x, b1, c5_1);                           \
        x = SET1_(a6[off]); c6_0 = FMADD_(x, b0, c6_0); c6_1 = FMADD_(x, b1, c6_1);                           \
        x = SET1_(a7[off]); c7_0 = FMADD_(x, b0, c7_0); c7_1 = FMADD_(x, b1, c7_1);                           \
    }
#define BP_UKERNEL512_2V(NAME_, T_, V_, W_, SET1_, FMADD_, ZERO_, LOADU_, MLOADZ_, MSTORE_, ADD_)             \
    BP_AVX512 static void NAME_(int64_t kc, const T_ *BP_RESTRICT A, int64_t rsa, int64_t csa, int mr,                     \
                      const T_ *BP_RESTRICT B, int64_t ldb, T_ *BP_RESTRICT C, int64_t ldc, int nr,                 \
                      int add, const T_ *BP_RESTRICT bias)                                                       \
    {                                                                                                         \
        const T_ *a0 = A, *a1 = A + (mr > 1 ? 1 * rsa : 0), *a2 = A + (mr > 2 ? 2 * rsa : 0),                 \
                 *a3 = A + (mr > 3 ? 3 * rsa : 0), *a4 = A + (mr > 4 ? 4 * rsa : 0), *a5 = A + (mr > 5 ? 5 * rsa : 0),\
                 *a6 = A + (mr > 6 ? 6 * rsa : 0), *a7 = A + (mr > 7 ? 7 * rsa : 0);                          \
        const uint32_t m0 = BP_LANES(nr, W_), m1 = BP_LANES(nr - W_, W_);                                     \
        V_ c0_0 = ZERO_(), c0_1 = ZERO_(), c1_0 = ZERO_(), c1_1 = ZERO_(), c2_0 = ZERO_(), c2_1 = ZERO_(),    \
           c3_0 = ZERO_(), c3_1 = ZERO_(), c4_0 = ZERO_(), c4_1 = ZERO_(), c5_0 = ZERO_(), c5_1 = ZERO_(),    \
           c6_0 = ZERO_(), c6_1 = ZERO_(), c7_0 = ZERO_(), c7_1 = ZERO_();                                    \
        int64_t off = 0;                                                                                      \
        /* a masked load costs an extra uop on the FMA ports: full vectors load plainly */                 \
        if (nr == 2 * W_)                                                                                     \
            BP_K_LOOP_2V(V_, SET1_, FMADD_, LOADU_(B), LOADU_(B + W_))                                        \
        else /* W < nr < 2W */                                                                                \
            BP_K_LOOP_2V(V_, SET1_, FMADD_, LOADU_(B), MLOADZ_(m1, B + W_))                                   \
        /* rows [0, mr), written out row by row: the accumulators never leave the registers */              \
        const V_ bb0 = bias ? MLOADZ_(m0, bias) : ZERO_();                                                    \
        const V_ bb1 = bias ? MLOADZ_(m1, bias + W_) : ZERO_();                                               \
        T_ *c = C;                                                                                            \
        if (mr > 0) BP_OUT_ROW2(MSTORE_, ADD_, MLOADZ_, W_, c0_0, c0_1);                                      \
        if (mr > 1) BP_OUT_ROW2(MSTORE_, ADD_, MLOADZ_, W_, c1_0, c1_1);                                      \
        if (mr > 2) BP_OUT_ROW2(MSTORE_, ADD_, MLOADZ_, W_, c2_0, c2_1);                                      \
        if (mr > 3) BP_OUT_ROW2(MSTORE_, ADD_, MLOADZ_, W_, c3_0, c3_1);                                      \
        if (mr > 4) BP_OUT_ROW2(MSTORE_, ADD_, MLOADZ_, W_, c4_0, c4_1);                                      \
        if (mr > 5) BP_OUT_ROW2(MSTORE_, ADD_, MLOADZ_, W_, c5_0, c5_1);                                      \
        if (mr > 6) BP_OUT_ROW2(MSTORE_, ADD_, MLOADZ_, W_, c6_0, c6_1);                                      \
        if (mr > 7) BP_OUT_ROW2(MSTORE_, ADD_, MLOADZ_, W_, c7_0, c7_1);                                      \
    }

#define BP_K_LOOP_4V(V_, SET1_, FMADD_, LOAD0_, LOAD1_, LOAD2_, LOAD3_)                                       \
    BP_UNROLL4 for (int64_t k = 0; k < kc; ++k, off += csa, B += ldb) {                          \
        const V_ b0 = LOAD0_, b1 = LOAD1_, b2 = LOAD2_, b3 = LOAD3_;                                          \
        V_ x;                                                                                                 \
        x = SET1_(a0[off]); c0_0 = FMADD_(x, b0, c0_0); c0_1 = FMADD_(x, b1, c0_1);                           \
                             c0_2 = FMADD_(x, b2, c0_2); c0_3 = FMADD_(x, b3, c0_3);                          \
        x = SET1_(a1[off]); c1_0 = FMADD_(x, b0, c1_0); c1_1 = FMADD_(x, b1, c1_1);                           \
                             c1_2 = FMADD_(x, b2, c1_2); c1_3 = FMADD_(x, b3, c1_3);                          \
        x = SET1_(a2[off]); c2_0 = FMADD_(x, b0, c2_0); c2_1 = FMADD_(x, b1, c2_1);                           \
                             c2_2 = FMADD_(x, b2, c2_2); c2_3 = FMADD_(x, b3, c2_3);                          \
        x = SET1_(a3[off]); c3_0 = FMADD_(x, b0, c3_0); c3_1 = FMADD_(x, b1, c3_1);                           \
                             c3_2 = FMADD_(x, b2, c3_2); c3_3 = FMADD_(x, b3, c3_3);                          \
        x = SET1_(a4[off]); c4_0 = FMADD_(x, b0, c4_0); c4_1 = FMADD_(x, b1, c4_1);                           \
                             c4_2 = FMADD_(x, b2, c4_2); c4_3 = FMADD_(x, b3, c4_3);                          \
        x = SET1_(a5[off]); c5_0 = FMADD_(x, b0, c5_0); c5_1 = FMADD_(x, b1, c5_1);                           \
                             c5_2 = FMADD_(x, b2, c5_2); c5_3 = FMADD_(x, b3, c5_3);                          \
    }
#define BP_UKERNEL512_4V(NAME_, T_, V_, W_, SET1_, FMADD_, ZERO_, LOADU_, MLOADZ_, MSTORE_, ADD_)             \
    BP_AVX512 static void NAME_(int64_t kc, const T_ *BP_RESTRICT A, int64_t rsa, int64_t csa, int mr,                     \
                      const T_ *BP_RESTRICT B, int64_t ldb, T_ *BP_RESTRICT C, int64_t ldc, int nr,                 \
                      int add, const T_ *BP_RESTRICT bias)                                                       \
    {                                                                                                         \
        const T_ *a0 = A, *a1 = A + (mr > 1 ? 1 * rsa : 0), *a2 = A + (mr > 2 ? 2 * rsa : 0),                 \
                 *a3 = A + (mr > 3 ? 3 * rsa : 0), *a4 = A + (mr > 4 ? 4 * rsa : 0), *a5 = A + (mr > 5 ? 5 * rsa : 0);\
        const uint32_t m0 = BP_LANES(nr, W_), m1 = BP_LANES(nr - W_, W_), m2 = BP_LANES(nr - 2 * W_, W_),     \
                       m3 = BP_LANES(nr - 3 * W_, W_);                                                        \
        V_ c0_0 = ZERO_(), c0_1 = ZERO_(), c0_2 = ZERO_(), c0_3 = ZERO_(), c1_0 = ZERO_(), c1_1 = ZERO_(),    \
           c1_2 = ZERO_(), c1_3 = ZERO_(), c2_0 = ZERO_(), c2_1 = ZERO_(), c2_2 = ZERO_(), c2_3 = ZERO_(),    \
           c3_0 = ZERO_(), c3_1 = ZERO_(), c3_2 = ZERO_(), c3_3 = ZERO_(), c4_0 = ZERO_(), c4_1 = ZERO_(),    \
           c4_2 = ZERO_(), c4_3 = ZERO_(), c5_0 = ZERO_(), c5_1 = ZERO_(), c5_2 = ZERO_(), c5_3 = ZERO_();    \
        int64_t off = 0;                                                                                      \
        if (nr == 4 * W_)                                                                                     \
            BP_K_LOOP_4V(V_, SET1_, FMADD_, LOADU_(B), LOADU_(B + W_), LOADU_(B + 2 * W_), LOADU_(B + 3 * W_))\
        else /* nr < 4W: b0, b1 are whole (in place, 2W < nr) or in a zero-padded packed panel */             \
            BP_K_LOOP_4V(V_, SET1_, FMADD_, LOADU_(B), LOADU_(B + W_), MLOADZ_(m2, B + 2 * W_),               \
                         MLOADZ_(m3, B + 3 * W_))                                                             \
        const V_ bb0 = bias ? MLOADZ_(m0, bias) : ZERO_(), bb1 = bias ? MLOADZ_(m1, bias + W_) : ZERO_(),     \
                 bb2 = bias ? MLOADZ_(m2, bias + 2 * W_) : ZERO_(), bb3 = bias ? MLOADZ_(m3, bias + 3 * W_) : ZERO_();\
        T_ *c = C;                                                                                            \
        if (mr > 0) BP_OUT_ROW4(MSTORE_, ADD_, MLOADZ_, W_, c0_0, c0_1, c0_2, c0_3);                          \
        if (mr > 1) BP_OUT_ROW4(MSTORE_, ADD_, MLOADZ_, W_, c1_0, c1_1, c1_2, c1_3);                          \
        if (mr > 2) BP_OUT_ROW4(MSTORE_, ADD_, MLOADZ_, W_, c2_0, c2_1, c2_2, c2_3);                          \
        if (mr > 3) BP_OUT_ROW4(MSTORE_, ADD_, MLOADZ_, W_, c3_0, c3_1, c3_2, c3_3);                          \
        if (mr > 4) BP_OUT_ROW4(MSTORE_, ADD_, MLOADZ_, W_, c4_0, c4_1, c4_2, c4_3);                          \
        if (mr > 5) BP_OUT_ROW4(MSTORE_, ADD_, MLOADZ_, W_, c5_0, c5_1, c5_2, c5_3);                          \
    }

/* The kernels' instruction sets, one per type; BP_INSTANTIATE expands the list before the
   kernel macro splits its arguments. */
#define BP_ZMM_F32 float, __m512, 16, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_setzero_ps,        \
                   _mm512_loadu_ps, _mm512_maskz_loadu_ps, _mm512_mask_storeu_ps, _mm512_add_ps
#define BP_ZMM_F64 double, __m512d, 8, _mm512_set1_pd, _mm512_fmadd_pd, _mm512_setzero_pd,       \
                   _mm512_loadu_pd, _mm512_maskz_loadu_pd, _mm512_mask_storeu_pd, _mm512_add_pd
#define BP_INSTANTIATE(KERNEL_, NAME_, ISA_) KERNEL_(NAME_, ISA_)
BP_INSTANTIATE(BP_UKERNEL512_1V, ukernel512_1v_f32, BP_ZMM_F32)
BP_INSTANTIATE(BP_UKERNEL512_1V, ukernel512_1v_f64, BP_ZMM_F64)
BP_INSTANTIATE(BP_UKERNEL512_2V, ukernel512_2v_f32, BP_ZMM_F32)
BP_INSTANTIATE(BP_UKERNEL512_2V, ukernel512_2v_f64, BP_ZMM_F64)
BP_INSTANTIATE(BP_UKERNEL512_4V, ukernel512_4v_f32, BP_ZMM_F32)
BP_INSTANTIATE(BP_UKERNEL512_4V, ukernel512_4v_f64, BP_ZMM_F64)

/* The blocked path's micro-kernel is the 4-vector one, reading a packed panel (row stride
   NR): 24 accumulators, a broadcast of op(A) feeding 4 FMAs (the 12-accumulator MR x 2
   vectors tile it replaced was 15-40 % slower on products of 64 x 784 x 512 and up). A
   panel at most half full (a narrow C, or one thread's columns) takes the 2- or 1-vector
   kernel instead, which skips the empty vectors' FMAs. The panel is zero-padded to NR, so
   its whole vectors load plainly even at an edge. A C of only W+1 to 2W columns (e.g. one
   thread's half of a 64-wide layer) goes to ukernel512pn instead: one panel of 2W, so no
   packed column is padding, and strips of MR2 = 8 rows, the 2-vector kernel's own height
   (that kernel on 4W-wide panels and 6-row strips measured 20-40 % slower). */
#define BP_PANEL_KERNELS(TS_, T_, W_)                                                           \
    BP_AVX512 static void ukernel512p_##TS_(int64_t kc, const T_ *BP_RESTRICT A, int64_t rsa, int64_t csa,   \
                                  int mr, const T_ *BP_RESTRICT Bp, T_ *BP_RESTRICT C, int64_t ldc,  \
                                  int nr, int add, const T_ *BP_RESTRICT bias)                    \
    {                                                                                           \
        const int64_t nrp = 4 * W_; /* the panel's row stride */                                \
        if (nr > 2 * W_)                                                                        \
            ukernel512_4v_##TS_(kc, A, rsa, csa, mr, Bp, nrp, C, ldc, nr, add, bias);           \
        else if (nr > W_)                                                                       \
            ukernel512_2v_##TS_(kc, A, rsa, csa, mr, Bp, nrp, C, ldc, nr, add, bias);           \
        else                                                                                    \
            ukernel512_1v_##TS_(kc, A, rsa, csa, mr, Bp, nrp, C, ldc, nr, add, bias);           \
    }                                                                                           \
    BP_AVX512 static void ukernel512pn_##TS_(int64_t kc, const T_ *BP_RESTRICT A, int64_t rsa, int64_t csa,  \
                                   int mr, const T_ *BP_RESTRICT Bp, T_ *BP_RESTRICT C, int64_t ldc, \
                                   int nr, int add, const T_ *BP_RESTRICT bias)                   \
    {                                                                                           \
        ukernel512_2v_##TS_(kc, A, rsa, csa, mr, Bp, 2 * W_, C, ldc, nr, add, bias);            \
    }
BP_PANEL_KERNELS(f32, float, 16)
BP_PANEL_KERNELS(f64, double, 8)
BP_GEMM(BP_AVX512, gemm_avx512_f32, ukernel512p_f32, float, MR4, NR512_F32, NC512_F32, bp_pack_bt_f32_avx2)
BP_GEMM(BP_AVX512, gemm_avx512_f64, ukernel512p_f64, double, MR4, NR512_F64, NC512_F64, bp_pack_bt_f64_avx2)
BP_GEMM(BP_AVX512, gemm_avx512n_f32, ukernel512pn_f32, float, MR2, NR512N_F32, NC512_F32, bp_pack_bt_f32_avx2)
BP_GEMM(BP_AVX512, gemm_avx512n_f64, ukernel512pn_f64, double, MR2, NR512N_F64, NC512_F64, bp_pack_bt_f64_avx2)

/* op(A) = Aᵀ and a C of at most TN_NJ = 12 columns (the output layer's 10): A₂ᵀ·δ₃.
   Broadcasting A along k would use 10 of 16 lanes; here the lanes run along M
   instead — each row k of the stored A (contiguous along M) is two vector loads,
   each B[k, j] one broadcast, and 2·N accumulators hold two vectors of Cᵀ's
   columns. Every lane computes Σ_k a·b in k order, then + bias, + old C: the
   blocked code's chain. (Generated code: named accumulators stay in registers.) */
enum { TN_NJ = 12 };
/* One call of the block kernel below per case: N and `full` become constants there, so the
   compiler drops the unused columns' branches and, for whole blocks, the masks (a masked
   load costs an extra uop on the FMA ports). */
#define BP_TN_CASE(BLK_, n)                                                                       \
    case n:                                                                                       \
        if (full)                                                                                 \
            BLK_(K, A + i0, lda, B, ldb, n, 1, m0, m1, tmp);                                      \
        else                                                                                      \
            BLK_(K, A + i0, lda, B, ldb, n, 0, m0, m1, tmp);                                      \
        break;
#define BP_TN_NARROW512(NAME_, T_, V_, W_, SET1_, FMADD_, ZERO_, LOADU_, MLOADZ_, STORE_)                     \
    /* Cᵀ[j, i0:i0+2W] = Σ_k B[k, j]·A[k, i0:i0+2W] for j < N, into tmp */                                    \
    BP_AVX512 BP_ALWAYS_INLINE void NAME_##_blk(                                            \
        int64_t K, const T_ *A, int64_t lda, const T_ *B, int64_t ldb, const int N, const int full,           \
        uint32_t m0, uint32_t m1, T_ (*tmp)[2 * W_])                                                          \
    {                                                                                                         \
        V_ c0_0 = ZERO_(), c0_1 = ZERO_(), c1_0 = ZERO_(), c1_1 = ZERO_(), c2_0 = ZERO_(), c2_1 = ZERO_(),    \
           c3_0 = ZERO_(), c3_1 = ZERO_(), c4_0 = ZERO_(), c4_1 = ZERO_(), c5_0 = ZERO_(), c5_1 = ZERO_(),    \
           c6_0 = ZERO_(), c6_1 = ZERO_(), c7_0 = ZERO_(), c7_1 = ZERO_(), c8_0 = ZERO_(), c8_1 = ZERO_(),    \
           c9_0 = ZERO_(), c9_1 = ZERO_(), c10_0 = ZERO_(), c10_1 = ZERO_(), c11_0 = ZERO_(), c11_1 = ZERO_();\
        BP_UNROLL4 for (int64_t k = 0; k < K; ++k) {                                             \
            const T_ *ak = A + k * lda, *bk = B + k * ldb;                                                    \
            const V_ a0 = full ? LOADU_(ak) : MLOADZ_(m0, ak);                                                \
            const V_ a1 = full ? LOADU_(ak + W_) : MLOADZ_(m1, ak + W_);                                      \
            V_ x;                                                                                             \
            { x = SET1_(bk[0]); c0_0 = FMADD_(x, a0, c0_0); c0_1 = FMADD_(x, a1, c0_1); }                     \
            if (N > 1) { x = SET1_(bk[1]); c1_0 = FMADD_(x, a0, c1_0); c1_1 = FMADD_(x, a1, c1_1); }          \
            if (N > 2) { x = SET1_(bk[2]); c2_0 = FMADD_(x, a0, c2_0); c2_1 = FMADD_(x, a1, c2_1); }          \
            if (N > 3) { x = SET1_(bk[3]); c3_0 = FMADD_(x, a0, c3_0); c3_1 = FMADD_(x, a1, c3_1); }          \
            if (N > 4) { x = SET1_(bk[4]); c4_0 = FMADD_(x, a0, c4_0); c4_1 = FMADD_(x, a1, c4_1); }          \
            if (N > 5) { x = SET1_(bk[5]); c5_0 = FMADD_(x, a0, c5_0); c5_1 = FMADD_(x, a1, c5_1); }          \
            if (N > 6) { x = SET1_(bk[6]); c6_0 = FMADD_(x, a0, c6_0); c6_1 = FMADD_(x, a1, c6_1); }          \
            if (N > 7) { x = SET1_(bk[7]); c7_0 = FMADD_(x, a0, c7_0); c7_1 = FMADD_(x, a1, c7_1); }          \
            if (N > 8) { x = SET1_(bk[8]); c8_0 = FMADD_(x, a0, c8_0); c8_1 = FMADD_(x, a1, c8_1); }          \
            if (N > 9) { x = SET1_(bk[9]); c9_0 = FMADD_(x, a0, c9_0); c9_1 = FMADD_(x, a1, c9_1); }          \
            if (N > 10) { x = SET1_(bk[10]); c10_0 = FMADD_(x, a0, c10_0); c10_1 = FMADD_(x, a1, c10_1); }    \
            if (N > 11) { x = SET1_(bk[11]); c11_0 = FMADD_(x, a0, c11_0); c11_1 = FMADD_(x, a1, c11_1); }    \
        }                                                                                                     \
        { STORE_(tmp[0], c0_0); STORE_(tmp[0] + W_, c0_1); }                                                  \
        if (N > 1) { STORE_(tmp[1], c1_0); STORE_(tmp[1] + W_, c1_1); }                                       \
        if (N > 2) { STORE_(tmp[2], c2_0); STORE_(tmp[2] + W_, c2_1); }                                       \
        if (N > 3) { STORE_(tmp[3], c3_0); STORE_(tmp[3] + W_, c3_1); }                                       \
        if (N > 4) { STORE_(tmp[4], c4_0); STORE_(tmp[4] + W_, c4_1); }                                       \
        if (N > 5) { STORE_(tmp[5], c5_0); STORE_(tmp[5] + W_, c5_1); }                                       \
        if (N > 6) { STORE_(tmp[6], c6_0); STORE_(tmp[6] + W_, c6_1); }                                       \
        if (N > 7) { STORE_(tmp[7], c7_0); STORE_(tmp[7] + W_, c7_1); }                                       \
        if (N > 8) { STORE_(tmp[8], c8_0); STORE_(tmp[8] + W_, c8_1); }                                       \
        if (N > 9) { STORE_(tmp[9], c9_0); STORE_(tmp[9] + W_, c9_1); }                                       \
        if (N > 10) { STORE_(tmp[10], c10_0); STORE_(tmp[10] + W_, c10_1); }                                  \
        if (N > 11) { STORE_(tmp[11], c11_0); STORE_(tmp[11] + W_, c11_1); }                                  \
    }                                                                                                         \
    BP_AVX512 static void NAME_(int64_t M, int64_t N, int64_t K, const T_ *A, int64_t lda, const T_ *B,                 \
                      int64_t ldb, const T_ *bias, T_ *C, int64_t ldc, int add)                               \
    {                                                                                                         \
        BP_ALIGNED(64) T_ tmp[TN_NJ][2 * W_];                                                   \
        for (int64_t i0 = 0; i0 < M; i0 += 2 * W_) {                                                          \
            const int mi = (int)(M - i0 < 2 * W_ ? M - i0 : 2 * W_), full = mi == 2 * W_;                     \
            const uint32_t m0 = BP_LANES(mi, W_), m1 = BP_LANES(mi - W_, W_);                                 \
            switch (N) {                                                                                      \
                BP_TN_CASE(NAME_##_blk, 1) BP_TN_CASE(NAME_##_blk, 2) BP_TN_CASE(NAME_##_blk, 3)              \
                BP_TN_CASE(NAME_##_blk, 4) BP_TN_CASE(NAME_##_blk, 5) BP_TN_CASE(NAME_##_blk, 6)              \
                BP_TN_CASE(NAME_##_blk, 7) BP_TN_CASE(NAME_##_blk, 8) BP_TN_CASE(NAME_##_blk, 9)              \
                BP_TN_CASE(NAME_##_blk, 10) BP_TN_CASE(NAME_##_blk, 11) BP_TN_CASE(NAME_##_blk, 12)           \
            }                                                                                                 \
            /* C[i0 + i, j] = (Σ_k + bias) + old C: the blocked code's order, element by element */           \
            for (int64_t i = 0; i < mi; ++i) {                                                                \
                T_ *c = C + (i0 + i) * ldc;                                                                   \
                for (int64_t j = 0; j < N; ++j) {                                                             \
                    T_ v = tmp[j][i] + (bias ? bias[j] : (T_)0);                                              \
                    c[j] = add ? v + c[j] : v;                                                                \
                }                                                                                             \
            }                                                                                                 \
        }                                                                                                     \
    }

BP_TN_NARROW512(gemm_tn_narrow512_f32, float, __m512, 16, _mm512_set1_ps, _mm512_fmadd_ps,
                _mm512_setzero_ps, _mm512_loadu_ps, _mm512_maskz_loadu_ps, _mm512_store_ps)
BP_TN_NARROW512(gemm_tn_narrow512_f64, double, __m512d, 8, _mm512_set1_pd, _mm512_fmadd_pd,
                _mm512_setzero_pd, _mm512_loadu_pd, _mm512_maskz_loadu_pd, _mm512_store_pd)

/* Small products (K <= KC, op(B) not transposed, N <= 4 vectors): the chapter's later
   layers, 64x32 @ 32x10 and the like, where packing B would cost as much as the
   product. Every element is the chain the blocked code computes when K <= KC —
   Σ_k a·b in k order, + bias, + old C — so the two paths agree to the bit. */
#define BP_NOPACK512(NAME_, UK1_, UK2_, UK4_, T_, W_)                                          \
    BP_AVX512 static void NAME_(int64_t M, int64_t N, int64_t K, const T_ *A, int64_t rsa, int64_t csa,  \
                      const T_ *B, int64_t ldb, const T_ *bias, T_ *C, int64_t ldc, int add)   \
    {                                                                                          \
        if (N <= W_) {                                                                         \
            for (int64_t ir = 0; ir < M; ir += MR1)                                            \
                UK1_(K, A + ir * rsa, rsa, csa, (int)(M - ir < MR1 ? M - ir : MR1), B, ldb,    \
                     C + ir * ldc, ldc, (int)N, add, bias);                                    \
        } else if (N <= 2 * W_) {                                                              \
            for (int64_t ir = 0; ir < M; ir += MR2)                                            \
                UK2_(K, A + ir * rsa, rsa, csa, (int)(M - ir < MR2 ? M - ir : MR2), B, ldb,    \
                     C + ir * ldc, ldc, (int)N, add, bias);                                    \
        } else {                                                                               \
            for (int64_t ir = 0; ir < M; ir += MR4)                                            \
                UK4_(K, A + ir * rsa, rsa, csa, (int)(M - ir < MR4 ? M - ir : MR4), B, ldb,    \
                     C + ir * ldc, ldc, (int)N, add, bias);                                    \
        }                                                                                      \
    }
BP_NOPACK512(gemm_nopack512_f32, ukernel512_1v_f32, ukernel512_2v_f32, ukernel512_4v_f32, float, 16)
BP_NOPACK512(gemm_nopack512_f64, ukernel512_1v_f64, ukernel512_2v_f64, ukernel512_4v_f64, double, 8)

/* Small products with op(B) = Bᵀ (K <= KC, N <= 4 vectors: the chapter's δ₃·W₃ᵀ and
   δ₂·W₂ᵀ): op(B) is copied into a row-major buffer first — K x N values, against M x N x K
   multiply-adds — and the product runs on the small-product kernels above (the same
   chain, so the same bits as the blocked path). */
#define BP_SMALL_NT512(NAME_, T_, W_, PACK_BT_, NOPACK_, TN_NARROW_)                            \
    BP_AVX512 static void NAME_(int64_t M, int64_t N, int64_t K, const T_ *A, int64_t rsa, int64_t csa,  \
                      const T_ *B, int64_t csb, const T_ *bias, T_ *C, int64_t ldc, int add)   \
    {                                                                                          \
        BP_ALIGNED(64) T_ Bt[BP_KC * 4 * W_];                                     \
        const int64_t ldt = (N + W_ - 1) / W_ * W_;                                            \
        PACK_BT_(K, N, N, B, csb, Bt, ldt);                                                    \
        if (rsa == 1 && N <= TN_NJ)                                                            \
            TN_NARROW_(M, N, K, A, csa, Bt, ldt, bias, C, ldc, add);                           \
        else                                                                                   \
            NOPACK_(M, N, K, A, rsa, csa, Bt, ldt, bias, C, ldc, add);                         \
    }
BP_SMALL_NT512(gemm_small_nt512_f32, float, 16, bp_pack_bt_f32_avx2, gemm_nopack512_f32, gemm_tn_narrow512_f32)
BP_SMALL_NT512(gemm_small_nt512_f64, double, 8, bp_pack_bt_f64_avx2, gemm_nopack512_f64, gemm_tn_narrow512_f64)

/* Which kernel takes a product: the small-product ones (no packing) when K <= KC and C
   is at most 4 vectors wide, the blocked driver on 4-vector panels for a wider C, on
   2-vector panels for W+1 to 2W columns, and the AVX2 code for a C no wider than one
   AVX2 panel (NR_AVX2). */
#define BP_GEMM512_ENTRY(TS_, T_, W512_, NR_AVX2_)                                              \
    BP_AVX512 static void bp_gemm_##TS_##_avx512(int64_t M, int64_t N, int64_t K, const T_ *A,  \
                                                 int64_t rsa, int64_t csa, const T_ *B,         \
                                                 int64_t rsb, int64_t csb, const T_ *bias,      \
                                                 T_ *C, int64_t ldc, int accumulate)            \
    {                                                                                           \
        if (csb == 1 && K <= BP_KC && rsa == 1 && N <= TN_NJ)                                   \
            gemm_tn_narrow512_##TS_(M, N, K, A, csa, B, rsb, bias, C, ldc, accumulate);         \
        else if (csb == 1 && K <= BP_KC && N <= 4 * W512_)                                      \
            gemm_nopack512_##TS_(M, N, K, A, rsa, csa, B, rsb, bias, C, ldc, accumulate);       \
        else if (rsb == 1 && K <= BP_KC && N <= 4 * W512_)                                      \
            gemm_small_nt512_##TS_(M, N, K, A, rsa, csa, B, csb, bias, C, ldc, accumulate);     \
        else if (csb == 1 && csa == 1 && N <= W512_)                                            \
            /* K > KC, C one vector wide (a wide layer into the 10 classes): the small-    \
               product kernel on each block of KC, as the blocked driver adds them — the   \
               same chain, without packing (32x1024 @ 1024x10: 2.3x faster alone, 1.6x in the epoch) */ \
            for (int64_t pc = 0; pc < K; pc += BP_KC)                                           \
                gemm_nopack512_##TS_(M, N, K - pc < BP_KC ? K - pc : BP_KC, A + pc, rsa, 1,     \
                                     B + pc * rsb, rsb, pc ? NULL : bias, C, ldc,               \
                                     accumulate || pc > 0);                                     \
        else if (N > 2 * W512_)                                                                 \
            gemm_avx512_##TS_(M, N, K, A, rsa, csa, B, rsb, csb, bias, C, ldc, accumulate);     \
        else if (N > NR_AVX2_)                                                                  \
            gemm_avx512n_##TS_(M, N, K, A, rsa, csa, B, rsb, csb, bias, C, ldc, accumulate);    \
        else                                                                                    \
            bp_gemm_##TS_##_avx2(M, N, K, A, rsa, csa, B, rsb, csb, bias, C, ldc, accumulate);  \
    }
BP_GEMM512_ENTRY(f32, float, 16, 16)
BP_GEMM512_ENTRY(f64, double, 8, 8)

const struct bp_path bp_path_avx512 = {
    "avx512", BP_LEVEL_AVX512, 1,
    BP_PATH_INIT(f32, bp_gemm_f32_avx512, avx2, avx512),
    BP_PATH_INIT(f64, bp_gemm_f64_avx512, avx2, avx512),
};

#else
typedef int bp_no_avx512_here; /* (ISO C wants something in a translation unit) */
#endif /* BP_HAVE_X86_SIMD */
