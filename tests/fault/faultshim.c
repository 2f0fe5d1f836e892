/*
 * faultshim.so - an LD_PRELOAD fault injector, built only in the test tree.
 *
 * Why a shim of our own rather than Debian's libfiu/fiu-run: the campaign
 * needs "fail the Nth call of F in the process at fork depth D" (fork #1 runs
 * in the invoker, setsid and fork #2 in the intermediate child, the rest in
 * the daemon), pauses and kills at a chosen call, a trace of every call to
 * enumerate the start path, and the system calls the library reaches through
 * syscall(2) (close_range, pidfd_open, getdents64, openat2). libfiu's POSIX
 * preload fails calls by name with a probability, has no notion of fork
 * depth or call index, and does not cover chroot, setgroups, setresuid,
 * flock, socketpair or syscall(2). The library calls the libc wrappers, so
 * interposing them is exact; libc's internal calls (fopen, opendir, NSS) are
 * deliberately out of reach.
 *
 * Environment (read once, at load):
 *   DCX_FAULT=RULE[;RULE...]  RULE = key=value[,key=value...]:
 *       func=NAME    a wrapped function (see `names` below); for syscall(2):
 *                    pidfd_open, pidfd_send_signal, close_range, getdents64,
 *                    openat2 (others: "syscall")
 *       depth=D      fork depth of the process (0: the exec'd program; each
 *                    fork through fork() adds 1); absent: any depth
 *       nth=N        the Nth matching call in the process (1-based; 0: every
 *                    call); counters restart in a fork child
 *       path=TEXT    only calls whose path argument contains TEXT
 *       errno=E      symbolic (EAGAIN) or numeric; default EIO
 *       action=fail  return -1 with errno E (default)
 *              fake  return 0 without making the call (a lying kernel)
 *              pause send "pause ..." and wait for a datagram on the
 *                    abstract socket "@NAME.PID" (DCX_FAULT_SOCK's NAME);
 *                    the call is made once it came
 *              kill  send "hit ..." then die of SIGKILL right there
 *   DCX_FAULT_SOCK=NAME   abstract AF_UNIX datagram socket ("@NAME") that
 *       receives one line per event (reachable after chroot, needs no fd):
 *         "trace PID DEPTH FUNC NTH PATH"   (with DCX_FAULT_TRACE=1)
 *         "hit PID DEPTH FUNC NTH ERRNO"    a rule was applied
 *         "pause PID DEPTH FUNC NTH"        about to stop itself
 *   DCX_FAULT_TRACE=1     trace every wrapped call
 *   DCX_FAULT_USR1=1      install a SIGUSR1 handler without SA_RESTART, so a
 *       storm of SIGUSR1 interrupts blocking calls with EINTR for real
 *
 * The shim never allocates after load and formats by hand: it runs between
 * fork and exec like the library does.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

/* ------------------------------------------------------------ the table */

#define FUNCS(X)                                                                                                   \
    X(clone) X(fork) X(setsid) X(chroot) X(chdir) X(setgroups) X(setresgid) X(setresuid) X(setuid) X(seteuid) X(setpgid)    \
    X(prctl) X(setrlimit) X(execv) X(execve) X(kill) X(waitpid) X(waitid) X(signalfd) X(open) X(openat) X(dup2)    \
    X(dup3) X(fcntl) X(flock) X(pwrite) X(pread) X(write) X(read) X(ftruncate) X(fchmod) X(unlink) X(unlinkat)    \
    X(inotify_init1) X(inotify_add_watch) X(pipe2) X(socketpair) X(socket) X(bind) X(connect) X(send) X(sendto)  \
    X(recv) X(recvmsg) X(setsockopt) X(poll) X(getpwnam) X(getgrnam) X(getpwuid_r) X(pidfd_open)                 \
    X(pidfd_send_signal) X(close_range) X(getdents64) X(openat2) X(syscall)

enum {
#define ENUM(n) F_##n,
    FUNCS(ENUM)
#undef ENUM
        F_COUNT
};

static const char *const names[F_COUNT] = {
#define NAME(n) #n,
    FUNCS(NAME)
#undef NAME
};

/* The real functions, resolved at load (never with dlsym after a fork). */
static int (*real_clone)(int (*)(void *), void *, int, void *, ...);
static pid_t (*real_fork)(void);
static pid_t (*real_setsid)(void);
static int (*real_chroot)(const char *);
static int (*real_chdir)(const char *);
static int (*real_setgroups)(size_t, const gid_t *);
static int (*real_setresgid)(gid_t, gid_t, gid_t);
static int (*real_setresuid)(uid_t, uid_t, uid_t);
static int (*real_setuid)(uid_t);
static int (*real_seteuid)(uid_t);
static int (*real_setpgid)(pid_t, pid_t);
static int (*real_prctl)(int, unsigned long, unsigned long, unsigned long, unsigned long);
static int (*real_setrlimit)(int, const struct rlimit *);
static int (*real_execv)(const char *, char *const[]);
static int (*real_execve)(const char *, char *const[], char *const[]);
static int (*real_kill)(pid_t, int);
static pid_t (*real_waitpid)(pid_t, int *, int);
static int (*real_waitid)(idtype_t, id_t, siginfo_t *, int);
static int (*real_signalfd)(int, const sigset_t *, int);
static int (*real_open)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static int (*real_dup2)(int, int);
static int (*real_dup3)(int, int, int);
static int (*real_fcntl)(int, int, ...);
static int (*real_flock)(int, int);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_pread)(int, void *, size_t, off_t);
static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_read)(int, void *, size_t);
static int (*real_ftruncate)(int, off_t);
static int (*real_fchmod)(int, mode_t);
static int (*real_unlink)(const char *);
static int (*real_unlinkat)(int, const char *, int);
static int (*real_inotify_init1)(int);
static int (*real_inotify_add_watch)(int, const char *, uint32_t);
static int (*real_pipe2)(int[2], int);
static int (*real_socketpair)(int, int, int, int[2]);
static int (*real_socket)(int, int, int);
static int (*real_bind)(int, const struct sockaddr *, socklen_t);
static int (*real_connect)(int, const struct sockaddr *, socklen_t);
static ssize_t (*real_send)(int, const void *, size_t, int);
static ssize_t (*real_sendto)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
static ssize_t (*real_recv)(int, void *, size_t, int);
static ssize_t (*real_recvmsg)(int, struct msghdr *, int);
static int (*real_setsockopt)(int, int, int, const void *, socklen_t);
static int (*real_poll)(struct pollfd *, nfds_t, int);
static struct passwd *(*real_getpwnam)(const char *);
static struct group *(*real_getgrnam)(const char *);
static int (*real_getpwuid_r)(uid_t, struct passwd *, char *, size_t, struct passwd **);
static long (*real_syscall)(long, ...);

static void *next(const char *name)
{
    return dlsym(RTLD_NEXT, name);
}

#define RESOLVE(n)                                                                                                 \
    do {                                                                                                           \
        if (!real_##n)                                                                                             \
            *(void **)&real_##n = next(#n);                                                                        \
    } while (0)

static void resolve_all(void)
{
    RESOLVE(clone); RESOLVE(fork); RESOLVE(setsid); RESOLVE(chroot); RESOLVE(chdir); RESOLVE(setgroups); RESOLVE(setresgid);
    RESOLVE(setresuid); RESOLVE(setuid); RESOLVE(seteuid); RESOLVE(setpgid); RESOLVE(prctl); RESOLVE(setrlimit);
    RESOLVE(execv); RESOLVE(execve); RESOLVE(kill); RESOLVE(waitpid); RESOLVE(waitid); RESOLVE(signalfd);
    RESOLVE(open); RESOLVE(openat); RESOLVE(dup2); RESOLVE(dup3); RESOLVE(fcntl); RESOLVE(flock); RESOLVE(pwrite);
    RESOLVE(pread); RESOLVE(write); RESOLVE(read); RESOLVE(ftruncate); RESOLVE(fchmod); RESOLVE(unlink);
    RESOLVE(unlinkat); RESOLVE(inotify_init1); RESOLVE(inotify_add_watch); RESOLVE(pipe2); RESOLVE(socketpair);
    RESOLVE(socket); RESOLVE(bind); RESOLVE(connect); RESOLVE(send); RESOLVE(sendto); RESOLVE(recv);
    RESOLVE(recvmsg); RESOLVE(setsockopt); RESOLVE(poll); RESOLVE(getpwnam); RESOLVE(getgrnam);
    RESOLVE(getpwuid_r); RESOLVE(syscall);
}

/* ---------------------------------------------------------------- state */

#define MAX_RULES 16
enum action { ACT_FAIL, ACT_FAKE, ACT_PAUSE, ACT_KILL };

struct rule {
    int func;
    int depth; /* -1: any */
    unsigned nth;
    unsigned count;
    int err;
    enum action action;
    char path[128];
};

static struct rule rules[MAX_RULES];
static int nrules;
static int depth;
static unsigned counts[F_COUNT];
static bool tracing;
static struct sockaddr_un sock_addr;
static socklen_t sock_len;

static const struct {
    const char *name;
    int value;
} errnos[] = {
    {"EPERM", EPERM},   {"ENOENT", ENOENT},   {"ESRCH", ESRCH},     {"EINTR", EINTR},   {"EIO", EIO},
    {"E2BIG", E2BIG},   {"ENOEXEC", ENOEXEC}, {"EBADF", EBADF},     {"ECHILD", ECHILD}, {"EAGAIN", EAGAIN},
    {"ENOMEM", ENOMEM}, {"EACCES", EACCES},   {"EBUSY", EBUSY},     {"EEXIST", EEXIST}, {"ENOTDIR", ENOTDIR},
    {"EISDIR", EISDIR}, {"EINVAL", EINVAL},   {"ENFILE", ENFILE},   {"EMFILE", EMFILE}, {"ETXTBSY", ETXTBSY},
    {"EFBIG", EFBIG},   {"ENOSPC", ENOSPC},   {"EROFS", EROFS},     {"EMLINK", EMLINK}, {"EPIPE", EPIPE},
    {"ENOLCK", ENOLCK}, {"ENOSYS", ENOSYS},   {"ELOOP", ELOOP},     {"ENOBUFS", ENOBUFS},
    {"EADDRINUSE", EADDRINUSE}, {"ECONNREFUSED", ECONNREFUSED}, {"ECONNRESET", ECONNRESET},
    {"ENAMETOOLONG", ENAMETOOLONG}, {"EDQUOT", EDQUOT}, {"ETIMEDOUT", ETIMEDOUT},
};

static int parse_errno(const char *s, size_t n)
{
    for (size_t i = 0; i < sizeof errnos / sizeof errnos[0]; i++)
        if (strlen(errnos[i].name) == n && strncmp(errnos[i].name, s, n) == 0)
            return errnos[i].value;
    int v = 0;
    for (size_t i = 0; i < n && s[i] >= '0' && s[i] <= '9'; i++)
        v = v * 10 + (s[i] - '0');
    return v > 0 ? v : EIO;
}

static unsigned parse_uint(const char *s, size_t n)
{
    unsigned v = 0;
    for (size_t i = 0; i < n && s[i] >= '0' && s[i] <= '9'; i++)
        v = v * 10 + (unsigned)(s[i] - '0');
    return v;
}

static void parse_rule(const char *s, size_t len)
{
    if (nrules == MAX_RULES)
        return;
    struct rule r;
    memset(&r, 0, sizeof r);
    r.func = -1;
    r.depth = -1;
    r.nth = 1;
    r.err = EIO;
    r.action = ACT_FAIL;
    const char *end = s + len;
    while (s < end) {
        const char *comma = memchr(s, ',', (size_t)(end - s));
        const char *item_end = comma ? comma : end;
        const char *eq = memchr(s, '=', (size_t)(item_end - s));
        if (eq) {
            size_t kl = (size_t)(eq - s), vl = (size_t)(item_end - eq - 1);
            const char *v = eq + 1;
            if (kl == 4 && strncmp(s, "func", 4) == 0) {
                for (int i = 0; i < F_COUNT; i++)
                    if (strlen(names[i]) == vl && strncmp(names[i], v, vl) == 0)
                        r.func = i;
            } else if (kl == 5 && strncmp(s, "depth", 5) == 0) {
                r.depth = (int)parse_uint(v, vl);
            } else if (kl == 3 && strncmp(s, "nth", 3) == 0) {
                r.nth = parse_uint(v, vl);
            } else if (kl == 5 && strncmp(s, "errno", 5) == 0) {
                r.err = parse_errno(v, vl);
            } else if (kl == 4 && strncmp(s, "path", 4) == 0 && vl < sizeof r.path) {
                memcpy(r.path, v, vl);
                r.path[vl] = '\0';
            } else if (kl == 6 && strncmp(s, "action", 6) == 0) {
                r.action = vl == 4 && strncmp(v, "fake", 4) == 0    ? ACT_FAKE
                           : vl == 5 && strncmp(v, "pause", 5) == 0 ? ACT_PAUSE
                           : vl == 4 && strncmp(v, "kill", 4) == 0  ? ACT_KILL
                                                                    : ACT_FAIL;
            }
        }
        s = comma ? comma + 1 : end;
    }
    if (r.func >= 0)
        rules[nrules++] = r;
}

static volatile sig_atomic_t usr1_seen;
static bool usr1_installed;
static void on_usr1(int signo)
{
    (void)signo;
    usr1_seen = usr1_seen + 1;
}

__attribute__((constructor)) static void shim_init(void)
{
    resolve_all();
    const char *spec = getenv("DCX_FAULT");
    while (spec && *spec) {
        const char *semi = strchr(spec, ';');
        size_t len = semi ? (size_t)(semi - spec) : strlen(spec);
        parse_rule(spec, len);
        spec = semi ? semi + 1 : NULL;
    }
    const char *t = getenv("DCX_FAULT_TRACE");
    tracing = t && *t == '1';
    const char *name = getenv("DCX_FAULT_SOCK");
    if (name && *name && strlen(name) + 1 < sizeof sock_addr.sun_path) {
        memset(&sock_addr, 0, sizeof sock_addr);
        sock_addr.sun_family = AF_UNIX;
        memcpy(sock_addr.sun_path + 1, name, strlen(name));
        sock_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name));
    }
    const char *u = getenv("DCX_FAULT_USR1");
    if (u && *u == '1') {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_usr1; /* no SA_RESTART: interrupted calls fail with EINTR */
        if (sigaction(SIGUSR1, &sa, NULL) == 0)
            usr1_installed = true;
    }
}

/* ------------------------------------------------------------ messages */

struct line {
    char buf[400];
    size_t len;
};

static void put_str(struct line *l, const char *s)
{
    for (; s && *s && l->len + 1 < sizeof l->buf; s++)
        l->buf[l->len++] = (*s == ' ' || *s == '\n') ? '_' : *s;
}

static void put_raw(struct line *l, const char *s)
{
    for (; *s && l->len + 1 < sizeof l->buf; s++)
        l->buf[l->len++] = *s;
}

static void put_long(struct line *l, long v)
{
    char d[24];
    size_t n = 0;
    unsigned long u = v < 0 ? (unsigned long)-v : (unsigned long)v;
    do {
        d[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u && n < sizeof d);
    if (v < 0 && l->len + 1 < sizeof l->buf)
        l->buf[l->len++] = '-';
    while (n && l->len + 1 < sizeof l->buf)
        l->buf[l->len++] = d[--n];
}

static void emit(const char *kind, int func, unsigned nth, const char *extra, long extra_num, bool with_num)
{
    if (!sock_len || !real_socket || !real_sendto || !real_setsockopt)
        return;
    int saved = errno;
    struct line l = {.len = 0};
    put_raw(&l, kind);
    put_raw(&l, " ");
    put_long(&l, (long)getpid());
    put_raw(&l, " ");
    put_long(&l, depth);
    put_raw(&l, " ");
    put_raw(&l, names[func]);
    put_raw(&l, " ");
    put_long(&l, (long)nth);
    put_raw(&l, " ");
    if (with_num)
        put_long(&l, extra_num);
    else
        put_str(&l, extra && *extra ? extra : "-");
    int fd = real_socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
        /* A test that stopped reading must not hang the program for good. */
        struct timeval tv = {.tv_sec = 5, .tv_usec = 0};
        (void)real_setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        ssize_t n;
        do
            n = real_sendto(fd, l.buf, l.len, MSG_NOSIGNAL, (const struct sockaddr *)&sock_addr, sock_len);
        while (n < 0 && errno == EINTR);
        (void)close(fd);
    }
    errno = saved;
}

/* Announce "pause ..." and wait for any datagram on "@NAME.PID" (sent by
 * the test when it wants the process to go on; or it kills it meanwhile). */
static void hold(int func, unsigned nth)
{
    int saved = errno;
    int fd = real_socket ? real_socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0) : -1;
    if (fd >= 0 && sock_len) {
        struct sockaddr_un own = sock_addr;
        struct line l = {.len = 0};
        put_raw(&l, own.sun_path + 1);
        put_raw(&l, ".");
        put_long(&l, (long)getpid());
        memset(own.sun_path + 1, 0, sizeof own.sun_path - 1);
        memcpy(own.sun_path + 1, l.buf, l.len);
        socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + l.len);
        if (real_bind(fd, (const struct sockaddr *)&own, len) == 0) {
            emit("pause", func, nth, NULL, 0, false);
            char go[16];
            while (real_recv(fd, go, sizeof go, 0) < 0 && errno == EINTR)
                ;
        }
    }
    if (fd >= 0)
        (void)close(fd);
    errno = saved;
}

/* 0: make the real call; 1: fail (errno set); 2: pretend success. */
static int intercept(int func, const char *path)
{
    if (usr1_installed) { /* tell the test that storms may begin */
        usr1_installed = false;
        emit("usr1", func, 0, NULL, 0, false);
    }
    unsigned nth = ++counts[func];
    if (tracing)
        emit("trace", func, nth, path, 0, false);
    for (int i = 0; i < nrules; i++) {
        struct rule *r = &rules[i];
        if (r->func != func || (r->depth >= 0 && r->depth != depth))
            continue;
        if (r->path[0] && (!path || !strstr(path, r->path)))
            continue;
        r->count++;
        if (r->nth != 0 && r->count != r->nth)
            continue;
        switch (r->action) {
        case ACT_PAUSE:
            hold(func, nth);
            return 0;
        case ACT_KILL:
            emit("hit", func, nth, NULL, SIGKILL, true);
            (void)real_kill(getpid(), SIGKILL);
            return 0;
        case ACT_FAKE:
            emit("hit", func, nth, NULL, 0, true);
            return 2;
        case ACT_FAIL:
            emit("hit", func, nth, NULL, r->err, true);
            errno = r->err;
            return 1;
        }
    }
    return 0;
}

#define GUARD(func, path, failval)                                                                                 \
    do {                                                                                                           \
        int g_ = intercept(F_##func, (path));                                                                      \
        if (g_ == 1)                                                                                               \
            return failval;                                                                                        \
        if (g_ == 2)                                                                                               \
            return 0;                                                                                              \
    } while (0)

/* ------------------------------------------------------------- wrappers */

/* A wrapper: RET NAME PARAMS, calling the real one with ARGS; PATH is the
 * argument traced and matched by path= (or NULL). */
#define WRAP(ret, name, params, args, path)                                                                        \
    EXPORT ret name params                                                                                         \
    {                                                                                                              \
        RESOLVE(name);                                                                                             \
        GUARD(name, path, -1);                                                                                     \
        return real_##name args;                                                                                   \
    }

static void enter_child(void)
{
    depth++;
    memset(counts, 0, sizeof counts);
    for (int i = 0; i < nrules; i++)
        rules[i].count = 0;
}

EXPORT pid_t fork(void)
{
    RESOLVE(fork);
    GUARD(fork, NULL, -1);
    pid_t pid = real_fork();
    if (pid == 0)
        enter_child();
    return pid;
}

/* The library makes its intermediate child with clone(CLONE_VM |
 * CLONE_VFORK): a process of its own (one fork depth deeper, counted as a
 * fork: func=fork rules apply to it, func=clone forces the fallback to
 * fork()) that runs in the caller's memory, ours included. Its depth and
 * counters overwrite the caller's, which is suspended until the child exits,
 * so they are saved here and put back when clone() returns. */
static struct {
    int (*fn)(void *);
    void *arg;
} clone_call;

static int clone_child(void *unused)
{
    (void)unused;
    enter_child();
    return clone_call.fn(clone_call.arg);
}

EXPORT int clone(int (*fn)(void *), void *stack, int flags, void *arg, ...)
{
    va_list ap;
    va_start(ap, arg);
    pid_t *ptid = va_arg(ap, pid_t *);
    void *tls = va_arg(ap, void *);
    pid_t *ctid = va_arg(ap, pid_t *);
    va_end(ap);
    RESOLVE(clone);
    GUARD(clone, NULL, -1);
    GUARD(fork, NULL, -1);
    if ((flags & (CLONE_VM | CLONE_VFORK)) != (CLONE_VM | CLONE_VFORK))
        return real_clone(fn, stack, flags, arg, ptid, tls, ctid);
    int saved_depth = depth;
    unsigned saved_counts[F_COUNT], saved_rule_counts[MAX_RULES];
    memcpy(saved_counts, counts, sizeof counts);
    for (int i = 0; i < nrules; i++)
        saved_rule_counts[i] = rules[i].count;
    clone_call.fn = fn;
    clone_call.arg = arg;
    int pid = real_clone(clone_child, stack, flags, NULL, ptid, tls, ctid);
    int e = errno;
    depth = saved_depth;
    memcpy(counts, saved_counts, sizeof counts);
    for (int i = 0; i < nrules; i++)
        rules[i].count = saved_rule_counts[i];
    errno = e;
    return pid;
}

WRAP(pid_t, setsid, (void), (), NULL)
WRAP(int, chroot, (const char *p), (p), p)
WRAP(int, chdir, (const char *p), (p), p)
WRAP(int, setgroups, (size_t n, const gid_t *g), (n, g), NULL)
WRAP(int, setresgid, (gid_t r, gid_t e, gid_t s), (r, e, s), NULL)
WRAP(int, setresuid, (uid_t r, uid_t e, uid_t s), (r, e, s), NULL)
WRAP(int, setuid, (uid_t u), (u), NULL)
WRAP(int, seteuid, (uid_t u), (u), NULL)
WRAP(int, setpgid, (pid_t p, pid_t g), (p, g), NULL)
#ifdef __GLIBC__
EXPORT int setrlimit(__rlimit_resource_t r, const struct rlimit *l)
#else
EXPORT int setrlimit(int r, const struct rlimit *l)
#endif
{
    RESOLVE(setrlimit);
    GUARD(setrlimit, NULL, -1);
    return real_setrlimit((int)r, l);
}
WRAP(int, execv, (const char *p, char *const a[]), (p, a), p)
WRAP(int, execve, (const char *p, char *const a[], char *const e[]), (p, a, e), p)
WRAP(int, kill, (pid_t p, int s), (p, s), NULL)
WRAP(pid_t, waitpid, (pid_t p, int *st, int o), (p, st, o), NULL)
WRAP(int, waitid, (idtype_t t, id_t id, siginfo_t *si, int o), (t, id, si, o), NULL)
WRAP(int, signalfd, (int fd, const sigset_t *m, int f), (fd, m, f), NULL)
WRAP(int, dup2, (int a, int b), (a, b), NULL)
WRAP(int, dup3, (int a, int b, int f), (a, b, f), NULL)
WRAP(int, flock, (int fd, int op), (fd, op), NULL)
WRAP(ssize_t, pwrite, (int fd, const void *b, size_t n, off_t o), (fd, b, n, o), NULL)
WRAP(ssize_t, pread, (int fd, void *b, size_t n, off_t o), (fd, b, n, o), NULL)
WRAP(ssize_t, write, (int fd, const void *b, size_t n), (fd, b, n), NULL)
WRAP(ssize_t, read, (int fd, void *b, size_t n), (fd, b, n), NULL)
WRAP(int, ftruncate, (int fd, off_t l), (fd, l), NULL)
WRAP(int, fchmod, (int fd, mode_t m), (fd, m), NULL)
WRAP(int, unlink, (const char *p), (p), p)
WRAP(int, unlinkat, (int d, const char *p, int f), (d, p, f), p)
WRAP(int, inotify_init1, (int f), (f), NULL)
WRAP(int, inotify_add_watch, (int fd, const char *p, uint32_t m), (fd, p, m), p)
WRAP(int, pipe2, (int p[2], int f), (p, f), NULL)
WRAP(int, socketpair, (int d, int t, int p, int sv[2]), (d, t, p, sv), NULL)
WRAP(int, socket, (int d, int t, int p), (d, t, p), NULL)
WRAP(int, bind, (int fd, const struct sockaddr *a, socklen_t l), (fd, a, l), NULL)
WRAP(int, connect, (int fd, const struct sockaddr *a, socklen_t l), (fd, a, l), NULL)
WRAP(ssize_t, send, (int fd, const void *b, size_t n, int f), (fd, b, n, f), NULL)
WRAP(ssize_t, sendto, (int fd, const void *b, size_t n, int f, const struct sockaddr *a, socklen_t l),
     (fd, b, n, f, a, l), NULL)
WRAP(ssize_t, recv, (int fd, void *b, size_t n, int f), (fd, b, n, f), NULL)
WRAP(ssize_t, recvmsg, (int fd, struct msghdr *m, int f), (fd, m, f), NULL)
WRAP(int, setsockopt, (int fd, int l, int o, const void *v, socklen_t n), (fd, l, o, v, n), NULL)
WRAP(int, poll, (struct pollfd *p, nfds_t n, int t), (p, n, t), NULL)

EXPORT int prctl(int option, ...)
{
    va_list ap;
    va_start(ap, option);
    unsigned long a = va_arg(ap, unsigned long), b = va_arg(ap, unsigned long), c = va_arg(ap, unsigned long),
                  d = va_arg(ap, unsigned long);
    va_end(ap);
    RESOLVE(prctl);
    GUARD(prctl, NULL, -1);
    return real_prctl(option, a, b, c, d);
}

EXPORT int open(const char *path, int flags, ...)
{
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, unsigned int);
        va_end(ap);
    }
    RESOLVE(open);
    GUARD(open, path, -1);
    return real_open(path, flags, mode);
}

EXPORT int openat(int dirfd, const char *path, int flags, ...)
{
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, unsigned int);
        va_end(ap);
    }
    RESOLVE(openat);
    GUARD(openat, path, -1);
    return real_openat(dirfd, path, flags, mode);
}

EXPORT int fcntl(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    unsigned long arg = va_arg(ap, unsigned long);
    va_end(ap);
    RESOLVE(fcntl);
    /* The command is the "path" of a call: cmd=1030 is F_DUPFD_CLOEXEC. */
    struct line what = {.len = 0};
    put_raw(&what, "cmd=");
    put_long(&what, cmd);
    what.buf[what.len] = '\0';
    GUARD(fcntl, what.buf, -1);
    return real_fcntl(fd, cmd, arg);
}

EXPORT struct passwd *getpwnam(const char *name)
{
    RESOLVE(getpwnam);
    GUARD(getpwnam, name, NULL);
    return real_getpwnam(name);
}

EXPORT struct group *getgrnam(const char *name)
{
    RESOLVE(getgrnam);
    GUARD(getgrnam, name, NULL);
    return real_getgrnam(name);
}

EXPORT int getpwuid_r(uid_t uid, struct passwd *pw, char *buf, size_t size, struct passwd **res)
{
    RESOLVE(getpwuid_r);
    int g = intercept(F_getpwuid_r, NULL);
    if (g) {
        int e = g == 1 ? errno : 0;
        *res = NULL;
        return e;
    }
    return real_getpwuid_r(uid, pw, buf, size, res);
}

EXPORT long syscall(long number, ...)
{
    va_list ap;
    va_start(ap, number);
    long a = va_arg(ap, long), b = va_arg(ap, long), c = va_arg(ap, long), d = va_arg(ap, long),
         e = va_arg(ap, long), f = va_arg(ap, long);
    va_end(ap);
    RESOLVE(syscall);
    int func = F_syscall;
    const char *path = NULL;
    switch (number) {
    case SYS_pidfd_open:
        func = F_pidfd_open;
        break;
    case SYS_pidfd_send_signal:
        func = F_pidfd_send_signal;
        break;
    case SYS_close_range:
        func = F_close_range;
        break;
    case SYS_getdents64:
        func = F_getdents64;
        break;
    case SYS_openat2:
        func = F_openat2;
        path = (const char *)b;
        break;
    default:
        break;
    }
    int g = intercept(func, path);
    if (g == 1)
        return -1;
    if (g == 2)
        return 0;
    return real_syscall(number, a, b, c, d, e, f);
}
