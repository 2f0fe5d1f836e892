/* rel_common.c - see rel_common.h. */
#include "rel_common.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static const char *env_path(const char *name, bool required)
{
    const char *p = getenv(name);
    if ((!p || !*p) && required)
        TU_FAIL("$%s is not set (CTest sets it)", name);
    return p && *p ? p : NULL;
}

int rel_pidfd_open(pid_t pid)
{
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

int rel_pidfd_signal(int pidfd, int signo)
{
    return (int)syscall(SYS_pidfd_send_signal, pidfd, signo, NULL, 0);
}

static int close_range_(unsigned from, unsigned to, unsigned flags)
{
    return (int)syscall(SYS_close_range, from, to, flags);
}

const char *rel_cli(void) { return env_path("DAEMONCTX", true); }
const char *rel_prog(void) { return env_path("DCX_CLI_PROG", true); }
const char *rel_helper(void) { return env_path("DCX_HELPER", true); }
const char *rel_shim(void) { return env_path("DCX_FAULTSHIM", false); }
bool rel_is_root(void) { return geteuid() == 0; }

/* ------------------------------------------------------------ commands */

void rel_cmd_init(rel_cmd *c, const char *program)
{
    memset(c, 0, sizeof *c);
    c->argv[c->argc++] = program;
    c->event_fd = -1;
    c->extra_fd = -1;
}

void rel_arg(rel_cmd *c, const char *fmt, ...)
{
    if (c->argc + 1 >= sizeof c->argv / sizeof c->argv[0])
        TU_FAIL("too many arguments");
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        TU_FAIL("vasprintf");
    va_end(ap);
    c->argv[c->argc++] = tu_strdup(s);
    free(s);
    c->argv[c->argc] = NULL;
}

void rel_env(rel_cmd *c, const char *assignment)
{
    if (c->nenv == sizeof c->env / sizeof c->env[0])
        TU_FAIL("too many environment entries");
    c->env[c->nenv++] = tu_strdup(assignment);
}

static bool env_overridden(const rel_cmd *c, const char *entry)
{
    static const char *const dropped[] = {"NOTIFY_SOCKET=", "INVOCATION_ID=", "LISTEN_PID=", "LISTEN_FDS=",
                                          "LISTEN_FDNAMES="};
    for (size_t i = 0; i < sizeof dropped / sizeof dropped[0]; i++)
        if (strncmp(entry, dropped[i], strlen(dropped[i])) == 0)
            return true;
    const char *eq = strchr(entry, '=');
    size_t nl = eq ? (size_t)(eq - entry) : strlen(entry);
    for (size_t i = 0; i < c->nenv; i++)
        if (strncmp(c->env[i], entry, nl) == 0 && c->env[i][nl] == '=')
            return true;
    return false;
}

__attribute__((noreturn)) static void child_fail(int fd, const char *what)
{
    int e = errno;
    char msg[128];
    int n = snprintf(msg, sizeof msg, "%s: %s", what, strerror(e));
    if (n > 0 && write(fd, msg, (size_t)n) < 0) {
        /* nothing to do */
    }
    _exit(127);
}

rel_proc rel_spawn(const rel_cmd *c)
{
    int out[2], err[2], exe[2];
    TU_SYS(pipe2(out, O_CLOEXEC));
    TU_SYS(pipe2(err, O_CLOEXEC));
    TU_SYS(pipe2(exe, O_CLOEXEC));
    (void)fflush(NULL);
    rel_proc p = {.pid = -1, .pidfd = -1, .out = out[0], .err = err[0], .started_ms = tu_now_ms()};
    pid_t pid = fork();
    if (pid < 0)
        TU_FAIL("fork: %s", strerror(errno));
    if (pid == 0) {
        /* A session of its own: a command that signals its process group
         * (kill(0, ...)) must not take the test and CTest with it. */
        (void)setsid();
        int floor_fd = 64;
        int src[5] = {-1, out[1], err[1], c->event_fd, c->extra_fd};
        int dst[5] = {0, 1, 2, REL_EVENT_FD, c->extra_fd >= 0 ? c->extra_fd_num : -1};
        int report = fcntl(exe[1], F_DUPFD_CLOEXEC, floor_fd);
        if (report < 0)
            child_fail(exe[1], "dup");
        src[0] = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (src[0] < 0)
            child_fail(report, "open /dev/null");
        /* Sources above every target first, then onto the targets. */
        for (int i = 0; i < 5; i++)
            if (src[i] >= 0 && (src[i] = fcntl(src[i], F_DUPFD_CLOEXEC, floor_fd)) < 0)
                child_fail(report, "dup");
        for (int i = 0; i < 5; i++)
            if (src[i] >= 0 && dst[i] >= 0 && dup2(src[i], dst[i]) < 0)
                child_fail(report, "dup2");
        /* Every other fd from 3 up goes at exec (the exec report too). */
        unsigned from = 3;
        for (int fd = 3; fd < floor_fd; fd++) {
            bool keep = (fd == REL_EVENT_FD && c->event_fd >= 0) || (c->extra_fd >= 0 && fd == dst[4]);
            if (!keep)
                continue;
            if ((unsigned)fd > from)
                (void)close_range_(from, (unsigned)fd - 1, 4u /* CLOSE_RANGE_CLOEXEC */);
            from = (unsigned)fd + 1;
        }
        (void)close_range_(from, ~0U, 4u /* CLOSE_RANGE_CLOEXEC */);
        for (int sig = 1; sig < NSIG; sig++) {
            if (sig == SIGKILL || sig == SIGSTOP)
                continue;
            struct sigaction sa;
            memset(&sa, 0, sizeof sa);
            sa.sa_handler = SIG_DFL;
            (void)sigaction(sig, &sa, NULL);
        }
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        size_t n = 0;
        while (environ[n])
            n++;
        char **envp = calloc(n + c->nenv + 1, sizeof *envp);
        if (!envp)
            child_fail(report, "calloc");
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (!env_overridden(c, environ[i]))
                envp[k++] = environ[i];
        for (size_t i = 0; i < c->nenv; i++)
            envp[k++] = (char *)(uintptr_t)c->env[i];
        envp[k] = NULL;
        char *argv[64];
        for (size_t i = 0; i <= c->argc; i++)
            argv[i] = (char *)(uintptr_t)c->argv[i];
        argv[c->argc] = NULL;
        execve(argv[0], argv, envp);
        child_fail(report, "execve");
    }
    close(out[1]);
    close(err[1]);
    close(exe[1]);
    p.pid = pid;
    char msg[160];
    ssize_t n;
    do
        n = read(exe[0], msg, sizeof msg - 1);
    while (n < 0 && errno == EINTR);
    close(exe[0]);
    if (n > 0) {
        msg[n] = 0;
        int st;
        waitpid(pid, &st, 0);
        TU_FAIL("spawning %s: %s", c->argv[0], msg);
    }
    p.pidfd = TU_FD(rel_pidfd_open(pid));
    return p;
}

static char *collect(int fd)
{
    size_t cap = 1024, len = 0;
    char *buf = malloc(cap);
    if (!buf)
        TU_FAIL("malloc");
    int fl = fcntl(fd, F_GETFL);
    (void)fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    for (;;) {
        if (len + 256 > cap) {
            cap *= 2;
            char *nb = realloc(buf, cap);
            if (!nb)
                TU_FAIL("realloc");
            buf = nb;
        }
        ssize_t n = read(fd, buf + len, cap - len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    buf[len] = 0;
    char *r = tu_strdup(buf);
    free(buf);
    close(fd);
    return r;
}

const char *rel_context;
bool rel_soft_timeouts;

rel_result rel_finish(rel_proc *p, int64_t deadline_ms, int fd, void (*poll_fn)(void *), void *arg)
{
    rel_result r;
    memset(&r, 0, sizeof r);
    for (;;) {
        struct pollfd pf[2] = {{.fd = p->pidfd, .events = POLLIN}, {.fd = fd, .events = POLLIN}};
        int64_t left = deadline_ms - tu_now_ms();
        if (left < 0)
            left = 0;
        int n = poll(pf, fd >= 0 ? 2 : 1, (int)left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            TU_FAIL("poll: %s", strerror(errno));
        if (n == 0) {
            (void)kill(p->pid, SIGKILL);
            if (!rel_soft_timeouts)
                TU_FAIL("%d (%s) did not exit in time; killed", (int)p->pid, rel_context ? rel_context : "command");
            r.timed_out = true;
            break;
        }
        if (fd >= 0 && (pf[1].revents & POLLIN) && poll_fn)
            poll_fn(arg);
        if (pf[0].revents & POLLIN)
            break;
    }
    int st;
    while (waitpid(p->pid, &st, 0) < 0) {
        if (errno != EINTR)
            TU_FAIL("waitpid %d: %s", (int)p->pid, strerror(errno));
    }
    close(p->pidfd);
    p->pidfd = -1;
    r.code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    r.elapsed_ms = tu_now_ms() - p->started_ms;
    r.out = collect(p->out);
    r.err = collect(p->err);
    p->out = p->err = -1;
    if (fd >= 0 && poll_fn)
        poll_fn(arg);
    return r;
}

rel_result rel_run(const rel_cmd *c)
{
    rel_proc p = rel_spawn(c);
    return rel_finish(&p, tu_now_ms() + tu_timeout_ms(), -1, NULL, NULL);
}

bool rel_one_line(const char *s)
{
    size_t len = strlen(s);
    return len > 1 && s[len - 1] == '\n' && memchr(s, '\n', len - 1) == NULL;
}


/* --------------------------------------------------------- processes */

static bool read_stat(pid_t pid, char *state, pid_t *ppid)
{
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
    int pp;
    if (!p || sscanf(p + 1, " %c %d", state, &pp) != 2)
        return false;
    *ppid = pp;
    return true;
}

pid_t rel_parent_of(pid_t pid)
{
    char st;
    pid_t pp;
    return read_stat(pid, &st, &pp) ? pp : 0;
}

char rel_state_of(pid_t pid)
{
    char st;
    pid_t pp;
    return read_stat(pid, &st, &pp) ? st : 0;
}

long rel_uid_of(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    char *text = tu_read_file(path);
    if (!text)
        return -1;
    char *u = strstr(text, "\nUid:");
    return u ? strtol(u + 5, NULL, 10) : -1;
}

size_t rel_descendants(rel_desc *out, size_t max)
{
    enum { MAXP = 4096 };
    static pid_t pids[MAXP], ppids[MAXP];
    static char states[MAXP];
    size_t n = 0;
    DIR *d = opendir("/proc");
    if (!d)
        TU_FAIL("opendir /proc: %s", strerror(errno));
    struct dirent *e;
    while ((e = readdir(d)) && n < MAXP) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        pid_t pid = (pid_t)atoi(e->d_name);
        if (read_stat(pid, &states[n], &ppids[n]))
            pids[n++] = pid;
    }
    closedir(d);
    pid_t me = getpid();
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        pid_t p = ppids[i];
        bool mine = false;
        for (int hop = 0; hop < 64 && p > 1; hop++) {
            if (p == me) {
                mine = true;
                break;
            }
            size_t j;
            for (j = 0; j < n && pids[j] != p; j++)
                ;
            if (j == n)
                break;
            p = ppids[j];
        }
        if (!mine || pids[i] == me || k >= max)
            continue;
        /* A process whose memory is gone (empty cmdline) is exiting: it runs
         * nothing and holds nothing any more; count it with the zombies. */
        char c = states[i];
        if (c != 'Z') {
            char path[64], ch;
            snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pids[i]);
            int fd = open(path, O_RDONLY | O_CLOEXEC);
            if (fd < 0 || read(fd, &ch, 1) <= 0)
                c = 'Z';
            if (fd >= 0)
                close(fd);
        }
        out[k++] = (rel_desc){pids[i], c};
    }
    return k;
}

static const char *cmdline(pid_t pid)
{
    char *s = tu_read_file(tu_fmt("/proc/%d/cmdline", (int)pid));
    if (!s)
        return "?";
    return s;
}

void rel_assert_nothing_left(const pid_t *allowed, size_t nallowed, const char *context)
{
    rel_desc d[256];
    size_t n = rel_descendants(d, 256);
    char list[1024] = "";
    size_t len = 0, bad = 0;
    for (size_t i = 0; i < n; i++) {
        bool ok = false;
        for (size_t j = 0; j < nallowed; j++)
            ok |= d[i].pid == allowed[j];
        if (ok || d[i].state == 'Z')
            continue;
        bad++;
        if (len < sizeof list - 80)
            len += (size_t)snprintf(list + len, sizeof list - len, " %d[%c](%s uid %ld)", (int)d[i].pid,
                                    d[i].state, cmdline(d[i].pid), rel_uid_of(d[i].pid));
    }
    if (bad)
        TU_FAIL("%s: processes left behind:%s", context, list);
}

bool rel_wait_gone(pid_t pid, int ms)
{
    int fd = rel_pidfd_open(pid);
    if (fd < 0)
        return true;
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    int64_t deadline = tu_now_ms() + ms;
    int r;
    do {
        int64_t left = deadline - tu_now_ms();
        r = poll(&pf, 1, left < 0 ? 0 : (int)left);
    } while (r < 0 && errno == EINTR);
    close(fd);
    if (r <= 0)
        return false;
    if (rel_parent_of(pid) == getpid())
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
    return true;
}

void rel_kill_all_except(const pid_t *allowed, size_t nallowed)
{
    int64_t deadline = tu_now_ms() + tu_timeout_ms();
    for (;;) {
        rel_desc d[256];
        size_t n = rel_descendants(d, 256), left = 0;
        for (size_t i = 0; i < n; i++) {
            bool ok = false;
            for (size_t j = 0; j < nallowed; j++)
                ok |= d[i].pid == allowed[j];
            if (ok)
                continue;
            left++;
            (void)kill(d[i].pid, SIGKILL);
            if (rel_parent_of(d[i].pid) == getpid())
                while (waitpid(d[i].pid, NULL, 0) < 0 && errno == EINTR)
                    ;
            else
                (void)rel_wait_gone(d[i].pid, 1000);
        }
        if (!left)
            return;
        if (tu_now_ms() > deadline)
            TU_FAIL("cannot get rid of the processes left behind");
    }
}

/* ----------------------------------------------------------- pidfiles */

pid_t rel_flock_holder(const char *path)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return -1;
    FILE *f = fopen("/proc/locks", "re");
    if (!f)
        TU_FAIL("/proc/locks: %s", strerror(errno));
    char line[256];
    pid_t holder = 0;
    while (fgets(line, sizeof line, f)) {
        char kind[16], arrow[4];
        long pid;
        unsigned maj, min;
        unsigned long long ino;
        if (sscanf(line, "%*d: %3s", arrow) == 1 && strcmp(arrow, "->") == 0)
            continue;
        if (sscanf(line, "%*d: %15s %*s %*s %ld %x:%x:%llu", kind, &pid, &maj, &min, &ino) != 5)
            continue;
        if (strcmp(kind, "FLOCK") == 0 && maj == major(st.st_dev) && min == minor(st.st_dev) &&
            ino == (unsigned long long)st.st_ino)
            holder = pid > 0 ? (pid_t)pid : 1;
    }
    fclose(f);
    return holder;
}

void rel_dump_state(pid_t pid, const char *path)
{
    struct stat st;
    if (lstat(path, &st) == 0)
        tu_log("state: %s is inode %lu, \"%s\"", path, (unsigned long)st.st_ino,
               tu_read_file(path) ? tu_read_file(path) : "?");
    else
        tu_log("state: %s: %s", path, strerror(errno));
    char *locks = tu_read_file("/proc/locks");
    tu_log("state: /proc/locks: %s", locks ? locks : "?");
    if (pid <= 0)
        return;
    char *dir = tu_fmt("/proc/%d/fd", (int)pid);
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char target[256] = "";
        ssize_t n = readlink(tu_fmt("%s/%s", dir, e->d_name), target, sizeof target - 1);
        target[n > 0 ? n : 0] = 0;
        char *info = tu_read_file(tu_fmt("/proc/%d/fdinfo/%s", (int)pid, e->d_name));
        const char *lock = info ? strstr(info, "lock:") : NULL;
        tu_log("state: %d fd %s -> %s %s", (int)pid, e->d_name, target, lock ? lock : "");
    }
    closedir(d);
}

pid_t rel_pidfile_pid(const char *path)
{
    char *s = tu_read_file(path);
    if (!s)
        return -1;
    char *end;
    long v = strtol(s, &end, 10);
    return v > 0 && strcmp(end, "\n") == 0 ? (pid_t)v : 0;
}

rel_snap rel_snapshot(const char *path)
{
    rel_snap s;
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

void rel_assert_unchanged(const rel_snap *b, const char *path)
{
    rel_snap a = rel_snapshot(path);
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

char *rel_dir_listing(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return tu_fmt("(cannot open %s: %s)", dir, strerror(errno));
    char *names[512];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 512)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            names[n++] = tu_strdup(e->d_name);
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    size_t len = 1;
    for (size_t i = 0; i < n; i++)
        len += strlen(names[i]) + 1;
    char *out = tu_fmt("%*s", (int)len, "");
    out[0] = 0;
    for (size_t i = 0; i < n; i++) {
        strcat(out, names[i]);
        strcat(out, "\n");
    }
    return out;
}

pid_t rel_start_cli_daemon(const char *pidfile)
{
    rel_cmd c;
    rel_cmd_init(&c, rel_cli());
    rel_arg(&c, "start");
    rel_arg(&c, "--pidfile=%s", pidfile);
    rel_arg(&c, "--");
    rel_arg(&c, "%s", rel_prog());
    rel_result r = rel_run(&c);
    if (r.code != 0)
        TU_FAIL("starting a daemon on %s: exit %d: %s", pidfile, r.code, r.err);
    pid_t pid = rel_pidfile_pid(pidfile);
    TU_ASSERT_MSG(pid > 0, "no PID in %s after a start", pidfile);
    TU_ASSERT_MSG(rel_parent_of(pid) == getpid(), "daemon %d is not the test's child", (int)pid);
    tu_track_pid(pid);
    return pid;
}

pid_t rel_hold_lock(const char *path, const char *content)
{
    int p[2];
    TU_SYS(pipe2(p, O_CLOEXEC));
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
    close(p[1]);
    char ch;
    ssize_t n;
    do
        n = read(p[0], &ch, 1);
    while (n < 0 && errno == EINTR);
    close(p[0]);
    if (n != 1)
        TU_FAIL("the lock holder could not lock %s", path);
    tu_track_pid(pid);
    return pid;
}

/* ------------------------------------------------- the fault channel */

/* Every channel's event buffer, also reachable from here: a channel lives in
 * a test's stack frame, and LeakSanitizer must not count a test that returns
 * without closing it. */
static rel_event *chan_buffers[256];

void rel_chan_open(rel_chan *ch)
{
    static unsigned seq;
    memset(ch, 0, sizeof *ch);
    if (seq >= sizeof chan_buffers / sizeof chan_buffers[0])
        TU_FAIL("too many fault channels");
    ch->slot = seq;
    snprintf(ch->name, sizeof ch->name, "dcx-rel-%d-%u", (int)getpid(), seq++);
    ch->fd = TU_FD(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    int size = 4 << 20;
    (void)setsockopt(ch->fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size);
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    memcpy(a.sun_path + 1, ch->name, strlen(ch->name));
    TU_SYS(bind(ch->fd, (struct sockaddr *)&a,
                (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(ch->name))));
}

void rel_chan_close(rel_chan *ch)
{
    if (ch->fd >= 0)
        close(ch->fd);
    ch->fd = -1;
    free(ch->ev);
    chan_buffers[ch->slot] = NULL;
    ch->ev = NULL;
    ch->n = ch->cap = 0;
}

void rel_chan_reset(rel_chan *ch)
{
    rel_chan_drain(ch);
    ch->n = 0;
}

void rel_chan_drain(rel_chan *ch)
{
    for (;;) {
        char buf[512];
        ssize_t n = recv(ch->fd, buf, sizeof buf - 1, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        buf[n] = 0;
        rel_event e;
        memset(&e, 0, sizeof e);
        int pid;
        if (sscanf(buf, "%7s %d %d %23s %u %159s", e.kind, &pid, &e.depth, e.func, &e.nth, e.extra) < 5)
            continue;
        e.pid = pid;
        if (ch->n == ch->cap) {
            ch->cap = ch->cap ? ch->cap * 2 : 256;
            rel_event *nv = realloc(ch->ev, ch->cap * sizeof *nv);
            if (!nv)
                TU_FAIL("realloc");
            ch->ev = nv;
            chan_buffers[ch->slot] = nv;
        }
        ch->ev[ch->n++] = e;
    }
}

void rel_chan_drain_cb(void *ch)
{
    rel_chan_drain(ch);
}

const rel_event *rel_chan_wait(rel_chan *ch, const char *kind, int64_t deadline_ms)
{
    size_t from = 0;
    for (;;) {
        rel_chan_drain(ch);
        for (size_t i = from; i < ch->n; i++)
            if (strcmp(ch->ev[i].kind, kind) == 0)
                return &ch->ev[i];
        from = ch->n;
        int64_t left = deadline_ms - tu_now_ms();
        if (left <= 0)
            return NULL;
        struct pollfd pf = {.fd = ch->fd, .events = POLLIN};
        (void)poll(&pf, 1, (int)left);
    }
}

void rel_resume(const rel_chan *ch, pid_t pid)
{
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    int n = snprintf(a.sun_path + 1, sizeof a.sun_path - 1, "%s.%d", ch->name, (int)pid);
    int fd = TU_FD(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    /* ECONNREFUSED: the paused process is gone already (a racing stop
     * killed it), so there is nothing left to resume. */
    if (sendto(fd, "go", 2, 0, (struct sockaddr *)&a, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n)) <
            0 &&
        errno != ECONNREFUSED)
        TU_FAIL("resuming %d: %s", (int)pid, strerror(errno));
    close(fd);
}

size_t rel_chan_hits(const rel_chan *ch)
{
    size_t n = 0;
    for (size_t i = 0; i < ch->n; i++)
        n += strcmp(ch->ev[i].kind, "hit") == 0;
    return n;
}

void rel_fault_env(rel_cmd *c, const rel_chan *ch, const char *rules, bool trace, bool usr1)
{
    const char *shim = rel_shim();
    if (!shim)
        tu_skip("the fault shim is not built");
    rel_env(c, tu_fmt("LD_PRELOAD=%s", shim));
    const char *asan = getenv("ASAN_OPTIONS");
    /* A sanitized program refuses a preloaded library ahead of its runtime
     * unless told otherwise. */
    rel_env(c, tu_fmt("ASAN_OPTIONS=%s%sverify_asan_link_order=0", asan ? asan : "", asan && *asan ? ":" : ""));
    if (rules && *rules)
        rel_env(c, tu_fmt("DCX_FAULT=%s", rules));
    if (ch)
        rel_env(c, tu_fmt("DCX_FAULT_SOCK=%s", ch->name));
    if (trace)
        rel_env(c, "DCX_FAULT_TRACE=1");
    if (usr1)
        rel_env(c, "DCX_FAULT_USR1=1");
}

/* ------------------------------------------------------------ misc */

static const struct {
    const char *name;
    int value;
} errno_table[] = {
    {"EPERM", EPERM},   {"ENOENT", ENOENT},   {"ESRCH", ESRCH},   {"EINTR", EINTR},   {"EIO", EIO},
    {"E2BIG", E2BIG},   {"ENOEXEC", ENOEXEC}, {"EBADF", EBADF},   {"ECHILD", ECHILD}, {"EAGAIN", EAGAIN},
    {"ENOMEM", ENOMEM}, {"EACCES", EACCES},   {"EBUSY", EBUSY},   {"EEXIST", EEXIST}, {"ENOTDIR", ENOTDIR},
    {"EISDIR", EISDIR}, {"EINVAL", EINVAL},   {"ENFILE", ENFILE}, {"EMFILE", EMFILE}, {"ETXTBSY", ETXTBSY},
    {"EFBIG", EFBIG},   {"ENOSPC", ENOSPC},   {"EROFS", EROFS},   {"EMLINK", EMLINK}, {"EPIPE", EPIPE},
    {"ENOLCK", ENOLCK}, {"ENOSYS", ENOSYS},   {"ELOOP", ELOOP},   {"ENOBUFS", ENOBUFS},
    {"EADDRINUSE", EADDRINUSE}, {"ECONNREFUSED", ECONNREFUSED}, {"ECONNRESET", ECONNRESET},
    {"ENAMETOOLONG", ENAMETOOLONG}, {"EDQUOT", EDQUOT}, {"ETIMEDOUT", ETIMEDOUT},
};

const char *rel_errno_name(int e)
{
    for (size_t i = 0; i < sizeof errno_table / sizeof errno_table[0]; i++)
        if (errno_table[i].value == e)
            return errno_table[i].name;
    return tu_fmt("%d", e);
}

int rel_errno_value(const char *name)
{
    for (size_t i = 0; i < sizeof errno_table / sizeof errno_table[0]; i++)
        if (strcmp(errno_table[i].name, name) == 0)
            return errno_table[i].value;
    return atoi(name);
}

static struct {
    const char *what;
    long n;
} counts[32];
static size_t ncounts;

void rel_count(const char *what, long n)
{
    for (size_t i = 0; i < ncounts; i++)
        if (strcmp(counts[i].what, what) == 0) {
            counts[i].n += n;
            return;
        }
    if (ncounts < sizeof counts / sizeof counts[0])
        {
        counts[ncounts].what = what;
        counts[ncounts++].n = n;
    }
}

void rel_print_counts(void)
{
    char line[1024] = "";
    size_t len = 0;
    for (size_t i = 0; i < ncounts && len < sizeof line - 64; i++)
        len += (size_t)snprintf(line + len, sizeof line - len, "%s%s=%ld", i ? ", " : "", counts[i].what,
                                counts[i].n);
    tu_log("figures: %s", line);
}
