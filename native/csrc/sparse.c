/* sparse.c — the sparse first layer of sparse.h: building a sparse image set, the
   argument checks, and a call to the chosen path's kernels (sparse_impl.inc, compiled
   by each kernels_<isa>.c file; kernels_select.c chooses).

   Why it pays: the dense first layer of an MNIST epoch multiplies 64x784 batches
   whose entries are ~81 % zero. Skipping them is exact: a skipped term is 0·w = 0
   (for finite w), so only the order of the remaining sums differs from the dense
   GEMM, and the results differ from it in the last bits, as two GEMMs would.
   train.c calls the *_nocheck entry points, after checking the whole set once
   per call with bp_sparse_usable. */
#include <stdint.h>
#include <string.h>
#include <math.h>

#include "kernels.h"
#include "sparse.h"
#include "kernels_paths.inc"

/* the chosen path's sparse kernel (kernels_paths.inc) */
#define SP_CALL(name, TS_, ...) (bp_active_path()->name##_##TS_(__VA_ARGS__))

#define SP_CHECK(cond) do { if (!(cond)) return BP_EINVAL; } while (0)

int bp_sparse_count(int64_t n, int64_t D, const uint8_t *images, int64_t *row_start)
{
    SP_CHECK(n >= 0 && D >= 0 && D <= 65536 && row_start && (n == 0 || D == 0 || images));
    int64_t total = 0;
    row_start[0] = 0;
    for (int64_t i = 0; i < n; ++i) {
        const uint8_t *src = images + i * D;
        int64_t c = 0;
        for (int64_t k = 0; k < D; ++k)     /* a branch-free count: vectorizes */
            c += src[k] != 0;
        total += c;
        row_start[i + 1] = total;
    }
    return BP_OK;
}

int bp_sparse_fill(int64_t n, int64_t D, const uint8_t *images, const int64_t *row_start,
                   uint16_t *col, uint8_t *pix)
{
    SP_CHECK(n >= 0 && D >= 0 && D <= 65536 && row_start && (n == 0 || D == 0 || images));
    const int64_t total = row_start[n];
    SP_CHECK(total >= 0 && (total == 0 || (col && pix)));
    for (int64_t i = 0; i < n; ++i) {
        const uint8_t *src = images + i * D;
        int64_t p = row_start[i];
        const int64_t end = row_start[i + 1];
        SP_CHECK(p >= 0 && p <= end && end <= total);
        for (int64_t k0 = 0; k0 < D; k0 += 8) {
            const int64_t k1 = k0 + 8 < D ? k0 + 8 : D;
            uint64_t word = 0;      /* a digit's borders: whole words of zeros, one test each */
            memcpy(&word, src + k0, (size_t)(k1 - k0));
            if (word == 0)
                continue;
            if (p + 8 <= total) {
                /* Branch-free: write every pixel of the word, advance only past the
                   nonzero ones (zeros and nonzeros alternate unpredictably). A write
                   past this image's share lands in the next one's, rewritten later;
                   the check below catches a row_start that is not bp_sparse_count's. */
                for (int64_t k = k0; k < k1; ++k) {
                    col[p] = (uint16_t)k;
                    pix[p] = src[k];
                    p += src[k] != 0;
                }
            } else {                /* near the end of the arrays: one write per pixel */
                for (int64_t k = k0; k < k1; ++k)
                    if (src[k]) {
                        SP_CHECK(p < total);
                        col[p] = (uint16_t)k;
                        pix[p++] = src[k];
                    }
            }
            SP_CHECK(p <= end);
        }
        SP_CHECK(p == end);
    }
    return BP_OK;
}

int bp_sparse_valid(int64_t n, int64_t D, const int64_t *row_start, const uint16_t *col,
                    int64_t nnz)
{
    if (n < 0 || D < 1 || D > 65536 || nnz < 0 || row_start == NULL || row_start[0] != 0)
        return 0;
    for (int64_t i = 0; i < n; ++i)
        if (row_start[i + 1] < row_start[i])
            return 0;
    if (row_start[n] != nnz || (nnz > 0 && col == NULL))
        return 0;
    /* Pixel indices strictly increasing within an image (the kernels' tiles and the
       threads' pixel ranges rely on it) and below D. One long branch-free pass over
       all of col counts the places where an index does not increase; each must be
       the first pixel of an image, where the previous image's last one stands before
       it. (Looping image by image costs twice as much: ~150 pixels an image.) */
    int64_t falls = 0, at_starts = 0;
    uint16_t mx = nnz > 0 ? col[0] : 0;
    for (int64_t p = 1; p < nnz; ++p) {
        falls += col[p] <= col[p - 1];
        mx = col[p] > mx ? col[p] : mx;
    }
    for (int64_t i = 0, last = 0; i < n; ++i) {
        const int64_t p = row_start[i];
        if (p > last && p < nnz) {      /* each boundary once, even after empty images */
            at_starts += col[p] <= col[p - 1];
            last = p;
        }
    }
    return falls == at_starts && mx < D;
}

int bp_sparse_usable(int64_t n, int64_t D, const int64_t *row_start, const uint16_t *col,
                     int64_t nnz, int checked)
{
    if (!checked)
        return bp_sparse_valid(n, D, row_start, col, nnz);
    return n >= 0 && D >= 1 && D <= 65536 && nnz >= 0 && row_start && row_start[0] == 0
           && row_start[n] == nnz && (nnz == 0 || col);
}

/* The rows of a batch refer to images of a usable set (idx in range or NULL = 0..M-1). */
static int batch_valid(int64_t M, int64_t K, const int64_t *row_start, const uint16_t *col,
                       int64_t nnz, int64_t n_images, int checked, const int64_t *idx)
{
    if (!idx && M > n_images)
        return 0;
    for (int64_t i = 0; i < M; ++i)
        if (idx && (idx[i] < 0 || idx[i] >= n_images))
            return 0;
    return bp_sparse_usable(n_images, K, row_start, col, nnz, checked);
}

/* Public (checked) and train.c's (unchecked) entry points, for both types. */
#define SP_PUBLIC(TS_, T_)                                                                      \
    void bp_sparse_matmul_nocheck_##TS_(int64_t M, int64_t N, int64_t K, const int64_t *rs,     \
                                        const uint16_t *col, const uint8_t *pix,               \
                                        const int64_t *idx, T_ scale, const T_ *W, int64_t ldw, \
                                        const T_ *bias, T_ *C, int64_t ldc)                    \
    {                                                                                           \
        SP_CALL(sp_mm, TS_, M, N, K, rs, col, pix, idx, scale, W, ldw, bias, C, ldc);          \
    }                                                                                           \
    void bp_sparse_matmul_t_acc_nocheck_##TS_(int64_t M, int64_t N, int64_t k_lo, int64_t k_hi, \
                                              const int64_t *rs, const uint16_t *col,          \
                                              const uint8_t *pix, const int64_t *idx, T_ scale, \
                                              const T_ *D, int64_t ldd, T_ *W, int64_t ldw)    \
    {                                                                                           \
        SP_CALL(sp_mm_t_acc, TS_, M, N, k_lo, k_hi, rs, col, pix, idx, scale, D, ldd, W, ldw); \
    }                                                                                           \
    void bp_sparse_matmul_keep_nocheck_##TS_(int64_t M, int64_t N, int64_t K, const int64_t *rs, \
                                             const uint16_t *col, const uint8_t *pix,          \
                                             const int64_t *idx, T_ scale, const T_ *W,        \
                                             int64_t ldw, const T_ *bias, T_ *C, int64_t ldc,  \
                                             uint8_t *keep, int relu)                          \
    {                                                                                           \
        SP_CALL(sp_mm_keep, TS_, M, N, K, rs, col, pix, idx, scale, W, ldw, bias, C, ldc, keep,  \
                relu);                                                                          \
    }                                                                                           \
    void bp_sparse_matmul_t_acc_kept_nocheck_##TS_(int64_t M, int64_t N, int64_t k_lo,          \
                                                   int64_t k_hi, const uint8_t *keep, T_ scale,       \
                                                   const T_ *D, int64_t ldd, T_ *W, int64_t ldw) \
    {                                                                                           \
        SP_CALL(sp_mm_t_acc_kept, TS_, M, N, k_lo, k_hi, keep, scale, D, ldd, W, ldw);          \
    }                                                                                           \
    void bp_sparse_t_acc_kept_then_matmul_keep_nocheck_##TS_(                                   \
        int64_t M_old, int64_t N, int64_t K, const uint8_t *keep_old, T_ scale, T_ *D,           \
        int64_t ldd, T_ *W, int64_t ldw, int64_t M, const int64_t *rs, const uint16_t *col,      \
        const uint8_t *pix, const int64_t *idx, T_ *bias, T_ *C, int64_t ldc,                    \
        uint8_t *keep_new, int rev, int relu, const T_ *A, int64_t lda, int64_t tile_bytes)      \
    {                                                                                           \
        SP_CALL(sp_mm_t_acc_kept_then_mm_keep, TS_, M_old, N, K, keep_old, scale, D, ldd, W,     \
                ldw, M, rs, col, pix, idx, bias, C, ldc, keep_new, rev, relu, A, lda,            \
                tile_bytes);                                                                    \
    }                                                                                           \
    int bp_sparse_matmul_##TS_(int64_t M, int64_t N, int64_t K, const int64_t *row_start,       \
                               const uint16_t *col, const uint8_t *pix, int64_t nnz,            \
                               int checked, int64_t n_images,                                   \
                               const int64_t *idx, T_ scale, const T_ *W, int64_t ldw,          \
                               const T_ *bias, T_ *C, int64_t ldc)                              \
    {                                                                                           \
        SP_CHECK(M >= 0 && N >= 0 && K >= 1 && n_images >= 0);                                  \
        if (M == 0 || N == 0)                                                                   \
            return BP_OK;                                                                       \
        SP_CHECK(C && ldc >= N && W && ldw >= N && pix);                                        \
        SP_CHECK(batch_valid(M, K, row_start, col, nnz, n_images, checked, idx));              \
        bp_sparse_matmul_nocheck_##TS_(M, N, K, row_start, col, pix, idx, scale, W, ldw, bias,  \
                                       C, ldc);                                                 \
        return BP_OK;                                                                           \
    }                                                                                           \
    int bp_sparse_matmul_t_acc_##TS_(int64_t M, int64_t N, int64_t K, const int64_t *row_start, \
                                     const uint16_t *col, const uint8_t *pix, int64_t nnz,      \
                                     int checked, int64_t n_images,                             \
                                     const int64_t *idx, T_ scale, const T_ *D, int64_t ldd,    \
                                     T_ *W, int64_t ldw)                                        \
    {                                                                                           \
        SP_CHECK(M >= 0 && N >= 0 && K >= 1 && n_images >= 0);                                  \
        if (M == 0 || N == 0)                                                                   \
            return BP_OK;                                                                       \
        SP_CHECK(D && ldd >= N && W && ldw >= N && pix);                                        \
        SP_CHECK(batch_valid(M, K, row_start, col, nnz, n_images, checked, idx));              \
        bp_sparse_matmul_t_acc_nocheck_##TS_(M, N, 0, K, row_start, col, pix, idx, scale, D, ldd, \
                                             W, ldw);                                           \
        return BP_OK;                                                                           \
    }

SP_PUBLIC(f32, float)
SP_PUBLIC(f64, double)
