/*
 * testutil.c - the one harness: registration, spawning, waiting, /proc
 * inspection, pidfile inspection, cleanup. See testutil.h.
 *
 * Plain C and Linux system calls only (pidfd_open, pidfd_send_signal and
 * close_range through syscall(2)), so that it builds with musl-gcc too.
 * Every table grows as needed: no cap on processes, directories or PIDs.
 */
#include "testutil.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef DCX_HELPER_PATH
#define DCX_HELPER_PATH "dcx-helper"
#endif

extern char **environ;

/* ------------------------------------------------------------ growing tables */

/* A table of N elements of SIZE bytes at *BASE, grown to hold one more. */
static void *grow(void *base, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return base;
    size_t ncap = *cap ? *cap * 2 : 16;
    void *p = realloc(base, ncap * size);
    if (!p) {
        (void)fprintf(stderr, "testutil: out of memory\n");
        _exit(1);
    }
    *cap = ncap;
    return p;
}
#define PUSH(arr, n, cap, value)                                                                                  \
    do {                                                                                                          \
        (arr) = grow((arr), &(cap), (n), sizeof *(arr));                                                          \
        (arr)[(n)++] = (value);                                                                                   \
    } while (0)

/* ----------------------------------------------------------------- state */

struct test_entry {
    const char *name;
    tu_fn fn;
};
static struct test_entry *tests;
static size_t ntests, cap_tests;
static const char *current_test = "?";
static pid_t main_pid;
const char *tu_context;

static tu_proc **procs; /* every command spawned, newest last */
static size_t nprocs, cap_procs;
static char **tmpdirs;
static size_t ntmpdirs, cap_tmpdirs;
static pid_t *tracked;
static size_t ntracked, cap_tracked;

/* Statuses of processes the harness reaped on its own (tu_wait_gone, zombie
 * sweeps), for a later tu_wait_pid. */
struct reaped {
    pid_t pid;
    int status;
};
static struct reaped *reaped;
static size_t nreaped, cap_reaped;

struct copy {
    const char *from, *to;
    bool lib; /* it links libdaemonctx: LD_LIBRARY_PATH=bindir where it runs */
};
static struct copy *copies;
static size_t ncopies, cap_copies;
static const char *bindir;

struct arena_node {
    struct arena_node *next;
    max_align_t align[];
};
static struct arena_node *arena;

static void *tu_alloc(size_t n)
{
    struct arena_node *node = malloc(sizeof *node + n + 1);
    if (!node) {
        (void)fprintf(stderr, "testutil: out of memory\n");
        _exit(1);
    }
    node->next = arena;
    arena = node;
    return node->align;
}

char *tu_strdup(const char *s)
{
    size_t n = strlen(s);
    char *p = tu_alloc(n + 1);
    memcpy(p, s, n + 1);
    return p;
}

static char *memdup_str(const char *s, size_t n)
{
    char *p = tu_alloc(n + 1);
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

char *tu_fmt(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        TU_FAIL("vsnprintf failed");
    char *p = tu_alloc((size_t)n + 1);
    va_start(ap, fmt);
    (void)vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

/* --------------------------------------------------------------- harness */

void tu_register(const char *name, tu_fn fn)
{
    PUSH(tests, ntests, cap_tests, ((struct test_entry){name, fn}));
}

void tu_log(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    (void)fputs("# ", stderr);
    (void)vfprintf(stderr, fmt, ap);
    (void)fputc('\n', stderr);
    va_end(ap);
}

void tu_fail_at(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    (void)fprintf(stderr, "%s:%d: FAIL [%s]: ", file, line, current_test);
    (void)vfprintf(stderr, fmt, ap);
    if (tu_context)
        (void)fprintf(stderr, " (while %s)", tu_context);
    (void)fputc('\n', stderr);
    va_end(ap);
    if (getpid() != main_pid)
        _exit(1);
    exit(1);
}

void tu_skip(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    (void)fprintf(stderr, "SKIP [%s]: ", current_test);
    (void)vfprintf(stderr, fmt, ap);
    (void)fputc('\n', stderr);
    va_end(ap);
    exit(TU_SKIP_CODE);
}

void tu_assert_str_eq(const char *file, int line, const char *expr, const char *got, const char *want)
{
    if (!got)
        tu_fail_at(file, line, "%s is NULL, expected \"%s\"", expr, want);
    if (strcmp(got, want) != 0)
        tu_fail_at(file, line, "%s: got \"%s\", expected \"%s\"", expr, got, want);
}

void tu_assert_contains(const char *file, int line, const char *expr, const char *hay, const char *needle)
{
    if (!hay)
        tu_fail_at(file, line, "%s is NULL, expected it to contain \"%s\"", expr, needle);
    if (!strstr(hay, needle))
        tu_fail_at(file, line, "%s = \"%s\" does not contain \"%s\"", expr, hay, needle);
}

long tu_sys_at(long r, const char *file, int line, const char *expr)
{
    if (r == -1)
        tu_fail_at(file, line, "%s: %s", expr, strerror(errno));
    return r;
}

bool tu_contains_number(const char *hay, long long n)
{
    char want[32];
    (void)snprintf(want, sizeof want, "%lld", n);
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

bool tu_one_line(const char *s)
{
    size_t len = strlen(s);
    return len > 1 && s[len - 1] == '\n' && memchr(s, '\n', len - 1) == NULL;
}

static const struct {
    const char *name;
    int value;
} errno_table[] = {
    {"EPERM", EPERM},         {"ENOENT", ENOENT},         {"ESRCH", ESRCH},           {"EINTR", EINTR},
    {"EIO", EIO},             {"E2BIG", E2BIG},           {"ENOEXEC", ENOEXEC},       {"EBADF", EBADF},
    {"ECHILD", ECHILD},       {"EAGAIN", EAGAIN},         {"ENOMEM", ENOMEM},         {"EACCES", EACCES},
    {"EBUSY", EBUSY},         {"EEXIST", EEXIST},         {"ENOTDIR", ENOTDIR},       {"EISDIR", EISDIR},
    {"EINVAL", EINVAL},       {"ENFILE", ENFILE},         {"EMFILE", EMFILE},         {"ETXTBSY", ETXTBSY},
    {"EFBIG", EFBIG},         {"ENOSPC", ENOSPC},         {"EROFS", EROFS},           {"EMLINK", EMLINK},
    {"EPIPE", EPIPE},         {"ENOLCK", ENOLCK},         {"ENOSYS", ENOSYS},         {"ELOOP", ELOOP},
    {"ENOBUFS", ENOBUFS},     {"EADDRINUSE", EADDRINUSE}, {"ECONNREFUSED", ECONNREFUSED},
    {"ECONNRESET", ECONNRESET}, {"ENAMETOOLONG", ENAMETOOLONG}, {"EDQUOT", EDQUOT}, {"ETIMEDOUT", ETIMEDOUT},
};

const char *tu_errno_name(int e)
{
    for (size_t i = 0; i < sizeof errno_table / sizeof errno_table[0]; i++)
        if (errno_table[i].value == e)
            return errno_table[i].name;
    return tu_fmt("%d", e);
}

int tu_errno_value(const char *name)
{
    for (size_t i = 0; i < sizeof errno_table / sizeof errno_table[0]; i++)
        if (strcmp(errno_table[i].name, name) == 0)
            return errno_table[i].value;
    return atoi(name);
}

/* ------------------------------------------------------ time, environment */

int64_t tu_now_ms(void)
{
    struct timespec ts;
    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int time_scale(void)
{
    const char *s = getenv("DCX_TEST_TIME_SCALE");
    int scale = s ? atoi(s) : 1;
    return scale < 1 ? 1 : scale > 100 ? 100 : scale;
}

int tu_timeout_ms(void)
{
    static int value;
    if (!value && getenv("DCX_TEST_TIMEOUT_MS"))
        value = atoi(getenv("DCX_TEST_TIMEOUT_MS"));
    if (value <= 0)
        value = 15000 * time_scale();
    return value;
}

int tu_left_ms(int64_t deadline)
{
    int64_t r = deadline - tu_now_ms();
    return r < 0 ? 0 : r > INT_MAX ? INT_MAX : (int)r;
}

bool tu_is_root(void)
{
    return geteuid() == 0;
}

const char *tu_env(const char *name)
{
    const char *v = getenv(name);
    if (!v || !*v)
        TU_FAIL("$%s is not set (CTest sets it: run the test through ctest)", name);
    return v;
}

/* ----------------------------------------------------------------- files */

static const char *make_tmpdir(const char *prefix)
{
    char *tmpl = strdup(tu_fmt("/tmp/%s-XXXXXX", prefix));
    if (!tmpl)
        TU_FAIL("out of memory");
    if (!mkdtemp(tmpl)) {
        int e = errno;
        free(tmpl);
        TU_FAIL("mkdtemp under /tmp: %s", strerror(e));
    }
    TU_SYS(chmod(tmpl, 0755));
    PUSH(tmpdirs, ntmpdirs, cap_tmpdirs, tmpl);
    return tmpl;
}

const char *tu_tmpdir(void)
{
    return make_tmpdir("dcx-test");
}

void tu_write_file(const char *path, const char *content, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0)
        TU_FAIL("open %s: %s", path, strerror(errno));
    size_t len = strlen(content), done = 0;
    while (done < len) {
        ssize_t n = write(fd, content + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            TU_FAIL("write %s: %s", path, strerror(errno));
        done += (size_t)n;
    }
    TU_SYS(fchmod(fd, mode));
    (void)close(fd);
}

/* The whole of FD (a file or a pipe at EOF): malloc'd, NUL-terminated. */
static char *slurp_fd(int fd, size_t *lenp)
{
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    if (!buf)
        TU_FAIL("out of memory");
    for (;;) {
        if (len + 1 >= cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb)
                TU_FAIL("out of memory");
            buf = nb;
        }
        ssize_t n = read(fd, buf + len, cap - len - 1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            free(buf);
            return NULL;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    buf[len] = 0;
    if (lenp)
        *lenp = len;
    return buf;
}

char *tu_read_file(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return NULL;
    size_t len;
    char *buf = slurp_fd(fd, &len);
    int e = errno;
    (void)close(fd);
    if (!buf) {
        errno = e;
        return NULL;
    }
    char *r = memdup_str(buf, len);
    free(buf);
    return r;
}

bool tu_path_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

void tu_mkdir_p(const char *path, mode_t mode)
{
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

static bool same_stat(const struct stat *a, const struct stat *b)
{
    if ((S_ISCHR(a->st_mode) && S_ISCHR(b->st_mode)) || (S_ISBLK(a->st_mode) && S_ISBLK(b->st_mode)))
        return a->st_rdev == b->st_rdev;
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

bool tu_same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && same_stat(&sa, &sb);
}

bool tu_dir_is_inside(const char *dir, const char *top)
{
    struct stat want, cur;
    if (stat(top, &want) < 0)
        return false;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return false;
    bool inside = false;
    for (int hop = 0; hop < 4096 && fstat(fd, &cur) == 0; hop++) {
        if (same_stat(&cur, &want)) {
            inside = true;
            break;
        }
        int up = openat(fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        struct stat ust;
        if (up < 0 || fstat(up, &ust) < 0 || same_stat(&ust, &cur)) { /* the top of our tree */
            if (up >= 0)
                (void)close(up);
            break;
        }
        (void)close(fd);
        fd = up;
    }
    (void)close(fd);
    return inside;
}

int tu_make_mounts_private(const char *path)
{
    char *p = tu_strdup(path);
    for (;;) {
        if (mount(NULL, p, NULL, MS_REC | MS_PRIVATE, NULL) == 0)
            return 0;
        if (errno != EINVAL || strcmp(p, "/") == 0)
            return -1;
        char *slash = strrchr(p, '/');
        if (!slash)
            return -1;
        if (slash == p)
            p[1] = 0;
        else
            *slash = 0;
    }
}

static void copy_file(const char *from, const char *to, mode_t mode)
{
    int in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        TU_FAIL("copying %s: open: %s", from, strerror(errno));
    int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (out < 0)
        TU_FAIL("copying to %s: %s", to, strerror(errno));
    char buf[65536];
    for (;;) {
        ssize_t n = read(in, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            TU_FAIL("copying %s: read: %s", from, strerror(errno));
        if (n == 0)
            break;
        for (ssize_t done = 0; done < n;) {
            ssize_t w = write(out, buf + done, (size_t)(n - done));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0)
                TU_FAIL("copying to %s: write: %s", to, strerror(errno));
            done += w;
        }
    }
    (void)close(in);
    TU_SYS(fchmod(out, mode));
    if (close(out) < 0)
        TU_FAIL("copying to %s: close: %s", to, strerror(errno));
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* The private copy of PATH; LIB: the program links libdaemonctx, whose copy
 * is put beside it. */
static const char *exec_copy(const char *path, bool lib)
{
    for (size_t i = 0; i < ncopies; i++)
        if (strcmp(copies[i].from, path) == 0)
            return copies[i].to;
    if (!bindir)
        bindir = make_tmpdir("dcx-bin");
    const char *so = getenv("DCX_LIBDAEMONCTX");
    if (lib && so && *so && !tu_path_exists(tu_fmt("%s/%s", bindir, base_name(so))))
        copy_file(so, tu_fmt("%s/%s", bindir, base_name(so)), 0644);
    const char *to = tu_fmt("%s/%s", bindir, base_name(path));
    if (tu_path_exists(to)) { /* two programs of the same name */
        const char *sub = tu_fmt("%s/%zu", bindir, ncopies);
        TU_SYS(mkdir(sub, 0755));
        to = tu_fmt("%s/%s", sub, base_name(path));
    }
    copy_file(path, to, 0755);
    PUSH(copies, ncopies, cap_copies, ((struct copy){tu_strdup(path), to, lib && so && *so}));
    return to;
}

const char *tu_exec_copy(const char *path)
{
    return exec_copy(path, false);
}

/* ----------------------------------------------------------------- /proc */

bool tu_proc_stat(pid_t pid, tu_pstat *st)
{
    char path[64], buf[1024];
    (void)snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n;
    do
        n = read(fd, buf, sizeof buf - 1);
    while (n < 0 && errno == EINTR);
    (void)close(fd);
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

bool tu_alive(pid_t pid)
{
    tu_pstat st;
    return tu_proc_stat(pid, &st) && st.state != 'Z' && st.state != 'X';
}

pid_t tu_parent_of(pid_t pid)
{
    tu_pstat st;
    return tu_proc_stat(pid, &st) ? st.ppid : 0;
}

char tu_state_of(pid_t pid)
{
    tu_pstat st;
    return tu_proc_stat(pid, &st) ? st.state : 0;
}

static char *proc_file(pid_t pid, const char *what)
{
    return tu_read_file(tu_fmt("/proc/%d/%s", (int)pid, what));
}

long tu_uid_of(pid_t pid)
{
    char *text = proc_file(pid, "status");
    if (!text)
        return -1;
    char *u = strstr(text, "\nUid:");
    return u ? strtol(u + 5, NULL, 10) : -1;
}

/* NAME's value in a /proc/PID/status text, trimmed, or NULL. */
static char *status_value(char *text, const char *name)
{
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
    return NULL;
}

const char *tu_status_field(pid_t pid, const char *name)
{
    char *text = proc_file(pid, "status");
    if (!text)
        TU_FAIL("cannot read /proc/%d/status: %s", (int)pid, strerror(errno));
    const char *v = status_value(text, name);
    if (!v)
        TU_FAIL("no %s: line in /proc/%d/status", name, (int)pid);
    return v;
}

uint64_t tu_status_mask(pid_t pid, const char *name)
{
    const char *v = tu_status_field(pid, name);
    return (uint64_t)strtoull(v, NULL, 16);
}

void tu_status_ids(pid_t pid, const char *name, long ids[4])
{
    const char *v = tu_status_field(pid, name);
    if (sscanf(v, "%ld %ld %ld %ld", &ids[0], &ids[1], &ids[2], &ids[3]) != 4)
        TU_FAIL("cannot parse %s: \"%s\"", name, v);
}

const char *tu_limit(pid_t pid, const char *name)
{
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

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

size_t tu_fd_list(pid_t pid, int *fds, size_t max)
{
    char path[64];
    (void)snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
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
    (void)closedir(d);
    if (n > max)
        TU_FAIL("too many fds in %s (%zu)", path, n);
    qsort(fds, n, sizeof *fds, cmp_int);
    return n;
}

static int cmp_fdent(const void *a, const void *b)
{
    return cmp_int(&((const tu_fdent *)a)->fd, &((const tu_fdent *)b)->fd);
}

bool tu_fd_table(pid_t pid, tu_fdtable *t)
{
    t->n = 0;
    t->ent = NULL;
    char *dir = tu_fmt("/proc/%d/fd", (int)pid);
    DIR *d = opendir(dir);
    if (!d)
        return false;
    tu_fdent *ent = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        char target[PATH_MAX];
        ssize_t len = readlink(tu_fmt("%s/%s", dir, e->d_name), target, sizeof target - 1);
        if (len < 0)
            continue; /* closed since the listing */
        PUSH(ent, n, cap, ((tu_fdent){atoi(e->d_name), memdup_str(target, (size_t)len)}));
    }
    (void)closedir(d);
    if (n)
        qsort(ent, n, sizeof *ent, cmp_fdent);
    t->ent = tu_alloc(n * sizeof *ent + 1);
    if (n)
        memcpy(t->ent, ent, n * sizeof *ent);
    free(ent);
    t->n = n;
    return true;
}

const char *tu_fd_target(const tu_fdtable *t, int fd)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->ent[i].fd == fd)
            return t->ent[i].target;
    return NULL;
}

const char *tu_proc_link(pid_t pid, const char *what)
{
    char path[128], buf[PATH_MAX];
    (void)snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, what);
    ssize_t n = readlink(path, buf, sizeof buf - 1);
    if (n < 0)
        TU_FAIL("readlink %s: %s", path, strerror(errno));
    buf[n] = 0;
    return tu_strdup(buf);
}

bool tu_proc_is(pid_t pid, const char *what, const char *path)
{
    return tu_same_file(tu_fmt("/proc/%d/%s", (int)pid, what), path);
}

static const char *describe_file(const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return tu_fmt("%s: %s", path, strerror(errno));
    if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))
        return tu_fmt("%s (device %u:%u)", path, major(st.st_rdev), minor(st.st_rdev));
    return tu_fmt("%s (%u:%u inode %lu)", path, major(st.st_dev), minor(st.st_dev), (unsigned long)st.st_ino);
}

void tu_assert_proc_is(const char *file, int line, pid_t pid, const char *what, const char *path)
{
    const char *link = tu_fmt("/proc/%d/%s", (int)pid, what);
    if (tu_same_file(link, path))
        return;
    char target[PATH_MAX];
    ssize_t n = readlink(link, target, sizeof target - 1);
    target[n < 0 ? 0 : n] = 0;
    tu_fail_at(file, line, "/proc/%d/%s is not %s: it is \"%s\", %s", (int)pid, what, describe_file(path), target,
               describe_file(link));
}

long tu_fd_flags(pid_t pid, int fd)
{
    char *text = proc_file(pid, tu_fmt("fdinfo/%d", fd));
    if (!text)
        TU_FAIL("cannot read /proc/%d/fdinfo/%d: %s", (int)pid, fd, strerror(errno));
    char *p = strstr(text, "flags:");
    if (!p)
        TU_FAIL("no flags in fdinfo");
    return strtol(p + 6, NULL, 8);
}

void tu_assert_pidfile_holds(const char *path, pid_t pid)
{
    char *content = tu_read_file(path);
    if (!content)
        TU_FAIL("pidfile %s cannot be read: %s", path, strerror(errno));
    char *want = tu_fmt("%d\n", (int)pid);
    if (strcmp(content, want) != 0)
        TU_FAIL("pidfile %s holds \"%s\", expected \"%d\\n\"", path, content, (int)pid);
}

/* ------------------------------------------------------ process listings */

struct pinfo {
    pid_t pid, ppid;
    char state;
};

static int cmp_pinfo(const void *a, const void *b)
{
    pid_t x = ((const struct pinfo *)a)->pid, y = ((const struct pinfo *)b)->pid;
    return (x > y) - (x < y);
}

/* Every process in /proc (those that vanish while read are left out),
 * sorted by PID; malloc'd. */
static struct pinfo *scan_procs(size_t *np)
{
    DIR *d = opendir("/proc");
    if (!d)
        TU_FAIL("opendir /proc: %s", strerror(errno));
    struct pinfo *all = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        pid_t pid = (pid_t)atoi(e->d_name);
        tu_pstat st;
        if (tu_proc_stat(pid, &st))
            PUSH(all, n, cap, ((struct pinfo){pid, st.ppid, st.state}));
    }
    (void)closedir(d);
    if (n)
        qsort(all, n, sizeof *all, cmp_pinfo);
    *np = n;
    return all;
}

static const struct pinfo *find_pinfo(const struct pinfo *all, size_t n, pid_t pid)
{
    struct pinfo key = {pid, 0, 0};
    return n ? bsearch(&key, all, n, sizeof *all, cmp_pinfo) : NULL;
}

/* Runs nothing any more: exiting (its memory gone) or SIGKILL pending. */
static bool runs_nothing(pid_t pid)
{
    char path[64], ch;
    (void)snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd < 0 ? -1 : read(fd, &ch, 1);
    if (fd >= 0)
        (void)close(fd);
    if (n <= 0)
        return true;
    char *st = proc_file(pid, "status");
    if (!st)
        return true;
    const uint64_t kill_bit = TU_SIGBIT(SIGKILL);
    const char *keys[] = {"\nSigPnd:", "\nShdPnd:"};
    for (size_t i = 0; i < 2; i++) {
        const char *p = strstr(st, keys[i]);
        if (p && (strtoull(p + strlen(keys[i]), NULL, 16) & kill_bit))
            return true;
    }
    return false;
}

tu_desc *tu_descendants(size_t *np)
{
    size_t n;
    struct pinfo *all = scan_procs(&n);
    pid_t me = getpid();
    tu_desc *out = tu_alloc(n * sizeof *out + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (all[i].pid == me)
            continue;
        bool mine = false;
        pid_t p = all[i].ppid;
        for (size_t hop = 0; hop <= n && p > 1; hop++) {
            if (p == me) {
                mine = true;
                break;
            }
            const struct pinfo *up = find_pinfo(all, n, p);
            if (!up)
                break;
            p = up->ppid;
        }
        if (!mine)
            continue;
        bool zombie = all[i].state == 'Z' || all[i].state == 'X';
        out[k++] = (tu_desc){all[i].pid, all[i].state, zombie || runs_nothing(all[i].pid)};
    }
    free(all);
    *np = k;
    return out;
}

/* Our children (live or zombies, as asked); malloc'd. */
static pid_t *children(bool zombies, size_t *np)
{
    size_t n;
    struct pinfo *all = scan_procs(&n);
    pid_t me = getpid(), *out = NULL;
    size_t k = 0, cap = 0;
    for (size_t i = 0; i < n; i++) {
        if (all[i].ppid != me)
            continue;
        bool z = all[i].state == 'Z' || all[i].state == 'X';
        if (z == zombies)
            PUSH(out, k, cap, all[i].pid);
    }
    free(all);
    *np = k;
    return out;
}

size_t tu_live_children(pid_t *out, size_t max)
{
    size_t n;
    pid_t *kids = children(false, &n);
    for (size_t i = 0; i < n && i < max; i++)
        out[i] = kids[i];
    free(kids);
    return n < max ? n : max;
}

static const char *cmdline_of(pid_t pid)
{
    size_t len = 0;
    char *path = tu_fmt("/proc/%d/cmdline", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return "?";
    char *s = slurp_fd(fd, &len);
    (void)close(fd);
    if (!s)
        return "?";
    for (size_t i = 0; i + 1 < len; i++)
        if (!s[i])
            s[i] = ' ';
    char *r = memdup_str(s, len && !s[len - 1] ? len - 1 : len);
    free(s);
    return r;
}

/* -------------------------------------------------------- reaped statuses */

static tu_proc *proc_by_pid(pid_t pid)
{
    for (size_t i = nprocs; i-- > 0;)
        if (procs[i]->pid == pid && !procs[i]->reaped)
            return procs[i];
    return NULL;
}

/* PID was reaped with ST: tell its record, and remember it for tu_wait_pid. */
static void record_status(pid_t pid, int st)
{
    tu_proc *p = proc_by_pid(pid);
    if (p) {
        p->reaped = true;
        p->status = st;
    }
    for (size_t i = 0; i < nreaped; i++)
        if (reaped[i].pid == pid) {
            reaped[i].status = st;
            return;
        }
    PUSH(reaped, nreaped, cap_reaped, ((struct reaped){pid, st}));
}

/* The status the harness kept for PID (then forgotten). */
static bool recall_status(pid_t pid, int *st)
{
    for (size_t i = 0; i < nreaped; i++)
        if (reaped[i].pid == pid) {
            if (st)
                *st = reaped[i].status;
            reaped[i] = reaped[--nreaped];
            return true;
        }
    return false;
}

/* Reap PID if it is our child and has ended; true if it was reaped now. */
static bool reap_if_ended(pid_t pid)
{
    int st;
    pid_t r;
    do
        r = waitpid(pid, &st, WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r == pid) {
        record_status(pid, st);
        return true;
    }
    return false;
}

static void reap_zombies(void)
{
    size_t n;
    pid_t *z = children(true, &n);
    for (size_t i = 0; i < n; i++)
        (void)reap_if_ended(z[i]);
    free(z);
}

/* ------------------------------------------------------------- spawning */

int tu_pidfd_open(pid_t pid)
{
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

int tu_pidfd_send_signal(int pidfd, int sig)
{
    return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

const char *tu_helper_path(void)
{
    const char *env = getenv("DCX_HELPER");
    return exec_copy(env && *env ? env : DCX_HELPER_PATH, true);
}

/* The directory to put on LD_LIBRARY_PATH for PROGRAM, a private copy that
 * links libdaemonctx, or NULL. (Its RUNPATH names the build tree, which a
 * program that dropped to nobody may not reach; a program that runs with a
 * real uid other than its effective one ignores LD_LIBRARY_PATH, but then
 * its effective uid is root's, which reaches the build tree. $ORIGIN would
 * not do: musl's loader ignores a whole RUNPATH that has it in that case.) */
static const char *library_dir_for(const char *program)
{
    for (size_t i = 0; i < ncopies; i++)
        if (copies[i].lib && strcmp(copies[i].to, program) == 0)
            return bindir;
    return NULL;
}

void tu_cmd_init_program(tu_cmd *c, const char *program)
{
    memset(c, 0, sizeof *c);
    if (program)
        c->argv[c->argc++] = program;
    c->report = true;
    c->capture_stdout = true;
    sigemptyset(&c->ignore);
    sigemptyset(&c->block);
    c->umask = 022;
    c->core_unlimited = true;
    c->ctty = -1;
    c->gate = -1;
}

void tu_cmd_init(tu_cmd *c)
{
    tu_cmd_init_program(c, tu_helper_path());
    tu_cmd_arg(c, "--report-fd=%d", TU_REPORT_FD);
}

static void add_arg(tu_cmd *c, const char *arg)
{
    if (c->argc == TU_MAX_ARGS)
        TU_FAIL("too many arguments (%d)", TU_MAX_ARGS);
    c->argv[c->argc++] = arg;
    c->argv[c->argc] = NULL;
}

void tu_cmd_arg(tu_cmd *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *p = tu_alloc((size_t)n + 1);
    va_start(ap, fmt);
    (void)vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    add_arg(c, p);
}

void tu_cmd_args(tu_cmd *c, const char *arg, ...)
{
    va_list ap;
    va_start(ap, arg);
    for (const char *a = arg; a; a = va_arg(ap, const char *))
        add_arg(c, tu_strdup(a));
    va_end(ap);
}

void tu_cmd_init_command(tu_cmd *c, const char *program, ...)
{
    tu_cmd_init_program(c, program);
    c->report = false;
    c->core_unlimited = false;
    va_list ap;
    va_start(ap, program);
    for (const char *a = program ? va_arg(ap, const char *) : NULL; a; a = va_arg(ap, const char *))
        add_arg(c, tu_strdup(a));
    va_end(ap);
}

void tu_cmd_fd(tu_cmd *c, int child_fd, int parent_fd)
{
    for (size_t i = 0; i < c->nfds; i++) {
        if (c->fds[i].child == child_fd) {
            c->fds[i].parent = parent_fd;
            return;
        }
    }
    if (c->nfds == TU_MAX_FDS)
        TU_FAIL("too many fds (%d)", TU_MAX_FDS);
    c->fds[c->nfds].child = child_fd;
    c->fds[c->nfds].parent = parent_fd;
    c->nfds++;
}

void tu_cmd_env(tu_cmd *c, const char *assignment)
{
    if (c->nenv == TU_MAX_ENV)
        TU_FAIL("too many environment entries (%d)", TU_MAX_ENV);
    c->env[c->nenv++] = assignment;
}

void tu_cmd_groups(tu_cmd *c, const gid_t *groups, size_t n)
{
    if (n > sizeof c->groups / sizeof c->groups[0])
        TU_FAIL("too many groups");
    memcpy(c->groups, groups, n * sizeof *groups);
    c->ngroups = n;
}

struct exec_failure {
    int err;
    char what[64];
};

__attribute__((noreturn)) static void child_die(int fd, const char *what)
{
    struct exec_failure f;
    memset(&f, 0, sizeof f);
    f.err = errno;
    (void)snprintf(f.what, sizeof f.what, "%s", what);
    if (write(fd, &f, sizeof f) < 0) {
        /* nothing to do */
    }
    _exit(127);
}

static void wait_and_forward(pid_t pid, int exefd)
{
    (void)close(exefd);
    int st;
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR)
            _exit(126);
    }
    if (WIFEXITED(st))
        _exit(WEXITSTATUS(st));
    _exit(128 + WTERMSIG(st));
}

/* In the child, between fork and exec. */
__attribute__((noreturn)) static void spawn_child(tu_cmd *c, int exefd)
{
    /* Controlling terminal first: the slave fd must still be open. */
    if (c->ctty >= 0) {
        if (setsid() < 0)
            child_die(exefd, "setsid");
        if (ioctl(c->ctty, TIOCSCTTY, 0) < 0)
            child_die(exefd, "TIOCSCTTY");
    } else if (c->new_session && setsid() < 0) {
        child_die(exefd, "setsid");
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
    int gate = -1;
    if (c->gate >= 0 && (gate = fcntl(c->gate, F_DUPFD_CLOEXEC, floor_fd)) < 0)
        child_die(exefd, "dup gate");
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
        if (tmp[i] >= 0 && dup2(tmp[i], c->fds[i].child) < 0)
            child_die(exefd, "dup2");
    }
    for (size_t i = 0; i < c->nfds; i++) {
        if (tmp[i] < 0)
            (void)close(c->fds[i].child);
        else
            (void)close(tmp[i]);
    }
    /* close every other fd >= 3 except the targets, exefd and the gate */
    {
        int keep[TU_MAX_FDS + 2];
        size_t nk = 0;
        for (size_t i = 0; i < c->nfds; i++)
            if (c->fds[i].parent >= 0 && c->fds[i].child >= 3)
                keep[nk++] = c->fds[i].child;
        keep[nk++] = exefd;
        if (gate >= 0)
            keep[nk++] = gate;
        qsort(keep, nk, sizeof keep[0], cmp_int);
        unsigned int from = 3;
        for (size_t i = 0; i < nk; i++) {
            unsigned int k = (unsigned int)keep[i];
            if (k > from)
                (void)syscall(SYS_close_range, from, k - 1, 0);
            if (k + 1 > from)
                from = k + 1;
        }
        (void)syscall(SYS_close_range, from, ~0U, 0);
    }
    /* signals */
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP)
            continue;
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = sigismember(&c->ignore, sig) == 1 ? SIG_IGN : SIG_DFL;
        (void)sigaction(sig, &sa, NULL); /* EINVAL for reserved signals is fine */
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
        (void)setenv("ASAN_OPTIONS", opts, 1);
        /* a service manager's variables change detach auto: tests set them explicitly */
        (void)unsetenv("NOTIFY_SOCKET");
        (void)unsetenv("INVOCATION_ID");
        (void)unsetenv("LISTEN_PID");
        (void)unsetenv("LISTEN_FDS");
        (void)unsetenv("LISTEN_FDNAMES");
        const char *libdir = library_dir_for(c->argv[0]);
        if (libdir)
            (void)setenv("LD_LIBRARY_PATH", libdir, 1);
        for (size_t i = 0; i < c->nenv; i++) {
            if (strchr(c->env[i], '='))
                (void)putenv((char *)(uintptr_t)c->env[i]);
            else
                (void)unsetenv(c->env[i]);
        }
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
        (void)snprintf(buf, sizeof buf, "%d", (int)getpid());
        (void)setenv("LISTEN_PID", buf, 1);
    }
    if (gate >= 0) {
        char ch;
        while (read(gate, &ch, 1) < 0 && errno == EINTR) {
        }
        (void)close(gate);
    }
    execve(c->argv[0], (char *const *)(uintptr_t)c->argv, environ);
    child_die(exefd, "execve");
}

static void exec_failed(tu_proc *p, const struct exec_failure *f)
{
    (void)tu_wait(p, tu_timeout_ms());
    if (strncmp(f->what, "unshare", 7) == 0 && (f->err == EPERM || f->err == EINVAL || f->err == ENOSPC))
        tu_skip("no PID namespace here (%s: %s)", f->what, strerror(f->err));
    TU_FAIL("spawning %s: %s: %s", p->name, f->what, strerror(f->err));
}

/* A program of the build tree run as another user works only where the tree
 * is within that user's reach, not in a checkout under a 0700 home: refused
 * everywhere, so that a test doing it fails on the developer's machine too. */
static void refuse_unreachable_program(const tu_cmd *c)
{
    size_t n = strlen(DCX_BUILD_DIR);
    if (c->set_ids && c->euid != 0 && strncmp(c->argv[0], DCX_BUILD_DIR, n) == 0 && c->argv[0][n] == '/')
        TU_FAIL("%s would run as uid %d from the build tree: run its private copy (tu_exec_copy)", c->argv[0],
                (int)c->euid);
}

tu_proc *tu_spawn(tu_cmd *c)
{
    refuse_unreachable_program(c);
    tu_proc *p = tu_alloc(sizeof *p);
    memset(p, 0, sizeof *p);
    p->report = p->out = p->err = p->exe = -1;
    int rep[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1}, exe[2];
    tu_cmd cc = *c;
    cc.argv[cc.argc] = NULL;
    p->name = cc.argv[0] ? tu_strdup(cc.argv[0]) : "?";
    int devnull = TU_FD(open("/dev/null", O_RDWR | O_CLOEXEC));
    bool have[TU_REPORT_FD + 1] = {false};
    for (size_t i = 0; i < cc.nfds; i++)
        if (cc.fds[i].child >= 0 && cc.fds[i].child <= TU_REPORT_FD)
            have[cc.fds[i].child] = true;
    if (cc.report && !have[TU_REPORT_FD]) {
        TU_SYS(pipe2(rep, O_CLOEXEC));
        tu_cmd_fd(&cc, TU_REPORT_FD, rep[1]);
    }
    if (!have[0])
        tu_cmd_fd(&cc, 0, devnull);
    if (cc.inherit_output) {
        if (!have[1])
            tu_cmd_fd(&cc, 1, STDERR_FILENO);
        if (!have[2])
            tu_cmd_fd(&cc, 2, STDERR_FILENO);
    } else {
        if (!have[1]) {
            if (cc.capture_stdout) {
                TU_SYS(pipe2(out, O_CLOEXEC));
                tu_cmd_fd(&cc, 1, out[1]);
            } else {
                tu_cmd_fd(&cc, 1, devnull);
            }
        }
        if (!have[2]) {
            TU_SYS(pipe2(err, O_CLOEXEC));
            tu_cmd_fd(&cc, 2, err[1]);
        }
    }
    TU_SYS(pipe2(exe, O_CLOEXEC));
    (void)fflush(NULL);
    p->started_ms = tu_now_ms();
    pid_t pid = fork();
    if (pid < 0)
        TU_FAIL("fork: %s", strerror(errno));
    if (pid == 0) {
        (void)close(exe[0]);
        spawn_child(&cc, exe[1]);
    }
    (void)recall_status(pid, NULL); /* a reused PID: forget the old one */
    (void)close(exe[1]);
    (void)close(devnull);
    if (rep[1] >= 0)
        (void)close(rep[1]);
    if (out[1] >= 0)
        (void)close(out[1]);
    if (err[1] >= 0)
        (void)close(err[1]);
    p->pid = pid;
    p->report = rep[0];
    p->out = out[0];
    p->err = err[0];
    PUSH(procs, nprocs, cap_procs, p);
    if (cc.gate >= 0) { /* it executes later: tu_finish looks */
        p->exe = exe[0];
        return p;
    }
    struct exec_failure f;
    ssize_t n;
    do
        n = read(exe[0], &f, sizeof f);
    while (n < 0 && errno == EINTR);
    (void)close(exe[0]);
    if (n == (ssize_t)sizeof f)
        exec_failed(p, &f);
    return p;
}

/* ------------------------------------------------------------- waiting */

/* Wait for PID to exit (its pidfd readable): true when it did within MS (or
 * is gone already). */
static bool poll_pidfd(pid_t pid, int ms)
{
    int fd = tu_pidfd_open(pid);
    if (fd < 0)
        return true; /* gone (reaped) */
    struct pollfd pfd = {fd, POLLIN, 0};
    int r;
    int64_t deadline = tu_now_ms() + ms;
    do
        r = poll(&pfd, 1, tu_left_ms(deadline));
    while (r < 0 && errno == EINTR);
    (void)close(fd);
    return r > 0;
}

bool tu_exits_within(tu_proc *p, int ms, int *status)
{
    if (!p->reaped) {
        if (!poll_pidfd(p->pid, ms))
            return false;
        int st;
        pid_t r;
        do
            r = waitpid(p->pid, &st, 0);
        while (r < 0 && errno == EINTR);
        if (r < 0) {
            if (errno != ECHILD || !recall_status(p->pid, &st))
                TU_FAIL("waitpid %d: %s", (int)p->pid, strerror(errno));
        }
        p->reaped = true;
        p->status = st;
        (void)recall_status(p->pid, NULL);
    }
    if (status)
        *status = p->status;
    return true;
}

int tu_wait(tu_proc *p, int timeout_ms)
{
    int st;
    if (!tu_exits_within(p, timeout_ms, &st))
        TU_FAIL("process %d (%s) did not exit within %d ms", (int)p->pid, p->name ? p->name : "?", timeout_ms);
    return st;
}

static const char *describe_status(int st)
{
    if (WIFEXITED(st))
        return tu_fmt("exit status %d", WEXITSTATUS(st));
    if (WIFSIGNALED(st))
        return tu_fmt("killed by signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
    return tu_fmt("wait status 0x%x", (unsigned)st);
}

const char *tu_describe_status(int status)
{
    return describe_status(status);
}

void tu_expect_exit_code(tu_proc *p, int code)
{
    int st = tu_wait(p, tu_timeout_ms());
    if (!WIFEXITED(st) || WEXITSTATUS(st) != code) {
        const char *err = tu_proc_stderr(p);
        TU_FAIL("%s %d: %s, expected exit status %d; stderr: %s", base_name(p->name ? p->name : "?"), (int)p->pid,
                describe_status(st), code, err);
    }
}

bool tu_readable_within(int fd, int ms)
{
    struct pollfd pfd = {fd, POLLIN, 0};
    int64_t deadline = tu_now_ms() + ms;
    int r;
    do
        r = poll(&pfd, 1, tu_left_ms(deadline));
    while (r < 0 && errno == EINTR);
    return r > 0;
}

char *tu_read_line(int fd, int ms)
{
    char buf[4096];
    size_t len = 0;
    int64_t deadline = tu_now_ms() + ms;
    for (;;) {
        if (!tu_readable_within(fd, tu_left_ms(deadline)))
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

char *tu_read_all(int fd, int ms)
{
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    if (!buf)
        TU_FAIL("out of memory");
    int64_t deadline = tu_now_ms() + ms;
    for (;;) {
        if (!tu_readable_within(fd, tu_left_ms(deadline))) {
            char *sofar = memdup_str(buf, len);
            free(buf);
            TU_FAIL("no EOF on fd %d within %d ms (read so far: \"%s\")", fd, ms, sofar);
        }
        if (len + 1 >= cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb)
                TU_FAIL("out of memory");
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
    char *r = memdup_str(buf, len);
    free(buf);
    return r;
}

const char *tu_proc_stderr(tu_proc *p)
{
    if (!p->errtext) {
        if (p->err < 0)
            return "";
        p->errtext = tu_read_all(p->err, tu_timeout_ms());
        (void)close(p->err);
        p->err = -1;
    }
    return p->errtext;
}

const char *tu_proc_stdout(tu_proc *p)
{
    if (!p->outtext) {
        if (p->out < 0)
            return "";
        p->outtext = tu_read_all(p->out, tu_timeout_ms());
        (void)close(p->out);
        p->out = -1;
    }
    return p->outtext;
}

/* A stream being collected. */
struct stream {
    int fd;
    char *buf;
    size_t len, cap;
};

/* Read what FD has now; false at EOF (or error). */
static bool pump(struct stream *s)
{
    for (;;) {
        if (s->len + 4096 > s->cap) {
            size_t cap = s->cap ? s->cap * 2 : 8192;
            char *nb = realloc(s->buf, cap);
            if (!nb)
                TU_FAIL("out of memory");
            s->buf = nb;
            s->cap = cap;
        }
        ssize_t n = read(s->fd, s->buf + s->len, s->cap - s->len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return true;
        if (n <= 0)
            return false;
        s->len += (size_t)n;
    }
}

static void stream_open(struct stream *s, int fd)
{
    memset(s, 0, sizeof *s);
    s->fd = fd;
    if (fd >= 0)
        (void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static const char *stream_text(struct stream *s)
{
    const char *r = memdup_str(s->buf ? s->buf : "", s->len);
    free(s->buf);
    s->buf = NULL;
    if (s->fd >= 0)
        (void)close(s->fd);
    s->fd = -1;
    return r;
}

tu_result tu_finish_watching(tu_proc *p, int64_t deadline_ms, int fd, void (*on_readable)(void *), void *arg,
                             bool soft)
{
    tu_result r;
    memset(&r, 0, sizeof r);
    struct stream s[2];
    stream_open(&s[0], p->outtext ? -1 : p->out);
    stream_open(&s[1], p->errtext ? -1 : p->err);
    p->out = p->err = -1;
    int pidfd = p->reaped ? -1 : tu_pidfd_open(p->pid);
    if (!p->reaped && pidfd < 0)
        TU_FAIL("pidfd_open(%d): %s", (int)p->pid, strerror(errno));
    while (pidfd >= 0) {
        struct pollfd pf[4] = {{pidfd, POLLIN, 0}, {s[0].fd, POLLIN, 0}, {s[1].fd, POLLIN, 0},
                               {on_readable ? fd : -1, POLLIN, 0}};
        int n = poll(pf, 4, tu_left_ms(deadline_ms));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            TU_FAIL("poll: %s", strerror(errno));
        if (n == 0) {
            (void)kill(p->pid, SIGKILL);
            if (!soft) {
                for (int i = 0; i < 2; i++)
                    if (s[i].fd >= 0)
                        (void)pump(&s[i]);
                const char *out = stream_text(&s[0]), *err = stream_text(&s[1]);
                TU_FAIL("%s (PID %d) did not end within %lld ms of its start; killed; stdout so far \"%s\", "
                        "stderr so far \"%s\"",
                        p->name, (int)p->pid, (long long)(tu_now_ms() - p->started_ms), out, err);
            }
            r.timed_out = true;
            deadline_ms = tu_now_ms() + tu_timeout_ms(); /* for the kill */
            soft = false;
            continue;
        }
        for (int i = 0; i < 2; i++)
            if (pf[1 + i].revents && !pump(&s[i])) {
                (void)close(s[i].fd);
                s[i].fd = -1;
            }
        if (pf[3].revents)
            on_readable(arg);
        if (pf[0].revents) {
            (void)close(pidfd);
            pidfd = -1;
        }
    }
    int st = 0;
    if (!p->reaped) {
        pid_t w;
        do
            w = waitpid(p->pid, &st, 0);
        while (w < 0 && errno == EINTR);
        if (w < 0 && (errno != ECHILD || !recall_status(p->pid, &st)))
            TU_FAIL("waitpid %d: %s", (int)p->pid, strerror(errno));
        p->reaped = true;
        p->status = st;
        (void)recall_status(p->pid, NULL);
    }
    r.status = p->status;
    r.elapsed_ms = tu_now_ms() - p->started_ms;
    /* What it wrote is in the pipes now; later writers (what it left
     * running) are not waited for. */
    for (int i = 0; i < 2; i++)
        if (s[i].fd >= 0)
            (void)pump(&s[i]);
    r.out = p->outtext ? p->outtext : (p->outtext = (char *)(uintptr_t)stream_text(&s[0]));
    r.err = p->errtext ? p->errtext : (p->errtext = (char *)(uintptr_t)stream_text(&s[1]));
    r.code = WIFEXITED(r.status) ? WEXITSTATUS(r.status) : WIFSIGNALED(r.status) ? 128 + WTERMSIG(r.status) : -1;
    if (fd >= 0 && on_readable)
        on_readable(arg);
    if (p->exe >= 0) { /* a gated command: did it execute? */
        struct exec_failure f;
        (void)fcntl(p->exe, F_SETFL, O_NONBLOCK);
        ssize_t n = read(p->exe, &f, sizeof f);
        (void)close(p->exe);
        p->exe = -1;
        if (n == (ssize_t)sizeof f)
            TU_FAIL("spawning %s: %s: %s", p->name, f.what, strerror(f.err));
    }
    return r;
}

tu_result tu_finish(tu_proc *p, int64_t deadline_ms)
{
    return tu_finish_watching(p, deadline_ms, -1, NULL, NULL, false);
}

tu_result tu_run(tu_cmd *c)
{
    tu_proc *p = tu_spawn(c);
    return tu_finish(p, tu_now_ms() + tu_timeout_ms());
}

void tu_track_pid(pid_t pid)
{
    PUSH(tracked, ntracked, cap_tracked, pid);
}

pid_t tu_expect_up(tu_proc *p)
{
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
static bool wait_pid_until(pid_t pid, int64_t deadline, int *status, bool must)
{
    for (;;) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) {
            record_status(pid, st);
            (void)recall_status(pid, NULL);
            if (status)
                *status = st;
            return true;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && errno == ECHILD) {
            if (recall_status(pid, &st)) { /* reaped by the harness already */
                if (status)
                    *status = st;
                return true;
            }
            /* not our child (yet): wait for it or for whoever is its parent */
            tu_pstat ps;
            if (!tu_proc_stat(pid, &ps)) {
                if (must)
                    TU_FAIL("process %d vanished without being reaped by the test", (int)pid);
                return true;
            }
            if (ps.ppid == getpid())
                continue;
            /* Its parent exits (then it is ours) or it ends; an ended one
             * waits for its parent to exit or to reap it. */
            int fds[2] = {tu_pidfd_open(ps.ppid), ps.state == 'Z' ? -1 : tu_pidfd_open(pid)};
            if (fds[0] < 0 && fds[1] < 0)
                continue; /* both changed meanwhile: look again */
            struct pollfd pf[2] = {{fds[0], POLLIN, 0}, {fds[1], POLLIN, 0}};
            int n;
            do
                n = poll(pf, 2, tu_left_ms(deadline));
            while (n < 0 && errno == EINTR);
            for (int i = 0; i < 2; i++)
                if (fds[i] >= 0)
                    (void)close(fds[i]);
            if (n == 0)
                goto timeout;
            continue;
        }
        if (r < 0)
            TU_FAIL("waitpid %d: %s", (int)pid, strerror(errno));
        if (!poll_pidfd(pid, tu_left_ms(deadline)))
            goto timeout;
    }
timeout:
    if (must && !tu_proc_stat(pid, &(tu_pstat){0}))
        TU_FAIL("process %d ended and was reaped by its own parent: its status is not the test's to see",
                (int)pid);
    if (must)
        TU_FAIL("process %d (%s) did not exit in time", (int)pid, cmdline_of(pid));
    return false;
}

int tu_wait_pid(pid_t pid, int ms)
{
    int st = 0;
    (void)wait_pid_until(pid, tu_now_ms() + ms, &st, true);
    return st;
}

bool tu_wait_gone(pid_t pid, int ms)
{
    if (!poll_pidfd(pid, ms))
        return false;
    if (tu_parent_of(pid) == getpid())
        (void)reap_if_ended(pid);
    return true;
}

bool tu_pid_exits_within(pid_t pid, int ms)
{
    return poll_pidfd(pid, ms);
}

void tu_assert_no_descendants_except(const pid_t *allowed, size_t nallowed)
{
    int64_t deadline = tu_now_ms() + tu_timeout_ms();
    for (;;) {
        reap_zombies();
        size_t n, nbad = 0;
        pid_t *live = children(false, &n);
        for (size_t i = 0; i < n; i++) {
            bool ok = false;
            for (size_t j = 0; j < nallowed; j++)
                ok |= live[i] == allowed[j];
            if (!ok)
                live[nbad++] = live[i];
        }
        if (nbad == 0) {
            free(live);
            return;
        }
        if (tu_now_ms() >= deadline) {
            const char *list = "";
            for (size_t i = 0; i < nbad; i++)
                list = tu_fmt("%s %d(%s)", list, (int)live[i], cmdline_of(live[i]));
            free(live);
            TU_FAIL("processes left behind:%s", list);
        }
        pid_t first = live[0];
        free(live);
        (void)poll_pidfd(first, tu_left_ms(deadline));
    }
}

static bool allowed_pid(pid_t pid, const pid_t *allowed, size_t n)
{
    for (size_t j = 0; j < n; j++)
        if (allowed[j] == pid)
            return true;
    return false;
}

void tu_assert_nothing_left(const pid_t *allowed, size_t nallowed, const char *context)
{
    size_t n, bad = 0;
    tu_desc *d = tu_descendants(&n);
    const char *list = "";
    for (size_t i = 0; i < n; i++) {
        if (d[i].dead || allowed_pid(d[i].pid, allowed, nallowed))
            continue;
        bad++;
        list = tu_fmt("%s %d[%c](%s uid %ld)", list, (int)d[i].pid, d[i].state, cmdline_of(d[i].pid),
                      tu_uid_of(d[i].pid));
    }
    if (bad)
        TU_FAIL("%s: processes left behind:%s", context, list);
}

/* Kill every descendant but ALLOWED and reap what is ours, until none is left
 * or DEADLINE; whether none is left. */
static bool kill_all(const pid_t *allowed, size_t nallowed, int64_t deadline)
{
    for (;;) {
        size_t n, left = 0;
        tu_desc *d = tu_descendants(&n);
        for (size_t i = 0; i < n; i++)
            if (!allowed_pid(d[i].pid, allowed, nallowed)) {
                left++;
                (void)kill(d[i].pid, SIGKILL);
            }
        if (!left)
            return true;
        if (tu_now_ms() >= deadline)
            return false;
        for (size_t i = 0; i < n; i++)
            if (!allowed_pid(d[i].pid, allowed, nallowed))
                (void)tu_wait_gone(d[i].pid, tu_left_ms(deadline));
    }
}

void tu_kill_all_except(const pid_t *allowed, size_t nallowed)
{
    if (!kill_all(allowed, nallowed, tu_now_ms() + tu_timeout_ms()))
        TU_FAIL("cannot get rid of the processes left behind");
}

/* ------------------------------------------------------------- pidfiles */

pid_t tu_pidfile_pid(const char *path)
{
    char *s = tu_read_file(path);
    if (!s)
        return -1;
    char *end;
    long v = strtol(s, &end, 10);
    return v > 0 && strcmp(end, "\n") == 0 ? (pid_t)v : 0;
}

pid_t tu_flock_holder(const char *path)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return -1;
    char *locks = tu_read_file("/proc/locks");
    if (!locks)
        TU_FAIL("/proc/locks: %s", strerror(errno));
    pid_t holder = 0;
    for (char *line = locks; line && *line;) {
        char *end = strchr(line, '\n');
        if (end)
            *end = 0;
        char kind[16], arrow[4];
        long pid;
        unsigned maj, min;
        unsigned long long ino;
        bool blocked = sscanf(line, "%*d: %3s", arrow) == 1 && strcmp(arrow, "->") == 0;
        if (!blocked && sscanf(line, "%*d: %15s %*s %*s %ld %x:%x:%llu", kind, &pid, &maj, &min, &ino) == 5 &&
            strcmp(kind, "FLOCK") == 0 && maj == major(st.st_dev) && min == minor(st.st_dev) &&
            ino == (unsigned long long)st.st_ino)
            holder = pid > 0 ? (pid_t)pid : 1;
        line = end ? end + 1 : NULL;
    }
    return holder;
}

pid_t tu_hold_lock(const char *path, const char *content)
{
    int p[2];
    TU_SYS(pipe2(p, O_CLOEXEC));
    (void)fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        TU_FAIL("fork: %s", strerror(errno));
    if (pid == 0) {
        int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0)
            _exit(1);
        if (content) {
            size_t len = strlen(content);
            if (ftruncate(fd, 0) < 0 || pwrite(fd, content, len, 0) != (ssize_t)len)
                _exit(1);
        }
        if (write(p[1], "k", 1) != 1)
            _exit(1);
        for (;;)
            pause();
    }
    (void)close(p[1]);
    char ch;
    ssize_t n;
    do
        n = read(p[0], &ch, 1);
    while (n < 0 && errno == EINTR);
    (void)close(p[0]);
    if (n != 1)
        TU_FAIL("the lock holder could not lock %s", path);
    tu_track_pid(pid);
    return pid;
}

void tu_dump_pidfile_state(pid_t pid, const char *path)
{
    struct stat st;
    if (lstat(path, &st) == 0) {
        const char *content = tu_read_file(path);
        tu_log("state: %s is inode %lu, \"%s\"", path, (unsigned long)st.st_ino, content ? content : "?");
    } else {
        tu_log("state: %s: %s", path, strerror(errno));
    }
    char *locks = tu_read_file("/proc/locks");
    tu_log("state: /proc/locks: %s", locks ? locks : "?");
    tu_fdtable t;
    if (pid <= 0 || !tu_fd_table(pid, &t))
        return;
    for (size_t i = 0; i < t.n; i++) {
        char *info = proc_file(pid, tu_fmt("fdinfo/%d", t.ent[i].fd));
        const char *lock = info ? strstr(info, "lock:") : NULL;
        tu_log("state: %d fd %d -> %s %s", (int)pid, t.ent[i].fd, t.ent[i].target, lock ? lock : "");
    }
}

tu_snap tu_snapshot(const char *path)
{
    tu_snap s;
    memset(&s, 0, sizeof s);
    struct stat st;
    if (lstat(path, &st) < 0)
        return s;
    s.exists = true;
    s.mode = st.st_mode;
    s.dev = st.st_dev;
    s.ino = st.st_ino;
    s.nlink = st.st_nlink;
    s.uid = st.st_uid;
    s.size = st.st_size;
    s.mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    if (S_ISREG(st.st_mode))
        s.content = tu_read_file(path);
    return s;
}

void tu_assert_unchanged(const tu_snap *b, const char *path)
{
    tu_snap a = tu_snapshot(path);
    if (a.exists != b->exists)
        TU_FAIL("%s %s", path, b->exists ? "was removed" : "was created");
    if (!a.exists)
        return;
    if (a.mode != b->mode || a.dev != b->dev || a.ino != b->ino || a.nlink != b->nlink || a.uid != b->uid)
        TU_FAIL("%s changed: mode %o->%o inode %lu->%lu links %lu->%lu uid %u->%u", path, (unsigned)b->mode,
                (unsigned)a.mode, (unsigned long)b->ino, (unsigned long)a.ino, (unsigned long)b->nlink,
                (unsigned long)a.nlink, (unsigned)b->uid, (unsigned)a.uid);
    if (a.size != b->size || a.mtime_ns != b->mtime_ns)
        TU_FAIL("%s was modified: size %ld->%ld", path, (long)b->size, (long)a.size);
    if ((a.content == NULL) != (b->content == NULL) || (a.content && strcmp(a.content, b->content) != 0))
        TU_FAIL("%s content changed: \"%s\" -> \"%s\"", path, b->content ? b->content : "(none)",
                a.content ? a.content : "(none)");
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char *tu_dir_listing(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return tu_fmt("(cannot open %s: %s)", dir, strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0, len = 1;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            PUSH(names, n, cap, tu_strdup(e->d_name));
            len += strlen(e->d_name) + 1;
        }
    (void)closedir(d);
    if (n)
        qsort(names, n, sizeof *names, cmp_str);
    char *out = tu_alloc(len), *o = out;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(names[i]);
        memcpy(o, names[i], l);
        o[l] = '\n';
        o += l + 1;
    }
    *o = 0;
    free(names);
    return out;
}

/* ---------------------------------------------------------- NOTIFY_SOCKET */

int tu_notify_bind(const char *name)
{
    int fd = TU_FD(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    int one = 1;
    TU_SYS(setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof one));
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    size_t len = strlen(name);
    if (len >= sizeof addr.sun_path)
        TU_FAIL("socket name too long: %s", name);
    memcpy(addr.sun_path, name, len);
    if (name[0] == '@')
        addr.sun_path[0] = '\0';
    TU_SYS(bind(fd, (struct sockaddr *)&addr, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)));
    return fd;
}

bool tu_notify_recv(int fd, int ms, tu_notify_msg *m)
{
    memset(m, 0, sizeof *m);
    if (!tu_readable_within(fd, ms))
        return false;
    union {
        struct cmsghdr align;
        char space[CMSG_SPACE(sizeof(struct ucred))];
    } control;
    struct iovec iov = {.iov_base = m->text, .iov_len = sizeof m->text - 1};
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.space;
    msg.msg_controllen = sizeof control.space;
    ssize_t r;
    do
        r = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
    while (r < 0 && errno == EINTR);
    TU_SYS(r);
    m->len = (size_t)r;
    m->text[m->len] = '\0';
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS &&
            c->cmsg_len == CMSG_LEN(sizeof(struct ucred))) {
            struct ucred cred;
            memcpy(&cred, CMSG_DATA(c), sizeof cred);
            m->has_cred = true;
            m->pid = cred.pid;
            m->uid = cred.uid;
            m->gid = cred.gid;
        }
    return true;
}

/* ---------------------------------------------------------------- figures */

struct count {
    const char *what;
    long n;
};
static struct count *counts;
static size_t ncounts, cap_counts;

void tu_count(const char *what, long n)
{
    for (size_t i = 0; i < ncounts; i++)
        if (strcmp(counts[i].what, what) == 0) {
            counts[i].n += n;
            return;
        }
    PUSH(counts, ncounts, cap_counts, ((struct count){what, n}));
}

void tu_print_counts(void)
{
    const char *line = "";
    for (size_t i = 0; i < ncounts; i++)
        line = tu_fmt("%s%s%s=%ld", line, i ? ", " : "", counts[i].what, counts[i].n);
    tu_log("figures: %s", line);
}

/* -------------------------------------------------------- helper protocol */

tu_failure tu_expect_open_failure(tu_proc *p, const char *step)
{
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
    char *line = tu_strdup(err);
    line[len - 1] = 0;
    f.line = line;
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
            char *rl = tu_read_line(p->report, tu_timeout_ms());
            if (!rl)
                TU_FAIL("no \"error\" line on the report pipe");
            char rstep[64];
            if (sscanf(rl, "error %d %d %63s", &f.rc, &f.errnum, rstep) == 3) {
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

bool tu_reparented_within(pid_t pid, int ms)
{
    int64_t deadline = tu_now_ms() + ms;
    for (;;) {
        tu_pstat st;
        if (!tu_proc_stat(pid, &st))
            return false;
        if (st.ppid == getpid())
            return true;
        if (tu_now_ms() >= deadline)
            return false;
        /* its parent (the intermediate child) must exit */
        (void)poll_pidfd(st.ppid, tu_left_ms(deadline));
    }
}

void tu_wait_reparented(pid_t pid)
{
    if (tu_reparented_within(pid, tu_timeout_ms()))
        return;
    tu_pstat st;
    if (!tu_proc_stat(pid, &st))
        TU_FAIL("process %d is gone", (int)pid);
    TU_FAIL("process %d still has parent %d, not the test", (int)pid, (int)st.ppid);
}

pid_t tu_start_daemon(tu_cmd *c, tu_proc **invoker)
{
    tu_proc *p = tu_spawn(c);
    if (invoker)
        *invoker = p;
    pid_t d = tu_expect_up(p);
    tu_expect_exit_code(p, 0);
    tu_wait_reparented(d);
    return d;
}

int tu_kill_and_wait(pid_t pid, int sig)
{
    TU_SYS(kill(pid, sig));
    return tu_wait_pid(pid, tu_timeout_ms());
}

/* ----------------------------------------------------------------- cleanup */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    if (flag == FTW_DP)
        (void)rmdir(path);
    else
        (void)unlink(path);
    return 0;
}

/* Our cgroup v2 directory: the unified mount of a hybrid host, or
 * /sys/fs/cgroup, plus the "0::" line of /proc/self/cgroup. */
static int own_cgroup(char *out, size_t size)
{
    char *text = tu_read_file("/proc/self/cgroup");
    const char *line = text ? strstr(text, "0::") : NULL;
    if (!line)
        return -1;
    line += 3;
    size_t len = strcspn(line, "\n");
    struct stat st;
    const char *mnt = stat("/sys/fs/cgroup/unified/cgroup.procs", &st) == 0 ? "/sys/fs/cgroup/unified" : "/sys/fs/cgroup";
    int n = snprintf(out, size, "%s%.*s", mnt, (int)len, line);
    return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* The cgroups daemons of this test made and that outlive them: start names
 * one after the pidfile (systemd-escape --path), so after the test's
 * temporary directory; stop removes it, but a daemon the harness killed
 * leaves it empty. */
static void remove_daemon_cgroups(const char *tmpdir)
{
    char dir[PATH_MAX], escaped[PATH_MAX];
    const char *base = strrchr(tmpdir, '/');
    size_t k = 0;
    for (base = base ? base + 1 : tmpdir; *base && k + 5 < sizeof escaped; base++)
        k += (size_t)(*base == '-' ? snprintf(escaped + k, 5, "\\x2d") : snprintf(escaped + k, 2, "%c", *base));
    escaped[k] = '\0';
    DIR *d = own_cgroup(dir, sizeof dir) == 0 ? opendir(dir) : NULL;
    if (!d)
        return;
    const struct dirent *e;
    while ((e = readdir(d)))
        if (strncmp(e->d_name, "daemonctx-", 10) == 0 && strstr(e->d_name, escaped))
            (void)rmdir(tu_fmt("%s/%s", dir, e->d_name));
    (void)closedir(d);
}

static void tu_cleanup(void)
{
    if (getpid() != main_pid)
        return;
    alarm(0);
    tu_context = NULL;
    /* kill everything we started, whoever its parent is by now */
    (void)kill_all(NULL, 0, tu_now_ms() + tu_timeout_ms());
    reap_zombies();
    for (size_t i = 0; i < nprocs; i++) {
        int *fds[] = {&procs[i]->report, &procs[i]->out, &procs[i]->err, &procs[i]->exe};
        for (size_t k = 0; k < sizeof fds / sizeof fds[0]; k++)
            if (*fds[k] >= 0) {
                (void)close(*fds[k]);
                *fds[k] = -1;
            }
    }
    for (size_t i = 0; i < ntmpdirs; i++) {
        remove_daemon_cgroups(tmpdirs[i]);
        if (!getenv("DCX_TEST_KEEP_TMP"))
            (void)nftw(tmpdirs[i], rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        free(tmpdirs[i]);
    }
    free(tmpdirs);
    tmpdirs = NULL;
    ntmpdirs = cap_tmpdirs = 0;
    bindir = NULL;
    free(procs);
    free(tracked);
    free(reaped);
    free(copies);
    free(counts);
    procs = NULL;
    tracked = NULL;
    reaped = NULL;
    copies = NULL;
    counts = NULL;
    nprocs = ntracked = nreaped = ncopies = ncounts = 0;
    cap_procs = cap_tracked = cap_reaped = cap_copies = cap_counts = 0;
    while (arena) {
        struct arena_node *next = arena->next;
        free(arena);
        arena = next;
    }
    free(tests);
    tests = NULL;
}

static char watchdog_msg[256];
static size_t watchdog_len;

static void on_watchdog(int sig)
{
    (void)sig;
    if (write(2, watchdog_msg, watchdog_len) < 0) {
        /* ignore */
    }
    for (size_t i = 0; i < ntracked; i++)
        (void)kill(tracked[i], SIGKILL);
    tu_cleanup();
    _exit(1);
}

/* The watchdog: $DCX_TEST_WATCHDOG_S (CMake sets it a little under the
 * test's CTest timeout, so that the test still cleans up and says why), or
 * six harness deadlines. */
static unsigned watchdog_seconds(void)
{
    const char *s = getenv("DCX_TEST_WATCHDOG_S");
    long v = s ? strtol(s, NULL, 10) : 0;
    return v > 0 ? (unsigned)v : (unsigned)(tu_timeout_ms() / 1000 * 6);
}

int tu_main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--list") == 0) {
        for (size_t i = 0; i < ntests; i++)
            (void)printf("%s\n", tests[i].name);
        return 0;
    }
    if (argc != 2) {
        (void)fprintf(stderr, "usage: %s TEST-NAME | --list\n", argv[0]);
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
        (void)fprintf(stderr, "%s: no test named %s\n", argv[0], argv[1]);
        return 2;
    }
    main_pid = getpid();
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) {
        (void)fprintf(stderr, "prctl(PR_SET_CHILD_SUBREAPER): %s\n", strerror(errno));
        return 1;
    }
    (void)signal(SIGPIPE, SIG_IGN);
    unsigned wd = watchdog_seconds();
    int n = snprintf(watchdog_msg, sizeof watchdog_msg,
                     "FAIL [%s]: test watchdog expired after %u s (a wait without deadline?)\n", current_test, wd);
    watchdog_len = n > 0 && (size_t)n < sizeof watchdog_msg ? (size_t)n : 0;
    (void)signal(SIGALRM, on_watchdog);
    alarm(wd);
    if (atexit(tu_cleanup) != 0) {
        (void)fprintf(stderr, "atexit failed\n");
        return 1;
    }
    fn();
    (void)fprintf(stderr, "PASS [%s]\n", current_test);
    return 0;
}
