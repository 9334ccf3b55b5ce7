/* GH_SIMD=avx2 leaves the AVX-512 tiles and AMX out: gh_matmul then takes
 * paths a CPU with AVX-512 never runs — the AVX2 tiles alone for B >= 4, the
 * float ones over activation rows in place — and they must keep the
 * determinism contract and agree with the reference. The variable is set in
 * main() before the first kernel call (the choice is made once). */
#include "kernels_testlib.h"

static void test_avx2_matmul(void **state) {
    (void)state;
    if (!gh_cpu_has_avx2()) {
        print_message("(this CPU has no AVX2: nothing to test)\n");
        return;
    }
    assert_string_equal(gh_kernels_simd_name(), "avx2");
    assert_false(gh_kernels_use_avx512());
    /* no scratch for float weights without the pair-packed tiles */
    assert_int_equal(gh_matmul_wsize(GH_TYPE_F32, 512, 16), 0);
    kt_seed(41);
    const int64_t Bs[] = {4, 16, 67};
    for (size_t k = 0; k < KT_N_WTYPES; k++) {
        for (size_t j = 0; j < 3; j++) kt_check_matmul(kt_weight_types[k], 13, Bs[j], 2);
        kt_matmul_determinism(kt_weight_types[k]);
    }
}

int main(void) {
    setenv("GH_SIMD", "avx2", 1);
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_avx2_matmul)};
    return cmocka_run_group_tests_name("kernels_avx2", tests, NULL, NULL);
}
