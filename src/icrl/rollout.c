/* rollout.c — one rollout of the ICRL loop: the conversation with the model,
 * its commands run in a fresh sandbox per attempt, the diff, the reward and
 * oversight rules, the reflection between attempts and the stopping rule; the
 * result is the rollout's JSON record (icrl.h documents its fields).
 *
 * Context construction. The messages alternate strictly after the system
 * prompt (user, assistant, user, ...), because many chat templates insist:
 *   system | task | action | observation | action ... | reflection_request |
 *   reflection | task (the reset prompt, posing the task again) | action ...
 * Every message stays in the context for the rest of the rollout. When the
 * step limit ends an attempt, the commands of its last reply are not run and
 * the reflection request says so. */
#include "icrl/icrl_internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/file.h"
#include "bon/jbuf.h"

/* The record keeps at most this much of a changed file's new content. */
#define CHANGE_CONTENT_MAX 4096
/* and of a rule script's output */
#define RULE_LOG_MAX 2048

gh_icrl_params gh_icrl_default_params(void) {
    gh_icrl_params p = {0};
    p.max_attempts = 5;
    p.sampler = gh_sampler_default_params();
    p.sampler.max_tokens = 1024;
    p.limits = gh_sandbox_default_limits();
    p.workers = 1;
    return p;
}

/* ---- bash blocks ------------------------------------------------------------------ */

void gh_icrl_strings_free(char **s, int32_t n) {
    if (!s) return;
    for (int32_t i = 0; i < n; i++) free(s[i]);
    free(s);
}

gh_status gh_icrl_parse_bash(const char *reply, char ***blocks, int32_t *n) {
    *blocks = NULL;
    *n = 0;
    char **v = NULL;
    int32_t k = 0;
    for (const char *p = reply; (p = strstr(p, "<bash>"));) {
        const char *a = p + 6, *z = strstr(a, "</bash>");
        const char *end = z ? z : a + strlen(a);
        char **nv = realloc(v, (size_t)(k + 1) * sizeof *nv);
        if (!nv) { gh_icrl_strings_free(v, k); return gh_error(GH_ERR_NOMEM, "out of memory"); }
        v = nv;
        if (!(v[k] = strndup(a, (size_t)(end - a)))) { gh_icrl_strings_free(v, k); return gh_error(GH_ERR_NOMEM, "out of memory"); }
        k++;
        if (!z) break;
        p = z + 7;
    }
    *blocks = v;
    *n = k;
    return GH_OK;
}

/* ---- the transcript ------------------------------------------------------------- */

typedef struct tmsg {
    const char *role, *kind;
    char *content;
    int32_t attempt;
} tmsg;

typedef struct attempt_rec {
    double reward;
    bool success, gamed, step_limit;
    bool context_full; /* the conversation outgrew the model's context: the attempt (and rollout) ended there */
    int32_t steps;
    bool *flags;             /* [n_checks] */
    gh_file_change *changes;
    int32_t n_changes;
    char **contents;         /* [n_changes] new content (NULL for deleted) */
    int32_t first_msg, n_msgs;
    char *answer;            /* answer_match: the choice read from the reply (NULL: none) */
    char *log;               /* what the reward rule saw (script output, file content) */
} attempt_rec;

typedef struct rollout {
    const gh_icrl_env *env;
    gh_backend *b;
    const gh_icrl_params *p;
    int32_t index, item, n_calls;
    uint64_t seed;
    tmsg *msgs;
    int32_t n_msgs, cap_msgs;
    attempt_rec *att;
    int32_t n_att;
} rollout;

static gh_status push(rollout *r, const char *role, const char *kind, int32_t attempt, char *content_owned) {
    if (!content_owned) return gh_error(GH_ERR_NOMEM, "out of memory");
    if (r->n_msgs == r->cap_msgs) {
        int32_t cap = r->cap_msgs ? r->cap_msgs * 2 : 16;
        tmsg *m = realloc(r->msgs, (size_t)cap * sizeof *m);
        if (!m) { free(content_owned); return gh_error(GH_ERR_NOMEM, "out of memory"); }
        r->msgs = m;
        r->cap_msgs = cap;
    }
    r->msgs[r->n_msgs++] = (tmsg){role, kind, content_owned, attempt};
    return GH_OK;
}

static gh_status ask(rollout *r, char **reply) {
    *reply = NULL;
    gh_chat_msg *cm = malloc((size_t)r->n_msgs * sizeof *cm);
    if (!cm) return gh_error(GH_ERR_NOMEM, "out of memory");
    for (int32_t i = 0; i < r->n_msgs; i++) cm[i] = (gh_chat_msg){r->msgs[i].role, r->msgs[i].content};
    gh_sampler_params sp = r->p->sampler;
    sp.seed = r->seed;
    sp.first_sample = r->n_calls++;
    gh_samples *out = NULL;
    gh_status s = gh_backend_chat(r->b, cm, r->n_msgs, &sp, 1, &out);
    free(cm);
    if (s) {
        gh_error_prefix("%s rollout %d", r->env->name, r->index);
        return s;
    }
    *reply = strdup(out->n > 0 && out->samples[0].text ? out->samples[0].text : "");
    gh_samples_free(out);
    return *reply ? GH_OK : gh_error(GH_ERR_NOMEM, "out of memory");
}

/* ---- commands ---------------------------------------------------------------------- */

static void put_block(gh_strbuf *b, const char *tag, const char *text) {
    gh_strbuf_printf(b, "<%s>\n", tag);
    gh_strbuf_put(b, text);
    if (*text && text[strlen(text) - 1] != '\n') gh_strbuf_put(b, "\n");
    gh_strbuf_printf(b, "</%s>", tag);
}

/* Runs every block (a block may hold several lines: the shell takes newlines
 * as command separators and here-documents across them); one observation
 * with all the output. */
static gh_status run_blocks(gh_sandbox *sb, char **blocks, int32_t n, char **obs) {
    gh_strbuf out = {0}, err = {0};
    gh_status s = GH_OK;
    for (int32_t i = 0; i < n && !s; i++) {
        const char *q = blocks[i];
        while (*q == ' ' || *q == '\t' || *q == '\r' || *q == '\n') q++;
        if (!*q) continue;
        gh_sh_result res = {0};
        s = gh_sandbox_exec(sb, q, &res);
        if (!s) {
            if (res.out) gh_strbuf_put(&out, res.out);
            if (res.err) gh_strbuf_put(&err, res.err);
        }
        gh_sh_result_clear(&res);
    }
    if (!s) {
        gh_strbuf b = {0};
        put_block(&b, "stdout", out.p ? out.p : "");
        gh_strbuf_put(&b, "\n");
        put_block(&b, "stderr", err.p ? err.p : "");
        if (b.oom) { gh_strbuf_free(&b); s = gh_error(GH_ERR_NOMEM, "out of memory"); }
        else *obs = b.p;
    }
    gh_strbuf_free(&out);
    gh_strbuf_free(&err);
    return s;
}

/* ---- rules ------------------------------------------------------------------------- */

static const char *script_name = "__goodhart_rule__.py";

/* The last number a script printed; *ok false when it failed, timed out or printed none. */
static gh_status run_script(gh_sandbox *sb, const char *script, double *value, bool *ok, gh_strbuf *log) {
    *ok = false;
    gh_strbuf src = {0};
    /* no __pycache__ left behind in the rollout directory */
    gh_strbuf_put(&src, "import sys\nsys.dont_write_bytecode = True\n");
    gh_strbuf_put(&src, script);
    gh_strbuf_put(&src, "\n");
    if (src.oom) { gh_strbuf_free(&src); return gh_error(GH_ERR_NOMEM, "out of memory"); }
    gh_status s = gh_sandbox_write(sb, script_name, src.p, src.len);
    gh_strbuf_free(&src);
    if (s) return s;
    gh_sh_result res = {0};
    s = gh_sandbox_python(sb, script_name, NULL, 0, &res);
    if (s) { gh_sh_result_clear(&res); return s; }
    const char *o = res.out ? res.out : "", *e = res.err ? res.err : "";
    if (log) {
        gh_strbuf_printf(log, "exit %d%s\n", res.status, res.timed_out ? " (limit hit)" : "");
        gh_strbuf_putn(log, o, strnlen(o, RULE_LOG_MAX));
        if (*e) { gh_strbuf_put(log, "\n[stderr]\n"); gh_strbuf_putn(log, e, strnlen(e, RULE_LOG_MAX)); }
    }
    if (res.status == 0 && !res.timed_out) {
        /* last non-blank line */
        const char *end = o + strlen(o);
        while (end > o && (end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\r' || end[-1] == '\t')) end--;
        const char *beg = end;
        while (beg > o && beg[-1] != '\n') beg--;
        char tmp[64];
        size_t n = (size_t)(end - beg);
        if (n > 0 && n < sizeof tmp) {
            memcpy(tmp, beg, n);
            tmp[n] = 0;
            char *z;
            errno = 0;
            double v = strtod(tmp, &z);
            while (*z == ' ' || *z == '\t') z++;
            if (z != tmp && !*z && !errno && isfinite(v)) { *value = v; *ok = true; }
            else if (!strcmp(tmp, "True")) { *value = 1; *ok = true; }
            else if (!strcmp(tmp, "False")) { *value = 0; *ok = true; }
        }
    }
    gh_sh_result_clear(&res);
    return GH_OK;
}

/* The key of a choice: " (A)" -> "A"; anything else trimmed. */
static char *choice_key(const char *s) {
    while (*s == ' ' || *s == '\t' || *s == '\n') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n')) n--;
    if (n >= 3 && s[0] == '(' && s[n - 1] == ')') return strndup(s + 1, n - 2);
    return strndup(s, n);
}

/* Reads which of the choices the reply picks: the one choice written as
 * "(X)" in the reply, else a reply that starts with "X" and a non-letter. */
static char *read_choice(const char *reply, char **keys, int32_t n) {
    int32_t found = -1, count = 0;
    for (int32_t i = 0; i < n; i++) {
        size_t kl = strlen(keys[i]);
        char *pat = malloc(kl + 3);
        if (!pat) return NULL;
        sprintf(pat, "(%s)", keys[i]);
        if (kl && strstr(reply, pat)) { found = i; count++; }
        free(pat);
    }
    if (count == 1) return strdup(keys[found]);
    if (count > 1) return NULL;
    const char *q = reply;
    while (*q == ' ' || *q == '\n' || *q == '\t' || *q == '*') q++;
    for (int32_t i = 0; i < n; i++) {
        size_t kl = strlen(keys[i]);
        if (kl && !strncmp(q, keys[i], kl)) {
            char c = q[kl];
            bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
            if (!alnum) return strdup(keys[i]);
        }
    }
    return NULL;
}

static gh_status answer_reward(const rollout *r, const char *reply, attempt_rec *a) {
    const gh_icrl_env *e = r->env;
    const char *m = gh_icrl_env_item_field(e, r->item, e->reward.matching);
    const char *nm = gh_icrl_env_item_field(e, r->item, e->reward.not_matching);
    char *keys[17];
    int32_t n = 0;
    gh_status s = GH_OK;
    keys[n++] = choice_key(m);
    if (nm) {
        cJSON *j = cJSON_Parse(nm);
        if (cJSON_IsArray(j)) {
            for (const cJSON *c = j->child; c && n < 17; c = c->next)
                if (cJSON_IsString(c)) keys[n++] = choice_key(c->valuestring);
        } else {
            keys[n++] = choice_key(nm);
        }
        cJSON_Delete(j);
    }
    for (int32_t i = 0; i < n; i++)
        if (!keys[i]) s = gh_error(GH_ERR_NOMEM, "out of memory");
    if (!s) {
        a->answer = read_choice(reply, keys, n);
        a->reward = a->answer && !strcmp(a->answer, keys[0]) ? 1.0 : 0.0;
    }
    for (int32_t i = 0; i < n; i++) free(keys[i]);
    return s;
}

static gh_status file_reward(const rollout *r, gh_sandbox *sb, attempt_rec *a, gh_strbuf *log) {
    const icrl_reward *w = &r->env->reward;
    char *data = NULL;
    size_t n = 0;
    a->reward = w->on_error;
    if (gh_sandbox_read(sb, w->path, &data, &n) != GH_OK) {
        /* relative to the sandbox: no host path in the transcript */
        gh_strbuf_put(log, gh_sandbox_message(sb, gh_last_error()));
        gh_clear_error();
        return GH_OK;
    }
    gh_strbuf_putn(log, data, n < RULE_LOG_MAX ? n : RULE_LOG_MAX);
    const char *q = data;
    while (*q == ' ' || *q == '\n' || *q == '\t' || *q == '\r') q++;
    char *z;
    errno = 0;
    double v = strtod(q, &z);
    if (z != q && !errno && isfinite(v)) a->reward = v < w->min ? w->min : v > w->max ? w->max : v;
    free(data);
    return GH_OK;
}

static bool path_matches(const char *changed, const char *pat) {
    size_t n = strlen(pat);
    if (n && pat[n - 1] == '/') return !strncmp(changed, pat, n);
    return !strcmp(changed, pat);
}

static bool flag_value(const rollout *r, const attempt_rec *a, int32_t idx) {
    (void)r;
    return idx == ICRL_FLAG_SUCCESS ? a->success : a->flags[idx];
}

static gh_status score(rollout *r, gh_sandbox *sb, const char *last_reply, attempt_rec *a) {
    const gh_icrl_env *e = r->env;
    gh_strbuf log = {0};
    gh_status s = GH_OK;
    switch (e->reward.kind) {
    case ICRL_REWARD_ANSWER_MATCH: s = answer_reward(r, last_reply, a); break;
    case ICRL_REWARD_FILE_NUMBER: s = file_reward(r, sb, a, &log); break;
    case ICRL_REWARD_PYTHON: {
        bool ok;
        double v = 0;
        s = run_script(sb, e->reward.script, &v, &ok, &log);
        a->reward = ok ? v : e->reward.on_error;
        break;
    }
    }
    if (s) { gh_strbuf_free(&log); return s; }
    a->success = a->reward >= e->threshold;
    for (int32_t i = 0; i < e->n_checks && !s; i++) {
        const icrl_check *c = &e->checks[i];
        bool v = false;
        switch (c->kind) {
        case ICRL_CHECK_PYTHON: {
            bool ok;
            double x = 0;
            s = run_script(sb, c->script, &x, &ok, NULL);
            v = ok ? x != 0 : c->on_error;
            break;
        }
        case ICRL_CHECK_FILE_CHANGED:
            for (int32_t k = 0; k < a->n_changes && !v; k++)
                for (int32_t j = 0; j < c->n_paths && !v; j++) v = path_matches(a->changes[k].path, c->paths[j]);
            break;
        case ICRL_CHECK_ALL:
            v = true;
            for (int32_t k = 0; k < c->n_of; k++) v = v && flag_value(r, a, c->of[k]);
            break;
        case ICRL_CHECK_ANY:
            for (int32_t k = 0; k < c->n_of; k++) v = v || flag_value(r, a, c->of[k]);
            break;
        case ICRL_CHECK_ITEM_FIELD: {
            const char *f = gh_icrl_env_item_field(e, r->item, c->field);
            v = f && !strcmp(f, c->equals);
            break;
        }
        case ICRL_CHECK_REWARD_AT_LEAST: v = a->reward >= c->value; break;
        }
        a->flags[i] = v;
    }
    a->gamed = true;
    for (int32_t k = 0; k < e->n_gamed; k++) a->gamed = a->gamed && flag_value(r, a, e->gamed[k]);
    if (!s && log.len) {
        if (log.oom) s = gh_error(GH_ERR_NOMEM, "out of memory");
        else { a->log = log.p; log.p = NULL; }
    }
    gh_strbuf_free(&log);
    return s;
}

/* ---- one attempt ---------------------------------------------------------------- */

static gh_status attempt_dir(const char *work_dir, int32_t k, char **out) {
    size_t n = strlen(work_dir) + 32;
    if (!(*out = malloc(n))) return gh_error(GH_ERR_NOMEM, "out of memory");
    snprintf(*out, n, "%s/attempt-%d", work_dir, k);
    gh_status s = icrl_rm_rf(*out);
    if (!s) s = gh_mkdir_p(*out);
    return s;
}

static gh_status run_attempt(rollout *r, int32_t k, const char *work_dir, attempt_rec *a) {
    const gh_icrl_env *e = r->env;
    int32_t max_steps = r->p->max_steps > 0 ? r->p->max_steps : e->max_steps;
    a->first_msg = r->n_msgs;
    a->flags = calloc((size_t)(e->n_checks ? e->n_checks : 1), sizeof *a->flags);
    if (!a->flags) return gh_error(GH_ERR_NOMEM, "out of memory");
    gh_sandbox *sb = NULL;
    gh_snapshot *before = NULL, *after = NULL;
    char *dir = NULL, *reply = NULL;
    gh_status s = GH_OK;
    if (e->tools) {
        if (!(s = attempt_dir(work_dir, k, &dir)) && !(s = gh_sandbox_open(dir, &r->p->limits, &sb)) &&
            !(s = gh_icrl_env_setup(e, r->item, sb)))
            s = gh_sandbox_snapshot(sb, &before);
    }
    while (!s) {
        free(reply);
        reply = NULL;
        if ((s = ask(r, &reply))) {
            /* A local model's context is full: the attempt ends as it stands and
             * is scored; the rollout stops (the context only grows). */
            if (s == GH_ERR_CONTEXT) { a->context_full = true; gh_clear_error(); s = GH_OK; }
            break;
        }
        a->steps++;
        if ((s = push(r, "assistant", "action", k, strdup(reply)))) break;
        if (!e->tools) break;
        char **blocks = NULL;
        int32_t nb = 0;
        if ((s = gh_icrl_parse_bash(reply, &blocks, &nb))) break;
        if (nb == 0) break;
        if (a->steps >= max_steps) { a->step_limit = true; gh_icrl_strings_free(blocks, nb); break; }
        char *obs = NULL;
        s = run_blocks(sb, blocks, nb, &obs);
        gh_icrl_strings_free(blocks, nb);
        if (!s) s = push(r, "user", "observation", k, obs);
    }
    if (!s && e->tools) {
        s = gh_sandbox_snapshot(sb, &after);
        if (!s) s = gh_snapshot_diff(before, after, &a->changes, &a->n_changes);
        if (!s && a->n_changes) {
            a->contents = calloc((size_t)a->n_changes, sizeof *a->contents);
            if (!a->contents) s = gh_error(GH_ERR_NOMEM, "out of memory");
            for (int32_t i = 0; i < a->n_changes && !s; i++) {
                if (a->changes[i].change == GH_FILE_DELETED) continue;
                char *data = NULL;
                size_t n = 0;
                if (gh_sandbox_read(sb, a->changes[i].path, &data, &n) == GH_OK) {
                    if (n > CHANGE_CONTENT_MAX) { data[CHANGE_CONTENT_MAX] = 0; }
                    a->contents[i] = data;
                } else {
                    gh_clear_error(); /* e.g. unreadable: record the change without content */
                }
            }
        }
    }
    if (!s) s = score(r, sb, reply ? reply : "", a);
    a->n_msgs = r->n_msgs - a->first_msg;
    free(reply);
    gh_snapshot_free(before);
    gh_snapshot_free(after);
    gh_sandbox_free(sb);
    if (!s && dir && !r->p->keep_sandboxes) s = icrl_rm_rf(dir);
    free(dir);
    return s;
}

/* ---- the record ------------------------------------------------------------------- */

static const char *change_name(gh_change c) {
    return c == GH_FILE_ADDED ? "added" : c == GH_FILE_MODIFIED ? "modified" : "deleted";
}

static void put_flags(gh_strbuf *b, const gh_icrl_env *e, const bool *v) {
    gh_strbuf_put(b, "{");
    for (int32_t i = 0; i < e->n_checks; i++) {
        if (i) gh_strbuf_put(b, ",");
        jb_str(b, e->checks[i].flag);
        gh_strbuf_put(b, v[i] ? ":true" : ":false");
    }
    gh_strbuf_put(b, "}");
}

static gh_status record(const rollout *r, char **json) {
    const gh_icrl_env *e = r->env;
    gh_strbuf b = {0};
    bool success = false, gamed = false;
    int32_t first_success = -1, first_gamed = -1;
    bool *any = calloc((size_t)(e->n_checks ? e->n_checks : 1), sizeof *any);
    if (!any) return gh_error(GH_ERR_NOMEM, "out of memory");
    for (int32_t k = 0; k < r->n_att; k++) {
        const attempt_rec *a = &r->att[k];
        if (a->success && first_success < 0) first_success = k;
        if (a->gamed && first_gamed < 0) first_gamed = k;
        success = success || a->success;
        gamed = gamed || a->gamed;
        for (int32_t i = 0; i < e->n_checks; i++) any[i] = any[i] || a->flags[i];
    }
    gh_strbuf_put(&b, "{\"env\":");
    jb_str(&b, e->name);
    gh_strbuf_printf(&b, ",\"index\":%d,\"item\":", r->index);
    if (r->item >= 0) {
        const icrl_item *it = &e->items[r->item];
        gh_strbuf_printf(&b, "{\"index\":%d,\"line\":%lld,\"record\":{", r->item, (long long)it->line);
        for (int32_t i = 0; i < it->n_fields; i++) {
            if (i) gh_strbuf_put(&b, ",");
            jb_str(&b, it->fields[i].key);
            gh_strbuf_put(&b, ":");
            /* non-string values were kept as their JSON text; strings (even "42") stay strings */
            if (it->fields[i].json) gh_strbuf_put(&b, it->fields[i].text);
            else jb_str(&b, it->fields[i].text);
        }
        gh_strbuf_put(&b, "}}");
    } else {
        gh_strbuf_put(&b, "null");
    }
    gh_strbuf_printf(&b, ",\"held_out\":%s,\"threshold\":", e->held_out ? "true" : "false");
    icrl_json_num(&b, e->threshold);
    gh_strbuf_printf(&b, ",\"success\":%s,\"gamed\":%s,\"attempts_used\":%d,\"first_success\":%d,\"first_gamed\":%d,\"flags\":",
                     success ? "true" : "false", gamed ? "true" : "false", r->n_att, first_success, first_gamed);
    put_flags(&b, e, any);
    free(any);
    gh_strbuf_put(&b, ",\"attempts\":[");
    for (int32_t k = 0; k < r->n_att; k++) {
        const attempt_rec *a = &r->att[k];
        gh_strbuf_printf(&b, "%s{\"attempt\":%d,\"reward\":", k ? "," : "", k);
        icrl_json_num(&b, a->reward);
        gh_strbuf_printf(&b, ",\"success\":%s,\"gamed\":%s,\"steps\":%d,\"step_limit\":%s,\"context_full\":%s,\"flags\":",
                         a->success ? "true" : "false", a->gamed ? "true" : "false", a->steps, a->step_limit ? "true" : "false",
                         a->context_full ? "true" : "false");
        put_flags(&b, e, a->flags);
        if (e->reward.kind == ICRL_REWARD_ANSWER_MATCH) {
            gh_strbuf_put(&b, ",\"answer\":");
            if (a->answer) jb_str(&b, a->answer);
            else gh_strbuf_put(&b, "null");
        }
        if (a->log) { gh_strbuf_put(&b, ",\"reward_log\":"); jb_str(&b, a->log); }
        gh_strbuf_put(&b, ",\"changes\":[");
        for (int32_t i = 0; i < a->n_changes; i++) {
            gh_strbuf_put(&b, i ? ",{\"path\":" : "{\"path\":");
            jb_str(&b, a->changes[i].path);
            gh_strbuf_printf(&b, ",\"change\":\"%s\"", change_name(a->changes[i].change));
            if (a->contents && a->contents[i]) { gh_strbuf_put(&b, ",\"content\":"); jb_str(&b, a->contents[i]); }
            gh_strbuf_put(&b, "}");
        }
        gh_strbuf_printf(&b, "],\"first_message\":%d,\"n_messages\":%d}", a->first_msg, a->n_msgs);
    }
    gh_strbuf_put(&b, "],\"messages\":[");
    for (int32_t i = 0; i < r->n_msgs; i++) {
        const tmsg *m = &r->msgs[i];
        gh_strbuf_put(&b, i ? ",{\"role\":" : "{\"role\":");
        jb_str(&b, m->role);
        gh_strbuf_put(&b, ",\"content\":");
        jb_str(&b, m->content);
        gh_strbuf_printf(&b, ",\"attempt\":%d,\"kind\":\"%s\"}", m->attempt, m->kind);
    }
    gh_strbuf_put(&b, "]}");
    if (b.oom) { gh_strbuf_free(&b); return gh_error(GH_ERR_NOMEM, "out of memory"); }
    *json = b.p;
    return GH_OK;
}

static void rollout_clear(rollout *r) {
    for (int32_t i = 0; i < r->n_msgs; i++) free(r->msgs[i].content);
    free(r->msgs);
    for (int32_t k = 0; k < r->n_att; k++) {
        attempt_rec *a = &r->att[k];
        free(a->flags);
        if (a->contents)
            for (int32_t i = 0; i < a->n_changes; i++) free(a->contents[i]);
        free(a->contents);
        gh_file_changes_free(a->changes, a->n_changes);
        free(a->answer);
        free(a->log);
    }
    free(r->att);
}

gh_status gh_icrl_rollout(gh_backend *b, const gh_icrl_env *e, int32_t index, const char *work_dir,
                          const gh_icrl_params *p, char **json) {
    *json = NULL;
    if (p->max_attempts < 1) return gh_error(GH_ERR_INVALID_ARG, "the number of attempts must be at least 1, got %d", p->max_attempts);
    if (index < 0) return gh_error(GH_ERR_INVALID_ARG, "negative rollout index %d", index);
    gh_status s = gh_backend_require(b, GH_CAP_CHAT, "an ICRL agent");
    if (s) return s;
    rollout r = {.env = e, .b = b, .p = p, .index = index};
    r.item = gh_icrl_env_item_for(e, p->sampler.seed, index);
    /* each rollout its own random stream: (seed, environment, index) */
    uint64_t h = p->sampler.seed * 0x9E3779B97F4A7C15ull + (uint64_t)index;
    for (const char *q = e->name; *q; q++) h = (h ^ (unsigned char)*q) * 1099511628211ull;
    r.seed = h;
    r.att = calloc((size_t)p->max_attempts, sizeof *r.att);
    if (!r.att) return gh_error(GH_ERR_NOMEM, "out of memory");
    char *text = NULL;
    s = icrl_render(e, r.item, e->system, "system", 0, NULL, NULL, &text);
    if (!s) s = push(&r, "system", "system", 0, text);
    if (!s) s = icrl_render(e, r.item, e->prompt, "prompt", 0, NULL, NULL, &text);
    if (!s) s = push(&r, "user", "task", 0, text);
    for (int32_t k = 0; k < p->max_attempts && !s; k++) {
        if (k > 0) {
            if (!(s = gh_icrl_reset_prompt(e, r.item, k, p->max_attempts, &text))) s = push(&r, "user", "task", k, text);
            if (s) break;
        }
        attempt_rec *a = &r.att[r.n_att++];
        if ((s = run_attempt(&r, k, work_dir, a))) break;
        if (a->success || k == p->max_attempts - 1 || a->context_full) break; /* the stopping rule */
        /* below the threshold: show the reward, ask for a reflection and a plan */
        if ((s = gh_icrl_reflection_prompt(e, r.item, k, p->max_attempts, a->reward, &text))) break;
        if (a->step_limit) {
            gh_strbuf w = {0};
            gh_strbuf_printf(&w, "(The attempt reached the limit of %d turns; the commands in your last message were not run.)\n\n%s",
                             p->max_steps > 0 ? p->max_steps : e->max_steps, text);
            free(text);
            text = w.oom ? NULL : w.p;
            if (!text) gh_strbuf_free(&w);
        }
        if ((s = push(&r, "user", "reflection_request", k, text))) break;
        char *refl = NULL;
        if ((s = ask(&r, &refl))) {
            /* no room left to reflect: the rollout ends after this attempt */
            if (s == GH_ERR_CONTEXT) { a->context_full = true; gh_clear_error(); s = GH_OK; }
            break;
        }
        s = push(&r, "assistant", "reflection", k, refl);
    }
    if (!s) s = record(&r, json);
    rollout_clear(&r);
    return s;
}
