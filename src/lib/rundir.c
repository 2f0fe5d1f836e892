/* The runtime directory (systemd's RuntimeDirectory=): made before forking,
 * with its missing parents (root's, 0755), owned by the daemon's uid and gid
 * with its own mode (0755 by default, whatever the umask), so that the
 * pidfile can live in it; removed by a failed start that made it, and by
 * `stop`.
 *
 * How stop learns of it: the start marks (mark.c) the pidfile with
 * "runtime-dir" = "DEV:INO:PATH" (the directory it made, PATH without
 * symbolic links), and the directory with "pidfile" = the pidfile's path.
 * Stop reads the pidfile's mark, opens PATH refusing symbolic links, and
 * removes the directory only if it is still that inode. Root's marks are in
 * the trusted namespace: a daemon that dropped its privileges can neither
 * write them on the (root's) pidfile nor on its directory. Its contents are
 * removed with the rights of its owner only: stop does not descend into a
 * directory in it that belongs to anyone else (whatever the daemon moved
 * there stays, and so does the runtime directory, which is then not empty).
 *
 * A directory a start finds already there is used as it is and left in
 * place, unless its mark names this very pidfile: a start of the same
 * daemon made it (and it survived a crash, or a daemon that removed its own
 * pidfile when it exited): it is adopted, given to the uid, gid and mode
 * again, and removed by the next stop. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

#define STEP DAEMONCTX_STEP_RUNTIME_DIR

int daemonctx_set_runtime_directory(daemonctx *ctx, const char *path, mode_t mode)
{
    if (!ctx)
        return -EINVAL;
    if (ctx->is_open)
        return dcx_fail(&ctx->last_error, DAEMONCTX_STEP_OPTIONS, EBUSY,
                        "cannot set runtime_directory: the context is already open, changes would have no effect");
    dcx_clear(&ctx->last_error);
    if (!path) {
        free(ctx->runtime_dir);
        ctx->runtime_dir = NULL;
        return 0;
    }
    if (path[0] != '/')
        return dcx_fail(&ctx->last_error, DAEMONCTX_STEP_OPTIONS, EINVAL,
                        "runtime_directory \"%s\" is not an absolute path", path);
    if (mode > 07777)
        return dcx_fail(&ctx->last_error, DAEMONCTX_STEP_OPTIONS, EINVAL,
                        "runtime_directory mode %o is out of range (0 to 7777 octal)", (unsigned)mode);
    char normal[PATH_MAX];
    if (strlen(path) >= sizeof normal || dcx_normalize_path(path, normal, sizeof normal) < 0)
        return dcx_fail(&ctx->last_error, DAEMONCTX_STEP_OPTIONS, ENAMETOOLONG,
                        "runtime_directory is longer than %d bytes", PATH_MAX - 1);
    if (strcmp(normal, "/") == 0)
        return dcx_fail(&ctx->last_error, DAEMONCTX_STEP_OPTIONS, EINVAL, "runtime_directory cannot be \"/\"");
    char *copy = strdup(normal);
    if (!copy)
        return dcx_fail(&ctx->last_error, DAEMONCTX_STEP_OPTIONS, ENOMEM, "runtime_directory: %m");
    free(ctx->runtime_dir);
    ctx->runtime_dir = copy;
    ctx->runtime_dir_mode = mode;
    return 0;
}

int daemonctx_set_runtime_directory_owner(daemonctx *ctx, uid_t uid, gid_t gid)
{
    if (!ctx)
        return -EINVAL;
    if (ctx->is_open)
        return dcx_fail(&ctx->last_error, DAEMONCTX_STEP_OPTIONS, EBUSY,
                        "cannot set runtime_directory_owner: the context is already open, changes would have no "
                        "effect");
    if (uid == (uid_t)-1 || gid == (gid_t)-1)
        return dcx_fail(&ctx->last_error, DAEMONCTX_STEP_OPTIONS, EINVAL,
                        "runtime_directory_owner: uid %u gid %u: -1 is no owner", (unsigned)uid, (unsigned)gid);
    dcx_clear(&ctx->last_error);
    ctx->runtime_owner_set = true;
    ctx->runtime_uid = uid;
    ctx->runtime_gid = gid;
    return 0;
}

/* ------------------------------------------------------------ the checks */

/* Without creating anything: every existing component a directory, the
 * last not a symbolic link, the first missing one creatable. */
int dcx_check_rundir(const daemonctx *ctx, daemonctx_error *err)
{
    const char *path = ctx->runtime_dir;
    if (!path)
        return 0;
    char prefix[PATH_MAX];
    size_t len = strlen(path);
    for (size_t i = 1; i <= len; i++) {
        if (i < len && path[i] != '/')
            continue;
        memcpy(prefix, path, i);
        prefix[i] = '\0';
        bool last = i == len;
        struct stat st;
        if ((last ? lstat(prefix, &st) : stat(prefix, &st)) == 0) {
            if (last && S_ISLNK(st.st_mode))
                return dcx_fail(err, STEP, ELOOP, "runtime directory %s is a symbolic link", path);
            if (!S_ISDIR(st.st_mode))
                return last ? dcx_fail(err, STEP, ENOTDIR, "runtime directory %s exists and is not a directory", path)
                            : dcx_fail(err, STEP, ENOTDIR, "runtime directory %s: %s is not a directory", path, prefix);
            continue;
        }
        if (errno != ENOENT)
            return dcx_fail(err, STEP, errno, "runtime directory %s: %s: %m", path, prefix);
        /* The first missing one: its parent must take it. */
        char *slash = strrchr(prefix, '/');
        if (slash == prefix)
            slash[1] = '\0';
        else
            *slash = '\0';
        if (access(prefix, W_OK | X_OK) < 0)
            return dcx_fail(err, STEP, errno, "cannot create runtime directory %s in %s: %m", path, prefix);
        return 0;
    }
    return 0;
}

/* ------------------------------------------------------------- creating */

static int open_at(int dirfd, const char *name, int flags)
{
    int fd;
    do
        fd = openat(dirfd, name, flags | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    return fd;
}

/* Why the last component cannot be opened as a directory. */
static int not_a_directory(int parent, const char *name, const char *path, int e, daemonctx_error *err)
{
    struct stat st;
    if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        if (S_ISLNK(st.st_mode))
            return dcx_fail(err, STEP, ELOOP, "runtime directory %s is a symbolic link", path);
        if (!S_ISDIR(st.st_mode))
            return dcx_fail(err, STEP, ENOTDIR, "runtime directory %s exists and is not a directory", path);
    }
    return dcx_fail(err, STEP, e, "cannot open runtime directory %s: %m", path);
}

/* Ours: owner and mode. */
static int give(const daemonctx *ctx, int fd, daemonctx_error *err)
{
    uid_t uid = ctx->runtime_owner_set ? ctx->runtime_uid : ctx->uid;
    gid_t gid = ctx->runtime_owner_set ? ctx->runtime_gid : ctx->gid;
    if (fchown(fd, uid, gid) < 0)
        return dcx_fail(err, STEP, errno, "cannot give runtime directory %s to uid %u gid %u: %m", ctx->runtime_dir,
                        (unsigned)uid, (unsigned)gid);
    if (fchmod(fd, ctx->runtime_dir_mode) < 0)
        return dcx_fail(err, STEP, errno, "cannot set the mode of runtime directory %s: %m", ctx->runtime_dir);
    return 0;
}

/* The runtime directory itself, NAME in CUR: made 0700 and given to the
 * daemon's user, or found as it is. */
static int enter_last(const daemonctx *ctx, struct dcx_rundir *rd, int cur, const char *name, const char *path,
                      daemonctx_error *err)
{
    rd->made = mkdirat(cur, name, 0700) == 0;
    if (!rd->made && errno != EEXIST)
        return dcx_fail(err, STEP, errno, "cannot create runtime directory %s: %m", path);
    rd->fd = open_at(cur, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    if (rd->fd < 0)
        return not_a_directory(cur, name, path, errno, err);
    struct stat st;
    if (fstat(rd->fd, &st) < 0)
        return dcx_fail(err, STEP, errno, "runtime directory %s: %m", path);
    rd->dev = st.st_dev;
    rd->ino = st.st_ino;
    return rd->made ? give(ctx, rd->fd, err) : 0;
}

/* A parent, NAME in CUR (PREFIX: the path down to it), followed as mkdir -p
 * would, made (root's, 0755) if missing: its fd, or an error. */
static int enter_parent(struct dcx_rundir *rd, int cur, const char *name, const char *prefix, const char *path,
                        daemonctx_error *err)
{
    int next = open_at(cur, name, O_PATH | O_DIRECTORY);
    if (next < 0 && errno == ENOENT) {
        if (mkdirat(cur, name, 0755) == 0) {
            if (!rd->top && !(rd->top = strdup(prefix)))
                return dcx_fail(err, STEP, ENOMEM, "runtime directory %s: %m", path);
            /* 0755 whatever the umask: the daemon's user must get through. */
            if (fchmodat(cur, name, 0755, 0) < 0)
                return dcx_fail(err, STEP, errno, "cannot set the mode of %s for runtime directory %s: %m", prefix, path);
        } else if (errno != EEXIST) {
            return dcx_fail(err, STEP, errno, "cannot create %s for runtime directory %s: %m", prefix, path);
        }
        next = open_at(cur, name, O_PATH | O_DIRECTORY);
    }
    if (next < 0)
        return errno == ENOTDIR ? dcx_fail(err, STEP, ENOTDIR, "runtime directory %s: %s is not a directory", path, prefix)
                                : dcx_fail(err, STEP, errno, "runtime directory %s: %s: %m", path, prefix);
    return next;
}

int dcx_plan_rundir(const daemonctx *ctx, struct dcx_plan *plan, daemonctx_error *err)
{
    const char *path = ctx->runtime_dir;
    if (!path)
        return 0;
    struct dcx_rundir *rd = &plan->rundir;
    int cur = open_at(AT_FDCWD, "/", O_PATH | O_DIRECTORY), r = 0;
    if (cur < 0)
        return dcx_fail(err, STEP, errno, "runtime directory %s: cannot open /: %m", path);
    char prefix[PATH_MAX];
    size_t len = strlen(path), start = 1;
    for (size_t i = 1; i <= len; i++) {
        if (i < len && path[i] != '/')
            continue;
        memcpy(prefix, path, i);
        prefix[i] = '\0';
        const char *name = prefix + start;
        start = i + 1;
        if (i == len) {
            r = enter_last(ctx, rd, cur, name, path, err);
            break;
        }
        int next = enter_parent(rd, cur, name, prefix, path, err);
        if (next < 0) {
            r = next;
            break;
        }
        dcx_close(cur);
        cur = next;
    }
    dcx_close(cur);
    return r;
}

/* "DEV:INO:PATH" of the directory. */
static int describe(const struct dcx_rundir *rd, const char *real, char *buf, size_t size)
{
    int n = snprintf(buf, size, "%llu:%llu:%s", (unsigned long long)rd->dev, (unsigned long long)rd->ino, real);
    return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* After the pidfile is locked (a running instance's directory is then never
 * touched): adopt a directory an earlier start of this pidfile made, and
 * mark both. A mark that cannot be written (no extended attributes there)
 * only means stop will not know of the directory. */
int dcx_rundir_after_lock(const daemonctx *ctx, struct dcx_plan *plan, daemonctx_error *err)
{
    struct dcx_rundir *rd = &plan->rundir;
    int pidfd = ctx->pidfile ? daemonctx_pidfile_fd(ctx->pidfile) : -1;
    char canonical[PATH_MAX], mark[PATH_MAX];
    int r = 0;
    if (rd->fd < 0 || pidfd < 0 || dcx_pidfile_canonical(ctx->pidfile, canonical, sizeof canonical) < 0) {
        if (pidfd >= 0)
            (void)dcx_mark_remove(pidfd, "runtime-dir");
        goto out;
    }
    rd->ours = rd->made;
    if (!rd->made && dcx_mark_get(rd->fd, "pidfile", mark, sizeof mark) >= 0 && strcmp(mark, canonical) == 0) {
        rd->ours = true;
        if ((r = give(ctx, rd->fd, err)) < 0)
            goto out;
    }
    if (!rd->ours) {
        (void)dcx_mark_remove(pidfd, "runtime-dir");
        goto out;
    }
    char *real = realpath(ctx->runtime_dir, NULL);
    if (real && describe(rd, real, mark, sizeof mark) == 0) {
        (void)dcx_mark_set(rd->fd, "pidfile", canonical);
        (void)dcx_mark_set(pidfd, "runtime-dir", mark);
    }
    free(real);
out:
    if (rd->fd >= 0)
        dcx_close(rd->fd);
    rd->fd = -1;
    return r;
}

/* ------------------------------------------------------------- removing */

/* Everything in FD (a directory owned by OWNER), descending only into
 * directories OWNER owns (root's: any), 64 levels at most, depth first with
 * a stack of open directories. Failures leave things in place: the
 * directory is then not empty, which its removal says. */
#define MAX_DEPTH 64
static void empty_directory(int fd, uid_t owner)
{
    struct frame {
        DIR *d;
        char name[NAME_MAX + 1]; /* in the frame below */
    } *stack = malloc(MAX_DEPTH * sizeof *stack);
    int copy = stack ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
    if (copy < 0 || !(stack[0].d = fdopendir(copy))) {
        if (copy >= 0)
            dcx_close(copy);
        free(stack);
        return;
    }
    int depth = 1;
    while (depth > 0) {
        struct frame *top = &stack[depth - 1];
        int dfd = dirfd(top->d);
        struct dirent *e = readdir(top->d);
        if (!e) { /* done with it: closed, and removed from the one below */
            closedir(top->d);
            if (--depth > 0)
                (void)unlinkat(dirfd(stack[depth - 1].d), top->name, AT_REMOVEDIR);
            continue;
        }
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        struct stat st;
        if (fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        if (!S_ISDIR(st.st_mode)) {
            (void)unlinkat(dfd, e->d_name, 0);
            continue;
        }
        if (depth >= MAX_DEPTH || (owner != 0 && st.st_uid != owner) || strlen(e->d_name) > NAME_MAX)
            continue;
        int sub = open_at(dfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
        struct stat now;
        DIR *sd = NULL;
        if (sub < 0 || fstat(sub, &now) < 0 || now.st_dev != st.st_dev || now.st_ino != st.st_ino ||
            !(sd = fdopendir(sub))) {
            if (sub >= 0)
                dcx_close(sub);
            continue;
        }
        stack[depth].d = sd;
        strcpy(stack[depth].name, e->d_name);
        depth++;
    }
    free(stack);
}

static int open_no_symlinks(const char *path)
{
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
    how.resolve = RESOLVE_NO_SYMLINKS;
    int fd;
    do
        fd = (int)syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof how);
    while (fd < 0 && (errno == EINTR || errno == EAGAIN));
    if (fd < 0 && (errno == ENOSYS || errno == EPERM)) /* before Linux 5.6, or a seccomp profile */
        fd = open_at(AT_FDCWD, path, O_PATH | O_DIRECTORY);
    return fd;
}

int dcx_remove_directory(const char *path, dev_t dev, ino_t ino, daemonctx_error *err)
{
    char parent[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (path[0] != '/' || !slash || !slash[1] || strlen(path) >= sizeof parent)
        return dcx_fail(err, STEP, EINVAL, "runtime directory %s is not an absolute path", path);
    size_t plen = slash == path ? 1 : (size_t)(slash - path);
    memcpy(parent, path, plen);
    parent[plen] = '\0';
    const char *name = slash + 1;
    int pfd = open_no_symlinks(parent);
    if (pfd < 0)
        return errno == ENOENT ? 0 : dcx_fail(err, STEP, errno, "cannot open the parent of runtime directory %s: %m", path);
    int fd = open_at(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW), r = 0;
    struct stat st;
    if (fd < 0) {
        r = errno == ENOENT ? 0 : dcx_fail(err, STEP, errno, "cannot open runtime directory %s: %m", path);
    } else if (fstat(fd, &st) < 0) {
        r = dcx_fail(err, STEP, errno, "runtime directory %s: %m", path);
    } else if (st.st_dev != dev || st.st_ino != ino) {
        r = dcx_fail(err, STEP, ESTALE, "runtime directory %s is no longer the one start made: left alone", path);
    } else {
        empty_directory(fd, st.st_uid);
        if (unlinkat(pfd, name, AT_REMOVEDIR) < 0)
            r = errno == ENOTEMPTY || errno == EEXIST
                    ? dcx_fail(err, STEP, errno, "runtime directory %s is not empty: it holds what its owner could not remove", path)
                    : dcx_fail(err, STEP, errno, "cannot remove runtime directory %s: %m", path);
    }
    if (fd >= 0)
        dcx_close(fd);
    dcx_close(pfd);
    return r;
}

void dcx_rundir_undo(const daemonctx *ctx, struct dcx_plan *plan)
{
    struct dcx_rundir *rd = &plan->rundir;
    bool gone = !rd->made || dcx_remove_directory(ctx->runtime_dir, rd->dev, rd->ino, NULL) == 0;
    if (gone && rd->top) {
        /* The parents this start made, deepest first, up to the first. */
        char prefix[PATH_MAX];
        size_t top = strlen(rd->top);
        (void)snprintf(prefix, sizeof prefix, "%s", ctx->runtime_dir);
        for (char *slash; (slash = strrchr(prefix, '/')) && (size_t)(slash - prefix) >= top;) {
            *slash = '\0';
            if (rmdir(prefix) < 0 && errno != ENOENT)
                break;
        }
    }
    rd->made = rd->ours = false;
}

/* Stop's side: the directory the pidfile says its start made. */
int dcx_rundir_marked(const char *pidfile, char *path, size_t size, dev_t *dev, ino_t *ino)
{
    char mark[PATH_MAX + 48];
    int r = dcx_mark_get_path(pidfile, "runtime-dir", mark, sizeof mark);
    if (r < 0)
        return r == -ENODATA || r == -ENOTSUP ? 0 : r;
    char *end;
    unsigned long long d = strtoull(mark, &end, 10);
    if (*end != ':')
        return -EINVAL;
    unsigned long long i = strtoull(end + 1, &end, 10);
    if (*end != ':' || end[1] != '/' || strlen(end + 1) >= size)
        return -EINVAL;
    strcpy(path, end + 1);
    *dev = (dev_t)d;
    *ino = (ino_t)i;
    return 1;
}
