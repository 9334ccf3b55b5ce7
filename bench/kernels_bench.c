/* kernels_bench.c — speed of gh_matmul per weight type against the machine's
 * streaming read bandwidth.
 *
 * For each type it builds a set of n_out x n_in matrices (default 2048 x 5632,
 * ~0.6 GiB of weights in all, cycled so the caches cannot hold them) and times
 * gh_matmul at B = 1, 16 and 128 activation rows. Reported, as medians over
 * passes: B=1 effective GB/s (weight bytes / time) and its fraction of the
 * measured read bandwidth, the B=16 / B=1 time ratio, and B=128 GFLOP/s.
 *
 * Build (after `make`, which builds build/libgoodhart.a):
 *   cc -std=c11 -D_GNU_SOURCE -O2 -fopenmp -Iinclude -Isrc bench/kernels_bench.c \
 *      build/libgoodhart.a -o build/kernels_bench -fopenmp -lm
 * (bench/kernels_tile_probe.c builds the same way.)
 * Run:    ./kernels_bench [n_threads=2] [total_MiB=600] [types=f32,f16,...]
 * With GH_BENCH_REGROUP=1 each matrix is regrouped (repack.c) as a copied
 * model's would be, where this CPU's kernels take the regrouped layout
 * (marked * after the type's name).
 */
#include "kernels/kernels.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static uint64_t rng = 88172645463325252ull;
static float frand(void) {
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (float)((rng >> 40) & 0xFFFFFF) / 16777216.0f * 2.0f - 1.0f;
}

/* Wall time, or with GH_BENCH_CPUTIME=1 this process's CPU time divided by
 * the thread count (less sensitive to other processes on a shared machine). */
static int g_nt = 1;
static double now(void) {
    static int cpu = -1;
    if (cpu < 0) cpu = getenv("GH_BENCH_CPUTIME") != NULL;
    if (!cpu) return omp_get_wtime();
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ((double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec) / g_nt;
}

/* Median seconds per matmul over `passes` passes through all matrices. */
static double time_matmul(gh_type t, char **mats, int n_mats, int64_t n_in, int64_t n_out, int64_t B,
                          const float *x, float *y, void *wd, int nt, int passes) {
    double *per = malloc((size_t)passes * sizeof *per);
    for (int p = 0; p < passes; p++) {
        double t0 = now();
        for (int m = 0; m < n_mats; m++) gh_matmul(y, x, mats[m], t, n_in, n_out, B, wd, nt);
        per[p] = (now() - t0) / n_mats;
    }
    double r = median(per, passes);
    free(per);
    return r;
}

int main(int argc, char **argv) {
    int nt = argc > 1 ? atoi(argv[1]) : 2;
    g_nt = nt;
    double total_mib = argc > 2 ? atof(argv[2]) : 600;
    const char *only = argc > 3 ? argv[3] : NULL;
    const int64_t n_in = 5632, n_out = 2048, Bmax = 128;
    const gh_type types[] = {GH_TYPE_F32, GH_TYPE_F16, GH_TYPE_BF16, GH_TYPE_Q8_0,
                             GH_TYPE_Q4_0, GH_TYPE_Q4_K, GH_TYPE_Q6_K};

    printf("simd: %s, threads: %d, matrix %lld x %lld\n", gh_kernels_simd_name(), nt,
           (long long)n_out, (long long)n_in);
    double bw[5];
    for (int i = 0; i < 5; i++) bw[i] = gh_measure_read_bandwidth(nt, 512u << 20, 3);
    double bwm = median(bw, 5);
    printf("read bandwidth: median %.1f GB/s (of 5 probes, best-of-3 each; min %.1f max %.1f)\n\n", bwm,
           bw[0], bw[4]);

    float *x = malloc((size_t)(Bmax * n_in) * sizeof *x), *y = malloc((size_t)(Bmax * n_out) * sizeof *y);
    for (int64_t i = 0; i < Bmax * n_in; i++) x[i] = frand();
    float *row = malloc((size_t)n_in * sizeof *row);

    printf("%-6s %8s %9s %7s %9s %9s %8s %9s %9s\n", "type", "MB/mat", "B=1 ms", "GB/s", "of BW", "B=16 ms",
           "16/1", "B=128 ms", "GFLOP/s");
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        gh_type t = types[k];
        const gh_type_traits *tt = gh_get_type_traits(t);
        if (only && !strstr(only, tt->name)) continue;
        size_t rb = (size_t)(n_in / tt->blck_size) * tt->type_size, mb = rb * (size_t)n_out;
        int n_mats = (int)(total_mib * 1048576.0 / (double)mb + 0.5);
        if (n_mats < 2) n_mats = 2;
        char **mats = malloc((size_t)n_mats * sizeof *mats);
        /* one matrix quantized from uniform noise, copied to the others */
        for (int m = 0; m < n_mats; m++) {
            /* 2 MiB-aligned with huge pages advised, as the model loader's
             * copy is (4 KiB pages cost B = 16 products ~10 %) */
            mats[m] = aligned_alloc(2u << 20, (mb + (2u << 20) - 1) & ~(size_t)((2u << 20) - 1));
            madvise(mats[m], mb, MADV_HUGEPAGE);
            if (m == 0) {
                for (int64_t o = 0; o < n_out; o++) {
                    for (int64_t i = 0; i < n_in; i++) row[i] = frand();
                    tt->from_float(row, mats[0] + (size_t)o * rb, n_in);
                }
            } else {
                memcpy(mats[m], mats[0], mb);
            }
        }
        if (getenv("GH_BENCH_REGROUP") && gh_regroup_usable(t, n_in, n_out)) {
            for (int m = 0; m < n_mats; m++) gh_regroup(t, mats[m], n_in, n_out);
            t = gh_regrouped_of(t);
        }
        void *wd = malloc(gh_matmul_wsize(t, n_in, Bmax) + 64);
        time_matmul(t, mats, n_mats, n_in, n_out, 1, x, y, wd, nt, 1); /* warm-up */
        double t1 = time_matmul(t, mats, n_mats, n_in, n_out, 1, x, y, wd, nt, 7);
        double t16 = time_matmul(t, mats, n_mats, n_in, n_out, 16, x, y, wd, nt, 5);
        int n128 = n_mats < 8 ? n_mats : 8;
        double t128 = time_matmul(t, mats, n128, n_in, n_out, 128, x, y, wd, nt, 3);
        double gbs = (double)mb / t1 / 1e9;
        printf("%-5s%s %8.1f %9.3f %7.1f %8.0f%% %9.3f %8.2f %9.2f %9.1f\n", tt->name, t != types[k] ? "*" : " ", (double)mb / 1e6, t1 * 1e3,
               gbs, 100 * gbs / bwm, t16 * 1e3, t16 / t1, t128 * 1e3,
               2.0 * (double)n_in * (double)n_out * 128 / t128 / 1e9);
        fflush(stdout);
        for (int m = 0; m < n_mats; m++) free(mats[m]);
        free(mats);
        free(wd);
    }
    free(x); free(y); free(row);
    return 0;
}
