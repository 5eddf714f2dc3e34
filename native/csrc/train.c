/* The trainer's hot loop in C: one call runs a whole epoch (§5.7) or a whole
   prediction pass, so Python pays its call overhead once per epoch instead of
   ~20 times per mini-batch. Everything numeric goes through kernels.h.

   Threads (optional OpenMP): one parallel region per call. Per mini-batch,
   phase A (gather, forward, loss, δ for every layer) splits the batch ROWS, and
   phase B (the weight updates Wₗ += Aₗᵀ·δ̃ₗ) splits the ROWS OF EACH Wₗ; a
   barrier separates them, so no two threads ever write the same element. */
#include <stdint.h>
#include <stddef.h>
#include "kernels.h"
#include "train.h"

#ifdef _OPENMP
#include <omp.h>
#define BP_THREAD_ID() omp_get_thread_num()
#define BP_NUM_THREADS() omp_get_num_threads()
#else
#define BP_THREAD_ID() 0
#define BP_NUM_THREADS() 1
#endif

#define BP_MAX_LAYERS 64

/* Each workspace block starts on a 64-byte boundary (for float and double). */
static int64_t round16(int64_t n) { return (n + 15) & ~(int64_t)15; }

/* Layout (elements): act[0] = X (B×n₀), act[1..L-1] = hidden A (B×nₗ),
   act[L] = logits (B×n_L), then delta[0..L-1] (B×nₗ₊₁). */
int64_t bp_train_workspace_len(int64_t n_layers, const int64_t *sizes, int64_t batch_size)
{
    if (n_layers < 1 || n_layers > BP_MAX_LAYERS || batch_size < 1 || sizes == NULL)
        return -1;
    int64_t total = 0;
    for (int64_t l = 0; l <= n_layers; l++) {
        if (sizes[l] < 1) return -1;
        total += round16(batch_size * sizes[l]);
    }
    for (int64_t l = 0; l < n_layers; l++)
        total += round16(batch_size * sizes[l + 1]);
    return total;
}

/* Even split of [0, n) into nt parts; part t is [*lo, *hi). */
static void split(int64_t n, int t, int nt, int64_t *lo, int64_t *hi)
{
    *lo = n * t / nt;
    *hi = n * (t + 1) / nt;
}

static int check_common(int64_t n_layers, const int64_t *sizes, const void *weights,
                        const void *biases, const uint8_t *images, int64_t n_images,
                        int64_t batch_size, int64_t workspace_len)
{
    if (weights == NULL || biases == NULL || images == NULL || n_images < 0)
        return BP_EINVAL;
    int64_t need = bp_train_workspace_len(n_layers, sizes, batch_size);
    if (need < 0 || workspace_len < need)
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
