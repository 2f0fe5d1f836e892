/* chroot and the working directory rule.
 *
 * PEP 3143 (and the seed) say a working directory that does not start with the
 * chroot directory is prefixed with it. pep3143daemon tests that with a string
 * prefix, so chroot /jail with working directory /jail2/x is taken as "inside"
 * and the daemon ends up in /jail/jail2/x or outside its jail. Here both paths
 * are normalized lexically and compared component by component, and the daemon
 * chdirs to the path *inside* the new root, so its cwd is always in the jail. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

/* "/a//b/./c/../d/" -> "/a/b/d"; ".." stops at "/". Lexical only: used where
 * the kernel will resolve the result under a new root anyway. */
int dcx_normalize_path(const char *in, char *out, size_t size)
{
    size_t len = 0;
    if (size < 2 || in[0] != '/')
        return -EINVAL;
    out[len++] = '/';
    const char *p = in;
    while (*p) {
        while (*p == '/')
            p++;
        const char *start = p;
        while (*p && *p != '/')
            p++;
        size_t n = (size_t)(p - start);
        if (n == 0 || (n == 1 && start[0] == '.'))
            continue;
        if (n == 2 && start[0] == '.' && start[1] == '.') {
            while (len > 1 && out[len - 1] != '/')
                len--;
            if (len > 1)
                len--; /* the separator before the dropped component */
            continue;
        }
        if (len + (len > 1) + n + 1 > size)
            return -ENAMETOOLONG;
        if (len > 1)
            out[len++] = '/';
        memcpy(out + len, start, n);
        len += n;
    }
    out[len] = '\0';
    return (int)len;
}

/* Splits the working directory into the part inside the jail. Returns the
 * inside path in INSIDE (normalized), and the normalized root in ROOT. */
static int split_working_directory(const daemonctx *ctx, char *root, char *inside, size_t size)
{
    int r = dcx_normalize_path(ctx->chroot_directory, root, size);
    if (r < 0)
        return r;
    char *wd = malloc(size);
    if (!wd)
        return -ENOMEM;
    r = dcx_normalize_path(ctx->working_directory, wd, size);
    if (r >= 0) {
        size_t rl = strlen(root);
        /* Under the root (chroot "/" has everything under it): strip it. */
        if (rl > 1 && strncmp(wd, root, rl) == 0 && (wd[rl] == '\0' || wd[rl] == '/'))
            strcpy(inside, wd[rl] ? wd + rl : "/");
        else
            strcpy(inside, wd);
        r = 0;
    }
    free(wd);
    return r;
}

int daemonctx_get_working_directory(const daemonctx *ctx, char *buf, size_t size)
{
    if (!ctx || !buf)
        return -EINVAL;
    size_t need;
    if (!ctx->chroot_directory) {
        need = strlen(ctx->working_directory);
        if (need + 1 > size)
            return -ERANGE;
        memcpy(buf, ctx->working_directory, need + 1);
        return (int)need;
    }
    char root[PATH_MAX], inside[PATH_MAX];
    int r = split_working_directory(ctx, root, inside, sizeof root);
    if (r < 0)
        return r;
    size_t rl = strcmp(root, "/") == 0 ? 0 : strlen(root);
    size_t il = strcmp(inside, "/") == 0 && rl ? 0 : strlen(inside);
    need = rl + il;
    if (need + 1 > size)
        return -ERANGE;
    memcpy(buf, root, rl);
    memcpy(buf + rl, inside, il);
    buf[need] = '\0';
    return (int)need;
}

static int check_directory(enum daemonctx_step step, const char *what, const char *path, daemonctx_error *err)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return dcx_fail(err, step, errno, "%s %s: %m", what, path);
    if (!S_ISDIR(st.st_mode))
        return dcx_fail(err, step, ENOTDIR, "%s %s is not a directory", what, path);
    return 0;
}

int dcx_plan_root(const daemonctx *ctx, struct dcx_plan *plan, daemonctx_error *err)
{
    if (!ctx->chroot_directory) {
        plan->root_cwd = strdup(ctx->working_directory);
        if (!plan->root_cwd)
            return dcx_fail(err, DAEMONCTX_STEP_CHDIR, ENOMEM, "working directory: %m");
        /* Checked here so the common mistake fails before anything forks; the
         * daemon's chdir still reports a failure of its own. */
        return check_directory(DAEMONCTX_STEP_CHDIR, "working directory", ctx->working_directory, err);
    }
    int r = check_directory(DAEMONCTX_STEP_CHROOT, "chroot directory", ctx->chroot_directory, err);
    if (r < 0)
        return r;
    char root[PATH_MAX];
    plan->root_cwd = malloc(PATH_MAX);
    if (!plan->root_cwd)
        return dcx_fail(err, DAEMONCTX_STEP_CHDIR, ENOMEM, "working directory: %m");
    r = split_working_directory(ctx, root, plan->root_cwd, PATH_MAX);
    if (r < 0)
        return dcx_fail(err, DAEMONCTX_STEP_CHDIR, -r, "working directory %s: %m", ctx->working_directory);
    return 0;
}

int dcx_chroot(const daemonctx *ctx, daemonctx_error *err)
{
    if (!ctx->chroot_directory)
        return 0;
    /* chdir first, then chroot("."): no window where cwd is outside the root. */
    if (chdir(ctx->chroot_directory) < 0)
        return dcx_fail(err, DAEMONCTX_STEP_CHROOT, errno, "cannot enter chroot directory %s: %m", ctx->chroot_directory);
    if (chroot(".") < 0)
        return dcx_fail(err, DAEMONCTX_STEP_CHROOT, errno, "chroot to %s: %m", ctx->chroot_directory);
    return 0;
}

int dcx_chdir(const daemonctx *ctx, const struct dcx_plan *plan, daemonctx_error *err)
{
    if (chdir(plan->root_cwd) < 0) {
        if (ctx->chroot_directory)
            return dcx_fail(err, DAEMONCTX_STEP_CHDIR, errno, "cannot change directory to %s inside chroot %s: %m",
                            plan->root_cwd, ctx->chroot_directory);
        return dcx_fail(err, DAEMONCTX_STEP_CHDIR, errno, "cannot change directory to %s: %m", plan->root_cwd);
    }
    return 0;
}
