/* kernels_select.c — the one place that chooses the SIMD path: a table of the paths
   this build has, best first, each with the CPU test it needs; the first whose test
   passes is used, decided once at the first call.  BACKPROP_FORCE_GENERIC=1 takes
   the portable path; a path's own switch (BACKPROP_NO_AVX512=1) skips it.  Adding a
   target = its kernels_<isa>.c file and one line below. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "cpu_features.h"
#include "kernels_paths.inc"

#ifdef _OPENMP
#include <omp.h>
#endif

/* ---------------------------------------------------------------------------
   What the x86-64 test decides from CPUID and XCR0 values, as a pure function so
   that tests can hand it made-up CPUs (tests/test_cpu_detect.py): 0 = no SIMD path,
   1 = AVX2 + FMA, 2 = that and AVX-512F. Compiled on every platform.         */
int bp_x86_features(unsigned max_leaf, unsigned ecx1, unsigned ebx7, unsigned long long xcr0)
{
    if (max_leaf < 7)
        return 0;
    if (!(ecx1 >> 12 & 1) || !(ecx1 >> 27 & 1) || !(ecx1 >> 28 & 1))   /* FMA, OSXSAVE, AVX */
        return 0;
    if (!(ebx7 >> 5 & 1) || (xcr0 & 0x6) != 0x6)            /* AVX2; XMM and YMM state */
        return 0;
    return ((ebx7 >> 16 & 1) && (xcr0 & 0xE6) == 0xE6) ? 2 : 1;  /* AVX-512F; opmask, ZMM state */
}

/* ---------------------------------------------------------------------------
   x86-64 CPU features, with the OS's consent (XCR0: the OS saves the vector
   registers on a context switch), by CPUID itself: GCC, clang and mingw-w64
   through <cpuid.h>, MSVC through __cpuidex/_xgetbv (no GCC builtins needed). */
#if BP_HAVE_X86_SIMD
#if BP_MSVC
#include <intrin.h>
static void cpuid(unsigned leaf, unsigned sub, unsigned r[4])
{
    int x[4];
    __cpuidex(x, (int)leaf, (int)sub);
    r[0] = (unsigned)x[0], r[1] = (unsigned)x[1], r[2] = (unsigned)x[2], r[3] = (unsigned)x[3];
}
static uint64_t xgetbv0(void) { return _xgetbv(0); }
#else
#include <cpuid.h>
static void cpuid(unsigned leaf, unsigned sub, unsigned r[4])
{
    __cpuid_count(leaf, sub, r[0], r[1], r[2], r[3]);
}
static uint64_t xgetbv0(void)
{
    uint32_t lo, hi;
    __asm__ __volatile__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}
#endif

/* leaf 1 ECX: FMA (bit 12), OSXSAVE (27), AVX (28); leaf 7 EBX: AVX2 (5), AVX-512F (16) */
static int cpu_has(int avx512)
{
    unsigned r[4];
    cpuid(0, 0, r);
    const unsigned max_leaf = r[0];
    if (max_leaf < 1)
        return 0;
    cpuid(1, 0, r);
    const unsigned ecx1 = r[2];
    unsigned ebx7 = 0;
    if (max_leaf >= 7) {
        cpuid(7, 0, r);
        ebx7 = r[1];
    }
    /* xgetbv faults unless the OS set OSXSAVE: only then is XCR0 read */
    const uint64_t xcr0 = (ecx1 >> 27 & 1) ? xgetbv0() : 0;
    const int level = bp_x86_features(max_leaf, ecx1, ebx7, xcr0);
    return avx512 ? level >= 2 : level >= 1;
}
static int cpu_has_avx2_fma(void) { return cpu_has(0); }
static int cpu_has_avx512f(void) { return cpu_has(1); }

/* The L1 data cache's bytes as CPUID tells them (Intel's leaf 4, else AMD's 0x8000001D, the
   same layout: ways x partitions x line x sets), 0 if it does not. */
static int64_t l1d_bytes(void)
{
    unsigned r[4];
    cpuid(0, 0, r);
    const unsigned max_leaf = r[0];
    cpuid(0x80000000u, 0, r);
    const unsigned max_ext = r[0];
    const unsigned leaves[2] = {max_leaf >= 4 ? 4u : 0u, max_ext >= 0x8000001Du ? 0x8000001Du : 0u};
    for (int l = 0; l < 2; ++l)
        for (unsigned sub = 0; leaves[l] && sub < 16; ++sub) {
            cpuid(leaves[l], sub, r);
            const unsigned type = r[0] & 31, level = r[0] >> 5 & 7;
            if (type == 0)
                break;
            if (type == 1 && level == 1)
                return (int64_t)((r[1] >> 22) + 1) * ((r[1] >> 12 & 0x3FF) + 1) * ((r[1] & 0xFFF) + 1)
                       * ((int64_t)r[2] + 1);
        }
    return 0;
}
#endif

/* ---------------------------------------------------------------------------
   The table.                                                                    */

static const struct {
    const struct bp_path *path;
    int (*cpu_has)(void);       /* NULL: every CPU this file is compiled for */
    const char *off_switch;     /* an environment variable that skips this path, or NULL */
} bp_paths[] = {
#if BP_HAVE_X86_SIMD
    {&bp_path_avx512, cpu_has_avx512f, "BACKPROP_NO_AVX512"},
    {&bp_path_avx2, cpu_has_avx2_fma, NULL},
#endif
#if BP_HAVE_NEON
    {&bp_path_neon, NULL, NULL},        /* NEON is part of every arm64 CPU */
#endif
    {&bp_path_generic, NULL, NULL},     /* last: any CPU */
};
enum { BP_N_PATHS = sizeof bp_paths / sizeof bp_paths[0] };

/* A switch is on unless unset or one of "", "0", "false", "no" (any case, spaces
   around ignored): the same rule as native/data's BACKPROP_OFFLINE and the build's
   BACKPROP_NO_OPENMP, so "0" means off everywhere. */
static int env_set(const char *name)
{
    const char *v = getenv(name);
    if (!v)
        return 0;
    while (*v == ' ' || *v == '\t')
        ++v;
    size_t n = strlen(v);
    while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        --n;
    static const char *const off[] = {"", "0", "false", "no"};
    for (size_t k = 0; k < sizeof off / sizeof off[0]; ++k) {
        size_t i = 0;
        while (i < n && off[k][i] && (v[i] | 0x20) == off[k][i])
            ++i;
        if (i == n && off[k][i] == '\0')
            return 0;
    }
    return 1;
}

static int choose(void)
{
    if (env_set("BACKPROP_FORCE_GENERIC"))
        return BP_N_PATHS - 1;
    for (int i = 0; i < BP_N_PATHS - 1; ++i)
        if ((!bp_paths[i].off_switch || !env_set(bp_paths[i].off_switch))
            && (!bp_paths[i].cpu_has || bp_paths[i].cpu_has()))
            return i;
    return BP_N_PATHS - 1;
}

/* Decided at the first call: a benign race (every thread computes the same answer;
   the atomic load and store keep the index whole). */
static int bp_chosen = -1;

const struct bp_path *bp_active_path(void)
{
#if BP_MSVC
    int i = *(volatile int *)&bp_chosen;    /* aligned int: read and written whole */
    if (i < 0)
        *(volatile int *)&bp_chosen = i = choose();
#else
    int i = __atomic_load_n(&bp_chosen, __ATOMIC_ACQUIRE);
    if (i < 0) {
        i = choose();
        __atomic_store_n(&bp_chosen, i, __ATOMIC_RELEASE);
    }
#endif
    return bp_paths[i].path;
}

const struct bp_path *bp_runnable_path(int i)
{
    for (int j = 0; j < BP_N_PATHS; ++j)
        if (!bp_paths[j].cpu_has || bp_paths[j].cpu_has())
            if (i-- == 0)
                return bp_paths[j].path;
    return NULL;
}

/* The fused pass's tile of W₀'s rows (sparse_impl.inc, sp_mm_t_acc_kept_then_mm_keep): 48 KB
   on the AVX-512 path with an L1 data cache of 48 KB or more, whose update touches only the
   rows with pixels (~60 % of them at batch 32) — a 784→1024→10 epoch 1.7 % faster than with
   32 KB on an Intel Xeon with a 48 KB L1 (2026-12-05); 32 KB elsewhere (the AVX2 path on
   that Xeon took 1.5 % longer with 48 KB; other CPUs untested). Decided at the first call,
   as bp_active_path (a benign race). */
static int64_t bp_tile = -1;

int64_t bp_fused_tile_bytes(void)
{
#if BP_MSVC
    int64_t b = *(volatile int64_t *)&bp_tile;
#else
    int64_t b = __atomic_load_n(&bp_tile, __ATOMIC_ACQUIRE);
#endif
    if (b < 0) {
        b = 32768;
#if BP_HAVE_X86_SIMD
        if (bp_active_path() == &bp_path_avx512 && l1d_bytes() >= 49152)
            b = 49152;
#endif
#if BP_MSVC
        *(volatile int64_t *)&bp_tile = b;
#else
        __atomic_store_n(&bp_tile, b, __ATOMIC_RELEASE);
#endif
    }
    return b;
}

const char *bp_simd_path(void)
{
    return bp_active_path()->name;
}

int bp_simd_level(void)
{
    return bp_active_path()->level;
}

int bp_openmp_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}
