/* The AMX products must give the reference kernels' bits: through gh_matmul
 * (which takes AMX for B >= 4 where the CPU has it) for Q8_0, Q4_0, Q4_K and
 * Q6_K, and (kernels_amx.c) directly from hand-made Q8_0/Q4_0 blocks with the
 * extreme codes the quantizers never produce (-128 activations, zero scales);
 * test_amx_kquants.c does the latter for the K-quants. On a CPU
 * without AMX (or GH_SIMD set below "amx") there is nothing to compare and
 * the tests say so. */
#include "kernels_testlib.h"
#include "kernels/kernels_internal.h"

static void check_vs_ref(gh_type t, int64_t n_in, int64_t n_out, int64_t B, int threads) {
    void *w = kt_weights(t, n_out, n_in);
    kt_check_matmul_bits(t, w, t, w, n_in, n_out, B, threads, "");
    free(w);
}

static void test_amx_matmul_is_ref(void **state) {
    (void)state;
    if (!kt_have_amx()) return;
    kt_seed(41);
    const gh_type types[] = {GH_TYPE_Q8_0, GH_TYPE_Q4_0, GH_TYPE_Q4_K, GH_TYPE_Q6_K};
    /* 17 blocks (an odd last block after 8 pipelined pairs), 16, 1, 2 (one
     * pair: the pipeline's fill and drain only); the K-quants: 3
     * super-blocks, 1 */
    const int64_t n_ins[2][4] = {{544, 512, 32, 64}, {768, 256, 0, 0}};
    const int64_t n_outs[] = {16, 37, 96}; /* whole groups, groups + AVX2 rows */
    /* narrow tiles (Q8_0/Q4_0, B <= 8: 4 blocks of 4 or 2 blocks of 8
     * columns a tile; 17 blocks leave a last slot of 1), a padded group,
     * one, one + 1 row, three */
    const int64_t Bs[] = {4, 5, 8, 16, 17, 40};
    for (int k = 0; k < 4; k++)
        for (int a = 0; a < 4 && n_ins[k >= 2][a]; a++)
            for (int b = 0; b < 3; b++)
                for (int c = 0; c < 6; c++) check_vs_ref(types[k], n_ins[k >= 2][a], n_outs[b], Bs[c], 1 + (c & 1));
}

/* Hand-made blocks: Q8_0 weights of -128 and 127, activations of -128 and
 * 127, zero scales; gh_amx_matmul_rows against vec_dot_ref pair by pair, for
 * 19 activation rows and the narrow layouts (7, 3; 3 blocks: a partial slot). */
static void test_amx_extremes(void **state) {
    (void)state;
    if (!kt_have_amx()) return;
    kt_seed(43);
    const int64_t n_in = 96, nb = 3, n_out = 32, Bs[] = {19, 7, 3}; /* wide tiles, narrow of 8 and of 4 columns */
    for (int bi = 0; bi < 3; bi++)
    for (int q4 = 0; q4 < 2; q4++) {
        const int64_t B = Bs[bi];
        const gh_type t = q4 ? GH_TYPE_Q4_0 : GH_TYPE_Q8_0;
        const size_t wrow = (size_t)nb * (q4 ? sizeof(blk_q4_0) : sizeof(blk_q8_0)), xrow = (size_t)nb * sizeof(blk_q8_0);
        uint8_t *w = malloc(wrow * n_out), *xq = malloc(xrow * B);
        for (size_t i = 0; i < wrow * n_out; i++) w[i] = (uint8_t)kt_u64();
        for (size_t i = 0; i < xrow * B; i++) xq[i] = (uint8_t)kt_u64();
        for (int64_t o = 0; o < n_out; o++)
            for (int64_t i = 0; i < nb; i++) {
                if (q4) {
                    blk_q4_0 *bw = (blk_q4_0 *)(w + o * wrow) + i;
                    bw->d = gh_fp32_to_fp16(o == 3 && i == 1 ? 0.0f : 0.01f * (float)(1 + (o + i) % 7));
                    if (o % 4 == 0) memset(bw->qs, o % 8 ? 0xFF : 0x00, sizeof bw->qs); /* codes 15 or 0 */
                } else {
                    blk_q8_0 *bw = (blk_q8_0 *)(w + o * wrow) + i;
                    bw->d = gh_fp32_to_fp16(o == 3 && i == 1 ? 0.0f : 0.01f * (float)(1 + (o + i) % 7));
                    if (o % 4 == 0) memset(bw->qs, o % 8 ? 0x80 : 0x7F, sizeof bw->qs); /* -128 or 127 */
                }
            }
        for (int64_t b = 0; b < B; b++)
            for (int64_t i = 0; i < nb; i++) {
                blk_q8_0 *bx = (blk_q8_0 *)(xq + b * xrow) + i;
                bx->d = gh_fp32_to_fp16(b == 5 ? 0.0f : 0.02f * (float)(1 + (b * 3 + i) % 5));
                if (b % 3 == 0) memset(bx->qs, b % 2 ? 0x80 : 0x7F, sizeof bx->qs);
            }
        void *pack = aligned_alloc(64, (gh_amx_pack_size(n_in, B) + 63) / 64 * 64);
        gh_amx_pack(xq, xrow, n_in, B, pack, 0, nb);
        float *y = malloc(sizeof(float) * (size_t)(B * n_out));
        gh_amx_matmul_rows(t, y, pack, w, wrow, n_in, n_out, B, 0, n_out);
        const gh_type_traits *tt = gh_get_type_traits(t);
        for (int64_t b = 0; b < B; b++)
            for (int64_t o = 0; o < n_out; o++) {
                float s;
                tt->vec_dot_ref(n_in, &s, w + o * wrow, xq + b * xrow);
                if (f2u(s) != f2u(y[b * n_out + o]))
                    fail_msg("%s pair (%lld, %lld): amx %.9g, ref %.9g", tt->name, (long long)o, (long long)b,
                             y[b * n_out + o], s);
            }
        free(w); free(xq); free(pack); free(y);
    }
}

/* gh_amx_pack_f32 (quantizing while it packs) writes the bytes that
 * gh_amx_pack writes from the reference quantizer's Q8_0 rows: whole and
 * padded groups, a split block range, a zero block, a subnormal one and one
 * of tiny values whose 1 / d is infinite (the reference's codes are then
 * 0). */
static void test_amx_pack_f32(void **state) {
    (void)state;
    if (!kt_have_amx()) return;
    kt_seed(73);
    const int64_t n_in = 160, nb = 5, Bs[] = {9, 16, 17, 40};
    for (int bi = 0; bi < 4; bi++) {
        const int64_t B = Bs[bi];
        float *x = kt_gauss_vec(B * n_in, bi & 1 ? 30.0f : 1.0f);
        for (int i = 0; i < 32; i++) /* a zero block, a subnormal one (d = 0), one whose 1 / d overflows */
            x[i] = 0, x[n_in + 64 + i] = (i % 3 - 1) * 1e-45f, x[n_in + 96 + i] = (i % 3 - 1) * 1e-37f;
        kt_check_pack_f32(GH_TYPE_Q8_0, x, n_in, B, gh_amx_pack_size(n_in, B), gh_amx_pack, gh_amx_pack_f32, nb, 2);
        free(x);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_amx_matmul_is_ref),
        cmocka_unit_test(test_amx_extremes),
        cmocka_unit_test(test_amx_pack_f32),
    };
    return cmocka_run_group_tests_name("kernels_amx", tests, NULL, NULL);
}
