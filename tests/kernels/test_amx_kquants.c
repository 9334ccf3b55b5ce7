/* The AMX K-quant products (kquants_amx.c) must give, for every (weight row,
 * activation row) pair, the bits of the reference gh_vec_dot_q4_K_ref /
 * gh_vec_dot_q6_K_ref: on weights and activations from the reference
 * quantizers (several lengths, whole and padded 16-row groups, split packing
 * and row ranges), and on hand-made blocks with the extreme codes, scales and
 * activations the quantizers rarely or never produce. On a CPU without AMX
 * there is nothing to compare and the tests say so. */
#include "kernels_testlib.h"
#include "kernels/kernels_internal.h"

static void *pack_alloc(int64_t n_in, int64_t B) {
    size_t n = (gh_amx_kq_pack_size(n_in, B) + 63) / 64 * 64;
    void *p = aligned_alloc(64, n);
    memset(p, 0xA5, n); /* garbage: padding rows must be written by the pack */
    return p;
}

/* Packs in two super-block ranges and computes rows [0, 16) and [16, n_out)
 * in two calls (as threads would), then compares every pair with the
 * reference vec_dot. Rows of y outside the products stay untouched. */
static void check_pairs(gh_type t, const void *w, size_t wrow, const void *xq, size_t xrow, int64_t n_in,
                        int64_t n_out, int64_t B, const char *what) {
    const int64_t nsb = n_in / QK_K;
    void *pack = pack_alloc(n_in, B);
    gh_amx_kq_pack(xq, xrow, n_in, B, pack, nsb / 2, nsb);
    gh_amx_kq_pack(xq, xrow, n_in, B, pack, 0, nsb / 2);
    float *y = malloc(sizeof(float) * (size_t)((B + 1) * n_out));
    for (int64_t i = 0; i < (B + 1) * n_out; i++) y[i] = -1.0f;
    gh_amx_kq_matmul_rows(t, y, pack, w, wrow, n_in, n_out, B, 16, n_out);
    gh_amx_kq_matmul_rows(t, y, pack, w, wrow, n_in, n_out, B, 0, 16);
    const gh_type_traits *tt = gh_get_type_traits(t);
    for (int64_t b = 0; b < B; b++)
        for (int64_t o = 0; o < n_out; o++) {
            float s;
            tt->vec_dot_ref(n_in, &s, (const char *)w + o * (int64_t)wrow, (const char *)xq + b * (int64_t)xrow);
            if (f2u(s) != f2u(y[b * n_out + o]))
                fail_msg("%s %s n_in=%lld n_out=%lld B=%lld: pair (row %lld, act %lld): amx %.9g, ref %.9g", tt->name,
                         what, (long long)n_in, (long long)n_out, (long long)B, (long long)o, (long long)b,
                         y[b * n_out + o], s);
        }
    for (int64_t i = B * n_out; i < (B + 1) * n_out; i++)
        if (y[i] != -1.0f) fail_msg("%s %s: y written past row B", tt->name, what);
    free(pack);
    free(y);
}

/* B activation rows of Q8_K from N(0, 1) (the first super-block of row 0
 * zero: a zero scale) */
static void *kt_q8_K_rows(int64_t n_in, int64_t B) {
    const size_t xrow = (size_t)(n_in / QK_K) * sizeof(blk_q8_K);
    float *x = kt_gauss_vec(B * n_in, 1.0f);
    for (int i = 0; i < QK_K; i++) x[i] = 0;
    char *xq = malloc(xrow * (size_t)B);
    for (int64_t b = 0; b < B; b++) gh_q8_K_from_float_ref(x + b * n_in, xq + (size_t)b * xrow, n_in);
    free(x);
    return xq;
}

static void test_amx_kquants_quantized(void **state) {
    (void)state;
    if (!kt_have_amx()) return;
    kt_seed(61);
    const gh_type types[] = {GH_TYPE_Q4_K, GH_TYPE_Q6_K};
    const int64_t n_ins[] = {256, 768, 2048};
    const int64_t n_outs[] = {16, 48};
    /* padded groups of 1, 4, 5 and 8 rows (the batches N = 4 and 8 decode
     * with), a whole group, one + a padded one */
    const int64_t Bs[] = {1, 4, 5, 8, 16, 19};
    for (int k = 0; k < 2; k++)
        for (int a = 0; a < 3; a++)
            for (int c = 0; c < 2; c++) {
                const int64_t n_in = n_ins[a], n_out = n_outs[c];
                void *w = kt_weights(types[k], n_out, n_in);
                for (int d = 0; d < 6; d++) {
                    void *xq = kt_q8_K_rows(n_in, Bs[d]);
                    check_pairs(types[k], w, kt_row_bytes(types[k], n_in), xq,
                                (size_t)(n_in / QK_K) * sizeof(blk_q8_K), n_in, n_out, Bs[d], "quantized");
                    free(xq);
                }
                free(w);
            }
}

/* Activation blocks: all -128, all 127, or random bytes, with bsums
 * recomputed from qs (or left random, `raw_bsums`: the Q4_K reference reads
 * bsums as given, so must the AMX path); x.d small, or zero. */
static void *extreme_acts(int64_t nsb, int64_t B, bool raw_bsums) {
    blk_q8_K *x = malloc(sizeof(blk_q8_K) * (size_t)(nsb * B));
    for (int64_t b = 0; b < B; b++)
        for (int64_t i = 0; i < nsb; i++) {
            blk_q8_K *bx = x + b * nsb + i;
            for (int k = 0; k < QK_K; k++) bx->qs[k] = (int8_t)kt_u64();
            if (b % 3 == 0) memset(bx->qs, b % 2 ? 0x80 : 0x7F, sizeof bx->qs);
            if (b == 4 && i == 1) /* halves of opposite extremes */
                for (int k = 0; k < QK_K; k++) bx->qs[k] = (int8_t)(k % 32 < 16 ? -128 : 127);
            kt_q8_K_set_bsums(bx);
            if (raw_bsums)
                for (int j = 0; j < QK_K / 16; j++) bx->bsums[j] = (int16_t)kt_u64();
            bx->d = b == 5 ? 0.0f : 0.01f * (float)(1 + (b * 3 + i) % 5) * (b % 2 ? -1.0f : 1.0f);
        }
    return x;
}

/* Weight blocks of random bytes; Q4_K: some rows with all scales and mins
 * 63 (bytes 0xFF), codes 15 or 0; Q6_K: some rows with scales -128 or 127,
 * codes 0 (-32) or 63 (31), so that scale*(code-32) reaches 4096 (rows 0,
 * 24) and -4064 (row 16). The fp16 scales small, some zero. */
static void *extreme_weights(gh_type t, int64_t nsb, int64_t n_out) {
    const size_t bs = t == GH_TYPE_Q4_K ? sizeof(blk_q4_K) : sizeof(blk_q6_K);
    uint8_t *w = malloc(bs * (size_t)(nsb * n_out));
    for (size_t k = 0; k < bs * (size_t)(nsb * n_out); k++) w[k] = (uint8_t)kt_u64();
    for (int64_t o = 0; o < n_out; o++)
        for (int64_t i = 0; i < nsb; i++) {
            void *blk = w + (size_t)(o * nsb + i) * bs;
            const float d = o == 3 && i == 1 ? 0.0f : 0.001f * (float)(1 + (o + i) % 7);
            if (t == GH_TYPE_Q4_K) {
                blk_q4_K *bw = blk;
                if (o % 3 == 0) memset(bw->scales, 0xFF, sizeof bw->scales);
                if (o % 4 == 0) memset(bw->qs, o % 8 ? 0xFF : 0x00, sizeof bw->qs);
                if (o == 7) memset(bw->qs, 0xF0, sizeof bw->qs); /* low nibbles 0, high 15 */
                bw->d = gh_fp32_to_fp16(10 * d);
                bw->dmin = gh_fp32_to_fp16(o == 5 ? 0.0f : 0.003f * (float)(1 + (o * 5 + i) % 9));
            } else {
                blk_q6_K *bw = blk;
                if (o % 6 == 0) memset(bw->scales, 0x80, sizeof bw->scales);
                if (o % 6 == 3 || o == 16) memset(bw->scales, 0x7F, sizeof bw->scales);
                if (o % 4 == 0) {
                    memset(bw->ql, o % 8 ? 0xFF : 0x00, sizeof bw->ql);
                    memset(bw->qh, o % 8 ? 0xFF : 0x00, sizeof bw->qh);
                }
                bw->d = gh_fp32_to_fp16(d);
            }
        }
    return w;
}

static void test_amx_kquants_extremes(void **state) {
    (void)state;
    if (!kt_have_amx()) return;
    kt_seed(67);
    const int64_t n_in = 768, nsb = 3, n_out = 32, Bs[] = {19, 7, 3}; /* one group + 3 rows, padded groups */
    const size_t xrow = (size_t)nsb * sizeof(blk_q8_K);
    for (int bi = 0; bi < 3; bi++)
    for (int raw = 0; raw < 2; raw++) {
        const int64_t B = Bs[bi];
        void *xq = extreme_acts(nsb, B, raw);
        void *w4 = extreme_weights(GH_TYPE_Q4_K, nsb, n_out);
        check_pairs(GH_TYPE_Q4_K, w4, (size_t)nsb * sizeof(blk_q4_K), xq, xrow, n_in, n_out, B,
                    raw ? "extremes, raw bsums" : "extremes");
        free(w4);
        if (!raw) { /* Q6_K does not read bsums */
            void *w6 = extreme_weights(GH_TYPE_Q6_K, nsb, n_out);
            check_pairs(GH_TYPE_Q6_K, w6, (size_t)nsb * sizeof(blk_q6_K), xq, xrow, n_in, n_out, B, "extremes");
            free(w6);
        }
        free(xq);
    }
}

/* gh_amx_kq_pack_f32 (quantizing while it packs) writes the bytes that
 * gh_amx_kq_pack writes from the reference quantizer's Q8_K rows: for whole
 * and padded groups, a split super-block range, a zero super-block, one
 * whose largest magnitude comes first negative then positive (the first
 * gives the sign; the other then rounds to 128 and is held at 127), and
 * one with subnormals only (an infinite iscale: the reference's codes are
 * then 0). */
static void test_amx_kq_pack_f32(void **state) {
    (void)state;
    if (!kt_have_amx()) return;
    kt_seed(71);
    const int64_t n_in = 768, nsb = 3, Bs[] = {1, 3, 16, 19, 40};
    for (int bi = 0; bi < 5; bi++) {
        const int64_t B = Bs[bi];
        float *x = kt_gauss_vec(B * n_in, bi & 1 ? 30.0f : 1.0f);
        for (int i = 0; i < QK_K; i++) x[i] = 0;                        /* row 0, super-block 0 */
        if (B > 1) {
            x[n_in + 290] = -7.5f, x[n_in + 295] = 7.5f;                 /* row 1, super-block 1 */
            for (int i = 0; i < QK_K; i++) x[n_in + 2 * QK_K + i] = (i % 3 - 1) * 1e-45f; /* row 1, super-block 2 */
        }
        kt_check_pack_f32(GH_TYPE_Q8_K, x, n_in, B, gh_amx_kq_pack_size(n_in, B), gh_amx_kq_pack, gh_amx_kq_pack_f32,
                          nsb, 1);
        free(x);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_amx_kquants_quantized),
        cmocka_unit_test(test_amx_kquants_extremes),
        cmocka_unit_test(test_amx_kq_pack_f32),
    };
    return cmocka_run_group_tests_name("kquants_amx", tests, NULL, NULL);
}
