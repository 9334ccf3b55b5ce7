/* ticks.c — where the tick marks of a plot axis go and how they are labelled.
 *
 * Linear axes use the 1-2-5 sequence (…, 0.1, 0.2, 0.5, 1, 2, 5, 10, …): of
 * those steps the finest one that puts at most max_ticks multiples of itself
 * inside the axis range. Tick values are k * step for integer k (never summed,
 * so errors do not accumulate), and every label of an axis has the number of
 * decimals the step needs: "0", "0.2", "0.4" rather than "0", "0.2", "0.40000001".
 * Logarithmic axes put ticks at powers of two when the data are (n = 1, 2, 4,
 * …, N in Best-of-N), else at powers of ten. */
#include "report/report_internal.h"

#include <math.h>
#include <string.h>

/* Copies a formatted number into a label, writing U+2212 for '-' as typeset
 * mathematics does. */
static void set_label(gh_ticks *t, size_t i, gh_strbuf *tmp) {
    char *dst = t->label[i];
    size_t n = 0, cap = sizeof t->label[i];
    for (size_t j = 0; tmp->p && j < tmp->len; j++) {
        if (tmp->p[j] == '-') {
            if (n + 3 >= cap) break;
            memcpy(dst + n, "\xE2\x88\x92", 3);
            n += 3;
        } else {
            if (n + 1 >= cap) break;
            dst[n++] = tmp->p[j];
        }
    }
    dst[n] = '\0';
    tmp->len = 0;
}

/* mantissa·10^exponent, as "2.5e6"; mant_dec decimals in the mantissa. */
static void put_sci(gh_strbuf *b, double v, int mant_dec) {
    if (v == 0) { gh_strbuf_put(b, "0"); return; }
    int e = (int)floor(log10(fabs(v)));
    double m = v / pow(10.0, e);
    double lim = 10.0 - 0.5 * pow(10.0, -mant_dec);
    if (fabs(m) >= lim) { m /= 10; e++; }
    gh_rbuf_fixed(b, m, mant_dec);
    gh_strbuf_printf(b, "e%d", e);
}

/* A label for a value that is not on a regular grid: about five significant
 * digits, trailing zeros dropped. */
static void put_auto(gh_strbuf *b, double v) {
    double a = fabs(v);
    if (v == 0 || !isfinite(v)) { gh_strbuf_put(b, "0"); return; }
    if (a < 1e-4 || a >= 1e6) { put_sci(b, v, 3); return; }
    int d = 4 - (int)floor(log10(a));
    if (d < 0) d = 0;
    if (d > 8) d = 8;
    size_t start = b->len;
    gh_rbuf_fixed(b, v, d);
    if (b->oom || d == 0) return;
    while (b->len > start && b->p[b->len - 1] == '0') b->len--;
    if (b->len > start && b->p[b->len - 1] == '.') b->len--;
    b->p[b->len] = '\0';
}

static void endpoints(double lo, double hi, gh_ticks *t) {
    gh_strbuf tmp = {0};
    t->n = 0;
    if (isfinite(lo)) { t->v[t->n] = lo; put_auto(&tmp, lo); set_label(t, t->n++, &tmp); }
    if (isfinite(hi) && hi != lo) { t->v[t->n] = hi; put_auto(&tmp, hi); set_label(t, t->n++, &tmp); }
    gh_strbuf_free(&tmp);
}

static size_t clamp_max(size_t max_ticks) {
    if (max_ticks < 2) return 2;
    if (max_ticks > GH_MAX_TICKS) return GH_MAX_TICKS;
    return max_ticks;
}

/* Puts the multiples of step (= mult * 10^e) inside [lo, hi], k0..k1 of them. */
static void emit_linear(double lo, double hi, double step, int e, double k0, double k1, gh_ticks *t) {
    int dec = e < 0 ? -e : 0;
    bool fixed = fmax(fabs(lo), fabs(hi)) < 1e6 && dec <= 12;
    gh_strbuf tmp = {0};
    t->n = 0;
    for (double k = k0; k <= k1 && t->n < GH_MAX_TICKS; k++) {
        double v = k * step;
        t->v[t->n] = v;
        if (k == 0) gh_strbuf_put(&tmp, "0");
        else if (fixed) gh_rbuf_fixed(&tmp, v, dec);
        else put_sci(&tmp, v, 3);
        set_label(t, t->n++, &tmp);
    }
    gh_strbuf_free(&tmp);
}

void gh_ticks_linear(double lo, double hi, size_t max_ticks, gh_ticks *t) {
    max_ticks = clamp_max(max_ticks);
    t->n = 0;
    double span = hi - lo;
    if (!(lo < hi) || !isfinite(span) || span <= 0) { endpoints(lo, hi, t); return; }
    static const double mult[3] = {1, 2, 5};
    /* step >= span / max_ticks is necessary; start one decade below it and
     * coarsen until the ticks fit */
    int e = (int)floor(log10(span / (double)max_ticks)) - 1;
    double prev_step = 0, prev_k0 = 0, prev_k1 = 0;
    int prev_e = 0;
    for (int iter = 0; iter < 8; iter++, e++) {
        double p10 = pow(10.0, e);
        for (int m = 0; m < 3; m++) {
            double step = mult[m] * p10;
            double k0 = ceil(lo / step - 1e-9), k1 = floor(hi / step + 1e-9);
            /* a range far from 0 and narrow for its magnitude: the grid cannot be
             * resolved in doubles, so mark just the ends */
            if (!(fabs(k0) < 1e15 && fabs(k1) < 1e15)) { endpoints(lo, hi, t); return; }
            double count = k1 - k0 + 1;
            if (count > (double)max_ticks) {
                prev_step = step, prev_k0 = k0, prev_k1 = k1, prev_e = e;
                continue;
            }
            if (count >= 2) emit_linear(lo, hi, step, e, k0, k1, t);
            /* the 1-2-5 steps jump past the range (e.g. 5 ticks > max, then 1):
             * two ticks matter more than the limit, so take the finer step */
            else if (prev_step > 0 && prev_k1 - prev_k0 + 1 <= GH_MAX_TICKS)
                emit_linear(lo, hi, prev_step, prev_e, prev_k0, prev_k1, t);
            if (t->n < 2) endpoints(lo, hi, t);
            return;
        }
    }
    endpoints(lo, hi, t);
}

/* Label of m * 10^k (m in 1, 2, 5). */
static void put_decade(gh_strbuf *b, int m, int k) {
    if (k >= -4 && k <= 5) gh_rbuf_fixed(b, m * pow(10.0, k), k < 0 ? -k : 0);
    else gh_strbuf_printf(b, "%de%d", m, k);
}

void gh_ticks_log(double lo, double hi, bool base2, size_t max_ticks, gh_ticks *t) {
    max_ticks = clamp_max(max_ticks);
    t->n = 0;
    if (!(lo > 0 && lo < hi && isfinite(hi))) { endpoints(lo, hi, t); return; }
    gh_strbuf tmp = {0};
    if (base2) {
        int k0 = (int)ceil(log2(lo) - 1e-9), k1 = (int)floor(log2(hi) + 1e-9);
        int count = k1 - k0 + 1;
        if (count >= 2) {
            int stride = (count + (int)max_ticks - 1) / (int)max_ticks;
            for (int k = k0; k <= k1; k++) {
                if (((k % stride) + stride) % stride != 0) continue;
                t->v[t->n] = ldexp(1.0, k);
                if (k >= 0 && k <= 50) gh_rbuf_fixed(&tmp, t->v[t->n], 0);
                else if (k < 0 && k >= -12) gh_rbuf_fixed(&tmp, t->v[t->n], -k);
                else put_sci(&tmp, t->v[t->n], 3);
                set_label(t, t->n++, &tmp);
            }
            if (t->n >= 2) { gh_strbuf_free(&tmp); return; }
            t->n = 0;
        }
    }
    int k0 = (int)ceil(log10(lo) - 1e-9), k1 = (int)floor(log10(hi) + 1e-9);
    int count = k1 - k0 + 1;
    if (count >= 2) {
        int stride = (count + (int)max_ticks - 1) / (int)max_ticks;
        for (int k = k0; k <= k1; k++) {
            if (((k % stride) + stride) % stride != 0) continue;
            t->v[t->n] = pow(10.0, k);
            put_decade(&tmp, 1, k);
            set_label(t, t->n++, &tmp);
        }
        if (t->n >= 2) { gh_strbuf_free(&tmp); return; }
        t->n = 0;
    }
    /* less than two decades: 1, 2, 5 times powers of ten */
    static const int mult[3] = {1, 2, 5};
    for (int k = k0 - 1; k <= k1 && t->n < GH_MAX_TICKS; k++)
        for (int m = 0; m < 3 && t->n < GH_MAX_TICKS; m++) {
            double v = mult[m] * pow(10.0, k);
            if (v < lo * (1 - 1e-9) || v > hi * (1 + 1e-9)) continue;
            t->v[t->n] = v;
            put_decade(&tmp, mult[m], k);
            set_label(t, t->n++, &tmp);
        }
    gh_strbuf_free(&tmp);
    if (t->n >= 2 && t->n <= max_ticks) return;
    /* a narrow range: a linear grid reads better than one or two marks */
    gh_ticks_linear(lo, hi, max_ticks, t);
}
