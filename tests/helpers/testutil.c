/*
 * testutil.c - harness, process spawning, /proc inspection, cleanup.
 * See testutil.h.
 */
#include "testutil.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <grp.h>

#ifndef DCX_HELPER_PATH
#define DCX_HELPER_PATH "dcx-helper"
#endif

extern char **environ;

/* ----------------------------------------------------------------- state */

#define TU_MAX_TESTS 256
#define TU_MAX_PROCS 128
#define TU_MAX_TMPDIRS 16
#define TU_MAX_TRACKED 256

static struct {
    const char *name;
    tu_fn fn;
} tests[TU_MAX_TESTS];
static size_t ntests;
static const char *current_test = "?";
static pid_t main_pid;

static tu_proc procs[TU_MAX_PROCS];
static size_t nprocs;
static char *tmpdirs[TU_MAX_TMPDIRS];
static size_t ntmpdirs;
static pid_t tracked[TU_MAX_TRACKED];
static size_t ntracked;

struct arena_node {
    struct arena_node *next;
    max_align_t align[];
};
static struct arena_node *arena;

static void *tu_alloc(size_t n) {
    struct arena_node *node = malloc(sizeof *node + n + 1);
    if (!node) {
        fprintf(stderr, "testutil: out of memory\n");
        _exit(1);
    }
    node->next = arena;
    arena = node;
    return node->align;
}

char *tu_strdup(const char *s) {
    size_t n = strlen(s);
    char *p = tu_alloc(n + 1);
    memcpy(p, s, n + 1);
    return p;
}

char *tu_fmt(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        TU_FAIL("vsnprintf failed");
    char *p = tu_alloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

/* --------------------------------------------------------------- harness */

void tu_register(const char *name, tu_fn fn) {
    if (ntests == TU_MAX_TESTS) {
        fprintf(stderr, "testutil: too many tests\n");
        _exit(2);
    }
    tests[ntests].name = name;
    tests[ntests].fn = fn;
    ntests++;
}

void tu_log(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("# ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

void tu_fail_at(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s:%d: FAIL [%s]: ", file, line, current_test);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    if (getpid() != main_pid)
        _exit(1);
    exit(1);
}

void tu_skip(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "SKIP [%s]: ", current_test);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(TU_SKIP_CODE);
}

void tu_assert_str_eq(const char *file, int line, const char *expr, const char *got, const char *want) {
    if (!got)
        tu_fail_at(file, line, "%s is NULL, expected \"%s\"", expr, want);
    if (strcmp(got, want) != 0)
        tu_fail_at(file, line, "%s: got \"%s\", expected \"%s\"", expr, got, want);
}

void tu_assert_contains(const char *file, int line, const char *expr, const char *hay, const char *needle) {
    if (!hay)
        tu_fail_at(file, line, "%s is NULL, expected it to contain \"%s\"", expr, needle);
    if (!strstr(hay, needle))
        tu_fail_at(file, line, "%s = \"%s\" does not contain \"%s\"", expr, hay, needle);
}

long tu_sys_at(long r, const char *file, int line, const char *expr) {
    if (r == -1)
        tu_fail_at(file, line, "%s: %s", expr, strerror(errno));
    return r;
}

bool tu_contains_number(const char *hay, long long n) {
    char want[32];
    snprintf(want, sizeof want, "%lld", n);
    size_t wl = strlen(want);
    for (const char *p = hay; *p; p++) {
        if (!isdigit((unsigned char)*p) && !(*p == '-' && isdigit((unsigned char)p[1])))
            continue;
        if (p > hay && isdigit((unsigned char)p[-1]))
            continue;
        size_t len = 1;
        while (isdigit((unsigned char)p[len]))
            len++;
        if (len == wl && strncmp(p, want, wl) == 0)
            return true;
        p += len - 1;
    }
    return false;
}

int64_t tu_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int tu_timeout_ms(void) {
    static int value;
    if (!value && getenv("DCX_TEST_TIMEOUT_MS"))
        value = atoi(getenv("DCX_TEST_TIMEOUT_MS"));
    if (value <= 0) {
        const char *s = getenv("DCX_TEST_TIME_SCALE");
        int scale = s ? atoi(s) : 1;
        if (scale < 1)
            scale = 1;
        value = 15000 * scale;
    }
    return value;
}

static int remaining_ms(int64_t deadline) {
    int64_t r = deadline - tu_now_ms();
    return r < 0 ? 0 : (int)r;
}

/* ----------------------------------------------------------------- /proc */

bool tu_proc_stat(pid_t pid, tu_pstat *st) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p)
        return false;
    int ppid, pgrp, session, tty;
    char state;
    if (sscanf(p + 1, " %c %d %d %d %d", &state, &ppid, &pgrp, &session, &tty) != 5)
        return false;
    st->state = state;
    st->ppid = ppid;
    st->pgrp = pgrp;
    st->session = session;
    st->tty_nr = tty;
    return true;
}

bool tu_alive(pid_t pid) {
    tu_pstat st;
    return tu_proc_stat(pid, &st) && st.state != 'Z' && st.state != 'X';
}

static char *proc_file(pid_t pid, const char *what) {
    char *path = tu_fmt("/proc/%d/%s", (int)pid, what);
    return tu_read_file(path);
}

const char *tu_status_field(pid_t pid, const char *name) {
    char *text = proc_file(pid, "status");
    if (!text)
        TU_FAIL("cannot read /proc/%d/status: %s", (int)pid, strerror(errno));
    size_t nl = strlen(name);
    for (char *line = text; line && *line;) {
        char *end = strchr(line, '\n');
        if (end)
            *end = 0;
        if (strncmp(line, name, nl) == 0 && line[nl] == ':') {
            char *v = line + nl + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            size_t len = strlen(v);
            while (len && (v[len - 1] == ' ' || v[len - 1] == '\t'))
                v[--len] = 0;
            return v;
        }
        line = end ? end + 1 : NULL;
    }
    TU_FAIL("no %s: line in /proc/%d/status", name, (int)pid);
}

uint64_t tu_status_mask(pid_t pid, const char *name) {
    const char *v = tu_status_field(pid, name);
    return (uint64_t)strtoull(v, NULL, 16);
}

void tu_status_ids(pid_t pid, const char *name, long ids[4]) {
    const char *v = tu_status_field(pid, name);
    if (sscanf(v, "%ld %ld %ld %ld", &ids[0], &ids[1], &ids[2], &ids[3]) != 4)
        TU_FAIL("cannot parse %s: \"%s\"", name, v);
}

const char *tu_limit(pid_t pid, const char *name) {
    char *text = proc_file(pid, "limits");
    if (!text)
        TU_FAIL("cannot read /proc/%d/limits: %s", (int)pid, strerror(errno));
    char *line = strstr(text, name);
    if (!line)
        TU_FAIL("no \"%s\" in /proc/%d/limits", name, (int)pid);
    char soft[64], hard[64];
    if (sscanf(line + strlen(name), " %63s %63s", soft, hard) != 2)
        TU_FAIL("cannot parse limit line %s", line);
    return tu_fmt("%s %s", soft, hard);
}

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

size_t tu_fd_list(pid_t pid, int *fds, size_t max) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        TU_FAIL("opendir %s: %s", path, strerror(errno));
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        if (n < max)
            fds[n] = atoi(e->d_name);
        n++;
    }
    closedir(d);
    if (n > max)
        TU_FAIL("too many fds in %s (%zu)", path, n);
    qsort(fds, n, sizeof *fds, cmp_int);
    return n;
}

const char *tu_proc_link(pid_t pid, const char *what) {
    char path[128], buf[PATH_MAX];
    snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, what);
    ssize_t n = readlink(path, buf, sizeof buf - 1);
    if (n < 0)
        TU_FAIL("readlink %s: %s", path, strerror(errno));
    buf[n] = 0;
    return tu_strdup(buf);
}

long tu_fd_flags(pid_t pid, int fd) {
    char *text = proc_file(pid, tu_fmt("fdinfo/%d", fd));
    if (!text)
        TU_FAIL("cannot read /proc/%d/fdinfo/%d: %s", (int)pid, fd, strerror(errno));
    char *p = strstr(text, "flags:");
    if (!p)
        TU_FAIL("no flags in fdinfo");
    return strtol(p + 6, NULL, 8);
}

void tu_assert_pidfile_holds(const char *path, pid_t pid) {
    char *content = tu_read_file(path);
    if (!content)
        TU_FAIL("pidfile %s cannot be read: %s", path, strerror(errno));
    char *want = tu_fmt("%d\n", (int)pid);
    if (strcmp(content, want) != 0)
        TU_FAIL("pidfile %s holds \"%s\", expected \"%d\\n\"", path, content, (int)pid);
}

/* ----------------------------------------------------------------- files */

const char *tu_tmpdir(void) {
    if (ntmpdirs == TU_MAX_TMPDIRS)
        TU_FAIL("too many temporary directories");
    char tmpl[] = "/tmp/dcx-test-XXXXXX";
    if (!mkdtemp(tmpl))
        TU_FAIL("mkdtemp: %s", strerror(errno));
    TU_SYS(chmod(tmpl, 0755));
    tmpdirs[ntmpdirs] = strdup(tmpl);
    if (!tmpdirs[ntmpdirs])
        TU_FAIL("strdup");
    return tmpdirs[ntmpdirs++];
}

void tu_write_file(const char *path, const char *content, mode_t mode) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0)
        TU_FAIL("open %s: %s", path, strerror(errno));
    size_t len = strlen(content);
    if (write(fd, content, len) != (ssize_t)len)
        TU_FAIL("write %s: %s", path, strerror(errno));
    TU_SYS(fchmod(fd, mode));
    close(fd);
}

char *tu_read_file(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    if (!buf)
        TU_FAIL("malloc");
    for (;;) {
        if (len + 1 >= cap) {
            cap *= 2;
            char *nb = realloc(buf, cap);
            if (!nb)
                TU_FAIL("realloc");
            buf = nb;
        }
        ssize_t n = read(fd, buf + len, cap - len - 1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            close(fd);
            free(buf);
            errno = e;
            return NULL;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    buf[len] = 0;
    char *r = tu_strdup(buf);
    free(buf);
    return r;
}

bool tu_path_exists(const char *path) {
    struct stat st;
    return lstat(path, &st) == 0;
}

void tu_mkdir_p(const char *path, mode_t mode) {
    char *p = tu_strdup(path);
    for (char *s = p + 1; *s; s++) {
        if (*s == '/') {
            *s = 0;
            if (mkdir(p, mode) < 0 && errno != EEXIST)
                TU_FAIL("mkdir %s: %s", p, strerror(errno));
            *s = '/';
        }
    }
    if (mkdir(p, mode) < 0 && errno != EEXIST)
        TU_FAIL("mkdir %s: %s", p, strerror(errno));
}

/* ------------------------------------------------------------- spawning */

const char *tu_helper_path(void) {
    const char *env = getenv("DCX_HELPER");
    return env && *env ? env : DCX_HELPER_PATH;
}

void tu_cmd_init_program(tu_cmd *c, const char *program) {
    memset(c, 0, sizeof *c);
    c->argv[c->argc++] = program;
    c->report = true;
    c->capture_stdout = true;
    sigemptyset(&c->ignore);
    sigemptyset(&c->block);
    c->umask = 022;
    c->core_unlimited = true;
    c->ctty = -1;
}

void tu_cmd_init(tu_cmd *c) {
    tu_cmd_init_program(c, tu_helper_path());
    tu_cmd_arg(c, "--report-fd=%d", TU_REPORT_FD);
}

void tu_cmd_arg(tu_cmd *c, const char *fmt, ...) {
    if (c->argc == TU_MAX_ARGS)
        TU_FAIL("too many arguments");
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *p = tu_alloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    c->argv[c->argc++] = p;
    c->argv[c->argc] = NULL;
}

void tu_cmd_fd(tu_cmd *c, int child_fd, int parent_fd) {
    for (size_t i = 0; i < c->nfds; i++) {
        if (c->fds[i].child == child_fd) {
            c->fds[i].parent = parent_fd;
            return;
        }
    }
    if (c->nfds == TU_MAX_FDS)
        TU_FAIL("too many fds");
    c->fds[c->nfds].child = child_fd;
    c->fds[c->nfds].parent = parent_fd;
    c->nfds++;
}

void tu_cmd_env(tu_cmd *c, const char *assignment) {
    if (c->nenv == sizeof c->env / sizeof c->env[0])
        TU_FAIL("too many env entries");
    c->env[c->nenv++] = assignment;
}

struct exec_failure {
    int err;
    char what[64];
};

__attribute__((noreturn)) static void child_die(int fd, const char *what) {
    struct exec_failure f;
    memset(&f, 0, sizeof f);
    f.err = errno;
    snprintf(f.what, sizeof f.what, "%s", what);
    if (write(fd, &f, sizeof f) < 0) {
        /* nothing to do */
    }
    _exit(127);
}

static void wait_and_forward(pid_t pid, int exefd) {
    close(exefd);
    int st;
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR)
            _exit(126);
    }
    if (WIFEXITED(st))
        _exit(WEXITSTATUS(st));
    _exit(128 + WTERMSIG(st));
}

__attribute__((noreturn)) static void spawn_child(tu_cmd *c, int exefd) {
    /* Controlling terminal first: the slave fd must still be open. */
    if (c->ctty >= 0) {
        if (setsid() < 0)
            child_die(exefd, "setsid");
        if (ioctl(c->ctty, TIOCSCTTY, 0) < 0)
            child_die(exefd, "TIOCSCTTY");
    }
    /* fds: move everything above the highest target, then into place. */
    int maxt = 2;
    for (size_t i = 0; i < c->nfds; i++)
        if (c->fds[i].child > maxt)
            maxt = c->fds[i].child;
    int floor_fd = maxt + 1;
    int moved = fcntl(exefd, F_DUPFD_CLOEXEC, floor_fd);
    if (moved < 0)
        child_die(exefd, "dup exe pipe");
    exefd = moved;
    int tmp[TU_MAX_FDS];
    for (size_t i = 0; i < c->nfds; i++) {
        tmp[i] = -1;
        if (c->fds[i].parent >= 0) {
            tmp[i] = fcntl(c->fds[i].parent, F_DUPFD_CLOEXEC, floor_fd);
            if (tmp[i] < 0)
                child_die(exefd, "dup fd");
        }
    }
    for (size_t i = 0; i < c->nfds; i++) {
        if (tmp[i] >= 0) {
            if (dup2(tmp[i], c->fds[i].child) < 0)
                child_die(exefd, "dup2");
        }
    }
    for (size_t i = 0; i < c->nfds; i++) {
        if (tmp[i] < 0)
            close(c->fds[i].child);
        else
            close(tmp[i]);
    }
    /* close every other fd >= 3 except the targets and exefd */
    {
        int keep[TU_MAX_FDS + 1];
        size_t nk = 0;
        for (size_t i = 0; i < c->nfds; i++)
            if (c->fds[i].parent >= 0 && c->fds[i].child >= 3)
                keep[nk++] = c->fds[i].child;
        keep[nk++] = exefd;
        qsort(keep, nk, sizeof keep[0], cmp_int);
        unsigned int from = 3;
        for (size_t i = 0; i < nk; i++) {
            unsigned int k = (unsigned int)keep[i];
            if (k > from)
                syscall(SYS_close_range, from, k - 1, 0);
            if (k + 1 > from)
                from = k + 1;
        }
        syscall(SYS_close_range, from, ~0U, 0);
    }
    /* signals */
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP)
            continue;
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = sigismember(&c->ignore, sig) == 1 ? SIG_IGN : SIG_DFL;
        sigaction(sig, &sa, NULL); /* EINVAL for reserved signals is fine */
    }
    if (sigprocmask(SIG_SETMASK, &c->block, NULL) < 0)
        child_die(exefd, "sigprocmask");
    umask(c->umask);
    if (c->core_unlimited) {
        struct rlimit rl = {RLIM_INFINITY, RLIM_INFINITY};
        if (setrlimit(RLIMIT_CORE, &rl) < 0)
            child_die(exefd, "setrlimit core");
    }
    if (c->cwd && chdir(c->cwd) < 0)
        child_die(exefd, "chdir");
    /* environment */
    {
        const char *asan = getenv("ASAN_OPTIONS");
        char *opts = tu_fmt("%s%sdisable_coredump=0%s", asan ? asan : "", asan && *asan ? ":" : "",
                            c->no_leak_check ? ":detect_leaks=0" : "");
        setenv("ASAN_OPTIONS", opts, 1);
        /* a service manager's variables change detach auto: tests set them explicitly */
        unsetenv("NOTIFY_SOCKET");
        unsetenv("INVOCATION_ID");
        unsetenv("LISTEN_PID");
        unsetenv("LISTEN_FDS");
        unsetenv("LISTEN_FDNAMES");
        for (size_t i = 0; i < c->nenv; i++)
            putenv((char *)(uintptr_t)c->env[i]);
    }
    if (c->ngroups > 0 && setgroups(c->ngroups, c->groups) < 0)
        child_die(exefd, "setgroups");
    if (c->set_ids) {
        gid_t g = c->rgid;
        if (c->ngroups == 0 && setgroups(1, &g) < 0)
            child_die(exefd, "setgroups");
        if (setresgid(c->rgid, c->egid, c->egid) < 0)
            child_die(exefd, "setresgid");
        if (setresuid(c->ruid, c->euid, c->euid) < 0)
            child_die(exefd, "setresuid");
    }
    if (c->pidns != TU_PIDNS_NONE) {
        if (unshare(CLONE_NEWPID) < 0)
            child_die(exefd, "unshare(CLONE_NEWPID)");
        pid_t g = fork();
        if (g < 0)
            child_die(exefd, "fork");
        if (g > 0)
            wait_and_forward(g, exefd);
        /* PID 1 of the new namespace */
        if (c->pidns == TU_PIDNS_PARENT_INIT) {
            pid_t h = fork();
            if (h < 0)
                child_die(exefd, "fork");
            if (h > 0)
                wait_and_forward(h, exefd);
        }
    }
    if (c->listen_pid_self) {
        char buf[32];
        snprintf(buf, sizeof buf, "%d", (int)getpid());
        setenv("LISTEN_PID", buf, 1);
    }
    execve(c->argv[0], (char *const *)(uintptr_t)c->argv, environ);
    child_die(exefd, "execve");
}

tu_proc *tu_spawn(tu_cmd *c) {
    if (nprocs == TU_MAX_PROCS)
        TU_FAIL("too many processes");
    tu_proc *p = &procs[nprocs];
    memset(p, 0, sizeof *p);
    p->report = p->out = p->err = -1;
    int rep[2] = {-1, -1}, out[2] = {-1, -1}, err[2], exe[2];
    tu_cmd cc = *c;
    cc.argv[cc.argc] = NULL;
    int devnull = TU_FD(open("/dev/null", O_RDWR | O_CLOEXEC));
    bool have0 = false, have1 = false, have2 = false;
    for (size_t i = 0; i < cc.nfds; i++) {
        have0 |= cc.fds[i].child == 0;
        have1 |= cc.fds[i].child == 1;
        have2 |= cc.fds[i].child == 2;
    }
    if (cc.report) {
        TU_SYS(pipe2(rep, O_CLOEXEC));
        tu_cmd_fd(&cc, TU_REPORT_FD, rep[1]);
    }
    if (!have0)
        tu_cmd_fd(&cc, 0, devnull);
    if (!have1) {
        if (cc.capture_stdout) {
            TU_SYS(pipe2(out, O_CLOEXEC));
            tu_cmd_fd(&cc, 1, out[1]);
        } else {
            tu_cmd_fd(&cc, 1, devnull);
        }
    }
    TU_SYS(pipe2(err, O_CLOEXEC));
    if (!have2)
        tu_cmd_fd(&cc, 2, err[1]);
    TU_SYS(pipe2(exe, O_CLOEXEC));
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        TU_FAIL("fork: %s", strerror(errno));
    if (pid == 0) {
        close(exe[0]);
        spawn_child(&cc, exe[1]);
    }
    close(exe[1]);
    close(devnull);
    if (rep[1] >= 0)
        close(rep[1]);
    if (out[1] >= 0)
        close(out[1]);
    close(err[1]);
    nprocs++;
    p->pid = pid;
    p->report = rep[0];
    p->out = out[0];
    p->err = err[0];
    struct exec_failure f;
    ssize_t n;
    do {
        n = read(exe[0], &f, sizeof f);
    } while (n < 0 && errno == EINTR);
    close(exe[0]);
    if (n == (ssize_t)sizeof f) {
        tu_wait(p, tu_timeout_ms());
        if (strncmp(f.what, "unshare", 7) == 0 && (f.err == EPERM || f.err == EINVAL || f.err == ENOSPC))
            tu_skip("no PID namespace here (%s: %s)", f.what, strerror(f.err));
        TU_FAIL("spawning %s: %s: %s", cc.argv[0], f.what, strerror(f.err));
    }
    return p;
}

static tu_proc *proc_by_pid(pid_t pid) {
    for (size_t i = 0; i < nprocs; i++)
        if (procs[i].pid == pid)
            return &procs[i];
    return NULL;
}

static void record_status(pid_t pid, int st) {
    tu_proc *p = proc_by_pid(pid);
    if (p && !p->reaped) {
        p->reaped = true;
        p->status = st;
    }
}

static bool poll_pidfd(pid_t pid, int ms) {
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (fd < 0)
        return true; /* gone (reaped) */
    struct pollfd pfd = {fd, POLLIN, 0};
    int r;
    int64_t deadline = tu_now_ms() + ms;
    do {
        r = poll(&pfd, 1, remaining_ms(deadline));
    } while (r < 0 && errno == EINTR);
    close(fd);
    return r > 0;
}

bool tu_exits_within(tu_proc *p, int ms, int *status) {
    if (!p->reaped) {
        if (!poll_pidfd(p->pid, ms))
            return false;
        int st;
        pid_t r;
        do {
            r = waitpid(p->pid, &st, 0);
        } while (r < 0 && errno == EINTR);
        if (r < 0)
            TU_FAIL("waitpid %d: %s", (int)p->pid, strerror(errno));
        p->reaped = true;
        p->status = st;
    }
    if (status)
        *status = p->status;
    return true;
}

int tu_wait(tu_proc *p, int timeout_ms) {
    int st;
    if (!tu_exits_within(p, timeout_ms, &st))
        TU_FAIL("process %d (%s) did not exit within %d ms", (int)p->pid, "helper", timeout_ms);
    return st;
}

static const char *describe_status(int st) {
    if (WIFEXITED(st))
        return tu_fmt("exit status %d", WEXITSTATUS(st));
    if (WIFSIGNALED(st))
        return tu_fmt("killed by signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
    return tu_fmt("wait status 0x%x", st);
}

void tu_expect_exit_code(tu_proc *p, int code) {
    int st = tu_wait(p, tu_timeout_ms());
    if (!WIFEXITED(st) || WEXITSTATUS(st) != code) {
        const char *err = tu_proc_stderr(p);
        TU_FAIL("helper %d: %s, expected exit status %d; stderr: %s", (int)p->pid, describe_status(st), code, err);
    }
}

bool tu_readable_within(int fd, int ms) {
    struct pollfd pfd = {fd, POLLIN, 0};
    int64_t deadline = tu_now_ms() + ms;
    int r;
    do {
        r = poll(&pfd, 1, remaining_ms(deadline));
    } while (r < 0 && errno == EINTR);
    return r > 0;
}

char *tu_read_line(int fd, int ms) {
    char buf[4096];
    size_t len = 0;
    int64_t deadline = tu_now_ms() + ms;
    for (;;) {
        if (!tu_readable_within(fd, remaining_ms(deadline)))
            TU_FAIL("no line on fd %d within %d ms (got \"%.*s\" so far)", fd, ms, (int)len, buf);
        char ch;
        ssize_t n = read(fd, &ch, 1);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            TU_FAIL("read fd %d: %s", fd, strerror(errno));
        }
        if (n == 0) {
            if (len == 0)
                return NULL;
            break;
        }
        if (ch == '\n')
            break;
        if (len < sizeof buf - 1)
            buf[len++] = ch;
    }
    buf[len] = 0;
    return tu_strdup(buf);
}

char *tu_read_all(int fd, int ms) {
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    if (!buf)
        TU_FAIL("malloc");
    int64_t deadline = tu_now_ms() + ms;
    for (;;) {
        if (!tu_readable_within(fd, remaining_ms(deadline))) {
            free(buf);
            TU_FAIL("no EOF on fd %d within %d ms", fd, ms);
        }
        if (len + 1 >= cap) {
            cap *= 2;
            char *nb = realloc(buf, cap);
            if (!nb)
                TU_FAIL("realloc");
            buf = nb;
        }
        ssize_t n = read(fd, buf + len, cap - len - 1);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            free(buf);
            TU_FAIL("read fd %d: %s", fd, strerror(errno));
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    buf[len] = 0;
    char *r = tu_strdup(buf);
    free(buf);
    return r;
}

const char *tu_proc_stderr(tu_proc *p) {
    if (!p->errtext) {
        if (p->err < 0)
            return "";
        p->errtext = tu_read_all(p->err, tu_timeout_ms());
        close(p->err);
        p->err = -1;
    }
    return p->errtext;
}

const char *tu_proc_stdout(tu_proc *p) {
    if (p->out < 0)
        return "";
    char *s = tu_read_all(p->out, tu_timeout_ms());
    close(p->out);
    p->out = -1;
    return s;
}

void tu_track_pid(pid_t pid) {
    if (ntracked < TU_MAX_TRACKED)
        tracked[ntracked++] = pid;
}

pid_t tu_expect_up(tu_proc *p) {
    char *line = tu_read_line(p->report, tu_timeout_ms());
    if (!line) {
        int st = 0;
        const char *how = tu_exits_within(p, tu_timeout_ms(), &st) ? describe_status(st) : "still running";
        TU_FAIL("no \"up\" line from the daemon (EOF on the report pipe); helper %s; stderr: %s", how,
                tu_proc_stderr(p));
    }
    int pid, dpid, open;
    if (sscanf(line, "up %d %d %d", &pid, &dpid, &open) != 3) {
        int st = 0;
        const char *how = tu_exits_within(p, tu_timeout_ms(), &st) ? describe_status(st) : "still running";
        TU_FAIL("expected \"up PID DAEMONPID OPEN\", got \"%s\"; helper %s; stderr: %s", line, how,
                tu_proc_stderr(p));
    }
    tu_track_pid(pid);
    if (dpid != pid)
        TU_FAIL("in the daemon, daemonctx_daemon_pid() = %d but getpid() = %d", dpid, pid);
    if (open != 1)
        TU_FAIL("in the daemon, daemonctx_is_open() = %d", open);
    return pid;
}

/* Wait for PID (a daemon, eventually our child) to exit and reap it. */
static bool wait_pid_until(pid_t pid, int64_t deadline, int *status, bool must) {
    for (;;) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) {
            record_status(pid, st);
            if (status)
                *status = st;
            return true;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && errno == ECHILD) {
            /* not our child (yet): wait for whoever is its parent */
            tu_pstat ps;
            if (!tu_proc_stat(pid, &ps)) {
                if (must)
                    TU_FAIL("process %d vanished without being reaped by the test", (int)pid);
                return true;
            }
            if (ps.ppid == getpid())
                continue;
            if (!poll_pidfd(ps.ppid, remaining_ms(deadline)))
                goto timeout;
            /* the parent exited; its children are reparented to us */
            if (tu_now_ms() >= deadline)
                goto timeout;
            continue;
        }
        if (r < 0)
            TU_FAIL("waitpid %d: %s", (int)pid, strerror(errno));
        if (!poll_pidfd(pid, remaining_ms(deadline)))
            goto timeout;
        if (tu_now_ms() >= deadline && !tu_alive(pid) && waitpid(pid, &st, WNOHANG) == 0)
            goto timeout;
    }
timeout:
    if (must)
        TU_FAIL("process %d did not exit in time", (int)pid);
    return false;
}

int tu_wait_pid(pid_t pid, int ms) {
    int st = 0;
    wait_pid_until(pid, tu_now_ms() + ms, &st, true);
    return st;
}

bool tu_pid_exits_within(pid_t pid, int ms) {
    if (!poll_pidfd(pid, ms))
        return false;
    return true;
}

static size_t list_children(pid_t *out, size_t max, bool zombies) {
    DIR *d = opendir("/proc");
    if (!d)
        TU_FAIL("opendir /proc: %s", strerror(errno));
    size_t n = 0;
    pid_t me = getpid();
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        pid_t pid = (pid_t)atoi(e->d_name);
        tu_pstat st;
        if (!tu_proc_stat(pid, &st) || st.ppid != me)
            continue;
        bool z = st.state == 'Z' || st.state == 'X';
        if (z != zombies)
            continue;
        if (n < max)
            out[n++] = pid;
    }
    closedir(d);
    return n;
}

size_t tu_live_children(pid_t *out, size_t max) { return list_children(out, max, false); }

static void reap_zombies(void) {
    pid_t z[256];
    size_t nz = list_children(z, 256, true);
    for (size_t i = 0; i < nz; i++) {
        int st;
        if (waitpid(z[i], &st, WNOHANG) == z[i])
            record_status(z[i], st);
    }
}

static const char *cmdline_of(pid_t pid) {
    char *s = tu_read_file(tu_fmt("/proc/%d/cmdline", (int)pid));
    if (!s)
        return "?";
    return s;
}

void tu_assert_no_descendants_except(const pid_t *allowed, size_t nallowed) {
    int64_t deadline = tu_now_ms() + tu_timeout_ms();
    for (;;) {
        reap_zombies();
        pid_t live[256];
        size_t n = list_children(live, 256, false), nbad = 0;
        pid_t bad[256];
        for (size_t i = 0; i < n; i++) {
            bool ok = false;
            for (size_t j = 0; j < nallowed; j++)
                ok |= live[i] == allowed[j];
            if (!ok)
                bad[nbad++] = live[i];
        }
        if (nbad == 0)
            return;
        if (tu_now_ms() >= deadline) {
            char list[1024] = "";
            size_t len = 0;
            for (size_t i = 0; i < nbad && len < sizeof list - 64; i++)
                len += (size_t)snprintf(list + len, sizeof list - len, " %d(%s)", (int)bad[i], cmdline_of(bad[i]));
            TU_FAIL("processes left behind:%s", list);
        }
        poll_pidfd(bad[0], remaining_ms(deadline));
    }
}

/* ----------------------------------------------------------------- cleanup */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void tu_cleanup(void) {
    if (getpid() != main_pid)
        return;
    alarm(0);
    /* kill everything we started: our children, then whoever gets reparented */
    for (int round = 0; round < 64; round++) {
        pid_t kids[256];
        size_t n = list_children(kids, 256, false);
        pid_t z[256];
        size_t nz = list_children(z, 256, true);
        if (n == 0 && nz == 0)
            break;
        for (size_t i = 0; i < n; i++)
            kill(kids[i], SIGKILL);
        for (size_t i = 0; i < n; i++) {
            int st;
            while (waitpid(kids[i], &st, 0) < 0 && errno == EINTR) {
            }
        }
        for (size_t i = 0; i < nz; i++) {
            int st;
            waitpid(z[i], &st, WNOHANG);
        }
    }
    for (size_t i = 0; i < nprocs; i++) {
        if (procs[i].report >= 0)
            close(procs[i].report);
        if (procs[i].out >= 0)
            close(procs[i].out);
        if (procs[i].err >= 0)
            close(procs[i].err);
    }
    for (size_t i = 0; i < ntmpdirs; i++) {
        nftw(tmpdirs[i], rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        free(tmpdirs[i]);
    }
    ntmpdirs = 0;
    while (arena) {
        struct arena_node *next = arena->next;
        free(arena);
        arena = next;
    }
}

static void on_watchdog(int sig) {
    (void)sig;
    static const char msg[] = "FAIL: test watchdog expired (a wait without deadline?)\n";
    if (write(2, msg, sizeof msg - 1) < 0) {
        /* ignore */
    }
    for (size_t i = 0; i < ntracked; i++)
        kill(tracked[i], SIGKILL);
    tu_cleanup();
    _exit(1);
}

int tu_main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "--list") == 0) {
        for (size_t i = 0; i < ntests; i++)
            printf("%s\n", tests[i].name);
        return 0;
    }
    if (argc != 2) {
        fprintf(stderr, "usage: %s TEST-NAME | --list\n", argv[0]);
        return 2;
    }
    tu_fn fn = NULL;
    for (size_t i = 0; i < ntests; i++) {
        if (strcmp(tests[i].name, argv[1]) == 0) {
            fn = tests[i].fn;
            current_test = tests[i].name;
        }
    }
    if (!fn) {
        fprintf(stderr, "%s: no test named %s\n", argv[0], argv[1]);
        return 2;
    }
    main_pid = getpid();
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
        fprintf(stderr, "prctl(PR_SET_CHILD_SUBREAPER): %s\n", strerror(errno));
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGALRM, on_watchdog);
    alarm((unsigned int)(tu_timeout_ms() / 1000 * 6));
    atexit(tu_cleanup);
    fn();
    fprintf(stderr, "PASS [%s]\n", current_test);
    return 0;
}

/* -------------------------------------------------------- helper protocol */

void tu_cmd_groups(tu_cmd *c, const gid_t *groups, size_t n) {
    if (n > sizeof c->groups / sizeof c->groups[0])
        TU_FAIL("too many groups");
    memcpy(c->groups, groups, n * sizeof *groups);
    c->ngroups = n;
}

tu_failure tu_expect_open_failure(tu_proc *p, const char *step) {
    tu_failure f;
    memset(&f, 0, sizeof f);
    int st = tu_wait(p, tu_timeout_ms());
    const char *err = tu_proc_stderr(p);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 1)
        TU_FAIL("expected the invoker to fail (exit status 1) but: %s; stderr: \"%s\"", describe_status(st), err);
    size_t len = strlen(err);
    const char *nl = strchr(err, '\n');
    if (len == 0 || !nl || nl != err + len - 1)
        TU_FAIL("expected exactly one line on stderr, got \"%s\"", err);
    f.line = tu_strdup(err);
    ((char *)(uintptr_t)f.line)[len - 1] = 0;
    const char *sep = strstr(f.line, ": ");
    if (!sep)
        TU_FAIL("stderr line is not \"STEP: MESSAGE\": \"%s\"", f.line);
    char *s = tu_strdup(f.line);
    s[sep - f.line] = 0;
    f.step = s;
    f.message = sep + 2;
    TU_ASSERT_MSG(f.step[0] != 0, "empty step in \"%s\"", f.line);
    TU_ASSERT_MSG(f.message[0] != 0, "empty message in \"%s\"", f.line);
    if (step && strcmp(f.step, step) != 0)
        TU_FAIL("failed at step \"%s\", expected step \"%s\" (line \"%s\")", f.step, step, f.line);
    /* the report line: "error RC ERRNUM STEP" (after any daemon lines) */
    if (p->report >= 0) {
        for (;;) {
            char *line = tu_read_line(p->report, tu_timeout_ms());
            if (!line)
                TU_FAIL("no \"error\" line on the report pipe");
            char rstep[64];
            if (sscanf(line, "error %d %d %63s", &f.rc, &f.errnum, rstep) == 3) {
                TU_ASSERT_STR_EQ(rstep, f.step);
                break;
            }
        }
        TU_ASSERT_MSG(f.rc < 0, "open() returned %d on failure", f.rc);
        if (f.errnum != 0)
            TU_ASSERT_MSG(f.rc == -f.errnum, "open() returned %d but err.errnum is %d", f.rc, f.errnum);
    }
    tu_log("open failed as expected: %s (rc %d, errnum %d)", f.line, f.rc, f.errnum);
    return f;
}

const char *tu_describe_status(int status) { return describe_status(status); }

void tu_wait_reparented(pid_t pid) {
    int64_t deadline = tu_now_ms() + tu_timeout_ms();
    for (;;) {
        tu_pstat st;
        if (!tu_proc_stat(pid, &st))
            TU_FAIL("process %d is gone", (int)pid);
        if (st.ppid == getpid())
            return;
        if (tu_now_ms() >= deadline)
            TU_FAIL("process %d still has parent %d, not the test", (int)pid, (int)st.ppid);
        /* its parent (the intermediate child) must exit */
        poll_pidfd(st.ppid, remaining_ms(deadline));
    }
}

pid_t tu_start_daemon(tu_cmd *c, tu_proc **invoker) {
    tu_proc *p = tu_spawn(c);
    if (invoker)
        *invoker = p;
    pid_t d = tu_expect_up(p);
    tu_expect_exit_code(p, 0);
    tu_wait_reparented(d);
    return d;
}

int tu_kill_and_wait(pid_t pid, int sig) {
    TU_SYS(kill(pid, sig));
    return tu_wait_pid(pid, tu_timeout_ms());
}
