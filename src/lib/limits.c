/* Resources: resource limits, the nice value, oom_score_adj.
 *
 * Set in the context, checked in the caller before forking against what it
 * may do (the daemon inherits its privileges until the drop), applied in the
 * daemon before the privilege drop: raising a hard limit or lowering
 * oom_score_adj needs CAP_SYS_RESOURCE, lowering the nice value
 * CAP_SYS_NICE (or room under RLIMIT_NICE), and the daemon has them, if at
 * all, only until it drops them.
 *
 * oom_score_adj is the daemon's own /proc/self/oom_score_adj: "self" is
 * whoever opens it, so the daemon opens it itself, through a /proc
 * directory fd the caller opened (the daemon may be in a chroot without
 * /proc by then). */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "internal.h"

/* prlimit(1)'s names. */
static const struct {
    const char *name;
    int resource;
} names[] = {
    {"as", RLIMIT_AS},           {"core", RLIMIT_CORE},         {"cpu", RLIMIT_CPU},
    {"data", RLIMIT_DATA},       {"fsize", RLIMIT_FSIZE},       {"locks", RLIMIT_LOCKS},
    {"memlock", RLIMIT_MEMLOCK}, {"msgqueue", RLIMIT_MSGQUEUE}, {"nice", RLIMIT_NICE},
    {"nofile", RLIMIT_NOFILE},   {"nproc", RLIMIT_NPROC},       {"rss", RLIMIT_RSS},
    {"rtprio", RLIMIT_RTPRIO},   {"rttime", RLIMIT_RTTIME},     {"sigpending", RLIMIT_SIGPENDING},
    {"stack", RLIMIT_STACK},
};

const char *dcx_rlimit_name(int resource)
{
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].resource == resource)
            return names[i].name;
    return NULL;
}

int dcx_rlimit_number(const char *name)
{
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(names[i].name, name) == 0)
            return names[i].resource;
    return -EINVAL;
}

const char *dcx_format_rlim(rlim_t v, char *buf, size_t size)
{
    char tmp[24];
    size_t i = sizeof tmp - 1;
    tmp[i] = '\0';
    if (v == RLIM_INFINITY) {
        i -= 9;
        memcpy(tmp + i, "unlimited", 9);
    } else {
        unsigned long long x = (unsigned long long)v;
        do {
            tmp[--i] = (char)('0' + x % 10);
            x /= 10;
        } while (x && i > 0);
    }
    size_t n = sizeof tmp - 1 - i;
    if (n >= size)
        n = size - 1;
    memcpy(buf, tmp + i, n);
    buf[n] = '\0';
    return buf;
}

/* --------------------------------------------------------------- setters */

static int settable(daemonctx *ctx, const char *option)
{
    if (!ctx)
        return -EINVAL;
    if (ctx->is_open)
        return dcx_fail(&ctx->last_error, DAEMONCTX_STEP_OPTIONS, EBUSY,
                        "cannot set %s: the context is already open, changes would have no effect", option);
    dcx_clear(&ctx->last_error);
    return 0;
}

int daemonctx_set_rlimit(daemonctx *ctx, int resource, rlim_t soft, rlim_t hard)
{
    int r = settable(ctx, "rlimit");
    if (r < 0)
        return r;
    const char *name = dcx_rlimit_name(resource);
    if (resource < 0 || resource >= RLIMIT_NLIMITS || !name)
        return dcx_fail(&ctx->last_error, DAEMONCTX_STEP_OPTIONS, EINVAL, "rlimit: %d is not a resource limit",
                        resource);
    if (soft > hard) {
        char s[24], h[24];
        return dcx_fail(&ctx->last_error, DAEMONCTX_STEP_OPTIONS, EINVAL,
                        "rlimit %s: the soft limit %s is above the hard limit %s", name,
                        dcx_format_rlim(soft, s, sizeof s), dcx_format_rlim(hard, h, sizeof h));
    }
    ctx->rlimits[resource] = (struct dcx_rlimit_entry){.set = true, .soft = soft, .hard = hard};
    return 0;
}

int daemonctx_set_nice(daemonctx *ctx, int nice)
{
    int r = settable(ctx, "nice");
    if (r < 0)
        return r;
    if (nice < -20 || nice > 19)
        return dcx_fail(&ctx->last_error, DAEMONCTX_STEP_OPTIONS, EINVAL, "nice %d is out of range (-20 to 19)", nice);
    ctx->set_nice = true;
    ctx->nice = nice;
    return 0;
}

int daemonctx_set_oom_score_adj(daemonctx *ctx, int adj)
{
    int r = settable(ctx, "oom_score_adj");
    if (r < 0)
        return r;
    if (adj < -1000 || adj > 1000)
        return dcx_fail(&ctx->last_error, DAEMONCTX_STEP_OPTIONS, EINVAL,
                        "oom_score_adj %d is out of range (-1000 to 1000)", adj);
    ctx->set_oom_score_adj = true;
    ctx->oom_score_adj = adj;
    return 0;
}

/* ---------------------------------------------------------------- checks */

/* A small file of /proc as a number (fs.nr_open, oom_score_adj). */
static int read_number(int dirfd, const char *path, long long *out)
{
    int fd;
    do
        fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return -errno;
    char buf[32];
    ssize_t n;
    do
        n = read(fd, buf, sizeof buf - 1);
    while (n < 0 && errno == EINTR);
    int e = errno;
    dcx_close(fd);
    if (n <= 0)
        return n < 0 ? -e : -EPROTO;
    buf[n] = '\0';
    char *end;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (errno || end == buf || (*end && *end != '\n'))
        return -EPROTO;
    *out = v;
    return 0;
}

static int check_rlimit(int resource, const struct dcx_rlimit_entry *want, bool may_raise, daemonctx_error *err)
{
    const char *name = dcx_rlimit_name(resource);
    char a[24], b[24];
    struct rlimit cur;
    if (getrlimit(resource, &cur) < 0)
        return dcx_fail(err, DAEMONCTX_STEP_LIMITS, errno, "cannot read the %s limit: %m", name);
    /* The system's ceiling first: no capability lifts it. */
    if (resource == RLIMIT_NOFILE) {
        long long nr_open;
        if (read_number(AT_FDCWD, "/proc/sys/fs/nr_open", &nr_open) == 0 && nr_open > 0 &&
            want->hard > (rlim_t)nr_open)
            return dcx_fail(err, DAEMONCTX_STEP_LIMITS, EPERM,
                            "the nofile limit %s is above the system's maximum, fs.nr_open %s",
                            dcx_format_rlim(want->hard, a, sizeof a), dcx_format_rlim((rlim_t)nr_open, b, sizeof b));
    }
    if (want->hard > cur.rlim_max && !may_raise)
        return dcx_fail(err, DAEMONCTX_STEP_LIMITS, EPERM,
                        "cannot raise the hard %s limit from %s to %s without CAP_SYS_RESOURCE", name,
                        dcx_format_rlim(cur.rlim_max, a, sizeof a), dcx_format_rlim(want->hard, b, sizeof b));
    return 0;
}

static int check_nice(const daemonctx *ctx, daemonctx_error *err)
{
    errno = 0;
    int cur = getpriority(PRIO_PROCESS, 0);
    if (cur == -1 && errno)
        return dcx_fail(err, DAEMONCTX_STEP_LIMITS, errno, "cannot read the nice value: %m");
    if (ctx->nice >= cur || dcx_capable(CAP_SYS_NICE))
        return 0;
    /* Without the capability, RLIMIT_NICE (as it will be in the daemon)
     * allows nice values down to 20 - its soft limit. */
    struct rlimit lim;
    if (ctx->rlimits[RLIMIT_NICE].set)
        lim.rlim_cur = ctx->rlimits[RLIMIT_NICE].soft;
    else if (getrlimit(RLIMIT_NICE, &lim) < 0)
        return dcx_fail(err, DAEMONCTX_STEP_LIMITS, errno, "cannot read the nice limit: %m");
    if (lim.rlim_cur != RLIM_INFINITY && (rlim_t)(20 - ctx->nice) > lim.rlim_cur)
        return dcx_fail(err, DAEMONCTX_STEP_LIMITS, EPERM, "cannot lower the nice value from %d to %d without CAP_SYS_NICE",
                        cur, ctx->nice);
    return 0;
}

static int check_oom_score_adj(const daemonctx *ctx, daemonctx_error *err)
{
    long long cur = 0;
    int r = read_number(AT_FDCWD, "/proc/self/oom_score_adj", &cur);
    if (r < 0)
        return dcx_fail(err, DAEMONCTX_STEP_LIMITS, -r, "cannot read /proc/self/oom_score_adj: %m");
    /* The kernel allows going back down to the lowest value a privileged
     * writer set, which no file shows: the current value is the floor. */
    if (ctx->oom_score_adj < cur && !dcx_capable(CAP_SYS_RESOURCE))
        return dcx_fail(err, DAEMONCTX_STEP_LIMITS, EACCES,
                        "cannot lower oom_score_adj from %d to %d without CAP_SYS_RESOURCE", (int)cur,
                        ctx->oom_score_adj);
    return 0;
}

int dcx_check_limits(const daemonctx *ctx, daemonctx_error *err)
{
    bool may_raise = dcx_capable(CAP_SYS_RESOURCE);
    int r;
    for (int i = 0; i < RLIMIT_NLIMITS; i++)
        if (ctx->rlimits[i].set && (r = check_rlimit(i, &ctx->rlimits[i], may_raise, err)) < 0)
            return r;
    if (ctx->set_nice && (r = check_nice(ctx, err)) < 0)
        return r;
    if (ctx->set_oom_score_adj && (r = check_oom_score_adj(ctx, err)) < 0)
        return r;
    return 0;
}

int dcx_plan_limits(const daemonctx *ctx, struct dcx_plan *plan, daemonctx_error *err)
{
    if (!ctx->set_oom_score_adj)
        return 0;
    do
        plan->proc_fd = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
    while (plan->proc_fd < 0 && errno == EINTR);
    if (plan->proc_fd < 0)
        return dcx_fail(err, DAEMONCTX_STEP_LIMITS, errno, "cannot open /proc to set oom_score_adj: %m");
    return 0;
}

/* ------------------------------------------------------------- the daemon */

static int write_oom_score_adj(const daemonctx *ctx, const struct dcx_plan *plan, daemonctx_error *err)
{
    char text[16];
    size_t n = sizeof text;
    int v = ctx->oom_score_adj;
    unsigned u = v < 0 ? (unsigned)-v : (unsigned)v;
    do {
        text[--n] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        text[--n] = '-';
    int fd;
    do
        fd = openat(plan->proc_fd, "self/oom_score_adj", O_WRONLY | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return dcx_fail(err, DAEMONCTX_STEP_LIMITS, errno, "cannot open /proc/self/oom_score_adj: %m");
    ssize_t w;
    do
        w = write(fd, text + n, sizeof text - n);
    while (w < 0 && errno == EINTR);
    int e = errno;
    dcx_close(fd);
    if (w < 0)
        return dcx_fail(err, DAEMONCTX_STEP_LIMITS, e, "cannot set oom_score_adj to %d: %m", v);
    return 0;
}

int dcx_apply_limits(const daemonctx *ctx, const struct dcx_plan *plan, daemonctx_error *err)
{
    for (int i = 0; i < RLIMIT_NLIMITS; i++) {
        const struct dcx_rlimit_entry *e = &ctx->rlimits[i];
        if (!e->set)
            continue;
        const struct rlimit lim = {e->soft, e->hard};
        if (setrlimit(i, &lim) < 0) {
            char s[24], h[24];
            return dcx_fail(err, DAEMONCTX_STEP_LIMITS, errno, "cannot set the %s limit to %s:%s: %m",
                            dcx_rlimit_name(i), dcx_format_rlim(e->soft, s, sizeof s),
                            dcx_format_rlim(e->hard, h, sizeof h));
        }
    }
    if (ctx->set_nice && setpriority(PRIO_PROCESS, 0, ctx->nice) < 0)
        return dcx_fail(err, DAEMONCTX_STEP_LIMITS, errno, "cannot set the nice value to %d: %m", ctx->nice);
    if (ctx->set_oom_score_adj)
        return write_oom_score_adj(ctx, plan, err);
    return 0;
}
