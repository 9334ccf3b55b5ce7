/* The sampler's sort (gh_sample_sort_desc, the order top-k and top-p walk)
 * against the qsort it replaced: decreasing probability, ties to the lower
 * id, for vocabularies from 1 to 128K ids with ties, zeros, subnormals and
 * values that differ in the low bits only. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sample/sampler.h"

static const float *g_p;
static int cmp_ref(const void *a, const void *b) {
    const int32_t i = *(const int32_t *)a, j = *(const int32_t *)b;
    if (g_p[i] > g_p[j]) return -1;
    if (g_p[i] < g_p[j]) return 1;
    return (i > j) - (i < j);
}

static uint64_t g_s = 88172645463325252ull;
static uint32_t rnd(void) {
    g_s ^= g_s << 13;
    g_s ^= g_s >> 7;
    g_s ^= g_s << 17;
    return (uint32_t)(g_s >> 11);
}

static void check(const float *p, int32_t n) {
    gh_sampler_work w;
    assert_int_equal(gh_sampler_work_init(&w, n), 0);
    int32_t *got = malloc((size_t)n * sizeof *got), *want = malloc((size_t)n * sizeof *want);
    for (int32_t i = 0; i < n; i++) want[i] = i;
    g_p = p;
    qsort(want, (size_t)n, sizeof *want, cmp_ref);
    gh_sample_sort_desc(p, n, got, &w);
    for (int32_t i = 0; i < n; i++)
        if (got[i] != want[i]) fail_msg("n=%d: position %d holds id %d, want %d", n, i, got[i], want[i]);
    free(got);
    free(want);
    gh_sampler_work_free(&w);
}

static void test_sort_matches_qsort(void **state) {
    (void)state;
    const int32_t ns[] = {1, 2, 3, 2047, 2049, 32000, 128256};
    for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++) {
        const int32_t n = ns[a];
        float *p = malloc((size_t)n * sizeof *p);
        for (int kind = 0; kind < 5; kind++) {
            for (int32_t i = 0; i < n; i++) {
                const uint32_t r = rnd();
                switch (kind) {
                case 0: p[i] = (float)(r & 0xFFFFFF) / 16777216.0f; break;            /* distinct-ish in [0, 1) */
                case 1: p[i] = (float)(r % 7) * 0.125f; break;                          /* many ties, zeros */
                case 2: p[i] = expf(-(float)(r % 20000) * 0.01f); break;                /* a softmax tail down to 0 */
                case 3: { uint32_t b = r & 0x00FFFFFFu; memcpy(&p[i], &b, 4); } break; /* subnormals and tiny normals */
                default: { uint32_t b = 0x3F000000u | (r & 7); memcpy(&p[i], &b, 4); } /* differ in the low bits */
                }
            }
            check(p, n);
        }
        free(p);
    }
}

/* top-p over a row: the sampled token is always among the nucleus the
 * sorted order defines (most likely first until the mass reaches top_p). */
static void test_top_p_nucleus(void **state) {
    (void)state;
    enum { N = 5000 };
    float *logits = malloc(N * sizeof *logits);
    for (int32_t i = 0; i < N; i++) logits[i] = (float)(rnd() % 1000) * 0.01f;
    gh_sampler_work w;
    assert_int_equal(gh_sampler_work_init(&w, N), 0);
    gh_sampler_params sp = gh_sampler_default_params();
    sp.temp = 1.0f;
    sp.top_p = 0.3f;
    /* the nucleus, computed here from a qsort of the same probabilities */
    double mx = logits[0], sum = 0;
    for (int32_t i = 1; i < N; i++) mx = logits[i] > mx ? logits[i] : mx;
    float *p = malloc(N * sizeof *p);
    for (int32_t i = 0; i < N; i++) sum += (p[i] = expf((float)(logits[i] - mx)));
    for (int32_t i = 0; i < N; i++) p[i] = (float)(p[i] / sum);
    int32_t *ord = malloc(N * sizeof *ord);
    for (int32_t i = 0; i < N; i++) ord[i] = i;
    g_p = p;
    qsort(ord, N, sizeof *ord, cmp_ref);
    uint8_t *in = calloc(N, 1);
    double cum = 0;
    for (int32_t i = 0; i < N && cum < 0.3; i++) { cum += p[ord[i]]; in[ord[i]] = 1; }
    gh_rng r;
    gh_rng_seed(&r, 7, 0);
    for (int k = 0; k < 2000; k++) {
        const int32_t t = gh_sample_token(logits, &sp, &r, &w);
        assert_true(t >= 0 && t < N && in[t]);
    }
    free(logits); free(p); free(ord); free(in);
    gh_sampler_work_free(&w);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sort_matches_qsort),
        cmocka_unit_test(test_top_p_nucleus),
    };
    return cmocka_run_group_tests_name("sampler", tests, NULL, NULL);
}
