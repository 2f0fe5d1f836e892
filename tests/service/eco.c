/* The ecosystem tests' harness: see eco.h. */
#include "eco.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define MAX_TESTS 64
static struct {
    const char *name;
    eco_fn fn;
} tests[MAX_TESTS];
static size_t n_tests;
static const char *current;
static pid_t main_pid;
static char *tmpdirs[8];
static size_t n_tmpdirs;

/* Memory handed to the tests (strings, file contents, output), freed when the
 * test ends, so that a test never frees and LeakSanitizer stays quiet. */
static void **arena;
static size_t n_arena, cap_arena;

static void *keep(void *p)
{
    if (!p)
        return NULL;
    if (n_arena == cap_arena) {
        size_t cap = cap_arena ? cap_arena * 2 : 64;
        void **a = realloc(arena, cap * sizeof *a);
        if (!a) {
            (void)fprintf(stderr, "eco: out of memory\n");
            abort();
        }
        arena = a;
        cap_arena = cap;
    }
    arena[n_arena++] = p;
    return p;
}

static void free_arena(void)
{
    for (size_t i = 0; i < n_arena; i++)
        free(arena[i]);
    free(arena);
    arena = NULL;
    n_arena = cap_arena = 0;
}

void eco_register(const char *name, eco_fn fn)
{
    if (n_tests == MAX_TESTS) {
        (void)fprintf(stderr, "eco: too many tests\n");
        abort();
    }
    tests[n_tests].name = name;
    tests[n_tests].fn = fn;
    n_tests++;
}

/* ------------------------------------------------------------------ cleanup */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        (void)rmdir(path);
    else
        (void)unlink(path);
    return 0;
}

/* Our children, from /proc (we are a subreaper: orphans come to us). */
static size_t list_children(pid_t *out, size_t max)
{
    size_t n = 0;
    DIR *d = opendir("/proc");
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < max) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end || pid <= 0)
            continue;
        if (eco_ppid((pid_t)pid) == getpid())
            out[n++] = (pid_t)pid;
    }
    (void)closedir(d);
    return n;
}

/* Kill every process left below us, by PID, and reap it. Killing a parent
 * hands its children to us, hence the rounds. */
static void kill_leftovers(bool report)
{
    for (int round = 0; round < 50; round++) {
        pid_t kids[256];
        size_t n = list_children(kids, 256);
        while (waitpid(-1, NULL, WNOHANG) > 0)
            ;
        if (n == 0)
            return;
        for (size_t i = 0; i < n; i++) {
            if (report)
                (void)fprintf(stderr, "eco: %s: killing leftover PID %d\n", current ? current : "?", (int)kids[i]);
            (void)kill(kids[i], SIGKILL);
        }
        for (size_t i = 0; i < n; i++) {
            int fd = eco_pidfd_open(kids[i]);
            if (fd >= 0) {
                struct pollfd p = {.fd = fd, .events = POLLIN};
                (void)poll(&p, 1, 5000);
                (void)close(fd);
            }
            (void)waitpid(kids[i], NULL, 0);
        }
    }
}

static void cleanup(bool report)
{
    if (getpid() != main_pid)
        return;
    kill_leftovers(report);
    for (size_t i = 0; i < n_tmpdirs; i++)
        if (tmpdirs[i] && !getenv("ECO_KEEP_TMP"))
            (void)nftw(tmpdirs[i], rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    n_tmpdirs = 0;
    free_arena();
}

void eco_fail_at(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    (void)fprintf(stderr, "FAIL %s (%s:%d): ", current ? current : "?", file, line);
    va_start(ap, fmt);
    (void)vfprintf(stderr, fmt, ap);
    va_end(ap);
    (void)fputc('\n', stderr);
    if (getpid() != main_pid)
        _exit(1);
    cleanup(false);
    exit(1);
}

void eco_skip(const char *fmt, ...)
{
    va_list ap;
    (void)fprintf(stderr, "SKIP %s: ", current ? current : "?");
    va_start(ap, fmt);
    (void)vfprintf(stderr, fmt, ap);
    va_end(ap);
    (void)fputc('\n', stderr);
    cleanup(false);
    exit(ECO_SKIP_CODE);
}

void eco_log(const char *fmt, ...)
{
    va_list ap;
    (void)fprintf(stderr, "# ");
    va_start(ap, fmt);
    (void)vfprintf(stderr, fmt, ap);
    va_end(ap);
    (void)fputc('\n', stderr);
}

long eco_sys_at(long r, const char *file, int line, const char *expr)
{
    if (r == -1)
        eco_fail_at(file, line, "%s: %s", expr, strerror(errno));
    return r;
}

int eco_main(int argc, char **argv)
{
    main_pid = getpid();
    if (argc != 2) {
        for (size_t i = 0; i < n_tests; i++)
            (void)printf("%s\n", tests[i].name);
        return argc == 1 ? 0 : 2;
    }
    for (size_t i = 0; i < n_tests; i++) {
        if (strcmp(tests[i].name, argv[1]) != 0)
            continue;
        current = tests[i].name;
        if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) {
            (void)fprintf(stderr, "eco: cannot become a child subreaper: %s\n", strerror(errno));
            return 1;
        }
        /* A reader that went away must not kill the test. */
        (void)signal(SIGPIPE, SIG_IGN);
        tests[i].fn();
        cleanup(true);
        (void)fprintf(stderr, "PASS %s\n", current);
        return 0;
    }
    (void)fprintf(stderr, "eco: no test named '%s'\n", argv[1]);
    return 2;
}

/* ------------------------------------------------------ time, memory, files */

int eco_timeout_ms(void)
{
    const char *s = getenv("ECO_TIME_SCALE");
    long scale = s ? strtol(s, NULL, 10) : 1;
    return 15000 * (int)(scale > 0 && scale < 100 ? scale : 1);
}

int64_t eco_now_ms(void)
{
    struct timespec ts;
    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int eco_left_ms(int64_t deadline)
{
    int64_t left = deadline - eco_now_ms();
    return left < 0 ? 0 : left > 3600000 ? 3600000 : (int)left;
}

char *eco_fmt(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = malloc((size_t)n + 1);
    if (!s)
        ECO_FAIL("out of memory");
    va_start(ap, fmt);
    (void)vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return keep(s);
}

const char *eco_tmpdir(void)
{
    char *t = eco_fmt("/tmp/eco-%s-XXXXXX", current ? current : "test");
    if (strlen(t) > 60) /* AF_UNIX paths below it must fit in sun_path */
        t = eco_fmt("/tmp/eco-XXXXXX");
    if (!mkdtemp(t))
        ECO_FAIL("mkdtemp: %s", strerror(errno));
    ECO_SYS(chmod(t, 0755));
    if (n_tmpdirs < sizeof tmpdirs / sizeof tmpdirs[0])
        tmpdirs[n_tmpdirs++] = t;
    return t;
}

void eco_write_file(const char *path, const char *content, mode_t mode)
{
    int fd = (int)ECO_SYS(open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
    size_t len = strlen(content), done = 0;
    while (done < len) {
        ssize_t n = write(fd, content + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        ECO_SYS(n);
        done += (size_t)n;
    }
    ECO_SYS(fchmod(fd, mode));
    (void)close(fd);
}

char *eco_read_file(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (len + 1 >= cap)
            buf = realloc(buf, cap *= 2);
        if (!buf)
            ECO_FAIL("out of memory");
        ssize_t n = read(fd, buf + len, cap - len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    (void)close(fd);
    buf[len] = '\0';
    return keep(buf);
}

bool eco_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

const char *eco_env(const char *name)
{
    const char *v = getenv(name);
    if (!v || !*v)
        ECO_FAIL("$%s is not set (the test is run by CTest, which sets it)", name);
    return v;
}

bool eco_is_root(void)
{
    return geteuid() == 0;
}

/* ---------------------------------------------------------------- processes */

void eco_cmd_init(eco_cmd *c, const char *arg0, ...)
{
    memset(c, 0, sizeof *c);
    c->capture = true;
    c->pid = -1;
    c->pidfd = c->out_fd = c->err_fd = -1;
    size_t n = 0;
    va_list ap;
    va_start(ap, arg0);
    for (const char *a = arg0; a; a = va_arg(ap, const char *)) {
        if (n == ECO_MAX_ARGS)
            ECO_FAIL("too many arguments");
        c->argv[n++] = a;
    }
    va_end(ap);
}

void eco_cmd_arg(eco_cmd *c, const char *arg)
{
    size_t n = 0;
    while (c->argv[n])
        n++;
    if (n == ECO_MAX_ARGS)
        ECO_FAIL("too many arguments");
    c->argv[n] = arg;
}

void eco_cmd_env(eco_cmd *c, const char *entry)
{
    if (c->nenv == ECO_MAX_ENV)
        ECO_FAIL("too many environment entries");
    c->env[c->nenv++] = entry;
}

void eco_cmd_fd(eco_cmd *c, int child, int parent)
{
    if (c->nfds == ECO_MAX_FDS)
        ECO_FAIL("too many fds");
    c->fds[c->nfds].child = child;
    c->fds[c->nfds].parent = parent;
    c->nfds++;
}

static bool env_name_matches(const char *entry, const char *spec)
{
    size_t n = strcspn(spec, "=");
    return strncmp(entry, spec, n) == 0 && entry[n] == '=';
}

static char **build_env(const eco_cmd *c)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **envp = calloc(n + c->nenv + 1, sizeof *envp);
    if (!envp)
        ECO_FAIL("out of memory");
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        bool drop = false;
        for (size_t j = 0; j < c->nenv; j++)
            drop = drop || env_name_matches(environ[i], c->env[j]);
        if (!drop)
            envp[k++] = environ[i];
    }
    for (size_t j = 0; j < c->nenv; j++) {
        bool overridden = false; /* a later entry for the same name wins */
        for (size_t l = j + 1; l < c->nenv; l++)
            overridden = overridden || env_name_matches(c->env[j], c->env[l]);
        if (strchr(c->env[j], '=') && !overridden)
            envp[k++] = (char *)(uintptr_t)c->env[j];
    }
    envp[k] = NULL;
    return envp;
}

static bool is_child_fd(const eco_cmd *c, int fd)
{
    for (size_t i = 0; i < c->nfds; i++)
        if (c->fds[i].child == fd && c->fds[i].parent >= 0)
            return true;
    return false;
}

/* In the child: every fd >= 3 that is not one of C's goes. */
static void close_others(const eco_cmd *c)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d) {
        for (int fd = 3; fd < 1024; fd++)
            if (!is_child_fd(c, fd))
                (void)close(fd);
        return;
    }
    int self = dirfd(d), fds[1024];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 1024) {
        int fd = atoi(e->d_name);
        if (e->d_name[0] >= '0' && e->d_name[0] <= '9' && fd >= 3 && fd != self && !is_child_fd(c, fd))
            fds[n++] = fd;
    }
    (void)closedir(d);
    for (size_t i = 0; i < n; i++)
        (void)close(fds[i]);
}

__attribute__((noreturn)) static void child_die(const char *what, const char *arg)
{
    (void)dprintf(2, "eco: child: %s %s: %s\n", what, arg ? arg : "", strerror(errno));
    _exit(127);
}

pid_t eco_spawn(eco_cmd *c)
{
    int out[2] = {-1, -1}, err[2] = {-1, -1};
    if (c->capture) {
        ECO_SYS(pipe2(out, O_CLOEXEC));
        ECO_SYS(pipe2(err, O_CLOEXEC));
    }
    char **envp = build_env(c);
    (void)fflush(NULL);
    pid_t pid = (pid_t)ECO_SYS(fork());
    if (pid == 0) {
        /* First lift every source fd out of the way of the targets. */
        int moved[ECO_MAX_FDS];
        for (size_t i = 0; i < c->nfds; i++) {
            moved[i] = -1;
            if (c->fds[i].parent >= 0 && (moved[i] = fcntl(c->fds[i].parent, F_DUPFD_CLOEXEC, 300)) < 0)
                child_die("dup", NULL);
        }
        int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (c->capture && (dup2(devnull, 0) < 0 || dup2(out[1], 1) < 0 || dup2(err[1], 2) < 0))
            child_die("dup2", "stdio");
        for (size_t i = 0; i < c->nfds; i++) {
            if (moved[i] >= 0) {
                if (dup2(moved[i], c->fds[i].child) < 0)
                    child_die("dup2", NULL);
            } else {
                (void)close(c->fds[i].child);
            }
        }
        close_others(c);
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        for (int s = 1; s < NSIG; s++)
            (void)sigaction(s, &dfl, NULL);
        sigset_t none;
        (void)sigemptyset(&none);
        (void)sigprocmask(SIG_SETMASK, &none, NULL);
        if (c->chdir && chdir(c->chdir) < 0)
            child_die("chdir", c->chdir);
        execve(c->argv[0], (char *const *)(uintptr_t)c->argv, envp);
        child_die("exec", c->argv[0]);
    }
    free(envp);
    c->pid = pid;
    c->pidfd = eco_pidfd_open(pid);
    if (c->capture) {
        (void)close(out[1]);
        (void)close(err[1]);
        c->out_fd = out[0];
        c->err_fd = err[0];
    }
    return pid;
}

static void append(char **buf, size_t *len, const char *data, size_t n)
{
    char *b = realloc(*buf, *len + n + 1);
    if (!b)
        ECO_FAIL("out of memory");
    memcpy(b + *len, data, n);
    *len += n;
    b[*len] = '\0';
    *buf = b;
}

int eco_finish(eco_cmd *c, char **out, char **err)
{
    int64_t deadline = eco_now_ms() + eco_timeout_ms();
    char *bufs[2] = {calloc(1, 1), calloc(1, 1)};
    size_t lens[2] = {0, 0};
    int fds[2] = {c->out_fd, c->err_fd};
    while (fds[0] >= 0 || fds[1] >= 0) {
        struct pollfd p[2] = {{.fd = fds[0], .events = POLLIN}, {.fd = fds[1], .events = POLLIN}};
        int n = poll(p, 2, eco_left_ms(deadline));
        if (n < 0 && errno == EINTR)
            continue;
        ECO_SYS(n);
        if (n == 0)
            ECO_FAIL("%s (PID %d): its output did not end within %d ms (stdout so far: \"%s\", stderr: \"%s\")",
                     c->argv[0], (int)c->pid, eco_timeout_ms(), bufs[0], bufs[1]);
        for (int i = 0; i < 2; i++) {
            if (!p[i].revents)
                continue;
            char chunk[4096];
            ssize_t r = read(fds[i], chunk, sizeof chunk);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0) {
                (void)close(fds[i]);
                fds[i] = -1;
            } else {
                append(&bufs[i], &lens[i], chunk, (size_t)r);
            }
        }
    }
    c->out_fd = c->err_fd = -1;
    int status = eco_reap(c->pid, eco_left_ms(deadline));
    if (c->pidfd >= 0)
        (void)close(c->pidfd);
    c->pidfd = -1;
    if (out)
        *out = keep(bufs[0]);
    else
        free(bufs[0]);
    if (err)
        *err = keep(bufs[1]);
    else
        free(bufs[1]);
    return status;
}

int eco_run(eco_cmd *c, char **out, char **err)
{
    eco_spawn(c);
    return eco_finish(c, out, err);
}

int eco_pidfd_open(pid_t pid)
{
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

bool eco_wait_gone(pid_t pid, int ms)
{
    int fd = eco_pidfd_open(pid);
    if (fd < 0)
        return errno == ESRCH;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int64_t deadline = eco_now_ms() + ms;
    int n;
    do
        n = poll(&p, 1, eco_left_ms(deadline));
    while (n < 0 && errno == EINTR);
    (void)close(fd);
    return n > 0;
}

int eco_reap(pid_t pid, int ms)
{
    if (!eco_wait_gone(pid, ms))
        ECO_FAIL("PID %d did not end within %d ms", (int)pid, ms);
    int status;
    pid_t r;
    do
        r = waitpid(pid, &status, 0);
    while (r < 0 && errno == EINTR);
    if (r != pid)
        ECO_FAIL("waitpid(%d): %s", (int)pid, strerror(errno));
    return status;
}

/* /proc/PID/stat: "pid (comm) state ppid ..."; comm may hold anything. */
static bool proc_stat(pid_t pid, char *state, pid_t *ppid)
{
    char path[64], buf[1024];
    (void)snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    (void)close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    int pp;
    if (!p || sscanf(p + 1, " %c %d", state, &pp) != 2)
        return false;
    *ppid = pp;
    return true;
}

pid_t eco_ppid(pid_t pid)
{
    char state;
    pid_t ppid;
    return proc_stat(pid, &state, &ppid) ? ppid : 0;
}

bool eco_alive(pid_t pid)
{
    char state;
    pid_t ppid;
    return proc_stat(pid, &state, &ppid) && state != 'Z' && state != 'X';
}

char *eco_read_line(int fd, int ms)
{
    int64_t deadline = eco_now_ms() + ms;
    char *buf = NULL;
    size_t len = 0;
    append(&buf, &len, "", 0);
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int n = poll(&p, 1, eco_left_ms(deadline));
        if (n < 0 && errno == EINTR)
            continue;
        ECO_SYS(n);
        if (n == 0)
            ECO_FAIL("no line on fd %d within %d ms (so far: \"%s\")", fd, ms, buf);
        char ch;
        ssize_t r = read(fd, &ch, 1);
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (r <= 0) {
            free(buf);
            return NULL;
        }
        if (ch == '\n')
            return keep(buf);
        append(&buf, &len, &ch, 1);
    }
}

const char *eco_status_text(int status)
{
    if (WIFEXITED(status))
        return eco_fmt("exited %d", WEXITSTATUS(status));
    if (WIFSIGNALED(status))
        return eco_fmt("killed by signal %d", WTERMSIG(status));
    return eco_fmt("status 0x%x", (unsigned)status);
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

void eco_proc_fds(pid_t pid, eco_fdlist *l)
{
    char path[64];
    (void)snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        ECO_FAIL("opendir %s: %s", path, strerror(errno));
    l->n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && l->n < 256)
        if (e->d_name[0] >= '0' && e->d_name[0] <= '9')
            l->fd[l->n++] = atoi(e->d_name);
    (void)closedir(d);
    qsort(l->fd, l->n, sizeof l->fd[0], cmp_int);
    for (size_t i = 0; i < l->n; i++) {
        char link[64];
        (void)snprintf(link, sizeof link, "/proc/%d/fd/%d", (int)pid, l->fd[i]);
        ssize_t n = readlink(link, l->target[i], sizeof l->target[i] - 1);
        l->target[i][n < 0 ? 0 : n] = '\0';
    }
}

const char *eco_fd_target(const eco_fdlist *l, int fd)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->fd[i] == fd)
            return l->target[i];
    return NULL;
}

/* ------------------------------------------------------------ NOTIFY_SOCKET */

int eco_notify_bind(const char *name)
{
    int fd = (int)ECO_SYS(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    int one = 1;
    ECO_SYS(setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof one));
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    size_t len = strlen(name);
    if (len >= sizeof addr.sun_path)
        ECO_FAIL("socket name too long: %s", name);
    memcpy(addr.sun_path, name, len);
    if (name[0] == '@')
        addr.sun_path[0] = '\0';
    ECO_SYS(bind(fd, (struct sockaddr *)&addr, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)));
    return fd;
}

bool eco_notify_recv(int fd, int ms, eco_notify_msg *m)
{
    memset(m, 0, sizeof *m);
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int64_t deadline = eco_now_ms() + ms;
    int n;
    do
        n = poll(&p, 1, eco_left_ms(deadline));
    while (n < 0 && errno == EINTR);
    ECO_SYS(n);
    if (n == 0)
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
    ssize_t r = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
    ECO_SYS(r);
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
