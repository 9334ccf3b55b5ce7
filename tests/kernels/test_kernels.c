/* Tests of the numeric kernels (src/kernels): fp16/bf16 conversion, block
 * layouts against hand-built blocks, quantization error budgets, SIMD against
 * reference kernels, gh_matmul against gh_matmul_ref, and the determinism
 * contract of kernels.h (bitwise-equal rows whatever B, threads, tiles). */
#include "kernels_testlib.h"
#include "kernels/kernels_internal.h"

static float u2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

/* ---- fp16 / bf16 ---- */

static void test_fp16_known_values(void **state) {
    (void)state;
    assert_int_equal(gh_fp32_to_fp16(1.0f), 0x3C00);
    assert_int_equal(gh_fp32_to_fp16(-2.0f), 0xC000);
    assert_int_equal(gh_fp32_to_fp16(-0.0f), 0x8000);
    assert_int_equal(gh_fp32_to_fp16(65504.0f), 0x7BFF);
    assert_int_equal(gh_fp32_to_fp16(65519.0f), 0x7BFF);
    assert_int_equal(gh_fp32_to_fp16(65520.0f), 0x7C00); /* tie at max rounds to even = inf */
    assert_int_equal(gh_fp32_to_fp16(INFINITY), 0x7C00);
    assert_int_equal(gh_fp32_to_fp16(-INFINITY), 0xFC00);
    assert_int_equal(gh_fp32_to_fp16(1e10f), 0x7C00);
    assert_int_equal(gh_fp32_to_fp16(NAN) & 0x7E00, 0x7E00);          /* quiet NaN */
    assert_int_equal(gh_fp32_to_fp16(u2f(0x7F800001)) & 0x7E00, 0x7E00); /* sNaN is quieted, not inf */
    /* ties to even in the normal range: 1 + 2^-11 is halfway between 1 and 1+2^-10 */
    assert_int_equal(gh_fp32_to_fp16(1.0f + 0x1p-11f), 0x3C00);
    assert_int_equal(gh_fp32_to_fp16(1.0f + 3 * 0x1p-11f), 0x3C02);
    assert_int_equal(gh_fp32_to_fp16(1.0f + 0x1p-11f + 0x1p-20f), 0x3C01);
    /* subnormals: unit 2^-24 */
    assert_int_equal(gh_fp32_to_fp16(0x1p-24f), 0x0001);
    assert_int_equal(gh_fp32_to_fp16(0x1p-25f), 0x0000);     /* tie -> even (0) */
    assert_int_equal(gh_fp32_to_fp16(3 * 0x1p-25f), 0x0002); /* 1.5 units: tie -> 2 */
    assert_int_equal(gh_fp32_to_fp16(-5 * 0x1p-25f), 0x8002); /* 2.5 units: tie -> 2 */
    assert_int_equal(gh_fp32_to_fp16(0x1p-14f), 0x0400);     /* smallest normal */
    assert_int_equal(gh_fp32_to_fp16(0x1p-14f - 0x1p-26f), 0x0400); /* rounds up into the normals */
    assert_int_equal(gh_fp32_to_fp16(1e-30f), 0x0000);
    /* back to fp32 */
    assert_true(gh_fp16_to_fp32(0x0001) == 0x1p-24f);
    assert_true(gh_fp16_to_fp32(0x83FF) == -1023 * 0x1p-24f);
    assert_true(gh_fp16_to_fp32(0x7BFF) == 65504.0f);
    assert_true(isinf(gh_fp16_to_fp32(0xFC00)) && gh_fp16_to_fp32(0xFC00) < 0);
    assert_true(isnan(gh_fp16_to_fp32(0x7E00)));
    assert_int_equal(f2u(gh_fp16_to_fp32(0x8000)), 0x80000000u);
}

static void test_fp16_all_values(void **state) {
    (void)state;
    const gh_type_traits *t = gh_get_type_traits(GH_TYPE_F16);
    static uint16_t h[65536], h2[65536];
    static float f[65536], fs[65536];
    for (uint32_t i = 0; i < 65536; i++) h[i] = (uint16_t)i;
    t->to_float(h, f, 65536);
    t->to_float_ref(h, fs, 65536);
    for (uint32_t i = 0; i < 65536; i++) {
        assert_int_equal(f2u(f[i]), f2u(fs[i])); /* SIMD == scalar */
        uint16_t back = gh_fp32_to_fp16(fs[i]);
        bool nan = (i & 0x7C00) == 0x7C00 && (i & 0x3FF);
        if (nan) assert_int_equal(back, i | 0x200); /* payload kept, quieted */
        else assert_int_equal(back, i);
    }
    /* random fp32 bit patterns (all classes): SIMD from_float == scalar */
    static float r[65536];
    kt_seed(7);
    for (int i = 0; i < 65536; i++) r[i] = u2f((uint32_t)kt_u64());
    for (int i = 0; i < 4096; i++) r[i] = u2f(0x33000000u + (uint32_t)(kt_u64() % 0x14000000u)); /* near fp16 range */
    t->from_float(r, h, 65536);
    t->from_float_ref(r, h2, 65536);
    assert_memory_equal(h, h2, sizeof h);
    /* rounding is to nearest: no other fp16 is closer */
    for (int i = 0; i < 4096; i++) {
        float a = fabsf(r[i]), v = gh_fp16_to_fp32(h2[i] & 0x7FFF);
        if (a > 65504.0f) continue;
        float up = gh_fp16_to_fp32((h2[i] & 0x7FFF) + 1), dn = (h2[i] & 0x7FFF) ? gh_fp16_to_fp32((h2[i] & 0x7FFF) - 1) : 0;
        assert_true(fabsf(v - a) <= fabsf(up - a) && fabsf(v - a) <= fabsf(a - dn));
    }
}

static void test_bf16(void **state) {
    (void)state;
    assert_int_equal(gh_fp32_to_bf16(1.0f), 0x3F80);
    assert_int_equal(gh_fp32_to_bf16(1.0f + 0x1p-8f), 0x3F80);     /* tie -> even */
    assert_int_equal(gh_fp32_to_bf16(1.0f + 3 * 0x1p-8f), 0x3F82); /* tie -> even (up) */
    assert_int_equal(gh_fp32_to_bf16(u2f(0x7F7FFFFF)), 0x7F80);     /* FLT_MAX rounds to inf */
    assert_int_equal(gh_fp32_to_bf16(-INFINITY), 0xFF80);
    assert_int_equal(gh_fp32_to_bf16(u2f(0x7F800001)), 0x7FC0);     /* sNaN quieted */
    assert_int_equal(gh_fp32_to_bf16(u2f(0x00018000)), 0x0002);     /* subnormal tie, odd -> up */
    assert_int_equal(gh_fp32_to_bf16(u2f(0x00008000)), 0x0000);     /* subnormal tie, even -> down */
    assert_int_equal(gh_fp32_to_bf16(u2f(0x80008001)), 0x8001);     /* negative subnormal, above tie */
    assert_true(gh_bf16_to_fp32(0x4049) == 3.140625f);
    const gh_type_traits *t = gh_get_type_traits(GH_TYPE_BF16);
    static float r[8195], back[8195], back2[8195];
    static uint16_t a[8195], b[8195];
    kt_seed(11);
    for (int i = 0; i < 8195; i++) r[i] = u2f((uint32_t)kt_u64());
    t->from_float(r, a, 8195);
    t->from_float_ref(r, b, 8195);
    assert_memory_equal(a, b, sizeof a);
    t->to_float(a, back, 8195);
    t->to_float_ref(a, back2, 8195);
    assert_memory_equal(back, back2, sizeof back);
}

/* ---- layouts: hand-built blocks with known values ---- */

static void test_layout_q8_0_q4_0(void **state) {
    (void)state;
    uint8_t blk[34];
    blk[0] = 0x00; blk[1] = 0x38; /* fp16 0.5, little-endian */
    for (int j = 0; j < 32; j++) blk[2 + j] = (uint8_t)(int8_t)(j - 16);
    float y[32];
    gh_get_type_traits(GH_TYPE_Q8_0)->to_float(blk, y, 32);
    for (int j = 0; j < 32; j++) assert_true(y[j] == 0.5f * (float)(j - 16));

    uint8_t b4[18];
    b4[0] = 0x00; b4[1] = 0x40; /* fp16 2.0 */
    for (int j = 0; j < 16; j++) b4[2 + j] = (uint8_t)(j | ((15 - j) << 4));
    gh_get_type_traits(GH_TYPE_Q4_0)->to_float(b4, y, 32);
    for (int j = 0; j < 16; j++) {
        assert_true(y[j] == 2.0f * (float)(j - 8));           /* low nibbles: elements 0..15 */
        assert_true(y[j + 16] == 2.0f * (float)(15 - j - 8)); /* high nibbles: 16..31 */
    }
    assert_int_equal(gh_get_type_traits(GH_TYPE_Q8_0)->type_size, 34);
    assert_int_equal(gh_get_type_traits(GH_TYPE_Q4_0)->type_size, 18);
}

static void test_layout_q4_K(void **state) {
    (void)state;
    uint8_t b[144] = {0};
    b[0] = 0x00; b[1] = 0x3C; /* d = 1.0 */
    b[2] = 0x00; b[3] = 0x38; /* dmin = 0.5 */
    uint8_t *s = b + 4, *qs = b + 16;
    /* scales/mins of sub-blocks 0..3 sit in the low 6 bits of bytes 0..3 / 4..7 */
    s[0] = 1; s[1] = 2; s[2] = 3; s[3] = 4;      /* sc0..3 */
    s[4] = 5; s[5] = 6; s[6] = 7; s[7] = 8;      /* m0..3 */
    /* sub-block 4: sc = 0x11 = 17 -> low 4 bits (1) in byte 8's low nibble,
     * top 2 bits (01) in byte 0's bits 6-7; m = 0x14 = 20 -> low (4) in byte 8's
     * high nibble, top (01) in byte 4's bits 6-7 */
    s[8] = 0x41; s[0] |= 0x40; s[4] |= 0x40;
    /* sub-block 7: sc = 63 (0b11'1111), m = 9 (0b00'1001) */
    s[11] = 0x9F; s[3] |= 0xC0;
    /* sub-blocks 5, 6: sc = 0, m = 0 */
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++) qs[32 * c + l] = (uint8_t)((l & 15) | ((15 - (l & 15)) << 4));
    float y[256];
    gh_get_type_traits(GH_TYPE_Q4_K)->to_float(b, y, 256);
    const float sc[8] = {1, 2, 3, 4, 17, 0, 0, 63}, mn[8] = {5, 6, 7, 8, 20, 0, 0, 9};
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++) {
            /* chunk c: sub-block 2c = low nibbles, 2c+1 = high nibbles */
            assert_true(y[64 * c + l] == sc[2 * c] * (float)(l & 15) - 0.5f * mn[2 * c]);
            assert_true(y[64 * c + 32 + l] == sc[2 * c + 1] * (float)(15 - (l & 15)) - 0.5f * mn[2 * c + 1]);
        }
    assert_true(y[128 + 5] == 17 * 5 - 10.0f);
    assert_true(y[192 + 32 + 1] == 63 * 14 - 4.5f);
}

static void test_layout_q6_K(void **state) {
    (void)state;
    uint8_t b[210] = {0};
    uint8_t *ql = b, *qh = b + 128;
    int8_t *sc = (int8_t *)(b + 192);
    b[208] = 0x00; b[209] = 0x34; /* d = 0.25 */
    ql[0] = 0x5A;  /* element 0 low 4 bits = 0xA, element 64 low 4 bits = 0x5 */
    ql[32] = 0x3C; /* element 32: 0xC, element 96: 0x3 */
    qh[0] = 0xE4;  /* bit pairs (low to high): e0 = 0, e32 = 1, e64 = 2, e96 = 3 */
    ql[64] = 0x07; qh[32] = 0x02; /* element 128: 7 | 2<<4 = 39 */
    sc[0] = 3; sc[2] = -2; sc[4] = 5; sc[6] = -7; sc[8] = 4; sc[15] = -1;
    float y[256];
    gh_get_type_traits(GH_TYPE_Q6_K)->to_float(b, y, 256);
    assert_true(y[0] == 0.25f * 3 * (10 - 32));
    assert_true(y[32] == 0.25f * -2 * (28 - 32));
    assert_true(y[64] == 0.25f * 5 * (37 - 32));
    assert_true(y[96] == 0.25f * -7 * (51 - 32));
    assert_true(y[128] == 0.25f * 4 * (39 - 32));
    assert_true(y[1] == 0.25f * 3 * -32);  /* all-zero code is -32 */
    assert_true(y[16] == 0.0f);             /* sub-block 1 has scale 0 */
    assert_true(y[255] == 0.25f * -1 * -32);
}

static void test_layout_q8_K(void **state) {
    (void)state;
    const gh_type_traits *t = gh_get_type_traits(GH_TYPE_Q8_K);
    assert_int_equal(t->type_size, 292);
    float x[256], y[256];
    for (int i = 0; i < 256; i++) x[i] = (float)((i * 37) % 255 - 127) / 64.0f;
    x[77] = -3.0f; /* the largest magnitude: maps to -128 */
    uint8_t b[292];
    t->from_float_ref(x, b, 256);
    float d;
    memcpy(&d, b, 4);
    assert_true(fabsf(d - 3.0f / 128) < 1e-9f);
    assert_int_equal((int8_t)b[4 + 77], -128);
    for (int j = 0; j < 16; j++) {
        int s = 0;
        for (int k = 0; k < 16; k++) s += (int8_t)b[4 + 16 * j + k];
        int16_t bs;
        memcpy(&bs, b + 260 + 2 * j, 2);
        assert_int_equal(bs, s);
    }
    t->to_float(b, y, 256);
    for (int i = 0; i < 256; i++) assert_true(fabsf(y[i] - x[i]) <= 0.5f * d + 1e-6f);
}

/* ---- quantization error on Gaussian data ---- */

static double rel_rms(gh_type t, int64_t n) {
    const gh_type_traits *tt = gh_get_type_traits(t);
    float *x = kt_gauss_vec(n, 1.0f), *y = malloc((size_t)n * sizeof *y);
    void *q = malloc(kt_row_bytes(t, n));
    tt->from_float_ref(x, q, n);
    tt->to_float(q, y, n);
    double e = 0, s = 0;
    for (int64_t i = 0; i < n; i++) { e += (double)(x[i] - y[i]) * (x[i] - y[i]); s += (double)x[i] * x[i]; }
    free(x); free(y); free(q);
    return sqrt(e / s);
}

static void test_quant_error_budget(void **state) {
    (void)state;
    /* budgets: measured value (on 64K N(0,1) samples) with ~15% headroom */
    struct { gh_type t; double budget; } cases[] = {
        {GH_TYPE_F16, 0.0004}, {GH_TYPE_BF16, 0.0025}, {GH_TYPE_Q8_0, 0.0062},
        {GH_TYPE_Q6_K, 0.018}, {GH_TYPE_Q4_K, 0.080}, {GH_TYPE_Q4_0, 0.090}, {GH_TYPE_Q8_K, 0.0080},
    };
    kt_seed(3);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double e = rel_rms(cases[i].t, 65536);
        if (getenv("GH_VERBOSE")) print_message("%-5s rel RMS %.5f\n", gh_get_type_traits(cases[i].t)->name, e);
        if (e >= cases[i].budget) fail_msg("%s: relative RMS error %.5f over budget %.5f",
                                            gh_get_type_traits(cases[i].t)->name, e, cases[i].budget);
        assert_true(e > 0);
    }
    /* zero and constant blocks stay exact */
    for (size_t k = 3; k < KT_N_WTYPES; k++) {
        const gh_type_traits *tt = gh_get_type_traits(kt_weight_types[k]);
        float z[256] = {0}, y[256];
        uint8_t q[512];
        tt->from_float_ref(z, q, 256);
        tt->to_float(q, y, 256);
        for (int i = 0; i < 256; i++) assert_true(y[i] == 0.0f);
    }
}

/* ---- SIMD against reference ---- */

static void test_activation_quant_simd_bitwise(void **state) {
    (void)state;
    gh_type types[] = {GH_TYPE_Q8_0, GH_TYPE_Q8_K};
    const int64_t n = 4096;
    float *x = kt_gauss_vec(n, 3.0f);
    /* ties: amax 127 -> scale 1 (Q8_0), values at k + 0.5 */
    for (int j = 0; j < 32; j++) x[j] = (j == 0) ? 127.0f : (float)(j - 16) + 0.5f;
    for (int j = 32; j < 64; j++) x[j] = 0.0f;           /* zero block */
    x[300] = -50.0f; x[301] = 50.0f;                     /* equal magnitudes: first one's sign wins */
    for (int j = 512; j < 768; j++) x[j] = (j == 600) ? -128.0f : (float)(j % 200 - 100) + 0.5f;
    /* tiny values: a Q8_K super-block of subnormals (iscale = -128 / max is
     * infinite) and a Q8_0 block whose 1 / d is: the reference's codes are
     * 0 there (its rounding and int8 cast), not -128 */
    for (int j = 768; j < 1024; j++) x[j] = (float)(j % 3 - 1) * 1e-45f;
    for (int j = 1280; j < 1312; j++) x[j] = (float)(j % 3 - 1) * 1e-37f;
    for (size_t k = 0; k < 2; k++) {
        const gh_type_traits *t = gh_get_type_traits(types[k]);
        size_t rb = kt_row_bytes(types[k], n);
        void *a = malloc(rb), *b = malloc(rb);
        t->from_float(x, a, n);
        t->from_float_ref(x, b, n);
        assert_memory_equal(a, b, rb);
        free(a); free(b);
    }
    free(x);
}

static void test_vec_dot_simd_vs_ref(void **state) {
    (void)state;
    kt_seed(5);
    for (size_t k = 0; k < KT_N_WTYPES; k++) {
        gh_type t = kt_weight_types[k];
        const gh_type_traits *tt = gh_get_type_traits(t), *vt = gh_get_type_traits(tt->vec_dot_type);
        const int64_t n = kt_n_in(t) * 4;
        void *w = kt_weights(t, 1, n);
        float *x = kt_gauss_vec(n, 1.0f), *wf = malloc((size_t)n * 4), *xf = malloc((size_t)n * 4);
        void *xq = malloc(kt_row_bytes(tt->vec_dot_type, n));
        vt->from_float_ref(x, xq, n);
        tt->to_float_ref(w, wf, n);
        vt->to_float_ref(xq, xf, n);
        double mag = 0, exact = 0;
        for (int64_t i = 0; i < n; i++) { mag += fabs((double)wf[i] * xf[i]); exact += (double)wf[i] * xf[i]; }
        float s_simd, s_ref;
        tt->vec_dot(n, &s_simd, w, xq);
        tt->vec_dot_ref(n, &s_ref, w, xq);
        if (fabs(s_simd - s_ref) > 2e-6 * mag || fabs(s_ref - exact) > 2e-6 * mag)
            fail_msg("%s: simd %.7g ref %.7g exact %.7g (magnitude %.3g)", tt->name, s_simd, s_ref, exact, mag);
        free(w); free(x); free(wf); free(xf); free(xq);
    }
}

/* ---- gh_matmul ---- */

static void test_matmul_vs_ref(void **state) {
    (void)state;
    kt_seed(9);
    const int64_t n_outs[] = {1, 7, 13};
    const int64_t Bs[] = {1, 2, 3, 16, 67};
    for (size_t k = 0; k < KT_N_WTYPES; k++)
        for (size_t i = 0; i < 3; i++)
            for (size_t j = 0; j < 5; j++) kt_check_matmul(kt_weight_types[k], n_outs[i], Bs[j], 2);
}

/* y rows must be bitwise equal whatever B, thread count, row range, tile. */
static void test_matmul_determinism(void **state) {
    (void)state;
    kt_seed(13);
    for (size_t k = 0; k < KT_N_WTYPES; k++) kt_matmul_determinism(kt_weight_types[k]);
}

/* gh_matmul_multi gives each matrix the bits of its own gh_matmul call, for
 * every type, batch (memory-bound, tiles, AMX, pair-packed) and thread count,
 * with matrices of different heights (one below AMX's 16 rows). */
static void test_matmul_multi(void **state) {
    (void)state;
    kt_seed(43);
    const int64_t n_outs[3][3] = {{37, 16, 48}, {64, 32, 32}, {5, 40, 19}};
    const int64_t Bs[] = {1, 3, 16, 67};
    for (size_t k = 0; k < KT_N_WTYPES; k++) {
        const gh_type t = kt_weight_types[k];
        const int64_t n_in = kt_n_in(t);
        for (size_t si = 0; si < 3; si++)
            for (size_t bi = 0; bi < 4; bi++)
                for (int th = 1; th <= 2; th++) {
                    const int64_t B = Bs[bi], *no = n_outs[si];
                    void *w[3];
                    float *y[3], *ym[3];
                    for (int m = 0; m < 3; m++) {
                        w[m] = kt_weights(t, no[m], n_in);
                        y[m] = malloc((size_t)(B * no[m]) * 4);
                        ym[m] = malloc((size_t)(B * no[m]) * 4);
                    }
                    float *x = kt_gauss_vec(B * n_in, 1.0f);
                    void *wd = malloc(gh_matmul_wsize(t, n_in, B) + 1);
                    for (int m = 0; m < 3; m++) gh_matmul(y[m], x, w[m], t, n_in, no[m], B, wd, th);
                    gh_matmul_multi(3, ym, (const void *const *)w, no, t, x, n_in, B, wd, th);
                    for (int m = 0; m < 3; m++)
                        if (memcmp(y[m], ym[m], (size_t)(B * no[m]) * 4) != 0)
                            fail_msg("%s B=%lld threads=%d set %zu: matrix %d differs from its own gh_matmul",
                                     gh_get_type_traits(t)->name, (long long)B, th, si, m);
                    for (int m = 0; m < 3; m++) { free(w[m]); free(y[m]); free(ym[m]); }
                    free(x); free(wd);
                }
    }
}

/* Q8_0/Q4_0 weight blocks and Q8_0 activation blocks with random codes and
 * scales, and the extremes: weight -128 (Q8_0) or code 0 (Q4_0's -8), activation
 * -127/127 (and -128 against Q4_0 weights; a Q8_0 quantizer never makes
 * -128), zero, negative-zero and subnormal scales, all-extreme blocks whose
 * int32 sum is the largest possible. */
static uint16_t q80_rand_scale(void) {
    uint64_t u = kt_u64() % 16;
    uint16_t sign = (uint16_t)((kt_u64() & 1) << 15);
    if (u == 0) return sign;                                          /* +-0 */
    if (u == 1) return (uint16_t)(sign | (1 + kt_u64() % 0x3FF));   /* subnormal */
    return (uint16_t)(sign | (0x1000 + kt_u64() % 0x4000));        /* ~2^-10 .. 2^6 */
}

static void q80_fill(gh_type t, char *w, int rows, char *x, int cols, int64_t n) {
    const int64_t nb = n / 32;
    for (int r = 0; r < rows; r++)
        for (int64_t i = 0; i < nb; i++) {
            const int special = (int)(kt_u64() % 8);
            if (t == GH_TYPE_Q8_0) {
                blk_q8_0 *b = (blk_q8_0 *)w + r * nb + i;
                b->d = q80_rand_scale();
                for (int j = 0; j < 32; j++)
                    b->qs[j] = (int8_t)(special == 0 ? -128 : special == 1 ? 127 : (int)(kt_u64() % 256) - 128);
            } else {
                blk_q4_0 *b = (blk_q4_0 *)w + r * nb + i;
                b->d = q80_rand_scale();
                for (int j = 0; j < 16; j++)
                    b->qs[j] = (uint8_t)(special == 0 ? 0x00 : special == 1 ? 0xFF : kt_u64() % 256);
            }
        }
    for (int c = 0; c < cols; c++)
        for (int64_t i = 0; i < nb; i++) {
            blk_q8_0 *b = (blk_q8_0 *)x + c * nb + i;
            const int special = (int)(kt_u64() % 8);
            const int lo = t == GH_TYPE_Q4_0 ? -128 : -127;
            b->d = q80_rand_scale();
            for (int j = 0; j < 32; j++)
                b->qs[j] = (int8_t)(special == 0 ? lo : special == 1 ? 127 : lo + (int)(kt_u64() % (uint64_t)(128 - lo)));
        }
}

/* Tile f (R x C) on rows w of type t, activations x (t's vec_dot_type) over n
 * elements, whole rows and in k-chunks of `step` blocks of t (the last chunk
 * takes the rest), against the reference vec_dot pair by pair, bit for bit. */
static void check_tile_vs_ref(gh_type t, const char *isa, gh_tile_fn f, int R, int C, const char *w, const char *x,
                              int64_t n, int64_t step) {
    const gh_type_traits *tt = gh_get_type_traits(t), *vt = gh_get_type_traits(tt->vec_dot_type);
    const int64_t bs = tt->blck_size;
    const size_t wrow = kt_row_bytes(t, n), xrow = kt_row_bytes(tt->vec_dot_type, n);
    float y[GH_TILE_C_MAX * 4], A[4 * 64];
    for (int i = 0; i < GH_TILE_C_MAX * 4; i++) y[i] = NAN;
    if (step == 0) {
        f(n, w, wrow, x, xrow, y, 4, NULL, 0, GH_TILE_FIRST | GH_TILE_LAST);
    } else {
        for (int64_t k0 = 0, kn; k0 < n; k0 += kn) {
            kn = n - k0 - step * bs < step * bs ? n - k0 : step * bs;
            const int mode = (k0 == 0 ? GH_TILE_FIRST : 0) | (k0 + kn == n ? GH_TILE_LAST : 0);
            /* (activation blocks are as long as t's: 32 for Q8_0, 256 for Q8_K) */
            f(kn, w + (size_t)(k0 / bs) * tt->type_size, wrow, x + (size_t)(k0 / bs) * vt->type_size, xrow, y, 4,
              A, 64, mode);
        }
    }
    for (int c = 0; c < C; c++)
        for (int r = 0; r < R; r++) {
            float s;
            tt->vec_dot_ref(n, &s, w + (size_t)r * wrow, x + (size_t)c * xrow);
            if (f2u(y[c * 4 + r]) != f2u(s))
                fail_msg("%s %s %dx%d n=%lld chunks of %lld blocks, pair (%d,%d): %.9g (0x%08x), ref %.9g (0x%08x)",
                         tt->name, isa, R, C, (long long)n, (long long)step, r, c, y[c * 4 + r], f2u(y[c * 4 + r]), s,
                         f2u(s));
        }
}

/* Whether the AVX2 tiles run here; says so in the test log when not. */
static bool have_avx2_tiles(void) {
    if (gh_kernels_use_avx2()) return true;
    print_message("(no AVX2 kernels on this CPU or under GH_SIMD: nothing to compare)\n");
    return false;
}

/* Whether the AVX-512 tiles run here; likewise. */
static bool have_avx512_tiles(void) {
    if (gh_kernels_use_avx512()) return true;
    print_message("(this CPU has no AVX-512 VNNI, or GH_SIMD chose otherwise: nothing to compare)\n");
    return false;
}

/* Every float AVX2 tile (R in 1..4 where the type has it — F32 has rows of 3
 * — and C in {1, 2, 4}) gives its 1x1 tile's (the type's vec_dot's) bits
 * pair by pair, with a tail (n % 8), and writes nothing outside the tile. */
static void test_float_tiles_match_vec_dot(void **state) {
    (void)state;
    if (!have_avx2_tiles()) return;
    kt_seed(29);
    const gh_type types[] = {GH_TYPE_F32, GH_TYPE_F16, GH_TYPE_BF16};
    const int64_t lens[] = {8, 13, 64, 1029};
    for (size_t k = 0; k < 3; k++)
        for (size_t li = 0; li < 4; li++) {
            const gh_type t = types[k];
            const int64_t n = lens[li];
            const size_t wrow = kt_row_bytes(t, n);
            char *w = kt_weights(t, 4, n);
            float *x = kt_gauss_vec(4 * n, 1.0f);
            float want[16];
            for (int c = 0; c < 4; c++)
                for (int r = 0; r < 4; r++)
                    gh_tile_avx2(t, 1, 1)(n, w + r * wrow, wrow, x + c * n, (size_t)n * 4, want + c * 4 + r, 4, NULL, 0,
                                          GH_TILE_FIRST | GH_TILE_LAST);
            for (int R = 1; R <= 4; R++)
                for (int C = 1; C <= 4; C *= 2) {
                    gh_tile_fn f = gh_tile_avx2(t, R, C);
                    if (R == 3 && t != GH_TYPE_F32) continue;
                    assert_non_null(f);
                    float y[16];
                    for (int i = 0; i < 16; i++) y[i] = -7.0f;
                    f(n, w, wrow, x, (size_t)n * 4, y, 4, NULL, 0, GH_TILE_FIRST | GH_TILE_LAST);
                    for (int c = 0; c < 4; c++)
                        for (int r = 0; r < 4; r++) {
                            const bool in = r < R && c < C;
                            if (in && f2u(y[c * 4 + r]) != f2u(want[c * 4 + r]))
                                fail_msg("%s n=%lld %dx%d pair (%d, %d): %.9g, 1x1 %.9g", gh_get_type_traits(t)->name,
                                         (long long)n, R, C, r, c, y[c * 4 + r], want[c * 4 + r]);
                            if (!in && y[c * 4 + r] != -7.0f)
                                fail_msg("%s %dx%d wrote y at (%d, %d)", gh_get_type_traits(t)->name, R, C, r, c);
                        }
                }
            free(w); free(x);
        }
}

/* Every Q8_0/Q4_0 tile (AVX2 and AVX-512) gives the reference's bits pair by
 * pair — one float chain per pair, sum + (d_w*d_x)*isum per block — whole-row
 * and in any chunking by whole blocks (see kernels_avx2.c). */
static void test_q80_tiles_match_ref(void **state) {
    (void)state;
    if (!have_avx2_tiles()) return;
    kt_seed(31);
    const gh_type types[] = {GH_TYPE_Q8_0, GH_TYPE_Q4_0};
    const int64_t lens[] = {32, 32 * 5, 32 * 8, 32 * 13, 544};
    const int64_t steps[] = {0, 1, 3, 8};
    for (size_t k = 0; k < 2; k++)
        for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
            const gh_type t = types[k];
            const int64_t n = lens[li];
            char *w = malloc(4 * kt_row_bytes(t, n)), *x = malloc(8 * kt_row_bytes(GH_TYPE_Q8_0, n));
            q80_fill(t, w, 4, x, 8, n);
            for (size_t si = 0; si < sizeof steps / sizeof steps[0]; si++)
                for (int R = 1; R <= 4; R *= 2)
                    for (int C = 1; C <= 8; C *= 2) {
                        gh_tile_fn f2 = C <= 4 ? gh_tile_avx2(t, R, C) : NULL;
                        gh_tile_fn f5 = gh_kernels_use_avx512() ? gh_tile_avx512(t, R, C) : NULL;
                        if (C <= 4) assert_non_null(f2);
                        if (f2) check_tile_vs_ref(t, "avx2", f2, R, C, w, x, n, steps[si]);
                        if (f5) check_tile_vs_ref(t, "avx512", f5, R, C, w, x, n, steps[si]);
                    }
            free(w); free(x);
        }
}

/* Q4_K / Q6_K weight rows (4) from the ref quantizer and Q8_K activation rows
 * (4) from gh_q8_K_from_float_ref, with about half of the super-blocks made
 * extreme:
 *   Q4_K: every scale and min 63 with codes all 0 or all 15 (the largest
 *         isum and imin), or random scale bytes and codes;
 *   Q6_K: scales all -128 or all 127 with codes all 0 or all 63 (q - 32 =
 *         -32 or 31), scales -128/127 and codes 0/63 mixed, or random bytes;
 *   Q8_K: codes all -128, all 127, or random; bsums recomputed (every
 *         quantizer writes them consistent; the Q6_K tile relies on it);
 *   scales random, with +-0, subnormals and negative Q8_K scales. */
static float kq_rand_xd(void) {
    uint64_t u = kt_u64() % 16;
    uint32_t sign = (uint32_t)(kt_u64() & 1) << 31;
    if (u == 0) return u2f(sign);                                                 /* +-0 */
    if (u == 1) return u2f(sign | (uint32_t)(1 + kt_u64() % 0x7FFFFF));          /* subnormal */
    return u2f(sign | (uint32_t)((100 + kt_u64() % 40) << 23) | (uint32_t)(kt_u64() % 0x800000)); /* 2^-27..2^13 */
}

/* special 0: lo, 1: hi, 2: lo or hi at random, 3: random in [lo, hi] */
static int kq_extreme(int special, int lo, int hi) {
    if (special == 3) return lo + (int)(kt_u64() % (uint64_t)(hi - lo + 1));
    return (special == 2 ? (int)(kt_u64() & 1) : special) ? hi : lo;
}

static void kq_fill(gh_type t, char *w, int rows, char *x, int cols, int64_t n) {
    const int64_t nb = n / 256;
    const gh_type_traits *vt = gh_get_type_traits(GH_TYPE_Q8_K);
    float *xf = kt_gauss_vec(n, 1.0f);
    for (int r = 0; r < rows; r++)
        for (int64_t i = 0; i < nb; i++) {
            const int special = (int)(kt_u64() % 8);
            if (special > 3) continue; /* as quantized */
            if (t == GH_TYPE_Q4_K) {
                blk_q4_K *b = (blk_q4_K *)w + r * nb + i;
                b->d = q80_rand_scale();
                b->dmin = q80_rand_scale();
                for (int j = 0; j < 12; j++) b->scales[j] = special < 2 ? 0xFF : (uint8_t)kt_u64(); /* 0xFF: all 63 */
                for (int j = 0; j < 128; j++)
                    b->qs[j] = special == 0 ? 0x00 : special == 1 ? 0xFF : (uint8_t)kt_u64();
            } else {
                blk_q6_K *b = (blk_q6_K *)w + r * nb + i;
                b->d = q80_rand_scale();
                /* code bits all 0 or all 1: codes 0 or 63 */
                for (int j = 0; j < 16; j++) b->scales[j] = (int8_t)kq_extreme(special, -128, 127);
                for (int j = 0; j < 128; j++) b->ql[j] = (uint8_t)kq_extreme(special, 0, 255);
                for (int j = 0; j < 64; j++) b->qh[j] = (uint8_t)kq_extreme(special, 0, 255);
            }
        }
    const size_t xrow = kt_row_bytes(GH_TYPE_Q8_K, n);
    for (int c = 0; c < cols; c++) {
        for (int64_t i = 0; i < n; i++) xf[i] = kt_gauss();
        vt->from_float_ref(xf, x + (size_t)c * xrow, n);
        for (int64_t i = 0; i < nb; i++) {
            blk_q8_K *b = (blk_q8_K *)(x + (size_t)c * xrow) + i;
            const int special = (int)(kt_u64() % 8);
            if (special > 2) continue;
            b->d = kq_rand_xd();
            for (int j = 0; j < 256; j++)
                b->qs[j] = (int8_t)(special == 0 ? -128 : special == 1 ? 127 : (int)(kt_u64() % 256) - 128);
            kt_q8_K_set_bsums(b);
        }
    }
    free(xf);
}

/* Every Q4_K/Q6_K AVX2 tile (R, C in {1, 2, 4}; 1x1 is vec_dot) gives the
 * reference's bits pair by pair — one float chain per pair, per super-block
 * sum + ((d*xd)*isum - (dmin*xd)*imin) or sum + (d*xd)*isum — whole-row and in
 * chunks of whole super-blocks, so it matches the AMX kernels too. */
static void test_kquant_tiles_match_ref(void **state) {
    (void)state;
    if (!have_avx2_tiles()) return;
    kt_seed(37);
    const gh_type types[] = {GH_TYPE_Q4_K, GH_TYPE_Q6_K};
    const int64_t lens[] = {256, 768, 2048};
    const int64_t steps[] = {0, 1, 3};
    for (int round = 0; round < 2; round++)
        for (size_t k = 0; k < 2; k++)
            for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
                const gh_type t = types[k];
                const gh_type_traits *tt = gh_get_type_traits(t);
                const int64_t n = lens[li];
                const size_t wrow = kt_row_bytes(t, n), xrow = kt_row_bytes(GH_TYPE_Q8_K, n);
                char *w = kt_weights(t, 4, n), *x = malloc(4 * xrow);
                kq_fill(t, w, 4, x, 4, n);
                for (size_t si = 0; si < sizeof steps / sizeof steps[0]; si++)
                    for (int R = 1; R <= 4; R *= 2)
                        for (int C = 1; C <= 4; C *= 2) {
                            gh_tile_fn f = gh_tile_avx2(t, R, C);
                            assert_non_null(f);
                            check_tile_vs_ref(t, "avx2", f, R, C, w, x, n, steps[si]);
                        }
                /* the traits' vec_dot (the 1x1 tile) too */
                for (int r = 0; r < 4; r++)
                    for (int c = 0; c < 4; c++) {
                        float s, sr;
                        tt->vec_dot(n, &s, w + (size_t)r * wrow, x + (size_t)c * xrow);
                        tt->vec_dot_ref(n, &sr, w + (size_t)r * wrow, x + (size_t)c * xrow);
                        assert_int_equal(f2u(s), f2u(sr));
                    }
                free(w); free(x);
            }
}

/* The pair-packed float tiles (gh_ptile_fn, F32) must give the AVX2 tiles'
 * bits pair by pair, for every shape, with a tail (n % 8) and an odd column
 * count (the padding column dropped). The packing is built here from the
 * layout kernels_internal.h documents. */
static void test_pair_tiles_match_avx2(void **state) {
    (void)state;
    if (!have_avx512_tiles()) return;
    kt_seed(31);
    assert_null(gh_ptile_avx512(GH_TYPE_F16, 4, 4)); /* 16-bit floats take the row-pair tiles */
    const gh_type types[] = {GH_TYPE_F32};
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        const gh_type t = types[k];
        const int64_t lens[] = {8, 13, 64, 1029};
        for (size_t li = 0; li < 4; li++) {
            const int64_t n = lens[li], n8 = n / 8, ps = n8 * 16 + 16;
            const size_t wrow = kt_row_bytes(t, n);
            char *w = kt_weights(t, 4, n);
            float *x = kt_gauss_vec(8 * n, 1.0f);
            float *xp = aligned_alloc(64, (size_t)(4 * ps) * 4);
            for (int p = 0; p < 4; p++)
                for (int64_t s = 0; s < n8; s++)
                    for (int j = 0; j < 8; j++) {
                        xp[p * ps + 16 * s + j] = x[2 * p * n + 8 * s + j];
                        xp[p * ps + 16 * s + 8 + j] = x[(2 * p + 1) * n + 8 * s + j];
                    }
            for (int R = 1; R <= 4; R++)
                for (int P = 1; P <= 4; P *= 2)
                    for (int nc = 2 * P - 1; nc <= 2 * P; nc++) {
                        gh_ptile_fn f = gh_ptile_avx512(t, R, P);
                        assert_non_null(f);
                        float y[32], y2[32];
                        for (int i = 0; i < 32; i++) y[i] = -7.0f;
                        f(n, w, wrow, xp, (size_t)ps, x, (size_t)n * 4, y, 4, nc, w, R);
                        for (int c = 0; c < 8; c++) /* the 1x1 AVX2 tile is the type's vec_dot */
                            for (int r = 0; r < 4; r++)
                                gh_tile_avx2(t, 1, 1)(n, w + r * wrow, wrow, x + c * n, (size_t)n * 4, y2 + c * 4 + r, 4,
                                                      NULL, 0, GH_TILE_FIRST | GH_TILE_LAST);
                        for (int c = 0; c < 8; c++)
                            for (int r = 0; r < 4; r++) {
                                const bool in = c < nc && r < R;
                                if (in && f2u(y[c * 4 + r]) != f2u(y2[c * 4 + r]))
                                    fail_msg("%s n=%lld %dx%d nc=%d pair (%d, %d): pair tile %.9g, avx2 %.9g",
                                             gh_get_type_traits(t)->name, (long long)n, R, P, nc, r, c, y[c * 4 + r],
                                             y2[c * 4 + r]);
                                if (!in && y[c * 4 + r] != -7.0f) /* outside the tile: untouched */
                                    fail_msg("%s %dx%d nc=%d wrote y at (%d, %d)", gh_get_type_traits(t)->name, R, P,
                                             nc, r, c);
                            }
                    }
            free(w); free(x); free(xp);
        }
    }
}

/* The row-pair tiles (gh_rptile_fn, F16/BF16) must give the AVX2 tiles'
 * bits pair by pair for every shape (1-3 row pairs, 1-8 columns), an odd row
 * count (the last row read twice, stored once), a tail (n % 8) and subnormal,
 * extreme and negative-zero weights; they write nothing outside the tile and
 * read no row past nr (the weights hold exactly nr rows: ASan's run checks). */
static void test_rpair_tiles_match_avx2(void **state) {
    (void)state;
    if (!have_avx512_tiles()) return;
    kt_seed(37);
    assert_null(gh_rptile_avx512(GH_TYPE_F32, 1, 1));
    const gh_type types[] = {GH_TYPE_F16, GH_TYPE_BF16};
    for (size_t k = 0; k < 2; k++) {
        const gh_type t = types[k];
        const int64_t lens[] = {8, 13, 64, 1029};
        for (size_t li = 0; li < 4; li++) {
            const int64_t n = lens[li];
            const size_t wrow = kt_row_bytes(t, n), xs = (size_t)n + 5;
            float *x = kt_gauss_vec(8 * (int64_t)xs, 1.0f);
            for (int RP = 1; RP <= GH_RPTILE_RP_MAX; RP++)
                for (int nr = 2 * RP - 1; nr <= 2 * RP; nr++) {
                    char *w = kt_weights(t, nr, n);
                    uint16_t *h = (uint16_t *)w; /* a subnormal, the largest finite, a negative zero */
                    h[1] = 0x0001;
                    h[(nr - 1) * wrow / 2 + 2] = t == GH_TYPE_F16 ? 0x7bff : 0x7f7f;
                    h[(nr / 2) * wrow / 2 + 3] = 0x8000;
                    for (int C = 1; C <= GH_RPTILE_C_MAX; C++) {
                        gh_rptile_fn f = gh_rptile_avx512(t, RP, C);
                        assert_non_null(f);
                        float y[8 * 8], y2[8 * 8];
                        for (int i = 0; i < 64; i++) y[i] = -7.0f;
                        f(n, w, wrow, nr, x, xs, y, 8, w, nr);
                        for (int c = 0; c < C; c++) /* the 1x1 AVX2 tile is the type's vec_dot */
                            for (int r = 0; r < nr; r++)
                                gh_tile_avx2(t, 1, 1)(n, w + r * wrow, wrow, x + (size_t)c * xs, xs * 4, y2 + c * 8 + r,
                                                      8, NULL, 0, GH_TILE_FIRST | GH_TILE_LAST);
                        for (int c = 0; c < 8; c++)
                            for (int r = 0; r < 8; r++) {
                                const bool in = c < C && r < nr;
                                if (in && f2u(y[c * 8 + r]) != f2u(y2[c * 8 + r]))
                                    fail_msg("%s n=%lld rp=%d nr=%d C=%d pair (%d, %d): row-pair tile %.9g, avx2 %.9g",
                                             gh_get_type_traits(t)->name, (long long)n, RP, nr, C, r, c, y[c * 8 + r],
                                             y2[c * 8 + r]);
                                if (!in && y[c * 8 + r] != -7.0f)
                                    fail_msg("%s rp=%d nr=%d C=%d wrote y at (%d, %d)", gh_get_type_traits(t)->name, RP,
                                             nr, C, r, c);
                            }
                    }
                    free(w);
                }
            free(x);
        }
    }
}

/* The Q8_0/Q4_0 AVX-512 tiles (R x 4, R x 8 and the batch-1 4 x 1) must give
 * the very bits of the AVX2 tile of the same shape (kernels_avx512.c),
 * whole-row and in k-chunks, so gh_matmul can
 * mix them (the float types' pair-packed tiles: test_pair_tiles_match_avx2). */
static void test_avx512_tiles_match_avx2(void **state) {
    (void)state;
    if (!have_avx512_tiles()) return;
    kt_seed(29);
    const gh_type types[] = {GH_TYPE_Q8_0, GH_TYPE_Q4_0};
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        const gh_type t = types[k];
        const gh_type_traits *tt = gh_get_type_traits(t), *vt = gh_get_type_traits(tt->vec_dot_type);
        const int64_t lens[] = {32, 64, kt_n_in(t), 1024};
        for (size_t li = 0; li < 4; li++) {
            const int64_t n = lens[li];
            const size_t wrow = kt_row_bytes(t, n), xrow = kt_row_bytes(tt->vec_dot_type, n);
            char *w = kt_weights(t, 4, n);
            float *xf = kt_gauss_vec(8 * n, 1.0f);
            char *xq = malloc(xrow * 8);
            for (int c = 0; c < 8; c++) vt->from_float_ref(xf + c * n, xq + c * xrow, n);
            if (t == GH_TYPE_Q8_0) /* the extreme weight code (AVX2 moves its sign onto x) */
                for (int r = 0; r < 4; r++) ((blk_q8_0 *)(w + r * wrow))[0].qs[3] = -128;
            if (t == GH_TYPE_Q4_0) /* -128 activations only against Q4_0: no Q8_0 quantizer makes one,
                                    * and AVX2's Q8_0 sign trick could not negate it */
                ((blk_q8_0 *)xq)[0].qs[3] = -128;
            const char *x = xq;
            const size_t xb = xrow;
            const int both = GH_TILE_FIRST | GH_TILE_LAST;
            /* in two k-chunks (the first a multiple of the block), accumulators in A */
            const int64_t k1 = (n / 2) / 32 * 32;
            const size_t woff = (size_t)(k1 / tt->blck_size) * tt->type_size;
            const size_t xoff = (size_t)(k1 / 32) * sizeof(blk_q8_0);
            for (int C = 4; C <= 8; C += 4)
                for (int R = 1; R <= 4; R *= 2) {
                    gh_tile_fn f2 = gh_tile_avx2(t, R, 4), f5 = gh_tile_avx512(t, R, C);
                    assert_non_null(f2);
                    assert_non_null(f5);
                    /* y[c*4 + r]; pair (r, c)'s accumulator at A + r*64 + 8c */
                    float y2[32], y5[32], yc[32], y5c[32], A2[4 * 64], A5[4 * 64];
                    for (int c0 = 0; c0 < C; c0 += 4) /* AVX2: 4 columns a call */
                        f2(n, w, wrow, x + c0 * xb, xb, y2 + c0 * 4, 4, NULL, 0, both);
                    f5(n, w, wrow, x, xb, y5, 4, NULL, 0, both);
                    for (int i = 0; i < C * R; i++) {
                        int at = (i / R) * 4 + i % R;
                        if (f2u(y2[at]) != f2u(y5[at]))
                            fail_msg("%s n=%lld %dx%d pair %d: avx512 %.9g, avx2 %.9g", tt->name, (long long)n, R, C, i,
                                     y5[at], y2[at]);
                    }
                    if (k1 == 0 || k1 == n) continue;
                    for (int c0 = 0; c0 < C; c0 += 4) {
                        f2(k1, w, wrow, x + c0 * xb, xb, NULL, 4, A2 + 8 * c0, 64, GH_TILE_FIRST);
                        f2(n - k1, w + woff, wrow, x + c0 * xb + xoff, xb, yc + c0 * 4, 4, A2 + 8 * c0, 64, GH_TILE_LAST);
                    }
                    f5(k1, w, wrow, x, xb, NULL, 4, A5, 64, GH_TILE_FIRST);
                    f5(n - k1, w + woff, wrow, x + xoff, xb, y5c, 4, A5, 64, GH_TILE_LAST);
                    for (int c = 0; c < C; c++)
                        for (int r = 0; r < R; r++) {
                            assert_int_equal(f2u(y5c[c * 4 + r]), f2u(yc[c * 4 + r]));
                            assert_int_equal(f2u(yc[c * 4 + r]), f2u(y2[c * 4 + r]));
                        }
                }
            { /* the 4 x 1 (batch-1) tile, two blocks a register: whole rows (one
               * block: the odd-block path), and in k-chunks of 3 blocks + rest */
                gh_tile_fn f2 = gh_tile_avx2(t, 4, 1), f5 = gh_tile_avx512(t, 4, 1);
                assert_non_null(f5);
                float y2[4], y5[4], y2c[4], y5c[4], A2[4 * 8], A5[4 * 8];
                f2(n, w, wrow, x, xb, y2, 1, NULL, 0, both);
                f5(n, w, wrow, x, xb, y5, 1, NULL, 0, both);
                for (int r = 0; r < 4; r++)
                    if (f2u(y2[r]) != f2u(y5[r]))
                        fail_msg("%s n=%lld 4x1 row %d: avx512 %.9g, avx2 %.9g", tt->name, (long long)n, r, y5[r], y2[r]);
                if (n >= 128) {
                    const size_t wo = 3 * tt->type_size, xo = 3 * sizeof(blk_q8_0);
                    f2(96, w, wrow, x, xb, NULL, 1, A2, 8, GH_TILE_FIRST);
                    f2(n - 96, w + wo, wrow, x + xo, xb, y2c, 1, A2, 8, GH_TILE_LAST);
                    f5(96, w, wrow, x, xb, NULL, 1, A5, 8, GH_TILE_FIRST);
                    f5(n - 96, w + wo, wrow, x + xo, xb, y5c, 1, A5, 8, GH_TILE_LAST);
                    for (int r = 0; r < 4; r++) {
                        assert_int_equal(f2u(y5c[r]), f2u(y2c[r]));
                        assert_int_equal(f2u(y2c[r]), f2u(y2[r]));
                    }
                }
            }
            free(w); free(xf); free(xq);
        }
    }
    /* the K-quants' batch-1 AVX-512 tiles (two rows a register): the AVX2
     * tile's bits for 1-4 super-blocks, whole rows and in k-chunks of one
     * super-block + the rest, with extreme scales and codes */
    const gh_type_traits *kv = gh_get_type_traits(GH_TYPE_Q8_K);
    for (int64_t m = 0; m < 8; m++) {
        const gh_type t = m < 4 ? GH_TYPE_Q4_K : GH_TYPE_Q6_K;
        const gh_type_traits *kt = gh_get_type_traits(t);
        const int64_t n = 256 * (1 + m % 4);
        const size_t wrow = kt_row_bytes(t, n), xrow = kt_row_bytes(GH_TYPE_Q8_K, n);
        char *w = kt_weights(t, 4, n);
        float *xf = kt_gauss_vec(n, 1.0f);
        char *x = malloc(xrow);
        kv->from_float_ref(xf, x, n);
        if (t == GH_TYPE_Q4_K) {
            blk_q4_K *b0 = (blk_q4_K *)w;
            memset(b0->scales, 0xFF, sizeof b0->scales); /* every scale and min 63 */
            memset(b0->qs, 0xFF, 16);                    /* codes 15 */
        } else {
            blk_q6_K *b0 = (blk_q6_K *)(w + wrow); /* row 1 */
            b0->scales[0] = -128;
            b0->scales[15] = 127;
            memset(b0->ql, 0xFF, 16); /* codes 63 (q - 32 = 31) */
            memset(b0->qh, 0xFF, 8);
        }
        ((blk_q8_K *)x)->qs[0] = -128;
        gh_tile_fn f2 = gh_tile_avx2(t, 4, 1), f5 = gh_tile_avx512(t, 4, 1);
        assert_non_null(f5);
        float y2[4], y5[4], y2c[4], y5c[4], A2[4 * 8], A5[4 * 8];
        f2(n, w, wrow, x, xrow, y2, 1, NULL, 0, GH_TILE_FIRST | GH_TILE_LAST);
        f5(n, w, wrow, x, xrow, y5, 1, NULL, 0, GH_TILE_FIRST | GH_TILE_LAST);
        for (int r = 0; r < 4; r++)
            if (f2u(y2[r]) != f2u(y5[r]))
                fail_msg("%s n=%lld 4x1 row %d: avx512 %.9g, avx2 %.9g", kt->name, (long long)n, r, y5[r], y2[r]);
        if (n > 256) {
            f2(256, w, wrow, x, xrow, NULL, 1, A2, 8, GH_TILE_FIRST);
            f2(n - 256, w + kt->type_size, wrow, x + kv->type_size, xrow, y2c, 1, A2, 8, GH_TILE_LAST);
            f5(256, w, wrow, x, xrow, NULL, 1, A5, 8, GH_TILE_FIRST);
            f5(n - 256, w + kt->type_size, wrow, x + kv->type_size, xrow, y5c, 1, A5, 8, GH_TILE_LAST);
            for (int r = 0; r < 4; r++) {
                assert_int_equal(f2u(y5c[r]), f2u(y2c[r]));
                assert_int_equal(f2u(y2c[r]), f2u(y2[r]));
            }
        }
        free(w); free(xf); free(x);
    }
}

/* ---- helpers, traits, bandwidth ---- */

static void test_dot_axpy(void **state) {
    (void)state;
    kt_seed(17);
    for (int64_t n = 0; n < 80; n += 7) {
        float *a = kt_gauss_vec(n + 1, 1.0f), *b = kt_gauss_vec(n + 1, 1.0f), *y = kt_gauss_vec(n + 1, 1.0f);
        double ref = 0, mag = 0;
        for (int64_t i = 0; i < n; i++) { ref += (double)a[i] * b[i]; mag += fabs((double)a[i] * b[i]); }
        assert_true(fabs(gh_dot_f32(a, b, n) - ref) <= 1e-6 * mag + 1e-30);
        float *y0 = malloc((size_t)(n + 1) * 4);
        memcpy(y0, y, (size_t)(n + 1) * 4);
        gh_axpy_f32(y, 0.75f, a, n);
        for (int64_t i = 0; i < n; i++) assert_true(fabsf(y[i] - (y0[i] + 0.75f * a[i])) <= 1e-6f * (1 + fabsf(y[i])));
        assert_true(y[n] == y0[n]); /* nothing written past n */
        free(a); free(b); free(y); free(y0);
    }
}

/* The SIMD expf (kernels_avx2.c) is the C library's, bit for bit: a sweep
 * over float bit patterns (every 1021st: all signs, exponents, table slots,
 * the edges of the fast range, subnormals, inf, NaN) against expf. With
 * glibc and AVX2 the SIMD form must be the one in use. */
static void test_expf_matches_libm(void **state) {
    (void)state;
#ifdef __GLIBC__
    if (gh_kernels_use_avx2()) assert_true(gh_expf_avx2_ok());
#endif
    enum { CH = 4096 };
    float *x = malloc(CH * 4), *y = malloc(CH * 4);
    /* the only two floats (of all 2^32) where r = x*32/ln2 - k rounded twice
     * instead of fused changes the result */
    const float hard[2] = {0x1.04845ep+5f, -0x1.f8cbb2p+5f};
    gh_expf_f32(y, hard, 2);
    for (int i = 0; i < 2; i++) assert_true(y[i] == expf(hard[i]));
    float h8[8] = {0x1.04845ep+5f, -0x1.f8cbb2p+5f, 1, 2, 3, 4, 5, 6};
    gh_expf_f32(y, h8, 8); /* through the 8-lane path too */
    for (int i = 0; i < 8; i++) assert_true(y[i] == expf(h8[i]));
    uint64_t u = 0;
    while (u < ((uint64_t)1 << 32)) {
        int n = 0;
        for (; n < CH && u < ((uint64_t)1 << 32); n++, u += 1021) {
            uint32_t b = (uint32_t)u;
            memcpy(&x[n], &b, 4);
        }
        gh_expf_f32(y, x, n);
        for (int i = 0; i < n; i++) {
            const float e = expf(x[i]);
            if (memcmp(&e, &y[i], 4) != 0) fail_msg("expf(%a): simd %a, libm %a", (double)x[i], (double)y[i], (double)e);
        }
    }
    free(x); free(y);
}

/* gh_swiglu_f32 is bitwise its scalar expression, for ordinary gates, the
 * special and edge values, and lengths with and without a vector tail. */
static void test_swiglu_matches_ref(void **state) {
    (void)state;
    kt_seed(31);
    const float sp[] = {0.0f, -0.0f, 1e-45f, -1e-45f, 1.17549435e-38f, 87.9f, -87.9f, 88.0f, -88.0f, 88.72f, -88.72f,
                        89.0f, -89.0f, 103.9f, -103.9f, 104.0f, -104.0f, INFINITY, -INFINITY, NAN, 3.4e38f, -3.4e38f};
    const size_t ns = sizeof sp / sizeof sp[0];
    for (int64_t n = 0; n < 1100; n = n < 40 ? n + 1 : n + 531) {
        float *g = kt_gauss_vec(n + 1, n % 3 == 0 ? 30.0f : 3.0f), *u = kt_gauss_vec(n + 1, 1.0f);
        for (int64_t i = 0; i < n; i += 5) g[i] = sp[(size_t)(i / 5 + n) % ns];
        float *r = malloc((size_t)(n + 1) * 4);
        memcpy(r, g, (size_t)(n + 1) * 4);
        gh_swiglu_f32(g, u, n);
        gh_swiglu_f32_ref(r, u, n);
        assert_memory_equal(g, r, (size_t)(n + 1) * 4); /* and nothing written past n */
        free(g); free(u); free(r);
    }
}

/* gh_attend_f32 holds the bits of the per-head loop it replaced
 * (gh_attend_f32_ref: gh_dot_f32, expf, gh_axpy_f32), for the head sizes with
 * 512-bit paths (multiples of 32; values: of 64) and the generic ones (tails of 8-blocks and of single
 * floats), groups of 1-16 heads (8 to a vector, and the rest) and contexts
 * from 1 position; both are attention (a double-precision softmax-weighted
 * sum agrees) and write nothing past G*hd outputs. A view whose first n_pre
 * positions come from another buffer with the same rows gives the same bits,
 * and reads none of its own rows there. */
static void test_attend_matches_ref(void **state) {
    (void)state;
    kt_seed(29);
    const int32_t hds[] = {64, 128, 96, 32, 8, 48, 100, 36, 72, 3};
    const int32_t Gs[] = {1, 2, 4, 8, 12, 16}, ns[] = {1, 2, 37, 300};
    for (size_t a = 0; a < sizeof hds / sizeof hds[0]; a++)
        for (size_t b = 0; b < sizeof Gs / sizeof Gs[0]; b++)
            for (size_t c = 0; c < sizeof ns / sizeof ns[0]; c++) {
                const int32_t hd = hds[a], G = Gs[b], n = ns[c];
                const size_t kvs = (size_t)hd * 3 + 5; /* keys of other heads in between */
                /* large queries: peaked softmax, weights that underflow */
                float *q = kt_gauss_vec((int64_t)G * hd, c == 3 ? 4.0f : 1.0f);
                float *k = kt_gauss_vec((int64_t)n * (int64_t)kvs, 1.0f), *v = kt_gauss_vec((int64_t)n * (int64_t)kvs, 1.0f);
                float *o = malloc(((size_t)G * hd + 1) * 4), *r = malloc(((size_t)G * hd + 1) * 4);
                float *sc = malloc((size_t)G * n * 4), *sr = malloc((size_t)G * n * 4);
                o[G * hd] = r[G * hd] = 12345.0f;
                const float scale = 1.0f / sqrtf((float)hd);
                const gh_kv_view kv = {.k = k, .v = v, .stride = kvs};
                gh_attend_f32(o, q, G, &kv, n, hd, scale, sc);
                gh_attend_f32_ref(r, q, G, &kv, n, hd, scale, sr);
                assert_memory_equal(o, r, (size_t)G * hd * 4);
                assert_true(o[G * hd] == 12345.0f && r[G * hd] == 12345.0f);
                /* the first n_pre positions from another buffer (a shared
                 * prompt), this one's rows there overwritten: the same bits */
                const int32_t pres[] = {1, n / 2, n - 1};
                for (int pi = 0; pi < 3; pi++) {
                    const int32_t np = pres[pi];
                    if (np <= 0) continue;
                    const size_t rows = (size_t)np * kvs;
                    float *kp = malloc(rows * 4), *vp = malloc(rows * 4), *k2 = malloc((size_t)n * kvs * 4),
                          *v2 = malloc((size_t)n * kvs * 4), *o2 = malloc((size_t)G * hd * 4), *r2 = malloc((size_t)G * hd * 4);
                    memcpy(kp, k, rows * 4);
                    memcpy(vp, v, rows * 4);
                    memcpy(k2, k, (size_t)n * kvs * 4);
                    memcpy(v2, v, (size_t)n * kvs * 4);
                    for (size_t i = 0; i < rows; i++) k2[i] = v2[i] = 1e3f;
                    const gh_kv_view split = {.k = k2, .v = v2, .k_pre = kp, .v_pre = vp, .stride = kvs, .n_pre = np};
                    gh_attend_f32(o2, q, G, &split, n, hd, scale, sc);
                    gh_attend_f32_ref(r2, q, G, &split, n, hd, scale, sr);
                    assert_memory_equal(o2, o, (size_t)G * hd * 4);
                    assert_memory_equal(r2, o, (size_t)G * hd * 4);
                    free(kp); free(vp); free(k2); free(v2); free(o2); free(r2);
                }
                for (int32_t g = 0; g < G; g++) {
                    double w[300], mx = -INFINITY, sum = 0;
                    for (int32_t p = 0; p < n; p++) {
                        double d = 0;
                        for (int32_t i = 0; i < hd; i++) d += (double)q[g * hd + i] * k[(size_t)p * kvs + (size_t)i];
                        w[p] = d * scale;
                        mx = w[p] > mx ? w[p] : mx;
                    }
                    for (int32_t p = 0; p < n; p++) sum += (w[p] = exp(w[p] - mx));
                    for (int32_t i = 0; i < hd; i++) {
                        double e = 0;
                        for (int32_t p = 0; p < n; p++) e += w[p] / sum * v[(size_t)p * kvs + (size_t)i];
                        assert_true(fabs(o[g * hd + i] - e) <= 1e-4 * (1 + fabs(e)));
                    }
                }
                free(q); free(k); free(v); free(o); free(r); free(sc); free(sr);
            }
}

static void test_traits_table(void **state) {
    (void)state;
    assert_null(gh_get_type_traits(GH_TYPE_Q5_1));
    assert_null(gh_get_type_traits((gh_type)-1));
    assert_null(gh_get_type_traits((gh_type)99));
    const gh_type_traits *t = gh_get_type_traits(GH_TYPE_Q4_K);
    assert_string_equal(t->name, "q4_K");
    assert_int_equal(t->blck_size, 256);
    assert_int_equal(t->type_size, 144);
    assert_int_equal(t->vec_dot_type, GH_TYPE_Q8_K);
    assert_int_equal(gh_get_type_traits(GH_TYPE_Q6_K)->type_size, 210);
    assert_int_equal(gh_get_type_traits(GH_TYPE_Q4_0)->vec_dot_type, GH_TYPE_Q8_0);
    assert_int_equal(gh_get_type_traits(GH_TYPE_F16)->vec_dot_type, GH_TYPE_F32);
    /* float weights need scratch only for the pair-packed activations (AVX-512, B >= 4) */
    assert_int_equal(gh_matmul_wsize(GH_TYPE_F32, 512, 3), 0);
    assert_int_equal(gh_matmul_wsize(GH_TYPE_F32, 512, 7), gh_kernels_use_avx512() ? 4 * (64 * 16 + 16) * 4 + 64 : 0);
    assert_int_equal(gh_matmul_wsize(GH_TYPE_Q4_K, 512, 3), 3 * 2 * 292);
    const char *simd = gh_kernels_simd_name();
    assert_true(strcmp(simd, "amx") == 0 || strcmp(simd, "avx512") == 0 || strcmp(simd, "avx2") == 0 ||
                strcmp(simd, "scalar") == 0);
}

static void test_bandwidth_probe(void **state) {
    (void)state;
    double gbs = gh_measure_read_bandwidth(2, 16u << 20, 1);
    assert_true(gbs > 0 && isfinite(gbs));
}

/* The compute-peak probe: its FMA loops run n steps of a = a * 0.999 + 1e-3
 * on 12 chains (checked against fmaf: one step more or fewer moves the sum by
 * ~4e-4 of it), and the measure is positive. */
static void test_fma_peak_probe(void **state) {
    (void)state;
    const int64_t n = 1000;
    double want = 0;
    for (int k = 0; k < 12; k++) {
        float a = k == 10 ? 1e-2f : k == 11 ? 1.1e-2f : (float)k * 1e-3f;
        for (int64_t i = 0; i < n; i++) a = fmaf(a, 0.999f, 1e-3f);
        want += a;
    }
    if (gh_kernels_use_avx2()) assert_true(fabs(gh_fma_chains_avx2(n) / 8 - want) < 1e-5 * want);
    if (gh_kernels_use_avx512()) assert_true(fabs(gh_fma_chains_avx512(n) / 16 - want) < 1e-5 * want);
    const double g = gh_measure_fma_peak(2, 1);
    assert_true(g > 0 && isfinite(g));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fp16_known_values),
        cmocka_unit_test(test_fp16_all_values),
        cmocka_unit_test(test_bf16),
        cmocka_unit_test(test_layout_q8_0_q4_0),
        cmocka_unit_test(test_layout_q4_K),
        cmocka_unit_test(test_layout_q6_K),
        cmocka_unit_test(test_layout_q8_K),
        cmocka_unit_test(test_quant_error_budget),
        cmocka_unit_test(test_activation_quant_simd_bitwise),
        cmocka_unit_test(test_vec_dot_simd_vs_ref),
        cmocka_unit_test(test_matmul_vs_ref),
        cmocka_unit_test(test_matmul_determinism),
        cmocka_unit_test(test_matmul_multi),
        cmocka_unit_test(test_float_tiles_match_vec_dot),
        cmocka_unit_test(test_q80_tiles_match_ref),
        cmocka_unit_test(test_kquant_tiles_match_ref),
        cmocka_unit_test(test_avx512_tiles_match_avx2),
        cmocka_unit_test(test_pair_tiles_match_avx2),
        cmocka_unit_test(test_rpair_tiles_match_avx2),
        cmocka_unit_test(test_dot_axpy),
        cmocka_unit_test(test_attend_matches_ref),
        cmocka_unit_test(test_expf_matches_libm),
        cmocka_unit_test(test_swiglu_matches_ref),
        cmocka_unit_test(test_traits_table),
        cmocka_unit_test(test_bandwidth_probe),
        cmocka_unit_test(test_fma_peak_probe),
    };
    return cmocka_run_group_tests_name("kernels", tests, NULL, NULL);
}
