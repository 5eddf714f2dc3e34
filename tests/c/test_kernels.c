/* test_kernels.c — every C kernel of every SIMD path this CPU can run, against a
   naive reference, in C: no Python needed, so it runs wherever the C compiles —
   natively, under clang, and cross-compiled for arm64 under qemu-aarch64.

   Build and run (scripts/platform_checks.sh does this for each compiler):
       cc -O2 -std=c99 -ffp-contract=off -Inative/csrc tests/c/test_kernels.c
          native/csrc/[a-z]*.c -lm -o test_kernels && ./test_kernels

   What is checked, per path (kernels_select.c's table: generic, avx2-fma, avx512,
   neon, whichever the CPU runs) and per type (float, double):
   - matmul: the shapes and edges of tests/test_kernels.py (every transpose
     combination, bias, accumulate, strips and panels with remainders, K beyond the
     K block) against a double-precision reference within 1e-5 (float) / 1e-12
     (double) of Σ|a||b| + |bias| + |old C| + 1; any row/column slice of a product
     has the bits of the whole;
   - the element-wise kernels on data with the edges that matter: z = +0 and -0
     exactly (ReLU' is 0 there), logits of ±1000 (softmax overflows unless the row
     maximum is subtracted), a probability of exactly 0 (the loss stays finite),
     lengths 0..67 (every vector tail);
   - the sparse first layer against the dense product, and column / pixel splits
     that keep the bits;
   - guard values: every output sits between canaries (and padding columns of a
     larger leading dimension carry them too), which must come out untouched: a
     write one lane past the end is a failed check here, not a heap abort.
   The public bp_* functions (argument checks, then the chosen path) get the same
   checks once more.  Prints one line per failed check (at most a few per kind) and
   ends with "N passed, N failed"; the exit status is 1 if any check failed. */
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "sparse.h"
#include "kernels_paths.inc"

static long n_pass, n_fail;
static const char *cur_path = "?";

static void check(int ok, const char *what, const char *fmt, ...)
{
    if (ok) {
        ++n_pass;
        return;
    }
    if (++n_fail <= 60) {
        va_list ap;
        printf("not ok - [%s] %s: ", cur_path, what);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        printf("\n");
    }
}

/* a small deterministic generator (xorshift64*), so every platform sees the same data */
static uint64_t rng_state = 88172645463325252ull;
static uint64_t rnd_u64(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}
static double rnd_unit(void) { return (double)(rnd_u64() >> 11) / 9007199254740992.0; }
static double rnd_normal(void) /* Box-Muller */
{
    double u = rnd_unit(), v = rnd_unit();
    return sqrt(-2.0 * log(u + 1e-300)) * cos(6.283185307179586 * v);
}
static int64_t rnd_int(int64_t n) { return (int64_t)(rnd_u64() % (uint64_t)n); }

/* Guarded buffers: GUARD canary elements before and after the n usable ones. */
enum { GUARD = 16 };
static const unsigned char CANARY = 0xA5;

static void *guarded(size_t n, size_t elem)
{
    unsigned char *p = malloc((n + 2 * GUARD) * elem);
    if (!p) {
        printf("out of memory\n");
        exit(2);
    }
    memset(p, CANARY, (n + 2 * GUARD) * elem);
    return p + GUARD * elem;
}
static int guards_intact(const void *q, size_t n, size_t elem)
{
    const unsigned char *p = (const unsigned char *)q - GUARD * elem;
    for (size_t i = 0; i < GUARD * elem; ++i)
        if (p[i] != CANARY || p[(GUARD + n) * elem + i] != CANARY)
            return 0;
    return 1;
}
static void unguard(void *q, size_t elem) { free((unsigned char *)q - GUARD * elem); }

/* bytes [from, to) of each of `rows` rows of stride `ld` elements still hold the canary */
static int padding_intact(const void *q, int64_t rows, int64_t ld, int64_t from, int64_t to, size_t elem)
{
    const unsigned char *p = q;
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = from * (int64_t)elem; j < to * (int64_t)elem; ++j)
            if (p[r * ld * (int64_t)elem + j] != CANARY)
                return 0;
    return 1;
}

/* ---------------------------------------------------------------------------
   The per-type checks, written once (checks.inc) for float and double.        */

#define T float
#define TS f32
#define TOL 1e-5
#define T_TINY FLT_MIN
#include "checks.inc"

#define T double
#define TS f64
#define TOL 1e-12
#define T_TINY DBL_MIN
#include "checks.inc"

/* The public entry points refuse what they must refuse. */
static void check_public_refusals(void)
{
    float a[4] = {1, 2, 3, 4}, c[4];
    int32_t bad_label[1] = {7};
    double loss;
    cur_path = "public";
    check(bp_matmul_f32(-1, 2, 2, a, 2, 0, a, 2, 0, NULL, c, 2, 0) == BP_EINVAL, "matmul M<0", "accepted");
    check(bp_matmul_f32(2, 2, 2, a, 1, 0, a, 2, 0, NULL, c, 2, 0) == BP_EINVAL, "matmul lda<K", "accepted");
    check(bp_matmul_f32(2, 2, 2, a, 2, 0, a, 2, 0, NULL, NULL, 2, 0) == BP_EINVAL, "matmul C NULL", "accepted");
    check(bp_softmax_xent_delta_f32(1, 4, a, bad_label, NULL, c, &loss) == BP_EINVAL, "label out of range",
          "accepted");
    check(bp_relu_f32(-3, a, c) == BP_EINVAL, "relu n<0", "accepted");
    const char *name = bp_simd_path();
    check(name && (strcmp(name, "generic") == 0 || strcmp(name, "avx2-fma") == 0 ||
                   strcmp(name, "avx512") == 0 || strcmp(name, "neon") == 0),
          "simd_path", "'%s'", name ? name : "(null)");
}

int main(int argc, char **argv)
{
    /* --path NAME: test only that path (and fail if the CPU cannot run it) */
    const char *only = argc > 2 && strcmp(argv[1], "--path") == 0 ? argv[2] : NULL;
    int tested = 0;
    for (int i = 0; bp_runnable_path(i); ++i) {
        const struct bp_path *P = bp_runnable_path(i);
        if (only && strcmp(only, P->name) != 0)
            continue;
        cur_path = P->name;
        const long before = n_fail;
        checks_f32(P);
        checks_f64(P);
        printf("%s path %s: %s\n", n_fail == before ? "ok -" : "not ok -", P->name,
               n_fail == before ? "every check passed" : "failures above");
        ++tested;
    }
    /* the AVX-512 path's products of a C one vector wide with a long K against the AVX2 path's */
    const struct bp_path *p512 = NULL, *p2 = NULL;
    for (int i = 0; bp_runnable_path(i); ++i) {
        if (strcmp(bp_runnable_path(i)->name, "avx512") == 0) p512 = bp_runnable_path(i);
        if (strcmp(bp_runnable_path(i)->name, "avx2-fma") == 0) p2 = bp_runnable_path(i);
    }
    if (p512 && p2 && !only) {
        cur_path = "avx512/avx2-fma";
        check_gemm_same_bits_f32(p512, p2);
        check_gemm_same_bits_f64(p512, p2);
    }
    if (only && !tested) {
        printf("not ok - path %s: not runnable on this CPU/build\n", only);
        ++n_fail;
    }
    cur_path = bp_simd_path();
    public_checks_f32();
    public_checks_f64();
    check_public_refusals();
    printf("paths tested: %d; chosen by default: %s\n", tested, bp_simd_path());
    printf("%ld passed, %ld failed\n", n_pass, n_fail);
    return n_fail ? 1 : 0;
}
