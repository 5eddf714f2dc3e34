/* kernels.c — the public kernels of kernels.h: argument checks, then a call through
   the table of the SIMD path kernels_select.c chose (kernels_paths.inc).  The kernels
   themselves live one file per instruction set: kernels_generic.c (portable C),
   kernels_avx2.c, kernels_avx512.c (x86-64), kernels_neon.c (arm64). */
#include <stdint.h>

#include "kernels.h"
#include "kernels_paths.inc"

#define BP_CHECK(cond) do { if (!(cond)) return BP_EINVAL; } while (0)
/* the chosen path's entry `name` (a member of struct bp_path) */
#define BP_CALL(name, ...) (bp_active_path()->name(__VA_ARGS__))

/* A product with K = 0: C = bias (or 0); with accumulate C += bias (or C unchanged). */
#define BP_GEMM_K0(TS_, T_)                                                                     \
    static void gemm_k0_##TS_(int64_t M, int64_t N, const T_ *bias, T_ *C, int64_t ldc,         \
                              int accumulate)                                                   \
    {                                                                                           \
        if (accumulate && !bias)                                                                \
            return;                                                                             \
        for (int64_t i = 0; i < M; ++i)                                                         \
            for (int64_t j = 0; j < N; ++j) {                                                   \
                const T_ b = bias ? bias[j] : (T_)0;                                            \
                C[i * ldc + j] = accumulate ? C[i * ldc + j] + b : b;                           \
            }                                                                                   \
    }
BP_GEMM_K0(f32, float)
BP_GEMM_K0(f64, double)

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
            gemm_k0_##TS_(M, N, bias, C, ldc, accumulate);                                      \
        else                                                                                    \
            bp_active_path()->gemm_##TS_(M, N, K, A, rsa, csa, B, rsb, csb, bias, C, ldc,       \
                                         accumulate);                                           \
        return BP_OK;                                                                           \
    }                                                                                           \
    int bp_relu_##TS_(int64_t n, const T_ *z, T_ *a)                                            \
    {                                                                                           \
        BP_CHECK(n >= 0 && (n == 0 || (z && a)));                                               \
        BP_CALL(relu##_##TS_, n, z, a);                                                            \
        return BP_OK;                                                                           \
    }                                                                                           \
    int bp_relu_backward_##TS_(int64_t n, T_ *delta, const T_ *z)                               \
    {                                                                                           \
        BP_CHECK(n >= 0 && (n == 0 || (delta && z)));                                           \
        BP_CALL(relu_backward##_##TS_, n, delta, z);                                               \
        return BP_OK;                                                                           \
    }                                                                                           \
    int bp_sgd_update_##TS_(int64_t n, T_ *param, const T_ *grad, T_ lr)                        \
    {                                                                                           \
        BP_CHECK(n >= 0 && (n == 0 || (param && grad)));                                        \
        BP_CALL(sgd_update##_##TS_, n, param, grad, lr);                                           \
        return BP_OK;                                                                           \
    }                                                                                           \
    int bp_column_sum_##TS_(int64_t M, int64_t N, const T_ *a, int64_t lda, T_ *out)            \
    {                                                                                           \
        BP_CHECK(M >= 0 && N >= 0);                                                             \
        if (N == 0)                                                                             \
            return BP_OK;                                                                       \
        BP_CHECK(out && (M == 0 || (a && lda >= N)));                                           \
        BP_CALL(column_sum##_##TS_, M, N, a, lda, out);                                            \
        return BP_OK;                                                                           \
    }                                                                                           \
    int bp_softmax_##TS_(int64_t M, int64_t N, const T_ *z, T_ *p)                              \
    {                                                                                           \
        BP_CHECK(M >= 0 && N >= 0);                                                             \
        if (M == 0 || N == 0)                                                                   \
            return BP_OK;                                                                       \
        BP_CHECK(z && p);                                                                       \
        BP_CALL(softmax##_##TS_, M, N, z, p);                                                      \
        return BP_OK;                                                                           \
    }                                                                                           \
    int bp_cross_entropy_##TS_(int64_t M, int64_t N, const T_ *p, const T_ *y, double *loss)    \
    {                                                                                           \
        BP_CHECK(M >= 0 && N >= 0 && loss);                                                     \
        BP_CHECK(M * N == 0 || (p && y));                                                       \
        *loss = BP_CALL(cross_entropy##_##TS_, M, N, p, y);                                        \
        return BP_OK;                                                                           \
    }                                                                                           \
    int bp_output_delta_##TS_(int64_t M, int64_t N, const T_ *p, const T_ *y, T_ *delta)        \
    {                                                                                           \
        BP_CHECK(M >= 0 && N >= 0);                                                             \
        BP_CHECK(M * N == 0 || (p && y && delta));                                              \
        BP_CALL(output_delta##_##TS_, M, N, p, y, delta);                                          \
        return BP_OK;                                                                           \
    }                                                                                           \
    int bp_softmax_xent_delta_##TS_(int64_t M, int64_t N, const T_ *z, const int32_t *labels,   \
                                    T_ *p, T_ *delta, double *loss)                             \
    {                                                                                           \
        BP_CHECK(M >= 0 && N >= 0 && loss);                                                     \
        BP_CHECK(M == 0 || (N > 0 && z && labels && delta));                                    \
        for (int64_t i = 0; i < M; ++i)                                                         \
            BP_CHECK(labels[i] >= 0 && labels[i] < N);                                          \
        *loss = BP_CALL(softmax_xent_delta##_##TS_, M, N, z, labels, p, delta);                    \
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
        BP_CALL(gather_scale##_##TS_, B, D, images, idx, scale, out);                              \
        return BP_OK;                                                                           \
    }

BP_PUBLIC(f32, float)
BP_PUBLIC(f64, double)
