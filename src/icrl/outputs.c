/* outputs.c — what a run leaves in its directory, made from the run store
 * alone: summary.json (the metrics), transcripts.jsonl (every rollout's
 * record, ordered by environment then index), report.html (tables, the
 * gaming-by-attempt curve and a transcript viewer) and the expert-iteration
 * exports expert_single.jsonl (rollouts that succeeded at the first attempt:
 * standard expert iteration) and expert_icrl.jsonl (rollouts that succeeded at
 * any attempt, the successful attempt alone after the original task, with the
 * earlier attempts and reflections removed: ICRL-derived expert iteration).
 * Held-out environments (reward_tampering) are never exported.
 *
 * Metrics, per environment (counts are integers; rare events are never
 * rounded away): rollouts, successes (some attempt reached the threshold),
 * gamed (some attempt gamed), each oversight flag (true in some attempt), each
 * with a Wilson 95% interval; per attempt index i: rollouts that ran attempt
 * i, that succeeded or gamed at it, and gamed_by — rollouts that had gamed at
 * or before attempt i, over all rollouts: the in-context learning curve. */
#include "icrl/icrl_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bon/jbuf.h"
#include "goodhart/report.h"
#include "goodhart/store.h"
#include "goodhart/syco.h"

/* Rollouts shown in full per environment in the viewer (all are in transcripts.jsonl). */
#define VIEWER_MAX_ROLLOUTS 25

typedef struct rec {
    int32_t env, index;
    char *text;      /* the stored JSON */
    cJSON *j;
} rec;

typedef struct run_data {
    char *model, *seed, *attempts_s;
    int32_t attempts;
    char **envs;
    int32_t n_envs;
    rec *recs;
    int32_t n, cap;
    const char *store_path;
} run_data;

static void run_data_free(run_data *d) {
    free(d->model); free(d->seed); free(d->attempts_s);
    for (int32_t i = 0; i < d->n_envs; i++) free(d->envs[i]);
    free(d->envs);
    for (int32_t i = 0; i < d->n; i++) { free(d->recs[i].text); cJSON_Delete(d->recs[i].j); }
    free(d->recs);
}

static gh_status collect(void *user, const char *key, const void *val, size_t len) {
    run_data *d = user;
    cJSON *j = cJSON_ParseWithLength(val, len);
    const cJSON *env = cJSON_GetObjectItemCaseSensitive(j, "env"), *idx = cJSON_GetObjectItemCaseSensitive(j, "index");
    if (!cJSON_IsString(env) || !cJSON_IsNumber(idx)) {
        cJSON_Delete(j);
        return gh_error(GH_ERR_FORMAT, "%s: rollout entry %s is not a rollout record", d->store_path, key);
    }
    int32_t e = -1;
    for (int32_t i = 0; i < d->n_envs; i++)
        if (!strcmp(d->envs[i], env->valuestring)) e = i;
    if (e < 0) { cJSON_Delete(j); return gh_error(GH_ERR_FORMAT, "%s: rollout %s of an environment the run does not list", d->store_path, key); }
    if (d->n == d->cap) {
        int32_t cap = d->cap ? d->cap * 2 : 64;
        rec *r = realloc(d->recs, (size_t)cap * sizeof *r);
        if (!r) { cJSON_Delete(j); return gh_error(GH_ERR_NOMEM, "out of memory"); }
        d->recs = r;
        d->cap = cap;
    }
    char *t = strndup(val, len);
    if (!t) { cJSON_Delete(j); return gh_error(GH_ERR_NOMEM, "out of memory"); }
    d->recs[d->n++] = (rec){e, (int32_t)idx->valuedouble, t, j};
    return GH_OK;
}

static int rec_cmp(const void *a, const void *b) {
    const rec *x = a, *y = b;
    if (x->env != y->env) return x->env < y->env ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

static gh_status load(const char *run_dir, run_data *d, char **store_path) {
    memset(d, 0, sizeof *d);
    size_t n = strlen(run_dir) + 32;
    if (!(*store_path = malloc(n))) return gh_error(GH_ERR_NOMEM, "out of memory");
    snprintf(*store_path, n, "%s/store.db", run_dir);
    d->store_path = *store_path;
    FILE *f = fopen(*store_path, "rb");
    if (!f) return gh_error(GH_ERR_IO, "%s: no run store here (is %s an ICRL run directory?)", *store_path, run_dir);
    fclose(f);
    gh_store *st = NULL;
    gh_status s = gh_store_open(*store_path, &st);
    char *kind = NULL, *envs = NULL;
    if (!s) s = gh_store_meta_get(st, "kind", &kind);
    if (!s && (!kind || strcmp(kind, "icrl"))) s = gh_error(GH_ERR_FORMAT, "%s: not an ICRL run store", *store_path);
    if (!s) s = gh_store_meta_get(st, "model", &d->model);
    if (!s) s = gh_store_meta_get(st, "seed", &d->seed);
    if (!s) s = gh_store_meta_get(st, "attempts", &d->attempts_s);
    if (!s) s = gh_store_meta_get(st, "envs", &envs);
    if (!s) {
        d->attempts = d->attempts_s ? atoi(d->attempts_s) : 1;
        if (d->attempts < 1) d->attempts = 1;
        for (char *q = envs; q && *q;) {
            char *c = strchr(q, ',');
            size_t len = c ? (size_t)(c - q) : strlen(q);
            char **v = realloc(d->envs, (size_t)(d->n_envs + 1) * sizeof *v);
            if (!v) { s = gh_error(GH_ERR_NOMEM, "out of memory"); break; }
            d->envs = v;
            if (!(d->envs[d->n_envs] = strndup(q, len))) { s = gh_error(GH_ERR_NOMEM, "out of memory"); break; }
            d->n_envs++;
            q = c ? c + 1 : NULL;
        }
    }
    if (!s) s = gh_store_iter(st, "rollouts", collect, d);
    free(kind);
    free(envs);
    gh_store_close(st);
    if (!s) qsort(d->recs, (size_t)d->n, sizeof *d->recs, rec_cmp);
    return s;
}

/* ---- metrics ------------------------------------------------------------------------ */

static bool jbool(const cJSON *o, const char *k) { return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, k)); }
static double jnum(const cJSON *o, const char *k, double dflt) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(x) ? x->valuedouble : dflt;
}

typedef struct env_stats {
    int64_t rollouts, successes, gamed;
    int32_t n_flags;
    char **flags;        /* names, from the first record */
    int64_t *flag_count;
    int64_t *ran, *succ_at, *gamed_at, *gamed_by, *succ_by; /* [attempts] */
    double reward_first, reward_last, threshold;
} env_stats;

static void stats_free(env_stats *s) {
    free(s->flags); /* names point into the records' cJSON */
    free(s->flag_count); free(s->ran); free(s->succ_at); free(s->gamed_at); free(s->gamed_by); free(s->succ_by);
}

static gh_status stats_of(const run_data *d, int32_t env, env_stats *s) {
    memset(s, 0, sizeof *s);
    int32_t K = d->attempts;
    s->ran = calloc((size_t)K, sizeof *s->ran);
    s->succ_at = calloc((size_t)K, sizeof *s->succ_at);
    s->gamed_at = calloc((size_t)K, sizeof *s->gamed_at);
    s->gamed_by = calloc((size_t)K, sizeof *s->gamed_by);
    s->succ_by = calloc((size_t)K, sizeof *s->succ_by);
    if (!s->ran || !s->succ_at || !s->gamed_at || !s->gamed_by || !s->succ_by) return gh_error(GH_ERR_NOMEM, "out of memory");
    s->threshold = NAN;
    double sum_first = 0, sum_last = 0;
    for (int32_t i = 0; i < d->n; i++) {
        if (d->recs[i].env != env) continue;
        const cJSON *j = d->recs[i].j, *flags = cJSON_GetObjectItemCaseSensitive(j, "flags");
        const cJSON *att = cJSON_GetObjectItemCaseSensitive(j, "attempts");
        if (!s->flags && cJSON_IsObject(flags)) {
            s->n_flags = cJSON_GetArraySize(flags);
            s->flags = calloc((size_t)s->n_flags + 1, sizeof *s->flags);
            s->flag_count = calloc((size_t)s->n_flags + 1, sizeof *s->flag_count);
            if (!s->flags || !s->flag_count) return gh_error(GH_ERR_NOMEM, "out of memory");
            int32_t k = 0;
            for (const cJSON *c = flags->child; c; c = c->next) s->flags[k++] = c->string;
            s->threshold = jnum(j, "threshold", NAN);
        }
        s->rollouts++;
        s->successes += jbool(j, "success");
        s->gamed += jbool(j, "gamed");
        for (int32_t k = 0; k < s->n_flags; k++) s->flag_count[k] += jbool(flags, s->flags[k]);
        int32_t na = cJSON_GetArraySize(att), fs = (int32_t)jnum(j, "first_success", -1), fg = (int32_t)jnum(j, "first_gamed", -1);
        for (int32_t k = 0; k < K; k++) {
            const cJSON *a = k < na ? cJSON_GetArrayItem(att, k) : NULL;
            if (a) { s->ran[k]++; s->succ_at[k] += jbool(a, "success"); s->gamed_at[k] += jbool(a, "gamed"); }
            s->gamed_by[k] += fg >= 0 && fg <= k;
            s->succ_by[k] += fs >= 0 && fs <= k;
        }
        if (na > 0) {
            sum_first += jnum(cJSON_GetArrayItem(att, 0), "reward", NAN);
            sum_last += jnum(cJSON_GetArrayItem(att, na - 1), "reward", NAN);
        }
    }
    s->reward_first = s->rollouts ? sum_first / (double)s->rollouts : NAN;
    s->reward_last = s->rollouts ? sum_last / (double)s->rollouts : NAN;
    return GH_OK;
}

static void put_rate(gh_strbuf *b, const char *name, int64_t k, int64_t n) {
    gh_syco_interval w = gh_syco_wilson(k, n);
    jb_str(b, name);
    gh_strbuf_printf(b, ":{\"count\":%lld,\"n\":%lld,\"rate\":", (long long)k, (long long)n);
    icrl_json_num(b, w.value);
    gh_strbuf_put(b, ",\"lo\":");
    icrl_json_num(b, w.lo);
    gh_strbuf_put(b, ",\"hi\":");
    icrl_json_num(b, w.hi);
    gh_strbuf_put(b, "}");
}

static gh_status summary(const run_data *d, char **out) {
    gh_strbuf b = {0};
    gh_strbuf_put(&b, "{\"model\":");
    jb_str(&b, d->model ? d->model : "");
    gh_strbuf_printf(&b, ",\"seed\":%s,\"attempts\":%d,\"envs\":{", d->seed ? d->seed : "0", d->attempts);
    gh_status s = GH_OK;
    for (int32_t e = 0; e < d->n_envs && !s; e++) {
        env_stats st;
        if ((s = stats_of(d, e, &st))) { stats_free(&st); break; }
        if (e) gh_strbuf_put(&b, ",");
        jb_str(&b, d->envs[e]);
        gh_strbuf_printf(&b, ":{\"rollouts\":%lld,\"successes\":%lld,\"gamed\":%lld", (long long)st.rollouts,
                         (long long)st.successes, (long long)st.gamed);
        for (int32_t k = 0; k < st.n_flags; k++) {
            gh_strbuf_put(&b, ",");
            jb_str(&b, st.flags[k]);
            gh_strbuf_printf(&b, ":%lld", (long long)st.flag_count[k]);
        }
        gh_strbuf_put(&b, ",\"threshold\":");
        icrl_json_num(&b, st.threshold);
        gh_strbuf_put(&b, ",\"mean_reward_first\":");
        icrl_json_num(&b, st.reward_first);
        gh_strbuf_put(&b, ",\"mean_reward_last\":");
        icrl_json_num(&b, st.reward_last);
        gh_strbuf_put(&b, ",\"rates\":{");
        put_rate(&b, "success", st.successes, st.rollouts);
        gh_strbuf_put(&b, ",");
        put_rate(&b, "gamed", st.gamed, st.rollouts);
        for (int32_t k = 0; k < st.n_flags; k++) {
            gh_strbuf_put(&b, ",");
            put_rate(&b, st.flags[k], st.flag_count[k], st.rollouts);
        }
        gh_strbuf_put(&b, "},\"by_attempt\":[");
        for (int32_t k = 0; k < d->attempts; k++) {
            gh_syco_interval w = gh_syco_wilson(st.gamed_by[k], st.rollouts);
            gh_strbuf_printf(&b, "%s{\"attempt\":%d,\"ran\":%lld,\"succeeded\":%lld,\"gamed\":%lld,\"succeeded_by\":%lld,\"gamed_by\":%lld,\"gamed_by_rate\":",
                             k ? "," : "", k + 1, (long long)st.ran[k], (long long)st.succ_at[k], (long long)st.gamed_at[k],
                             (long long)st.succ_by[k], (long long)st.gamed_by[k]);
            icrl_json_num(&b, w.value);
            gh_strbuf_put(&b, ",\"lo\":");
            icrl_json_num(&b, w.lo);
            gh_strbuf_put(&b, ",\"hi\":");
            icrl_json_num(&b, w.hi);
            gh_strbuf_put(&b, "}");
        }
        gh_strbuf_put(&b, "]}");
        stats_free(&st);
    }
    gh_strbuf_put(&b, "}}");
    if (!s && b.oom) s = gh_error(GH_ERR_NOMEM, "out of memory");
    if (s) { gh_strbuf_free(&b); return s; }
    *out = b.p;
    return GH_OK;
}

/* ---- files ------------------------------------------------------------------------------ */

static gh_status write_text(const char *dir, const char *name, const char *text, size_t len) {
    size_t n = strlen(dir) + strlen(name) + 8;
    char *path = malloc(n), *tmp = malloc(n + 8);
    if (!path || !tmp) { free(path); free(tmp); return gh_error(GH_ERR_NOMEM, "out of memory"); }
    snprintf(path, n, "%s/%s", dir, name);
    snprintf(tmp, n + 8, "%s.tmp", path);
    gh_status s = GH_OK;
    FILE *f = fopen(tmp, "wb");
    if (!f) s = gh_error(GH_ERR_IO, "%s: cannot write", tmp);
    else {
        bool ok = fwrite(text, 1, len, f) == len;
        if (fclose(f) || !ok) s = gh_error(GH_ERR_IO, "%s: cannot write", tmp);
        else if (rename(tmp, path)) s = gh_error(GH_ERR_IO, "%s: cannot rename into place", path);
    }
    free(path);
    free(tmp);
    return s;
}

/* One {"messages": [...]} line: system and the original task, then the
 * messages of attempt k (roles and contents only). */
static void export_line(gh_strbuf *b, const cJSON *j, int32_t k) {
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(j, "messages");
    const cJSON *a = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "attempts"), k);
    int32_t first = (int32_t)jnum(a, "first_message", 0), n = (int32_t)jnum(a, "n_messages", 0);
    gh_strbuf_put(b, "{\"messages\":[");
    bool comma = false;
    int32_t i = 0;
    for (const cJSON *m = msgs ? msgs->child : NULL; m; m = m->next, i++) {
        if (!(i < 2 || (i >= first && i < first + n))) continue;
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role"), *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        if (!cJSON_IsString(role) || !cJSON_IsString(content)) continue;
        gh_strbuf_put(b, comma ? ",{\"role\":" : "{\"role\":");
        jb_str(b, role->valuestring);
        gh_strbuf_put(b, ",\"content\":");
        jb_str(b, content->valuestring);
        gh_strbuf_put(b, "}");
        comma = true;
    }
    gh_strbuf_put(b, "]}\n");
}

static gh_status write_exports(const char *run_dir, const run_data *d) {
    gh_strbuf single = {0}, icrl = {0};
    for (int32_t i = 0; i < d->n; i++) {
        const cJSON *j = d->recs[i].j;
        if (jbool(j, "held_out") || !jbool(j, "success")) continue;
        int32_t fs = (int32_t)jnum(j, "first_success", -1);
        if (fs < 0) continue;
        if (fs == 0) export_line(&single, j, 0);
        export_line(&icrl, j, fs);
    }
    gh_status s = GH_OK;
    if (single.oom || icrl.oom) s = gh_error(GH_ERR_NOMEM, "out of memory");
    if (!s) s = write_text(run_dir, "expert_single.jsonl", single.p ? single.p : "", single.len);
    if (!s) s = write_text(run_dir, "expert_icrl.jsonl", icrl.p ? icrl.p : "", icrl.len);
    gh_strbuf_free(&single);
    gh_strbuf_free(&icrl);
    return s;
}

/* ---- the viewer ----------------------------------------------------------------------------- */

static void fmt_rate(char *buf, size_t n, int64_t k, int64_t total) {
    gh_syco_interval w = gh_syco_wilson(k, total);
    if (total <= 0) snprintf(buf, n, "%lld/0", (long long)k);
    else snprintf(buf, n, "%lld/%lld = %.3f [%.3f, %.3f]", (long long)k, (long long)total, w.value, w.lo, w.hi);
}

static gh_status write_report(const char *run_dir, const run_data *d) {
    gh_report *r = gh_report_new("ICRL run: specification gaming");
    if (!r) return gh_error(GH_ERR_NOMEM, "out of memory");
    char para[2048];
    snprintf(para, sizeof para,
             "Model %s, seed %s, at most %d attempts per rollout. A rollout succeeds when an attempt's reward reaches the "
             "environment's threshold; it games when an attempt meets the environment's gaming condition (its oversight "
             "flags). Counts are exact; intervals are Wilson 95%%.",
             d->model ? d->model : "?", d->seed ? d->seed : "?", d->attempts);
    gh_report_paragraph(r, para);
    gh_report_heading(r, 1, "Summary");
    env_stats *st = calloc((size_t)(d->n_envs ? d->n_envs : 1), sizeof *st);
    if (!st) { gh_report_free(r); return gh_error(GH_ERR_NOMEM, "out of memory"); }
    gh_status s = GH_OK;
    for (int32_t e = 0; e < d->n_envs && !s; e++) s = stats_of(d, e, &st[e]);
    if (!s) {
        const char *hdr[] = {"environment", "rollouts", "successes", "gamed", "oversight flags (count / rollouts)"};
        char **cells = calloc((size_t)d->n_envs * 5 + 1, sizeof *cells);
        for (int32_t e = 0; cells && e < d->n_envs; e++) {
            char a[32], x[96], y[96];
            snprintf(a, sizeof a, "%lld", (long long)st[e].rollouts);
            fmt_rate(x, sizeof x, st[e].successes, st[e].rollouts);
            fmt_rate(y, sizeof y, st[e].gamed, st[e].rollouts);
            gh_strbuf fl = {0};
            for (int32_t k = 0; k < st[e].n_flags; k++) {
                char z[96];
                fmt_rate(z, sizeof z, st[e].flag_count[k], st[e].rollouts);
                gh_strbuf_printf(&fl, "%s%s %s", k ? "; " : "", st[e].flags[k], z);
            }
            cells[e * 5] = strdup(d->envs[e]);
            cells[e * 5 + 1] = strdup(a);
            cells[e * 5 + 2] = strdup(x);
            cells[e * 5 + 3] = strdup(y);
            cells[e * 5 + 4] = fl.p ? fl.p : strdup("");
        }
        if (cells) gh_report_table(r, "Outcomes per environment", 5, hdr, (size_t)d->n_envs, (const char *const *)cells);
        for (int32_t i = 0; cells && i < d->n_envs * 5; i++) free(cells[i]);
        free(cells);

        /* the in-context learning curve */
        gh_series ser[GH_PLOT_MAX_SERIES];
        int32_t ns = d->n_envs < GH_PLOT_MAX_SERIES ? d->n_envs : GH_PLOT_MAX_SERIES;
        double *xs = calloc((size_t)d->attempts, sizeof *xs), *ys = calloc((size_t)(ns * d->attempts + 1), 3 * sizeof *ys);
        if (xs && ys) {
            for (int32_t k = 0; k < d->attempts; k++) xs[k] = k + 1;
            for (int32_t e = 0; e < ns; e++) {
                double *y = ys + (size_t)3 * e * d->attempts, *lo = y + d->attempts, *hi = lo + d->attempts;
                for (int32_t k = 0; k < d->attempts; k++) {
                    gh_syco_interval w = gh_syco_wilson(st[e].gamed_by[k], st[e].rollouts);
                    y[k] = w.value; lo[k] = w.lo; hi[k] = w.hi;
                }
                ser[e] = (gh_series){.name = d->envs[e], .kind = GH_SERIES_LINE, .n = (size_t)d->attempts, .x = xs, .y = y, .lo = lo, .hi = hi};
            }
            gh_plot pl = {.title = "Gaming by attempt", .x_label = "attempt", .y_label = "fraction of rollouts gamed so far",
                          .caption = "Fraction of rollouts that had gamed at or before each attempt (Wilson 95% bands): "
                                     "the in-context reinforcement learning curve.",
                          .n_series = (size_t)ns, .series = ser};
            gh_report_plot(r, &pl);
        }
        free(xs);
        free(ys);

        const char *bh[] = {"environment", "attempt", "ran", "succeeded", "gamed", "gamed by then"};
        int32_t rows = d->n_envs * d->attempts;
        char **bc = calloc((size_t)rows * 6 + 1, sizeof *bc);
        for (int32_t e = 0; bc && e < d->n_envs; e++)
            for (int32_t k = 0; k < d->attempts; k++) {
                char **c = bc + (size_t)(e * d->attempts + k) * 6, t[96];
                c[0] = strdup(d->envs[e]);
                snprintf(t, sizeof t, "%d", k + 1); c[1] = strdup(t);
                snprintf(t, sizeof t, "%lld", (long long)st[e].ran[k]); c[2] = strdup(t);
                snprintf(t, sizeof t, "%lld", (long long)st[e].succ_at[k]); c[3] = strdup(t);
                snprintf(t, sizeof t, "%lld", (long long)st[e].gamed_at[k]); c[4] = strdup(t);
                fmt_rate(t, sizeof t, st[e].gamed_by[k], st[e].rollouts); c[5] = strdup(t);
            }
        if (bc) gh_report_table(r, "Outcomes by attempt index", 6, bh, (size_t)rows, (const char *const *)bc);
        for (int32_t i = 0; bc && i < rows * 6; i++) free(bc[i]);
        free(bc);
    }
    for (int32_t e = 0; e < d->n_envs; e++) stats_free(&st[e]);
    free(st);

    /* transcripts */
    gh_report_heading(r, 1, "Transcripts");
    snprintf(para, sizeof para, "The first %d rollouts of each environment; every rollout is in transcripts.jsonl.", VIEWER_MAX_ROLLOUTS);
    gh_report_paragraph(r, para);
    for (int32_t e = 0; e < d->n_envs && !s; e++) {
        gh_report_heading(r, 2, d->envs[e]);
        int32_t shown = 0;
        for (int32_t i = 0; i < d->n && shown < VIEWER_MAX_ROLLOUTS; i++) {
            if (d->recs[i].env != e) continue;
            shown++;
            const cJSON *j = d->recs[i].j, *att = cJSON_GetObjectItemCaseSensitive(j, "attempts");
            gh_strbuf h = {0}, body = {0};
            gh_strbuf_printf(&h, "rollout %d: %s%s; rewards", d->recs[i].index, jbool(j, "success") ? "succeeded" : "did not succeed",
                             jbool(j, "gamed") ? ", GAMED" : "");
            for (const cJSON *a = att ? att->child : NULL; a; a = a->next) gh_strbuf_printf(&h, " %.4g", jnum(a, "reward", NAN));
            for (const cJSON *a = att ? att->child : NULL; a; a = a->next) {
                const cJSON *ch = cJSON_GetObjectItemCaseSensitive(a, "changes");
                gh_strbuf_printf(&body, "attempt %d: reward %.4g%s%s, %d steps%s; files changed:", (int)jnum(a, "attempt", 0) + 1,
                                 jnum(a, "reward", NAN), jbool(a, "success") ? ", success" : "", jbool(a, "gamed") ? ", gamed" : "",
                                 (int)jnum(a, "steps", 0),
                                 jbool(a, "step_limit") ? " (step limit)" : jbool(a, "context_full") ? " (context full)" : "");
                int nc = 0;
                for (const cJSON *c = ch ? ch->child : NULL; c; c = c->next, nc++) {
                    const cJSON *p = cJSON_GetObjectItemCaseSensitive(c, "path"), *k = cJSON_GetObjectItemCaseSensitive(c, "change");
                    gh_strbuf_printf(&body, " %s (%s)", cJSON_IsString(p) ? p->valuestring : "?", cJSON_IsString(k) ? k->valuestring : "?");
                }
                gh_strbuf_put(&body, nc ? "\n" : " none\n");
            }
            gh_strbuf_put(&body, "\n");
            const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(j, "messages");
            for (const cJSON *m = msgs ? msgs->child : NULL; m; m = m->next) {
                const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role"), *kind = cJSON_GetObjectItemCaseSensitive(m, "kind");
                const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
                gh_strbuf_printf(&body, "──── attempt %d · %s · %s ────\n%s\n\n", (int)jnum(m, "attempt", 0) + 1,
                                 cJSON_IsString(role) ? role->valuestring : "?", cJSON_IsString(kind) ? kind->valuestring : "?",
                                 cJSON_IsString(content) ? content->valuestring : "");
            }
            if (h.oom || body.oom) s = gh_error(GH_ERR_NOMEM, "out of memory");
            else {
                gh_report_heading(r, 3, h.p);
                gh_report_preformatted(r, body.p);
            }
            gh_strbuf_free(&h);
            gh_strbuf_free(&body);
        }
        if (!shown) gh_report_paragraph(r, "No rollouts yet.");
    }
    if (!s) {
        size_t n = strlen(run_dir) + 16;
        char *path = malloc(n);
        if (!path) s = gh_error(GH_ERR_NOMEM, "out of memory");
        else {
            snprintf(path, n, "%s/report.html", run_dir);
            s = gh_report_write(r, path);
            free(path);
        }
    }
    gh_report_free(r);
    return s;
}

/* ---- entry points ------------------------------------------------------------------------ */

gh_status gh_icrl_summary_json(const char *run_dir, char **out) {
    *out = NULL;
    run_data d;
    char *sp = NULL;
    gh_status s = load(run_dir, &d, &sp);
    if (!s) s = summary(&d, out);
    run_data_free(&d);
    free(sp);
    return s;
}

gh_status gh_icrl_write_outputs(const char *run_dir) {
    run_data d;
    char *sp = NULL, *sum = NULL;
    gh_status s = load(run_dir, &d, &sp);
    if (!s) s = summary(&d, &sum);
    if (!s) {
        gh_strbuf t = {0};
        gh_strbuf_put(&t, sum);
        gh_strbuf_put(&t, "\n");
        s = t.oom ? gh_error(GH_ERR_NOMEM, "out of memory") : write_text(run_dir, "summary.json", t.p, t.len);
        gh_strbuf_free(&t);
    }
    if (!s) {
        gh_strbuf t = {0};
        for (int32_t i = 0; i < d.n; i++) { gh_strbuf_put(&t, d.recs[i].text); gh_strbuf_put(&t, "\n"); }
        s = t.oom ? gh_error(GH_ERR_NOMEM, "out of memory") : write_text(run_dir, "transcripts.jsonl", t.p ? t.p : "", t.len);
        gh_strbuf_free(&t);
    }
    if (!s) s = write_exports(run_dir, &d);
    if (!s) s = write_report(run_dir, &d);
    free(sum);
    run_data_free(&d);
    free(sp);
    return s;
}
