/* The options that make PROGRAM a service rather than a bare daemon:
 * resource limits, nice, oom_score_adj. They only configure the library's
 * context (which checks and applies them), so every launch path that builds
 * one from start_opts (start, run) gets them alike. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "cli.h"

/* A setter's refusal: its message, exit 2 (a bad value). */
static int refused(const struct launch *l, int r)
{
    const daemonctx_error *e = daemonctx_last_error(l->ctx);
    print_error("%s", e->errnum ? e->message : strerror(-r));
    return EXIT_USAGE;
}

/* --limit: a value not given is the current one (prlimit's "S:" and ":H"). */
static int configure_limits(const struct start_opts *o, struct launch *l)
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
        int r = daemonctx_set_rlimit(l->ctx, i, want->soft_set ? want->soft : cur.rlim_cur,
                                     want->hard_set ? want->hard : cur.rlim_max);
        if (r < 0)
            return refused(l, r);
    }
    int r = 0;
    if (o->set_nice)
        r = daemonctx_set_nice(l->ctx, o->nice);
    if (r >= 0 && o->set_oom_score_adj)
        r = daemonctx_set_oom_score_adj(l->ctx, o->oom_score_adj);
    return r < 0 ? refused(l, r) : 0;
}

int configure_service(const struct start_opts *o, struct launch *l)
{
    return configure_limits(o, l);
}

void print_service_plan(const struct start_opts *o, const struct launch *l)
{
    (void)l;
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
