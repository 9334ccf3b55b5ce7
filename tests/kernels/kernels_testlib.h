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

#endif
