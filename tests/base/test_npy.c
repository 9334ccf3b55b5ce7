/* Tests of NumPy .npy reading and writing: round trips checked with NumPy
 * itself (/usr/bin/python3), files NumPy writes (f4/f8, 1-D/2-D, versions 1-3,
 * every label dtype), and hostile files (bad magic, truncation, absurd
 * shapes, wrong dtypes, big-endian, Fortran order, NaN) failing clearly. */
#include "testutil.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "goodhart/npy.h"

/* Runs a Python snippet with numpy imported as np and the temp dir as D;
 * returns its output (malloc'd), asserting exit status 0. */
static char *py(const char *code) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 -c \"import numpy as np; D='%s'\n%s\"", tu_tmpdir(), code);
    int rc;
    char *out = tu_run(cmd, &rc);
    if (rc != 0) fprintf(stderr, "python failed (%d):\n%s\n%s\n", rc, code, out);
    assert_int_equal(rc, 0);
    return out;
}

/* Writes a .npy file by hand: version major.0, the given dict (padded to a
 * 64-byte boundary unless pad is false), then len bytes of data. */
static void write_raw(const char *path, int major, const char *dict, const void *data, size_t len) {
    size_t pre = major == 1 ? 10 : 12, dl = strlen(dict);
    size_t total = (pre + dl + 1 + 63) / 64 * 64;
    size_t hlen = total - pre;
    char *buf = malloc(total + len);
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (char)major;
    buf[7] = 0;
    buf[8] = (char)(hlen & 0xff);
    buf[9] = (char)(hlen >> 8);
    if (major != 1) { buf[10] = 0; buf[11] = 0; }
    memcpy(buf + pre, dict, dl);
    memset(buf + pre + dl, ' ', hlen - dl - 1);
    buf[total - 1] = '\n';
    if (len) memcpy(buf + total, data, len);
    assert_int_equal(tu_write_file(path, buf, total + len), 0);
    free(buf);
}

static void expect_fail_f32(const char *path, gh_status want, const char *needle) {
    float *x = NULL;
    int64_t r, c;
    gh_status s = gh_npy_read_f32(path, &x, &r, &c);
    if (s != want) fprintf(stderr, "status %d, message: %s\n", s, gh_last_error());
    assert_int_equal(s, want);
    assert_null(x);
    assert_contains(gh_last_error(), needle);
    assert_contains(gh_last_error(), path);
}

static void expect_fail_labels(const char *path, gh_status want, const char *needle) {
    uint8_t *y = NULL;
    int64_t n;
    gh_status s = gh_npy_read_labels(path, &y, &n);
    if (s != want) fprintf(stderr, "status %d, message: %s\n", s, gh_last_error());
    assert_int_equal(s, want);
    assert_null(y);
    assert_contains(gh_last_error(), needle);
}

static void test_write_read_by_numpy(void **state) {
    (void)state;
    float x[6] = {1.5f, -2.0f, 3.25f, 1e-30f, 0.0f, 123456.789f};
    assert_ok(gh_npy_write_f32(tu_tmp("w.npy"), x, 2, 3));
    char *out = py("a=np.load(D+'/w.npy')\n"
                   "assert a.dtype==np.float32 and a.shape==(2,3), (a.dtype,a.shape)\n"
                   "e=np.array([[1.5,-2,3.25],[1e-30,0,123456.789]],dtype=np.float32)\n"
                   "assert np.array_equal(a,e)\n"
                   "b=open(D+'/w.npy','rb').read()\n"
                   "hl=int.from_bytes(b[8:10],'little'); assert (10+hl)%64==0 and b[9+hl]==10\n"
                   "print('OK')");
    assert_contains(out, "OK");
    free(out);
    /* and back through our reader */
    float *y;
    int64_t r, c;
    assert_ok(gh_npy_read_f32(tu_tmp("w.npy"), &y, &r, &c));
    assert_int_equal(r, 2);
    assert_int_equal(c, 3);
    assert_memory_equal(x, y, sizeof x);
    free(y);
    /* zero rows is a valid array */
    assert_ok(gh_npy_write_f32(tu_tmp("empty.npy"), NULL, 0, 5));
    out = py("a=np.load(D+'/empty.npy'); assert a.shape==(0,5) and a.dtype==np.float32; print('OK')");
    assert_contains(out, "OK");
    free(out);
    assert_ok(gh_npy_read_f32(tu_tmp("empty.npy"), &y, &r, &c));
    assert_int_equal(r, 0);
    assert_int_equal(c, 5);
    free(y);
}

static void test_streaming_writer(void **state) {
    (void)state;
    gh_npy_writer *w;
    const char *path = tu_tmp("stream.npy");
    assert_ok(gh_npy_writer_open(path, 4, &w));
    float row[4 * 3];
    int64_t k = 0;
    for (int chunk = 1; chunk <= 3; chunk++) { /* 1 + 2 + 3 rows */
        for (int i = 0; i < chunk * 4; i++) row[i] = (float)(k++);
        assert_ok(gh_npy_writer_append(w, row, chunk));
        /* nothing appears under the target name until close */
        assert_null(fopen(path, "rb"));
    }
    assert_int_equal(gh_npy_writer_rows(w), 6);
    assert_ok(gh_npy_writer_close(w));
    char *out = py("a=np.load(D+'/stream.npy')\n"
                   "assert a.shape==(6,4) and a.dtype==np.float32\n"
                   "assert np.array_equal(a.ravel(),np.arange(24,dtype=np.float32)); print('OK')");
    assert_contains(out, "OK");
    free(out);
    /* 1-D int64 and uint8 */
    int64_t idx[5] = {0, 0, 1, 7, -3};
    uint8_t lab[4] = {0, 1, 1, 0};
    assert_ok(gh_npy_write_i64(tu_tmp("i.npy"), idx, 5));
    assert_ok(gh_npy_write_u8(tu_tmp("u.npy"), lab, 4));
    out = py("a=np.load(D+'/i.npy'); b=np.load(D+'/u.npy')\n"
             "assert a.dtype==np.int64 and a.tolist()==[0,0,1,7,-3]\n"
             "assert b.dtype==np.uint8 and b.tolist()==[0,1,1,0]; print('OK')");
    assert_contains(out, "OK");
    free(out);
    uint8_t *y;
    int64_t n;
    assert_ok(gh_npy_read_labels(tu_tmp("u.npy"), &y, &n));
    assert_int_equal(n, 4);
    assert_memory_equal(y, lab, 4);
    free(y);
}

static int count_tmp_files(const char *prefix) {
    DIR *d = opendir(tu_tmpdir());
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (!strncmp(e->d_name, prefix, strlen(prefix))) n++;
    closedir(d);
    return n;
}

static void test_writer_failures_leave_nothing(void **state) {
    (void)state;
    const char *path = tu_tmp("bad.npy");
    gh_npy_writer *w;
    assert_ok(gh_npy_writer_open(path, 3, &w));
    float row[3] = {1, NAN, 2};
    assert_int_equal(gh_npy_writer_append(w, row, 1), GH_ERR_INVALID_ARG);
    assert_contains(gh_last_error(), "row 0, column 1 is NaN");
    assert_int_not_equal(gh_npy_writer_close(w), GH_OK);
    assert_int_equal(count_tmp_files("bad.npy"), 0);
    assert_ok(gh_npy_writer_open(path, 3, &w));
    gh_npy_writer_abort(w);
    assert_int_equal(count_tmp_files("bad.npy"), 0);
    float x[2] = {1, INFINITY};
    assert_int_not_equal(gh_npy_write_f32(path, x, 1, 2), GH_OK);
    assert_contains(gh_last_error(), "infinite");
    assert_int_equal(count_tmp_files("bad.npy"), 0);
    /* unwritable directory */
    assert_int_equal(gh_npy_write_f32("/nonexistent-dir/x.npy", x, 1, 1), GH_ERR_IO);
    assert_contains(gh_last_error(), "/nonexistent-dir/x.npy");
}

static void test_read_numpy_files(void **state) {
    (void)state;
    char *out = py("r=np.random.default_rng(3)\n"
                   "a=r.standard_normal((5,7)).astype(np.float32); np.save(D+'/f4.npy',a)\n"
                   "np.save(D+'/f8.npy',a.astype(np.float64))\n"
                   "np.save(D+'/v1d.npy',np.array([1.5,2.5,-3],dtype=np.float32))\n"
                   "f=open(D+'/v2.npy','wb'); np.lib.format.write_array(f,a,version=(2,0)); f.close()\n"
                   "f=open(D+'/v3.npy','wb'); np.lib.format.write_array(f,a,version=(3,0)); f.close()\n"
                   "np.savetxt(D+'/f4.txt',a,fmt='%.9g')\n"
                   "y=np.array([1,0,0,1,1,0])\n"
                   "[np.save(D+'/y_'+t+'.npy',y.astype(t)) for t in ['bool','uint8','int8','int32','int64','float32','float64']]\n"
                   "np.save(D+'/ycol.npy',y.reshape(-1,1).astype(np.int64))\n"
                   "print('OK')");
    assert_contains(out, "OK");
    free(out);
    /* expected values from the text dump (%.9g round-trips float32) */
    FILE *t = fopen(tu_tmp("f4.txt"), "r");
    assert_non_null(t);
    float e[35];
    for (int i = 0; i < 35; i++) assert_int_equal(fscanf(t, "%f", &e[i]), 1);
    fclose(t);
    const char *names[] = {"f4.npy", "f8.npy", "v2.npy", "v3.npy"};
    for (int k = 0; k < 4; k++) {
        float *x;
        int64_t r, c;
        assert_ok(gh_npy_read_f32(tu_tmp(names[k]), &x, &r, &c));
        assert_int_equal(r, 5);
        assert_int_equal(c, 7);
        for (int i = 0; i < 35; i++) assert_true(x[i] == e[i]);
        free(x);
    }
    float *x;
    int64_t r, c;
    assert_ok(gh_npy_read_f32(tu_tmp("v1d.npy"), &x, &r, &c));
    assert_int_equal(r, 3);
    assert_int_equal(c, 1);
    assert_true(x[0] == 1.5f && x[1] == 2.5f && x[2] == -3.0f);
    free(x);
    const char *ln[] = {"y_bool.npy", "y_uint8.npy", "y_int8.npy", "y_int32.npy", "y_int64.npy",
                        "y_float32.npy", "y_float64.npy", "ycol.npy"};
    const uint8_t want[6] = {1, 0, 0, 1, 1, 0};
    for (int k = 0; k < 8; k++) {
        uint8_t *y;
        int64_t n;
        assert_ok(gh_npy_read_labels(tu_tmp(ln[k]), &y, &n));
        assert_int_equal(n, 6);
        assert_memory_equal(y, want, 6);
        free(y);
    }
}

static void test_hostile_files(void **state) {
    (void)state;
    float d[4] = {1, 2, 3, 4};
    const char *p = tu_tmp("h.npy");
    /* bad magic */
    assert_int_equal(tu_write_file(p, "PK\x03\x04 not numpy at all", 22), 0);
    expect_fail_f32(p, GH_ERR_FORMAT, "bad magic");
    /* empty file */
    assert_int_equal(tu_write_file(p, "", 0), 0);
    expect_fail_f32(p, GH_ERR_FORMAT, "bad magic");
    /* header length beyond the file */
    assert_int_equal(tu_write_file(p, "\x93NUMPY\x01\x00\xff\x7f{'descr'", 18), 0);
    expect_fail_f32(p, GH_ERR_FORMAT, "truncated .npy header");
    /* unknown version */
    assert_int_equal(tu_write_file(p, "\x93NUMPY\x04\x00\x10\x00{}              ", 26), 0);
    expect_fail_f32(p, GH_ERR_UNSUPPORTED, "version 4.0");
    /* truncated data */
    write_raw(p, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", d, 12);
    expect_fail_f32(p, GH_ERR_FORMAT, "truncated .npy data");
    /* trailing bytes */
    write_raw(p, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), }", d, 16);
    expect_fail_f32(p, GH_ERR_FORMAT, "unexpected bytes after");
    /* absurd shapes: overflowing products, and a dimension beyond 64 bits */
    write_raw(p, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (9223372036854775807, 2), }", d, 16);
    expect_fail_f32(p, GH_ERR_FORMAT, "absurd");
    write_raw(p, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 1), }", d, 16);
    expect_fail_f32(p, GH_ERR_FORMAT, "absurd");
    write_raw(p, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999, 1), }", d, 16);
    expect_fail_f32(p, GH_ERR_FORMAT, "overflows 64 bits");
    write_raw(p, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4000000000, 1), }", d, 16);
    expect_fail_f32(p, GH_ERR_FORMAT, "truncated .npy data");
    write_raw(p, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (-2, 2), }", d, 16);
    expect_fail_f32(p, GH_ERR_FORMAT, "non-negative integers");
    /* wrong dtypes and layouts */
    write_raw(p, 1, "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 2), }", d, 16);
    expect_fail_f32(p, GH_ERR_UNSUPPORTED, "dtype '<i4'");
    write_raw(p, 1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 2), }", d, 16);
    expect_fail_f32(p, GH_ERR_UNSUPPORTED, "big-endian");
    write_raw(p, 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", d, 16);
    expect_fail_f32(p, GH_ERR_UNSUPPORTED, "Fortran-order");
    write_raw(p, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2, 2), }", d, 16);
    expect_fail_f32(p, GH_ERR_UNSUPPORTED, "1-D or 2-D");
    write_raw(p, 1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (4,), }", d, 16);
    expect_fail_f32(p, GH_ERR_UNSUPPORTED, "structured");
    write_raw(p, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), 'extra': 1}", d, 16);
    expect_fail_f32(p, GH_ERR_FORMAT, "unexpected key 'extra'");
    write_raw(p, 1, "{'descr': '<f4', 'shape': (2, 2)}", d, 16);
    expect_fail_f32(p, GH_ERR_FORMAT, "lacks 'fortran_order'");
    write_raw(p, 1, "not a dict", d, 16);
    expect_fail_f32(p, GH_ERR_FORMAT, "not a dict");
    write_raw(p, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), ", d, 16);
    expect_fail_f32(p, GH_ERR_FORMAT, "npy header");
    /* a Fortran-order 1-D array is the same bytes: accepted */
    write_raw(p, 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (4,), }", d, 16);
    float *x;
    int64_t r, c;
    assert_ok(gh_npy_read_f32(p, &x, &r, &c));
    assert_int_equal(r, 4);
    free(x);
    /* non-finite features name the row and column */
    float bad[6] = {0, 1, 2, 3, 4, NAN};
    write_raw(p, 2, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", bad, 24);
    expect_fail_f32(p, GH_ERR_FORMAT, "row 1, column 2 is NaN");
    double big[2] = {1.0, 1e300};
    write_raw(p, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", big, 16);
    expect_fail_f32(p, GH_ERR_FORMAT, "row 1, column 0 is infinite as float32");
    /* missing file */
    expect_fail_f32(tu_tmp("nope.npy"), GH_ERR_IO, "cannot open");
}

static void test_hostile_labels(void **state) {
    (void)state;
    const char *p = tu_tmp("l.npy");
    int64_t v[3] = {0, 1, 2};
    write_raw(p, 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }", v, 24);
    expect_fail_labels(p, GH_ERR_FORMAT, "label 2 is 2");
    float f[2] = {0.5f, 1};
    write_raw(p, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", f, 8);
    expect_fail_labels(p, GH_ERR_FORMAT, "label 0 is 0.5");
    write_raw(p, 1, "{'descr': '<i2', 'fortran_order': False, 'shape': (2,), }", f, 4);
    expect_fail_labels(p, GH_ERR_UNSUPPORTED, "cannot hold labels");
    write_raw(p, 1, "{'descr': '<U1', 'fortran_order': False, 'shape': (2,), }", f, 8);
    expect_fail_labels(p, GH_ERR_UNSUPPORTED, "cannot hold labels");
    write_raw(p, 1, "{'descr': '>i8', 'fortran_order': False, 'shape': (3,), }", v, 24);
    expect_fail_labels(p, GH_ERR_UNSUPPORTED, "big-endian");
    write_raw(p, 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (1, 3), }", v, 24);
    expect_fail_labels(p, GH_ERR_UNSUPPORTED, "1-D");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_read_by_numpy),
        cmocka_unit_test(test_streaming_writer),
        cmocka_unit_test(test_writer_failures_leave_nothing),
        cmocka_unit_test(test_read_numpy_files),
        cmocka_unit_test(test_hostile_files),
        cmocka_unit_test(test_hostile_labels),
    };
    return cmocka_run_group_tests_name("base/npy", tests, NULL, NULL);
}
