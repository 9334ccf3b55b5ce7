/* peak.c — a probe of the machine's float compute peak: vector fused
 * multiply-adds per second over n_threads threads, the limit a batched decode
 * step (which, at N = 16 sequences, does 16 multiply-adds per weight it reads)
 * cannot beat with the float kernels. It is bandwidth.c's counterpart: `goodhart
 * bench` reports batch 1 against the read bandwidth and large batches against
 * this.
 *
 * Each thread runs 12 independent chains of the widest FMA the f32 tiles use
 * (AVX-512 where the dispatcher chose it, else AVX2, else scalar fmaf), so
 * the FMA latency (4-5 cycles) is hidden behind the 2 units' throughput. On
 * CPUs without AVX-512 (AMD Zen 1: 256-bit operations split in two) the int8
 * products of Q8_0 (maddubs + madd) reach about the same multiply-adds per
 * cycle, so this is their limit too; the Q4_0, Q4_K and Q6_K tiles, which
 * sum products in 16-bit lanes before widening, and AMX and VNNI can go
 * beyond it (a fraction of this limit above 1 says so, not an error).
 */
#include "kernels/kernels_internal.h"

#include <math.h>
#include <omp.h>

/* 12 chains of n scalar fmaf each; returns their sum (kept observable). */
static double fma_chains_scalar(int64_t n) {
    float a[12];
    for (int k = 0; k < 12; k++) a[k] = (float)k * 1e-3f;
    const float m = 0.999f, c = 1e-3f;
    for (int64_t i = 0; i < n; i++) {
        for (int k = 0; k < 12; k++) a[k] = fmaf(a[k], m, c);
        __asm__ volatile("" : "+m"(a));
    }
    double s = 0;
    for (int k = 0; k < 12; k++) s += a[k];
    return s;
}

double gh_measure_fma_peak(int n_threads, int reps) {
    if (n_threads < 1) n_threads = 1;
    if (reps < 1) reps = 1;
    const int lanes = gh_kernels_use_avx512() ? 16 : gh_kernels_use_avx2() ? 8 : 1;
    const int64_t iters = lanes > 1 ? 4000000 : 1000000; /* ~20-50 ms a pass */
    double best = 0, sink = 0;
    for (int r = 0; r < reps; r++) {
        double total = 0;
        const double t0 = omp_get_wtime();
#pragma omp parallel num_threads(n_threads) reduction(+ : total)
        total += lanes == 16 ? gh_fma_chains_avx512(iters) : lanes == 8 ? gh_fma_chains_avx2(iters) : fma_chains_scalar(iters);
        const double dt = omp_get_wtime() - t0;
        sink += total;
        const double gmac = (double)n_threads * (double)iters * 12.0 * lanes / dt / 1e9;
        if (gmac > best) best = gmac;
    }
    __asm__ volatile("" : : "g"(&sink) : "memory");
    return best;
}
