/* kernels_tile_probe.c — single-thread speed of every tile micro-kernel shape
 * on cache-resident data (n = 1024), in GMAC/s: the numbers matmul.c's
 * tile_shape() was chosen from. Build like bench/kernels_bench.c. */
#include "kernels/kernels_internal.h"
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
int main(void) {
    gh_get_type_traits(GH_TYPE_F32);
    gh_type ts[] = {GH_TYPE_F32, GH_TYPE_F16, GH_TYPE_Q8_0, GH_TYPE_Q4_0, GH_TYPE_Q4_K, GH_TYPE_Q6_K};
    int64_t n = 1024;
    for (int k = 0; k < 6; k++) {
        const gh_type_traits *t = gh_get_type_traits(ts[k]), *v = gh_get_type_traits(t->vec_dot_type);
        size_t wb = (size_t)(n / t->blck_size) * t->type_size, xb = (size_t)(n / v->blck_size) * v->type_size;
        char *w = calloc(4, wb), *x = calloc(4, xb);
        float *f = malloc(n * 4);
        for (int i = 0; i < n; i++) f[i] = (float)(i % 7) - 3;
        for (int r = 0; r < 4; r++) { t->from_float_ref(f, w + r * wb, n); v->from_float_ref(f, x + r * xb, n); }
        int shapes[][2] = {{1, 1}, {2, 1}, {4, 1}, {2, 4}, {3, 4}, {1, 4}, {4, 4}, {2, 2}};
        for (int s = 0; s < 8; s++) {
            int R = shapes[s][0], C = shapes[s][1];
            gh_tile_fn fn = gh_tile_avx2(ts[k], R, C);
            if (!fn) continue; /* rows of 3: F32 only */
            float y[16], acc[16 * 8];
            int iters = 200000 / (R * C);
            double t0 = omp_get_wtime();
            for (int i = 0; i < iters; i++) fn(n, w, wb, x, xb, y, 4, acc, 32, 3);
            double dt = omp_get_wtime() - t0;
            printf("%-5s %dx%d  %6.1f GMAC/s\n", t->name, R, C, (double)iters * R * C * n / dt / 1e9);
        }
    }
    return 0;
}
