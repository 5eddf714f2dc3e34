/* kernels.c — the C kernels of native.kernels: argument checks, the one-time choice
   of the SIMD path, and the blocked matmul (AVX2/FMA and AVX-512 micro-kernels).
   The element-wise kernels and the portable matmul live in kernels_impl.inc.

   Build: plain C99 (no -ffast-math).  x86-only code is guarded by BP_X86, so the
   file compiles anywhere; on x86_64 the AVX2 and AVX-512 code is compiled with
   `#pragma GCC target` and chosen at run time with __builtin_cpu_supports, so the
   library also runs on CPUs without them.  Read once, at the first call:
   BACKPROP_FORCE_GENERIC=1 forces the portable path, BACKPROP_NO_AVX512=1 stops at
   AVX2. */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <float.h>

#include "kernels.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* The SIMD code needs GCC's `#pragma GCC target`, which clang ignores (clang builds
   therefore take the portable path). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define BP_X86 1
#include <immintrin.h>
#else
#define BP_X86 0
#endif

#ifdef __GNUC__
#define BP_MAYBE_UNUSED __attribute__((unused))
#else
#define BP_MAYBE_UNUSED
#endif

/* ---------------------------------------------------------------------------
   Kernel bodies: float and double, generic and (on x86) avx2.                */

#define T float
#define TS f32
#define T_TINY FLT_MIN
#define TP generic
#include "kernels_impl.inc"
#undef TP
#undef T
#undef TS
#undef T_TINY

#define T double
#define TS f64
#define T_TINY DBL_MIN
#define TP generic
#include "kernels_impl.inc"
#undef TP
#undef T
#undef TS
#undef T_TINY

#if BP_X86
#pragma GCC push_options
#pragma GCC target("avx2,fma")

#define T float
#define TS f32
#define T_TINY FLT_MIN
#define TP avx2
#include "kernels_impl.inc"
#undef TP
#undef T
#undef TS
#undef T_TINY

#define T double
#define TS f64
#define T_TINY DBL_MIN
#define TP avx2
#include "kernels_impl.inc"
#undef TP
#undef T
#undef TS
#undef T_TINY

/* ---------------------------------------------------------------------------
   AVX2/FMA matmul.

   Loop order and blocking (what makes it fast): for each block of NC columns of C
   and KC of the K dimension, op(B)[KC x NC] is packed, zero-padded, into NR-wide
   column panels (kc x NR, contiguous) in a 64 KiB stack buffer, which then sits
   in L1/L2.  Then, strip by strip of MR rows of C, the micro-kernel runs across
   the panels: it keeps an MR x NR tile of C in 12 ymm accumulators and, per k,
   loads one row of the panel (2 ymm, contiguous) and broadcasts MR values of
   op(A): 12 FMAs for 2 loads + 6 broadcasts.  The strip of op(A) (MR x kc, at most
   6 KiB) stays in L1 across the panels; it is read in place through two strides
   (rsa, csa), which covers trans_a without packing (for trans_a the MR values of
   one k are adjacent in memory).  The first K block stores (or, with
   accumulate, adds) bias + tile, later K blocks add their tile.  Edges: a strip
   of mr < MR rows repeats row 0 in the unused accumulator rows and stores only mr
   rows; a panel of nr < NR columns is zero-padded when packed and stored with
   masked loads/stores (which never touch memory past column nr).  */

enum { MR = 6, NR_F32 = 16, NR_F64 = 8, KC = 128, NC_F32 = 128, NC_F64 = 64 };

/* Lanes [0, n) of a 256-bit vector of 8 floats / 4 doubles, as a maskload mask. */
static inline __m256i lanes_below_f32(int n)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
static inline __m256i lanes_below_f64(int n)
{
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3));
}

#define BP_UKERNEL256(NAME_, T_, V_, W_, BCAST_, LOAD_, LOADU_, STOREU_, MLOAD_, MSTORE_, FMADD_,  \
                      ZERO_, ADD_, LANES_)                                                      \
    static void NAME_(int64_t kc, const T_ *restrict A, int64_t rsa, int64_t csa, int mr,        \
                      const T_ *restrict Bp, T_ *restrict C, int64_t ldc, int nr, int add,       \
                      const T_ *restrict bias)                                                   \
    {                                                                                            \
        const T_ *a0 = A, *a1 = A + (mr > 1 ? rsa : 0), *a2 = A + (mr > 2 ? 2 * rsa : 0),       \
                 *a3 = A + (mr > 3 ? 3 * rsa : 0), *a4 = A + (mr > 4 ? 4 * rsa : 0),             \
                 *a5 = A + (mr > 5 ? 5 * rsa : 0);                                               \
        V_ c00 = ZERO_(), c01 = ZERO_(), c10 = ZERO_(), c11 = ZERO_(), c20 = ZERO_(),            \
           c21 = ZERO_(), c30 = ZERO_(), c31 = ZERO_(), c40 = ZERO_(), c41 = ZERO_(),            \
           c50 = ZERO_(), c51 = ZERO_();                                                         \
        int64_t off = 0;                                                                         \
        for (int64_t k = 0; k < kc; ++k, off += csa, Bp += 2 * W_) {                             \
            const V_ b0 = LOAD_(Bp), b1 = LOAD_(Bp + W_);                                        \
            V_ a;                                                                                \
            a = BCAST_(a0 + off); c00 = FMADD_(a, b0, c00); c01 = FMADD_(a, b1, c01);            \
            a = BCAST_(a1 + off); c10 = FMADD_(a, b0, c10); c11 = FMADD_(a, b1, c11);            \
            a = BCAST_(a2 + off); c20 = FMADD_(a, b0, c20); c21 = FMADD_(a, b1, c21);            \
            a = BCAST_(a3 + off); c30 = FMADD_(a, b0, c30); c31 = FMADD_(a, b1, c31);            \
            a = BCAST_(a4 + off); c40 = FMADD_(a, b0, c40); c41 = FMADD_(a, b1, c41);            \
            a = BCAST_(a5 + off); c50 = FMADD_(a, b0, c50); c51 = FMADD_(a, b1, c51);            \
        }                                                                                        \
        V_ acc[MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}}; \
        /* C rows [0, mr), columns [0, nr): full vectors, or masked ones at the right edge. */ \
        const __m256i m0 = LANES_(nr), m1 = LANES_(nr - W_);                                     \
        const int full = nr == 2 * W_;                                                           \
        const V_ bb0 = !bias ? ZERO_() : full ? LOADU_(bias) : MLOAD_(bias, m0);                 \
        const V_ bb1 = !bias ? ZERO_() : full ? LOADU_(bias + W_) : MLOAD_(bias + W_, m1);       \
        for (int r = 0; r < mr; ++r) {                                                           \
            T_ *c = C + r * ldc;                                                                 \
            V_ v0 = ADD_(acc[r][0], bb0), v1 = ADD_(acc[r][1], bb1);                             \
            if (full) {                                                                          \
                if (add) {                                                                       \
                    v0 = ADD_(v0, LOADU_(c));                                                    \
                    v1 = ADD_(v1, LOADU_(c + W_));                                               \
                }                                                                                \
                STOREU_(c, v0);                                                                  \
                STOREU_(c + W_, v1);                                                             \
            } else {                                                                             \
                if (add) {                                                                       \
                    v0 = ADD_(v0, MLOAD_(c, m0));                                                \
                    v1 = ADD_(v1, MLOAD_(c + W_, m1));                                           \
                }                                                                                \
                MSTORE_(c, m0, v0);                                                              \
                MSTORE_(c + W_, m1, v1);                                                         \
            }                                                                                    \
        }                                                                                        \
    }

BP_UKERNEL256(ukernel_f32, float, __m256, 8, _mm256_broadcast_ss, _mm256_load_ps, _mm256_loadu_ps,
              _mm256_storeu_ps, _mm256_maskload_ps, _mm256_maskstore_ps, _mm256_fmadd_ps,
              _mm256_setzero_ps, _mm256_add_ps, lanes_below_f32)
BP_UKERNEL256(ukernel_f64, double, __m256d, 4, _mm256_broadcast_sd, _mm256_load_pd, _mm256_loadu_pd,
              _mm256_storeu_pd, _mm256_maskload_pd, _mm256_maskstore_pd, _mm256_fmadd_pd,
              _mm256_setzero_pd, _mm256_add_pd, lanes_below_f64)

/* Transposing packers for trans_b: an 8x8 (float) / 4x4 (double) block of the
   source (rows j, columns k, row stride lds) becomes rows k of dst (stride ldd). */
static inline void transpose8x8_ps(const float *src, int64_t lds, float *dst, int64_t ldd)
{
    __m256 r0 = _mm256_loadu_ps(src), r1 = _mm256_loadu_ps(src + lds),
           r2 = _mm256_loadu_ps(src + 2 * lds), r3 = _mm256_loadu_ps(src + 3 * lds),
           r4 = _mm256_loadu_ps(src + 4 * lds), r5 = _mm256_loadu_ps(src + 5 * lds),
           r6 = _mm256_loadu_ps(src + 6 * lds), r7 = _mm256_loadu_ps(src + 7 * lds);
    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1),
           t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3),
           t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5),
           t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE),
           s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE),
           s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE),
           s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    _mm256_store_ps(dst, _mm256_permute2f128_ps(s0, s4, 0x20));
    _mm256_store_ps(dst + ldd, _mm256_permute2f128_ps(s1, s5, 0x20));
    _mm256_store_ps(dst + 2 * ldd, _mm256_permute2f128_ps(s2, s6, 0x20));
    _mm256_store_ps(dst + 3 * ldd, _mm256_permute2f128_ps(s3, s7, 0x20));
    _mm256_store_ps(dst + 4 * ldd, _mm256_permute2f128_ps(s0, s4, 0x31));
    _mm256_store_ps(dst + 5 * ldd, _mm256_permute2f128_ps(s1, s5, 0x31));
    _mm256_store_ps(dst + 6 * ldd, _mm256_permute2f128_ps(s2, s6, 0x31));
    _mm256_store_ps(dst + 7 * ldd, _mm256_permute2f128_ps(s3, s7, 0x31));
}

static inline void transpose4x4_pd(const double *src, int64_t lds, double *dst, int64_t ldd)
{
    __m256d r0 = _mm256_loadu_pd(src), r1 = _mm256_loadu_pd(src + lds),
            r2 = _mm256_loadu_pd(src + 2 * lds), r3 = _mm256_loadu_pd(src + 3 * lds);
    __m256d t0 = _mm256_unpacklo_pd(r0, r1), t1 = _mm256_unpackhi_pd(r0, r1),
            t2 = _mm256_unpacklo_pd(r2, r3), t3 = _mm256_unpackhi_pd(r2, r3);
    _mm256_store_pd(dst, _mm256_permute2f128_pd(t0, t2, 0x20));
    _mm256_store_pd(dst + ldd, _mm256_permute2f128_pd(t1, t3, 0x20));
    _mm256_store_pd(dst + 2 * ldd, _mm256_permute2f128_pd(t0, t2, 0x31));
    _mm256_store_pd(dst + 3 * ldd, _mm256_permute2f128_pd(t1, t3, 0x31));
}

/* op(B) of a transposed B, op(B)[k, j] = src[k + j*lds], into rows k of dst (stride ldd):
   columns [0, w) copied, [w, wpad) zero. dst and ldd must be multiples of the transpose
   block (8 floats / 4 doubles), whose stores are aligned. */
#define BP_PACK_BT(NAME_, T_, VL_, TRANSPOSE_)                                                  \
    static void NAME_(int64_t kc, int64_t w, int64_t wpad, const T_ *src, int64_t lds, T_ *dst, \
                      int64_t ldd)                                                              \
    {                                                                                           \
        int64_t j = 0;                                                                          \
        for (; j + VL_ <= w; j += VL_) {                                                        \
            int64_t k = 0;                                                                      \
            for (; k + VL_ <= kc; k += VL_)                                                     \
                TRANSPOSE_(src + j * lds + k, lds, dst + k * ldd + j, ldd);                     \
            for (; k < kc; ++k)                                                                 \
                for (int64_t jj = j; jj < j + VL_; ++jj)                                        \
                    dst[k * ldd + jj] = src[k + jj * lds];                                      \
        }                                                                                       \
        for (int64_t k = 0; k < kc; ++k)                                                        \
            for (int64_t jj = j; jj < wpad; ++jj)                                               \
                dst[k * ldd + jj] = jj < w ? src[k + jj * lds] : (T_)0;                         \
    }
BP_PACK_BT(pack_bt_f32, float, 8, transpose8x8_ps)
BP_PACK_BT(pack_bt_f64, double, 4, transpose4x4_pd)

/* one micro-kernel call of BP_GEMM below: the MR x NR tile of C at (ir, jc + jr) */
#define BP_GEMM_TILE(UKERNEL_, MR_, NR_)                                                        \
    UKERNEL_(kc, A + ir * rsa + pc * csa, rsa, csa, (int)(M - ir < MR_ ? M - ir : MR_),         \
             Bp + jr * kc, C + ir * ldc + jc + jr, ldc, (int)(nc - jr < NR_ ? nc - jr : NR_),   \
             add, bb ? bb + jr : NULL)

/* The blocked driver, once per type (see the comment above ukernel_f32): strips of MR rows,
   panels of NR columns, NR a multiple of the transpose block (8 floats / 4 doubles). */
#define BP_GEMM(NAME_, UKERNEL_, T_, MR_, NR_, NC_, PACK_BT_)                                   \
    static void NAME_(int64_t M, int64_t N, int64_t K,                                          \
                                const T_ *restrict A, int64_t rsa, int64_t csa,                \
                                const T_ *restrict B, int64_t rsb, int64_t csb,                \
                                const T_ *restrict bias, T_ *restrict C, int64_t ldc,          \
                                int accumulate)                                                 \
    {                                                                                           \
        T_ Bp[KC * NC_] __attribute__((aligned(64)));                                           \
        for (int64_t jc = 0; jc < N; jc += NC_) {                                               \
            const int64_t nc = N - jc < NC_ ? N - jc : NC_;                                     \
            for (int64_t pc = 0; pc < K; pc += KC) {                                            \
                const int64_t kc = K - pc < KC ? K - pc : KC;                                   \
                /* pack op(B)[pc:pc+kc, jc:jc+nc] into zero-padded NR-wide panels */           \
                for (int64_t jp = 0; jp < nc; jp += NR_) {                                      \
                    T_ *dst = Bp + jp * kc;                                                     \
                    const int64_t w = nc - jp < NR_ ? nc - jp : NR_;                            \
                    const T_ *src = B + pc * rsb + (jc + jp) * csb;                             \
                    if (csb == 1 && w == NR_) {                                                 \
                        for (int64_t k = 0; k < kc; ++k)                                        \
                            memcpy(dst + k * NR_, src + k * rsb, NR_ * sizeof(T_));             \
                    } else if (csb == 1) {                                                      \
                        for (int64_t k = 0; k < kc; ++k) {                                      \
                            int64_t j = 0;                                                      \
                            for (; j < w; ++j) dst[k * NR_ + j] = src[k * rsb + j];             \
                            for (; j < NR_; ++j) dst[k * NR_ + j] = 0;                          \
                        }                                                                       \
                    } else {                                                                    \
                        PACK_BT_(kc, w, NR_, src, csb, dst, NR_); /* trans_b */                 \
                    }                                                                           \
                }                                                                               \
                const int add = accumulate || pc > 0;                                           \
                const T_ *bb = (pc == 0 && bias) ? bias + jc : NULL;                            \
                /* op(A) = A: each panel of B stays in L1 while A's strips stream past      \
                   (measured up to 15 % faster on wide C). op(A) = Aᵀ: each k of a strip is a  \
                   different row of the stored A, so the strip stays in L1 across the panels  \
                   (packing Aᵀ's strips instead measured 5-25 % slower) */                    \
                if (rsa != 1) {                                                                 \
                    for (int64_t jr = 0; jr < nc; jr += NR_)                                    \
                        for (int64_t ir = 0; ir < M; ir += MR_)                                 \
                            BP_GEMM_TILE(UKERNEL_, MR_, NR_);                                   \
                } else {                                                                        \
                    for (int64_t ir = 0; ir < M; ir += MR_)                                     \
                        for (int64_t jr = 0; jr < nc; jr += NR_)                                \
                            BP_GEMM_TILE(UKERNEL_, MR_, NR_);                                   \
                }                                                                               \
            }                                                                                   \
        }                                                                                       \
    }

BP_GEMM(gemm_avx2_f32, ukernel_f32, float, MR, NR_F32, NC_F32, pack_bt_f32)
BP_GEMM(gemm_avx2_f64, ukernel_f64, double, MR, NR_F64, NC_F64, pack_bt_f64)

#pragma GCC pop_options

/* ---------------------------------------------------------------------------
   AVX-512 matmul: the same blocking with 512-bit vectors, an MR x 64 (float) /
   MR x 32 (double) tile in 24 zmm accumulators (the 4-vector kernel below, which
   the small products share), and mask registers at the edges.
   Chosen at run time when the CPU (and OS) support AVX-512F; the element-wise
   kernels, memory-bound, keep their AVX2 code.                                  */

#pragma GCC push_options
#pragma GCC target("avx512f,avx2,fma")

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
    _Pragma("GCC unroll 4") for (int64_t k = 0; k < kc; ++k, off += csa, B += ldb) {                          \
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
    static void NAME_(int64_t kc, const T_ *restrict A, int64_t rsa, int64_t csa, int mr,                     \
                      const T_ *restrict B, int64_t ldb, T_ *restrict C, int64_t ldc, int nr,                 \
                      int add, const T_ *restrict bias)                                                       \
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
    _Pragma("GCC unroll 4") for (int64_t k = 0; k < kc; ++k, off += csa, B += ldb) {                          \
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
    static void NAME_(int64_t kc, const T_ *restrict A, int64_t rsa, int64_t csa, int mr,                     \
                      const T_ *restrict B, int64_t ldb, T_ *restrict C, int64_t ldc, int nr,                 \
                      int add, const T_ *restrict bias)                                                       \
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
    _Pragma("GCC unroll 4") for (int64_t k = 0; k < kc; ++k, off += csa, B += ldb) {                          \
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
    static void NAME_(int64_t kc, const T_ *restrict A, int64_t rsa, int64_t csa, int mr,                     \
                      const T_ *restrict B, int64_t ldb, T_ *restrict C, int64_t ldc, int nr,                 \
                      int add, const T_ *restrict bias)                                                       \
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
    static void ukernel512p_##TS_(int64_t kc, const T_ *restrict A, int64_t rsa, int64_t csa,   \
                                  int mr, const T_ *restrict Bp, T_ *restrict C, int64_t ldc,  \
                                  int nr, int add, const T_ *restrict bias)                    \
    {                                                                                           \
        const int64_t nrp = 4 * W_; /* the panel's row stride */                                \
        if (nr > 2 * W_)                                                                        \
            ukernel512_4v_##TS_(kc, A, rsa, csa, mr, Bp, nrp, C, ldc, nr, add, bias);           \
        else if (nr > W_)                                                                       \
            ukernel512_2v_##TS_(kc, A, rsa, csa, mr, Bp, nrp, C, ldc, nr, add, bias);           \
        else                                                                                    \
            ukernel512_1v_##TS_(kc, A, rsa, csa, mr, Bp, nrp, C, ldc, nr, add, bias);           \
    }                                                                                           \
    static void ukernel512pn_##TS_(int64_t kc, const T_ *restrict A, int64_t rsa, int64_t csa,  \
                                   int mr, const T_ *restrict Bp, T_ *restrict C, int64_t ldc, \
                                   int nr, int add, const T_ *restrict bias)                   \
    {                                                                                           \
        ukernel512_2v_##TS_(kc, A, rsa, csa, mr, Bp, 2 * W_, C, ldc, nr, add, bias);            \
    }
BP_PANEL_KERNELS(f32, float, 16)
BP_PANEL_KERNELS(f64, double, 8)
BP_GEMM(gemm_avx512_f32, ukernel512p_f32, float, MR4, NR512_F32, NC512_F32, pack_bt_f32)
BP_GEMM(gemm_avx512_f64, ukernel512p_f64, double, MR4, NR512_F64, NC512_F64, pack_bt_f64)
BP_GEMM(gemm_avx512n_f32, ukernel512pn_f32, float, MR2, NR512N_F32, NC512_F32, pack_bt_f32)
BP_GEMM(gemm_avx512n_f64, ukernel512pn_f64, double, MR2, NR512N_F64, NC512_F64, pack_bt_f64)

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
    static inline __attribute__((always_inline)) void NAME_##_blk(                                            \
        int64_t K, const T_ *A, int64_t lda, const T_ *B, int64_t ldb, const int N, const int full,           \
        uint32_t m0, uint32_t m1, T_ (*tmp)[2 * W_])                                                          \
    {                                                                                                         \
        V_ c0_0 = ZERO_(), c0_1 = ZERO_(), c1_0 = ZERO_(), c1_1 = ZERO_(), c2_0 = ZERO_(), c2_1 = ZERO_(),    \
           c3_0 = ZERO_(), c3_1 = ZERO_(), c4_0 = ZERO_(), c4_1 = ZERO_(), c5_0 = ZERO_(), c5_1 = ZERO_(),    \
           c6_0 = ZERO_(), c6_1 = ZERO_(), c7_0 = ZERO_(), c7_1 = ZERO_(), c8_0 = ZERO_(), c8_1 = ZERO_(),    \
           c9_0 = ZERO_(), c9_1 = ZERO_(), c10_0 = ZERO_(), c10_1 = ZERO_(), c11_0 = ZERO_(), c11_1 = ZERO_();\
        _Pragma("GCC unroll 4") for (int64_t k = 0; k < K; ++k) {                                             \
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
    static void NAME_(int64_t M, int64_t N, int64_t K, const T_ *A, int64_t lda, const T_ *B,                 \
                      int64_t ldb, const T_ *bias, T_ *C, int64_t ldc, int add)                               \
    {                                                                                                         \
        T_ tmp[TN_NJ][2 * W_] __attribute__((aligned(64)));                                                   \
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
    static void NAME_(int64_t M, int64_t N, int64_t K, const T_ *A, int64_t rsa, int64_t csa,  \
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
    static void NAME_(int64_t M, int64_t N, int64_t K, const T_ *A, int64_t rsa, int64_t csa,  \
                      const T_ *B, int64_t csb, const T_ *bias, T_ *C, int64_t ldc, int add)   \
    {                                                                                          \
        T_ Bt[KC * 4 * W_] __attribute__((aligned(64)));                                       \
        const int64_t ldt = (N + W_ - 1) / W_ * W_;                                            \
        PACK_BT_(K, N, N, B, csb, Bt, ldt);                                                    \
        if (rsa == 1 && N <= TN_NJ)                                                            \
            TN_NARROW_(M, N, K, A, csa, Bt, ldt, bias, C, ldc, add);                           \
        else                                                                                   \
            NOPACK_(M, N, K, A, rsa, csa, Bt, ldt, bias, C, ldc, add);                         \
    }
BP_SMALL_NT512(gemm_small_nt512_f32, float, 16, pack_bt_f32, gemm_nopack512_f32, gemm_tn_narrow512_f32)
BP_SMALL_NT512(gemm_small_nt512_f64, double, 8, pack_bt_f64, gemm_nopack512_f64, gemm_tn_narrow512_f64)


#pragma GCC pop_options
#endif /* BP_X86 */

/* ---------------------------------------------------------------------------
   Path choice: decided once, at the first call (a benign race: every thread
   computes the same answer; the atomics keep the read and write whole).      */

static int bp_path = -1; /* -1: not decided yet, 0: generic, 1: avx2-fma, 2: avx512 */

static int env_set(const char *name)
{
    const char *v = getenv(name);
    return v && v[0] && strcmp(v, "0") != 0;
}

/* BACKPROP_FORCE_GENERIC=1: the portable path; BACKPROP_NO_AVX512=1: at most AVX2. */
static int detect_path(void)
{
    if (env_set("BACKPROP_FORCE_GENERIC"))
        return 0;
#if BP_X86
    __builtin_cpu_init();
    if (!(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")))
        return 0;
    if (__builtin_cpu_supports("avx512f") && !env_set("BACKPROP_NO_AVX512"))
        return 2;
    return 1;
#else
    return 0;
#endif
}

int bp_simd_level(void)
{
#ifdef __GNUC__
    int p = __atomic_load_n(&bp_path, __ATOMIC_ACQUIRE);
    if (p < 0) {
        p = detect_path();
        __atomic_store_n(&bp_path, p, __ATOMIC_RELEASE);
    }
#else
    int p = bp_path;
    if (p < 0)
        bp_path = p = detect_path();
#endif
    return p;
}

BP_MAYBE_UNUSED static int use_avx2(void) /* the AVX2 code of the element-wise kernels: on paths 1 and 2 */
{
    return bp_simd_level() >= 1;
}

const char *bp_simd_path(void)
{
    static const char *const names[] = {"generic", "avx2-fma", "avx512"};
    return names[bp_simd_level()];
}

int bp_openmp_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

/* Call NAME_TS_avx2(...) or NAME_TS_generic(...). */
#if BP_X86
#define BP_CALL(name, TS_, ...) (use_avx2() ? name##_##TS_##_avx2(__VA_ARGS__) : name##_##TS_##_generic(__VA_ARGS__))
#else
#define BP_CALL(name, TS_, ...) (name##_##TS_##_generic(__VA_ARGS__))
#endif

#define BP_CHECK(cond) do { if (!(cond)) return BP_EINVAL; } while (0)

/* ---------------------------------------------------------------------------
   Public functions: validate, then dispatch.  Instantiated for both types.   */

#define BP_PUBLIC(TS_, T_)                                                                      \
    int bp_matmul_##TS_(int64_t M, int64_t N, int64_t K, const T_ *A, int64_t lda, int trans_a, \
                        const T_ *B, int64_t ldb, int trans_b, const T_ *bias, T_ *C,          \
                        int64_t ldc, int accumulate)                                            \
    {                                                                                           \
        BP_CHECK(M >= 0 && N >= 0 && K >= 0);                                                   \
        if (M == 0 || N == 0)                                                                   \
            return BP_OK;                                                                       \
        BP_CHECK(C && ldc >= N);                                                                \
        if (K > 0) {                                                                            \
            BP_CHECK(A && B);                                                                   \
            BP_CHECK(lda >= (trans_a ? M : K) && ldb >= (trans_b ? K : N));                     \
        }                                                                                       \
        /* op(A)[i,k] = A[i*rsa + k*csa], op(B)[k,j] = B[k*rsb + j*csb] */                      \
        const int64_t rsa = trans_a ? 1 : lda, csa = trans_a ? lda : 1;                         \
        const int64_t rsb = trans_b ? 1 : ldb, csb = trans_b ? ldb : 1;                         \
        if (K == 0)                                                                             \
            gemm_ref_##TS_##_generic(M, N, 0, A, rsa, csa, B, rsb, csb, bias, C, ldc, accumulate); \
        else                                                                                    \
            BP_GEMM_CALL(TS_, M, N, K, A, rsa, csa, B, rsb, csb, bias, C, ldc, accumulate);  \
        return BP_OK;                                                                           \
    }                                                                                           \
    int bp_relu_##TS_(int64_t n, const T_ *z, T_ *a)                                            \
    {                                                                                           \
        BP_CHECK(n >= 0 && (n == 0 || (z && a)));                                               \
        BP_CALL(relu, TS_, n, z, a);                                                            \
        return BP_OK;                                                                           \
    }                                                                                           \
    int bp_relu_backward_##TS_(int64_t n, T_ *delta, const T_ *z)                               \
    {                                                                                           \
        BP_CHECK(n >= 0 && (n == 0 || (delta && z)));                                           \
        BP_CALL(relu_backward, TS_, n, delta, z);                                               \
        return BP_OK;                                                                           \
    }                                                                                           \
    int bp_sgd_update_##TS_(int64_t n, T_ *param, const T_ *grad, T_ lr)                        \
    {                                                                                           \
        BP_CHECK(n >= 0 && (n == 0 || (param && grad)));                                        \
        BP_CALL(sgd_update, TS_, n, param, grad, lr);                                           \
        return BP_OK;                                                                           \
    }                                                                                           \
    int bp_column_sum_##TS_(int64_t M, int64_t N, const T_ *a, int64_t lda, T_ *out)            \
    {                                                                                           \
        BP_CHECK(M >= 0 && N >= 0);                                                             \
        if (N == 0)                                                                             \
            return BP_OK;                                                                       \
        BP_CHECK(out && (M == 0 || (a && lda >= N)));                                           \
        BP_CALL(column_sum, TS_, M, N, a, lda, out);                                            \
        return BP_OK;                                                                           \
    }                                                                                           \
    int bp_softmax_##TS_(int64_t M, int64_t N, const T_ *z, T_ *p)                              \
    {                                                                                           \
        BP_CHECK(M >= 0 && N >= 0);                                                             \
        if (M == 0 || N == 0)                                                                   \
            return BP_OK;                                                                       \
        BP_CHECK(z && p);                                                                       \
        BP_CALL(softmax, TS_, M, N, z, p);                                                      \
        return BP_OK;                                                                           \
    }                                                                                           \
    int bp_cross_entropy_##TS_(int64_t M, int64_t N, const T_ *p, const T_ *y, double *loss)    \
    {                                                                                           \
        BP_CHECK(M >= 0 && N >= 0 && loss);                                                     \
        BP_CHECK(M * N == 0 || (p && y));                                                       \
        *loss = BP_CALL(cross_entropy, TS_, M, N, p, y);                                        \
        return BP_OK;                                                                           \
    }                                                                                           \
    int bp_output_delta_##TS_(int64_t M, int64_t N, const T_ *p, const T_ *y, T_ *delta)        \
    {                                                                                           \
        BP_CHECK(M >= 0 && N >= 0);                                                             \
        BP_CHECK(M * N == 0 || (p && y && delta));                                              \
        BP_CALL(output_delta, TS_, M, N, p, y, delta);                                          \
        return BP_OK;                                                                           \
    }                                                                                           \
    int bp_softmax_xent_delta_##TS_(int64_t M, int64_t N, const T_ *z, const int32_t *labels,   \
                                    T_ *p, T_ *delta, double *loss)                             \
    {                                                                                           \
        BP_CHECK(M >= 0 && N >= 0 && loss);                                                     \
        BP_CHECK(M == 0 || (N > 0 && z && labels && delta));                                    \
        for (int64_t i = 0; i < M; ++i)                                                         \
            BP_CHECK(labels[i] >= 0 && labels[i] < N);                                          \
        *loss = BP_CALL(softmax_xent_delta, TS_, M, N, z, labels, p, delta);                    \
        return BP_OK;                                                                           \
    }                                                                                           \
    int bp_gather_scale_##TS_(int64_t B, int64_t D, const uint8_t *images, int64_t n_images,    \
                              const int64_t *idx, T_ scale, T_ *out)                            \
    {                                                                                           \
        BP_CHECK(B >= 0 && D >= 0 && n_images >= 0);                                            \
        if (B == 0)                                                                             \
            return BP_OK;                                                                       \
        BP_CHECK(idx && (D == 0 || (images && out)));                                           \
        for (int64_t i = 0; i < B; ++i)                                                         \
            BP_CHECK(idx[i] >= 0 && idx[i] < n_images);                                         \
        BP_CALL(gather_scale, TS_, B, D, images, idx, scale, out);                              \
        return BP_OK;                                                                           \
    }

/* matmul: the small-product or blocked AVX-512 code, the AVX2 code, or the reference
   loop on the generic path. */
#if BP_X86
#define BP_GEMM_DISPATCH(TS_, T_, NR_, W512_)                                                   \
    static void gemm_dispatch_##TS_(int64_t M, int64_t N, int64_t K, const T_ *A, int64_t rsa,  \
                                    int64_t csa, const T_ *B, int64_t rsb, int64_t csb,         \
                                    const T_ *bias, T_ *C, int64_t ldc, int accumulate)         \
    {                                                                                           \
        const int level = bp_simd_level();                                                      \
        if (level == 2 && csb == 1 && K <= KC && rsa == 1 && N <= TN_NJ)                        \
            gemm_tn_narrow512_##TS_(M, N, K, A, csa, B, rsb, bias, C, ldc, accumulate);         \
        else if (level == 2 && csb == 1 && K <= KC && N <= 4 * W512_)                           \
            gemm_nopack512_##TS_(M, N, K, A, rsa, csa, B, rsb, bias, C, ldc, accumulate);       \
        else if (level == 2 && rsb == 1 && K <= KC && N <= 4 * W512_)                           \
            gemm_small_nt512_##TS_(M, N, K, A, rsa, csa, B, csb, bias, C, ldc, accumulate);     \
        else if (level == 2 && N > 2 * W512_)                                                   \
            gemm_avx512_##TS_(M, N, K, A, rsa, csa, B, rsb, csb, bias, C, ldc, accumulate);     \
        else if (level == 2 && N > NR_)  /* a C no wider than one AVX2 panel: AVX2 below */     \
            gemm_avx512n_##TS_(M, N, K, A, rsa, csa, B, rsb, csb, bias, C, ldc, accumulate);    \
        else if (level >= 1)                                                                    \
            gemm_avx2_##TS_(M, N, K, A, rsa, csa, B, rsb, csb, bias, C, ldc, accumulate);       \
        else                                                                                    \
            gemm_ref_##TS_##_generic(M, N, K, A, rsa, csa, B, rsb, csb, bias, C, ldc, accumulate); \
    }
BP_GEMM_DISPATCH(f32, float, NR_F32, 16)
BP_GEMM_DISPATCH(f64, double, NR_F64, 8)
#define BP_GEMM_CALL(TS_, ...) gemm_dispatch_##TS_(__VA_ARGS__)
#else
#define BP_GEMM_CALL(TS_, ...) gemm_ref_##TS_##_generic(__VA_ARGS__)
#endif

BP_PUBLIC(f32, float)
BP_PUBLIC(f64, double)
