/* kernels_avx2.c — AVX2/FMA/F16C versions of the hot kernels: fp16/bf16
 * conversion, activation quantization (Q8_0, Q8_K) and, for every weight type,
 * a family of tile micro-kernels computing R weight rows x C activation rows.
 *
 * The file is compiled with -mavx2 -mfma -mf16c; nothing here may run before
 * gh_cpu_has_avx2() (types_ref.c checks it once, in the traits init).
 *
 * Determinism: each tile kernel is one always_inline body instantiated for
 * (R, C) in {1,2,4}^2 (F32 also R = 3), and the type's vec_dot is the (1,1)
 * instance. For every
 * (row, column) pair the body performs the same vector operations in the same
 * order whatever R and C are — tiles only interleave independent chains — so a
 * result does not depend on which tile computed it (see kernels.h).
 *
 * Per-pair accumulation, per type:
 *   F32/F16/BF16: one 8-lane fma chain over 8-element steps, then hsum8, then
 *                 the n%8 tail in scalar order.
 *   Q8_0/Q4_0:    the reference's order (gh_vec_dot_q8_0_ref / _q4_0_ref), so
 *                 the bits match it and any other kernel that follows it (AMX):
 *                 one float sum per pair; per block the exact int32 dot isum
 *                 (int32 lanes of 4 products — Q8_0 via the sign trick, Q4_0
 *                 as u.x - 8*sum(x) — summed by a transpose-and-add tree that
 *                 puts each pair's block sum in its own lane), then
 *                 sum = sum + (d_w*d_x) * (float)isum as mul, mul, add (no
 *                 fma; -std=c11 keeps GCC from contracting), one lane per pair.
 *   Q4_K/Q6_K:    likewise the reference's order (gh_vec_dot_q4_K_ref /
 *                 _q6_K_ref): one float sum per pair; per super-block the
 *                 exact int32 isum = sum_j scale_j * dot_j (sub-block dots
 *                 partly summed in 16-bit lanes, then int32 lanes of
 *                 scale*q*x; Q6_K's -32 via x's bsums) and for Q4_K
 *                 imin = sum_j m_j * (bsums[2j] + bsums[2j+1]), each summed
 *                 into one lane per pair by the same tree, then
 *                 Q4_K: sum = sum + ((d*xd)*(float)isum - (dmin*xd)*(float)imin),
 *                 Q6_K: sum = sum + (d*xd)*(float)isum, every operation
 *                 separately rounded (no fma), one lane per pair.
 */
#include "kernels/simd_x86.h"

#include <math.h>

bool gh_cpu_has_avx2(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
           __builtin_cpu_supports("f16c");
#else
    return false;
#endif
}


/* ------------------------------------------------------------------------ */
/* conversions                                                               */

void gh_f16_to_float_avx2(const void *x, float *y, int64_t n) {
    const uint16_t *h = x;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + i))));
    for (; i < n; i++) y[i] = gh_fp16_to_fp32(h[i]);
}

void gh_f16_from_float_avx2(const float *x, void *y, int64_t n) {
    uint16_t *h = y;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(h + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) h[i] = gh_fp32_to_fp16(x[i]);
}

void gh_bf16_to_float_avx2(const void *x, float *y, int64_t n) {
    const uint16_t *h = x;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, bf16x8_load(h + i));
    for (; i < n; i++) y[i] = gh_bf16_to_fp32(h[i]);
}

/* Same integer recipe as gh_fp32_to_bf16: round to nearest even, NaN quieted. */
void gh_bf16_from_float_avx2(const float *x, void *y, int64_t n) {
    uint16_t *h = y;
    const __m256i absmask = _mm256_set1_epi32(0x7FFFFFFF), inf = _mm256_set1_epi32(0x7F800000);
    const __m256i bias = _mm256_set1_epi32(0x7FFF), one = _mm256_set1_epi32(1);
    const __m256i quiet = _mm256_set1_epi32(0x40);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i u = _mm256_castps_si256(_mm256_loadu_ps(x + i));
        __m256i isnan = _mm256_cmpgt_epi32(_mm256_and_si256(u, absmask), inf);
        __m256i hi = _mm256_srli_epi32(u, 16);
        __m256i r = _mm256_add_epi32(u, _mm256_add_epi32(bias, _mm256_and_si256(hi, one)));
        r = _mm256_srli_epi32(r, 16);
        r = _mm256_blendv_epi8(r, _mm256_or_si256(hi, quiet), isnan);
        __m256i p = _mm256_packus_epi32(r, r); /* per 128-bit lane: 4 values twice */
        p = _mm256_permute4x64_epi64(p, 0x08);  /* lanes 0 and 2 -> low 128 bits */
        _mm_storeu_si128((__m128i *)(h + i), _mm256_castsi256_si128(p));
    }
    for (; i < n; i++) h[i] = gh_fp32_to_bf16(x[i]);
}

/* Packs 4 vectors of 8 int32 (each in -128..127) into 32 int8 in order. */
ALWAYS_INLINE __m256i pack_i32x32_i8(__m256i a, __m256i b, __m256i c, __m256i d) {
    __m256i ab = _mm256_packs_epi32(a, b); /* a0-3 b0-3 | a4-7 b4-7 */
    __m256i cd = _mm256_packs_epi32(c, d);
    __m256i v = _mm256_packs_epi16(ab, cd); /* a0-3 b0-3 c0-3 d0-3 | a4-7 b4-7 c4-7 d4-7 */
    return _mm256_permutevar8x32_epi32(v, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/* Codes rounded to nearest even as gh_round_ne rounds them. The conversion
 * gives INT32_MIN where the value does not fit (infinity or NaN: a block of
 * tiny values has an infinite 1 / d or iscale), where the reference's
 * rounding and int8 cast give code 0; saturating packs would give -128. */
ALWAYS_INLINE __m256i round_codes(__m256 v) {
    const __m256i q = _mm256_cvtps_epi32(v);
    return _mm256_andnot_si256(_mm256_cmpeq_epi32(q, _mm256_set1_epi32(INT32_MIN)), q);
}

ALWAYS_INLINE float hmax8(__m256 v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

void gh_q8_0_from_float_avx2(const float *x, void *y, int64_t n) {
    blk_q8_0 *b = y;
    const __m256 signbit = _mm256_set1_ps(-0.0f);
    for (int64_t i = 0; i < n / QK8_0; i++) {
        const float *v = x + i * QK8_0;
        __m256 x0 = _mm256_loadu_ps(v), x1 = _mm256_loadu_ps(v + 8);
        __m256 x2 = _mm256_loadu_ps(v + 16), x3 = _mm256_loadu_ps(v + 24);
        __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(signbit, x0), _mm256_andnot_ps(signbit, x1)),
                                 _mm256_max_ps(_mm256_andnot_ps(signbit, x2), _mm256_andnot_ps(signbit, x3)));
        float amax = hmax8(m);
        float d = amax / 127.0f;
        float id = d != 0 ? 1.0f / d : 0.0f;
        b[i].d = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
        __m256 s = _mm256_set1_ps(id);
        __m256i q = pack_i32x32_i8(round_codes(_mm256_mul_ps(x0, s)), round_codes(_mm256_mul_ps(x1, s)),
                                   round_codes(_mm256_mul_ps(x2, s)), round_codes(_mm256_mul_ps(x3, s)));
        _mm256_storeu_si256((__m256i *)b[i].qs, q);
    }
}

void gh_q8_K_from_float_avx2(const float *x, void *y, int64_t n) {
    blk_q8_K *b = y;
    const __m256 signbit = _mm256_set1_ps(-0.0f);
    const __m256i i127 = _mm256_set1_epi32(127);
    const __m256i ones = _mm256_set1_epi8(1);
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float *v = x + i * QK_K;
        __m256 m = _mm256_setzero_ps();
        for (int j = 0; j < QK_K; j += 8) m = _mm256_max_ps(m, _mm256_andnot_ps(signbit, _mm256_loadu_ps(v + j)));
        float amax = hmax8(m);
        if (amax == 0) {
            memset(&b[i], 0, sizeof b[i]);
            continue;
        }
        /* the first element of that magnitude gives the sign, as in the ref */
        __m256 am = _mm256_set1_ps(amax);
        float max = 0;
        for (int j = 0; j < QK_K; j += 8) {
            __m256 xv = _mm256_loadu_ps(v + j);
            int mask = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_andnot_ps(signbit, xv), am, _CMP_EQ_OQ));
            if (mask) { max = v[j + __builtin_ctz((unsigned)mask)]; break; }
        }
        float iscale = -128.0f / max;
        __m256 s = _mm256_set1_ps(iscale);
        for (int j = 0; j < QK_K; j += 32) {
            __m256i q[4];
            for (int k = 0; k < 4; k++)
                q[k] = _mm256_min_epi32(round_codes(_mm256_mul_ps(_mm256_loadu_ps(v + j + 8 * k), s)), i127);
            __m256i p = pack_i32x32_i8(q[0], q[1], q[2], q[3]);
            _mm256_storeu_si256((__m256i *)(b[i].qs + j), p);
            /* bsums of 16-element groups: sign trick to sum int8 as pairs, then pairs of pairs */
            __m256i s16 = _mm256_maddubs_epi16(ones, p); /* 16 sums of 2 (ones unsigned, p signed) */
            __m256i s32 = _mm256_madd_epi16(s16, _mm256_set1_epi16(1)); /* 8 sums of 4 */
            int32_t t[8];
            _mm256_storeu_si256((__m256i *)t, s32);
            b[i].bsums[j / 16] = (int16_t)(t[0] + t[1] + t[2] + t[3]);
            b[i].bsums[j / 16 + 1] = (int16_t)(t[4] + t[5] + t[6] + t[7]);
        }
        b[i].d = 1.0f / iscale;
    }
}

/* ------------------------------------------------------------------------ */
/* small f32 helpers (not bound by the determinism contract)                */

/* dot(a, b) over n floats in gh_dot_f32_avx2's order: four 8-lane chains over
 * 32-element steps, an 8-element remainder into the first, one hsum8, then the
 * scalar tail. gh_attend_f32_avx2 inlines it so its scores keep these bits. */
ALWAYS_INLINE float dot_f32(const float *a, const float *b, int64_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    float s = hsum8(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

float gh_dot_f32_avx2(const float *a, const float *b, int64_t n) { return dot_f32(a, b, n); }

void gh_axpy_f32_avx2(float *y, float a, const float *x, int64_t n) {
    __m256 av = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(av, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * x[i];
}

/* ---- expf, 8 at a time, with the C library's bits ----
 * The forward pass calls expf for every SwiGLU gate and every attention
 * weight; one call costs about as much as a 200-element dot product. Results
 * must not depend on the SIMD path, so this is glibc's expf (since 2.28; the
 * __expf_fma variant it picks on every CPU with AVX2 and FMA), the same
 * operations on 4 doubles a register:
 *     z = fma(N/ln2, x, 2^52 * 1.5)   k = bits(z)   kd = z - 2^52 * 1.5
 *     r = fma(N/ln2, x, -kd)          s = tab[k % 32] + (k << 47), as a double
 *     y = fma(fma(r, C0, C1), r*r, fma(r, C2, 1)) * s,   rounded to float
 * with N = 32, tab[i] = bits(2^(i/32)) - (i << 47) and the library's
 * polynomial coefficients. Inputs whose top 12 bits pass 0x42a (|x| >= 88,
 * inf, NaN) take the library call itself, as the library's own slow path
 * would. The table is
 * built at start-up and the whole function checked against the library's
 * expf (gh_expf_avx2_init); where they differ (another C library), the
 * callers keep calling expf. */
static uint64_t g_exp2_tab[32];
static bool g_expf_ok;
const uint64_t *gh_expf_table(void) { return g_exp2_tab; }


ALWAYS_INLINE __m128 expf4_fast(__m128 x) {
    const __m256d xd = _mm256_cvtps_pd(x);
    const __m256d inv = _mm256_set1_pd(EXPF_INVLN2N), shift = _mm256_set1_pd(EXPF_SHIFT);
    const __m256d z = _mm256_fmadd_pd(inv, xd, shift);
    const __m256i k = _mm256_castpd_si256(z);
    const __m256d kd = _mm256_sub_pd(z, shift);
    const __m256d r = _mm256_fmsub_pd(inv, xd, kd);
    __m256i t = _mm256_i64gather_epi64((const long long *)g_exp2_tab, _mm256_and_si256(k, _mm256_set1_epi64x(31)), 8);
    t = _mm256_add_epi64(t, _mm256_slli_epi64(k, 47));
    const __m256d p = _mm256_fmadd_pd(r, _mm256_set1_pd(EXPF_C0), _mm256_set1_pd(EXPF_C1));
    const __m256d r2 = _mm256_mul_pd(r, r);
    __m256d y = _mm256_fmadd_pd(r, _mm256_set1_pd(EXPF_C2), _mm256_set1_pd(1.0));
    y = _mm256_fmadd_pd(p, r2, y);
    return _mm256_cvtpd_ps(_mm256_mul_pd(y, _mm256_castsi256_pd(t)));
}

/* expf of 8 floats; lanes outside the fast range call the library. */
ALWAYS_INLINE __m256 expf8(__m256 x) {
    const __m256i top = _mm256_and_si256(_mm256_srli_epi32(_mm256_castps_si256(x), 20), _mm256_set1_epi32(0x7FF));
    const int slow = _mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpgt_epi32(top, _mm256_set1_epi32(0x42A))));
    __m256 y = _mm256_set_m128(expf4_fast(_mm256_extractf128_ps(x, 1)), expf4_fast(_mm256_castps256_ps128(x)));
    if (__builtin_expect(slow != 0, 0)) {
        float xs[8], ys[8];
        _mm256_storeu_ps(xs, x);
        _mm256_storeu_ps(ys, y);
        expf_slow_lanes(ys, xs, (unsigned)slow, 8);
        y = _mm256_loadu_ps(ys);
    }
    return y;
}

bool gh_expf_avx2_ok(void) { return g_expf_ok; }

void gh_expf_f32_avx2(float *y, const float *x, int64_t n) {
    int64_t i = 0;
    if (g_expf_ok)
        for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, expf8(_mm256_loadu_ps(x + i)));
    for (; i < n; i++) y[i] = expf(x[i]);
}

bool gh_expf_avx2_init(void) {
    for (int i = 0; i < 32; i++) {
        const double v = (double)exp2l((long double)i / 32.0L);
        uint64_t u;
        memcpy(&u, &v, 8);
        g_exp2_tab[i] = u - ((uint64_t)i << 47);
    }
    /* every table entry, both signs, both ends of the fast range, and the
     * special inputs, against the library */
    g_expf_ok = true;
    float x[4096], y[4096];
    uint32_t s = 12345;
    for (int i = 0; i < 4096; i++) {
        s = s * 1664525u + 1013904223u;
        const float u = (float)(s >> 8) / 16777216.0f;
        x[i] = i < 8 ? (float[]){0.0f, -0.0f, 88.0f, -88.0f, 88.7f, -103.9f, INFINITY, NAN}[i]
                     : (u * 2.0f - 1.0f) * (i % 4 == 0 ? 104.0f : i % 4 == 1 ? 10.0f : 1.0f);
    }
    gh_expf_f32_avx2(y, x, 4096);
    for (int i = 0; i < 4096; i++) {
        const float e = expf(x[i]);
        if (memcmp(&e, &y[i], 4) != 0) {
            g_expf_ok = false;
            break;
        }
    }
    return g_expf_ok;
}

/* gh_swiglu_f32 with AVX2: the reference's float operations, 8 lanes at a
 * time, and expf8 for the library's expf. */
void gh_swiglu_f32_avx2(float *g, const float *u, int64_t n) {
    int64_t i = 0;
    if (g_expf_ok) {
        const __m256 one = _mm256_set1_ps(1.0f), sign = _mm256_set1_ps(-0.0f);
        for (; i + 8 <= n; i += 8) {
            const __m256 x = _mm256_loadu_ps(g + i);
            const __m256 e = expf8(_mm256_xor_ps(x, sign));
            _mm256_storeu_ps(g + i, _mm256_mul_ps(_mm256_div_ps(x, _mm256_add_ps(one, e)), _mm256_loadu_ps(u + i)));
        }
    }
    for (; i < n; i++) g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

/* gh_attend_f32 (kernels.h) with AVX2: the same operations as the per-head
 * loop of gh_dot_f32_avx2, expf and gh_axpy_f32_avx2, so the same bits, but
 *   - scores: positions outer, the G heads inner, so each key row is read
 *     from the cache once per group (hd = 64: held in 8 registers; 8 heads'
 *     dot products reduced together by hsum8x8) and no call is paid per
 *     (head, position); they are stored position-major, [p][g], so that
 *   - the softmax runs for 8 heads at once per vector (max, expf, the sum in
 *     position order in each lane, the divisions), where the per-head loop's
 *     sum was one latency-bound add per position;
 *   - values: 16-float blocks of 4 heads' outputs stay in registers over all
 *     positions (other shapes: 64-float blocks of one head), where the axpy
 *     loop loaded and stored them per position and read each value row once
 *     per head (its fma(w_p, v_p, o) per element, in position order, is what
 *     runs). */
/* dot_f32(a, k, 64) before its hsum8, with k's 64 floats in kr: chains j
 * and j + 4 in register j, added as dot_f32 adds them. */
ALWAYS_INLINE __m256 dot64_lanes(const float *a, const __m256 kr[8]) {
    __m256 s[4];
    UNROLL for (int j = 0; j < 4; j++) s[j] = _mm256_fmadd_ps(_mm256_loadu_ps(a + 8 * j), kr[j], _mm256_setzero_ps());
    UNROLL for (int j = 0; j < 4; j++) s[j] = _mm256_fmadd_ps(_mm256_loadu_ps(a + 32 + 8 * j), kr[4 + j], s[j]);
    return _mm256_add_ps(_mm256_add_ps(s[0], s[1]), _mm256_add_ps(s[2], s[3]));
}
/* The scores scores[p*G + g] of every position p < n (hd = 64: the key row
 * in 8 registers, 8 heads reduced together by hsum8x8). */
static void attend_scores(float *scores, const float *q, int32_t G, const gh_kv_view *kv, int32_t n, int32_t hd,
                          float scale) {
    const int32_t G8 = G / 8 * 8; /* heads taken 8 to a vector; the rest one by one */
    for (int32_t p = 0; p < n; p++) {
        const float *kp = GH_KV_K(kv, p);
        float *sp = scores + (size_t)p * G;
        attend_prefetch(kv, p, n, hd);
        int32_t g = 0;
        if (hd == 64) {
            __m256 kr[8];
            UNROLL8 for (int j = 0; j < 8; j++) kr[j] = _mm256_loadu_ps(kp + 8 * j);
            for (; g < G8; g += 8) { /* 8 heads, then one reduction */
                __m256 t8[8];
                for (int h = 0; h < 8; h++) t8[h] = dot64_lanes(q + (size_t)(g + h) * 64, kr);
                _mm256_storeu_ps(sp + g, _mm256_mul_ps(hsum8x8(t8), _mm256_set1_ps(scale)));
            }
            for (; g < G; g++) sp[g] = hsum8(dot64_lanes(q + (size_t)g * 64, kr)) * scale;
        } else {
            for (; g < G; g++) sp[g] = dot_f32(q + (size_t)g * hd, kp, hd) * scale;
        }
    }
}

void gh_attend_f32_avx2(float *out, const float *q, int32_t G, const gh_kv_view *kv, int32_t n, int32_t hd,
                        float scale, float *scores) {
    const int32_t G8 = G / 8 * 8; /* heads taken 8 to a vector; the rest one by one */
    if (gh_attend_scores512_fits(G, hd) && gh_kernels_use_avx512())
        gh_attend_scores_avx512(scores, q, G, kv, n, hd, scale);
    else
        attend_scores(scores, q, G, kv, n, hd, scale);
    /* softmax weights w[p][g] = expf(s - max) / sum, per head in position order */
    for (int32_t g = 0; g < G8; g += 8) {
        __m256 mx = _mm256_set1_ps(-INFINITY), sum = _mm256_setzero_ps();
        for (int32_t p = 0; p < n; p++) mx = _mm256_max_ps(_mm256_loadu_ps(scores + (size_t)p * G + g), mx); /* if (s > mx) mx = s */
        if (g_expf_ok && gh_kernels_use_avx512()) sum = gh_softmax_exp8_avx512(scores, G, g, n, mx);
        else for (int32_t p = 0; p < n; p++) {
            float *sp = scores + (size_t)p * G + g;
            const __m256 d = _mm256_sub_ps(_mm256_loadu_ps(sp), mx);
            __m256 e;
            if (g_expf_ok) e = expf8(d);
            else {
                float t[8];
                _mm256_storeu_ps(t, d);
                for (int j = 0; j < 8; j++) t[j] = expf(t[j]);
                e = _mm256_loadu_ps(t);
            }
            _mm256_storeu_ps(sp, e);
            sum = _mm256_add_ps(sum, e);
        }
        for (int32_t p = 0; p < n; p++) {
            float *sp = scores + (size_t)p * G + g;
            _mm256_storeu_ps(sp, _mm256_div_ps(_mm256_loadu_ps(sp), sum));
        }
    }
    for (int32_t g = G8; g < G; g++) {
        float mx = -INFINITY, sum = 0.0f;
        for (int32_t p = 0; p < n; p++)
            if (scores[(size_t)p * G + g] > mx) mx = scores[(size_t)p * G + g];
        for (int32_t p = 0; p < n; p++) sum += (scores[(size_t)p * G + g] = expf(scores[(size_t)p * G + g] - mx));
        for (int32_t p = 0; p < n; p++) scores[(size_t)p * G + g] = scores[(size_t)p * G + g] / sum;
    }
    /* outputs: 4 heads x 16 floats (8 accumulators) a pass, so that each
     * value row is read twice in all instead of once per head */
    int32_t g0 = 0;
    if (hd % 64 == 0 && gh_kernels_use_avx512())
        for (; g0 + 4 <= G; g0 += 4)
            for (int32_t i = 0; i < hd; i += 64) gh_attend_values_avx512(out, scores, G, g0, i, kv, n, hd);
    if (hd % 16 == 0)
        for (; g0 + 4 <= G; g0 += 4)
            for (int32_t i = 0; i < hd; i += 16) {
                __m256 acc[4][2];
                UNROLL for (int h = 0; h < 4; h++) acc[h][0] = acc[h][1] = _mm256_setzero_ps();
                for (int32_t p = 0; p < n; p++) {
                    const float *vp = GH_KV_V(kv, p) + i, *wp = scores + (size_t)p * G + g0;
                    const __m256 v0 = _mm256_loadu_ps(vp), v1 = _mm256_loadu_ps(vp + 8);
                    UNROLL for (int h = 0; h < 4; h++) {
                        const __m256 a = _mm256_broadcast_ss(wp + h);
                        acc[h][0] = _mm256_fmadd_ps(a, v0, acc[h][0]);
                        acc[h][1] = _mm256_fmadd_ps(a, v1, acc[h][1]);
                    }
                }
                UNROLL for (int h = 0; h < 4; h++) {
                    _mm256_storeu_ps(out + (size_t)(g0 + h) * hd + i, acc[h][0]);
                    _mm256_storeu_ps(out + (size_t)(g0 + h) * hd + i + 8, acc[h][1]);
                }
            }
    for (int32_t g = g0; g < G; g++) {
        const float *w = scores + g; /* w[p * G]: head g's weight of position p */
        float *o = out + (size_t)g * hd;
        int32_t i = 0;
        for (; i + 8 <= hd; i += 64) { /* up to 8 vectors of o at a time */
            const int nv = hd - i >= 64 ? 8 : (hd - i) / 8;
            __m256 acc[8];
            UNROLL8 for (int j = 0; j < 8; j++) acc[j] = _mm256_setzero_ps();
            if (nv == 8) {
                for (int32_t p = 0; p < n; p++) {
                    const __m256 a = _mm256_set1_ps(w[(size_t)p * G]);
                    const float *vp = GH_KV_V(kv, p) + i;
                    UNROLL8 for (int j = 0; j < 8; j++) acc[j] = _mm256_fmadd_ps(a, _mm256_loadu_ps(vp + 8 * j), acc[j]);
                }
            } else {
                for (int32_t p = 0; p < n; p++) {
                    const __m256 a = _mm256_set1_ps(w[(size_t)p * G]);
                    const float *vp = GH_KV_V(kv, p) + i;
                    for (int j = 0; j < nv; j++) acc[j] = _mm256_fmadd_ps(a, _mm256_loadu_ps(vp + 8 * j), acc[j]);
                }
            }
            for (int j = 0; j < nv; j++) _mm256_storeu_ps(o + i + 8 * j, acc[j]);
            if (nv < 8) { i += 8 * nv; break; }
        }
        for (; i < hd; i++) { /* the axpy's scalar tail: mul, then add */
            float y = 0.0f;
            for (int32_t p = 0; p < n; p++) y += w[(size_t)p * G] * GH_KV_V(kv, p)[i];
            o[i] = y;
        }
    }
}

/* Streaming read for the bandwidth probe: 8 independent accumulators. */
double gh_sum_f32_avx2(const float *x, int64_t n) {
    __m256 s[8];
    for (int k = 0; k < 8; k++) s[k] = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 64 <= n; i += 64)
        for (int k = 0; k < 8; k++) s[k] = _mm256_add_ps(s[k], _mm256_loadu_ps(x + i + 8 * k));
    __m256 t = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(s[0], s[1]), _mm256_add_ps(s[2], s[3])),
                             _mm256_add_ps(_mm256_add_ps(s[4], s[5]), _mm256_add_ps(s[6], s[7])));
    double r = hsum8(t);
    for (; i < n; i++) r += x[i];
    return r;
}

/* The compute-peak probe's loop (peak.c): 12 independent chains of n
 * 256-bit FMAs; returns their sum so the work stays observable. */
double gh_fma_chains_avx2(int64_t n) {
    FMA_CHAINS(__m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps, "x", n, t);
    return hsum8(t);
}

double gh_sum4_f32_avx2(const float *x, int64_t n) {
    const int64_t q = (n / 4) & ~(int64_t)15;
    const float *p0 = x, *p1 = x + q, *p2 = x + 2 * q, *p3 = x + 3 * q;
    __m256 s[8];
    for (int k = 0; k < 8; k++) s[k] = _mm256_setzero_ps();
    for (int64_t i = 0; i < q; i += 16) {
        s[0] = _mm256_add_ps(s[0], _mm256_loadu_ps(p0 + i)); s[1] = _mm256_add_ps(s[1], _mm256_loadu_ps(p0 + i + 8));
        s[2] = _mm256_add_ps(s[2], _mm256_loadu_ps(p1 + i)); s[3] = _mm256_add_ps(s[3], _mm256_loadu_ps(p1 + i + 8));
        s[4] = _mm256_add_ps(s[4], _mm256_loadu_ps(p2 + i)); s[5] = _mm256_add_ps(s[5], _mm256_loadu_ps(p2 + i + 8));
        s[6] = _mm256_add_ps(s[6], _mm256_loadu_ps(p3 + i)); s[7] = _mm256_add_ps(s[7], _mm256_loadu_ps(p3 + i + 8));
    }
    __m256 t = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(s[0], s[1]), _mm256_add_ps(s[2], s[3])),
                             _mm256_add_ps(_mm256_add_ps(s[4], s[5]), _mm256_add_ps(s[6], s[7])));
    return hsum8(t) + gh_sum_f32_avx2(x + 4 * q, n - 4 * q);
}

/* ------------------------------------------------------------------------ */
/* tile micro-kernels                                                        */

/* Accumulators of pair (r, c) start at zero on a row's first k-chunk, else
 * continue from A[r*as + 8c ..] (Q8_0/Q4_0/Q4_K/Q6_K: one float, A[r*as + 8c]);
 * a chunk that is not the last stores them back. Floats round-trip memory
 * exactly, so chunking never changes bits. */
#define ACC_INIT(R, C)                                                                         \
    UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < C; c++) acc[r][c] =         \
        (mode & GH_TILE_FIRST) ? _mm256_setzero_ps() : _mm256_loadu_ps(A + (size_t)r * as + 8 * c)
#define ACC_SAVE(R, C)                                                                         \
    UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < C; c++)                     \
        _mm256_storeu_ps(A + (size_t)r * as + 8 * c, acc[r][c])

/* F32 weights x F32 activations. acc[r][c] is the single chain of pair (r,c). */
ALWAYS_INLINE void tile_f32(const int R, const int C, TILE_PARAMS) {
    __m256 acc[4][4];
    ACC_INIT(R, C);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 wv[4];
        if ((i & 15) == 0) PREFETCH_NEXT(R, C, 4 * i);
        UNROLL for (int r = 0; r < R; r++) wv[r] = _mm256_loadu_ps(WROW(float, r) + i);
        UNROLL for (int c = 0; c < C; c++) {
            __m256 xv = _mm256_loadu_ps(XROW(float, c) + i);
            UNROLL for (int r = 0; r < R; r++) acc[r][c] = _mm256_fmadd_ps(wv[r], xv, acc[r][c]);
        }
    }
    if (!(mode & GH_TILE_LAST)) { ACC_SAVE(R, C); return; }
    UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < C; c++) {
        float s = hsum8(acc[r][c]);
        for (int64_t j = i; j < n; j++) s += WROW(float, r)[j] * XROW(float, c)[j];
        y[(size_t)c * ys + r] = s;
    }
}

/* F16 weights (converted in registers with F16C) x F32 activations. */
ALWAYS_INLINE void tile_f16(const int R, const int C, TILE_PARAMS) {
    __m256 acc[4][4];
    ACC_INIT(R, C);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 wv[4];
        if ((i & 31) == 0) PREFETCH_NEXT(R, C, 2 * i);
        UNROLL for (int r = 0; r < R; r++)
            wv[r] = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(WROW(uint16_t, r) + i)));
        UNROLL for (int c = 0; c < C; c++) {
            __m256 xv = _mm256_loadu_ps(XROW(float, c) + i);
            UNROLL for (int r = 0; r < R; r++) acc[r][c] = _mm256_fmadd_ps(wv[r], xv, acc[r][c]);
        }
    }
    if (!(mode & GH_TILE_LAST)) { ACC_SAVE(R, C); return; }
    UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < C; c++) {
        float s = hsum8(acc[r][c]);
        for (int64_t j = i; j < n; j++) s += h2f(WROW(uint16_t, r)[j]) * XROW(float, c)[j];
        y[(size_t)c * ys + r] = s;
    }
}

/* F16 weights regrouped in row pairs (GH_TYPE_F16_R2, repack.c; R even,
 * n % 8 == 0): tile_f16's operations, with row r's step i read from its
 * pair's bytes (rows r & ~1 and r | 1 of the row order) at 2i + 8 (r & 1).
 * Batch-1 decode of a regrouped F16 model: 256-bit operations keep the
 * third vector port, which the 512-bit row-pair tiles leave idle. With one
 * activation row it takes 8 rows (4 pair streams): the 4 x 1 shape ran 2-5 %
 * under the row layout's 4 x 1 tile, the 8 x 1 level with it. */
ALWAYS_INLINE void tile_f16r2(const int R, const int C, TILE_PARAMS) {
    __m256 acc[8][4];
    ACC_INIT(R, C);
    for (int64_t i = 0; i + 8 <= n; i += 8) {
        __m256 wv[8];
        if ((i & 31) == 0) /* the next row group's pairs, two lines each per 32 elements */
            UNROLL8 for (int p = 0; p < R / 2; p++) {
                const char *nx = WROW(char, 2 * p) + (size_t)R * wb + 4 * i;
                _mm_prefetch(nx, _MM_HINT_T1);
                _mm_prefetch(nx + 64, _MM_HINT_T1);
            }
        UNROLL8 for (int r = 0; r < R; r++)
            wv[r] = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(WROW(uint16_t, r & ~1) + 2 * i + 8 * (r & 1))));
        UNROLL for (int c = 0; c < C; c++) {
            __m256 xv = _mm256_loadu_ps(XROW(float, c) + i);
            UNROLL8 for (int r = 0; r < R; r++) acc[r][c] = _mm256_fmadd_ps(wv[r], xv, acc[r][c]);
        }
    }
    if (!(mode & GH_TILE_LAST)) { ACC_SAVE(R, C); return; }
    UNROLL8 for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < C; c++) y[(size_t)c * ys + r] = hsum8(acc[r][c]);
}

/* BF16 weights (widened by a 16-bit shift) x F32 activations. */
ALWAYS_INLINE void tile_bf16(const int R, const int C, TILE_PARAMS) {
    __m256 acc[4][4];
    ACC_INIT(R, C);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 wv[4];
        if ((i & 31) == 0) PREFETCH_NEXT(R, C, 2 * i);
        UNROLL for (int r = 0; r < R; r++) wv[r] = bf16x8_load(WROW(uint16_t, r) + i);
        UNROLL for (int c = 0; c < C; c++) {
            __m256 xv = _mm256_loadu_ps(XROW(float, c) + i);
            UNROLL for (int r = 0; r < R; r++) acc[r][c] = _mm256_fmadd_ps(wv[r], xv, acc[r][c]);
        }
    }
    if (!(mode & GH_TILE_LAST)) { ACC_SAVE(R, C); return; }
    UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < C; c++) {
        float s = hsum8(acc[r][c]);
        for (int64_t j = i; j < n; j++) s += gh_bf16_to_fp32(WROW(uint16_t, r)[j]) * XROW(float, c)[j];
        y[(size_t)c * ys + r] = s;
    }
}

/* Signed int8 weights wq (|w| precomputed as wabs) . signed int8 x: 8 int32
 * lane sums, lane i = bytes 4i..4i+3. maddubs needs one unsigned operand, so
 * |w| is used and w's sign moved onto x (exact while x != -128, which no Q8_0
 * quantizer produces: codes are round(v * 127 / max|v|)). */
ALWAYS_INLINE __m256i dot_i8_lanes(__m256i wabs, __m256i wq, __m256i xq) {
    __m256i p16 = _mm256_maddubs_epi16(wabs, _mm256_sign_epi8(xq, wq));
    return _mm256_madd_epi16(p16, _mm256_set1_epi16(1));
}

/* Lane p (p < P, P = 1, 2 or 4) = the sum of the 8 int32 lanes of v[p]: a
 * transpose-and-add tree; the other lanes hold partial sums. Integer adds,
 * exact, so the order is free. Each vector is first folded to 128 bits and
 * the tree uses unpacks: on AMD Zen 1 (256-bit operations split in two) a
 * 256-bit hadd costs about as much as three unpack-and-add steps. */
ALWAYS_INLINE __m128i fold32(__m256i v) { return _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1)); }
/* [a0+a2, b0+b2, a1+a3, b1+b3] */
ALWAYS_INLINE __m128i zip_add32(__m128i a, __m128i b) {
    return _mm_add_epi32(_mm_unpacklo_epi32(a, b), _mm_unpackhi_epi32(a, b));
}
/* The tree on vectors already folded to 4 int32 lanes. */
ALWAYS_INLINE __m128i lane_sums4_128(const int P, const __m128i *f) {
    if (P == 1) {
        const __m128i a = _mm_add_epi32(f[0], _mm_srli_si128(f[0], 8));
        return _mm_add_epi32(a, _mm_srli_si128(a, 4));
    }
    const __m128i t0 = zip_add32(f[0], f[1]);
    if (P == 2) return _mm_add_epi32(t0, _mm_srli_si128(t0, 8));
    const __m128i t1 = zip_add32(f[2], f[3]);
    return _mm_add_epi32(_mm_unpacklo_epi64(t0, t1), _mm_unpackhi_epi64(t0, t1));
}
ALWAYS_INLINE __m128i lane_sums4(const int P, const __m256i *v) {
    __m128i f[4];
    UNROLL for (int p = 0; p < P; p++) f[p] = fold32(v[p]);
    return lane_sums4_128(P, f);
}

/* The same for 8 vectors: lane p = the sum of the lanes of v[p]. */
ALWAYS_INLINE __m256i lane_sums8(const __m256i *v) { return _mm256_set_m128i(lane_sums4(4, v + 4), lane_sums4(4, v)); }

/* The tiles that follow a reference's float chain (Q8_0/Q4_0, Q4_K/Q6_K) keep
 * one float sum per pair (r, c), in lane r + R*c of acc4 (R*C <= 4) or of
 * acc8[0..1]; it starts at 0 on the row's first k-chunk, else continues from
 * A[r*as + 8c]. */
ALWAYS_INLINE void pair_sums_load(const int R, const int C, const int mode, const float *A, const size_t as,
                                  __m128 *acc4, __m256 *acc8) {
    float a0[16] = {0};
    if (!(mode & GH_TILE_FIRST))
        UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < C; c++) a0[r + R * c] = A[(size_t)r * as + 8 * c];
    *acc4 = _mm_loadu_ps(a0);
    acc8[0] = _mm256_loadu_ps(a0);
    acc8[1] = _mm256_loadu_ps(a0 + 8);
}

/* ... and at the end goes to y on the row's last k-chunk, else back to A. */
ALWAYS_INLINE void pair_sums_store(const int R, const int C, const int mode, const __m128 acc4, const __m256 *acc8,
                                   float *y, const size_t ys, float *A, const size_t as) {
    float a0[16];
    if (R * C <= 4) _mm_storeu_ps(a0, acc4);
    else UNROLL for (int g = 0; g < R * C / 8; g++) _mm256_storeu_ps(a0 + 8 * g, acc8[g]);
    UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < C; c++) {
        if (mode & GH_TILE_LAST) y[(size_t)c * ys + r] = a0[r + R * c];
        else A[(size_t)r * as + 8 * c] = a0[r + R * c];
    }
}

/* Index vectors for _mm256_permutevar8x32: lane p of pair vector g is pair
 * j = 8g + p = r + R*c (j < P = R*C; R and P are taken from the caller's
 * scope); PAIR_ROW picks lane b + r of a scale vector, PAIR_COL lane b + c,
 * lanes past the pairs lane b. */
#define PAIR_J(g, p) (8 * (g) + (p))
#define PAIR_ROW(g, p, b) (PAIR_J(g, p) < P ? (b) + PAIR_J(g, p) % R : (b))
#define PAIR_COL(g, p, b) (PAIR_J(g, p) < P ? (b) + PAIR_J(g, p) / R : (b))
#define PAIR_IDX(F, g, b) \
    _mm256_setr_epi32(F(g, 0, b), F(g, 1, b), F(g, 2, b), F(g, 3, b), F(g, 4, b), F(g, 5, b), F(g, 6, b), F(g, 7, b))

/* One float step for pair vector g: sum = sum + s * (float)isum per pair lane,
 * the multiply and the add separately rounded (no fma), where iv holds the
 * pairs' int32 lanes (P <= 4: iv[0..P-1] into acc4; else iv[0..7] into acc8[g])
 * and s their scale products. */
ALWAYS_INLINE void pair_sums_add(const int P, const int g, __m128 *acc4, __m256 *acc8, const __m256 s,
                                 const __m256i *iv) {
    if (P <= 4) *acc4 = _mm_add_ps(*acc4, _mm_mul_ps(_mm256_castps256_ps128(s), _mm_cvtepi32_ps(lane_sums4(P, iv))));
    else acc8[g] = _mm256_add_ps(acc8[g], _mm256_mul_ps(s, _mm256_cvtepi32_ps(lane_sums8(iv))));
}

/* The Q8_K scales (floats) of a tile's C activation blocks ib, lanes 0..C-1;
 * the other lanes 0. */
ALWAYS_INLINE __m256 kq_x_scales(const int C, const void *x, const size_t xb, const int64_t ib) {
#define KQ_XD(c) ((c) < C ? XROW(blk_q8_K, c)[ib].d : 0.0f)
    return _mm256_setr_ps(KQ_XD(0), KQ_XD(1), KQ_XD(2), KQ_XD(3), 0.0f, 0.0f, 0.0f, 0.0f);
#undef KQ_XD
}

/* The same in pair order for R*C <= 4 pairs: lane p (and p + P) is the scale
 * of pair p's column p / R; lanes past 2P repeat earlier ones. */
ALWAYS_INLINE __m128 kq_pair_x_scales4(const int R, const int C, const void *x, const size_t xb, const int64_t ib) {
    const int P = R * C;
#define KQ_PXD(p) XROW(blk_q8_K, ((p) % P) / R)[ib].d
    return C == 1 ? _mm_broadcast_ss(&KQ_PXD(0)) : _mm_setr_ps(KQ_PXD(0), KQ_PXD(1), KQ_PXD(2), KQ_PXD(3));
#undef KQ_PXD
}

/* Four fp16 scales (bits) in the low 64 bits of a vector, the rest 0. */
ALWAYS_INLINE __m128i h4(uint16_t a, uint16_t b, uint16_t c, uint16_t d) {
    return _mm_cvtsi64_si128((long long)((uint64_t)a | (uint64_t)b << 16 | (uint64_t)c << 32 | (uint64_t)d << 48));
}
/* The fp16 scales of pair vector g, lane p = pair j = 8g + p = r + R*c:
 * wd4 holds the R weight scales, xd4 the C activation scales (h4), and the
 * lanes are arranged with broadcasts and unpacks; 256-bit permutes, which
 * take several cycles each on AMD Zen 1, are avoided. Lanes past the pairs
 * are copies or 0. */
ALWAYS_INLINE __m128i pair_wd(const int R, const __m128i wd4) {
    return R == 1 ? _mm_broadcastw_epi16(wd4) : R == 2 ? _mm_broadcastd_epi32(wd4) : _mm_broadcastq_epi64(wd4);
}
ALWAYS_INLINE __m128i pair_xd(const int R, const int g, const __m128i xd4) {
    if (R == 1) return xd4;
    const __m128i t = _mm_unpacklo_epi16(xd4, xd4); /* x0 x0 x1 x1 x2 x2 x3 x3 */
    if (R == 2) return t;
    return g == 0 ? _mm_unpacklo_epi32(t, t) : _mm_unpackhi_epi32(t, t);
}

/* The float step of pair lanes: sum = sum + (d_w * d_x) * (float)isum, from
 * the fp16 scales in pair order (pair_wd, pair_xd) and the exact block sums;
 * 4 lanes (P <= 4) or 8. */
ALWAYS_INLINE void q80_step4(__m128 *acc, const __m128i wd, const __m128i xd, const __m128i isum) {
    *acc = _mm_add_ps(*acc, _mm_mul_ps(_mm_mul_ps(_mm_cvtph_ps(wd), _mm_cvtph_ps(xd)), _mm_cvtepi32_ps(isum)));
}
ALWAYS_INLINE void q80_step8(__m256 *acc, const __m128i wd, const __m128i xd, const __m256i isum) {
    *acc = _mm256_add_ps(*acc, _mm256_mul_ps(_mm256_mul_ps(_mm256_cvtph_ps(wd), _mm256_cvtph_ps(xd)), _mm256_cvtepi32_ps(isum)));
}

/* Per 128-bit half, 16-bit lanes: [a0+a4, b0+b4, a1+a5, b1+b5, ...], then
 * 32-bit units of two such, then 64-bit: each level halves the lanes a
 * quantity is spread over. Integer adds; the caller bounds the sums. */
ALWAYS_INLINE __m256i zip_add16_256(__m256i a, __m256i b) {
    return _mm256_add_epi16(_mm256_unpacklo_epi16(a, b), _mm256_unpackhi_epi16(a, b));
}
ALWAYS_INLINE __m256i zip_add32_256(__m256i a, __m256i b) {
    return _mm256_add_epi16(_mm256_unpacklo_epi32(a, b), _mm256_unpackhi_epi32(a, b));
}
ALWAYS_INLINE __m256i zip_add64_256(__m256i a, __m256i b) {
    return _mm256_add_epi16(_mm256_unpacklo_epi64(a, b), _mm256_unpackhi_epi64(a, b));
}

/* Q4_0 pairs: lane p (p < P <= 8) = the sum of the 8 int16 lanes of v[p],
 * the tree in 16 bits and its last add in 32: each lane of v is a sum of 4
 * products (u - 8) * x with |u - 8| <= 8 and |x| <= 128, so |lane| <= 4096,
 * and two levels of adds stay within 16384; the whole block, up to 32768,
 * would not fit. Exact, so the order is free. */
ALWAYS_INLINE __m128i zip_add16(__m128i a, __m128i b) {
    return _mm_add_epi16(_mm_unpacklo_epi16(a, b), _mm_unpackhi_epi16(a, b));
}
/* int32 lanes 0..P-1 of (int16 lanes 0..3 of t) + (int16 lanes of t >> sh bytes) */
ALWAYS_INLINE __m128i widen_add(__m128i t, const int sh) {
    return _mm_add_epi32(_mm_cvtepi16_epi32(t), _mm_cvtepi16_epi32(_mm_srli_si128(t, sh)));
}
/* P <= 4: int32 lanes 0..P-1 */
ALWAYS_INLINE __m128i lane_sums4_i16(const int P, const __m128i *v) {
    if (P == 1) {
        __m128i t = _mm_add_epi16(v[0], _mm_srli_si128(v[0], 8));
        t = _mm_add_epi16(t, _mm_srli_si128(t, 4));
        return widen_add(t, 2);
    }
    if (P == 2) {
        __m128i t = zip_add16(v[0], v[1]); /* a04 b04 a15 b15 a26 b26 a37 b37 */
        t = _mm_add_epi16(t, _mm_srli_si128(t, 8));
        return widen_add(t, 4);
    }
    const __m128i t0 = zip_add16(v[0], v[1]), t1 = zip_add16(v[2], v[3]);
    /* a0246 b0246 c0246 d0246 a1357 b1357 c1357 d1357 */
    return widen_add(_mm_add_epi16(_mm_unpacklo_epi32(t0, t1), _mm_unpackhi_epi32(t0, t1)), 8);
}
/* P = 8: the 8 pairs' sums as int32 */
ALWAYS_INLINE __m256i lane_sums8_i16(const __m128i *v) {
    const __m128i t0 = zip_add16(v[0], v[1]), t1 = zip_add16(v[2], v[3]);
    const __m128i t2 = zip_add16(v[4], v[5]), t3 = zip_add16(v[6], v[7]);
    const __m128i u0 = _mm_add_epi16(_mm_unpacklo_epi32(t0, t1), _mm_unpackhi_epi32(t0, t1));
    const __m128i u1 = _mm_add_epi16(_mm_unpacklo_epi32(t2, t3), _mm_unpackhi_epi32(t2, t3));
    return _mm256_add_epi32(_mm256_cvtepi16_epi32(_mm_unpacklo_epi64(u0, u1)),
                            _mm256_cvtepi16_epi32(_mm_unpackhi_epi64(u0, u1)));
}

/* Q8_0 or Q4_0 weights x Q8_0 activations; `q4` selects how a weight block is
 * unpacked to 32 bytes. Each pair (r, c) has one float sum, lane r + R*c of a
 * vector of pair sums (a __m128 for R*C <= 4, else R*C/8 __m256), and per
 * block does exactly what gh_vec_dot_q8_0_ref / _q4_0_ref do:
 *   isum = exact int32 dot of the block;
 *   sum  = sum + (d_w * d_x) * (float)isum     (mul, mul, add; no fma)
 * so every tile shape gives the reference's bits (and any AMX kernel can too).
 * Q4_0 forms isum in 16-bit lanes (lane_sums8_i16): half the widening
 * multiplies of the int32 route, which Q8_0's products (up to 2 * 127 * 128
 * a lane) need. */
ALWAYS_INLINE void tile_q80_like(const int R, const int C, const bool q4, TILE_PARAMS) {
    const int P = R * C;                   /* pairs */
    const int NV = P <= 4 ? 1 : P / 8;     /* float vectors of pair sums */
    const int CG = P <= 4 ? C : 8 / R;     /* columns per vector */
    __m128 acc4;
    __m256 acc8[2];
    pair_sums_load(R, C, mode, A, as, &acc4, acc8);
    const int64_t nb = n / 32;
    const __m256i m4 = _mm256_set1_epi8(0x0F), ones8 = _mm256_set1_epi8(1);
    for (int64_t ib = 0; ib < nb; ib++) {
        __m256i wq[4], wabs[4];
        __m128i wlo[4], whi[4], alo[4], ahi[4]; /* P <= 4: the codes as two 128-bit halves (Q8_0: and |w|) */
        if (q4) { if ((ib & 3) == 0) PREFETCH_NEXT(R, C, ib * sizeof(blk_q4_0)); }
        else if ((ib & 1) == 0) PREFETCH_NEXT(R, C, ib * sizeof(blk_q8_0));
        UNROLL for (int r = 0; r < R; r++) {
            if (q4) {
                __m128i t = _mm_loadu_si128((const __m128i *)WROW(blk_q4_0, r)[ib].qs);
                /* codes 0..15; the -8 is applied via x's sums */
                if (P <= 4) {
                    wlo[r] = _mm_and_si128(t, _mm256_castsi256_si128(m4));
                    whi[r] = _mm_and_si128(_mm_srli_epi16(t, 4), _mm256_castsi256_si128(m4));
                } else {
                    wq[r] = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(t, 4), t), m4);
                }
            } else if (P <= 4) {
                wlo[r] = _mm_loadu_si128((const __m128i *)WROW(blk_q8_0, r)[ib].qs);
                whi[r] = _mm_loadu_si128((const __m128i *)(WROW(blk_q8_0, r)[ib].qs + 16));
                alo[r] = _mm_sign_epi8(wlo[r], wlo[r]);
                ahi[r] = _mm_sign_epi8(whi[r], whi[r]);
            } else {
                wq[r] = _mm256_loadu_si256((const __m256i *)WROW(blk_q8_0, r)[ib].qs);
                wabs[r] = _mm256_sign_epi8(wq[r], wq[r]);
            }
        }
        /* scales: fp16 bits of the R weight blocks and the C activation
         * blocks, arranged in pair order, then d_w * d_x per lane (the scalar
         * product's bits) */
#define Q80_WD(r) ((r) < R ? (q4 ? WROW(blk_q4_0, r)[ib].d : WROW(blk_q8_0, r)[ib].d) : 0)
#define Q80_XD(c) ((c) < C ? XROW(blk_q8_0, c)[ib].d : 0)
        const __m128i wd = pair_wd(R, h4(Q80_WD(0), Q80_WD(1), Q80_WD(2), Q80_WD(3)));
        const __m128i xd4 = h4(Q80_XD(0), Q80_XD(1), Q80_XD(2), Q80_XD(3));
#undef Q80_WD
#undef Q80_XD
        UNROLL for (int g = 0; g < NV; g++) {
            const __m128i xd = pair_xd(R, g, xd4);
            if (q4) {
                __m128i iv16[8]; /* pair lane p: 8 int16 lanes of its block dot */
                UNROLL for (int cc = 0; cc < CG; cc++) {
                    const int c = g * CG + cc;
                    /* lane i: the sum over elements 2i, 2i+1, 16+2i and 17+2i
                     * of (u-8)*x = u.x - 8*sum(x), the same integers as the
                     * signed form, with fewer operations. With few pairs the
                     * halves are taken as 128-bit vectors (no extracts; Zen 1
                     * splits 256-bit operations anyway), with more the codes
                     * stay in 256-bit registers, which leave room for 16 pairs. */
                    if (P <= 4) {
                        const __m128i x0 = _mm_loadu_si128((const __m128i *)XROW(blk_q8_0, c)[ib].qs);
                        const __m128i x1 = _mm_loadu_si128((const __m128i *)(XROW(blk_q8_0, c)[ib].qs + 16));
                        const __m128i o8 = _mm256_castsi256_si128(ones8);
                        const __m128i xs8 = _mm_slli_epi16(_mm_add_epi16(_mm_maddubs_epi16(o8, x0), _mm_maddubs_epi16(o8, x1)), 3);
                        UNROLL for (int r = 0; r < R; r++)
                            iv16[r + R * cc] = _mm_sub_epi16(
                                _mm_add_epi16(_mm_maddubs_epi16(wlo[r], x0), _mm_maddubs_epi16(whi[r], x1)), xs8);
                    } else {
                        const __m256i xq = _mm256_loadu_si256((const __m256i *)XROW(blk_q8_0, c)[ib].qs);
                        const __m256i xs = _mm256_maddubs_epi16(ones8, xq);
                        const __m128i xs8 = _mm_slli_epi16(_mm_add_epi16(_mm256_castsi256_si128(xs), _mm256_extracti128_si256(xs, 1)), 3);
                        UNROLL for (int r = 0; r < R; r++) {
                            const __m256i p = _mm256_maddubs_epi16(wq[r], xq);
                            iv16[r + R * cc] = _mm_sub_epi16(_mm_add_epi16(_mm256_castsi256_si128(p), _mm256_extracti128_si256(p, 1)), xs8);
                        }
                    }
                }
                if (P <= 4) q80_step4(&acc4, wd, xd, lane_sums4_i16(P, iv16));
                else q80_step8(&acc8[g], wd, xd, lane_sums8_i16(iv16));
            } else if (P <= 4) {
                __m128i iv32[4]; /* pair lane p: 4 int32 lanes of its block dot, from 128-bit halves */
                const __m128i o16 = _mm_set1_epi16(1);
                UNROLL for (int c = 0; c < C; c++) {
                    const __m128i x0 = _mm_loadu_si128((const __m128i *)XROW(blk_q8_0, c)[ib].qs);
                    const __m128i x1 = _mm_loadu_si128((const __m128i *)(XROW(blk_q8_0, c)[ib].qs + 16));
                    UNROLL for (int r = 0; r < R; r++) {
                        const __m128i p0 = _mm_maddubs_epi16(alo[r], _mm_sign_epi8(x0, wlo[r]));
                        const __m128i p1 = _mm_maddubs_epi16(ahi[r], _mm_sign_epi8(x1, whi[r]));
                        iv32[r + R * c] = _mm_add_epi32(_mm_madd_epi16(p0, o16), _mm_madd_epi16(p1, o16));
                    }
                }
                q80_step4(&acc4, wd, xd, lane_sums4_128(P, iv32));
            } else {
                __m256i iv[8]; /* pair lane p: int32 lanes of its block dot */
                UNROLL for (int cc = 0; cc < CG; cc++) {
                    const int c = g * CG + cc;
                    const __m256i xq = _mm256_loadu_si256((const __m256i *)XROW(blk_q8_0, c)[ib].qs);
                    UNROLL for (int r = 0; r < R; r++) iv[r + R * cc] = dot_i8_lanes(wabs[r], wq[r], xq);
                }
                q80_step8(&acc8[g], wd, xd, lane_sums8(iv));
            }
        }
    }
    pair_sums_store(R, C, mode, acc4, acc8, y, ys, A, as);
}

/* Q4_K weights x Q8_K activations, with the semantics of gh_vec_dot_q4_K_ref:
 * one float sum per pair (lane r + R*c, as in tile_q80_like), and per
 * super-block
 *   isum = sum_j sc_j * (q . x over sub-block j)              exact int32
 *   imin = sum_j m_j * (bsums[2j] + bsums[2j+1])               exact int32
 *   sum  = sum + ((d*xd)*(float)isum - (dmin*xd)*(float)imin)  (no fma)
 * The integers are formed as 8 int32 lanes per pair (below: sub-block sums
 * in 16 bits, then one madd with the scales), and a transpose-and-add tree
 * puts each pair's totals in its own lane. For R*C <= 4 one tree takes the
 * isum and imin lanes together: quantity lane q is pair q's isum for q < P
 * and pair q-P's imin for P <= q < 2P, so one convert and one multiply by
 * [d*xd of the pairs | dmin*xd of the pairs] give t1 and t2 in the two
 * halves. */
ALWAYS_INLINE void tile_q4_K(const int R, const int C, TILE_PARAMS) {
    const int P = R * C, NV = P <= 4 ? 1 : P / 8;
    /* P > 4: scales per super-block wsc = [d of rows 0..3 | dmin of rows
     * 0..3] and xsv = [xd of columns 0..3 | 0], and index vectors: which wsc
     * and xsv lane each pair lane takes */
    const __m256i widx[2] = {PAIR_IDX(PAIR_ROW, 0, 0), PAIR_IDX(PAIR_ROW, 1, 0)};
    const __m256i midx[2] = {PAIR_IDX(PAIR_ROW, 0, 4), PAIR_IDX(PAIR_ROW, 1, 4)};
    const __m256i xidx[2] = {PAIR_IDX(PAIR_COL, 0, 0), PAIR_IDX(PAIR_COL, 1, 0)};
    __m128 acc4;
    __m256 acc8[2];
    pair_sums_load(R, C, mode, A, as, &acc4, acc8);
    const int64_t nb = n / QK_K;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int64_t ib = 0; ib < nb; ib++) {
        __m256i sc16[4], mins[4];
        PREFETCH_NEXT(R, C, ib * sizeof(blk_q4_K));
        PREFETCH_NEXT(R, C, ib * sizeof(blk_q4_K) + 64);
        PREFETCH_NEXT(R, C, ib * sizeof(blk_q4_K) + 128);
        UNROLL for (int r = 0; r < R; r++) {
            uint32_t u[4];
            q4k_unpack_scales(WROW(blk_q4_K, r)[ib].scales, u);
            __m128i sm = _mm_cvtepu8_epi16(_mm_set_epi32(0, 0, (int)u[1], (int)u[0])); /* 8 x int16 scales */
            __m128i mm = _mm_cvtepu8_epi16(_mm_set_epi32(0, 0, (int)u[3], (int)u[2])); /* 8 x int16 mins */
            sc16[r] = _mm256_broadcastsi128_si256(sm);
            /* int16 lane k pairs with bsums[k], which belongs to sub-block k/2 */
            mins[r] = _mm256_set_m128i(_mm_unpackhi_epi16(mm, mm), _mm_unpacklo_epi16(mm, mm));
        }
        /* iv / mv [r + R*c]: int32 lanes of pair (r, c)'s isum / imin.
         * Each sub-block's 32 products are summed in 16-bit lanes first: a
         * maddubs lane is q0*x0 + q1*x1 with q in 0..15 and x in -128..127,
         * so |lane| <= 3840, and 8 lanes, 30720, still fit. A zip tree puts
         * sub-block j's partial sums in lane j of each 128-bit half, and one
         * madd with the 8 scales (the same in both halves) widens and scales
         * them: one widening multiply per super-block instead of one per
         * sub-block, which on AMD Zen 1 (one vector integer multiplier)
         * bounds the speed. */
        __m256i iv[16], mv[16], t01[16];
        UNROLL for (int k = 0; k < 4; k++) {
            __m256i lo[4], hi[4];
            UNROLL for (int r = 0; r < R; r++) {
                __m256i qv = _mm256_loadu_si256((const __m256i *)(WROW(blk_q4_K, r)[ib].qs + 32 * k));
                lo[r] = _mm256_and_si256(qv, m4);
                hi[r] = _mm256_and_si256(_mm256_srli_epi16(qv, 4), m4);
            }
            UNROLL for (int c = 0; c < C; c++) {
                const blk_q8_K *bx = XROW(blk_q8_K, c) + ib;
                __m256i x0 = _mm256_loadu_si256((const __m256i *)(bx->qs + 64 * k));
                __m256i x1 = _mm256_loadu_si256((const __m256i *)(bx->qs + 64 * k + 32));
                UNROLL for (int r = 0; r < R; r++) {
                    const int j = r + R * c;
                    /* sub-blocks 2k and 2k+1, alternating int16 lanes */
                    const __m256i z = zip_add16_256(_mm256_maddubs_epi16(lo[r], x0), _mm256_maddubs_epi16(hi[r], x1));
                    if ((k & 1) == 0) iv[j] = z;
                    else if (k == 1) t01[j] = zip_add32_256(iv[j], z);             /* sub-blocks 0..3 */
                    else iv[j] = _mm256_madd_epi16(zip_add64_256(t01[j], zip_add32_256(iv[j], z)), sc16[r]);
                }
            }
        }
        UNROLL for (int c = 0; c < C; c++) {
            __m256i bs = _mm256_loadu_si256((const __m256i *)XROW(blk_q8_K, c)[ib].bsums);
            UNROLL for (int r = 0; r < R; r++) mv[r + R * c] = _mm256_madd_epi16(bs, mins[r]);
        }
        if (P <= 4) {
            __m256i v[8];
            UNROLL for (int j = 0; j < P; j++) { v[j] = iv[j]; v[P + j] = mv[j]; }
            /* lane q: d*xd (q < P) or dmin*xd (P <= q < 2P) of its pair,
             * the fp16 scales gathered in lane order by scalar loads and the
             * x scales by broadcasts (no 256-bit permutes, slow on Zen 1) */
#define K4_H(q) ((q) < P ? WROW(blk_q4_K, (q) % R)[ib].d : (q) < 2 * P ? WROW(blk_q4_K, ((q) - P) % R)[ib].dmin : 0)
            const __m128i h = h4(K4_H(0), K4_H(1), K4_H(2), K4_H(3));
            const __m128 xs = kq_pair_x_scales4(R, C, x, xb, ib);
            __m128 t1, t2;
            if (P == 4) {
                const __m256 s = _mm256_mul_ps(_mm256_cvtph_ps(_mm_unpacklo_epi64(h, h4(K4_H(4), K4_H(5), K4_H(6), K4_H(7)))),
                                               _mm256_set_m128(xs, xs));
                const __m256 t = _mm256_mul_ps(s, _mm256_cvtepi32_ps(lane_sums8(v)));
                t1 = _mm256_castps256_ps128(t);
                t2 = _mm256_extractf128_ps(t, 1);
            } else {
                t1 = _mm_mul_ps(_mm_mul_ps(_mm_cvtph_ps(h), xs), _mm_cvtepi32_ps(lane_sums4(2 * P, v)));
                t2 = P == 2 ? _mm_movehl_ps(t1, t1) : _mm_movehdup_ps(t1); /* lanes P.. down to 0.. */
            }
#undef K4_H
            acc4 = _mm_add_ps(acc4, _mm_sub_ps(t1, t2));
        } else {
#define K4_WD(r) ((r) < R ? (short)WROW(blk_q4_K, r)[ib].d : 0)
#define K4_WM(r) ((r) < R ? (short)WROW(blk_q4_K, r)[ib].dmin : 0)
            const __m256 wsc = _mm256_cvtph_ps(
                _mm_setr_epi16(K4_WD(0), K4_WD(1), K4_WD(2), K4_WD(3), K4_WM(0), K4_WM(1), K4_WM(2), K4_WM(3)));
#undef K4_WD
#undef K4_WM
            const __m256 xsv = kq_x_scales(C, x, xb, ib);
            UNROLL for (int g = 0; g < NV; g++) {
                const __m256 xs = _mm256_permutevar8x32_ps(xsv, xidx[g]);
                const __m256 t1 = _mm256_mul_ps(_mm256_mul_ps(_mm256_permutevar8x32_ps(wsc, widx[g]), xs),
                                                _mm256_cvtepi32_ps(lane_sums8(iv + 8 * g)));
                const __m256 t2 = _mm256_mul_ps(_mm256_mul_ps(_mm256_permutevar8x32_ps(wsc, midx[g]), xs),
                                                _mm256_cvtepi32_ps(lane_sums8(mv + 8 * g)));
                acc8[g] = _mm256_add_ps(acc8[g], _mm256_sub_ps(t1, t2));
            }
        }
    }
    pair_sums_store(R, C, mode, acc4, acc8, y, ys, A, as);
}

/* Q6_K weights x Q8_K activations, with the semantics of gh_vec_dot_q6_K_ref:
 * one float sum per pair and per super-block
 *   isum = sum_j scales[j] * ((q_j - 32) . x_j)   exact int32
 *   sum  = sum + (d*xd)*(float)isum               (mul, mul, add; no fma)
 * Codes are used unsigned (0..63) in maddubs, and the -32 is applied exactly
 * through x's bsums: isum = sum_j sc_j * (q_j . x_j) - 32 * sum_j sc_j * bsum_j.
 * 8 int32 lanes per pair, summed into one lane per pair as in tile_q80_like. */
ALWAYS_INLINE void tile_q6_K(const int R, const int C, TILE_PARAMS) {
    const int P = R * C, NV = P <= 4 ? 1 : P / 8;
    const __m256i widx[2] = {PAIR_IDX(PAIR_ROW, 0, 0), PAIR_IDX(PAIR_ROW, 1, 0)};
    const __m256i xidx[2] = {PAIR_IDX(PAIR_COL, 0, 0), PAIR_IDX(PAIR_COL, 1, 0)};
    __m128 acc4;
    __m256 acc8[2];
    pair_sums_load(R, C, mode, A, as, &acc4, acc8);
    const int64_t nb = n / QK_K;
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(0x03);
    const __m256i m2h = _mm256_set1_epi8(0x30), m2m = _mm256_set1_epi8(0x0C);
    /* scale order of zipped k = 0, 1: int16 lanes alternate scales 0 and 2
     * in the low 128-bit lane, 1 and 3 in the high (k = 2, 3: each + 4) */
    const __m256i sc_pat = _mm256_setr_epi8(0, 1, 4, 5, 0, 1, 4, 5, 0, 1, 4, 5, 0, 1, 4, 5,
                                            2, 3, 6, 7, 2, 3, 6, 7, 2, 3, 6, 7, 2, 3, 6, 7);
    for (int64_t ib = 0; ib < nb; ib++) {
        __m256i iv[16]; /* [r + R*c]: int32 lanes of pair (r, c)'s isum */
        for (int off = 0; off < (int)sizeof(blk_q6_K); off += 64) PREFETCH_NEXT(R, C, ib * sizeof(blk_q6_K) + off);
        UNROLL for (int c = 0; c < C; c++) {
            __m256i bs = _mm256_loadu_si256((const __m256i *)XROW(blk_q8_K, c)[ib].bsums);
            UNROLL for (int r = 0; r < R; r++) {
                __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)WROW(blk_q6_K, r)[ib].scales));
                iv[r + R * c] =
                    _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(_mm256_madd_epi16(bs, sc16), 5));
            }
        }
        for (int h = 0; h < 2; h++) {
            /* the 8 scales of this half as int16, in both 128-bit lanes */
            __m256i sch[4];
            UNROLL for (int r = 0; r < R; r++)
                sch[r] = _mm256_broadcastsi128_si256(
                    _mm_cvtepi8_epi16(_mm_loadl_epi64((const __m128i *)(WROW(blk_q6_K, r)[ib].scales + 8 * h))));
            /* Elements 32k..32k+31 of the half are sub-blocks 2k (the low
             * 128-bit lane of a maddubs) and 2k+1 (the high). A maddubs lane
             * is at most 2 * 63 * 128 = 16128 in magnitude, so two still fit
             * 16 bits: k = 0, 1 (and 2, 3) are zipped and added before one
             * madd with the scales in the same order, which halves the
             * widening multiplies (one vector multiplier on AMD Zen 1). */
            __m256i z[16];
            /* unrolled, so the switch on k below is resolved at compile time
             * (the rolled loop branched on k and spilled; about 1.2-1.5x
             * slower on cache-resident data) */
            UNROLL for (int k = 0; k < 4; k++) {
                __m256i q[4], scv[4];
                UNROLL for (int r = 0; r < R; r++) {
                    const blk_q6_K *bw = WROW(blk_q6_K, r) + ib;
                    __m256i ql = _mm256_loadu_si256((const __m256i *)(bw->ql + 64 * h + 32 * (k & 1)));
                    __m256i qh = _mm256_loadu_si256((const __m256i *)(bw->qh + 32 * h));
                    __m256i lo = (k & 2) ? _mm256_and_si256(_mm256_srli_epi16(ql, 4), m4) : _mm256_and_si256(ql, m4);
                    __m256i hb;
                    switch (k) {
                    case 0: hb = _mm256_slli_epi16(_mm256_and_si256(qh, m2), 4); break;
                    case 1: hb = _mm256_slli_epi16(_mm256_and_si256(qh, m2m), 2); break;
                    case 2: hb = _mm256_and_si256(qh, m2h); break;
                    default: hb = _mm256_and_si256(_mm256_srli_epi16(qh, 2), m2h); break;
                    }
                    q[r] = _mm256_or_si256(lo, hb);
                    /* int16 lanes alternate sub-blocks 2k-2 and 2k (low
                     * 128-bit lane) or 2k-1 and 2k+1 (high), as zipped */
                    if (k & 1) scv[r] = _mm256_shuffle_epi8(sch[r], k == 1 ? sc_pat : _mm256_add_epi8(sc_pat, _mm256_set1_epi8(8)));
                }
                UNROLL for (int c = 0; c < C; c++) {
                    __m256i xv = _mm256_loadu_si256((const __m256i *)(XROW(blk_q8_K, c)[ib].qs + 128 * h + 32 * k));
                    UNROLL for (int r = 0; r < R; r++) {
                        const int j = r + R * c;
                        const __m256i p = _mm256_maddubs_epi16(q[r], xv);
                        if ((k & 1) == 0) z[j] = p;
                        else iv[j] = _mm256_add_epi32(iv[j], _mm256_madd_epi16(zip_add16_256(z[j], p), scv[r]));
                    }
                }
            }
        }
        if (P <= 4) {
            /* d*xd of pair lanes 0..P-1: the fp16 scales gathered in lane
             * order by scalar loads, the x scales by broadcasts (no 256-bit
             * permutes, slow on Zen 1) */
#define K6_H(p) ((p) < P ? WROW(blk_q6_K, (p) % R)[ib].d : 0)
            const __m128 s4 = _mm_mul_ps(_mm_cvtph_ps(h4(K6_H(0), K6_H(1), K6_H(2), K6_H(3))), kq_pair_x_scales4(R, C, x, xb, ib));
#undef K6_H
            pair_sums_add(P, 0, &acc4, acc8, _mm256_castps128_ps256(s4), iv);
        } else {
#define K6_WD(r) ((r) < R ? (short)WROW(blk_q6_K, r)[ib].d : 0)
            const __m256 wsc = _mm256_cvtph_ps(_mm_setr_epi16(K6_WD(0), K6_WD(1), K6_WD(2), K6_WD(3), 0, 0, 0, 0));
#undef K6_WD
            const __m256 xsv = kq_x_scales(C, x, xb, ib);
            UNROLL for (int g = 0; g < NV; g++)
                pair_sums_add(P, g, &acc4, acc8,
                              _mm256_mul_ps(_mm256_permutevar8x32_ps(wsc, widx[g]), _mm256_permutevar8x32_ps(xsv, xidx[g])),
                              iv + 8 * g);
        }
    }
    pair_sums_store(R, C, mode, acc4, acc8, y, ys, A, as);
}

ALWAYS_INLINE void tile_q8_0(const int R, const int C, TILE_PARAMS) { tile_q80_like(R, C, false, n, w, wb, x, xb, y, ys, A, as, mode); }
ALWAYS_INLINE void tile_q4_0(const int R, const int C, TILE_PARAMS) { tile_q80_like(R, C, true, n, w, wb, x, xb, y, ys, A, as, mode); }

/* Instances for (R, C) in {1,2,4}^2, a lookup table, and vec_dot = (1,1). */
#define TILE_INST(K, R, C) \
    static void K##_##R##x##C(TILE_PARAMS) { tile_##K(R, C, n, w, wb, x, xb, y, ys, A, as, mode); }
#define TILE_FAMILY(K)                                                                        \
    TILE_INST(K, 1, 1) TILE_INST(K, 1, 2) TILE_INST(K, 1, 4)                                 \
    TILE_INST(K, 2, 1) TILE_INST(K, 2, 2) TILE_INST(K, 2, 4)                                 \
    TILE_INST(K, 4, 1) TILE_INST(K, 4, 2) TILE_INST(K, 4, 4)                                 \
    static const gh_tile_fn K##_tiles[3][3] = {{K##_1x1, K##_1x2, K##_1x4},                   \
                                               {K##_2x1, K##_2x2, K##_2x4},                   \
                                               {K##_4x1, K##_4x2, K##_4x4}};                  \
    void gh_vec_dot_##K##_avx2(int64_t n, float *s, const void *x, const void *y) {           \
        K##_1x1(n, x, 0, y, 0, s, 0, NULL, 0, GH_TILE_FIRST | GH_TILE_LAST);                                                         \
    }

TILE_FAMILY(f32)
TILE_FAMILY(f16)
TILE_FAMILY(bf16)
TILE_FAMILY(q8_0)
TILE_FAMILY(q4_0)
TILE_FAMILY(q4_K)
TILE_FAMILY(q6_K)
TILE_INST(f16r2, 2, 1) TILE_INST(f16r2, 2, 2) TILE_INST(f16r2, 2, 4)
TILE_INST(f16r2, 4, 1) TILE_INST(f16r2, 4, 2) TILE_INST(f16r2, 4, 4) TILE_INST(f16r2, 8, 1)
static const gh_tile_fn f16r2_tiles[3][3] = {{NULL, NULL, NULL},
                                             {f16r2_2x1, f16r2_2x2, f16r2_2x4},
                                             {f16r2_4x1, f16r2_4x2, f16r2_4x4}};

/* F32 rows of 3: 3x4 is 12 accumulators and 7 loads per 12 FMAs, where 2x4
 * loads 6 per 8; with the rows and activations coming from L2 that is what
 * bounds them (2-core EPYC, Zen 1, n = 2048: 15 -> 19.5 GMAC/s a core) */
TILE_INST(f32, 3, 1) TILE_INST(f32, 3, 2) TILE_INST(f32, 3, 4)
static const gh_tile_fn f32_r3_tiles[3] = {f32_3x1, f32_3x2, f32_3x4};

gh_tile_fn gh_tile_avx2(gh_type t, int R, int C) {
    if (t == GH_TYPE_F16_R2 && R == 8) return C == 1 ? f16r2_8x1 : NULL;
    int ri = R == 1 ? 0 : R == 2 ? 1 : R == 4 ? 2 : -1;
    int ci = C == 1 ? 0 : C == 2 ? 1 : C == 4 ? 2 : -1;
    if (t == GH_TYPE_F32 && R == 3) return ci < 0 ? NULL : f32_r3_tiles[ci];
    if (ri < 0 || ci < 0) return NULL;
    if (t == GH_TYPE_F16_R2) return f16r2_tiles[ri][ci]; /* whole row pairs: R of 2, 4 (or 8 above) */
    switch (t) {
    case GH_TYPE_F32: return f32_tiles[ri][ci];
    case GH_TYPE_F16: return f16_tiles[ri][ci];
    case GH_TYPE_BF16: return bf16_tiles[ri][ci];
    case GH_TYPE_Q8_0: return q8_0_tiles[ri][ci];
    case GH_TYPE_Q4_0: return q4_0_tiles[ri][ci];
    case GH_TYPE_Q4_K: return q4_K_tiles[ri][ci];
    case GH_TYPE_Q6_K: return q6_K_tiles[ri][ci];
    default: return NULL;
    }
}
