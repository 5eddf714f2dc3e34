/* The trainer's hot loop in C: one call runs a whole epoch (§5.7) or a whole
   prediction pass, so Python pays its call overhead once per epoch instead of
   ~20 times per mini-batch. Everything numeric goes through kernels.h.

   Threads (optional OpenMP): one parallel region per call. Training splits
   the first layer — where nearly all the arithmetic is — between threads.
   Dense images: by its output COLUMNS: thread t owns columns c_t of Z₁ = X·W₀
   and the same columns of W₀ in the update W₀ += Xᵀ·δ̃₀, so each thread keeps
   its half of W₀ in its own cache; two barriers per mini-batch. Sparse images
   (sparse.h): by batch ROWS for Z₁ and by PIXELS (rows of W₀) for the update,
   so each image's pixel list is walked by one thread; three barriers. The small
   later layers are computed by every thread on private buffers (cheaper than
   sharing them), and their updates are split by rows. No two threads ever
   write the same element, and every element is computed in the same order
   whatever the thread count: results are bit-identical for any n_threads.
   Prediction simply splits the rows. */
#include <stdint.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "kernels.h"
#include "sparse.h"
#include "train.h"
#include "kernels_paths.inc"

/* sparse.c's unchecked entry points (not part of the cffi interface): the epoch
   checks its sparse image set once with bp_sparse_valid, not at every batch. */
#define BP_SPARSE_NOCHECK(TS_, T_)                                                              \
    void bp_sparse_matmul_nocheck_##TS_(int64_t M, int64_t N, int64_t K, const int64_t *rs,     \
                                        const uint16_t *col, const uint8_t *pix,               \
                                        const int64_t *idx, T_ scale, const T_ *W, int64_t ldw, \
                                        const T_ *bias, T_ *C, int64_t ldc);                   \
    void bp_sparse_matmul_t_acc_nocheck_##TS_(int64_t M, int64_t N, int64_t k_lo, int64_t k_hi, \
                                              const int64_t *rs, const uint16_t *col,          \
                                              const uint8_t *pix, const int64_t *idx, T_ scale, \
                                              const T_ *D, int64_t ldd, T_ *W, int64_t ldw);  \
    void bp_sparse_matmul_keep_nocheck_##TS_(int64_t M, int64_t N, int64_t K, const int64_t *rs, \
                                             const uint16_t *col, const uint8_t *pix,          \
                                             const int64_t *idx, T_ scale, const T_ *W,        \
                                             int64_t ldw, const T_ *bias, T_ *C, int64_t ldc,  \
                                             uint8_t *keep, int relu);                         \
    void bp_sparse_matmul_t_acc_kept_nocheck_##TS_(int64_t M, int64_t N, int64_t k_lo,          \
                                                   int64_t k_hi, const uint8_t *keep, T_ scale,       \
                                                   const T_ *D, int64_t ldd, T_ *W, int64_t ldw); \
    void bp_sparse_t_acc_kept_then_matmul_keep_nocheck_##TS_(                                   \
        int64_t M_old, int64_t N, int64_t K, const uint8_t *keep_old, T_ scale, T_ *D,           \
        int64_t ldd, T_ *W, int64_t ldw, int64_t M, const int64_t *rs, const uint16_t *col,      \
        const uint8_t *pix, const int64_t *idx, T_ *bias, T_ *C, int64_t ldc,                    \
        uint8_t *keep_new, int rev, int relu, const T_ *A, int64_t lda, int64_t tile_bytes);
BP_SPARSE_NOCHECK(f32, float)
BP_SPARSE_NOCHECK(f64, double)

#ifdef _OPENMP
#include <omp.h>
#define BP_THREAD_ID() omp_get_thread_num()
#define BP_NUM_THREADS() omp_get_num_threads()
#define BP_BARRIER() _Pragma("omp barrier")
#else
#define BP_THREAD_ID() 0
#define BP_NUM_THREADS() 1
#define BP_BARRIER()
#endif

/* The most pixels the epoch's fused pass takes (sparse_impl.inc's SP_KW: one window). */
#define BP_FUSE_MAX_K 1024
#define BP_MAX_LAYERS 64
#define BP_MAX_THREADS 256

/* Every size product below is checked against int64 overflow: a network of
   absurd widths is refused (-1), never wrapped into a small workspace. */
static int mul_ok(int64_t a, int64_t b, int64_t *out)
{
    if (a < 0 || b < 0 || (a != 0 && b > INT64_MAX / a))
        return 0;
    *out = a * b;
    return 1;
}

static int add_ok(int64_t a, int64_t b, int64_t *out)
{
    if (a < 0 || b < 0 || a > INT64_MAX - b)
        return 0;
    *out = a + b;
    return 1;
}

/* Each workspace block starts on a 64-byte boundary (for float and double). Callers
   have checked n <= BP_MAX_LEN, so the rounding cannot overflow. */
static int64_t round16(int64_t n) { return (n + 15) & ~(int64_t)15; }

/* No single block or total may exceed this many elements (2^60: far beyond any
   memory, far from overflow even when multiplied by sizeof(double)). */
#define BP_MAX_LEN ((int64_t)1 << 60)

/* A thread's private block: act[0..L] (X, hidden A's, logits) and delta[0..L-1],
   each B rows; -1 if it would exceed BP_MAX_LEN. */
static int64_t private_len(int64_t L, const int64_t *sizes, int64_t B)
{
    int64_t total = 0, n;
    for (int64_t l = 0; l <= L; l++) {
        if (!mul_ok(B, sizes[l], &n) || n > BP_MAX_LEN || !add_ok(total, round16(n), &total)
            || total > BP_MAX_LEN)
            return -1;
    }
    for (int64_t l = 0; l < L; l++) {
        if (!mul_ok(B, sizes[l + 1], &n) || n > BP_MAX_LEN || !add_ok(total, round16(n), &total)
            || total > BP_MAX_LEN)
            return -1;
    }
    return total;
}

/* The shared block, in front of the private ones: A₁ (B×n₁), then n₀ int32 pixel
   counts; -1 if it would exceed BP_MAX_LEN. */
static int64_t shared_len(const int64_t *sizes, int64_t B)
{
    int64_t n;
    if (!mul_ok(B, sizes[1], &n) || n > BP_MAX_LEN || sizes[0] > BP_MAX_LEN)
        return -1;
    return round16(n) + round16(sizes[0]);
}

int64_t bp_train_workspace_len(int64_t n_layers, const int64_t *sizes, int64_t batch_size,
                               int n_threads)
{
    if (n_layers < 1 || n_layers > BP_MAX_LAYERS || batch_size < 1 || sizes == NULL
        || n_threads < 1 || n_threads > BP_MAX_THREADS)
        return -1;
    for (int64_t l = 0; l <= n_layers; l++)
        if (sizes[l] < 1 || sizes[l] > BP_MAX_LEN) return -1;
    int64_t shared = shared_len(sizes, batch_size), priv = private_len(n_layers, sizes, batch_size);
    int64_t all_priv, total;
    if (shared < 0 || priv < 0 || !mul_ok(n_threads, priv, &all_priv)
        || !add_ok(shared, all_priv, &total) || total > BP_MAX_LEN)
        return -1;
    /* the weights themselves are indexed as sizes[l] * sizes[l+1] */
    for (int64_t l = 0; l < n_layers; l++)
        if (!mul_ok(sizes[l], sizes[l + 1], &all_priv) || all_priv > BP_MAX_LEN) return -1;
    return total;
}

/* The row stride, in elements, of the sparse epoch's working copy of W₀ (n1 columns of
   elem bytes), for rows wider than one of X·W₀'s column blocks (512 bytes): rows a
   multiple of 512 bytes apart (1,024 floats: 4 KB) put the rows of one of X·W₀'s tiles
   (sparse_impl.inc) in a few of L1's and L2's sets, where they evict each other — a
   784->1024 layer's X·W₀ took 1.3x as long — and rows that are not a multiple of 64 bytes
   (1,000 floats) start inside a cache line, so every vector load of half of them reads two
   lines. The copy's rows are an odd number of cache lines apart: whole lines, spread over
   every set. A narrower W₀ keeps its stride (its tile is contiguous). */
static int64_t sparse_w0_ld(int64_t n1, int64_t elem)
{
    const int64_t bytes = n1 * elem;
    if (bytes <= 512)
        return n1;
    int64_t lines = (bytes + 63) / 64;
    lines += !(lines & 1);
    return lines * 64 / elem;
}

/* Even split of [0, n) into nt parts; part t is [*lo, *hi). */
static void split(int64_t n, int t, int nt, int64_t *lo, int64_t *hi)
{
    *lo = n * t / nt;
    *hi = n * (t + 1) / nt;
}

/* The same, with inner boundaries on multiples of 16 elements: whole cache lines
   of a float row, so threads never write the same line — provided the arrays
   start on a 64-byte boundary (native.engine.Engine passes aligned copies; with
   unaligned ones the results are the same, only the shared lines cost time). */
static void split16(int64_t n, int t, int nt, int64_t *lo, int64_t *hi)
{
    int64_t blocks = (n + 15) / 16;
    *lo = blocks * t / nt * 16;
    *hi = blocks * (t + 1) / nt * 16;
    if (*lo > n) *lo = n;
    if (*hi > n) *hi = n;
}

/* Hint the cache to fetch the n bytes at row, every 64-byte line they touch (a no-op where
   the compiler has no hint). Steps of 64 from row itself miss the last line whenever row
   starts mid-line: a sparse image's pixels then came from memory during X·W₀ (the default
   epoch took 1.06x as long). */
static void prefetch_row(const uint8_t *row, int64_t n)
{
#if defined(__GNUC__)
    const uintptr_t first = (uintptr_t)row & ~(uintptr_t)63;
    for (uintptr_t a = first; n > 0 && a < (uintptr_t)row + (uintptr_t)n; a += 64)
        __builtin_prefetch((const void *)a, 0, 1);
#else
    (void)row;
    (void)n;
#endif
}

/* Hint the cache to fetch image i of a sparse set (its pixel indices and values). */
static void prefetch_sparse(const int64_t *rs, const uint16_t *col, const uint8_t *pix, int64_t i)
{
    const int64_t p = rs[i], n = rs[i + 1] - p;
    prefetch_row((const uint8_t *)(col + p), 2 * n);
    prefetch_row(pix + p, n);
}

/* Pixel boundaries kb[0..nt] (kb[0] = 0, kb[nt] = D) that split W₀'s rows between nt
   threads with about equal numbers of nonzero pixels in the first 4,096 images of
   `order`. counts: D int32 of scratch. Always gives each thread a valid range. */
static void sparse_pixel_split(int64_t D, const int64_t *rs, const uint16_t *col,
                               const int64_t *order, int64_t n_order, int nt, int32_t *counts,
                               int64_t *kb)
{
    int64_t total = 0;
    for (int64_t k = 0; k < D; ++k)
        counts[k] = 0;
    for (int64_t i = 0; i < n_order && i < 4096; ++i)
        for (int64_t p = rs[order[i]]; p < rs[order[i] + 1]; ++p)
            counts[col[p]]++;
    for (int64_t k = 0; k < D; ++k)
        total += counts[k];
    kb[0] = 0;
    int64_t k = 0, seen = 0;
    for (int t = 1; t < nt; ++t) {
        while (k < D && (seen + counts[k]) * nt <= total * t)
            seen += counts[k++];
        kb[t] = k;
    }
    kb[nt] = D;
}

static int check_common(int64_t n_layers, const int64_t *sizes, const void *weights,
                        const void *biases, const uint8_t *images, const int64_t *sp_row_start,
                        const uint16_t *sp_col, const uint8_t *sp_pix, int64_t sp_nnz,
                        int sp_checked, int64_t n_images,
                        int64_t batch_size, int64_t workspace_len, int n_threads)
{
    int64_t pixels;
    if (weights == NULL || biases == NULL || n_images < 0)
        return BP_EINVAL;
    int64_t need = bp_train_workspace_len(n_layers, sizes, batch_size, n_threads);
    if (need < 0 || workspace_len < need)       /* (sizes are valid from here on) */
        return BP_EINVAL;
    if (!mul_ok(n_images, sizes[0], &pixels) || pixels > BP_MAX_LEN)   /* images[i * n0] */
        return BP_EINVAL;
    if (sp_row_start ? !(sp_pix && bp_sparse_usable(n_images, sizes[0], sp_row_start, sp_col, sp_nnz,
                                                 sp_checked))
                     : images == NULL)
        return BP_EINVAL;
    return BP_OK;
}

/* The same code for float and double: train_impl.inc is included once per type. */
#define T float
#define SUF _f32
#include "train_impl.inc"
#undef T
#undef SUF

#define T double
#define SUF _f64
#include "train_impl.inc"
#undef T
#undef SUF
