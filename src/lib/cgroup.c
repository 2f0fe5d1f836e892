/* The daemon's cgroup (cgroup v2): what tracks its whole process tree, so
 * that stop finds every process it started, also those that left its
 * session or were orphaned.
 *
 * Where: the cgroup2 mount found in /proc/self/mountinfo (/sys/fs/cgroup on
 * unified hosts, /sys/fs/cgroup/unified on hybrid ones), under the caller's
 * own cgroup (DAEMONCTX_CGROUP_AUTO, where one can be made: not under
 * systemd without Delegate=yes, whose unit cgroup already tracks the tree)
 * or under a parent the caller names (DAEMONCTX_CGROUP_PARENT, an error
 * where it cannot be made). No controller is enabled anywhere, so the "no
 * internal processes" rule never bites.
 *
 * Named after the pidfile, so that stop can find it again:
 * "daemonctx-" + the pidfile's canonical path escaped as systemd-escape
 * --path does ("/run/web.pid" -> "daemonctx-run-web.pid"); and marked
 * (mark.c: "pidfile" = that path, in the trusted namespace for root), so that
 * nothing kills a cgroup daemonctx did not make for that pidfile.
 *
 * Made after the pidfile is locked (a running instance's cgroup is never
 * touched), entered by the daemon as its first step (writing "0" to its
 * cgroup.procs, opened before forking), removed by a failed start that made
 * it. Ending it: cgroup.kill (Linux 5.14), else freeze, SIGKILL each
 * process, thaw; then wait for "populated 0" in cgroup.events (POLLPRI)
 * and rmdir. Ending one also removes the empty cgroups of daemons that are
 * gone (marked, empty, their pidfile gone) next to it, so that daemons that
 * ended without a stop leave nothing behind for long. */
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
#include <sys/xattr.h>
#include <unistd.h>

#include "internal.h"

#define STEP DAEMONCTX_STEP_CGROUP
#define CGROUP2_MAGIC 0x63677270
#define PREFIX "daemonctx-"

/* ------------------------------------------------------------- where */

/* The mountinfo escapes: "\040" for a space and so on. */
static void unescape(char *s)
{
    char *o = s;
    for (char *p = s; *p; p++) {
        if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' && p[3] >= '0' && p[3] <= '7') {
            *o++ = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
            p += 3;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
}

static char *read_text(const char *path)
{
    int fd;
    do
        fd = open(path, O_RDONLY | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return NULL;
    size_t size = 8192, n = 0;
    char *buf = malloc(size);
    while (buf) {
        ssize_t k = read(fd, buf + n, size - n - 1);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            if (k < 0) {
                free(buf);
                buf = NULL;
            }
            break;
        }
        n += (size_t)k;
        if (n + 1 == size) {
            char *bigger = realloc(buf, size *= 2);
            if (!bigger)
                free(buf);
            buf = bigger;
        }
    }
    int e = errno;
    dcx_close(fd);
    if (buf)
        buf[n] = '\0';
    errno = e;
    return buf;
}

/* The cgroup2 mount point, and the hierarchy path of its root (ROOT, "/"
 * unless mounted from inside): 0, or -ENOENT when there is none. */
int dcx_cgroup_mount(char *mnt, size_t size, char *root, size_t rsize)
{
    char *text = read_text("/proc/self/mountinfo");
    if (!text)
        return -errno;
    int r = -ENOENT;
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        /* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER */
        char *f[64], *save = NULL;
        int n = 0, dash = -1;
        for (char *w = strtok_r(line, " ", &save); w && n < 64; w = strtok_r(NULL, " ", &save)) {
            if (dash < 0 && n >= 6 && strcmp(w, "-") == 0)
                dash = n;
            f[n++] = w;
        }
        if (dash < 0 || dash + 1 >= n || strcmp(f[dash + 1], "cgroup2") != 0)
            continue;
        unescape(f[3]);
        unescape(f[4]);
        if (strlen(f[4]) >= size || strlen(f[3]) >= rsize)
            continue;
        strcpy(mnt, f[4]);
        strcpy(root, f[3]);
        r = 0;
        if (strcmp(f[3], "/") == 0)
            break; /* the whole hierarchy: the best one */
    }
    free(text);
    return r;
}

/* PID's (0: ours) path in the cgroup v2 hierarchy, from its "0::" line. */
int dcx_cgroup_of(pid_t pid, char *path, size_t size)
{
    char file[48];
    if (pid > 0)
        (void)snprintf(file, sizeof file, "/proc/%d/cgroup", (int)pid);
    else
        (void)snprintf(file, sizeof file, "/proc/self/cgroup");
    char *text = read_text(file);
    if (!text)
        return errno == ENOENT && pid > 0 ? -ESRCH : -errno;
    int r = -ENOENT;
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        if (strncmp(line, "0::", 3) != 0)
            continue;
        r = strlen(line + 3) < size ? (strcpy(path, line + 3), 0) : -ENAMETOOLONG;
        break;
    }
    free(text);
    return r;
}

/* The directory of hierarchy path H under the mount. */
static int hierarchy_dir(const char *mnt, const char *root, const char *h, char *out, size_t size)
{
    size_t rl = strcmp(root, "/") == 0 ? 0 : strlen(root);
    if (rl && (strncmp(h, root, rl) != 0 || (h[rl] && h[rl] != '/')))
        return -ENOENT; /* outside what is mounted */
    const char *rest = h + rl;
    int n = snprintf(out, size, "%s%s%s", mnt, *rest && *rest != '/' ? "/" : "", strcmp(rest, "/") == 0 ? "" : rest);
    return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* "daemonctx-" + PIDFILE escaped as systemd-escape --path does; a name too
 * long for a directory keeps its head and ends with a hash of the whole. */
int dcx_cgroup_name(const char *pidfile, char *name, size_t size)
{
    static const char hex[] = "0123456789abcdef";
    char buf[PATH_MAX * 4 + 32];
    size_t n = 0;
    memcpy(buf, PREFIX, sizeof PREFIX - 1);
    n = sizeof PREFIX - 1;
    const char *p = pidfile;
    while (*p == '/')
        p++;
    for (bool first = true; *p && n + 5 < sizeof buf; p++, first = false) {
        unsigned char c = (unsigned char)*p;
        if (c == '/') {
            while (p[1] == '/')
                p++;
            buf[n++] = '-';
        } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == ':' ||
                   (c == '.' && !first)) {
            buf[n++] = (char)c;
        } else {
            buf[n++] = '\\';
            buf[n++] = 'x';
            buf[n++] = hex[c >> 4];
            buf[n++] = hex[c & 15];
        }
    }
    buf[n] = '\0';
    if (n > NAME_MAX) {
        unsigned long long h = 14695981039346656037ULL; /* FNV-1a of the whole path */
        for (const char *q = pidfile; *q; q++)
            h = (h ^ (unsigned char)*q) * 1099511628211ULL;
        size_t keep = NAME_MAX - 17;
        while (keep > 0 && (buf[keep - 1] == '\\' || (keep > 1 && buf[keep - 2] == '\\') ||
                            (keep > 2 && buf[keep - 3] == '\\'))) /* not through an escape */
            keep--;
        n = keep;
        buf[n++] = '-';
        for (int i = 15; i >= 0; i--)
            buf[n++] = hex[(h >> (i * 4)) & 15];
        buf[n] = '\0';
    }
    if (n + 1 > size)
        return -ENAMETOOLONG;
    memcpy(name, buf, n + 1);
    return (int)n;
}

static bool is_cgroup2(const char *dir)
{
    struct statfs fs;
    return statfs(dir, &fs) == 0 && (unsigned long)fs.f_type == CGROUP2_MAGIC;
}

/* Whether systemd delegated DIR (Delegate=yes marks it). */
static bool delegated(const char *dir)
{
    char v[8];
    for (int i = 0; i < 2; i++) {
        ssize_t n = getxattr(dir, i == 0 ? "trusted.delegate" : "user.delegate", v, sizeof v - 1);
        if (n > 0) {
            v[n] = '\0';
            if (strcmp(v, "1") == 0)
                return true;
        }
    }
    return false;
}

/* ------------------------------------------------------------ setters */

int daemonctx_set_cgroup(daemonctx *ctx, enum daemonctx_cgroup mode, const char *parent)
{
    if (!ctx)
        return -EINVAL;
    if (ctx->is_open)
        return dcx_fail(&ctx->last_error, DAEMONCTX_STEP_OPTIONS, EBUSY,
                        "cannot set cgroup: the context is already open, changes would have no effect");
    dcx_clear(&ctx->last_error);
    if (mode != DAEMONCTX_CGROUP_NONE && mode != DAEMONCTX_CGROUP_AUTO && mode != DAEMONCTX_CGROUP_PARENT)
        return dcx_fail(&ctx->last_error, DAEMONCTX_STEP_OPTIONS, EINVAL, "cgroup mode %d is not NONE, AUTO or PARENT",
                        (int)mode);
    if ((mode == DAEMONCTX_CGROUP_PARENT) != (parent != NULL))
        return dcx_fail(&ctx->last_error, DAEMONCTX_STEP_OPTIONS, EINVAL,
                        mode == DAEMONCTX_CGROUP_PARENT ? "cgroup: PARENT needs a parent"
                                                        : "cgroup: a parent needs the mode PARENT");
    char *copy = NULL;
    if (parent) {
        if (parent[0] != '/' || strlen(parent) >= PATH_MAX)
            return dcx_fail(&ctx->last_error, DAEMONCTX_STEP_OPTIONS, EINVAL,
                            "cgroup parent \"%s\" is not an absolute path", parent);
        if (!(copy = malloc(PATH_MAX)) || dcx_normalize_path(parent, copy, PATH_MAX) < 0) {
            free(copy);
            return dcx_fail(&ctx->last_error, DAEMONCTX_STEP_OPTIONS, ENOMEM, "cgroup parent: %m");
        }
    }
    free(ctx->cgroup_parent);
    ctx->cgroup_parent = copy;
    ctx->cgroup_mode = mode;
    return 0;
}

/* ------------------------------------------------------------ deciding */

/* Where the cgroup would go: 1 (C->dir and C->parent set), 0 none (C->why
 * says why), -errno refused (ERR). */
/* C->parent from P, a directory under the mount MNT (of ROOT) or a path in
 * the hierarchy. */
static int given_parent(const char *p, const char *mnt, const char *root, struct dcx_cgroup_choice *c,
                        daemonctx_error *err)
{
    size_t ml = strlen(mnt);
    if (strncmp(p, mnt, ml) == 0 && (p[ml] == '\0' || p[ml] == '/'))
        (void)snprintf(c->parent, sizeof c->parent, "%s", p);
    else if (hierarchy_dir(mnt, root, p, c->parent, sizeof c->parent) < 0)
        return dcx_fail(err, STEP, ENOENT, "cgroup parent %s is outside the cgroup v2 hierarchy mounted on %s", p, mnt);
    return 0;
}

/* C->parent: the cgroup this process is in, when it may make one there;
 * false with C->why when not. */
static bool own_parent(const char *mnt, const char *root, struct dcx_cgroup_choice *c)
{
    char h[PATH_MAX] = "";
    if (dcx_cgroup_of(0, h, sizeof h) < 0)
        c->why = "this process is in no cgroup v2 hierarchy";
    else if (hierarchy_dir(mnt, root, h, c->parent, sizeof c->parent) < 0)
        c->why = "this process's cgroup is outside the mounted cgroup v2 hierarchy";
    else if (getenv("INVOCATION_ID") && !delegated(c->parent))
        c->why = "under systemd without Delegate=yes: the unit's cgroup tracks the tree";
    return c->why == NULL;
}

/* C->parent can take the cgroup named after PIDFILE, C->dir; when not, a
 * failure if MUST, else 0 with C->why. */
static int usable_parent(struct dcx_cgroup_choice *c, bool must, const char *pidfile, daemonctx_error *err)
{
    char name[NAME_MAX + 1];
    if (!is_cgroup2(c->parent)) {
        if (must)
            return dcx_fail(err, STEP, errno == ENOENT ? ENOENT : ENOTDIR, "cgroup parent %s is not a cgroup v2 directory",
                            c->parent);
        c->why = "this process's cgroup directory cannot be found";
        return 0;
    }
    if (access(c->parent, W_OK | X_OK) < 0) {
        if (must)
            return dcx_fail(err, STEP, errno, "cgroup parent %s is not writable: %m", c->parent);
        c->why = "this process's cgroup is not writable";
        return 0;
    }
    if (dcx_cgroup_name(pidfile, name, sizeof name) < 0 ||
        (size_t)snprintf(c->dir, sizeof c->dir, "%s/%s", c->parent, name) >= sizeof c->dir) {
        if (must)
            return dcx_fail(err, STEP, ENAMETOOLONG, "cgroup parent %s: the path of the cgroup is too long", c->parent);
        c->why = "the path of the cgroup would be too long";
        return 0;
    }
    c->why = must ? "a cgroup of its own under the given parent" : "a cgroup of its own under this process's cgroup";
    return 1;
}

int dcx_cgroup_decide(const daemonctx *ctx, struct dcx_cgroup_choice *c, daemonctx_error *err)
{
    bool must = ctx->cgroup_mode == DAEMONCTX_CGROUP_PARENT;
    char mnt[PATH_MAX] = "", root[PATH_MAX] = "", pidfile[PATH_MAX];
    c->why = NULL;
    if (ctx->cgroup_mode == DAEMONCTX_CGROUP_NONE) {
        c->why = "no cgroup asked for";
        return 0;
    }
    if (!ctx->pidfile || dcx_pidfile_canonical(ctx->pidfile, pidfile, sizeof pidfile) < 0) {
        if (must)
            return dcx_fail(err, STEP, EINVAL, "a cgroup needs a pidfile (its name comes from the pidfile's path)");
        c->why = "no pidfile to name a cgroup after";
        return 0;
    }
    if (dcx_cgroup_mount(mnt, sizeof mnt, root, sizeof root) < 0) {
        if (must)
            return dcx_fail(err, STEP, ENOENT, "cgroup parent %s: no cgroup v2 hierarchy is mounted", ctx->cgroup_parent);
        c->why = "no cgroup v2 hierarchy is mounted";
        return 0;
    }
    if (must) {
        int r = given_parent(ctx->cgroup_parent, mnt, root, c, err);
        if (r < 0)
            return r;
    } else if (!own_parent(mnt, root, c)) {
        return 0;
    }
    return usable_parent(c, must, pidfile, err);
}

int daemonctx_cgroup_decision(const daemonctx *ctx, char *path, size_t size, const char **reason)
{
    if (!ctx)
        return -EINVAL;
    struct dcx_cgroup_choice *c = malloc(sizeof *c);
    if (!c)
        return -ENOMEM;
    int r = dcx_cgroup_decide(ctx, c, NULL);
    if (reason)
        *reason = r < 0 ? "the cgroup parent cannot be used (daemonctx_check() says why)" : c->why;
    if (r == 1 && path) {
        if (strlen(c->dir) >= size)
            r = -ERANGE;
        else
            strcpy(path, c->dir);
    }
    free(c);
    return r;
}

const char *daemonctx_cgroup(const daemonctx *ctx)
{
    return ctx ? ctx->cgroup_dir : NULL;
}

int dcx_check_cgroup(const daemonctx *ctx, daemonctx_error *err)
{
    struct dcx_cgroup_choice *c = malloc(sizeof *c);
    if (!c)
        return dcx_fail(err, STEP, ENOMEM, "cgroup: %m");
    int r = dcx_cgroup_decide(ctx, c, err);
    free(c);
    return r < 0 ? r : 0;
}

/* ------------------------------------------------------- files of a cgroup */

static int open_in(int dirfd, const char *name, int flags)
{
    int fd;
    do
        fd = openat(dirfd, name, flags | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    return fd;
}

static int write_in(int dirfd, const char *name, const char *text)
{
    int fd = open_in(dirfd, name, O_WRONLY);
    if (fd < 0)
        return -errno;
    ssize_t n;
    do
        n = write(fd, text, strlen(text));
    while (n < 0 && errno == EINTR);
    int e = errno;
    dcx_close(fd);
    return n < 0 ? -e : 0;
}

/* The value of KEY in the "key value" lines of cgroup.events (FD). */
static int event_value(int fd, const char *key)
{
    char buf[256];
    ssize_t n;
    do
        n = pread(fd, buf, sizeof buf - 1, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    buf[n] = '\0';
    size_t kl = strlen(key);
    for (char *l = buf; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL)
        if (strncmp(l, key, kl) == 0 && l[kl] == ' ')
            return atoi(l + kl + 1);
    return -ENOENT;
}

static int await_value(int fd, const char *key, int value, long long deadline);

/* Until KEY is VALUE in cgroup.events (notified with POLLPRI), or DEADLINE:
 * 0, -ETIMEDOUT, -errno. */
static int await_event(int dirfd, const char *key, int value, long long deadline)
{
    int fd = open_in(dirfd, "cgroup.events", O_RDONLY), r;
    if (fd < 0)
        return -errno;
    r = await_value(fd, key, value, deadline);
    dcx_close(fd);
    return r;
}

/* The same on an open cgroup.events. */
static int await_value(int fd, const char *key, int value, long long deadline)
{
    for (;;) {
        int r = event_value(fd, key);
        if (r < 0 || r == value)
            return r < 0 ? r : 0;
        r = dcx_poll_one(fd, POLLPRI, deadline);
        if (r <= 0)
            return r == 0 ? -ETIMEDOUT : r;
    }
}

/* FN(ARG, PID) for each PID in cgroup.procs of the cgroup FD. */
static int procs_of(int dirfd, void (*fn)(void *, pid_t), void *arg)
{
    int fd = open_in(dirfd, "cgroup.procs", O_RDONLY);
    if (fd < 0)
        return -errno;
    FILE *f = fdopen(fd, "r");
    if (!f) {
        int e = errno;
        dcx_close(fd);
        return -e;
    }
    long pid;
    while (fscanf(f, "%ld", &pid) == 1)
        fn(arg, (pid_t)pid);
    (void)fclose(f);
    return 0;
}

#define MAX_CGROUPS 4096

/* The same for the cgroup DIRFD and every cgroup below it (breadth first,
 * at most MAX_CGROUPS of them). */
static int each_process(int top, void (*fn)(void *, pid_t), void *arg)
{
    int r = procs_of(top, fn, arg);
    if (r < 0)
        return r;
    int *queue = malloc(MAX_CGROUPS * sizeof *queue), n = 0;
    if (!queue)
        return 0;
    queue[n++] = fcntl(top, F_DUPFD_CLOEXEC, 0);
    for (int i = 0; i < n; i++) {
        int fd = queue[i];
        DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        if (!d) {
            if (fd >= 0)
                dcx_close(fd);
            continue;
        }
        struct dirent *e;
        while ((e = readdir(d)))
            if (e->d_type == DT_DIR && strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
                n < MAX_CGROUPS) {
                int sub = open_in(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY);
                if (sub < 0)
                    continue;
                (void)procs_of(sub, fn, arg);
                queue[n++] = sub;
            }
        closedir(d); /* closes fd */
    }
    free(queue);
    return 0;
}

int dcx_cgroup_each_process(const char *dir, void (*fn)(void *, pid_t), void *arg)
{
    int fd = open_in(AT_FDCWD, dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return -errno;
    int r = each_process(fd, fn, arg);
    dcx_close(fd);
    return r;
}

int dcx_cgroup_fd_each_process(int dirfd, void (*fn)(void *, pid_t), void *arg)
{
    return each_process(dirfd, fn, arg);
}

static void count_one(void *arg, pid_t pid)
{
    (void)pid;
    ++*(int *)arg;
}

static void kill_one(void *arg, pid_t pid)
{
    (void)arg;
    if (pid > 0)
        (void)kill(pid, SIGKILL);
}

/* rmdir NAME in DIRFD, the cgroups below it first. */
/* rmdir DIR, the cgroups below it first (by path: cgroupfs is root's):
 * all of them listed breadth first, removed in the reverse order. */
static int remove_cgroup(const char *dir)
{
    char **list = malloc(MAX_CGROUPS * sizeof *list);
    int n = 0, r = 0;
    if (!list || !(list[n++] = strdup(dir))) {
        free(list);
        return rmdir(dir) < 0 && errno != ENOENT ? -errno : 0;
    }
    for (int i = 0; i < n; i++) {
        DIR *d = opendir(list[i]);
        struct dirent *e;
        while (d && (e = readdir(d)))
            if (e->d_type == DT_DIR && strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
                n < MAX_CGROUPS) {
                size_t len = strlen(list[i]) + strlen(e->d_name) + 2;
                char *sub = malloc(len);
                if (!sub)
                    continue;
                (void)snprintf(sub, len, "%s/%s", list[i], e->d_name);
                list[n++] = sub;
            }
        if (d)
            closedir(d);
    }
    while (n-- > 0) {
        if (rmdir(list[n]) < 0 && errno != ENOENT && n == 0)
            r = -errno;
        free(list[n]);
    }
    free(list);
    return r;
}

static void collect(const char *parent);

/* Not from inside it (cgroup.kill, the freezer, would take the caller
 * too): daemonctx_end_others() is for that. Files by path: stop calls this,
 * and the fewer fds it opens the better. */
int dcx_cgroup_end(const char *dir, long long deadline, daemonctx_error *err)
{
    char parent[PATH_MAX];
    const char *slash = strrchr(dir, '/');
    if (!slash || strlen(dir) >= sizeof parent)
        return dcx_fail(err, STEP, EINVAL, "cgroup %s: not an absolute path", dir);
    memcpy(parent, dir, (size_t)(slash - dir));
    parent[slash - dir] = '\0';
    char path[PATH_MAX + 16];
#define IN_DIR(name) ((void)snprintf(path, sizeof path, "%s/%s", dir, name), path)
    int r = write_in(AT_FDCWD, IN_DIR("cgroup.kill"), "1");
    if (r == -ENOENT && access(dir, F_OK) < 0 && errno == ENOENT)
        return 0; /* gone already */
    if (r == -ENOENT) {
        /* Before Linux 5.14: frozen, nothing forks or exits meanwhile;
         * SIGKILL still ends a frozen process. */
        if ((r = write_in(AT_FDCWD, IN_DIR("cgroup.freeze"), "1")) < 0)
            return dcx_fail(err, STEP, -r, "cannot freeze cgroup %s: %m", dir);
        int fd = open_in(AT_FDCWD, dir, O_RDONLY | O_DIRECTORY);
        r = fd < 0 ? -errno : await_event(fd, "frozen", 1, deadline);
        if (fd >= 0) {
            (void)each_process(fd, kill_one, NULL);
            dcx_close(fd);
        }
        (void)write_in(AT_FDCWD, IN_DIR("cgroup.freeze"), "0");
        if (r < 0)
            return dcx_fail(err, STEP, -r, "cgroup %s did not freeze: %m", dir);
    } else if (r < 0) {
        return dcx_fail(err, STEP, -r, "cannot kill the processes of cgroup %s: %m", dir);
    }
    int fd = open_in(AT_FDCWD, IN_DIR("cgroup.events"), O_RDONLY);
#undef IN_DIR
    r = fd < 0 ? -errno : await_value(fd, "populated", 0, deadline);
    if (fd >= 0)
        dcx_close(fd);
    if (r < 0)
        return dcx_fail(err, STEP, -r,
                        r == -ETIMEDOUT ? "processes of cgroup %s still run after SIGKILL" : "cgroup %s: %m", dir);
    if ((r = remove_cgroup(dir)) < 0)
        return dcx_fail(err, STEP, -r, "cannot remove cgroup %s: %m", dir);
    collect(parent); /* and those of daemons that ended without a stop, next to it */
    return 0;
}

/* Whether the cgroup DIRFD carries the mark of PIDFILE: 1 yes, 0 no (or
 * another pidfile's), -errno when the mark cannot be read. */
int dcx_cgroup_marked(int dirfd, const char *pidfile)
{
    char mark[PATH_MAX];
    int r = dcx_mark_get(dirfd, "pidfile", mark, sizeof mark);
    if (r == -ENODATA)
        return 0;
    return r < 0 ? r : strcmp(mark, pidfile) == 0;
}

int dcx_cgroup_marked_path(const char *dir, const char *pidfile)
{
    char mark[PATH_MAX];
    int r = dcx_mark_get_path(dir, "pidfile", mark, sizeof mark);
    if (r == -ENODATA)
        return 0;
    return r < 0 ? r : strcmp(mark, pidfile) == 0;
}

/* ------------------------------------------------------- making one */

/* In PARENT: the empty cgroups of daemons that are gone, that is marked
 * with a pidfile that no longer exists. Best effort, and with path-based
 * calls only (no fd opened): it runs at the end of a stop, whose calls must
 * not depend on what other daemons left. rmdir() itself refuses a cgroup
 * that holds a process, or a cgroup below it. A start that takes such a
 * cgroup over at the same moment then fails to enter it, cleanly. */
static void collect(const char *parent)
{
    DIR *d = opendir(parent);
    if (!d)
        return;
    char path[PATH_MAX], mark[PATH_MAX], name[NAME_MAX + 1];
    /* Asked once: the calls must not depend on how many there are. */
    const char *attr = dcx_capable(CAP_SYS_ADMIN) ? "trusted.daemonctx.pidfile" : "user.daemonctx.pidfile";
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_type != DT_DIR || strncmp(e->d_name, PREFIX, sizeof PREFIX - 1) != 0 ||
            (size_t)snprintf(path, sizeof path, "%s/%s", parent, e->d_name) >= sizeof path)
            continue;
        ssize_t n = getxattr(path, attr, mark, sizeof mark - 1);
        if (n <= 0)
            continue;
        mark[n] = '\0';
        struct stat st;
        /* Ours (the name is the one its mark's pidfile gives), its pidfile gone. */
        if (strlen(mark) != (size_t)n || dcx_cgroup_name(mark, name, sizeof name) < 0 || strcmp(name, e->d_name) != 0 ||
            lstat(mark, &st) == 0 || errno != ENOENT)
            continue;
        (void)rmdir(path);
    }
    closedir(d);
}

/* Makes C->dir, or finds it made (CG->made tells which): *PFD its parent,
 * *FD itself, both open. */
static int make_cgroup(const struct dcx_cgroup_choice *c, struct dcx_cgroup_plan *cg, int *pfd, int *fd,
                       daemonctx_error *err)
{
    const char *name = c->dir + strlen(c->parent) + 1;
    if ((*pfd = open_in(AT_FDCWD, c->parent, O_RDONLY | O_DIRECTORY)) < 0)
        return dcx_fail(err, STEP, errno, "cannot open cgroup %s: %m", c->parent);
    cg->made = mkdirat(*pfd, name, 0755) == 0;
    if (!cg->made && errno != EEXIST)
        return dcx_fail(err, STEP, errno, "cannot make cgroup %s: %m", c->dir);
    if ((*fd = open_in(*pfd, name, O_RDONLY | O_DIRECTORY)) < 0)
        return dcx_fail(err, STEP, errno, "cannot open cgroup %s: %m", c->dir);
    return 0;
}

/* Marks the cgroup DIR (open as FD) as PIDFILE's: one we MADE, or one found
 * unmarked and empty (a start killed between its mkdir and its mark leaves
 * one so). One in use, or marked for another pidfile, is someone else's. */
static int claim(int fd, const char *dir, const char *pidfile, bool made, daemonctx_error *err)
{
    int r, n = 0;
    if (made && (r = dcx_mark_set(fd, "pidfile", pidfile)) < 0)
        return dcx_fail(err, STEP, -r, "cannot mark cgroup %s as made for pidfile %s: %m", dir, pidfile);
    if (made || dcx_cgroup_marked(fd, pidfile) == 1)
        return 0;
    if (each_process(fd, count_one, &n) < 0 || n > 0 || dcx_mark_set(fd, "pidfile", pidfile) < 0)
        return dcx_fail(err, STEP, EEXIST, "cgroup %s exists and is not one daemonctx made for pidfile %s", dir,
                        pidfile);
    return 0;
}

/* The cgroup.procs of the cgroup this process is in, open for writing, or
 * -1: when the process itself becomes the daemon, a failure takes it back
 * there (best effort). */
static int open_home(void)
{
    char h[PATH_MAX] = "", mnt[PATH_MAX] = "", root[PATH_MAX] = "", home[PATH_MAX];
    int fd = -1;
    if (dcx_cgroup_of(0, h, sizeof h) == 0 && dcx_cgroup_mount(mnt, sizeof mnt, root, sizeof root) == 0 &&
        hierarchy_dir(mnt, root, h, home, sizeof home) == 0) {
        int hfd = open_in(AT_FDCWD, home, O_RDONLY | O_DIRECTORY);
        if (hfd >= 0) {
            fd = open_in(hfd, "cgroup.procs", O_WRONLY);
            dcx_close(hfd);
        }
    }
    return fd;
}

/* What a failed plan made goes: the cgroup it made (PFD its parent), the
 * cgroup.procs it opened. */
static void unmake(struct dcx_cgroup_plan *cg, const struct dcx_cgroup_choice *c, int pfd)
{
    if (cg->made)
        (void)unlinkat(pfd, c->dir + strlen(c->parent) + 1, AT_REMOVEDIR);
    cg->made = false;
    if (cg->procs >= 0) {
        dcx_close(cg->procs);
        cg->procs = -1;
    }
}

int dcx_plan_cgroup(daemonctx *ctx, struct dcx_plan *plan, daemonctx_error *err)
{
    struct dcx_cgroup_plan *cg = &plan->cgroup;
    char pidfile[PATH_MAX];
    struct dcx_cgroup_choice *c = malloc(sizeof *c);
    if (!c)
        return dcx_fail(err, STEP, ENOMEM, "cgroup: %m");
    int r = dcx_cgroup_decide(ctx, c, err), pfd = -1, fd = -1;
    if (r <= 0)
        goto out;
    if ((r = dcx_pidfile_canonical(ctx->pidfile, pidfile, sizeof pidfile)) < 0) {
        r = dcx_fail(err, STEP, -r, "cgroup: cannot name it after pidfile %s: %m", daemonctx_pidfile_path(ctx->pidfile));
        goto out;
    }
    if ((r = make_cgroup(c, cg, &pfd, &fd, err)) < 0 || (r = claim(fd, c->dir, pidfile, cg->made, err)) < 0)
        goto out;
    if ((cg->procs = open_in(fd, "cgroup.procs", O_WRONLY)) < 0) {
        r = dcx_fail(err, STEP, errno, "cannot open %s/cgroup.procs: %m", c->dir);
        goto out;
    }
    if (!plan->fork)
        cg->home = open_home();
    if (!(cg->dir = strdup(c->dir)))
        r = dcx_fail(err, STEP, ENOMEM, "cgroup %s: %m", c->dir);
    else
        (void)dcx_mark_set(daemonctx_pidfile_fd(ctx->pidfile), "cgroup", c->dir);
out:
    if (r < 0)
        unmake(cg, c, pfd);
    /* Where one is only wished for, none is not a failure: the tree is
     * then tracked without (the process group, the session). */
    if (r < 0 && ctx->cgroup_mode != DAEMONCTX_CGROUP_PARENT) {
        dcx_clear(err);
        r = 0;
    }
    if (fd >= 0)
        dcx_close(fd);
    if (pfd >= 0)
        dcx_close(pfd);
    free(c);
    if (ctx->pidfile && !cg->dir)
        (void)dcx_mark_remove(daemonctx_pidfile_fd(ctx->pidfile), "cgroup");
    return r;
}

/* The parent's cgroup.procs of DIR, for leaving it. */
static int parent_procs(const char *dir, char *out, size_t size)
{
    const char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return -EINVAL;
    int n = snprintf(out, size, "%.*s/cgroup.procs", (int)(slash - dir), dir);
    return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int daemonctx_leave_cgroup(daemonctx *ctx, daemonctx_error *err)
{
    dcx_clear(err);
    if (!ctx)
        return dcx_fail(err, DAEMONCTX_STEP_OPTIONS, EINVAL, "daemonctx_leave_cgroup() needs a context");
    if (!ctx->cgroup_dir)
        return 0;
    char procs[PATH_MAX];
    int r = parent_procs(ctx->cgroup_dir, procs, sizeof procs);
    if (r < 0)
        return dcx_fail(err, STEP, -r, "cgroup %s has no parent to go back to", ctx->cgroup_dir);
    int fd = open_in(AT_FDCWD, procs, O_WRONLY);
    if (fd < 0)
        return dcx_fail(err, STEP, errno, "cannot leave cgroup %s for %s: %m", ctx->cgroup_dir, procs);
    ssize_t n;
    do
        n = write(fd, "0", 1);
    while (n < 0 && errno == EINTR);
    int e = errno;
    dcx_close(fd);
    if (n < 0)
        return dcx_fail(err, STEP, e, "cannot leave cgroup %s for %s: %m", ctx->cgroup_dir, procs);
    if (rmdir(ctx->cgroup_dir) < 0 && errno != ENOENT)
        return dcx_fail(err, STEP, errno, "cannot remove cgroup %s: %m", ctx->cgroup_dir);
    if (ctx->pidfile)
        (void)dcx_mark_remove(daemonctx_pidfile_fd(ctx->pidfile), "cgroup");
    free(ctx->cgroup_dir);
    ctx->cgroup_dir = NULL;
    return 0;
}

int dcx_cgroup_enter(const struct dcx_plan *plan, daemonctx_error *err)
{
    const struct dcx_cgroup_plan *cg = &plan->cgroup;
    if (cg->procs < 0)
        return 0;
    ssize_t n;
    do
        n = write(cg->procs, "0", 1);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return dcx_fail(err, STEP, errno, "cannot move daemon PID %d into cgroup %s: %m", (int)getpid(), cg->dir);
    return 0;
}

void dcx_cgroup_undo(struct dcx_plan *plan)
{
    struct dcx_cgroup_plan *cg = &plan->cgroup;
    if (cg->home >= 0) {
        ssize_t n;
        do
            n = write(cg->home, "0", 1);
        while (n < 0 && errno == EINTR);
    }
    if (cg->made && cg->dir)
        (void)dcx_cgroup_end(cg->dir, dcx_now_ms() + 5000, NULL);
    cg->made = false;
}
