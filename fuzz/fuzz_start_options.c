/*
 * fuzz_start_options - the command line of `daemonctx start` and `run`, parse_start_options
 * (src/cli/options.c), fed NUL-separated arguments.
 *
 * Properties: it returns 0, 1 (help), -1 (usage error) or -2; on success the
 * options obey daemonctx(1): a PROGRAM that is not empty, a umask <= 0777,
 * --keep-fd values >= 0 and unique, --ready=fd:N with N >= 3, restart
 * delays ordered, --syslog and --restart only with --supervise, --limit
 * values ordered (SOFT <= HARD when both are given), --nice in -20..19,
 * --oom-score-adjust in -1000..1000, every --env a valid NAME=VALUE,
 * --runtime-dir absolute and not "/", --cgroup's parent absolute (and given
 * only with the PARENT mode), --runtime-dir-mode <= 0777.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fuzz_argv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The first byte picks the command: `start` or `run` (the same parser). */
    bool run = size > 0 && (data[0] & 1);
    fuzz_argv a;
    if (fuzz_argv_make(&a, run ? "run" : "start", data + (size > 0), size - (size > 0)) < 0)
        return 0;
    struct start_opts o;
    int r = parse_start_options(a.argc, a.argv, &o, run);
    if (r < -2 || r > 1)
        abort();
    if (r == 0) {
        if (!o.argv || !o.argv[0] || !o.argv[0][0])
            abort();
        if (o.umask > 0777)
            abort();
        for (size_t i = 0; i < o.n_keep; i++) {
            if (o.keep_fds[i] < 0)
                abort();
            for (size_t j = 0; j < i; j++)
                if (o.keep_fds[j] == o.keep_fds[i])
                    abort();
        }
        if (o.ready == READY_FD && o.ready_fd < 3)
            abort();
        if (o.restart_max_ms < o.restart_delay_ms || o.restart_delay_ms == 0)
            abort();
        if ((o.syslog || o.restart || o.log_timestamps) && !o.supervise)
            abort();
        if (o.run != run || (run && !o.supervise) || (!run && (o.signal_group || o.subreaper)))
            abort();
        if (sigismember(&o.ignore, SIGKILL) == 1 || sigismember(&o.ignore, SIGSTOP) == 1)
            abort();
        for (int i = 0; i < RLIMIT_NLIMITS; i++) {
            const struct start_limit *l = &o.limits[i];
            if (l->set && ((!l->soft_set && !l->hard_set) || (l->soft_set && l->hard_set && l->soft > l->hard)))
                abort();
        }
        if ((o.set_nice && (o.nice < -20 || o.nice > 19)) ||
            (o.set_oom_score_adj && (o.oom_score_adj < -1000 || o.oom_score_adj > 1000)))
            abort();
        if (o.runtime_dir && (o.runtime_dir[0] != '/' || !o.runtime_dir[1]))
            abort();
        if (o.runtime_dir_mode > 0777)
            abort();
        if ((o.cgroup == DAEMONCTX_CGROUP_PARENT) != (o.cgroup_parent != NULL) ||
            (o.cgroup_parent && o.cgroup_parent[0] != '/'))
            abort();
        for (size_t i = 0; i < o.n_env; i++) {
            const char *eq = strchr(o.env[i].text, '=');
            if (!o.env[i].file && (!eq || !dcx_env_name_valid(o.env[i].text, (size_t)(eq - o.env[i].text))))
                abort();
        }
    }
    free_start_options(&o);
    free(a.buf);
    return 0;
}
