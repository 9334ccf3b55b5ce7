/* types_ref.c — the definition of every weight type the runtime computes with:
 * fp16/bf16 conversion, the scalar reference kernels (dequantize, quantize,
 * vec_dot) and the traits table that picks, once per process, the fastest
 * kernels the CPU supports (AVX2 ones live in kernels_avx2.c).
 *
 * The _ref kernels are written for clarity, not speed: they are what the SIMD
 * kernels are tested against, and what runs when GH_SIMD=scalar is set or the
 * CPU lacks AVX2/FMA/F16C.
 *
 * vec_dot_type: F32, F16 and BF16 weights take F32 activations (F16 is widened
 * in registers with F16C: exact, and no rounding of the activations); Q8_0
 * and Q4_0 take Q8_0; Q4_K and Q6_K take Q8_K, as in ggml.
 *
 * Quantizers (from_float_ref) for weight types do a small scale search per
 * (sub-)block that minimises squared error; they are meant for tests and for
 * converting small models, not for bit-compatibility with llama.cpp's
 * quantizer (the *layouts* are bit-compatible; the chosen scales may differ).
 * Measured relative RMS error on N(0,1) data (tests/kernels holds them to
 * budgets ~15% above): F16 0.021%, BF16 0.17%, Q8_0 0.53%, Q8_K 0.69%,
 * Q6_K 1.7%, Q4_K 7.1%, Q4_0 8.0%. (On Gaussian data 4 bits over a 32-value
 * sub-block cannot do much better: the range is ~4 sigma, so a step is ~0.27
 * sigma; Q4_K's gain over Q4_0 is larger on real, skewed weight rows.)
 */
#include "kernels/amx.h"
#include "kernels/kernels_internal.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>

/* ------------------------------------------------------------------------ */
/* fp16 / bf16                                                               */

static inline uint32_t f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float u2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

float gh_fp16_to_fp32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1F, mant = h & 0x3FF;
    if (exp == 0) {
        /* zero or subnormal: mant * 2^-24, exact in float */
        float v = (float)mant * 0x1p-24f;
        return u2f(f2u(v) | sign);
    }
    if (exp == 31) /* inf, or NaN quieted as F16C does */
        return u2f(sign | 0x7F800000u | (mant ? 0x00400000u | (mant << 13) : 0));
    return u2f(sign | ((exp + 112) << 23) | (mant << 13));
}

uint16_t gh_fp32_to_fp16(float f) {
    uint32_t u = f2u(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    uint32_t a = u & 0x7FFFFFFFu;
    if (a > 0x7F800000u) /* NaN: quieted, payload truncated (as F16C does) */
        return (uint16_t)(sign | 0x7E00 | ((a >> 13) & 0x3FF));
    if (a >= 0x477FF000u) return (uint16_t)(sign | 0x7C00); /* >= 65520 rounds to inf */
    if (a < 0x38800000u) {
        /* below the smallest normal (2^-14): adding 0.5 makes the FPU round
         * |f| to a multiple of 2^-24 (ties to even); the count is the result. */
        float r = u2f(a) + 0.5f;
        return (uint16_t)(sign | (f2u(r) - 0x3F000000u));
    }
    uint32_t odd = (a >> 13) & 1;
    a += 0xC8000000u + 0xFFFu + odd; /* rebias exponent 127 -> 15, round to nearest even */
    return (uint16_t)(sign | (a >> 13));
}

float gh_bf16_to_fp32(uint16_t h) { return u2f((uint32_t)h << 16); }

uint16_t gh_fp32_to_bf16(float f) {
    uint32_t u = f2u(f);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
    return (uint16_t)((u + 0x7FFFu + ((u >> 16) & 1)) >> 16);
}

#define FP16(h) gh_fp16_to_fp32(h)

/* ------------------------------------------------------------------------ */
/* float types                                                               */

void gh_f32_to_float(const void *x, float *y, int64_t n) { memcpy(y, x, (size_t)n * sizeof(float)); }
void gh_f32_from_float(const float *x, void *y, int64_t n) { memcpy(y, x, (size_t)n * sizeof(float)); }

void gh_f16_to_float_ref(const void *x, float *y, int64_t n) {
    const uint16_t *h = x;
    for (int64_t i = 0; i < n; i++) y[i] = gh_fp16_to_fp32(h[i]);
}
void gh_f16_from_float_ref(const float *x, void *y, int64_t n) {
    uint16_t *h = y;
    for (int64_t i = 0; i < n; i++) h[i] = gh_fp32_to_fp16(x[i]);
}
void gh_bf16_to_float_ref(const void *x, float *y, int64_t n) {
    const uint16_t *h = x;
    for (int64_t i = 0; i < n; i++) y[i] = gh_bf16_to_fp32(h[i]);
}
void gh_bf16_from_float_ref(const float *x, void *y, int64_t n) {
    uint16_t *h = y;
    for (int64_t i = 0; i < n; i++) h[i] = gh_fp32_to_bf16(x[i]);
}

/* Float dot products accumulate in double: the reference is the accurate answer. */
void gh_vec_dot_f32_ref(int64_t n, float *s, const void *x, const void *y) {
    const float *a = x, *b = y;
    double acc = 0;
    for (int64_t i = 0; i < n; i++) acc += (double)a[i] * b[i];
    *s = (float)acc;
}
void gh_vec_dot_f16_ref(int64_t n, float *s, const void *x, const void *y) {
    const uint16_t *a = x;
    const float *b = y;
    double acc = 0;
    for (int64_t i = 0; i < n; i++) acc += (double)gh_fp16_to_fp32(a[i]) * b[i];
    *s = (float)acc;
}
void gh_vec_dot_bf16_ref(int64_t n, float *s, const void *x, const void *y) {
    const uint16_t *a = x;
    const float *b = y;
    double acc = 0;
    for (int64_t i = 0; i < n; i++) acc += (double)gh_bf16_to_fp32(a[i]) * b[i];
    *s = (float)acc;
}

/* ------------------------------------------------------------------------ */
/* Q8_0                                                                      */

void gh_q8_0_to_float_ref(const void *x, float *y, int64_t n) {
    const blk_q8_0 *b = x;
    for (int64_t i = 0; i < n / QK8_0; i++) {
        float d = FP16(b[i].d);
        for (int j = 0; j < QK8_0; j++) y[i * QK8_0 + j] = d * (float)b[i].qs[j];
    }
}

/* d = max|x| / 127, q = round(x / d): the scheme ggml uses, so that activation
 * quantization here and in the AVX2 version agree bit for bit. */
void gh_q8_0_from_float_ref(const float *x, void *y, int64_t n) {
    blk_q8_0 *b = y;
    for (int64_t i = 0; i < n / QK8_0; i++) {
        const float *v = x + i * QK8_0;
        float amax = 0;
        for (int j = 0; j < QK8_0; j++) amax = fmaxf(amax, fabsf(v[j]));
        float d = amax / 127.0f;
        float id = d != 0 ? 1.0f / d : 0.0f;
        b[i].d = gh_fp32_to_fp16(d);
        for (int j = 0; j < QK8_0; j++) b[i].qs[j] = (int8_t)gh_round_ne(v[j] * id);
    }
}

void gh_vec_dot_q8_0_ref(int64_t n, float *s, const void *x, const void *y) {
    const blk_q8_0 *a = x, *b = y;
    float sum = 0;
    for (int64_t i = 0; i < n / QK8_0; i++) {
        int32_t isum = 0;
        for (int j = 0; j < QK8_0; j++) isum += (int32_t)a[i].qs[j] * b[i].qs[j];
        sum += (FP16(a[i].d) * FP16(b[i].d)) * (float)isum;
    }
    *s = sum;
}

/* ------------------------------------------------------------------------ */
/* Q4_0                                                                      */

void gh_q4_0_to_float_ref(const void *x, float *y, int64_t n) {
    const blk_q4_0 *b = x;
    for (int64_t i = 0; i < n / QK4_0; i++) {
        float d = FP16(b[i].d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            y[i * QK4_0 + j] = d * (float)((b[i].qs[j] & 0x0F) - 8);
            y[i * QK4_0 + j + 16] = d * (float)((b[i].qs[j] >> 4) - 8);
        }
    }
}

/* Per block: try a few scales that map the largest-magnitude value near -8
 * (the asymmetric end of -8..7), refit the scale by least squares for the
 * codes chosen, keep the lowest squared error. */
void gh_q4_0_from_float_ref(const float *x, void *y, int64_t n) {
    blk_q4_0 *b = y;
    for (int64_t i = 0; i < n / QK4_0; i++) {
        const float *v = x + i * QK4_0;
        float amax = 0, max = 0;
        for (int j = 0; j < QK4_0; j++)
            if (fabsf(v[j]) > amax) { amax = fabsf(v[j]); max = v[j]; }
        uint8_t best_q[QK4_0] = {0};
        float best_d = 0;
        if (amax > 0) {
            float best_err = INFINITY;
            for (int k = 0; k <= 16; k++) {
                float iscale = -(6.5f + 0.125f * (float)k) / max;
                uint8_t q[QK4_0];
                float sxq = 0, sqq = 0;
                for (int j = 0; j < QK4_0; j++) {
                    int l = gh_round_ne(v[j] * iscale);
                    l = l < -8 ? -8 : l > 7 ? 7 : l;
                    q[j] = (uint8_t)(l + 8);
                    sxq += v[j] * (float)l;
                    sqq += (float)(l * l);
                }
                if (sqq == 0) continue;
                float d = sxq / sqq, err = 0;
                for (int j = 0; j < QK4_0; j++) {
                    float e = v[j] - d * (float)(q[j] - 8);
                    err += e * e;
                }
                if (err < best_err) { best_err = err; best_d = d; memcpy(best_q, q, sizeof q); }
            }
        } else {
            memset(best_q, 8, sizeof best_q);
        }
        b[i].d = gh_fp32_to_fp16(best_d);
        for (int j = 0; j < QK4_0 / 2; j++) b[i].qs[j] = (uint8_t)(best_q[j] | (best_q[j + 16] << 4));
    }
}

void gh_vec_dot_q4_0_ref(int64_t n, float *s, const void *x, const void *y) {
    const blk_q4_0 *a = x;
    const blk_q8_0 *b = y;
    float sum = 0;
    for (int64_t i = 0; i < n / QK4_0; i++) {
        int32_t isum = 0;
        for (int j = 0; j < QK4_0 / 2; j++) {
            isum += ((a[i].qs[j] & 0x0F) - 8) * b[i].qs[j];
            isum += ((a[i].qs[j] >> 4) - 8) * b[i].qs[j + 16];
        }
        sum += (FP16(a[i].d) * FP16(b[i].d)) * (float)isum;
    }
    *s = sum;
}

/* ------------------------------------------------------------------------ */
/* Q8_K (activations of the K-quants)                                        */

void gh_q8_K_to_float_ref(const void *x, float *y, int64_t n) {
    const blk_q8_K *b = x;
    for (int64_t i = 0; i < n / QK_K; i++)
        for (int j = 0; j < QK_K; j++) y[i * QK_K + j] = b[i].d * (float)b[i].qs[j];
}

/* The value of largest magnitude (the first, on ties) maps to -128 exactly;
 * the others round to nearest-even and clip at 127. */
void gh_q8_K_from_float_ref(const float *x, void *y, int64_t n) {
    blk_q8_K *b = y;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float *v = x + i * QK_K;
        float amax = 0, max = 0;
        for (int j = 0; j < QK_K; j++)
            if (fabsf(v[j]) > amax) { amax = fabsf(v[j]); max = v[j]; }
        if (amax == 0) {
            memset(&b[i], 0, sizeof b[i]);
            continue;
        }
        float iscale = -128.0f / max;
        for (int j = 0; j < QK_K; j++) {
            int32_t q = gh_round_ne(iscale * v[j]);
            b[i].qs[j] = (int8_t)(q > 127 ? 127 : q);
        }
        for (int j = 0; j < QK_K / 16; j++) {
            int32_t s = 0;
            for (int k = 0; k < 16; k++) s += b[i].qs[16 * j + k];
            b[i].bsums[j] = (int16_t)s;
        }
        b[i].d = 1.0f / iscale;
    }
}

/* ------------------------------------------------------------------------ */
/* Q4_K                                                                      */

void gh_q4_K_to_float_ref(const void *x, float *y, int64_t n) {
    const blk_q4_K *b = x;
    for (int64_t i = 0; i < n / QK_K; i++) {
        float d = FP16(b[i].d), dmin = FP16(b[i].dmin);
        float *out = y + i * QK_K;
        for (int c = 0; c < 4; c++) {
            uint8_t sc0, m0, sc1, m1;
            q4k_scale_min(2 * c, b[i].scales, &sc0, &m0);
            q4k_scale_min(2 * c + 1, b[i].scales, &sc1, &m1);
            const uint8_t *q = b[i].qs + 32 * c;
            for (int l = 0; l < 32; l++) {
                out[64 * c + l] = d * (float)sc0 * (float)(q[l] & 0x0F) - dmin * (float)m0;
                out[64 * c + 32 + l] = d * (float)sc1 * (float)(q[l] >> 4) - dmin * (float)m1;
            }
        }
    }
}

/* Fits v[0..31] ~ a*q - m with q in 0..15, a >= 0, m >= 0: tries a range of
 * step sizes spanning [min(v,0), max(v)], refits (a, m) by least squares for
 * each set of codes, keeps the lowest squared error. */
static void q4k_fit_sub(const float *v, float *a_out, float *m_out) {
    float lo = 0, hi = v[0];
    for (int j = 0; j < 32; j++) { lo = fminf(lo, v[j]); hi = fmaxf(hi, v[j]); }
    if (hi <= lo) { *a_out = 0; *m_out = -lo; return; }
    float best_err = INFINITY, best_a = (hi - lo) / 15, best_m = -lo;
    for (int k = 0; k <= 24; k++) {
        float iscale = (13.0f + 0.125f * (float)k) / (hi - lo);
        float sq = 0, sqq = 0, sx = 0, sxq = 0;
        int q[32];
        for (int j = 0; j < 32; j++) {
            int l = gh_round_ne((v[j] - lo) * iscale);
            q[j] = l < 0 ? 0 : l > 15 ? 15 : l;
            sq += (float)q[j]; sqq += (float)(q[j] * q[j]);
            sx += v[j]; sxq += v[j] * (float)q[j];
        }
        float det = 32 * sqq - sq * sq, a, b;
        if (det <= 0) continue;
        a = (32 * sxq - sq * sx) / det;
        b = (sqq * sx - sq * sxq) / det;
        if (b > 0) { b = 0; a = sxq / sqq; }
        /* a few alternating rounds: codes for (a, b), then (a, b) for the codes */
        for (int it = 0; it < 3 && a > 0; it++) {
            float err = 0;
            for (int j = 0; j < 32; j++) { float e = a * (float)q[j] + b - v[j]; err += e * e; }
            if (err < best_err) { best_err = err; best_a = a; best_m = -b; }
            sq = sqq = sxq = 0;
            for (int j = 0; j < 32; j++) {
                int l = gh_round_ne((v[j] - b) / a);
                q[j] = l < 0 ? 0 : l > 15 ? 15 : l;
                sq += (float)q[j]; sqq += (float)(q[j] * q[j]); sxq += v[j] * (float)q[j];
            }
            det = 32 * sqq - sq * sq;
            if (det <= 0) break;
            a = (32 * sxq - sq * sx) / det;
            b = (sqq * sx - sq * sxq) / det;
            if (b > 0) { b = 0; a = sxq / sqq; }
        }
    }
    *a_out = best_a; *m_out = best_m;
}

void gh_q4_K_from_float_ref(const float *x, void *y, int64_t n) {
    blk_q4_K *b = y;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float *v = x + i * QK_K;
        float a[8], m[8], amax = 0, mmax = 0;
        for (int j = 0; j < 8; j++) {
            q4k_fit_sub(v + 32 * j, &a[j], &m[j]);
            amax = fmaxf(amax, a[j]); mmax = fmaxf(mmax, m[j]);
        }
        uint16_t dh = gh_fp32_to_fp16(amax / 63), mh = gh_fp32_to_fp16(mmax / 63);
        float d = FP16(dh), dmin = FP16(mh);
        uint8_t sc[8], mn[8], q[QK_K];
        for (int j = 0; j < 8; j++) {
            int s = d > 0 ? gh_round_ne(a[j] / d) : 0, t = dmin > 0 ? gh_round_ne(m[j] / dmin) : 0;
            sc[j] = (uint8_t)(s < 0 ? 0 : s > 63 ? 63 : s);
            mn[j] = (uint8_t)(t < 0 ? 0 : t > 63 ? 63 : t);
            float es = d * (float)sc[j], em = dmin * (float)mn[j];
            for (int k = 0; k < 32; k++) {
                int l = es > 0 ? gh_round_ne((v[32 * j + k] + em) / es) : 0;
                q[32 * j + k] = (uint8_t)(l < 0 ? 0 : l > 15 ? 15 : l);
            }
        }
        b[i].d = dh; b[i].dmin = mh;
        for (int j = 0; j < 4; j++) {
            b[i].scales[j] = (uint8_t)(sc[j] | ((sc[j + 4] >> 4) << 6));
            b[i].scales[j + 4] = (uint8_t)(mn[j] | ((mn[j + 4] >> 4) << 6));
            b[i].scales[j + 8] = (uint8_t)((sc[j + 4] & 0x0F) | ((mn[j + 4] & 0x0F) << 4));
        }
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++)
                b[i].qs[32 * c + l] = (uint8_t)(q[64 * c + l] | (q[64 * c + 32 + l] << 4));
    }
}

void gh_vec_dot_q4_K_ref(int64_t n, float *s, const void *x, const void *y) {
    const blk_q4_K *a = x;
    const blk_q8_K *b = y;
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        int32_t isum = 0, imin = 0;
        for (int j = 0; j < 8; j++) {
            uint8_t sc, m;
            q4k_scale_min(j, a[i].scales, &sc, &m);
            const uint8_t *q = a[i].qs + 32 * (j / 2);
            int shift = (j & 1) * 4, dot = 0;
            for (int l = 0; l < 32; l++) dot += ((q[l] >> shift) & 0x0F) * b[i].qs[32 * j + l];
            isum += sc * dot;
            imin += m * (b[i].bsums[2 * j] + b[i].bsums[2 * j + 1]);
        }
        sum += FP16(a[i].d) * b[i].d * (float)isum - FP16(a[i].dmin) * b[i].d * (float)imin;
    }
    *s = sum;
}

/* ------------------------------------------------------------------------ */
/* Q6_K                                                                      */

/* The 6-bit code (0..63) of element e (0..255) of a Q6_K block. Within each
 * half of 128: elements l, l+32, l+64, l+96 (l < 32) share qh[l]'s bit pairs
 * 0-1, 2-3, 4-5, 6-7; their low 4 bits are the low/low/high/high nibbles of
 * ql[l], ql[l+32], ql[l], ql[l+32]. */
static inline int q6k_code(const blk_q6_K *b, int e) {
    int h = e / 128, r = e % 128, k = r / 32, l = r % 32;
    const uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h;
    int lo = (k & 1) ? ql[l + 32] : ql[l];
    lo = (k & 2) ? lo >> 4 : lo & 0x0F;
    return lo | (((qh[l] >> (2 * k)) & 3) << 4);
}

void gh_q6_K_to_float_ref(const void *x, float *y, int64_t n) {
    const blk_q6_K *b = x;
    for (int64_t i = 0; i < n / QK_K; i++) {
        float d = FP16(b[i].d);
        for (int e = 0; e < QK_K; e++)
            y[i * QK_K + e] = d * (float)b[i].scales[e / 16] * (float)(q6k_code(&b[i], e) - 32);
    }
}

/* Signed scale per sub-block of 16 (so the largest magnitude can use -32),
 * searched like Q4_0's; the 16 scales are then quantized to int8 against one
 * fp16 super-scale, and the codes recomputed with the final scales. */
void gh_q6_K_from_float_ref(const float *x, void *y, int64_t n) {
    blk_q6_K *b = y;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float *v = x + i * QK_K;
        float s[16], smax = 0, sabs = 0;
        for (int j = 0; j < 16; j++) {
            const float *u = v + 16 * j;
            float amax = 0, max = 0;
            for (int k = 0; k < 16; k++)
                if (fabsf(u[k]) > amax) { amax = fabsf(u[k]); max = u[k]; }
            s[j] = 0;
            float best_err = INFINITY;
            for (int t = 0; amax > 0 && t <= 16; t++) {
                float iscale = -(28.0f + 0.25f * (float)t) / max;
                float sxq = 0, sqq = 0;
                int q[16];
                for (int k = 0; k < 16; k++) {
                    int l = gh_round_ne(u[k] * iscale);
                    q[k] = l < -32 ? -32 : l > 31 ? 31 : l;
                    sxq += u[k] * (float)q[k]; sqq += (float)(q[k] * q[k]);
                }
                if (sqq == 0) continue;
                float sc = sxq / sqq, err = 0;
                for (int k = 0; k < 16; k++) { float e = u[k] - sc * (float)q[k]; err += e * e; }
                if (err < best_err) { best_err = err; s[j] = sc; }
            }
            if (fabsf(s[j]) > sabs) { sabs = fabsf(s[j]); smax = s[j]; }
        }
        memset(&b[i], 0, sizeof b[i]);
        if (sabs == 0) {
            /* all zero: codes 32 mean 0 */
            for (int e = 0; e < QK_K; e++) {
                int h = e / 128, r = e % 128, k = r / 32, l = r % 32;
                if (k == 0 || k == 1) b[i].ql[64 * h + l + 32 * k] = 0;
                b[i].qh[32 * h + l] |= (uint8_t)(2 << (2 * k));
            }
            continue;
        }
        float iscale = -128.0f / smax;
        uint16_t dh = gh_fp32_to_fp16(1.0f / iscale);
        float d = FP16(dh);
        b[i].d = dh;
        for (int j = 0; j < 16; j++) {
            int q = gh_round_ne(iscale * s[j]);
            b[i].scales[j] = (int8_t)(q < -128 ? -128 : q > 127 ? 127 : q);
        }
        for (int e = 0; e < QK_K; e++) {
            float es = d * (float)b[i].scales[e / 16];
            int l = es != 0 ? gh_round_ne(v[e] / es) : 0;
            l = (l < -32 ? -32 : l > 31 ? 31 : l) + 32;
            int h = e / 128, r = e % 128, k = r / 32, p = r % 32;
            uint8_t *ql = b[i].ql + 64 * h + p + ((k & 1) ? 32 : 0);
            *ql |= (uint8_t)((l & 0x0F) << ((k & 2) ? 4 : 0));
            b[i].qh[32 * h + p] |= (uint8_t)((l >> 4) << (2 * k));
        }
    }
}

void gh_vec_dot_q6_K_ref(int64_t n, float *s, const void *x, const void *y) {
    const blk_q6_K *a = x;
    const blk_q8_K *b = y;
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        int32_t isum = 0;
        for (int j = 0; j < 16; j++) {
            int32_t dot = 0;
            for (int k = 0; k < 16; k++) dot += (q6k_code(&a[i], 16 * j + k) - 32) * b[i].qs[16 * j + k];
            isum += a[i].scales[j] * dot;
        }
        sum += FP16(a[i].d) * b[i].d * (float)isum;
    }
    *s = sum;
}

/* ------------------------------------------------------------------------ */
/* traits and dispatch                                                       */

static gh_type_traits g_traits[GH_TYPE_COUNT];
static const char *g_simd = "scalar";
static bool g_avx2 = false;
static bool g_avx512 = false;
static bool g_amx = false;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void set_traits(gh_type t, const char *name, int64_t bs, size_t ts, bool q,
                       gh_to_float_fn tf, gh_from_float_fn ff, gh_vec_dot_fn vd, gh_type vt) {
    g_traits[t] = (gh_type_traits){
        .name = name, .blck_size = bs, .type_size = ts, .is_quantized = q,
        .to_float = tf, .to_float_ref = tf, .from_float = ff, .from_float_ref = ff,
        .vec_dot = vd, .vec_dot_ref = vd, .vec_dot_type = vt,
    };
}

static void traits_init(void) {
    set_traits(GH_TYPE_F32, "f32", 1, 4, false, gh_f32_to_float, gh_f32_from_float,
               gh_vec_dot_f32_ref, GH_TYPE_F32);
    set_traits(GH_TYPE_F16, "f16", 1, 2, false, gh_f16_to_float_ref, gh_f16_from_float_ref,
               gh_vec_dot_f16_ref, GH_TYPE_F32);
    set_traits(GH_TYPE_BF16, "bf16", 1, 2, false, gh_bf16_to_float_ref, gh_bf16_from_float_ref,
               gh_vec_dot_bf16_ref, GH_TYPE_F32);
    set_traits(GH_TYPE_Q8_0, "q8_0", QK8_0, sizeof(blk_q8_0), true, gh_q8_0_to_float_ref,
               gh_q8_0_from_float_ref, gh_vec_dot_q8_0_ref, GH_TYPE_Q8_0);
    set_traits(GH_TYPE_Q4_0, "q4_0", QK4_0, sizeof(blk_q4_0), true, gh_q4_0_to_float_ref,
               gh_q4_0_from_float_ref, gh_vec_dot_q4_0_ref, GH_TYPE_Q8_0);
    set_traits(GH_TYPE_Q4_K, "q4_K", QK_K, sizeof(blk_q4_K), true, gh_q4_K_to_float_ref,
               gh_q4_K_from_float_ref, gh_vec_dot_q4_K_ref, GH_TYPE_Q8_K);
    set_traits(GH_TYPE_Q6_K, "q6_K", QK_K, sizeof(blk_q6_K), true, gh_q6_K_to_float_ref,
               gh_q6_K_from_float_ref, gh_vec_dot_q6_K_ref, GH_TYPE_Q8_K);
    /* Q8_K exists only as an activation type: no vec_dot of its own. */
    set_traits(GH_TYPE_Q8_K, "q8_K", QK_K, sizeof(blk_q8_K), true, gh_q8_K_to_float_ref,
               gh_q8_K_from_float_ref, NULL, GH_TYPE_Q8_K);

    /* GH_SIMD=scalar forces the reference kernels, GH_SIMD=avx2 leaves the
     * AVX-512 tiles out, GH_SIMD=avx512 leaves AMX out (the results are the
     * same bits either way). */
    const char *env = getenv("GH_SIMD");
    bool force_scalar = env && strcmp(env, "scalar") == 0;
    if (force_scalar || !gh_cpu_has_avx2()) return;
    g_simd = "avx2";
    g_avx2 = true;
    gh_expf_avx2_init(); /* expf's SIMD form, where it matches the C library's */
    if (!(env && strcmp(env, "avx2") == 0) && gh_cpu_has_avx512()) {
        g_simd = "avx512";
        g_avx512 = true;
        if (!(env && strcmp(env, "avx512") == 0) && gh_cpu_has_amx()) {
            g_simd = "amx";
            g_amx = true;
        }
    }
    g_traits[GH_TYPE_F32].vec_dot = gh_vec_dot_f32_avx2;
    g_traits[GH_TYPE_F16].vec_dot = gh_vec_dot_f16_avx2;
    g_traits[GH_TYPE_F16].to_float = gh_f16_to_float_avx2;
    g_traits[GH_TYPE_F16].from_float = gh_f16_from_float_avx2;
    g_traits[GH_TYPE_BF16].vec_dot = gh_vec_dot_bf16_avx2;
    g_traits[GH_TYPE_BF16].to_float = gh_bf16_to_float_avx2;
    g_traits[GH_TYPE_BF16].from_float = gh_bf16_from_float_avx2;
    g_traits[GH_TYPE_Q8_0].vec_dot = gh_vec_dot_q8_0_avx2;
    g_traits[GH_TYPE_Q8_0].from_float = gh_q8_0_from_float_avx2;
    g_traits[GH_TYPE_Q4_0].vec_dot = gh_vec_dot_q4_0_avx2;
    g_traits[GH_TYPE_Q4_K].vec_dot = gh_vec_dot_q4_K_avx2;
    g_traits[GH_TYPE_Q6_K].vec_dot = gh_vec_dot_q6_K_avx2;
    g_traits[GH_TYPE_Q8_K].from_float = gh_q8_K_from_float_avx2;
}

const gh_type_traits *gh_get_type_traits(gh_type t) {
    pthread_once(&g_once, traits_init);
    if ((int)t < 0 || t >= GH_TYPE_COUNT || g_traits[t].name == NULL) return NULL;
    return &g_traits[t];
}

bool gh_kernels_use_avx2(void) {
    pthread_once(&g_once, traits_init);
    return g_avx2;
}

bool gh_kernels_use_amx(void) {
    pthread_once(&g_once, traits_init);
    return g_amx;
}

bool gh_kernels_use_avx512(void) {
    pthread_once(&g_once, traits_init);
    return g_avx512;
}

const char *gh_kernels_simd_name(void) {
    pthread_once(&g_once, traits_init);
    return g_simd;
}

/* ------------------------------------------------------------------------ */
/* small helpers for the forward pass                                        */

float gh_dot_f32(const float *a, const float *b, int64_t n) {
    pthread_once(&g_once, traits_init);
    if (g_avx2) return gh_dot_f32_avx2(a, b, n);
    float s = 0;
    for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

void gh_axpy_f32(float *y, float a, const float *x, int64_t n) {
    pthread_once(&g_once, traits_init);
    if (g_avx2) { gh_axpy_f32_avx2(y, a, x, n); return; }
    for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}

void gh_swiglu_f32_ref(float *g, const float *u, int64_t n) {
    for (int64_t i = 0; i < n; i++) g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

void gh_swiglu_f32(float *g, const float *u, int64_t n) {
    pthread_once(&g_once, traits_init);
    if (g_avx512 && gh_expf_avx2_ok()) gh_swiglu_f32_avx512(g, u, n);
    else if (g_avx2) gh_swiglu_f32_avx2(g, u, n);
    else gh_swiglu_f32_ref(g, u, n);
}

void gh_expf_f32(float *y, const float *x, int64_t n) {
    pthread_once(&g_once, traits_init);
    if (g_avx512 && gh_expf_avx2_ok()) { gh_expf_f32_avx512(y, x, n); return; }
    if (g_avx2) { gh_expf_f32_avx2(y, x, n); return; }
    for (int64_t i = 0; i < n; i++) y[i] = expf(x[i]);
}

void gh_attend_f32_ref(float *out, const float *q, int32_t G, const gh_kv_view *kv, int32_t n, int32_t hd,
                       float scale, float *scores) {
    for (int32_t g = 0; g < G; g++) {
        const float *qg = q + (size_t)g * hd;
        float mx = -INFINITY, sum = 0.0f;
        for (int32_t p = 0; p < n; p++) {
            float s = gh_dot_f32(qg, GH_KV_K(kv, p), hd) * scale;
            scores[p] = s;
            if (s > mx) mx = s;
        }
        for (int32_t p = 0; p < n; p++) {
            scores[p] = expf(scores[p] - mx);
            sum += scores[p];
        }
        float *o = out + (size_t)g * hd;
        memset(o, 0, (size_t)hd * sizeof *o);
        for (int32_t p = 0; p < n; p++) gh_axpy_f32(o, scores[p] / sum, GH_KV_V(kv, p), hd);
    }
}

void gh_attend_f32(float *out, const float *q, int32_t G, const gh_kv_view *kv, int32_t n, int32_t hd, float scale,
                   float *scores) {
    pthread_once(&g_once, traits_init);
    if (g_avx2) gh_attend_f32_avx2(out, q, G, kv, n, hd, scale, scores);
    else gh_attend_f32_ref(out, q, G, kv, n, hd, scale, scores);
}
