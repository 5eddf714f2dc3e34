/* kernels_avx2.c — the AVX2 + FMA path (x86-64, Haswell / Zen and later): the
   blocked GEMM's 6 x 16-float (6 x 8-double) micro-kernel in intrinsics, the
   element-wise and sparse kernels compiled for AVX2 (the compiler vectorizes them).
   Every function carries BP_TARGET("avx2,fma"), which GCC and clang both honour (a
   `#pragma GCC target` region would be GCC-only: clang would compile nothing here),
   so the rest of the library stays portable and kernels_select.c runs this path
   only on a CPU (and OS) that has AVX2 and FMA. */
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

/* ---------------------------------------------------------------------------
   Element-wise and sparse kernels: the portable C, compiled for AVX2.        */

/* exp_in_place's float exps, four at a time (exp_vec.inc) */
BP_TARGET("avx2,fma") static inline unsigned bp_expv_flags256(__m256d x, __m256i d)
{
    const __m256d in = _mm256_and_pd(_mm256_cmp_pd(x, _mm256_set1_pd(-87.0), _CMP_GE_OQ),
                                     _mm256_cmp_pd(x, _mm256_setzero_pd(), _CMP_LE_OQ));
    const __m256i clear = _mm256_or_si256(_mm256_cmpgt_epi64(d, _mm256_set1_epi64x(4096)),
                                          _mm256_cmpgt_epi64(_mm256_set1_epi64x(-4096), d));
    return (unsigned)_mm256_movemask_pd(_mm256_and_pd(in, _mm256_castsi256_pd(clear))) ^ 15u;
}
#define EXPV_NAME bp_exp_f32_avx2
#define EXPV_ATTR BP_TARGET("avx2,fma")
#define EXPV_W 4
#define EXPV_D __m256d
#define EXPV_I __m256i
#define EXPV_SET1(v) _mm256_set1_pd(v)
#define EXPV_SET1I(v) _mm256_set1_epi64x(v)
#define EXPV_ADD(a, b) _mm256_add_pd((a), (b))
#define EXPV_SUB(a, b) _mm256_sub_pd((a), (b))
#define EXPV_MUL(a, b) _mm256_mul_pd((a), (b))
#define EXPV_MIN(a, b) _mm256_min_pd((a), (b))
#define EXPV_MAX(a, b) _mm256_max_pd((a), (b))
#define EXPV_ISUB(a, b) _mm256_sub_epi64((a), (b))
#define EXPV_SHL52(a) _mm256_slli_epi64((a), 52)
#define EXPV_AND(a, b) _mm256_and_si256((a), (b))
#define EXPV_CASTI(a) _mm256_castpd_si256(a)
#define EXPV_CASTD(a) _mm256_castsi256_pd(a)
#define EXPV_LOADF(p) _mm256_cvtps_pd(_mm_loadu_ps(p))
#define EXPV_STOREF(p, v) _mm_storeu_ps((p), _mm256_cvtpd_ps(v))
#define EXPV_STORED(p, v) _mm256_storeu_pd((p), (v))
#define EXPV_FLAGS(x, d) bp_expv_flags256((x), (d))
#include "exp_vec.inc"
#define BP_EXP_F32 bp_exp_f32_avx2

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

#define T float
#define TS f32
#define V __m256
#define VL 8
#define VSET1(x) _mm256_set1_ps(x)
#define VLOAD(p) _mm256_loadu_ps(p)
#define VSTORE(p, v) _mm256_storeu_ps((p), (v))
#define VMUL(a, b) _mm256_mul_ps((a), (b))
#define VFMA(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define SFMA(a, b, c) fmaf((a), (b), (c))
#include "sparse_impl.inc"
#define T double
#define TS f64
#define V __m256d
#define VL 4
#define VSET1(x) _mm256_set1_pd(x)
#define VLOAD(p) _mm256_loadu_pd(p)
#define VSTORE(p, v) _mm256_storeu_pd((p), (v))
#define VMUL(a, b) _mm256_mul_pd((a), (b))
#define VFMA(a, b, c) _mm256_fmadd_pd((a), (b), (c))
#define SFMA(a, b, c) fma((a), (b), (c))
#include "sparse_impl.inc"
#undef TP
#undef BP_EXP_F32
#undef TATTR

/* ---------------------------------------------------------------------------
   GEMM micro-kernel (see gemm_blocked.inc for the blocking).  Register tile:

            panel row k: b0 (8 floats)  b1 (8 floats)
     a0[k]  ->           c00            c01
     a1[k]  ->           c10            c11
      ...                ...            ...
     a5[k]  ->           c50            c51        12 ymm accumulators

   per k: 2 loads of the packed panel, 6 broadcasts of op(A), 12 FMAs.  Edges: a
   strip of mr < MR rows repeats row 0 in the unused accumulator rows and stores only
   mr rows; a panel of nr < NR columns is zero-padded when packed and stored with
   masked loads/stores (which never touch memory past column nr).  */

enum { MR = 6, NR_F32 = 16, NR_F64 = 8, NC_F32 = 128, NC_F64 = 64 };

/* Lanes [0, n) of a 256-bit vector of 8 floats / 4 doubles, as a maskload mask. */
BP_AVX2 static inline __m256i lanes_below_f32(int n)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
BP_AVX2 static inline __m256i lanes_below_f64(int n)
{
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3));
}

#define BP_UKERNEL256(NAME_, T_, V_, W_, BCAST_, LOAD_, LOADU_, STOREU_, MLOAD_, MSTORE_, FMADD_,  \
                      ZERO_, ADD_, LANES_)                                                      \
    BP_AVX2 static void NAME_(int64_t kc, const T_ *BP_RESTRICT A, int64_t rsa, int64_t csa,     \
                              int mr,                                                            \
                      const T_ *BP_RESTRICT Bp, T_ *BP_RESTRICT C, int64_t ldc, int nr, int add,\
                      const T_ *BP_RESTRICT bias)                                                \
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

/* Transposing packers for trans_b (kernels_avx512.c uses them too): an 8x8 (float) / 4x4 (double) block of the
   source (rows j, columns k, row stride lds) becomes rows k of dst (stride ldd). */
BP_AVX2 static inline void transpose8x8_ps(const float *src, int64_t lds, float *dst, int64_t ldd)
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

BP_AVX2 static inline void transpose4x4_pd(const double *src, int64_t lds, double *dst, int64_t ldd)
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
    BP_AVX2 void NAME_(int64_t kc, int64_t w, int64_t wpad, const T_ *src, int64_t lds,        \
                       T_ *dst, int64_t ldd)                                                     \
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
BP_PACK_BT(bp_pack_bt_f32_avx2, float, 8, transpose8x8_ps)
BP_PACK_BT(bp_pack_bt_f64_avx2, double, 4, transpose4x4_pd)

BP_GEMM(BP_AVX2, gemm_avx2_f32_, ukernel_f32, float, MR, NR_F32, NC_F32, bp_pack_bt_f32_avx2)
BP_GEMM(BP_AVX2, gemm_avx2_f64_, ukernel_f64, double, MR, NR_F64, NC_F64, bp_pack_bt_f64_avx2)

/* (kernels_avx512.c sends C narrower than a 512-bit panel here) */
BP_AVX2 void bp_gemm_f32_avx2(int64_t M, int64_t N, int64_t K, const float *A, int64_t rsa,
                              int64_t csa, const float *B, int64_t rsb, int64_t csb,
                              const float *bias, float *C, int64_t ldc, int accumulate)
{
    gemm_avx2_f32_(M, N, K, A, rsa, csa, B, rsb, csb, bias, C, ldc, accumulate);
}
BP_AVX2 void bp_gemm_f64_avx2(int64_t M, int64_t N, int64_t K, const double *A, int64_t rsa,
                              int64_t csa, const double *B, int64_t rsb, int64_t csb,
                              const double *bias, double *C, int64_t ldc, int accumulate)
{
    gemm_avx2_f64_(M, N, K, A, rsa, csa, B, rsb, csb, bias, C, ldc, accumulate);
}

const struct bp_path bp_path_avx2 = {
    "avx2-fma", BP_LEVEL_AVX2, 1,
    BP_PATH_INIT(f32, bp_gemm_f32_avx2, avx2, avx2),
    BP_PATH_INIT(f64, bp_gemm_f64_avx2, avx2, avx2),
};

#else
typedef int bp_no_avx2_here; /* (ISO C wants something in a translation unit) */
#endif /* BP_HAVE_X86_SIMD */
