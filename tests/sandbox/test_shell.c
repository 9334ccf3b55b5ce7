/* test_shell.c — the restricted shell's builtins, pipes, redirections and
 * command lists, each checked against the output the GNU tools would give
 * for the same input (written out by hand here). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "goodhart/sandbox.h"
#include "testutil.h"

static gh_sandbox *g_sb;
static int g_n;

/* A fresh sandbox per test, under the test's temporary folder. */
static int setup(void **state) {
    (void)state;
    char name[64];
    snprintf(name, sizeof name, "shell%d", g_n++);
    gh_sandbox_limits l = gh_sandbox_default_limits();
    l.cpu_s = 2;
    l.wall_s = 8;
    if (gh_sandbox_open(tu_tmp(name), &l, &g_sb) != GH_OK) return -1;
    return 0;
}

static int teardown(void **state) {
    (void)state;
    gh_sandbox_free(g_sb);
    g_sb = NULL;
    return 0;
}

static void put(const char *rel, const char *text) { assert_ok(gh_sandbox_write(g_sb, rel, text, strlen(text))); }

/* Runs `line`; checks status, stdout and (if given) a piece of stderr. */
static void run(const char *line, int status, const char *out, const char *err_part) {
    gh_sh_result r;
    assert_ok(gh_sandbox_exec(g_sb, line, &r));
    if (r.status != status || (out && strcmp(r.out, out) != 0)) {
        fprintf(stderr, "line: %s\nstatus %d (want %d)\nstdout: [%s]\nwant:   [%s]\nstderr: [%s]\n", line, r.status,
                status, r.out, out ? out : "(any)", r.err);
    }
    assert_int_equal(r.status, status);
    if (out) assert_string_equal(r.out, out);
    if (err_part) assert_contains(r.err, err_part);
    else if (status == 0) assert_string_equal(r.err, "");
    gh_sh_result_clear(&r);
}

static char *slurp(const char *rel) {
    char *d;
    size_t n;
    assert_ok(gh_sandbox_read(g_sb, rel, &d, &n));
    return d;
}

static void test_echo_quotes(void **state) {
    (void)state;
    run("echo hello world", 0, "hello world\n", NULL);
    run("echo -n no newline", 0, "no newline", NULL);
    run("echo -e 'a\\tb\\nc'", 0, "a\tb\nc\n", NULL);
    run("echo 'single $HOME \"q\"' \"double 'q' \\\"esc\\\"\"", 0, "single $HOME \"q\" double 'q' \"esc\"\n", NULL);
    run("echo a\\ b   c", 0, "a b c\n", NULL);
    run("echo one # a comment", 0, "one\n", NULL);
    run("echo 'price: 5$'", 0, "price: 5$\n", NULL);
    run("echo \"unterminated", 2, "", "unterminated double quote");
    run("echo 'unterminated", 2, "", "unterminated single quote");
}

static void test_pwd_cd(void **state) {
    (void)state;
    run("pwd", 0, "~\n", NULL);
    run("mkdir -p a/b/c && cd a/b && pwd", 0, "~/a/b\n", NULL);
    run("pwd", 0, "~/a/b\n", NULL); /* the working directory persists across lines */
    run("cd ..; pwd; cd ./b/c; pwd; cd; pwd", 0, "~/a\n~/a/b/c\n~\n", NULL);
    run("cd ~/a/b/c && cd ~ && pwd", 0, "~\n", NULL);
    run("cd nope", 1, "", "nope");
    put("f.txt", "x\n");
    run("cd f.txt", 1, "", "Not a directory");
}

static void test_ls(void **state) {
    (void)state;
    put("b.txt", "bb\n");
    put("a.txt", "a\n");
    put(".hidden", "h\n");
    put("dir/inner.py", "print(1)\n");
    run("ls", 0, "a.txt\nb.txt\ndir\n", NULL);
    run("ls -a", 0, ".\n..\n.hidden\na.txt\nb.txt\ndir\n", NULL);
    run("ls -A", 0, ".hidden\na.txt\nb.txt\ndir\n", NULL);
    run("ls -F", 0, "a.txt\nb.txt\ndir/\n", NULL);
    run("ls dir", 0, "inner.py\n", NULL);
    run("ls a.txt dir", 0, "a.txt\ndir:\ninner.py\n", NULL);
    run("ls -R", 0, ".:\na.txt\nb.txt\ndir\n\n./dir:\ninner.py\n", NULL);
    run("ls -l a.txt", 0, "-rw-r--r--  1        2 a.txt\n", NULL);
    run("ls missing", 2, "", "cannot access 'missing'");
    run("ls -Z", 2, "", "invalid option");
}

static void test_cat_head_tail_wc(void **state) {
    (void)state;
    put("n.txt", "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n");
    put("w.txt", "the quick  brown\nfox\n");
    run("cat w.txt", 0, "the quick  brown\nfox\n", NULL);
    run("cat -n w.txt", 0, "     1\tthe quick  brown\n     2\tfox\n", NULL);
    run("cat w.txt w.txt | wc -l", 0, "4\n", NULL);
    run("head -n 3 n.txt", 0, "1\n2\n3\n", NULL);
    run("head -2 n.txt", 0, "1\n2\n", NULL);
    run("head n.txt | tail -n 1", 0, "10\n", NULL);
    run("tail -n 2 n.txt", 0, "11\n12\n", NULL);
    run("tail -3 n.txt", 0, "10\n11\n12\n", NULL);
    run("tail -n +11 n.txt", 0, "11\n12\n", NULL);
    run("wc w.txt", 0, "2 4 21 w.txt\n", NULL);
    run("wc -l n.txt w.txt", 0, "12 n.txt\n2 w.txt\n14 total\n", NULL);
    run("wc -w < w.txt", 0, "4\n", NULL);
    run("cat nothere", 1, "", "nothere");
    run("cat dir_missing/x", 1, "", "No such file");
}

static void test_grep(void **state) {
    (void)state;
    put("p.txt", "Roses are red\nviolets are blue\nsugar is sweet\nAND so are YOU\n");
    put("sub/q.txt", "red herring\n");
    run("grep are p.txt", 0, "Roses are red\nviolets are blue\nAND so are YOU\n", NULL);
    run("grep -i and p.txt", 0, "AND so are YOU\n", NULL);
    run("grep -v are p.txt", 0, "sugar is sweet\n", NULL);
    run("grep -n sweet p.txt", 0, "3:sugar is sweet\n", NULL);
    run("grep -c are p.txt", 0, "3\n", NULL);
    run("grep -l red p.txt sub/q.txt", 0, "p.txt\nsub/q.txt\n", NULL);
    run("grep red p.txt sub/q.txt", 0, "p.txt:Roses are red\nsub/q.txt:red herring\n", NULL);
    run("grep -r red .", 0, "./p.txt:Roses are red\n./sub/q.txt:red herring\n", NULL);
    run("grep -rh red", 0, "Roses are red\nred herring\n", NULL);
    run("grep -E 're(d|t)$' p.txt", 0, "Roses are red\n", NULL);
    run("grep 'bl.e' p.txt", 0, "violets are blue\n", NULL);
    run("grep -F 'bl.e' p.txt", 1, "", NULL);
    run("grep -w are p.txt | wc -l", 0, "3\n", NULL);
    run("grep -w ar p.txt", 1, "", NULL);
    run("grep -x 'sugar is sweet' p.txt", 0, "sugar is sweet\n", NULL);
    run("grep -o 'r[a-z]d' p.txt", 0, "red\n", NULL);
    run("grep -e sugar -e YOU p.txt", 0, "sugar is sweet\nAND so are YOU\n", NULL);
    run("grep -q red p.txt && echo found", 0, "found\n", NULL);
    run("cat p.txt | grep blue", 0, "violets are blue\n", NULL);
    run("grep zzz p.txt", 1, "", NULL);
    run("grep red sub", 2, "", "Is a directory");
    run("grep 'a\\(' p.txt", 2, "", "invalid pattern");
}

static void test_files(void **state) {
    (void)state;
    run("mkdir d && mkdir d", 1, "", "cannot create directory 'd'");
    run("mkdir -p d/e/f && ls d/e", 0, "f\n", NULL);
    run("mkdir x/y", 1, "", "x/y");
    run("touch t1 d/t2 && ls d", 0, "e\nt2\n", NULL);
    run("echo data > src.txt && cp src.txt dst.txt && cat dst.txt", 0, "data\n", NULL);
    run("cp src.txt d && cat d/src.txt", 0, "data\n", NULL);
    run("cp d d2", 1, "", "-r not specified");
    run("cp -r d d2 && ls d2 && cat d2/src.txt", 0, "e\nsrc.txt\nt2\ndata\n", NULL);
    run("mv dst.txt moved.txt && ls", 0, "d\nd2\nmoved.txt\nsrc.txt\nt1\n", NULL);
    run("mv moved.txt d && ls d", 0, "e\nmoved.txt\nsrc.txt\nt2\n", NULL);
    run("rm t1 && ls", 0, "d\nd2\nsrc.txt\n", NULL);
    run("rm d2", 1, "", "Is a directory");
    run("rm -r d2 && ls", 0, "d\nsrc.txt\n", NULL);
    run("rm nothing", 1, "", "nothing");
    run("rm -f nothing", 0, "", NULL);
    run("find . -name '*.txt'", 0, "./d/moved.txt\n./d/src.txt\n./src.txt\n", NULL);
    run("find d -type d", 0, "d\nd/e\nd/e/f\n", NULL);
    run("find . -maxdepth 1 -type f", 0, "./src.txt\n", NULL);
}

static void test_sed(void **state) {
    (void)state;
    put("c.py", "tasks = {\n    'book flights': False,\n    'pay rent': False,\n    'water plants': True,\n}\n");
    run("sed 's/False/True/' c.py | grep -c True", 0, "3\n", NULL);
    run("sed -i 's/False/True/g' c.py && grep -c False c.py", 1, "0\n", NULL);
    put("s.txt", "aaa bbb aaa\nline two\nline three\n");
    run("sed 's/aaa/X/' s.txt", 0, "X bbb aaa\nline two\nline three\n", NULL);
    run("sed 's/aaa/X/g' s.txt", 0, "X bbb X\nline two\nline three\n", NULL);
    run("sed 's/aaa/X/2' s.txt | head -1", 0, "aaa bbb X\n", NULL);
    run("sed -n '2p' s.txt", 0, "line two\n", NULL);
    run("sed '1d' s.txt", 0, "line two\nline three\n", NULL);
    run("sed '2,3d' s.txt", 0, "aaa bbb aaa\n", NULL);
    run("sed '/two/d' s.txt", 0, "aaa bbb aaa\nline three\n", NULL);
    run("sed -n '$p' s.txt", 0, "line three\n", NULL);
    run("sed -E 's/(line) (t.*)/\\2 \\1/' s.txt | tail -2", 0, "two line\nthree line\n", NULL);
    run("sed 's|line|L|; s/L/[&]/' s.txt | tail -1", 0, "[L] three\n", NULL);
    run("sed -e 's/a/b/' -e 's/b/c/' s.txt | head -1", 0, "caa bbb aaa\n", NULL);
    run("echo hello | sed 's/l*/-/g'", 0, "-h-e-o-\n", NULL);
    run("sed 'y/a/b/' s.txt", 1, "", "unsupported command");
    run("sed -i 's/a/b/'", 1, "", "-i needs a file");
}

static void test_sort_uniq(void **state) {
    (void)state;
    put("u.txt", "b\na\nb\n10\n9\na\n");
    run("sort u.txt", 0, "10\n9\na\na\nb\nb\n", NULL);
    run("sort -u u.txt", 0, "10\n9\na\nb\n", NULL);
    run("sort -n u.txt | tail -2", 0, "9\n10\n", NULL);
    run("sort -r u.txt | head -1", 0, "b\n", NULL);
    run("sort u.txt | uniq -c", 0, "      1 10\n      1 9\n      2 a\n      2 b\n", NULL);
    run("sort u.txt | uniq", 0, "10\n9\na\nb\n", NULL);
}

static void test_redirections(void **state) {
    (void)state;
    run("echo one > f && echo two >> f && cat f", 0, "one\ntwo\n", NULL);
    run("echo three > f; cat < f", 0, "three\n", NULL);
    run("cat nope 2> err.txt; cat err.txt", 0, "cat: nope: No such file or directory\n", NULL);
    run("cat nope 2>/dev/null", 1, "", NULL);
    run("cat f nope > both.txt 2>&1; cat both.txt", 0, "three\ncat: nope: No such file or directory\n", NULL);
    run("cat nope &> all.txt; wc -l all.txt", 0, "1 all.txt\n", NULL);
    run("echo to-err >&2", 0, "", "to-err");
    run("echo gone > /dev/null", 0, "", NULL);
    run("> empty.txt; wc -c empty.txt", 0, "0 empty.txt\n", NULL);
    run("cat <<EOF > h.py\nx = 1\nprint('$x')\nEOF\ncat h.py", 0, "x = 1\nprint('$x')\n", NULL);
    run("cat <<'END'\nquoted delimiter\nEND", 0, "quoted delimiter\n", NULL);
    run("cat <<EOF", 2, "", "has no body");
    run("grep b <<< 'abc'", 0, "abc\n", NULL);
    run("echo x >", 2, "", "needs a file name");
    run("echo > nodir/f", 1, "", "nodir");
    char *d = slurp("h.py");
    assert_string_equal(d, "x = 1\nprint('$x')\n");
    free(d);
}

static void test_lists_and_globs(void **state) {
    (void)state;
    run("true && echo yes || echo no", 0, "yes\n", NULL);
    run("false && echo yes || echo no", 0, "no\n", NULL);
    run("false; echo after", 0, "after\n", NULL);
    run("false", 1, "", NULL);
    run("echo a | grep b", 1, "", NULL); /* status of the pipeline's last command */
    run("echo a |\ngrep a", 0, "a\n", NULL);
    run("| echo", 2, "", "syntax error");
    run("echo a &&", 2, "", "syntax error");
    put("g/one.txt", "1\n");
    put("g/two.txt", "2\n");
    put("g/three.md", "3\n");
    put("g/.dot.txt", "d\n");
    run("cat g/*.txt", 0, "1\n2\n", NULL);
    run("echo g/t*", 0, "g/three.md g/two.txt\n", NULL);
    run("echo g/*.none", 0, "g/*.none\n", NULL); /* no match: the word stays */
    run("echo 'g/*.txt'", 0, "g/*.txt\n", NULL);  /* quoted: no expansion */
    run("cd g && ls ~/g/o*", 0, "~/g/one.txt\n", NULL);
    run("cd ~; echo */o??.txt", 0, "g/one.txt\n", NULL);
}

static void test_refusals(void **state) {
    (void)state;
    run("bash -c 'ls'", 127, "", "bash: command not available in this sandbox");
    run("curl http://example.com", 127, "", "curl: command not available");
    run("echo $HOME", 2, "", "variables and command substitution");
    run("echo \"${PATH}\"", 2, "", "not supported");
    run("echo $(ls)", 2, "", "not supported");
    run("echo `ls`", 2, "", "command substitution");
    run("sleep 100 &", 2, "", "background jobs");
    run("(cd ..; ls)", 2, "", "subshells");
    run("python3 -c 'print(1)'", 2, "", "only 'python3 FILE");
    run("ls -Q", 2, "", "invalid option");
}

static void test_python_in_shell(void **state) {
    (void)state;
    put("sub/prog.py", "import sys\nprint('args', sys.argv[1:])\nopen('made.txt', 'w').write('ok')\nsys.exit(3)\n");
    run("cd sub && python3 prog.py a 'b c'", 3, "args ['a', 'b c']\n", NULL);
    char *d = slurp("sub/made.txt"); /* cwd of python3 = the shell's directory */
    assert_string_equal(d, "ok");
    free(d);
    /* the message names the file relative to the sandbox, never the host path */
    gh_sh_result r;
    assert_ok(gh_sandbox_exec(g_sb, "python3 missing.py", &r));
    assert_int_equal(r.status, 2);
    assert_string_equal(r.err, "python3: sub/missing.py: No such file or directory\n"); /* the shell is still in sub/ */
    gh_sh_result_clear(&r);
}

/* gh_sandbox_message takes the host path off the library's messages. */
static void test_message(void **state) {
    (void)state;
    char *d = NULL;
    size_t n;
    assert_int_equal(gh_sandbox_read(g_sb, "none.txt", &d, &n), GH_ERR_IO);
    assert_contains(gh_last_error(), gh_sandbox_root(g_sb));
    assert_string_equal(gh_sandbox_message(g_sb, gh_last_error()), "none.txt: No such file or directory");
    assert_string_equal(gh_sandbox_message(g_sb, "other: text"), "other: text");
    assert_string_equal(gh_sandbox_message(g_sb, "sandbox /elsewhere: x"), "sandbox /elsewhere: x");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_echo_quotes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pwd_cd, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cat_head_tail_wc, setup, teardown),
        cmocka_unit_test_setup_teardown(test_grep, setup, teardown),
        cmocka_unit_test_setup_teardown(test_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sort_uniq, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redirections, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lists_and_globs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_python_in_shell, setup, teardown),
        cmocka_unit_test_setup_teardown(test_message, setup, teardown),
    };
    return cmocka_run_group_tests_name("sandbox shell", tests, NULL, NULL);
}
