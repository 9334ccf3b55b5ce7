/* Regrouped Q4_0 and Q8_0 (src/kernels/repack.c, GH_TYPE_*_R16): the
 * layout keeps every byte of the rows it came from and puts them where
 * repack.c says;
 * gh_matmul on it gives bitwise what gh_matmul_ref gives on the original
 * rows, for the VNNI kernel (B <= 8) and the AMX tiles (B > 8, with the
 * widened-block cache for B > 16), any thread count; and the kernels hold
 * that for the codes the quantizers never write (-128 activations and
 * weights, zero scales, all-0 and all-15 Q4_0 codes). */
#include "kernels_testlib.h"

static void *dup(const void *p, size_t n) {
    void *q = malloc(n);
    memcpy(q, p, n);
    return q;
}

static const gh_type base_types[2] = {GH_TYPE_Q4_0, GH_TYPE_Q8_0};

static void test_r16_layout(void **state) {
    (void)state;
    kt_seed(51);
    const int64_t n_ins[] = {32, 64, 544}, n_outs[] = {16, 48};
    for (int t = 0; t < 2; t++)
        for (int a = 0; a < 3; a++)
            for (int c = 0; c < 2; c++) {
                const gh_type bt = base_types[t];
                const int64_t n_in = n_ins[a], n_out = n_outs[c], nb = n_in / 32;
                const size_t bsize = gh_get_type_traits(bt)->type_size, wrow = (size_t)nb * bsize;
                const int chunks = (int)(bsize - 2) / 4;
                uint8_t *w = kt_weights(bt, n_out, n_in), *r = dup(w, wrow * (size_t)n_out);
                assert_int_equal(gh_regroup(bt, r, n_in, n_out), 0);
                /* record i of group g: scales, then chunk k's 4 bytes a row */
                for (int64_t o = 0; o < n_out; o++)
                    for (int64_t i = 0; i < nb; i++) {
                        const uint8_t *b = w + (size_t)o * wrow + (size_t)i * bsize; /* d, qs */
                        const uint8_t *rec = r + (size_t)(o / 16) * 16 * wrow + (size_t)i * 16 * bsize;
                        assert_memory_equal(rec + 2 * (o % 16), b, 2);
                        for (int k = 0; k < chunks; k++)
                            assert_memory_equal(rec + 32 + 64 * k + 4 * (o % 16), b + 2 + 4 * k, 4);
                    }
                /* and each row reads back as it was */
                uint8_t *row = malloc(wrow);
                for (int64_t o = 0; o < n_out; o++) {
                    gh_regrouped_row(gh_regrouped_of(bt), r, n_in, o, row);
                    assert_memory_equal(row, w + (size_t)o * wrow, wrow);
                }
                free(row); free(w); free(r);
            }
    /* shapes and types the layout cannot hold are refused, the bytes left alone */
    uint8_t *w = kt_weights(GH_TYPE_Q4_0, 17, 64), *r = dup(w, 17 * 36);
    assert_int_equal(gh_regroup(GH_TYPE_Q4_0, r, 64, 17), -1);
    assert_memory_equal(r, w, 17 * 36);
    assert_int_equal(gh_regroup(GH_TYPE_Q4_0, r, 48, 16), -1);
    assert_int_equal(gh_regroup(GH_TYPE_Q4_K, r, 256, 16), -1);
    assert_memory_equal(r, w, 17 * 36);
    assert_false(gh_regroup_usable(GH_TYPE_Q4_0, 64, 17));
    assert_false(gh_regroup_usable(GH_TYPE_Q6_K, 256, 16));
    assert_int_equal(gh_regrouped_of(GH_TYPE_Q4_K), GH_TYPE_COUNT);
    assert_int_equal(gh_regrouped_base(GH_TYPE_Q8_0_R16), GH_TYPE_Q8_0);
    free(w); free(r);
}

/* gh_matmul_ref on the regrouped bytes reads the rows back (any CPU) */
static void test_r16_ref_is_ref(void **state) {
    (void)state;
    kt_seed(52);
    const int64_t n_in = 96, n_out = 32, B = 3;
    for (int t = 0; t < 2; t++) {
        void *w = kt_weights(base_types[t], n_out, n_in), *r = dup(w, kt_row_bytes(base_types[t], n_in) * n_out);
        assert_int_equal(gh_regroup(base_types[t], r, n_in, n_out), 0);
        float *x = kt_gauss_vec(B * n_in, 1.0f), y[3 * 32], yr[3 * 32];
        gh_matmul_ref(y, x, r, gh_regrouped_of(base_types[t]), n_in, n_out, B);
        gh_matmul_ref(yr, x, w, base_types[t], n_in, n_out, B);
        for (int i = 0; i < B * n_out; i++) assert_int_equal(f2u(y[i]), f2u(yr[i]));
        free(w); free(r); free(x);
    }
}

static void check_vs_ref(gh_type bt, int64_t n_in, int64_t n_out, int64_t B, int threads) {
    const size_t wb = kt_row_bytes(bt, n_in) * (size_t)n_out;
    void *w = kt_weights(bt, n_out, n_in), *r = dup(w, wb);
    assert_int_equal(gh_regroup(bt, r, n_in, n_out), 0);
    kt_check_matmul_bits(gh_regrouped_of(bt), r, bt, w, n_in, n_out, B, threads, " r16");
    free(w); free(r);
}

static void test_r16_matmul_is_ref(void **state) {
    (void)state;
    if (!kt_have_amx()) return;
    kt_seed(53);
    /* 17 blocks (the AMX pipeline's odd last block), 2 (one pair), 1 */
    const int64_t n_ins[] = {544, 64, 32}, n_outs[] = {16, 96};
    /* VNNI: 1-8 (one kernel each); AMX: 9, 16, 17 and 40 (cache) */
    const int64_t Bs[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 17, 40};
    for (int t = 0; t < 2; t++)
        for (int a = 0; a < 3; a++)
            for (int c = 0; c < 2; c++)
                for (int b = 0; b < 12; b++) check_vs_ref(base_types[t], n_ins[a], n_outs[c], Bs[b], 1 + (b & 1));
    /* threads split 65 groups at B = 1 (contiguous ranges) and B = 4 (chunks) */
    check_vs_ref(GH_TYPE_Q4_0, 512, 1040, 1, 2); /* 65 groups: 520 rows a thread is not a whole group */
    check_vs_ref(GH_TYPE_Q8_0, 512, 1040, 4, 2); /* (at least 2^18 multiply-adds a thread, or one thread runs) */
}

/* gh_matmul_multi shares the packing between regrouped matrices */
static void test_r16_multi(void **state) {
    (void)state;
    if (!kt_have_amx()) return;
    kt_seed(54);
    const int64_t n_in = 128, n_outs[2] = {32, 64};
    for (int bi = 0; bi < 4; bi++) { /* Q4_0, Q8_0; VNNI (2) and AMX (16) */
        const int64_t B = bi & 2 ? 16 : 2;
        const gh_type bt = base_types[bi & 1];
        void *w[2], *r[2];
        float *y[2], *yr[2];
        for (int k = 0; k < 2; k++) {
            w[k] = kt_weights(bt, n_outs[k], n_in);
            r[k] = dup(w[k], kt_row_bytes(bt, n_in) * (size_t)n_outs[k]);
            assert_int_equal(gh_regroup(bt, r[k], n_in, n_outs[k]), 0);
            y[k] = malloc((size_t)(B * n_outs[k]) * 4);
            yr[k] = malloc((size_t)(B * n_outs[k]) * 4);
        }
        float *x = kt_gauss_vec(B * n_in, 1.0f);
        void *wd = malloc(gh_matmul_wsize(gh_regrouped_of(bt), n_in, B));
        gh_matmul_multi(2, y, (const void *const *)r, n_outs, gh_regrouped_of(bt), x, n_in, B, wd, 2);
        for (int k = 0; k < 2; k++) {
            gh_matmul_ref(yr[k], x, w[k], bt, n_in, n_outs[k], B);
            for (int64_t i = 0; i < B * n_outs[k]; i++) assert_int_equal(f2u(y[k][i]), f2u(yr[k][i]));
            free(w[k]); free(r[k]); free(y[k]); free(yr[k]);
        }
        free(x); free(wd);
    }
}

/* Hand-made blocks: Q4_0 weight codes all 0 or all 15, Q8_0 ones all -128
 * or 127, activations of -128 and 127, zero scales on both sides;
 * gh_r16_matmul_rows against vec_dot_ref pair by pair, through the VNNI
 * kernels (1, 3, 8 activation rows) and the AMX tiles (19). */
static void test_r16_extremes(void **state) {
    (void)state;
    if (!kt_have_amx()) return;
    kt_seed(55);
    const int64_t n_in = 96, nb = 3, n_out = 32, Bs[] = {1, 3, 8, 19};
    const size_t xrow = (size_t)nb * sizeof(blk_q8_0);
    for (int t = 0; t < 2; t++)
        for (int bi = 0; bi < 4; bi++) {
            const gh_type bt = base_types[t];
            const gh_type_traits *tt = gh_get_type_traits(bt);
            const size_t bsize = tt->type_size, wrow = (size_t)nb * bsize;
            const int64_t B = Bs[bi];
            uint8_t *w = malloc(wrow * n_out), *xq = malloc(xrow * B);
            for (size_t i = 0; i < wrow * n_out; i++) w[i] = (uint8_t)kt_u64();
            for (size_t i = 0; i < xrow * B; i++) xq[i] = (uint8_t)kt_u64();
            for (int64_t o = 0; o < n_out; o++)
                for (int64_t i = 0; i < nb; i++) {
                    uint8_t *bw = w + o * wrow + i * bsize; /* d, qs */
                    uint16_t d = gh_fp32_to_fp16(o == 3 && i == 1 ? 0.0f : 0.01f * (float)(1 + (o + i) % 7));
                    memcpy(bw, &d, 2);
                    if (o % 4 == 0) /* Q4_0: codes 15 or 0; Q8_0: -128 or 127 */
                        memset(bw + 2, bt == GH_TYPE_Q4_0 ? (o % 8 ? 0xFF : 0x00) : (o % 8 ? 0x80 : 0x7F), bsize - 2);
                }
            for (int64_t b = 0; b < B; b++)
                for (int64_t i = 0; i < nb; i++) {
                    blk_q8_0 *bx = (blk_q8_0 *)(xq + b * xrow) + i;
                    bx->d = gh_fp32_to_fp16(b == 5 ? 0.0f : 0.02f * (float)(1 + (b * 3 + i) % 5));
                    if (b % 3 == 0) memset(bx->qs, b % 2 ? 0x80 : 0x7F, sizeof bx->qs);
                }
            uint8_t *r = dup(w, wrow * n_out);
            assert_int_equal(gh_regroup(bt, r, n_in, n_out), 0);
            const size_t xs = B <= GH_R16_VNNI_MAX_B ? gh_r16_xsize(n_in, B) : gh_amx_pack_size(n_in, B);
            void *pack = aligned_alloc(64, (xs + 63) / 64 * 64);
            if (B <= GH_R16_VNNI_MAX_B) gh_r16_xpack(gh_regrouped_of(bt), xq, xrow, n_in, B, pack, 0, nb);
            else gh_amx_pack(xq, xrow, n_in, B, pack, 0, nb);
            float *y = malloc(sizeof(float) * (size_t)(B * n_out));
            gh_r16_matmul_rows(gh_regrouped_of(bt), y, pack, pack, r, n_in, n_out, B, 0, n_out);
            for (int64_t b = 0; b < B; b++)
                for (int64_t o = 0; o < n_out; o++) {
                    float s;
                    tt->vec_dot_ref(n_in, &s, w + o * wrow, xq + b * xrow);
                    if (f2u(s) != f2u(y[b * n_out + o]))
                        fail_msg("%s B=%lld pair (%lld, %lld): r16 %.9g, ref %.9g", tt->name, (long long)B,
                                 (long long)o, (long long)b, y[b * n_out + o], s);
                }
            free(w); free(r); free(xq); free(pack); free(y);
        }
}

/* F16 in row pairs (GH_TYPE_F16_R2): the layout, the rows read back, and
 * gh_matmul through the row-pair tiles (any B: 1-3 take contiguous ranges
 * per thread, 4 and more dynamic chunks; 6-row tiles and their remainders,
 * 1-8 columns) bitwise gh_matmul on the rows (the SIMD float tiles' bits,
 * kernels.h), gh_matmul_ref bitwise the rows' reference. */
static void test_f16_pairs(void **state) {
    (void)state;
    kt_seed(56);
    const int64_t n_ins[] = {8, 64, 520}, n_outs[] = {2, 6, 50, 1040};
    for (int a = 0; a < 3; a++)
        for (int c = 0; c < 4; c++) {
            const int64_t n_in = n_ins[a], n_out = n_outs[c];
            uint16_t *w = kt_weights(GH_TYPE_F16, n_out, n_in), *r = dup(w, (size_t)(n_in * n_out) * 2);
            assert_int_equal(gh_regroup(GH_TYPE_F16, r, n_in, n_out), 0);
            for (int64_t o = 0; o < n_out; o++) /* step s of pair o / 2: 8 of row 2q, 8 of row 2q + 1 */
                for (int64_t s = 0; s < n_in / 8; s++)
                    assert_memory_equal(r + (o / 2) * 2 * n_in + 16 * s + 8 * (o % 2), w + o * n_in + 8 * s, 16);
            uint16_t *row = malloc((size_t)n_in * 2);
            for (int64_t o = 0; o < n_out; o++) {
                gh_regrouped_row(GH_TYPE_F16_R2, r, n_in, o, row);
                assert_memory_equal(row, w + o * n_in, (size_t)n_in * 2);
            }
            free(row);
            if (gh_kernels_use_avx512()) {
                const int64_t Bs[] = {1, 2, 3, 4, 9, 16, 17};
                for (int b = 0; b < 7; b++) {
                    const int64_t B = Bs[b];
                    float *x = kt_gauss_vec(B * n_in, 1.0f);
                    float *y = malloc((size_t)(B * n_out) * 4), *yr = malloc((size_t)(B * n_out) * 4);
                    void *wd = malloc(gh_matmul_wsize(GH_TYPE_F16_R2, n_in, B));
                    void *wdr = malloc(gh_matmul_wsize(GH_TYPE_F16, n_in, B) + 1);
                    gh_matmul(y, x, r, GH_TYPE_F16_R2, n_in, n_out, B, wd, 1 + (b & 1));
                    gh_matmul(yr, x, w, GH_TYPE_F16, n_in, n_out, B, wdr, 1);
                    char what[96];
                    snprintf(what, sizeof what, "f16 pairs n_in=%lld n_out=%lld B=%lld", (long long)n_in,
                             (long long)n_out, (long long)B);
                    kt_same_bits(y, yr, B, n_out, what);
                    free(x); free(y); free(yr); free(wd); free(wdr);
                }
            }
            /* the reference reads the rows back */
            float *x = kt_gauss_vec(3 * n_in, 1.0f), *y = malloc((size_t)(3 * n_out) * 4), *yr = malloc((size_t)(3 * n_out) * 4);
            gh_matmul_ref(y, x, r, GH_TYPE_F16_R2, n_in, n_out, 3);
            gh_matmul_ref(yr, x, w, GH_TYPE_F16, n_in, n_out, 3);
            assert_memory_equal(y, yr, (size_t)(3 * n_out) * 4);
            free(x); free(y); free(yr);
            free(w); free(r);
        }
    /* odd rows or a row length past whole steps: refused, bytes unchanged */
    uint16_t *w = kt_weights(GH_TYPE_F16, 3, 16), *r = dup(w, 96);
    assert_int_equal(gh_regroup(GH_TYPE_F16, r, 16, 3), -1);
    assert_int_equal(gh_regroup(GH_TYPE_F16, r, 12, 4), -1);
    assert_memory_equal(r, w, 96);
    assert_false(gh_regroup_usable(GH_TYPE_F16, 16, 3));
    assert_int_equal(gh_regrouped_of(GH_TYPE_F16), GH_TYPE_F16_R2);
    free(w); free(r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_r16_layout),
        cmocka_unit_test(test_r16_ref_is_ref),
        cmocka_unit_test(test_r16_matmul_is_ref),
        cmocka_unit_test(test_r16_multi),
        cmocka_unit_test(test_r16_extremes),
        cmocka_unit_test(test_f16_pairs),
    };
    return cmocka_run_group_tests_name("kernels_repack", tests, NULL, NULL);
}
