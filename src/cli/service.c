/* The options that make PROGRAM a service rather than a bare daemon:
 * resource limits, nice, oom_score_adj, its environment, its runtime
 * directory, the cgroup that tracks its tree. They only configure the
 * library's contexts (which check and apply them), so every launch path
 * (start, start --supervise, run) gets them alike. What is PROGRAM's own
 * (limits, nice, oom score, environment) goes on PROGRAM's context: under a
 * supervisor, the one the library applies in the child it execs PROGRAM
 * from, so that the supervisor keeps its own identity, environment and
 * limits. What belongs to the whole daemon (runtime directory, cgroup) goes
 * on the daemon's, the runtime directory given to PROGRAM's user. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

/* A setter's refusal: its message, exit 2 (a bad value). */
static int refused(const daemonctx *ctx, int r)
{
    const daemonctx_error *e = daemonctx_last_error(ctx);
    print_error("%s", e->errnum ? e->message : strerror(-r));
    return EXIT_USAGE;
}

/* --limit: a value not given is the current one (prlimit's "S:" and ":H"). */
static int configure_limits(const struct start_opts *o, daemonctx *ctx)
{
    for (int i = 0; i < RLIMIT_NLIMITS; i++) {
        const struct start_limit *want = &o->limits[i];
        if (!want->set)
            continue;
        struct rlimit cur;
        if ((!want->soft_set || !want->hard_set) && getrlimit(i, &cur) < 0) {
            print_error("cannot read the %s limit: %s", dcx_rlimit_name(i), strerror(errno));
            return EXIT_SYSTEM;
        }
        int r = daemonctx_set_rlimit(ctx, i, want->soft_set ? want->soft : cur.rlim_cur,
                                     want->hard_set ? want->hard : cur.rlim_max);
        if (r < 0)
            return refused(ctx, r);
    }
    int r = 0;
    if (o->set_nice)
        r = daemonctx_set_nice(ctx, o->nice);
    if (r >= 0 && o->set_oom_score_adj)
        r = daemonctx_set_oom_score_adj(ctx, o->oom_score_adj);
    return r < 0 ? refused(ctx, r) : 0;
}

/* The whole of FILE (NUL-terminated), or NULL with errno. */
static char *read_whole(const char *path, size_t *len)
{
    int fd;
    do
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return NULL;
    struct stat st;
    char *buf = NULL;
    size_t size = 0, n = 0;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        errno = EISDIR;
        goto fail;
    }
    for (;;) {
        if (n + 1 >= size) {
            size = size ? size * 2 : 4096;
            char *bigger = realloc(buf, size);
            if (!bigger)
                goto fail;
            buf = bigger;
        }
        ssize_t k = read(fd, buf + n, size - n - 1);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            goto fail;
        if (k == 0)
            break;
        n += (size_t)k;
    }
    dcx_close(fd);
    buf[n] = '\0';
    *len = n;
    return buf;
fail:;
    int e = errno;
    free(buf);
    dcx_close(fd);
    errno = e;
    return NULL;
}

static int assign(void *arg, const char *name, const char *value, unsigned line)
{
    (void)line;
    return daemonctx_setenv(arg, name, value);
}

/* --env-file FILE: every assignment, or one line naming FILE:LINE. */
static int load_env_file(const char *path, daemonctx *ctx)
{
    size_t len;
    char *text = read_whole(path, &len);
    if (!text) {
        print_error("cannot read env file '%s': %s", path, strerror(errno));
        return EXIT_USAGE;
    }
    struct env_file_error e;
    int r = env_file_parse(text, len, assign, ctx, &e);
    free(text);
    if (r == 0)
        return 0;
    if (e.what)
        print_error("%s:%u: %s", path, e.line, e.what);
    else
        print_error("%s:%u: %s", path, e.line, daemonctx_last_error(ctx)->message);
    return EXIT_USAGE;
}

/* The environment: the invoker's (or, --clear-env, none), the identity of
 * the user (with --user, as login(1) does; with --clear-env, whoever it
 * is), then --env and --env-file in the order given. */
static int configure_environment(const struct start_opts *o, daemonctx *ctx)
{
    int r = daemonctx_clear_environment(ctx, o->clear_env);
    if (r >= 0)
        r = daemonctx_set_identity_environment(ctx, o->user || o->clear_env);
    if (r < 0)
        return refused(ctx, r);
    for (size_t i = 0; i < o->n_env; i++) {
        const struct env_option *e = &o->env[i];
        if (e->file) {
            if ((r = load_env_file(e->text, ctx)))
                return r;
            continue;
        }
        const char *eq = strchr(e->text, '=');
        char *name = strndup(e->text, (size_t)(eq - e->text));
        if (!name) {
            print_error("out of memory");
            return EXIT_SYSTEM;
        }
        r = daemonctx_setenv(ctx, name, eq + 1);
        free(name);
        if (r < 0)
            return refused(ctx, r);
    }
    return 0;
}

/* The daemon's: made before the pidfile is locked, PROGRAM's user's. */
static int configure_runtime_dir(const struct start_opts *o, struct launch *l)
{
    int r = daemonctx_set_runtime_directory(l->ctx, o->runtime_dir, o->runtime_dir_mode);
    if (r >= 0 && l->program_ctx && (l->set_uid || l->set_gid))
        r = daemonctx_set_runtime_directory_owner(l->ctx, l->set_uid ? l->uid : getuid(),
                                                  l->set_gid ? l->gid : getgid());
    return r < 0 ? refused(l->ctx, r) : 0;
}

int configure_service(const struct start_opts *o, struct launch *l)
{
    daemonctx *program = l->program_ctx ? l->program_ctx : l->ctx;
    int r = configure_limits(o, program);
    if (!r)
        r = configure_environment(o, program);
    if (!r && o->runtime_dir)
        r = configure_runtime_dir(o, l);
    if (!r) {
        int e = daemonctx_set_cgroup(l->ctx, o->cgroup, o->cgroup_parent);
        if (e < 0)
            r = refused(l->ctx, e);
    }
    return r;
}

/* How the tree is tracked: "cgroup DIR (why)", or without one what is used
 * instead. The library decides; the pidfile must be set on the context. */
static const char *tree_tracking(const struct start_opts *o, const struct launch *l, char *buf, size_t size)
{
    char dir[4096];
    const char *why;
    int r = daemonctx_cgroup_decision(l->ctx, dir, sizeof dir, &why);
    if (r == 1) {
        struct stat st;
        (void)snprintf(buf, size, "cgroup %s (%s%s)", dir, why, stat(dir, &st) == 0 ? ", exists: reused" : "");
    } else {
        (void)snprintf(buf, size, "process group, session and descendants%s (no cgroup: %s)",
                       o->supervise && !o->run ? ", the supervisor a subreaper of what PROGRAM orphans" : "",
                       o->run ? "run ends its leftovers itself" : o->cgroup == DAEMONCTX_CGROUP_NONE ? "--cgroup=none" : r < 0 ? "refused" : why);
    }
    return buf;
}

void say_tree_tracking(const struct start_opts *o, const struct launch *l)
{
    if (o->verbose) {
        char buf[4096 + 256];
        print_verbose(true, "tree: %s", tree_tracking(o, l, buf, sizeof buf));
    }
}

void print_service_plan(const struct start_opts *o, const struct launch *l)
{
    char buf[4096 + 256];
    (void)printf("tree: %s\n", tree_tracking(o, l, buf, sizeof buf));
    if (o->runtime_dir) {
        struct stat st;
        bool there = lstat(o->runtime_dir, &st) == 0;
        (void)printf("runtime directory: %s (%s, mode %04o, uid %u, gid %u)\n", o->runtime_dir,
                     there ? "exists" : "to be made", (unsigned)o->runtime_dir_mode,
                     (unsigned)(l->set_uid ? l->uid : getuid()), (unsigned)(l->set_gid ? l->gid : getgid()));
    } else {
        (void)fputs("runtime directory: none\n", stdout);
    }
    (void)printf("environment: %s%s", o->clear_env ? "empty" : "inherited",
                 o->user || o->clear_env ? ", HOME USER LOGNAME SHELL of the user" : "");
    for (size_t i = 0; i < o->n_env; i++)
        (void)printf(", %s %s", o->env[i].file ? "file" : "set", o->env[i].text);
    (void)putchar('\n');
    char s[24], h[24];
    (void)fputs("limits:", stdout);
    bool any = false;
    for (int i = 0; i < RLIMIT_NLIMITS; i++) {
        const struct start_limit *want = &o->limits[i];
        struct rlimit cur = {0, 0};
        if (!want->set || ((!want->soft_set || !want->hard_set) && getrlimit(i, &cur) < 0))
            continue;
        (void)printf(" %s=%s:%s", dcx_rlimit_name(i), dcx_format_rlim(want->soft_set ? want->soft : cur.rlim_cur, s, sizeof s),
                     dcx_format_rlim(want->hard_set ? want->hard : cur.rlim_max, h, sizeof h));
        any = true;
    }
    (void)printf("%s\n", any ? "" : " unchanged");
    if (o->set_nice)
        (void)printf("nice: %d\n", o->nice);
    else
        (void)fputs("nice: unchanged\n", stdout);
    if (o->set_oom_score_adj)
        (void)printf("oom score adjust: %d\n", o->oom_score_adj);
    else
        (void)fputs("oom score adjust: unchanged\n", stdout);
}
