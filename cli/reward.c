/* reward.c — `goodhart reward`: train a Bradley–Terry head from preference
 * pairs, score a (prompt, response) with any reward spec, and score it with a
 * reward model (`goodhart reward -m RM --prompt P --response R`: the model's
 * classifier head on its last token, reported with the exact text and token). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/jsonl.h"
#include "cli.h"
#include "goodhart/reward.h"
#include "goodhart/tokenizer.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: goodhart reward train -m MODEL --pairs PAIRS.jsonl -o HEAD.gguf [options]\n"
            "  --pairs FILE       JSON Lines with \"prompt\", \"chosen\", \"rejected\" (Hugging Face preference format)\n"
            "  --layer L          hidden state after layer L (default: the last)\n"
            "  --pool mean|last   over the response's tokens (default mean)\n"
            "  --l2 X             L2 strength of the Bradley-Terry loss (default 1)\n"
            "       goodhart reward score -m MODEL --reward SPEC --prompt P --response R [--reference REF] [--json]\n"
            "  SPEC: see README (e.g. head:HEAD.gguf, rm:RM.gguf, 'lexicon:a,b;-2*repetition:3')\n"
            "       goodhart reward -m RM --prompt P --response R [--json] [options]\n"
            "  a reward model's raw score (a GGUF with a cls.output head, e.g. converted from a\n"
            "  *ForSequenceClassification model): the head on the final-normed hidden state of\n"
            "  the last token of the text\n"
            "  --chat-template NAME|FILE   format [user: P, assistant: R] with this template (default: the\n"
            "                     model's own; without one the text is P followed directly by R)\n"
            "  --add-eos yes|no   append the EOS token (default: as the tokenizer says, add_eos_token)\n"
            "  --json             {\"score\", \"pooled_token\", \"pooled_token_id\", \"pooled_piece\", \"n_tokens\",\n"
            "                     \"tokens\" (the ids scored, where known), \"eos_appended\", \"text\",\n"
            "                     \"chat_template\", \"model\"}\n");
}

typedef struct pairs {
    gh_pref_pair *p;
    int64_t n, cap;
} pairs;

static void pairs_free(pairs *ps) {
    for (int64_t i = 0; i < ps->n; i++) {
        free((char *)ps->p[i].prompt);
        free((char *)ps->p[i].chosen);
        free((char *)ps->p[i].rejected);
    }
    free(ps->p);
}

static gh_status one_pair(void *user, const char *path, int64_t line, const cJSON *j) {
    pairs *ps = user;
    static const char *const f[] = {"prompt", "chosen", "rejected"};
    const char *v[3];
    for (int k = 0; k < 3; k++) {
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(j, f[k]);
        if (!cJSON_IsString(x)) return gh_error(GH_ERR_FORMAT, "%s:%lld: field \"%s\" is %s", path, (long long)line, f[k], x ? "not a string" : "missing");
        v[k] = x->valuestring;
        if (k && !*v[k]) return gh_error(GH_ERR_FORMAT, "%s:%lld: field \"%s\" is empty", path, (long long)line, f[k]);
    }
    if (ps->n == ps->cap) {
        int64_t cap = ps->cap ? 2 * ps->cap : 64;
        gh_pref_pair *np = realloc(ps->p, (size_t)cap * sizeof *np);
        if (!np) return gh_error(GH_ERR_NOMEM, "out of memory");
        ps->p = np;
        ps->cap = cap;
    }
    gh_pref_pair *q = &ps->p[ps->n];
    q->prompt = strdup(v[0]);
    q->chosen = strdup(v[1]);
    q->rejected = strdup(v[2]);
    ps->n++;
    if (!q->prompt || !q->chosen || !q->rejected) return gh_error(GH_ERR_NOMEM, "out of memory");
    return GH_OK;
}

static gh_status read_pairs(const char *path, pairs *ps) {
    memset(ps, 0, sizeof *ps);
    gh_status s = gh_jsonl_each(path, (size_t)1 << 31, one_pair, ps, NULL);
    if (!s && ps->n == 0) s = gh_error(GH_ERR_FORMAT, "%s: no preference pairs", path);
    if (s) pairs_free(ps);
    return s;
}

static int train(int argc, char **argv) {
    const char *cmd = "reward train", *model = NULL, *pairs_path = NULL, *out = NULL;
    gh_head_spec hs = gh_head_default_spec();
    gh_bt_params bt = gh_bt_default_params();
    long long threads = 0, iv;
    double dv;
    for (int i = 1; i < argc; i++) {
        int brc;
        const char *v = NULL;
        bool miss = false;
        if (cli_flag(argv[i], "-h", "--help")) { usage(stdout); return 0; }
        else if ((brc = cli_backend_opt(cmd, argv, &i, argc))) { if (brc < 0) return 2; }
        else if (cli_opt(argv, &i, argc, "-m", "--model", &model, &miss)) {}
        else if (cli_opt(argv, &i, argc, NULL, "--pairs", &pairs_path, &miss)) {}
        else if (cli_opt(argv, &i, argc, "-o", "--out", &out, &miss)) {}
        else if (cli_opt(argv, &i, argc, NULL, "--layer", &v, &miss)) {
            if (!miss && !cli_parse_int(v, -1, 4096, &iv)) return cli_usage_error(cmd, "bad --layer '%s'", v);
            if (!miss) hs.layer = (int32_t)iv;
        } else if (cli_opt(argv, &i, argc, NULL, "--pool", &v, &miss)) {
            if (!miss && !gh_pool_from_name(v, &hs.pool)) return cli_usage_error(cmd, "--pool must be mean or last, not '%s'", v);
        } else if (cli_opt(argv, &i, argc, NULL, "--l2", &v, &miss)) {
            if (!miss && (!cli_parse_float(v, 0, 1e12, &dv) || dv <= 0)) return cli_usage_error(cmd, "--l2 must be a positive number, not '%s'", v);
            if (!miss) bt.l2 = dv;
        } else if (cli_opt(argv, &i, argc, "-t", "--threads", &v, &miss)) {
            if (!miss && !cli_parse_int(v, 0, 4096, &threads)) return cli_usage_error(cmd, "bad --threads '%s'", v);
        } else return cli_usage_error(cmd, "unknown option '%s'", argv[i]);
        if (miss) return cli_usage_error(cmd, "option '%s' needs a value", argv[i]);
    }
    if (!model || !pairs_path || !out) return cli_usage_error(cmd, "needs -m MODEL, --pairs FILE and -o HEAD.gguf");
    gh_backend *b = NULL;
    int rc = cli_open_backend(cmd, model, (int32_t)threads, &b);
    if (rc) return rc;
    pairs ps;
    gh_bt_stats st;
    if (read_pairs(pairs_path, &ps)) { gh_backend_free(b); return cli_fail(cmd); }
    if (gh_head_train(b, &hs, ps.p, ps.n, &bt, out, &st)) rc = cli_fail(cmd);
    else printf("wrote %s: %lld pairs, training accuracy %.4f, mean loss %.4f, %d Newton steps\n", out, (long long)ps.n,
                st.accuracy, st.loss, st.iters);
    pairs_free(&ps);
    gh_backend_free(b);
    return rc;
}

static int score(int argc, char **argv) {
    const char *cmd = "reward score", *model = NULL, *spec = NULL, *prompt = "", *response = NULL, *ref = NULL;
    bool json = false;
    long long threads = 0;
    for (int i = 1; i < argc; i++) {
        int brc;
        const char *v = NULL;
        bool miss = false;
        if (cli_flag(argv[i], "-h", "--help")) { usage(stdout); return 0; }
        else if ((brc = cli_backend_opt(cmd, argv, &i, argc))) { if (brc < 0) return 2; }
        else if (cli_opt(argv, &i, argc, "-m", "--model", &model, &miss)) {}
        else if (cli_opt(argv, &i, argc, NULL, "--reward", &spec, &miss)) {}
        else if (cli_opt(argv, &i, argc, "-p", "--prompt", &prompt, &miss)) {}
        else if (cli_opt(argv, &i, argc, "-r", "--response", &response, &miss)) {}
        else if (cli_opt(argv, &i, argc, NULL, "--reference", &ref, &miss)) {}
        else if (cli_flag(argv[i], NULL, "--json")) json = true;
        else if (cli_opt(argv, &i, argc, "-t", "--threads", &v, &miss)) {
            if (!miss && !cli_parse_int(v, 0, 4096, &threads)) return cli_usage_error(cmd, "bad --threads '%s'", v);
        } else return cli_usage_error(cmd, "unknown option '%s'", argv[i]);
        if (miss) return cli_usage_error(cmd, "option '%s' needs a value", argv[i]);
    }
    if (!spec || !response) return cli_usage_error(cmd, "needs --reward SPEC and --response R");
    gh_backend *b = NULL;
    int rc = 0;
    if (model && (rc = cli_open_backend(cmd, model, (int32_t)threads, &b))) return rc;
    gh_reward *r = NULL;
    double v = NAN;
    gh_reward_input in = {.prompt = prompt, .response = response, .reference = ref, .n_tokens = -1};
    if (gh_reward_parse(spec, NULL, b, &r) || gh_reward_score(r, &in, &v)) rc = cli_fail(cmd);
    else if (json) {
        printf("{\"reward\":");
        cli_json_string(stdout, spec, strlen(spec));
        printf(",\"score\":%.17g}\n", v);
    } else printf("%.17g\n", v);
    gh_reward_free(r);
    gh_backend_free(b);
    return rc;
}

/* `goodhart reward -m RM --prompt P --response R [--json]` */
static int rm_score(int argc, char **argv) {
    const char *cmd = "reward", *model = NULL, *prompt = "", *response = NULL, *v = NULL;
    bool json = false;
    long long threads = 0;
    gh_backend_params bp = gh_backend_default_params();
    for (int i = 1; i < argc; i++) {
        bool miss = false;
        if (cli_flag(argv[i], "-h", "--help")) { usage(stdout); return 0; }
        else if (cli_opt(argv, &i, argc, "-m", "--model", &model, &miss)) {}
        else if (cli_opt(argv, &i, argc, "-p", "--prompt", &prompt, &miss)) {}
        else if (cli_opt(argv, &i, argc, "-r", "--response", &response, &miss)) {}
        else if (cli_opt(argv, &i, argc, NULL, "--chat-template", &bp.chat_template, &miss)) {}
        else if (cli_opt(argv, &i, argc, NULL, "--add-eos", &v, &miss)) {
            if (!miss && strcmp(v, "yes") && strcmp(v, "no")) return cli_usage_error(cmd, "--add-eos must be yes or no, not '%s'", v);
            if (!miss) bp.rm_eos = v[0] == 'y' ? 1 : -1;
        } else if (cli_flag(argv[i], NULL, "--json")) json = true;
        else if (cli_opt(argv, &i, argc, "-t", "--threads", &v, &miss)) {
            if (!miss && !cli_parse_int(v, 0, 4096, &threads)) return cli_usage_error(cmd, "bad --threads '%s'", v);
        } else return cli_usage_error(cmd, "unknown option '%s'", argv[i]);
        if (miss) return cli_usage_error(cmd, "option '%s' needs a value", argv[i]);
    }
    if (!model || !response) return cli_usage_error(cmd, "needs -m RM and --response R (and usually --prompt P)");
    bp.n_threads = (int32_t)threads;
    gh_backend *b = NULL;
    if (gh_backend_open(model, &bp, &b)) return cli_fail(cmd);
    gh_model *m = gh_backend_model(b);
    if (m && gh_model_get_info(m)->n_cls_out == 0) {
        fprintf(stderr, "goodhart reward: %s is not a reward model: it has no classifier head (tensor 'cls.output.weight'%s)\n",
                model, gh_model_get_info(m)->encoder ? "; it is an embedding model" : "");
        gh_backend_free(b);
        return 1;
    }
    gh_rm_score *r = NULL;
    int rc = 0;
    if (gh_backend_score(b, prompt, response, &r)) rc = cli_fail(cmd);
    else if (json) {
        printf("{\"model\":");
        cli_json_string(stdout, model, strlen(model));
        printf(",\"score\":%.17g,\"pooled_token\":%d,\"pooled_token_id\":%d", r->score, r->pooled_token, r->pooled_token_id);
        if (m && r->pooled_token_id >= 0) {
            const char *piece = gh_tokenizer_token_text(gh_model_tokenizer(m), r->pooled_token_id);
            printf(",\"pooled_piece\":");
            cli_json_string(stdout, piece ? piece : "", piece ? strlen(piece) : 0);
        }
        printf(",\"n_tokens\":%d", r->n_tokens);
        if (r->tokens) {
            printf(",\"tokens\":[");
            for (int32_t i = 0; i < r->n_tokens; i++) printf("%s%d", i ? "," : "", r->tokens[i]);
            printf("]");
        }
        printf(",\"eos_appended\":%s,\"text\":", r->eos_appended ? "true" : "false");
        cli_json_string(stdout, r->text, strlen(r->text));
        printf(",\"chat_template\":");
        if (r->chat_template) cli_json_string(stdout, r->chat_template, strlen(r->chat_template));
        else printf("null");
        printf("}\n");
    } else printf("%.17g\n", r->score);
    gh_rm_score_free(r);
    gh_backend_free(b);
    return rc;
}

int cmd_reward(int argc, char **argv) {
    if (argc < 2) { usage(stderr); return 2; }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) { usage(stdout); return 0; }
    if (argv[1][0] == '-') return rm_score(argc, argv);
    if (!strcmp(argv[1], "train")) return train(argc - 1, argv + 1);
    if (!strcmp(argv[1], "score")) return score(argc - 1, argv + 1);
    fprintf(stderr, "goodhart reward: unknown verb '%s' (train, score, or -m RM --prompt P --response R)\n", argv[1]);
    return 2;
}
