/* acts.c — activation extraction (see include/goodhart/acts.h): JSON Lines
 * records → gh_backend_hidden → one .npy row per record (or per token) per
 * layer, plus labels, row→record indices and a JSON sidecar.
 *
 * Two passes over the data file, read line by line (never whole): the first
 * validates every record so that bad input fails before any model work, the
 * second extracts. Nothing but the current record's hidden states is held in
 * memory; the .npy writers and the sidecar stream to temporary files that are
 * renamed into place only after everything succeeded.
 */
#include "goodhart/acts.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/hash.h"
#include "goodhart/model.h"
#include "goodhart/npy.h"
#include "goodhart/tokenizer.h"

static const char *const pool_names[] = {"last", "mean", "answer-token", "all"};

bool gh_acts_pool_from_name(const char *name, gh_acts_pool *out) {
    for (int i = 0; i < 4; i++)
        if (name && !strcmp(name, pool_names[i])) { *out = (gh_acts_pool)i; return true; }
    return false;
}

const char *gh_acts_pool_name(gh_acts_pool p) {
    return (unsigned)p < 4 ? pool_names[p] : "?";
}

gh_acts_params gh_acts_default_params(void) {
    return (gh_acts_params){.layers = NULL, .n_layers = 0, .pool = GH_ACTS_MEAN, .text_field = "text"};
}

/* ---------------------------------------------------------------- records */

enum { KIND_UNKNOWN = -1, KIND_TEXT = 0, KIND_PAIR = 1 };

typedef struct rec {
    cJSON *doc;
    const char *text;      /* KIND_TEXT */
    const char *prompt;    /* KIND_PAIR */
    const char *response;
    const cJSON *id;       /* NULL: use the line number */
    int label;             /* -1: none */
} rec;

/* Parses one non-blank line. *kind and *labelled (-1: not yet known) are
 * fixed by the first record and enforced on the rest. */
static gh_status parse_record(const char *path, int64_t line, const char *s, const char *field, int *kind,
                              int *labelled, rec *r) {
    memset(r, 0, sizeof *r);
    r->label = -1;
    cJSON *j = cJSON_Parse(s);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return gh_error(GH_ERR_FORMAT, "%s:%" PRId64 ": not a JSON object", path, line);
    }
    r->doc = j;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, field);
    const cJSON *pr = cJSON_GetObjectItemCaseSensitive(j, "prompt");
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(j, "response");
    int k = t ? KIND_TEXT : (pr || rs) ? KIND_PAIR : KIND_UNKNOWN;
    gh_status st = GH_OK;
    if (k == KIND_UNKNOWN) {
        st = gh_error(GH_ERR_FORMAT, "%s:%" PRId64 ": field \"%s\" (or \"prompt\" and \"response\") is missing", path,
                      line, field);
    } else if (*kind != KIND_UNKNOWN && k != *kind) {
        st = gh_error(GH_ERR_FORMAT, "%s:%" PRId64 ": record has %s but earlier records have %s", path, line,
                      k == KIND_TEXT ? field : "\"prompt\"/\"response\"",
                      *kind == KIND_TEXT ? field : "\"prompt\"/\"response\"");
    } else if (k == KIND_TEXT) {
        if (!cJSON_IsString(t)) st = gh_error(GH_ERR_FORMAT, "%s:%" PRId64 ": field \"%s\" is not a string", path, line, field);
        else if (!*t->valuestring) st = gh_error(GH_ERR_FORMAT, "%s:%" PRId64 ": field \"%s\" is empty", path, line, field);
        else r->text = t->valuestring;
    } else {
        if (!cJSON_IsString(pr))
            st = gh_error(GH_ERR_FORMAT, "%s:%" PRId64 ": field \"prompt\" is %s", path, line, pr ? "not a string" : "missing");
        else if (!cJSON_IsString(rs))
            st = gh_error(GH_ERR_FORMAT, "%s:%" PRId64 ": field \"response\" is %s", path, line, rs ? "not a string" : "missing");
        else if (!*rs->valuestring)
            st = gh_error(GH_ERR_FORMAT, "%s:%" PRId64 ": field \"response\" is empty", path, line);
        else { r->prompt = pr->valuestring; r->response = rs->valuestring; }
    }
    if (!st) {
        *kind = k;
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
        if (id && !cJSON_IsString(id) && !cJSON_IsNumber(id))
            st = gh_error(GH_ERR_FORMAT, "%s:%" PRId64 ": field \"id\" is not a string or number", path, line);
        r->id = id;
    }
    if (!st) {
        const cJSON *lab = cJSON_GetObjectItemCaseSensitive(j, "label");
        if (lab) {
            if (cJSON_IsBool(lab)) r->label = cJSON_IsTrue(lab);
            else if (cJSON_IsNumber(lab) && (lab->valuedouble == 0.0 || lab->valuedouble == 1.0))
                r->label = lab->valuedouble == 1.0;
            else st = gh_error(GH_ERR_FORMAT, "%s:%" PRId64 ": field \"label\" must be 0 or 1", path, line);
        }
        if (!st && *labelled >= 0 && *labelled != (r->label >= 0))
            st = gh_error(GH_ERR_FORMAT, "%s:%" PRId64 ": field \"label\" is %s but %s earlier record", path, line,
                          r->label >= 0 ? "present" : "missing", r->label >= 0 ? "missing on an" : "present on every");
        if (!st) *labelled = r->label >= 0;
    }
    if (st) { cJSON_Delete(j); r->doc = NULL; }
    return st;
}

/* Reads the next non-blank line; *line counts lines. Returns 1 on a line,
 * 0 at the end, -1 on a read error. */
static int next_line(FILE *f, char **buf, size_t *cap, int64_t *line) {
    for (;;) {
        errno = 0;
        ssize_t n = getline(buf, cap, f);
        if (n < 0) return ferror(f) ? -1 : 0;
        (*line)++;
        char *q = *buf;
        while (*q == ' ' || *q == '\t' || *q == '\r' || *q == '\n') q++;
        if (*q) return 1;
    }
}

/* ---------------------------------------------------------------- outputs */

typedef struct outputs {
    gh_npy_writer **feat;  /* [n_layers] */
    gh_npy_writer *rows;   /* pool all */
    gh_npy_writer *labels;
    FILE *side;
    char *side_path, *side_tmp;
    char **feat_names;     /* [n_layers] base names, for the sidecar */
} outputs;

static void outputs_abort(outputs *o, int32_t n_layers) {
    for (int32_t k = 0; k < n_layers; k++) {
        if (o->feat) gh_npy_writer_abort(o->feat[k]);
        if (o->feat_names) free(o->feat_names[k]);
    }
    free(o->feat);
    free(o->feat_names);
    gh_npy_writer_abort(o->rows);
    gh_npy_writer_abort(o->labels);
    if (o->side) { fclose(o->side); unlink(o->side_tmp); }
    free(o->side_path);
    free(o->side_tmp);
    memset(o, 0, sizeof *o);
}

static char *cat(const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b);
    char *s = malloc(na + nb + 1);
    if (s) { memcpy(s, a, na); memcpy(s + na, b, nb + 1); }
    return s;
}

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* ---------------------------------------------------------------- extract */

gh_status gh_acts_extract(gh_backend *b, const char *data_path, const char *out, const gh_acts_params *p,
                          gh_acts_summary *summary) {
    if (!b || !data_path || !out || !p || p->n_layers < 1 || !p->layers || (unsigned)p->pool > GH_ACTS_ALL)
        return gh_error(GH_ERR_INVALID_ARG, "gh_acts_extract: bad arguments");
    gh_status st = gh_backend_require(b, GH_CAP_HIDDEN | GH_CAP_TOKENIZE, "activation extraction");
    if (st) return st;
    gh_model *m = gh_backend_model(b);
    if (!m) return gh_error(GH_ERR_UNSUPPORTED, "activation extraction needs a local model");
    const gh_model_info *I = gh_model_get_info(m);
    const gh_tokenizer *tok = gh_model_tokenizer(m);
    for (int32_t k = 0; k < p->n_layers; k++) {
        if (p->layers[k] < 0 || p->layers[k] > I->n_layer)
            return gh_error(GH_ERR_INVALID_ARG, "layer %d: the model has layers 0 (embeddings) to %d", p->layers[k],
                            I->n_layer);
        for (int32_t j = 0; j < k; j++)
            if (p->layers[j] == p->layers[k]) return gh_error(GH_ERR_INVALID_ARG, "layer %d is listed twice", p->layers[k]);
    }
    const char *field = p->text_field && *p->text_field ? p->text_field : "text";
    const int32_t bos = (gh_tokenizer_add_bos(tok) && gh_tokenizer_bos(tok) >= 0) ? 1 : 0;

    /* pass 1: validate every record */
    FILE *f = fopen(data_path, "r");
    if (!f) return gh_error(GH_ERR_IO, "%s: cannot open: %s", data_path, strerror(errno));
    char *buf = NULL;
    size_t cap = 0;
    int64_t line = 0, n_rec = 0;
    int kind = KIND_UNKNOWN, labelled = -1, r;
    while (!st && (r = next_line(f, &buf, &cap, &line)) != 0) {
        if (r < 0) { st = gh_error(GH_ERR_IO, "%s: read error", data_path); break; }
        rec rc;
        if ((st = parse_record(data_path, line, buf, field, &kind, &labelled, &rc))) break;
        if (kind == KIND_TEXT && p->pool == GH_ACTS_ANSWER)
            st = gh_error(GH_ERR_INVALID_ARG, "%s:%" PRId64 ": --pool answer-token needs \"prompt\" and \"response\" records",
                          data_path, line);
        cJSON_Delete(rc.doc);
        n_rec++;
    }
    if (!st && n_rec == 0) st = gh_error(GH_ERR_FORMAT, "%s: no records", data_path);
    if (st) { fclose(f); free(buf); return st; }
    rewind(f);

    /* outputs */
    char hash[65];
    if ((st = gh_sha256_file(data_path, hash))) { fclose(f); free(buf); return st; }
    size_t ol = strlen(out);
    char *prefix = strdup(out);
    if (!prefix) { fclose(f); free(buf); return gh_error(GH_ERR_NOMEM, "out of memory"); }
    if (ol > 4 && !strcmp(out + ol - 4, ".npy")) prefix[ol - 4] = 0;
    outputs o = {0};
    o.feat = calloc((size_t)p->n_layers, sizeof *o.feat);
    o.feat_names = calloc((size_t)p->n_layers, sizeof *o.feat_names);
    if (!o.feat || !o.feat_names) { st = gh_error(GH_ERR_NOMEM, "out of memory"); goto fail; }
    for (int32_t k = 0; k < p->n_layers && !st; k++) {
        char suffix[32];
        if (p->n_layers == 1) snprintf(suffix, sizeof suffix, ".npy");
        else snprintf(suffix, sizeof suffix, "_L%d.npy", p->layers[k]);
        char *path = cat(prefix, suffix);
        if (!path) { st = gh_error(GH_ERR_NOMEM, "out of memory"); break; }
        st = gh_npy_writer_open(path, I->n_embd, &o.feat[k]);
        o.feat_names[k] = strdup(base_name(path));
        free(path);
    }
    if (st) goto fail;
    if (p->pool == GH_ACTS_ALL) {
        char *path = cat(prefix, ".rows.npy");
        st = path ? gh_npy_writer_open_dtype(path, GH_NPY_I64, 0, &o.rows) : gh_error(GH_ERR_NOMEM, "out of memory");
        free(path);
        if (st) goto fail;
    }
    if (labelled == 1) {
        char *path = cat(prefix, ".labels.npy");
        st = path ? gh_npy_writer_open_dtype(path, GH_NPY_U8, 0, &o.labels) : gh_error(GH_ERR_NOMEM, "out of memory");
        free(path);
        if (st) goto fail;
    }
    o.side_path = cat(prefix, ".json");
    o.side_tmp = o.side_path ? malloc(strlen(o.side_path) + 32) : NULL;
    if (!o.side_tmp) { st = gh_error(GH_ERR_NOMEM, "out of memory"); goto fail; }
    snprintf(o.side_tmp, strlen(o.side_path) + 32, "%s.tmp.%ld", o.side_path, (long)getpid());
    o.side = fopen(o.side_tmp, "w");
    if (!o.side) { st = gh_error(GH_ERR_IO, "cannot write '%s': %s", o.side_path, strerror(errno)); goto fail; }
    fputs("{\"format\": \"goodhart.acts/1\",\n \"records\": [\n", o.side);

    /* pass 2: extract */
    line = 0;
    int64_t rec_i = 0, row = 0;
    kind = KIND_UNKNOWN;
    labelled = -1;
    gh_pool bpool = p->pool == GH_ACTS_MEAN ? GH_POOL_MEAN : p->pool == GH_ACTS_ALL ? GH_POOL_ALL : GH_POOL_LAST;
    while (!st && (r = next_line(f, &buf, &cap, &line)) != 0) {
        if (r < 0) { st = gh_error(GH_ERR_IO, "%s: read error", data_path); break; }
        rec rc;
        if ((st = parse_record(data_path, line, buf, field, &kind, &labelled, &rc))) break;
        /* the text and the span of token positions to pool */
        char *text = NULL;
        int32_t sb = bos, se = 0;
        if (kind == KIND_TEXT) {
            text = strdup(rc.text);
        } else {
            int32_t *ids = NULL;
            size_t n = 0;
            st = gh_tokenize(tok, rc.prompt, strlen(rc.prompt), false, false, &ids, &n);
            free(ids);
            int32_t resp = (int32_t)n + bos; /* first token of the response */
            if (!st) {
                if (p->pool == GH_ACTS_LAST) {
                    /* the prompt's last token: where the answer is decided */
                    if (resp == 0) st = gh_error(GH_ERR_INVALID_ARG, "the prompt is empty and there is no BOS: no last prompt token");
                    sb = 0;
                    se = resp;
                } else {
                    sb = resp;
                    se = 0;
                }
            }
            text = st ? NULL : cat(rc.prompt, rc.response);
        }
        gh_hidden *h = NULL;
        if (!st && !text) st = gh_error(GH_ERR_NOMEM, "out of memory");
        if (!st) st = gh_backend_hidden(b, text, p->layers, p->n_layers, bpool, sb, se, &h);
        free(text);
        if (st) {
            gh_error_prefix("%s:%" PRId64, data_path, line);
            cJSON_Delete(rc.doc);
            break;
        }
        for (int32_t k = 0; k < p->n_layers && !st; k++)
            st = gh_npy_writer_append(o.feat[k], h->data + (size_t)k * h->n_rows * h->n_embd, h->n_rows);
        for (int32_t t = 0; t < h->n_rows && !st && o.rows; t++) st = gh_npy_writer_append(o.rows, &rec_i, 1);
        if (!st && o.labels) {
            uint8_t y = (uint8_t)rc.label;
            st = gh_npy_writer_append(o.labels, &y, 1);
        }
        if (!st) {
            int32_t pb = bpool == GH_POOL_LAST ? h->span_end - 1 : h->span_begin;
            cJSON *j = cJSON_CreateObject();
            if (rc.id) cJSON_AddItemToObject(j, "id", cJSON_Duplicate(rc.id, true));
            else cJSON_AddNumberToObject(j, "id", (double)line);
            cJSON_AddNumberToObject(j, "line", (double)line);
            cJSON_AddNumberToObject(j, "n_tokens", h->n_tokens);
            cJSON *span = cJSON_AddArrayToObject(j, "span");
            cJSON_AddItemToArray(span, cJSON_CreateNumber(pb));
            cJSON_AddItemToArray(span, cJSON_CreateNumber(h->span_end));
            cJSON_AddNumberToObject(j, "row", (double)row);
            cJSON_AddNumberToObject(j, "n_rows", h->n_rows);
            if (rc.label >= 0) cJSON_AddNumberToObject(j, "label", rc.label);
            char *js = cJSON_PrintUnformatted(j);
            cJSON_Delete(j);
            if (!js) st = gh_error(GH_ERR_NOMEM, "out of memory");
            else { fprintf(o.side, "  %s%s\n", js, rec_i + 1 < n_rec ? "," : ""); free(js); }
            row += h->n_rows;
        }
        gh_hidden_free(h);
        cJSON_Delete(rc.doc);
        rec_i++;
        if (!st && p->progress) p->progress(p->progress_user, "acts", rec_i, n_rec);
    }
    if (st) goto fail;
    if (rec_i != n_rec) { st = gh_error(GH_ERR_IO, "%s: changed while being read", data_path); goto fail; }

    /* the sidecar's summary */
    {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "model", gh_backend_ref(b));
        cJSON_AddStringToObject(j, "model_sha256", gh_model_sha256(m));
        cJSON_AddNumberToObject(j, "n_embd", I->n_embd);
        cJSON_AddNumberToObject(j, "n_layer", I->n_layer);
        cJSON *ly = cJSON_AddArrayToObject(j, "layers");
        cJSON *fl = cJSON_AddArrayToObject(j, "files");
        for (int32_t k = 0; k < p->n_layers; k++) {
            cJSON_AddItemToArray(ly, cJSON_CreateNumber(p->layers[k]));
            cJSON_AddItemToArray(fl, cJSON_CreateString(o.feat_names[k]));
        }
        cJSON_AddStringToObject(j, "pool", gh_acts_pool_name(p->pool));
        cJSON_AddStringToObject(j, "text_field", kind == KIND_TEXT ? field : "prompt+response");
        cJSON_AddStringToObject(j, "span", kind == KIND_TEXT ? "text"
                                           : p->pool == GH_ACTS_LAST ? "prompt" : "response");
        cJSON_AddBoolToObject(j, "bos", bos);
        cJSON_AddStringToObject(j, "data", data_path);
        cJSON_AddStringToObject(j, "data_sha256", hash);
        cJSON_AddNumberToObject(j, "n_records", (double)n_rec);
        cJSON_AddNumberToObject(j, "n_rows", (double)row);
        char *rows_name = o.rows ? cat(base_name(prefix), ".rows.npy") : NULL;
        char *lab_name = o.labels ? cat(base_name(prefix), ".labels.npy") : NULL;
        if (rows_name) cJSON_AddStringToObject(j, "rows_file", rows_name); else cJSON_AddNullToObject(j, "rows_file");
        if (lab_name) cJSON_AddStringToObject(j, "labels_file", lab_name); else cJSON_AddNullToObject(j, "labels_file");
        free(rows_name);
        free(lab_name);
        char *js = cJSON_PrintUnformatted(j);
        cJSON_Delete(j);
        if (!js) { st = gh_error(GH_ERR_NOMEM, "out of memory"); goto fail; }
        /* splice the summary's keys after the records array */
        fprintf(o.side, " ],\n %s\n", js + 1);
        free(js);
    }
    if (fflush(o.side) != 0 || ferror(o.side)) { st = gh_error(GH_ERR_IO, "cannot write '%s': %s", o.side_path, strerror(errno)); goto fail; }
    int ce = fclose(o.side);
    o.side = NULL;
    if (ce != 0) { unlink(o.side_tmp); st = gh_error(GH_ERR_IO, "cannot write '%s': %s", o.side_path, strerror(errno)); goto fail; }
    /* close the arrays (each renamed into place), then the sidecar */
    for (int32_t k = 0; k < p->n_layers; k++) {
        gh_npy_writer *w = o.feat[k];
        o.feat[k] = NULL;
        if (!st) st = gh_npy_writer_close(w); else gh_npy_writer_abort(w);
    }
    if (o.rows) { gh_npy_writer *w = o.rows; o.rows = NULL; if (!st) st = gh_npy_writer_close(w); else gh_npy_writer_abort(w); }
    if (o.labels) { gh_npy_writer *w = o.labels; o.labels = NULL; if (!st) st = gh_npy_writer_close(w); else gh_npy_writer_abort(w); }
    if (!st && rename(o.side_tmp, o.side_path) != 0)
        st = gh_error(GH_ERR_IO, "cannot write '%s': rename from temporary file failed: %s", o.side_path, strerror(errno));
    if (st) unlink(o.side_tmp);
    if (!st && summary) *summary = (gh_acts_summary){n_rec, row, I->n_embd, labelled == 1};
fail:
    outputs_abort(&o, p->n_layers);
    fclose(f);
    free(buf);
    free(prefix);
    return st;
}
