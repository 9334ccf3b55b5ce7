/* python.c — running a (possibly agent-edited) Python file of the sandbox with
 * the system's python3, isolated, for reward and oversight rules.
 *
 * Two modes (docs/sandbox.md states the guarantees of each):
 *
 *   namespace — the child unshares user, mount, network, PID, IPC and UTS
 *     namespaces, builds a new root on a tmpfs holding only read-only binds
 *     of the system directories python3 needs, /dev/{null,zero,random,urandom}
 *     and the rollout directory at /sandbox (read-write), pivot_root()s into
 *     it and detaches the old root. There is no network interface but a down
 *     loopback, no other file of the machine, no process outside its PID
 *     namespace, no capability (it runs as uid 1000 of its namespace with
 *     no_new_privs and an empty bounding set).
 *   audit — where namespaces are not permitted (some CI containers): python3
 *     -I -S -B with a bootstrap that installs a PEP 578 audit hook refusing
 *     open() outside the root (and the standard library, read-only), sockets,
 *     subprocess/os.system/exec/fork/kill, ctypes and symlinks. An audit hook
 *     is not a security boundary against a determined attacker; it stops the
 *     ordinary ways code reaches outside.
 *
 * Both modes install the audit hook (defence in depth) and set rlimits: CPU
 * seconds, address space, file size, no new processes (RLIMIT_NPROC 0), no
 * core files; the parent kills the process group at the wall-clock limit or
 * when an output stream passes its cap.
 *
 * Everything the child needs is prepared before fork(): between fork and exec
 * it makes system calls only (the parent may have other threads).
 */
#include "sandbox/shell_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The bootstrap python3 runs first: argv = [-c, ROOT, SCRIPT, ARGS...]. It
 * installs the audit hook, puts the script's folder on sys.path and runs the
 * script as __main__ in a fresh module, hiding its own frames from tracebacks;
 * a script that raises still gets what it printed before (stdout is flushed
 * before os._exit).
 * The hook keeps what it needs in default arguments (setting a function's
 * __code__/__defaults__ is itself audited and refused). */
static const char BOOTSTRAP[] =
    "def _gh_sandbox():\n"
    "    import sys, os, posixpath, builtins, types, traceback\n"
    "    root = sys.argv[1]\n"
    "    script = sys.argv[2]\n"
    "    args = sys.argv[3:]\n"
    "    lib = posixpath.dirname(os.__file__)\n"
    "    W = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND\n"
    "    deny = frozenset(('os.system', 'os.exec', 'os.posix_spawn', 'os.spawn', 'os.fork', 'os.forkpty',\n"
    "        'subprocess.Popen', 'os.kill', 'os.killpg', 'os.startfile', 'os.link', 'os.symlink', 'os.mknod',\n"
    "        'os.mkfifo', 'os.chroot', 'os.setuid', 'os.setgid', 'pty.spawn', 'ctypes.dlopen', 'ctypes.dlsym',\n"
    "        'ctypes.cdata', 'ctypes.call_function', 'ctypes.addressof', 'sys.remote_exec', 'mmap.__new__'))\n"
    "    why = {'os.system': 'running commands', 'os.exec': 'running programs', 'os.posix_spawn': 'running programs',\n"
    "        'os.spawn': 'running programs', 'os.fork': 'creating processes', 'os.forkpty': 'creating processes',\n"
    "        'subprocess.Popen': 'running programs (subprocess)', 'os.kill': 'signalling processes',\n"
    "        'os.killpg': 'signalling processes', 'os.link': 'hard links', 'os.symlink': 'symbolic links'}\n"
    "    one = frozenset(('os.listdir', 'os.scandir', 'os.chdir', 'os.mkdir', 'os.rmdir', 'os.remove', 'os.truncate',\n"
    "        'os.utime', 'os.chmod', 'os.chown', 'os.chflags', 'os.setxattr', 'os.removexattr', 'os.listxattr',\n"
    "        'os.getxattr', 'shutil.rmtree', 'shutil.copyfile', 'shutil.copymode', 'shutil.copystat', 'shutil.copytree',\n"
    "        'shutil.move', 'shutil.chown', 'shutil.make_archive', 'shutil.unpack_archive', 'tempfile.mkstemp',\n"
    "        'tempfile.mkdtemp', 'glob.glob', 'os.rename', 'os.fwalk', 'os.walk'))\n"
    "    readonly_ok = frozenset(('os.listdir', 'os.scandir', 'glob.glob', 'os.walk', 'os.fwalk', 'os.listxattr',\n"
    "        'os.getxattr'))\n"
    "    blocked_mods = frozenset(('ctypes', '_ctypes', 'gc', '_posixsubprocess', '_xxsubinterpreters', 'socket',\n"
    "        '_socket', 'ssl', '_ssl'))\n"
    "    def hook(ev, a, root=root, lib=lib, rp=posixpath.realpath, join=posixpath.join, cwd=os.getcwd,\n"
    "             fsd=os.fsdecode, isi=isinstance, str=str, bytes=bytes, int=int, PE=PermissionError,\n"
    "             deny=deny, why=why, one=one, readonly_ok=readonly_ok, blocked_mods=blocked_mods, W=W,\n"
    "             fspath=os.fspath, len=len):\n"
    "        def inside(p, ro):\n"
    "            if p is None:\n"
    "                p = '.'\n"
    "            if isi(p, int):\n"
    "                return True\n"
    "            try:\n"
    "                p = rp(join(cwd(), fsd(fspath(p))))\n"
    "            except Exception:\n"
    "                return False\n"
    "            if p == root or p.startswith(root + '/'):\n"
    "                return True\n"
    "            return ro and (p == lib or p.startswith(lib + '/'))\n"
    "        if ev == 'open':\n"
    "            path, mode, flags = a[0], a[1], a[2]\n"
    "            w = (isi(mode, str) and any(c in mode for c in 'wax+')) or (isi(flags, int) and (flags & W) != 0)\n"
    "            if not inside(path, not w):\n"
    "                raise PE('sandbox: opening %r is not allowed: only files inside the sandbox folder can be '\n"
    "                         'used' % (path,))\n"
    "        elif ev in deny or ev.startswith('socket.') or ev.startswith('ctypes.'):\n"
    "            raise PE('sandbox: %s is not allowed here (%s)' % (why.get(ev, ev), ev))\n"
    "        elif ev in one:\n"
    "            for p in (a[:2] if ev in ('os.rename', 'shutil.copyfile', 'shutil.copytree', 'shutil.move') else a[:1]):\n"
    "                if isi(p, (str, bytes)) or p is None or hasattr(p, '__fspath__'):\n"
    "                    if not inside(p, ev in readonly_ok):\n"
    "                        raise PE('sandbox: %s on %r is not allowed: only the sandbox folder can be used' % (ev, p))\n"
    "        elif ev == 'import':\n"
    "            m = a[0]\n"
    "            if m in blocked_mods or m.split('.')[0] in blocked_mods:\n"
    "                raise PE('sandbox: importing %s is not allowed here' % m)\n"
    "        elif ev == 'object.__setattr__' and len(a) > 1 and a[1] in ('__code__', '__defaults__', '__kwdefaults__'):\n"
    "            raise PE('sandbox: changing %s is not allowed here' % a[1])\n"
    "    sys.dont_write_bytecode = True\n"
    "    path = script if script.startswith('/') else posixpath.join(root, script)\n"
    "    sys.path.insert(0, posixpath.dirname(path))\n"
    "    sys.argv = [script] + args\n"
    "    with open(path, 'rb') as f:\n"
    "        src = f.read()\n"
    "    mod = types.ModuleType('__main__')\n"
    "    mod.__file__ = path\n"
    "    mod.__builtins__ = builtins\n"
    "    sys.modules['__main__'] = mod\n"
    "    code = compile(src, path, 'exec')\n"
    "    sys.addaudithook(hook)\n"
    "    try:\n"
    "        exec(code, mod.__dict__)\n"
    "    except SystemExit:\n"
    "        raise\n"
    "    except BaseException as e:\n"
    "        try:\n"
    "            sys.stdout.flush()\n"
    "        except BaseException:\n"
    "            pass\n"
    "        traceback.print_exception(type(e), e, e.__traceback__.tb_next)\n"
    "        sys.stderr.flush()\n"
    "        os._exit(1)\n"
    "_gh_sandbox()\n";

/* ---- mode selection -------------------------------------------------------- */

static int g_forced = SB_PY_AUTO; /* set by tests */
static int g_ns_ok = -1;          /* -1 unknown, 0 no, 1 yes */

void sb_python_force_mode(sb_pymode m) { __atomic_store_n(&g_forced, (int)m, __ATOMIC_SEQ_CST); }

/* Tries the namespace setup a python3 run needs (user+mount+net+pid
 * namespaces and a tmpfs mount) in a throwaway child. */
static bool probe_namespaces(void) {
    pid_t pid = fork();
    if (pid < 0) return false;
    if (pid == 0) {
        if (unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS) != 0) _exit(1);
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) _exit(2);
        if (mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=0755") != 0) _exit(3);
        _exit(0);
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

bool sb_python_namespaces_available(void) {
    int v = __atomic_load_n(&g_ns_ok, __ATOMIC_SEQ_CST);
    if (v < 0) {
        v = probe_namespaces() ? 1 : 0;
        __atomic_store_n(&g_ns_ok, v, __ATOMIC_SEQ_CST);
    }
    return v == 1;
}

static sb_pymode current_mode(void) {
    int f = __atomic_load_n(&g_forced, __ATOMIC_SEQ_CST);
    if (f != SB_PY_AUTO) return (sb_pymode)f;
    const char *e = getenv("GH_SANDBOX_PYTHON");
    if (e && strcmp(e, "audit") == 0) return SB_PY_AUDIT;
    return sb_python_namespaces_available() ? SB_PY_NAMESPACE : SB_PY_AUDIT;
}

const char *gh_sandbox_python_mode(void) {
    sb_pymode m = current_mode();
    return m == SB_PY_AUDIT ? "audit" : "namespace";
}

/* ---- the python3 binary ---------------------------------------------------- */

static bool executable(const char *p) { return access(p, X_OK) == 0; }

static gh_status find_python(char out[PATH_MAX]) {
    const char *env = getenv("GH_PYTHON");
    const char *cand = NULL;
    if (env && *env) cand = env;
    else if (executable("/usr/bin/python3")) cand = "/usr/bin/python3";
    else if (executable("/usr/local/bin/python3")) cand = "/usr/local/bin/python3";
    if (!cand) return gh_error(GH_ERR_UNSUPPORTED, "sandbox: no python3 found (set GH_PYTHON)");
    if (!realpath(cand, out)) return gh_error(GH_ERR_UNSUPPORTED, "sandbox: python3 %s: %s", cand, strerror(errno));
    if (!executable(out)) return gh_error(GH_ERR_UNSUPPORTED, "sandbox: python3 %s is not executable", out);
    return GH_OK;
}

/* ---- the child ------------------------------------------------------------------ */

/* One record on the report pipe (written atomically: smaller than PIPE_BUF). */
typedef struct report {
    char kind;  /* 'E' setup failed, 'U' unshare failed, 'P' inner pid, 'S' inner wait status */
    int32_t val; /* errno, pid or status */
    char what[120];
} report;

#define N_SYS 8
typedef struct ns_plan {
    /* system directories: bind (dir) or recreate (symlink) */
    char src[N_SYS][PATH_MAX];
    char dst[N_SYS][PATH_MAX + 16];
    char link[N_SYS][PATH_MAX];
    unsigned long flags[N_SYS]; /* mount flags to keep on the read-only remount */
    bool is_link[N_SYS], is_file[N_SYS];
    int n;
    char nr[32];         /* the new root's mount point */
    char sandbox[64];    /* nr + "/sandbox" */
    char dev[64];
    char devs[4][2][96]; /* /dev/x -> nr/dev/x */
    char rootsrc[PATH_MAX]; /* the rollout directory (real path) */
    unsigned long rootflags;
    char setgroups[8], uidmap[64], gidmap[64];
    char chdir_to[PATH_MAX + 16];
} ns_plan;

static void child_report(int fd, char kind, int32_t val, const char *what) {
    report r;
    memset(&r, 0, sizeof r);
    r.kind = kind;
    r.val = val;
    size_t l = strlen(what);
    if (l >= sizeof r.what) l = sizeof r.what - 1;
    memcpy(r.what, what, l);
    ssize_t w = write(fd, &r, sizeof r);
    (void)w;
}

static void child_fail(int fd, const char *what) {
    child_report(fd, 'E', errno, what);
    _exit(125);
}

static int write_file(const char *path, const char *s) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t l = (ssize_t)strlen(s);
    ssize_t w = write(fd, s, (size_t)l);
    close(fd);
    return w == l ? 0 : -1;
}

/* Closes every descriptor from `lo` on except `keep` (close-on-exec itself). */
static void close_except(int lo, int keep) {
#ifdef SYS_close_range
    if (keep > lo) syscall(SYS_close_range, (unsigned)lo, (unsigned)keep - 1, 0);
    if (syscall(SYS_close_range, (unsigned)keep + 1, ~0u, 0) == 0) return;
#endif
    for (int fd = lo; fd < 4096; fd++)
        if (fd != keep) close(fd);
}

typedef struct child_plan {
    const char *py;
    char *const *argv;
    char *const *envp;
    const char *chdir_to; /* audit mode */
    int out_w, err_w, rep_w, null_fd;
    struct rlimit cpu, as, fsize, nproc, core, nofile;
} child_plan;

static void set_limits_and_exec(const child_plan *cp) {
    if (setrlimit(RLIMIT_CPU, &cp->cpu) != 0) child_fail(cp->rep_w, "setrlimit CPU");
    if (setrlimit(RLIMIT_AS, &cp->as) != 0) child_fail(cp->rep_w, "setrlimit AS");
    if (setrlimit(RLIMIT_FSIZE, &cp->fsize) != 0) child_fail(cp->rep_w, "setrlimit FSIZE");
    if (setrlimit(RLIMIT_NPROC, &cp->nproc) != 0) child_fail(cp->rep_w, "setrlimit NPROC");
    setrlimit(RLIMIT_CORE, &cp->core);
    setrlimit(RLIMIT_NOFILE, &cp->nofile);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) child_fail(cp->rep_w, "no_new_privs");
    signal(SIGPIPE, SIG_DFL);
    signal(SIGXFSZ, SIG_IGN); /* writing past the limit fails with EFBIG instead */
    if (dup2(cp->null_fd, 0) < 0 || dup2(cp->out_w, 1) < 0 || dup2(cp->err_w, 2) < 0) child_fail(cp->rep_w, "dup2");
    if (cp->rep_w > 2) close_except(3, cp->rep_w);
    execve(cp->py, cp->argv, cp->envp);
    child_fail(cp->rep_w, "execve python3");
}

/* The inner child of namespace mode: builds the new root and runs python3. */
static void ns_inner(const ns_plan *np, const child_plan *cp) {
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) child_fail(cp->rep_w, "make / private");
    if (mount("tmpfs", np->nr, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755") != 0)
        child_fail(cp->rep_w, "mount tmpfs");
    for (int i = 0; i < np->n; i++) {
        if (np->is_link[i]) {
            if (symlink(np->link[i], np->dst[i]) != 0) child_fail(cp->rep_w, "symlink");
            continue;
        }
        /* Parents of the destination (e.g. /opt/python for a python outside /usr). */
        char tmp[PATH_MAX + 16];
        size_t l = strlen(np->dst[i]);
        memcpy(tmp, np->dst[i], l + 1);
        for (size_t k = strlen(np->nr) + 1; k < l; k++) {
            if (tmp[k] != '/') continue;
            tmp[k] = '\0';
            mkdir(tmp, 0755);
            tmp[k] = '/';
        }
        if (np->is_file[i]) {
            int fd = open(np->dst[i], O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
            if (fd < 0) child_fail(cp->rep_w, "create bind target");
            close(fd);
        } else if (mkdir(np->dst[i], 0755) != 0 && errno != EEXIST) {
            child_fail(cp->rep_w, "mkdir bind target");
        }
        if (mount(np->src[i], np->dst[i], NULL, MS_BIND | MS_REC, NULL) != 0) child_fail(cp->rep_w, "bind system dir");
        if (mount(NULL, np->dst[i], NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | np->flags[i], NULL) != 0)
            child_fail(cp->rep_w, "remount system dir read-only");
    }
    if (mkdir(np->dev, 0755) != 0) child_fail(cp->rep_w, "mkdir dev");
    for (int i = 0; i < 4; i++) {
        if (!np->devs[i][0][0]) continue;
        int fd = open(np->devs[i][1], O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) child_fail(cp->rep_w, "create device target");
        close(fd);
        if (mount(np->devs[i][0], np->devs[i][1], NULL, MS_BIND, NULL) != 0) child_fail(cp->rep_w, "bind device");
    }
    if (mkdir(np->sandbox, 0755) != 0) child_fail(cp->rep_w, "mkdir sandbox");
    if (mount(np->rootsrc, np->sandbox, NULL, MS_BIND, NULL) != 0) child_fail(cp->rep_w, "bind the rollout directory");
    if (mount(NULL, np->sandbox, NULL, MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV | np->rootflags, NULL) != 0)
        child_fail(cp->rep_w, "remount the rollout directory nosuid");
    if (mount(NULL, np->nr, NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) != 0)
        child_fail(cp->rep_w, "remount new root read-only");
    if (chdir(np->nr) != 0) child_fail(cp->rep_w, "chdir new root");
    if (syscall(SYS_pivot_root, ".", ".") != 0) child_fail(cp->rep_w, "pivot_root");
    if (umount2(".", MNT_DETACH) != 0) child_fail(cp->rep_w, "detach old root");
    if (chdir(np->chdir_to) != 0) child_fail(cp->rep_w, "chdir into /sandbox");
    /* No capability survives: empty bounding set, and exec as a non-zero uid. */
    for (int cap = 0; cap <= 63; cap++) prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
    /* This process is PID 1 of the new namespace, and the kernel does not
     * deliver default-action signals (SIGXCPU of the CPU limit) to PID 1:
     * python3 runs as its child, and this one reports its status. Its death
     * kills everything left in the namespace. */
    pid_t pid = fork();
    if (pid < 0) child_fail(cp->rep_w, "fork python3");
    if (pid == 0) set_limits_and_exec(cp);
    close(cp->out_w);
    close(cp->err_w);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR) child_fail(cp->rep_w, "waitpid python3");
    }
    child_report(cp->rep_w, 'S', st, "");
    _exit(0);
}

/* The outer child of namespace mode: unshares, maps its uid, forks the inner
 * child (PID 1 of the new PID namespace) and waits for it. */
static void ns_outer(const ns_plan *np, const child_plan *cp) {
    setpgid(0, 0);
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS) != 0) {
        child_report(cp->rep_w, 'U', errno, "unshare");
        _exit(125);
    }
    if (write_file("/proc/self/setgroups", np->setgroups) != 0) child_fail(cp->rep_w, "setgroups deny");
    if (write_file("/proc/self/uid_map", np->uidmap) != 0) child_fail(cp->rep_w, "uid_map");
    if (write_file("/proc/self/gid_map", np->gidmap) != 0) child_fail(cp->rep_w, "gid_map");
    pid_t pid = fork();
    if (pid < 0) child_fail(cp->rep_w, "fork");
    if (pid == 0) ns_inner(np, cp);
    child_report(cp->rep_w, 'P', pid, "");
    close(cp->out_w);
    close(cp->err_w);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR) _exit(125);
    }
    _exit(0);
}

static unsigned long keep_flags(const char *path) {
    struct statvfs sv;
    unsigned long f = MS_NOSUID | MS_NODEV;
    if (statvfs(path, &sv) != 0) return f;
    if (sv.f_flag & ST_NOEXEC) f |= MS_NOEXEC;
    if (sv.f_flag & ST_NOATIME) f |= MS_NOATIME;
    if (sv.f_flag & ST_NODIRATIME) f |= MS_NODIRATIME;
    if (sv.f_flag & ST_RELATIME) f |= MS_RELATIME;
    return f;
}

static void plan_add(ns_plan *np, const char *path) {
    if (np->n >= N_SYS) return;
    struct stat st;
    if (lstat(path, &st) != 0) return;
    int i = np->n;
    snprintf(np->dst[i], sizeof np->dst[i], "%s%s", np->nr, path);
    if (S_ISLNK(st.st_mode)) {
        ssize_t k = readlink(path, np->link[i], sizeof np->link[i] - 1);
        if (k <= 0) return;
        np->link[i][k] = '\0';
        np->is_link[i] = true;
    } else if (S_ISDIR(st.st_mode) || S_ISREG(st.st_mode)) {
        snprintf(np->src[i], sizeof np->src[i], "%s", path);
        np->is_file[i] = S_ISREG(st.st_mode);
        np->flags[i] = keep_flags(path);
    } else {
        return;
    }
    np->n++;
}

static bool is_ancestor(const char *dir, const char *path) {
    size_t l = strlen(dir);
    return strncmp(path, dir, l) == 0 && (path[l] == '/' || path[l] == '\0');
}

/* Plans the new root. Its tmpfs goes on an existing directory that hides
 * none of the paths bound into it (a bind source must be reached by path in
 * the child's own mount namespace). Returns -1 when none is found. */
static int make_plan(ns_plan *np, const char *root_abs, const char *py, const char *cwd) {
    memset(np, 0, sizeof *np);
    static const char *const MP[] = {"/tmp", "/mnt", "/media", "/srv", "/opt", "/run", "/var/tmp", "/home", "/boot"};
    for (size_t i = 0; i < sizeof MP / sizeof MP[0] && !np->nr[0]; i++) {
        struct stat st;
        if (lstat(MP[i], &st) != 0 || !S_ISDIR(st.st_mode)) continue;
        if (is_ancestor(MP[i], root_abs) || is_ancestor(MP[i], py)) continue;
        snprintf(np->nr, sizeof np->nr, "%s", MP[i]);
    }
    if (!np->nr[0]) return -1;
    static const char *const SYS[] = {"/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/etc/ld.so.cache"};
    for (size_t i = 0; i < sizeof SYS / sizeof SYS[0]; i++) plan_add(np, SYS[i]);
    /* A python3 that lives elsewhere (e.g. /opt/python): bind its prefix too. */
    char prefix[PATH_MAX];
    snprintf(prefix, sizeof prefix, "%s", py);
    for (int up = 0; up < 2; up++) {
        char *s = strrchr(prefix, '/');
        if (s && s != prefix) *s = '\0';
    }
    bool covered = false;
    for (size_t i = 0; i < sizeof SYS / sizeof SYS[0]; i++) {
        size_t l = strlen(SYS[i]);
        if (strncmp(prefix, SYS[i], l) == 0 && (prefix[l] == '/' || prefix[l] == '\0')) covered = true;
    }
    if (!covered && strcmp(prefix, "/") != 0) plan_add(np, prefix);
    snprintf(np->dev, sizeof np->dev, "%s/dev", np->nr);
    static const char *const DEVS[] = {"null", "zero", "random", "urandom"};
    for (int i = 0; i < 4; i++) {
        char p[32];
        snprintf(p, sizeof p, "/dev/%s", DEVS[i]);
        struct stat st;
        if (stat(p, &st) != 0 || !S_ISCHR(st.st_mode)) continue;
        snprintf(np->devs[i][0], sizeof np->devs[i][0], "%s", p);
        snprintf(np->devs[i][1], sizeof np->devs[i][1], "%s/dev/%s", np->nr, DEVS[i]);
    }
    snprintf(np->sandbox, sizeof np->sandbox, "%s/sandbox", np->nr);
    snprintf(np->rootsrc, sizeof np->rootsrc, "%s", root_abs);
    np->rootflags = keep_flags(root_abs) & ~(unsigned long)(MS_NOSUID | MS_NODEV);
    snprintf(np->setgroups, sizeof np->setgroups, "deny");
    snprintf(np->uidmap, sizeof np->uidmap, "1000 %u 1\n", (unsigned)getuid());
    snprintf(np->gidmap, sizeof np->gidmap, "1000 %u 1\n", (unsigned)getgid());
    snprintf(np->chdir_to, sizeof np->chdir_to, "/sandbox%s%s", *cwd ? "/" : "", cwd);
    return 0;
}

/* ---- the parent ------------------------------------------------------------------ */

static bool path_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-' || c == '+' || c == '~' || c == '@' || c == '/';
}

/* Audit mode: python3 sees the rollout directory at its host path, which
 * tracebacks, os.getcwd() and the like would print. Shows it as "/sandbox",
 * the path namespace mode gives it, wherever it stands as a whole path (or the
 * start of one). */
static void hide_root(gh_strbuf *b, const char *root) {
    size_t rl = strlen(root);
    if (!b->p || rl < 2 || !memmem(b->p, b->len, root, rl)) return;
    gh_strbuf nb = {0};
    const char *q = b->p, *end = b->p + b->len;
    while (q < end) {
        const char *hit = memmem(q, (size_t)(end - q), root, rl);
        if (!hit) break;
        /* not part of a longer name or path: "/x/ROOT" or "ROOTX" stay */
        bool whole = (hit == b->p || !path_char(hit[-1])) && (hit + rl == end || hit[rl] == '/' || !path_char(hit[rl]));
        gh_strbuf_putn(&nb, q, (size_t)(hit - q));
        if (whole) gh_strbuf_put(&nb, "/sandbox");
        else gh_strbuf_putn(&nb, hit, rl);
        q = hit + rl;
    }
    gh_strbuf_putn(&nb, q, (size_t)(end - q));
    if (nb.oom) { gh_strbuf_free(&nb); b->oom = true; return; }
    gh_strbuf_free(b);
    *b = nb;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct run_out {
    gh_strbuf out, err;
    bool out_cut, err_cut;
    bool killed_wall, killed_output;
    int wait_status;   /* of the direct child */
    bool have_inner;   /* namespace mode: the inner status arrived */
    int inner_status;
    pid_t inner_pid;
    char setup_kind; /* 'E' or 'U' if setup failed */
    int setup_errno;
    char setup_what[120];
} run_out;

/* Forks the child, collects its output under the limits, waits for it. */
static gh_status run_child(gh_sandbox *sb, sb_pymode mode, const ns_plan *np, child_plan *cp, run_out *ro) {
    int po[2], pe[2], pr[2];
    if (pipe2(po, O_CLOEXEC) != 0) return gh_error(GH_ERR_IO, "sandbox: pipe: %s", strerror(errno));
    if (pipe2(pe, O_CLOEXEC) != 0) { close(po[0]); close(po[1]); return gh_error(GH_ERR_IO, "sandbox: pipe: %s", strerror(errno)); }
    if (pipe2(pr, O_CLOEXEC) != 0) {
        close(po[0]); close(po[1]); close(pe[0]); close(pe[1]);
        return gh_error(GH_ERR_IO, "sandbox: pipe: %s", strerror(errno));
    }
    int nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    cp->out_w = po[1];
    cp->err_w = pe[1];
    cp->rep_w = pr[1];
    cp->null_fd = nullfd;
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(po[0]); close(po[1]); close(pe[0]); close(pe[1]); close(pr[0]); close(pr[1]);
        if (nullfd >= 0) close(nullfd);
        return gh_error(GH_ERR_IO, "sandbox: fork: %s", strerror(e));
    }
    if (pid == 0) {
        /* Only the descriptors the child uses stay open (the rest are
         * O_CLOEXEC or closed here), so python3 inherits nothing else. */
        if (mode == SB_PY_AUDIT) {
            setpgid(0, 0);
            if (chdir(cp->chdir_to) != 0) child_fail(cp->rep_w, "chdir into the sandbox");
            set_limits_and_exec(cp);
        }
        ns_outer(np, cp);
    }
    setpgid(pid, pid); /* also done by the child; whichever runs first */
    close(po[1]);
    close(pe[1]);
    close(pr[1]);
    if (nullfd >= 0) close(nullfd);

    size_t cap = (size_t)sb->lim.max_output_bytes;
    double deadline = now_s() + sb->lim.wall_s;
    struct pollfd fds[3] = {{po[0], POLLIN, 0}, {pe[0], POLLIN, 0}, {pr[0], POLLIN, 0}};
    bool open_[3] = {true, true, true};
    bool exited = false, killed = false;
    double drain_until = 0;
    char buf[65536];
    for (;;) {
        if (!exited) {
            int st;
            pid_t w = waitpid(pid, &st, WNOHANG);
            if (w == pid) { exited = true; ro->wait_status = st; }
        }
        if (exited && !open_[0] && !open_[1] && !open_[2]) break;
        double left = deadline - now_s();
        if (!killed && (left <= 0 || ro->killed_output)) {
            if (!ro->killed_output) ro->killed_wall = true;
            killed = true;
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            if (ro->inner_pid > 0) kill(ro->inner_pid, SIGKILL);
            if (!exited) {
                int st = 0;
                while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
                ro->wait_status = st;
                exited = true;
            }
            drain_until = now_s() + 0.5; /* read what is left in the pipes, briefly */
        }
        if (killed && now_s() > drain_until) break;
        if (exited && !killed) {
            /* The child is gone; what it left open (a stray descriptor) gets
             * a short grace period, not the whole wall-clock budget. */
            if (drain_until == 0) drain_until = now_s() + 1.0;
            else if (now_s() > drain_until) break;
        }
        for (int i = 0; i < 3; i++) fds[i].fd = open_[i] ? (i == 0 ? po[0] : i == 1 ? pe[0] : pr[0]) : -1;
        int ms = exited ? 20 : (int)fmin(50.0, fmax(1.0, left * 1000.0));
        int pr_ = poll(fds, 3, ms);
        if (pr_ < 0 && errno != EINTR) break;
        for (int i = 0; i < 3; i++) {
            if (!open_[i] || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            if (i == 2) {
                report r;
                ssize_t k = read(pr[0], &r, sizeof r);
                if (k == (ssize_t)sizeof r) {
                    if (r.kind == 'P') ro->inner_pid = r.val;
                    else if (r.kind == 'S') { ro->have_inner = true; ro->inner_status = r.val; }
                    else {
                        ro->setup_kind = r.kind;
                        ro->setup_errno = r.val;
                        memcpy(ro->setup_what, r.what, sizeof r.what);
                    }
                } else if (k == 0 || (k < 0 && errno != EINTR && errno != EAGAIN)) {
                    open_[i] = false;
                }
                continue;
            }
            ssize_t k = read(i == 0 ? po[0] : pe[0], buf, sizeof buf);
            if (k > 0) {
                gh_strbuf *b = i == 0 ? &ro->out : &ro->err;
                bool *cut = i == 0 ? &ro->out_cut : &ro->err_cut;
                size_t room = b->len < cap ? cap - b->len : 0;
                size_t take = (size_t)k < room ? (size_t)k : room;
                if (take) gh_strbuf_putn(b, buf, take);
                if ((size_t)k > take) { *cut = true; ro->killed_output = true; }
            } else if (k == 0 || (errno != EINTR && errno != EAGAIN)) {
                open_[i] = false;
            }
        }
    }
    close(po[0]);
    close(pe[0]);
    close(pr[0]);
    return GH_OK;
}

gh_status sb_python_run(gh_sandbox *sb, const char *cwd, const char *script, const char *const *args, int32_t n_args,
                        gh_sh_result *r) {
    memset(r, 0, sizeof *r);
    if (!script || !*script) return gh_error(GH_ERR_INVALID_ARG, "sandbox %s: python3: no script given", sb->root);
    if (n_args < 0 || n_args > 256) return gh_error(GH_ERR_INVALID_ARG, "sandbox %s: python3: %d arguments", sb->root, n_args);
    /* The script must be a regular file inside the root. */
    char why[640];
    sb_path p;
    if (sb_resolve(sb, "", script, &p, why, sizeof why) != 0)
        return gh_error(GH_ERR_INVALID_ARG, "sandbox %s: python3: %s", sb->root, why);
    int fd = sb_open_read(&p, false, why, sizeof why);
    char rel[4200];
    snprintf(rel, sizeof rel, "%s", p.rel);
    sb_path_free(&p);
    if (fd < 0) return gh_error(GH_ERR_IO, "sandbox %s: python3: %s", sb->root, why);
    close(fd);
    /* ... and so must the working directory. */
    if (cwd && *cwd) {
        if (sb_resolve(sb, "", cwd, &p, why, sizeof why) != 0)
            return gh_error(GH_ERR_INVALID_ARG, "sandbox %s: python3: %s", sb->root, why);
        fd = sb_open_read(&p, true, why, sizeof why);
        sb_path_free(&p);
        if (fd < 0) return gh_error(GH_ERR_IO, "sandbox %s: python3: %s", sb->root, why);
        close(fd);
    } else {
        cwd = "";
    }
    char py[PATH_MAX];
    gh_status s = find_python(py);
    if (s != GH_OK) return s;
    char root_abs[PATH_MAX];
    if (!realpath(sb->root, root_abs)) return gh_error(GH_ERR_IO, "sandbox %s: %s", sb->root, strerror(errno));

    sb_pymode mode = current_mode();
    bool hook = mode != SB_PY_NAMESPACE_NOHOOK;
    gh_strbuf msg = {0};
    run_out ro;
    for (int attempt = 0; attempt < 2; attempt++) {
        bool ns = mode != SB_PY_AUDIT;
        char inroot[PATH_MAX], spath[PATH_MAX + 4300], cdir[PATH_MAX + 4300];
        snprintf(inroot, sizeof inroot, "%s", ns ? "/sandbox" : root_abs);
        snprintf(spath, sizeof spath, "%s/%s", inroot, rel);
        snprintf(cdir, sizeof cdir, "%s%s%s", inroot, *cwd ? "/" : "", cwd);
        const char *argv[300];
        int ac = 0;
        argv[ac++] = py;
        argv[ac++] = "-I";
        argv[ac++] = "-S";
        argv[ac++] = "-B";
        if (hook) {
            argv[ac++] = "-c";
            argv[ac++] = BOOTSTRAP;
            argv[ac++] = inroot;
        }
        argv[ac++] = spath;
        for (int32_t i = 0; i < n_args; i++) argv[ac++] = args[i] ? args[i] : "";
        argv[ac] = NULL;
        char home[PATH_MAX + 8];
        snprintf(home, sizeof home, "HOME=%s", inroot);
        const char *envp[] = {"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8", "PYTHONIOENCODING=utf-8",
                              "PYTHONDONTWRITEBYTECODE=1", home, NULL};
        child_plan cp = {.py = py, .argv = (char *const *)argv, .envp = (char *const *)envp, .chdir_to = cdir};
        rlim_t cpu = (rlim_t)ceil(sb->lim.cpu_s);
        if (cpu < 1) cpu = 1;
        cp.cpu = (struct rlimit){cpu, cpu + 1};
        cp.as = (struct rlimit){(rlim_t)sb->lim.mem_bytes, (rlim_t)sb->lim.mem_bytes};
        cp.fsize = (struct rlimit){(rlim_t)sb->lim.max_file_bytes, (rlim_t)sb->lim.max_file_bytes};
        cp.nproc = (struct rlimit){0, 0};
        cp.core = (struct rlimit){0, 0};
        cp.nofile = (struct rlimit){64, 64};
        ns_plan *np = NULL;
        if (ns) {
            np = malloc(sizeof *np);
            if (!np) return gh_error(GH_ERR_NOMEM, "sandbox: out of memory");
            if (make_plan(np, root_abs, py, cwd) != 0) {
                free(np);
                return gh_error(GH_ERR_UNSUPPORTED, "sandbox %s: no directory to build python3's private root on",
                                sb->root);
            }
        }
        memset(&ro, 0, sizeof ro);
        s = run_child(sb, mode, np, &cp, &ro);
        free(np);
        if (s != GH_OK) return s;
        if (ns && ro.setup_kind && attempt == 0) {
            /* Namespaces refused here after all: remember, and use audit mode. */
            __atomic_store_n(&g_ns_ok, 0, __ATOMIC_SEQ_CST);
            if (mode == SB_PY_NAMESPACE_NOHOOK) break;
            gh_strbuf_free(&ro.out);
            gh_strbuf_free(&ro.err);
            mode = SB_PY_AUDIT;
            continue;
        }
        break;
    }
    if (ro.setup_kind) {
        gh_strbuf_free(&ro.out);
        gh_strbuf_free(&ro.err);
        return gh_error(GH_ERR_IO, "sandbox %s: python3 could not be started isolated (%s): %s", sb->root,
                        ro.setup_what, strerror(ro.setup_errno));
    }
    int st = (mode == SB_PY_AUDIT) ? ro.wait_status : ro.have_inner ? ro.inner_status : ro.wait_status;
    int status;
    if (ro.killed_output) {
        gh_strbuf_printf(&msg, "[python3 stopped: output passed the limit of %lld bytes]\n",
                         (long long)sb->lim.max_output_bytes);
        status = 137;
        r->timed_out = true;
    } else if (ro.killed_wall) {
        gh_strbuf_printf(&msg, "[python3 stopped: wall-clock limit of %g s exceeded]\n", sb->lim.wall_s);
        status = 137;
        r->timed_out = true;
    } else if (WIFEXITED(st)) {
        status = WEXITSTATUS(st);
    } else if (WIFSIGNALED(st)) {
        int sig = WTERMSIG(st);
        status = 128 + sig;
        if (sig == SIGXCPU || sig == SIGKILL) {
            gh_strbuf_printf(&msg, "[python3 stopped: CPU time limit of %g s exceeded]\n", sb->lim.cpu_s);
            r->timed_out = true;
        } else {
            gh_strbuf_printf(&msg, "[python3 killed by signal %d (%s)]\n", sig, strsignal(sig));
        }
    } else {
        status = 1;
    }
    if (mode == SB_PY_AUDIT) {
        hide_root(&ro.out, root_abs);
        hide_root(&ro.err, root_abs);
    }
    if (ro.out_cut) gh_strbuf_printf(&ro.out, "\n[stdout cut at %lld bytes]\n", (long long)sb->lim.max_output_bytes);
    if (ro.err_cut) gh_strbuf_printf(&ro.err, "\n[stderr cut at %lld bytes]\n", (long long)sb->lim.max_output_bytes);
    if (msg.len) gh_strbuf_put(&ro.err, msg.p);
    gh_strbuf_free(&msg);
    if (ro.out.oom || ro.err.oom) {
        gh_strbuf_free(&ro.out);
        gh_strbuf_free(&ro.err);
        return gh_error(GH_ERR_NOMEM, "sandbox %s: python3: out of memory collecting output", sb->root);
    }
    r->status = status;
    r->out = ro.out.p ? ro.out.p : strdup("");
    r->err = ro.err.p ? ro.err.p : strdup("");
    if (!r->out || !r->err) {
        gh_sh_result_clear(r);
        return gh_error(GH_ERR_NOMEM, "sandbox %s: python3: out of memory", sb->root);
    }
    return GH_OK;
}

gh_status gh_sandbox_python(gh_sandbox *sb, const char *script, const char *const *args, int32_t n_args,
                            gh_sh_result *r) {
    return sb_python_run(sb, "", script, args, n_args, r);
}
