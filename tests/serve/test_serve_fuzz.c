/* Fuzz/property test of the server's request parser: valid bodies of every
 * endpoint, mutated at random (byte flips, cuts, insertions of JSON
 * fragments, whole fields replaced by values of other types, deep nesting),
 * go through gh_server_handle; the property is that every answer is either a
 * 200 with a JSON object that is not an error, or a 4xx with a well-formed
 * OpenAI error object — never a crash (ASan/UBSan run this too), a 5xx or
 * invalid JSON. Then malformed HTTP on a real socket: the server still answers.
 * Deterministic: the mutations come from a fixed seed. */
#include "testutil.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/rng.h"
#include "goodhart/backend.h"
#include "goodhart/serve.h"

static gh_backend *g_b;
static gh_server *g_s;

static const struct { const char *path, *body; } seeds[] = {
    {"/v1/completions", "{\"model\":\"stories260K\",\"prompt\":\"Once upon a time\",\"max_tokens\":4,\"temperature\":0.8,"
                        "\"top_p\":0.9,\"top_k\":20,\"min_p\":0.05,\"n\":2,\"seed\":7,\"stop\":[\".\",\"!\"],\"logprobs\":2,"
                        "\"echo\":true,\"first_sample\":1,\"return_token_ids\":true}"},
    {"/v1/completions", "{\"prompt\":[[1,403,407],[1,261]],\"max_tokens\":3,\"n\":1,\"seed\":1,\"ignore_eos\":true,\"user\":\"u\"}"},
    {"/v1/completions", "{\"prompt\":[\"a\",\"b c\"],\"max_tokens\":0,\"echo\":true,\"logprobs\":0,\"add_special_tokens\":false}"},
    {"/v1/chat/completions", "{\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":"
                             "[{\"type\":\"text\",\"text\":\"Hi\"}]}],\"max_tokens\":3,\"logprobs\":true,\"top_logprobs\":2,\"seed\":3}"},
    {"/tokenize", "{\"prompt\":\"Once upon a time\",\"add_special_tokens\":true,\"return_token_strs\":true}"},
    {"/tokenize", "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"add_generation_prompt\":true}"},
    {"/detokenize", "{\"tokens\":[1,403,407,261]}"},
    {"/v1/embeddings", "{\"input\":[\"Once upon\",\"a time\"],\"encoding_format\":\"base64\",\"model\":\"stories260K\"}"},
    {"/v1/hidden_states", "{\"input\":\"The big dog\",\"layers\":[0,5],\"pooling\":\"all\",\"span_begin\":1,\"span_end\":-1}"},
    {"/v1/rewards", "{\"input\":[{\"prompt\":\"a\",\"response\":\"b\"}]}"},
};

static const char *frags[] = {
    "\"", "{", "}", "[", "]", ",", ":", "null", "true", "false", "-1", "0", "1e309", "-1e309", "99999999999999999999",
    "2147483648", "0.5", "\"n\"", "\"max_tokens\"", "\"prompt\"", "[[[[[[[[", "]]]]", "\\u0000", "\\ud800", "\\",
    "\xff", "\xc3", "\xe2\x82", "{\"a\":{\"b\":[]}}", "\"\":\"\"", " ", "\n", "1.5", "-0", "NaN", "Infinity",
};

static int setup(void **state) {
    (void)state;
    gh_backend_params bp = gh_backend_default_params();
    bp.n_threads = 1;
    bp.chat_template = "plain";
    assert_ok(gh_backend_open(tu_stories_gguf(), &bp, &g_b));
    gh_serve_params p = gh_serve_default_params();
    p.port = 0;
    p.n_slots = 4;
    p.max_n = 3;
    p.max_inputs = 3;
    p.max_tokens = 6;
    p.max_body_bytes = 1 << 16;
    assert_ok(gh_server_start(&p, &g_s));
    assert_ok(gh_server_attach(g_s, g_b));
    return 0;
}

static int teardown(void **state) {
    (void)state;
    gh_server_stop(g_s);
    gh_backend_free(g_b);
    return 0;
}

typedef struct tally { int ok, client_err; } tally;

/* The property, for one body. */
static void check_one(const char *path, const char *body, size_t len, tally *t) {
    int32_t st = 0;
    char *resp = NULL;
    if (getenv("GH_FUZZ_TRACE")) fprintf(stderr, "POST %s %.*s\n", path, (int)len, body);
    assert_ok(gh_server_handle(g_s, "POST", path, NULL, body, len, &st, &resp));
    cJSON *j = cJSON_Parse(resp);
    bool good = j && cJSON_IsObject(j);
    if (good && st == 200) {
        good = !cJSON_GetObjectItem(j, "error");
        t->ok++;
    } else if (good && st >= 400 && st < 500) {
        const cJSON *e = cJSON_GetObjectItem(j, "error");
        good = cJSON_IsObject(e) && cJSON_IsString(cJSON_GetObjectItem(e, "message")) &&
               cJSON_IsString(cJSON_GetObjectItem(e, "type")) && cJSON_GetObjectItem(e, "param") &&
               cJSON_GetObjectItem(e, "code");
        t->client_err++;
    } else good = false;
    if (!good) {
        fprintf(stderr, "bad answer %d to POST %s body (%zu bytes) '%.*s':\n%s\n", st, path, len, (int)(len < 400 ? len : 400), body,
                resp ? resp : "(null)");
        fail();
    }
    cJSON_Delete(j);
    free(resp);
}

static uint32_t rnd(gh_rng *r, uint32_t n) { return (uint32_t)(gh_rng_next(r) % n); }

/* Byte-level mutations: 1 (half the time) to 4 of: change a byte, cut,
 * insert a fragment, truncate, duplicate a range. */
static void test_byte_mutations(void **state) {
    (void)state;
    gh_rng r;
    gh_rng_seed(&r, 2024, 0);
    tally t = {0};
    char *buf = malloc(1 << 14);
    for (int it = 0; it < 1200; it++) {
        size_t k = rnd(&r, sizeof seeds / sizeof seeds[0]);
        size_t n = strlen(seeds[k].body);
        memcpy(buf, seeds[k].body, n);
        int m = rnd(&r, 2) ? 1 : 1 + (int)rnd(&r, 4);
        for (int q = 0; q < m; q++) {
            size_t at = n ? rnd(&r, (uint32_t)n) : 0;
            switch (rnd(&r, 5)) {
            case 0: /* a digit becomes another digit (often still valid JSON), anything else any byte */
                if (n) buf[at] = buf[at] >= '0' && buf[at] <= '9' ? (char)('0' + rnd(&r, 10)) : (char)rnd(&r, 256);
                break;
            case 1: { size_t L = rnd(&r, 8) + 1; if (at + L > n) L = n - at; memmove(buf + at, buf + at + L, n - at - L); n -= L; break; }
            case 2: {
                const char *f = frags[rnd(&r, sizeof frags / sizeof frags[0])];
                size_t L = strlen(f);
                if (n + L < 8000) { memmove(buf + at + L, buf + at, n - at); memcpy(buf + at, f, L); n += L; }
                break;
            }
            case 3: n = at; break; /* truncate */
            default: {
                size_t L = rnd(&r, 16) + 1;
                if (at + L > n) L = n - at;
                if (n + L < 8000) { memmove(buf + at + L, buf + at, n - at); n += L; } /* buf[at, at+L) now appears twice */
                break;
            }
            }
        }
        check_one(seeds[k].path, buf, n, &t);
    }
    free(buf);
    fprintf(stderr, "byte mutations: %d answered 200, %d answered 4xx\n", t.ok, t.client_err);
    /* both kinds of answer occurred: the mutations reach past the parser */
    assert_true(t.ok > 20);
    assert_true(t.client_err > 200);
}

/* A random JSON value of any type, sometimes extreme. */
static cJSON *random_value(gh_rng *r, int depth) {
    switch (rnd(r, depth > 2 ? 9 : 11)) {
    case 0: return cJSON_CreateNull();
    case 1: return cJSON_CreateBool(rnd(r, 2));
    case 2: return cJSON_CreateNumber((double)rnd(r, 10));
    case 3: return cJSON_CreateNumber(-1.0 - rnd(r, 5));
    case 4: return cJSON_CreateNumber(1e300);
    case 5: return cJSON_CreateNumber(0.25 * rnd(r, 12));
    case 6: return cJSON_CreateNumber(4294967296.0 + rnd(r, 3));
    case 7: return cJSON_CreateString(rnd(r, 2) ? "" : "stories260K");
    case 8: return cJSON_CreateString("\xff\xfe text");
    case 9: { cJSON *a = cJSON_CreateArray(); for (uint32_t i = rnd(r, 4); i > 0; i--) cJSON_AddItemToArray(a, random_value(r, depth + 1)); return a; }
    default: { cJSON *o = cJSON_CreateObject(); cJSON_AddItemToObject(o, rnd(r, 2) ? "role" : "text", random_value(r, depth + 1)); return o; }
    }
}

/* Structural mutations: a field's value replaced by a random value, a field
 * removed, or an element of a list replaced; the JSON stays well-formed. */
static void test_field_mutations(void **state) {
    (void)state;
    gh_rng r;
    gh_rng_seed(&r, 77, 0);
    tally t = {0};
    for (int it = 0; it < 1200; it++) {
        size_t k = rnd(&r, sizeof seeds / sizeof seeds[0]);
        cJSON *j = cJSON_Parse(seeds[k].body);
        assert_non_null(j);
        int nf = cJSON_GetArraySize(j), m = 1 + (int)rnd(&r, 2);
        for (int q = 0; q < m && nf > 0; q++) {
            int f = (int)rnd(&r, (uint32_t)nf);
            cJSON *item = cJSON_GetArrayItem(j, f);
            uint32_t how = rnd(&r, 4);
            if (how == 0) { cJSON_DeleteItemFromArray(j, f); nf--; }
            else if (how == 1 && (cJSON_IsArray(item) || cJSON_IsObject(item)) && cJSON_GetArraySize(item) > 0)
                cJSON_ReplaceItemInArray(item, (int)rnd(&r, (uint32_t)cJSON_GetArraySize(item)), random_value(&r, 1));
            else cJSON_ReplaceItemInObject(j, item->string, random_value(&r, 0));
        }
        char *body = cJSON_PrintUnformatted(j);
        check_one(seeds[k].path, body, strlen(body), &t);
        free(body);
        cJSON_Delete(j);
    }
    assert_true(t.ok > 20);
    assert_true(t.client_err > 200);
}

/* Nesting far past any sane depth, huge arrays of ids, long strings. */
static void test_extremes(void **state) {
    (void)state;
    tally t = {0};
    size_t D = 20000;
    char *b = malloc(2 * D + 64);
    size_t n = (size_t)sprintf(b, "{\"prompt\":");
    for (size_t i = 0; i < D; i++) b[n++] = '[';
    for (size_t i = 0; i < D; i++) b[n++] = ']';
    b[n++] = '}';
    check_one("/v1/completions", b, n, &t);
    free(b);
    /* more token ids than the context */
    b = malloc(8000);
    n = (size_t)sprintf(b, "{\"prompt\":[1");
    for (int i = 0; i < 600; i++) n += (size_t)sprintf(b + n, ",5");
    n += (size_t)sprintf(b + n, "],\"max_tokens\":1}");
    check_one("/v1/completions", b, n, &t);
    free(b);
    check_one("/v1/completions", "{\"prompt\":\"a\"}\0{", 16, &t);
    check_one("/v1/completions", "\xef\xbb\xbf{\"prompt\":\"a\"}", 17, &t);
    check_one("/detokenize", "{\"tokens\":[1e2,2.0,-0]}", 23, &t);
    assert_int_equal(t.ok, 1); /* only the last: ids written as 1e2, 2.0 and -0 are integers */
}

/* Malformed HTTP on a socket: garbage, bad lengths, a bad chunked body, a
 * header block far over the limit. The server answers each (or closes) and
 * still serves /health afterwards. */
static int connect_to(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    struct timeval tv = {30, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static char *exchange(int port, const char *req, size_t len) {
    int fd = connect_to(port);
    ssize_t w = send(fd, req, len, MSG_NOSIGNAL);
    (void)w;
    shutdown(fd, SHUT_WR);
    char *out = calloc(1, 1 << 16);
    size_t n = 0;
    ssize_t r;
    while (n < (1 << 16) - 1 && (r = recv(fd, out + n, (1 << 16) - 1 - n, 0)) > 0) n += (size_t)r;
    close(fd);
    return out;
}

static void test_bad_http(void **state) {
    (void)state;
    int port = gh_server_port(g_s);
    const char *reqs[] = {
        "GARBAGE\r\n\r\n",
        "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n{}",
        "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n{}",
        "POST /v1/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
        "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{",
        "GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n",
        "POST /v1/completions?x=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}",
    };
    for (size_t i = 0; i < sizeof reqs / sizeof reqs[0]; i++) free(exchange(port, reqs[i], strlen(reqs[i])));
    /* a header block of 200 KB */
    size_t H = 200000;
    char *big = malloc(H + 100);
    size_t n = (size_t)sprintf(big, "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(big + n, 'a', H);
    n += H;
    n += (size_t)sprintf(big + n, "\r\n\r\n");
    free(exchange(port, big, n));
    free(big);
    /* a chunked body over the size limit is refused with 413 */
    size_t B = 70000;
    char *ch = malloc(B + 200);
    n = (size_t)sprintf(ch, "POST /v1/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n%zx\r\n", B);
    memset(ch + n, ' ', B);
    n += B;
    n += (size_t)sprintf(ch + n, "\r\n0\r\n\r\n");
    char *resp = exchange(port, ch, n);
    assert_contains(resp, "413");
    assert_contains(resp, "request_too_large");
    free(resp);
    free(ch);
    const char *h = "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    resp = exchange(port, h, strlen(h));
    assert_contains(resp, "200 OK");
    assert_contains(resp, "\"status\":\"ok\"");
    free(resp);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_byte_mutations),
        cmocka_unit_test(test_field_mutations),
        cmocka_unit_test(test_extremes),
        cmocka_unit_test(test_bad_http),
    };
    return cmocka_run_group_tests_name("serve_fuzz", tests, setup, teardown);
}
