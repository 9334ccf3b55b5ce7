/* kernels_testlib.h — data generators and comparisons shared by the kernel
 * test programs (header-only; each test_*.c includes it once). */
#ifndef GH_KERNELS_TESTLIB_H
#define GH_KERNELS_TESTLIB_H

#include "testutil.h"
#include "kernels/amx.h"
#include "kernels/kernels_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* xorshift64*: deterministic across runs and platforms */
static uint64_t kt_state = 0x9E3779B97F4A7C15ull;
static inline void kt_seed(uint64_t s) { kt_state = s ? s : 1; }
static inline uint64_t kt_u64(void) {
    kt_state ^= kt_state >> 12; kt_state ^= kt_state << 25; kt_state ^= kt_state >> 27;
    return kt_state * 0x2545F4914F6CDD1Dull;
}
/* a float's bits, for bitwise comparisons with readable messages */
static inline uint32_t f2u(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* Whether the AMX products run here; says so in the test log when not. */
static inline bool kt_have_amx(void) {
    if (gh_kernels_use_amx()) return true;
    print_message("(no AMX on this CPU, or GH_SIMD chose otherwise: nothing to compare)\n");
    return false;
}

/* y and yr ([B][n_out]) hold the same bits, else the test fails naming the
 * first pair that differs after `what` (the case, as the caller words it). */
static inline void kt_same_bits(const float *y, const float *yr, int64_t B, int64_t n_out, const char *what) {
    for (int64_t i = 0; i < B * n_out; i++)
        if (f2u(y[i]) != f2u(yr[i]))
            fail_msg("%s: y[%lld][%lld] = %.9g, ref %.9g", what, (long long)(i / n_out), (long long)(i % n_out), y[i],
                     yr[i]);
}

static inline float kt_unif(void) { return (float)((kt_u64() >> 40) + 0.5) / 16777216.0f; }
static inline float kt_gauss(void) {
    float u = kt_unif(), v = kt_unif();
    return sqrtf(-2.0f * logf(u)) * cosf(6.2831853f * v);
}
static inline float *kt_gauss_vec(int64_t n, float scale) {
    float *x = malloc((size_t)n * sizeof *x);
    for (int64_t i = 0; i < n; i++) x[i] = scale * kt_gauss();
    return x;
}

static const gh_type kt_weight_types[] = {GH_TYPE_F32, GH_TYPE_F16, GH_TYPE_BF16, GH_TYPE_Q8_0,
                                          GH_TYPE_Q4_0, GH_TYPE_Q4_K, GH_TYPE_Q6_K};
#define KT_N_WTYPES (sizeof kt_weight_types / sizeof kt_weight_types[0])

static inline size_t kt_row_bytes(gh_type t, int64_t n) {
    const gh_type_traits *tt = gh_get_type_traits(t);
    return (size_t)(n / tt->blck_size) * tt->type_size;
}

/* gh_matmul of W (type t) against B Gaussian activation rows, whose first
 * block of row 0 is zero (a zero block scale), gives bitwise gh_matmul_ref
 * of Wref (type tref: W itself, or the rows W was regrouped from); the
 * bitwise twin of kt_check_matmul below, for the quantized kernels. */
static inline void kt_check_matmul_bits(gh_type t, const void *W, gh_type tref, const void *Wref, int64_t n_in,
                                        int64_t n_out, int64_t B, int threads, const char *tag) {
    float *x = kt_gauss_vec(B * n_in, 1.0f);
    for (int i = 0; i < 32; i++) x[i] = 0;
    float *y = malloc((size_t)(B * n_out) * 4), *yr = malloc((size_t)(B * n_out) * 4);
    void *wd = malloc(gh_matmul_wsize(t, n_in, B));
    gh_matmul(y, x, W, t, n_in, n_out, B, wd, threads);
    gh_matmul_ref(yr, x, Wref, tref, n_in, n_out, B);
    char what[128];
    snprintf(what, sizeof what, "%s%s n_in=%lld n_out=%lld B=%lld t=%d", gh_get_type_traits(tref)->name, tag,
             (long long)n_in, (long long)n_out, (long long)B, threads);
    kt_same_bits(y, yr, B, n_out, what);
    free(x); free(y); free(yr); free(wd);
}

/* An AMX pack made straight from B float rows (pack_f32, as two calls on
 * the block ranges [split, nblk) and [0, split)) holds the bytes of the pack
 * made from their reference quantization to type q (pack). Both buffers
 * start as the same garbage (the K-quant layout has padding neither writes). */
typedef void (*kt_pack_fn)(const void *xq, size_t xrow, int64_t n_in, int64_t B, void *pack, int64_t i0, int64_t i1);
typedef void (*kt_pack_f32_fn)(const float *x, int64_t n_in, int64_t B, void *pack, int64_t i0, int64_t i1);
static inline void kt_check_pack_f32(gh_type q, const float *x, int64_t n_in, int64_t B, size_t n, kt_pack_fn pack,
                                     kt_pack_f32_fn pack_f32, int64_t nblk, int64_t split) {
    const size_t xrow = kt_row_bytes(q, n_in);
    char *xq = malloc(xrow * (size_t)B);
    for (int64_t b = 0; b < B; b++) gh_get_type_traits(q)->from_float_ref(x + b * n_in, xq + (size_t)b * xrow, n_in);
    uint8_t *want = aligned_alloc(64, (n + 63) / 64 * 64), *got = aligned_alloc(64, (n + 63) / 64 * 64);
    memset(want, 0xA5, n), memset(got, 0xA5, n);
    pack(xq, xrow, n_in, B, want, 0, nblk);
    pack_f32(x, n_in, B, got, split, nblk);
    pack_f32(x, n_in, B, got, 0, split);
    for (size_t i = 0; i < n; i++)
        if (got[i] != want[i])
            fail_msg("%s pack from floats, B=%lld: byte %zu is %d, from the reference's rows %d",
                     gh_get_type_traits(q)->name, (long long)B, i, got[i], want[i]);
    free(xq); free(want); free(got);
}

/* n_out x n_in weights of type t, quantized from N(0, 1) with the ref quantizer */
static inline void *kt_weights(gh_type t, int64_t n_out, int64_t n_in) {
    const gh_type_traits *tt = gh_get_type_traits(t);
    size_t rb = kt_row_bytes(t, n_in);
    char *w = malloc(rb * (size_t)n_out);
    float *tmp = kt_gauss_vec(n_in, 1.0f);
    for (int64_t o = 0; o < n_out; o++) {
        for (int64_t i = 0; i < n_in; i++) tmp[i] = kt_gauss();
        tt->from_float_ref(tmp, w + (size_t)o * rb, n_in);
    }
    free(tmp);
    return w;
}

/* A Q8_K block's bsums from its codes, as every quantizer writes them (for
 * blocks whose codes a test set by hand). */
static inline void kt_q8_K_set_bsums(blk_q8_K *b) {
    for (int j = 0; j < QK_K / 16; j++) {
        int s = 0;
        for (int k = 0; k < 16; k++) s += b->qs[16 * j + k];
        b->bsums[j] = (int16_t)s;
    }
}

/* A multiple of the type's block size that the tests use as row length;
 * float types get an odd length to exercise the scalar tails. */
static inline int64_t kt_n_in(gh_type t) {
    int64_t bs = gh_get_type_traits(t)->blck_size;
    return bs == 1 ? 517 : bs == 32 ? 544 : 768;
}

/* gh_matmul against gh_matmul_ref within a tolerance relative to the row's
 * magnitude. */
static inline void kt_check_matmul(gh_type t, int64_t n_out, int64_t B, int n_threads) {
    const int64_t n_in = kt_n_in(t);
    void *w = kt_weights(t, n_out, n_in);
    float *x = kt_gauss_vec(B * n_in, 1.0f);
    float *y = malloc((size_t)(B * n_out) * 4), *yr = malloc((size_t)(B * n_out) * 4);
    size_t ws = gh_matmul_wsize(t, n_in, B);
    void *wd = ws ? malloc(ws) : NULL;
    gh_matmul(y, x, w, t, n_in, n_out, B, wd, n_threads);
    gh_matmul_ref(yr, x, w, t, n_in, n_out, B);
    /* tolerance relative to the row's magnitude (|w|.|x| ~ n_in * 0.8) */
    for (int64_t i = 0; i < B * n_out; i++)
        if (!(fabsf(y[i] - yr[i]) <= 3e-5f * (float)n_in))
            fail_msg("%s n_out=%lld B=%lld: y[%lld] = %.7g, ref %.7g", gh_get_type_traits(t)->name,
                     (long long)n_out, (long long)B, (long long)i, y[i], yr[i]);
    free(w); free(x); free(y); free(yr); free(wd);
}

/* gh_matmul's rows must be bitwise equal whatever B, thread count, row range
 * and tile (kernels.h's determinism contract): sub-problems of a B = 67
 * product, and the type's vec_dot, against the whole. */
static inline void kt_matmul_determinism(gh_type t) {
    const int64_t n_out = 37, B = 67, n_in = kt_n_in(t);
    const size_t rb = kt_row_bytes(t, n_in);
    char *w = kt_weights(t, n_out, n_in);
    float *x = kt_gauss_vec(B * n_in, 1.0f);
    float *full = malloc((size_t)(B * n_out) * 4), *y = malloc((size_t)(B * n_out) * 4);
    void *wd = malloc(gh_matmul_wsize(t, n_in, B) + 1);
    gh_matmul(full, x, w, t, n_in, n_out, B, wd, 2);
    /* (b0, nb, o0, no, threads) sub-problems */
    const int64_t cases[][5] = {
        {0, 1, 0, 37, 1}, {5, 1, 0, 37, 2}, {66, 1, 3, 30, 2}, {0, 16, 0, 37, 1},
        {3, 16, 1, 36, 2}, {10, 2, 0, 37, 2}, {20, 3, 5, 1, 1}, {1, 5, 2, 33, 2},
        {0, 67, 0, 37, 1}, {7, 60, 9, 11, 2},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int64_t b0 = cases[c][0], nb = cases[c][1], o0 = cases[c][2], no = cases[c][3];
        gh_matmul(y, x + b0 * n_in, w + (size_t)o0 * rb, t, n_in, no, nb, wd, (int)cases[c][4]);
        for (int64_t b = 0; b < nb; b++)
            if (memcmp(y + b * no, full + (b0 + b) * n_out + o0, (size_t)no * 4) != 0)
                fail_msg("%s: case %zu row %lld differs from the B=67 result", gh_get_type_traits(t)->name, c,
                         (long long)b);
    }
    /* vec_dot (the 1x1 kernel) gives the same bits too */
    const gh_type_traits *tt = gh_get_type_traits(t);
    const void *xq = tt->vec_dot_type == GH_TYPE_F32 ? (const void *)x : wd;
    size_t xrb = kt_row_bytes(tt->vec_dot_type, n_in);
    gh_matmul(full, x, w, t, n_in, n_out, B, wd, 1); /* refill wd with all B rows */
    for (int64_t b = 0; b < B; b += 11)
        for (int64_t o = 0; o < n_out; o += 5) {
            float s;
            tt->vec_dot(n_in, &s, w + (size_t)o * rb, (const char *)xq + (size_t)b * xrb);
            assert_int_equal(f2u(s), f2u(full[b * n_out + o]));
        }
    free(w); free(x); free(full); free(y); free(wd);
}

#endif
