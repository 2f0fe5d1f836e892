/* A daemon's process tree, for stop and status: found from its pidfile,
 * ended, and what its start made (cgroup, runtime directory) removed.
 *
 * The cgroup: the one the pidfile's mark names (mark.c), or, without one,
 * the cgroup the daemon's PID is in, or the one a start from here would
 * have made; in each case used only if its name is the pidfile's and it
 * bears the pidfile's mark (nothing kills a cgroup daemonctx did not make
 * for this pidfile). Without one (no cgroup v2, --cgroup=none, systemd
 * without delegation): the daemon's descendants, taken when the tree is
 * opened (before the daemon is signalled, while they are still its
 * descendants), its process group and its session (those that are the
 * daemon's: not ours, not one whose leader lives outside the tree), and
 * whatever descends from those. Ending that is: SIGSTOP each until no new
 * one appears (a stopped process forks no more), then SIGKILL, then wait for
 * each (pidfds). A process identified by PID is checked against its start
 * time, so a reused PID is never signalled. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

struct member {
    pid_t pid;
    unsigned long long start;
};

struct daemonctx_tree {
    char pidfile[PATH_MAX]; /* canonical */
    pid_t pid;
    char *cgroup;  /* its directory, or NULL */
    bool verified; /* the cgroup bears the pidfile's mark */
    bool has_rundir;
    char rundir[PATH_MAX];
    dev_t rundir_dev;
    ino_t rundir_ino;
    /* without a cgroup */
    struct member *members;
    size_t n_members;
    pid_t sid, pgid;
    bool use_sid, use_pgid;
};

/* -------------------------------------------------------------- /proc */

struct pinfo {
    pid_t pid, ppid, pgrp, sid;
    unsigned long long start;
    char state;
};

static bool read_pinfo(int procfd, const char *name, struct pinfo *p)
{
    char path[64], buf[1024];
    (void)snprintf(path, sizeof path, "%s/stat", name);
    int fd = openat(procfd, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    dcx_close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    const char *q = strrchr(buf, ')');
    if (!q)
        return false;
    p->pid = (pid_t)atol(buf);
    p->state = q[2];
    /* fields after the state: ppid pgrp session tty tpgid flags minflt
     * cminflt majflt cmajflt utime stime cutime cstime priority nice
     * num_threads itrealvalue starttime */
    unsigned long long v[19];
    const char *s = q + 3;
    for (int i = 0; i < 19; i++) {
        char *end;
        while (*s == ' ')
            s++;
        v[i] = strtoull(s, &end, 10);
        if (end == s && *s != '-')
            return false;
        if (*s == '-') { /* tty or tpgid -1 */
            (void)strtoll(s, &end, 10);
            v[i] = 0;
        }
        s = end;
    }
    p->ppid = (pid_t)v[0];
    p->pgrp = (pid_t)v[1];
    p->sid = (pid_t)v[2];
    p->start = v[18];
    return true;
}

static int by_pid(const void *a, const void *b)
{
    pid_t x = ((const struct pinfo *)a)->pid, y = ((const struct pinfo *)b)->pid;
    return (x > y) - (x < y);
}

/* Every process, sorted by PID, through PROCFD (-1: /proc). */
static int scan_at(int fd, struct pinfo **out, size_t *count)
{
    int procfd = fd >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (procfd < 0)
        return -errno;
    /* The same fd may be read again: from its start. */
    (void)lseek(procfd, 0, SEEK_SET);
    int copy = fcntl(procfd, F_DUPFD_CLOEXEC, 0);
    DIR *d = copy >= 0 ? fdopendir(copy) : NULL;
    if (!d) {
        int e = errno;
        if (copy >= 0)
            dcx_close(copy);
        dcx_close(procfd);
        return -e;
    }
    size_t n = 0, cap = 256;
    struct pinfo *all = malloc(cap * sizeof *all);
    struct dirent *e;
    while (all && (e = readdir(d))) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        if (n == cap) {
            struct pinfo *bigger = realloc(all, (cap *= 2) * sizeof *all);
            if (!bigger) {
                free(all);
                all = NULL;
                break;
            }
            all = bigger;
        }
        if (read_pinfo(procfd, e->d_name, &all[n]))
            n++;
    }
    closedir(d);
    dcx_close(procfd);
    if (!all)
        return -ENOMEM;
    qsort(all, n, sizeof *all, by_pid);
    *out = all;
    *count = n;
    return 0;
}

static int scan(struct pinfo **out, size_t *count)
{
    return scan_at(-1, out, count);
}

static const struct pinfo *find(const struct pinfo *all, size_t n, pid_t pid)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (all[mid].pid == pid)
            return &all[mid];
        if (all[mid].pid < pid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static bool listed(const struct member *m, size_t n, const struct pinfo *p)
{
    for (size_t i = 0; i < n; i++)
        if (m[i].pid == p->pid && m[i].start == p->start)
            return true;
    return false;
}

/* Never ours: this process, its ancestors, init and the kernel's threads. */
static void mark_untouchable(const struct pinfo *all, size_t n, bool *never)
{
    for (size_t i = 0; i < n; i++)
        never[i] = all[i].pid <= 2 || all[i].ppid == 2;
    for (pid_t p = getpid(); p > 1;) {
        const struct pinfo *me = find(all, n, p);
        if (!me)
            break;
        never[me - all] = true;
        p = me->ppid;
    }
}

/* IN: the tree: listed members, the session and group if used, and all
 * that descends from those. */
static void tree_members(const daemonctx_tree *t, const struct member *extra, size_t n_extra, const struct pinfo *all,
                         size_t n, bool *in)
{
    bool *never = calloc(n ? n : 1, sizeof *never);
    if (!never) {
        memset(in, 0, n * sizeof *in);
        return;
    }
    mark_untouchable(all, n, never);
    for (size_t i = 0; i < n; i++)
        in[i] = !never[i] && (listed(t->members, t->n_members, &all[i]) || listed(extra, n_extra, &all[i]) ||
                              (t->use_sid && all[i].sid == t->sid) || (t->use_pgid && all[i].pgrp == t->pgid));
    for (bool more = true; more;) {
        more = false;
        for (size_t i = 0; i < n; i++) {
            if (in[i] || never[i])
                continue;
            const struct pinfo *parent = find(all, n, all[i].ppid);
            if (parent && in[parent - all])
                in[i] = more = true;
        }
    }
    free(never);
}

/* The snapshot: PID and its descendants now; its session and process group
 * when they are its own (not ours, led by nobody outside the tree). */
static int snapshot(daemonctx_tree *t)
{
    struct pinfo *all;
    size_t n;
    int r = scan(&all, &n);
    if (r < 0)
        return r;
    const struct pinfo *root = find(all, n, t->pid);
    bool *in = calloc(n ? n : 1, sizeof *in);
    if (!in) {
        free(all);
        return -ENOMEM;
    }
    if (root && root->state != 'Z' && root->state != 'X') {
        struct member m = {root->pid, root->start};
        t->members = &m;
        t->n_members = 1;
        tree_members(t, NULL, 0, all, n, in);
        t->members = NULL;
        t->n_members = 0;
        t->sid = root->sid;
        t->pgid = root->pgrp;
        const struct pinfo *sl = find(all, n, root->sid), *gl = find(all, n, root->pgrp);
        t->use_sid = root->sid > 1 && root->sid != getsid(0) && (!sl || in[sl - all]);
        t->use_pgid = root->pgrp > 1 && root->pgrp != getpgrp() && (!gl || in[gl - all]);
        size_t count = 0;
        for (size_t i = 0; i < n; i++)
            count += in[i];
        t->members = malloc((count ? count : 1) * sizeof *t->members);
        if (!t->members) {
            r = -ENOMEM;
        } else {
            for (size_t i = 0; i < n; i++)
                if (in[i])
                    t->members[t->n_members++] = (struct member){all[i].pid, all[i].start};
        }
    }
    free(in);
    free(all);
    return r;
}

/* ------------------------------------------------------------- finding */

/* DIR, if it is the cgroup of this pidfile: 1 verified (marked), 2 only
 * by its name (the mark cannot be read here), 0 not it. */
static int check_cgroup(const daemonctx_tree *t, const char *dir)
{
    char name[NAME_MAX + 1];
    const char *base = strrchr(dir, '/');
    struct statfs fs;
    if (!base || dcx_cgroup_name(t->pidfile, name, sizeof name) < 0 || strcmp(base + 1, name) != 0 ||
        statfs(dir, &fs) < 0 || (unsigned long)fs.f_type != 0x63677270)
        return 0;
    int r = dcx_cgroup_marked_path(dir, t->pidfile);
    if (r == -ENOENT)
        return 0;
    return r == 1 ? 1 : r == 0 && dcx_capable(CAP_SYS_ADMIN) ? 0 : 2;
}

static bool try_cgroup(daemonctx_tree *t, const char *dir)
{
    int r = check_cgroup(t, dir);
    if (r == 0)
        return false;
    t->cgroup = strdup(dir);
    t->verified = r == 1;
    return t->cgroup != NULL;
}

/* Where the daemon's cgroup may be: the pidfile's mark, the daemon's own
 * cgroup, where a start from here would have made it. */
static void find_cgroup(daemonctx_tree *t, const char *pidfile)
{
    char dir[PATH_MAX], h[PATH_MAX] = "", mnt[PATH_MAX] = "", root[PATH_MAX] = "", name[NAME_MAX + 1];
    if (dcx_mark_get_path(pidfile, "cgroup", dir, sizeof dir) > 0 && try_cgroup(t, dir))
        return;
    if (dcx_cgroup_mount(mnt, sizeof mnt, root, sizeof root) < 0 || dcx_cgroup_name(t->pidfile, name, sizeof name) < 0)
        return;
    size_t rl = strcmp(root, "/") == 0 ? 0 : strlen(root);
    for (int i = 0; i < 2; i++) {
        if (dcx_cgroup_of(i == 0 ? t->pid : 0, h, sizeof h) < 0 || (i == 0 && t->pid <= 0))
            continue;
        if (rl && strncmp(h, root, rl) != 0)
            continue;
        const char *rest = strcmp(h + rl, "/") == 0 ? "" : h + rl;
        int n = i == 0 ? snprintf(dir, sizeof dir, "%s%s", mnt, rest)
                       : snprintf(dir, sizeof dir, "%s%s/%s", mnt, rest, name);
        if (n > 0 && (size_t)n < sizeof dir && try_cgroup(t, dir))
            return;
    }
}

daemonctx_tree *daemonctx_tree_open(const char *pidfile, pid_t pid, daemonctx_error *err)
{
    dcx_clear(err);
    if (!pidfile || !*pidfile || pid < 0) {
        dcx_fail(err, DAEMONCTX_STEP_OPTIONS, EINVAL, "daemonctx_tree_open() needs a pidfile and a PID >= 0");
        errno = EINVAL;
        return NULL;
    }
    daemonctx_tree *t = calloc(1, sizeof *t);
    if (!t) {
        dcx_fail(err, DAEMONCTX_STEP_OPTIONS, ENOMEM, "daemonctx_tree_open(): %m");
        errno = ENOMEM;
        return NULL;
    }
    t->pid = pid;
    int r = dcx_canonical_path(pidfile, t->pidfile, sizeof t->pidfile);
    if (r < 0) {
        dcx_fail(err, DAEMONCTX_STEP_PIDFILE, -r, "pidfile %s: %m", pidfile);
        free(t);
        errno = -r;
        return NULL;
    }
    /* The pidfile's marks, read by path (lgetxattr: a symbolic link's own). */
    t->has_rundir = dcx_rundir_marked(pidfile, t->rundir, sizeof t->rundir, &t->rundir_dev, &t->rundir_ino) == 1;
    find_cgroup(t, pidfile);
    if (!t->cgroup && pid > 0 && (r = snapshot(t)) < 0) {
        dcx_fail(err, DAEMONCTX_STEP_WAIT, -r, "cannot read the process tree of PID %d in /proc: %m", (int)pid);
        daemonctx_tree_free(t);
        errno = -r;
        return NULL;
    }
    return t;
}

const char *daemonctx_tree_cgroup(const daemonctx_tree *t)
{
    return t ? t->cgroup : NULL;
}

const char *daemonctx_tree_runtime_directory(const daemonctx_tree *t)
{
    return t && t->has_rundir ? t->rundir : NULL;
}

void daemonctx_tree_free(daemonctx_tree *t)
{
    if (!t)
        return;
    free(t->cgroup);
    free(t->members);
    free(t);
}

/* ------------------------------------------------------------- listing */

struct collect {
    pid_t *pids;
    size_t n, max;
};

static void collect_one(void *arg, pid_t pid)
{
    struct collect *c = arg;
    if (c->n < c->max)
        c->pids[c->n] = pid;
    c->n++;
}

int daemonctx_tree_pids(daemonctx_tree *t, pid_t *pids, size_t n, daemonctx_error *err)
{
    dcx_clear(err);
    if (!t || (n && !pids))
        return dcx_fail(err, DAEMONCTX_STEP_OPTIONS, EINVAL, "daemonctx_tree_pids() needs a tree");
    struct collect c = {pids, 0, n};
    if (t->cgroup) {
        int r = dcx_cgroup_each_process(t->cgroup, collect_one, &c);
        if (r < 0 && r != -ENOENT)
            return dcx_fail(err, DAEMONCTX_STEP_CGROUP, -r, "cannot read the processes of cgroup %s: %m", t->cgroup);
    } else if (t->n_members || t->use_sid || t->use_pgid) {
        struct pinfo *all;
        size_t count;
        int r = scan(&all, &count);
        if (r < 0)
            return dcx_fail(err, DAEMONCTX_STEP_WAIT, -r, "cannot read the process tree in /proc: %m");
        bool *in = calloc(count ? count : 1, sizeof *in);
        if (!in) {
            free(all);
            return dcx_fail(err, DAEMONCTX_STEP_WAIT, ENOMEM, "cannot list the process tree: %m");
        }
        tree_members(t, NULL, 0, all, count, in);
        for (size_t i = 0; i < count; i++)
            if (in[i] && all[i].state != 'Z' && all[i].state != 'X')
                collect_one(&c, all[i].pid);
        free(in);
        free(all);
    }
    return c.n > INT_MAX ? INT_MAX : (int)c.n;
}

/* -------------------------------------------------------------- ending */

/* Until PID has exited (a zombie counts) or DEADLINE: true when it has. */
static bool await_exit(pid_t pid, long long deadline)
{
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (fd >= 0) {
        int r = dcx_poll_one(fd, POLLIN, deadline);
        dcx_close(fd);
        return r == 1;
    }
    if (errno == ESRCH)
        return true;
    /* No pidfds (Linux < 5.3, seccomp): looked at every millisecond. */
    for (;;) {
        if (dcx_proc_ended(pid))
            return true;
        if (dcx_now_ms() >= deadline)
            return false;
        struct timespec ms = {0, 1000000};
        (void)nanosleep(&ms, NULL);
    }
}

/* The processes stopped so far, each known by PID and start time. */
struct stopped {
    struct member *v;
    size_t n, cap;
};

/* Stops the members of T's tree among ALL (N processes) not stopped yet:
 * how many it stopped, or -errno. */
static long stop_new_members(const daemonctx_tree *t, struct stopped *s, const struct pinfo *all, size_t n)
{
    bool *in = calloc(n ? n : 1, sizeof *in);
    if (!in)
        return -ENOMEM;
    tree_members(t, s->v, s->n, all, n, in);
    long added = 0;
    for (size_t i = 0; i < n; i++) {
        if (!in[i] || all[i].state == 'Z' || all[i].state == 'X' || listed(s->v, s->n, &all[i]))
            continue;
        if (s->n == s->cap) {
            size_t cap = s->cap ? s->cap * 2 : 64;
            struct member *bigger = realloc(s->v, cap * sizeof *s->v);
            if (!bigger) {
                added = -ENOMEM;
                break;
            }
            s->v = bigger;
            s->cap = cap;
        }
        (void)kill(all[i].pid, SIGSTOP);
        s->v[s->n++] = (struct member){all[i].pid, all[i].start};
        added++;
    }
    free(in);
    return added;
}

static int end_processes(daemonctx_tree *t, long long deadline, daemonctx_error *err)
{
    struct stopped s = {NULL, 0, 0};
    long r = 0;
    /* Stopped one by one until none is new: a stopped process forks no
     * more, so this ends; what a dying one had forked is caught next round. */
    for (int round = 0; round < 10000; round++) {
        struct pinfo *all;
        size_t n;
        if ((r = scan(&all, &n)) < 0)
            break;
        r = stop_new_members(t, &s, all, n);
        free(all);
        if (r <= 0)
            break;
    }
    for (size_t i = 0; i < s.n; i++)
        (void)kill(s.v[i].pid, SIGKILL);
    size_t left = 0;
    for (size_t i = 0; i < s.n; i++)
        left += !await_exit(s.v[i].pid, deadline);
    free(s.v);
    if (r < 0)
        return dcx_fail(err, DAEMONCTX_STEP_WAIT, (int)-r, "cannot end the process tree of PID %d: %m", (int)t->pid);
    if (left)
        return dcx_fail(err, DAEMONCTX_STEP_WAIT, ETIMEDOUT, "%d processes of the tree of PID %d still run after SIGKILL",
                        (int)left, (int)t->pid);
    return 0;
}

int daemonctx_tree_kill(daemonctx_tree *t, unsigned timeout_ms, daemonctx_error *err)
{
    dcx_clear(err);
    if (!t)
        return dcx_fail(err, DAEMONCTX_STEP_OPTIONS, EINVAL, "daemonctx_tree_kill() needs a tree");
    long long deadline = dcx_now_ms() + (timeout_ms ? timeout_ms : 5000);
    if (t->cgroup) {
        if (!t->verified)
            return dcx_fail(err, DAEMONCTX_STEP_CGROUP, EPERM,
                            "cannot tell that cgroup %s was made for pidfile %s (its mark cannot be read): not ending it",
                            t->cgroup, t->pidfile);
        return dcx_cgroup_end(t->cgroup, deadline, err);
    }
    if (t->n_members || t->use_sid || t->use_pgid)
        return end_processes(t, deadline, err);
    return 0;
}

int daemonctx_tree_remove_runtime_directory(daemonctx_tree *t, daemonctx_error *err)
{
    dcx_clear(err);
    if (!t)
        return dcx_fail(err, DAEMONCTX_STEP_OPTIONS, EINVAL, "daemonctx_tree_remove_runtime_directory() needs a tree");
    if (!t->has_rundir)
        return 0;
    int r = dcx_remove_directory(t->rundir, t->rundir_dev, t->rundir_ino, err);
    if (r == 0)
        t->has_rundir = false;
    return r;
}

/* ------------------------------------------------- from inside the daemon */

static void list_other(void *arg, pid_t pid)
{
    if (pid != getpid())
        collect_one(arg, pid);
}

/* The processes to end now: the rest of the cgroup (DIRFD), or without
 * one our descendants (found through PROCFD). */
static int others(daemonctx *ctx, struct collect *c)
{
    c->n = 0;
    if (ctx->cgroup_dir) {
        int r = ctx->tree_fd >= 0 ? dcx_cgroup_fd_each_process(ctx->tree_fd, list_other, c)
                                  : dcx_cgroup_each_process(ctx->cgroup_dir, list_other, c);
        return r;
    }
    struct pinfo *all = NULL;
    size_t n = 0;
    int r = scan_at(ctx->tree_fd, &all, &n);
    if (r < 0)
        return r;
    bool *in = calloc(n ? n : 1, sizeof *in);
    if (!in) {
        free(all);
        return -ENOMEM;
    }
    /* Our descendants: children first, then theirs, until none is new. */
    pid_t self = getpid();
    for (bool more = true; more;) {
        more = false;
        for (size_t i = 0; i < n; i++) {
            if (in[i] || all[i].pid == self)
                continue;
            const struct pinfo *parent = all[i].ppid == self ? NULL : find(all, n, all[i].ppid);
            if (all[i].ppid == self || (parent && in[parent - all]))
                in[i] = more = true;
        }
    }
    for (size_t i = 0; i < n; i++)
        if (in[i] && all[i].state != 'Z' && all[i].state != 'X')
            collect_one(c, all[i].pid);
    free(in);
    free(all);
    return 0;
}

int daemonctx_end_others(daemonctx *ctx, unsigned timeout_ms, daemonctx_error *err)
{
    dcx_clear(err);
    if (!ctx)
        return dcx_fail(err, DAEMONCTX_STEP_OPTIONS, EINVAL, "daemonctx_end_others() needs a context");
    long long deadline = dcx_now_ms() + (timeout_ms ? timeout_ms : 5000);
    pid_t buf[256];
    struct collect c = {buf, 0, sizeof buf / sizeof buf[0]};
    int r = 0;
    /* Rounds until none is left: what a dying one forked shows next time. */
    for (int round = 0; round < 10000; round++) {
        int status;
        while (waitpid(-1, &status, WNOHANG) > 0) /* the ended children */
            ;
        if ((r = others(ctx, &c)) < 0)
            break;
        if (c.n == 0)
            break;
        size_t n = c.n < c.max ? c.n : c.max;
        for (size_t i = 0; i < n; i++)
            (void)kill(buf[i], SIGKILL);
        for (size_t i = 0; i < n; i++)
            if (!await_exit(buf[i], deadline)) {
                r = -ETIMEDOUT;
                break;
            }
        if (r < 0)
            break;
    }
    int status;
    while (waitpid(-1, &status, WNOHANG) > 0)
        ;
    if (r == -ETIMEDOUT)
        return dcx_fail(err, DAEMONCTX_STEP_WAIT, ETIMEDOUT, "processes of daemon PID %d's tree still run after SIGKILL",
                        (int)getpid());
    if (r < 0)
        return dcx_fail(err, DAEMONCTX_STEP_WAIT, -r, "cannot list daemon PID %d's tree: %m", (int)getpid());
    return 0;
}
