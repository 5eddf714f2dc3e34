/* kernels.h — the C kernels behind native.kernels (declarations only: build_ffi.py
   feeds this file verbatim to cffi's cdef, so no #include, #ifdef or macro expressions).
   Every matrix is row-major with an explicit leading dimension (row stride, in elements).
   Every function returns BP_OK (0) or an error code; sizes are int64_t.  C callers include
   <stdint.h> first.  All functions are re-entrant and thread-safe (no allocation, no global
   state but the one-time SIMD choice); they run single-threaded. */

#define BP_OK 0        /* success */
#define BP_EINVAL 1    /* bad argument: negative size, leading dim too small, NULL pointer, label/index out of range */

/* C[MxN] = op(A) @ op(B) (+ bias[N] on every row if bias != NULL) (+ old C if accumulate); op(A)=A (MxK) or A^T (A stored KxM) if trans_a; op(B)=B (KxN) or B^T (B stored NxK) if trans_b. */
int bp_matmul_f32(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, int trans_a, const float *B, int64_t ldb, int trans_b, const float *bias, float *C, int64_t ldc, int accumulate);
/* a[i] = max(z[i], 0); a may equal z. */
int bp_relu_f32(int64_t n, const float *z, float *a);
/* delta[i] *= (z[i] > 0), in place. */
int bp_relu_backward_f32(int64_t n, float *delta, const float *z);
/* param[i] -= lr * grad[i], in place. */
int bp_sgd_update_f32(int64_t n, float *param, const float *grad, float lr);
/* out[j] = sum_i a[i, j] for an MxN matrix with row stride lda (dL/db = sum(delta, axis=0)). */
int bp_column_sum_f32(int64_t M, int64_t N, const float *a, int64_t lda, float *out);
/* p = row-wise softmax(z) of an MxN matrix, max-subtracted; p may equal z. */
int bp_softmax_f32(int64_t M, int64_t N, const float *z, float *p);
/* *loss = -(1/M) sum y * log(max(p, smallest normal float)): finite even where p == 0. */
int bp_cross_entropy_f32(int64_t M, int64_t N, const float *p, const float *y, double *loss);
/* delta = (p - y) / M. */
int bp_output_delta_f32(int64_t M, int64_t N, const float *p, const float *y, float *delta);
/* fused: p = softmax(z) (skipped if p == NULL), *loss = mean CE against labels[M] in [0,N), delta = (p - onehot(labels)) / M. */
int bp_softmax_xent_delta_f32(int64_t M, int64_t N, const float *z, const int32_t *labels, float *p, float *delta, double *loss);
/* out[i, :] = images[idx[i], :] * scale for i < B; images is n_images x D uint8, idx[i] in [0, n_images). */
int bp_gather_scale_f32(int64_t B, int64_t D, const uint8_t *images, int64_t n_images, const int64_t *idx, float scale, float *out);

/* The same kernels in double precision. */
int bp_matmul_f64(int64_t M, int64_t N, int64_t K, const double *A, int64_t lda, int trans_a, const double *B, int64_t ldb, int trans_b, const double *bias, double *C, int64_t ldc, int accumulate);
int bp_relu_f64(int64_t n, const double *z, double *a);
int bp_relu_backward_f64(int64_t n, double *delta, const double *z);
int bp_sgd_update_f64(int64_t n, double *param, const double *grad, double lr);
int bp_column_sum_f64(int64_t M, int64_t N, const double *a, int64_t lda, double *out);
int bp_softmax_f64(int64_t M, int64_t N, const double *z, double *p);
int bp_cross_entropy_f64(int64_t M, int64_t N, const double *p, const double *y, double *loss);
int bp_output_delta_f64(int64_t M, int64_t N, const double *p, const double *y, double *delta);
int bp_softmax_xent_delta_f64(int64_t M, int64_t N, const double *z, const int32_t *labels, double *p, double *delta, double *loss);
int bp_gather_scale_f64(int64_t B, int64_t D, const uint8_t *images, int64_t n_images, const int64_t *idx, double scale, double *out);

/* The code path actually used: "avx512" (matmul and sparse.h in AVX-512, the rest AVX2), "avx2-fma", "neon" (arm64) or "generic"; chosen once at the first call from the CPU (kernels_select.c); BACKPROP_FORCE_GENERIC=1 forces "generic", BACKPROP_NO_AVX512=1 caps it at "avx2-fma". */
const char *bp_simd_path(void);
/* The same choice as a number: 0 generic, 1 avx2-fma, 2 avx512, 3 neon. */
int bp_simd_level(void);
/* omp_get_max_threads(), or 1 when built without OpenMP. */
int bp_openmp_threads(void);
