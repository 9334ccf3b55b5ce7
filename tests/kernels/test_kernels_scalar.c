/* GH_SIMD=scalar must force the reference kernels: the dispatcher reports
 * "scalar" and gh_matmul becomes bitwise equal to gh_matmul_ref. The variable
 * is set in main() before the first kernel call (the choice is made once). */
#include "kernels_testlib.h"

static void test_scalar_forced(void **state) {
    (void)state;
    assert_string_equal(gh_kernels_simd_name(), "scalar");
    for (size_t k = 0; k < KT_N_WTYPES; k++) {
        const gh_type_traits *tt = gh_get_type_traits(kt_weight_types[k]);
        assert_ptr_equal(tt->vec_dot, tt->vec_dot_ref);
        assert_ptr_equal(tt->from_float, tt->from_float_ref);
        assert_ptr_equal(tt->to_float, tt->to_float_ref);
    }
    kt_seed(21);
    const int64_t n_out = 9, B = 5;
    for (size_t k = 0; k < KT_N_WTYPES; k++) {
        gh_type t = kt_weight_types[k];
        const int64_t n_in = kt_n_in(t);
        void *w = kt_weights(t, n_out, n_in);
        float *x = kt_gauss_vec(B * n_in, 1.0f), y[45], yr[45];
        void *wd = malloc(gh_matmul_wsize(t, n_in, B) + 1);
        gh_matmul(y, x, w, t, n_in, n_out, B, wd, 2);
        gh_matmul_ref(yr, x, w, t, n_in, n_out, B);
        assert_memory_equal(y, yr, sizeof y);
        free(w); free(x); free(wd);
    }
    float a[19], b[19];
    for (int i = 0; i < 19; i++) { a[i] = (float)i; b[i] = 1.0f; }
    assert_true(gh_dot_f32(a, b, 19) == 171.0f);
    /* attention: one position gives its value row exactly (weight 1) */
    float q[3] = {1, 2, 3}, kv[3] = {0.5f, -1, 2}, o[3], s[1];
    const gh_kv_view view = {.k = kv, .v = kv, .stride = 3};
    gh_attend_f32(o, q, 1, &view, 1, 3, 1.0f, s);
    assert_memory_equal(o, kv, sizeof o);
}

int main(void) {
    setenv("GH_SIMD", "scalar", 1);
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_scalar_forced)};
    return cmocka_run_group_tests_name("kernels_scalar", tests, NULL, NULL);
}
