/* bandwidth.c — a probe of the machine's streaming read bandwidth, the limit a
 * B=1 matmul (which reads every weight once) cannot beat. bench/kernels_bench.c
 * reports matmul speed as a fraction of it.
 *
 * The buffer is filled first (touching every page, in parallel, so pages land
 * where the readers run), then summed by n_threads OpenMP threads, each over a
 * contiguous share read as 4 interleaved streams (more misses in flight than
 * one stream gets: a B=1 matmul over 4 weight rows at a time does the same),
 * with 8 independent SIMD accumulators and no stores.
 */
#include "kernels/kernels_internal.h"

#include <omp.h>
#include <stdlib.h>
#include <sys/mman.h>

static double sum_scalar(const float *x, int64_t n) {
    float s[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) s[k] += x[i + k];
    double r = 0;
    for (int k = 0; k < 8; k++) r += s[k];
    for (; i < n; i++) r += x[i];
    return r;
}

double gh_measure_read_bandwidth(int n_threads, size_t bytes, int reps) {
    if (n_threads < 1) n_threads = 1;
    if (reps < 1) reps = 1;
    int64_t n = (int64_t)(bytes / sizeof(float));
    if (n < 1024) return 0;
    float *buf = NULL;
    if (posix_memalign((void **)&buf, 2u << 20, (size_t)n * sizeof(float)) != 0) return 0;
#ifdef MADV_HUGEPAGE
    madvise(buf, (size_t)n * sizeof(float), MADV_HUGEPAGE); /* fewer TLB misses; advisory */
#endif
    const bool simd = gh_kernels_use_avx2();
#pragma omp parallel for num_threads(n_threads) schedule(static)
    for (int64_t i = 0; i < n; i++) buf[i] = (float)(i & 1023) * 1e-3f;

    double best = 0, sink = 0;
    for (int r = 0; r < reps; r++) {
        double t0 = omp_get_wtime(), total = 0;
#pragma omp parallel num_threads(n_threads) reduction(+ : total)
        {
            int nt = omp_get_num_threads(), ith = omp_get_thread_num();
            int64_t i0 = n * ith / nt, i1 = n * (ith + 1) / nt;
            i0 &= ~(int64_t)63;
            if (ith == nt - 1) i1 = n; else i1 &= ~(int64_t)63;
            total += simd ? gh_sum4_f32_avx2(buf + i0, i1 - i0) : sum_scalar(buf + i0, i1 - i0);
        }
        double dt = omp_get_wtime() - t0;
        sink += total;
        double gbs = (double)n * sizeof(float) / dt / 1e9;
        if (gbs > best) best = gbs;
    }
    free(buf);
    /* keep the sums observable so the reads cannot be optimised away */
    __asm__ volatile("" : : "g"(&sink) : "memory");
    return best;
}
