/* Resolving the target identity (before any chroot: the jail rarely has an
 * /etc/passwd) and dropping to it completely: supplementary groups, then gid,
 * then uid, all of real/effective/saved, then proof that root cannot be
 * regained. python-daemon's initgroups path kept gid 0; both Python
 * implementations kept root's supplementary groups. */
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

bool dcx_capable(int cap)
{
    struct __user_cap_header_struct header = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
    memset(data, 0, sizeof data);
    if (cap < 0 || cap >= 32 * _LINUX_CAPABILITY_U32S_3 || syscall(SYS_capget, &header, data) < 0)
        return false;
    return (data[cap / 32].effective >> (cap % 32)) & 1u;
}

static bool already_is(uid_t uid, gid_t gid)
{
    uid_t ru, eu, su;
    gid_t rg, eg, sg;
    if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0)
        return false;
    return ru == uid && eu == uid && su == uid && rg == gid && eg == gid && sg == gid;
}

int dcx_lookup_user(uid_t uid, struct passwd *pw, char **buf, daemonctx_error *err)
{
    struct passwd *found = NULL;
    long bufsize = sysconf(_SC_GETPW_R_SIZE_MAX);
    size_t size = bufsize > 0 ? (size_t)bufsize : 16384;
    int r;
    *buf = NULL;
    for (;;) {
        char *bigger = realloc(*buf, size);
        if (!bigger) {
            r = dcx_fail(err, DAEMONCTX_STEP_USER, ENOMEM, "looking up uid %u: %m", (unsigned)uid);
            goto fail;
        }
        *buf = bigger;
        r = getpwuid_r(uid, pw, *buf, size, &found);
        if (r != ERANGE)
            break;
        size *= 2;
    }
    if (r != 0 && r != ENOENT && r != ESRCH && r != EBADF && r != EPERM) {
        r = dcx_fail(err, DAEMONCTX_STEP_USER, r, "looking up uid %u: %m", (unsigned)uid);
        goto fail;
    }
    if (found)
        return 1;
    r = 0;
fail:
    free(*buf);
    *buf = NULL;
    return r;
}

/* PLAN->groups: those of user NAME, whose primary group is GID. */
static int list_groups(const char *name, gid_t gid, struct dcx_plan *plan, daemonctx_error *err)
{
    int n = 32;
    for (;;) {
        gid_t *list = realloc(plan->groups, (size_t)n * sizeof *list);
        if (!list)
            return dcx_fail(err, DAEMONCTX_STEP_USER, ENOMEM, "groups of user %s: %m", name);
        plan->groups = list;
        int got = n;
        if (getgrouplist(name, gid, list, &got) >= 0) {
            plan->n_groups = (size_t)got;
            return 0;
        }
        /* No growth asked for: a lookup failure, not a short list. */
        n = got <= n ? n * 2 : got;
        if (n > 65536)
            return dcx_fail(err, DAEMONCTX_STEP_USER, E2BIG, "user %s is in too many groups", name);
    }
}

static int user_groups(const daemonctx *ctx, struct dcx_plan *plan, daemonctx_error *err)
{
    struct passwd pw;
    memset(&pw, 0, sizeof pw);
    char *buf = NULL;
    int r = dcx_lookup_user(ctx->uid, &pw, &buf, err);
    if (r < 0)
        return r;
    if (r == 0) { /* a numeric uid with no passwd entry: no supplementary groups at all */
        plan->groups = malloc(sizeof *plan->groups);
        if (!plan->groups) {
            r = dcx_fail(err, DAEMONCTX_STEP_USER, ENOMEM, "groups of uid %u: %m", (unsigned)ctx->uid);
        } else {
            plan->groups[0] = ctx->gid;
            plan->n_groups = 1;
        }
    } else {
        const char *name = pw.pw_name ? pw.pw_name : "";
        plan->user_name = strdup(name);
        r = plan->user_name ? list_groups(name, ctx->gid, plan, err)
                            : dcx_fail(err, DAEMONCTX_STEP_USER, ENOMEM, "user %s: %m", name);
    }
    free(buf);
    return r;
}

int dcx_plan_privileges(const daemonctx *ctx, struct dcx_plan *plan, daemonctx_error *err)
{
    plan->change_ids = !already_is(ctx->uid, ctx->gid);
    if (!plan->change_ids)
        return 0;
    /* Only a privileged process can (and must) replace its supplementary
     * groups; an unprivileged one keeps its own and can only fail below. */
    if (geteuid() != 0)
        return 0;
    plan->set_groups = true;
    return user_groups(ctx, plan, err);
}

#define WHO_FMT "uid %u%s%s%s"
#define WHO_ARGS(ctx, plan)                                                                                        \
    (unsigned)(ctx)->uid, (plan)->user_name ? " (" : "", (plan)->user_name ? (plan)->user_name : "",             \
        (plan)->user_name ? ")" : ""

int dcx_drop_privileges(const daemonctx *ctx, const struct dcx_plan *plan, daemonctx_error *err)
{
    if (!plan->change_ids)
        return 0;
    if (plan->set_groups && setgroups(plan->n_groups, plan->groups) < 0)
        return dcx_fail(err, DAEMONCTX_STEP_SETGROUPS, errno, "cannot set the supplementary groups of " WHO_FMT ": %m",
                        WHO_ARGS(ctx, plan));
    if (setresgid(ctx->gid, ctx->gid, ctx->gid) < 0)
        return dcx_fail(err, DAEMONCTX_STEP_SETGID, errno, "cannot change group to gid %u: %m", (unsigned)ctx->gid);
    if (setresuid(ctx->uid, ctx->uid, ctx->uid) < 0)
        return dcx_fail(err, DAEMONCTX_STEP_SETUID, errno, "cannot change user to " WHO_FMT ": %m", WHO_ARGS(ctx, plan));

    uid_t ru, eu, su;
    gid_t rg, eg, sg;
    if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0)
        return dcx_fail(err, DAEMONCTX_STEP_VERIFY_DROP, errno, "cannot read back the process ids: %m");
    if (ru != ctx->uid || eu != ctx->uid || su != ctx->uid || rg != ctx->gid || eg != ctx->gid || sg != ctx->gid)
        return dcx_fail(err, DAEMONCTX_STEP_VERIFY_DROP, EPERM, "ids after the drop to " WHO_FMT " are not the requested ones",
                        WHO_ARGS(ctx, plan));
    if (ctx->uid != 0 && (setuid(0) == 0 || seteuid(0) == 0))
        return dcx_fail(err, DAEMONCTX_STEP_VERIFY_DROP, EPERM, "the drop to " WHO_FMT " is reversible: uid 0 was regained",
                        WHO_ARGS(ctx, plan));
    return 0;
}
