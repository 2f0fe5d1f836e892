/* The command line of `start`. Every mistake is one line naming the option
 * and the value at fault, plus a hint; the help is only printed on request. */
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <syslog.h>

#include "cli.h"

enum {
    OPT_ALLOW_CORE = 256,
    OPT_DETACH,
    OPT_SYSLOG,
    OPT_SUPERVISE,
    OPT_RESTART,
    OPT_RESTART_DELAY,
    OPT_RESTART_MAX,
    OPT_READY,
    OPT_TIMEOUT,
    OPT_DRY_RUN,
    OPT_IGNORE_SIGNAL,
    OPT_LOG_TIMESTAMPS,
    OPT_SIGNAL_GROUP,
    OPT_SUBREAPER,
    OPT_GRACE,
    OPT_LIMIT,
    OPT_NICE,
    OPT_OOM_SCORE_ADJUST,
    OPT_ENV,
    OPT_ENV_FILE,
    OPT_CLEAR_ENV,
    OPT_RUNTIME_DIR,
    OPT_RUNTIME_DIR_MODE,
    OPT_CGROUP,
    OPT_HELP
};

static const struct option long_options[] = {
    {"pidfile", required_argument, NULL, 'p'},
    {"chdir", required_argument, NULL, 'd'},
    {"chroot", required_argument, NULL, 'r'},
    {"umask", required_argument, NULL, 'm'},
    {"user", required_argument, NULL, 'u'},
    {"group", required_argument, NULL, 'g'},
    {"allow-core", no_argument, NULL, OPT_ALLOW_CORE},
    {"detach", required_argument, NULL, OPT_DETACH},
    {"keep-fd", required_argument, NULL, 'k'},
    {"stdin", required_argument, NULL, 'i'},
    {"stdout", required_argument, NULL, 'o'},
    {"stderr", required_argument, NULL, 'e'},
    {"syslog", optional_argument, NULL, OPT_SYSLOG},
    {"supervise", no_argument, NULL, OPT_SUPERVISE},
    {"restart", no_argument, NULL, OPT_RESTART},
    {"restart-delay", required_argument, NULL, OPT_RESTART_DELAY},
    {"restart-max-delay", required_argument, NULL, OPT_RESTART_MAX},
    {"ready", required_argument, NULL, OPT_READY},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"dry-run", no_argument, NULL, OPT_DRY_RUN},
    {"ignore-signal", required_argument, NULL, OPT_IGNORE_SIGNAL},
    {"log-timestamps", no_argument, NULL, OPT_LOG_TIMESTAMPS},
    {"signal-group", no_argument, NULL, OPT_SIGNAL_GROUP},
    {"subreaper", no_argument, NULL, OPT_SUBREAPER},
    {"grace", required_argument, NULL, OPT_GRACE},
    {"limit", required_argument, NULL, OPT_LIMIT},
    {"nice", required_argument, NULL, OPT_NICE},
    {"oom-score-adjust", required_argument, NULL, OPT_OOM_SCORE_ADJUST},
    {"env", required_argument, NULL, OPT_ENV},
    {"env-file", required_argument, NULL, OPT_ENV_FILE},
    {"clear-env", no_argument, NULL, OPT_CLEAR_ENV},
    {"runtime-dir", required_argument, NULL, OPT_RUNTIME_DIR},
    {"runtime-dir-mode", required_argument, NULL, OPT_RUNTIME_DIR_MODE},
    {"cgroup", required_argument, NULL, OPT_CGROUP},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

/* The option as the user wrote it, for messages: "--umask" or "-m". */
static const char *option_text(int c, int index)
{
    static char shortopt[3] = "-?";
    if (index >= 0)
        return long_options[index].name;
    shortopt[1] = (char)c;
    return shortopt;
}

static int bad_value(int c, int index, const char *value, const char *expected)
{
    const char *name = option_text(c, index);
    usage_error("invalid value '%s' for %s%s: %s", value, index >= 0 ? "--" : "", name, expected);
    return -1;
}

static int parse_ready(const char *s, struct start_opts *o)
{
    long n;
    if (strcmp(s, "exec") == 0)
        o->ready = READY_EXEC;
    else if (strcmp(s, "notify") == 0)
        o->ready = READY_NOTIFY;
    else if (strncmp(s, "fd:", 3) == 0 && parse_int(s + 3, 3, INT_MAX, &n) == 0) {
        o->ready = READY_FD;
        o->ready_fd = (int)n;
    } else
        return -1;
    return 0;
}

static bool keeps(const struct start_opts *o, int fd)
{
    for (size_t i = 0; i < o->n_keep; i++)
        if (o->keep_fds[i] == fd)
            return true;
    return false;
}

/* The options that belong to one command only. */
static int check_command(const struct start_opts *o, const bool *given)
{
    static const struct {
        const char *name;
        int opt;
        bool run; /* an option of run (else of start) */
    } only[] = {
        {"--detach", OPT_DETACH, false},       {"--supervise", OPT_SUPERVISE, false},
        {"--signal-group", OPT_SIGNAL_GROUP, true}, {"--subreaper", OPT_SUBREAPER, true},
        {"--grace", OPT_GRACE, true},          {"--cgroup", OPT_CGROUP, false},
    };
    for (size_t i = 0; i < sizeof only / sizeof only[0]; i++)
        if (given[only[i].opt - OPT_ALLOW_CORE] && only[i].run != o->run) {
            usage_error("%s is an option of %s, not of %s%s", only[i].name, only[i].run ? "run" : "start",
                        o->run ? "run" : "start", o->run && only[i].opt == OPT_SUPERVISE ? " (run supervises)" : "");
            return -1;
        }
    return 0;
}

/* Combinations that cannot work, refused before anything is touched. */
static int check_combinations(const struct start_opts *o)
{
    if (o->log_timestamps && !o->supervise) {
        usage_error("--log-timestamps needs --supervise (the supervisor writes PROGRAM's output lines)");
        return -1;
    }
    if (o->syslog && !o->supervise) {
        usage_error("--syslog needs --supervise (the supervisor reads PROGRAM's output)");
        return -1;
    }
    if (o->syslog && (o->stdio_path[1] || o->stdio_path[2])) {
        usage_error("--syslog conflicts with --stdout and --stderr");
        return -1;
    }
    if (o->restart && !o->supervise) {
        usage_error("--restart needs --supervise");
        return -1;
    }
    struct rlimit nofile;
    if (o->ready == READY_FD && getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY &&
        (rlim_t)o->ready_fd >= nofile.rlim_cur) {
        usage_error("--ready=fd:%d is not below the open files limit (RLIMIT_NOFILE %llu)", o->ready_fd,
                    (unsigned long long)nofile.rlim_cur);
        return -1;
    }
    if (o->ready == READY_FD && keeps(o, o->ready_fd)) {
        usage_error("--ready=fd:%d conflicts with --keep-fd=%d", o->ready_fd, o->ready_fd);
        return -1;
    }
    for (int i = 0; i < 3; i++)
        if (o->stdio_path[i] && keeps(o, i)) {
            usage_error("--keep-fd=%d conflicts with --%s", i, i == 0 ? "stdin" : i == 1 ? "stdout" : "stderr");
            return -1;
        }
    if (o->restart_max_ms < o->restart_delay_ms) {
        usage_error("--restart-max-delay is shorter than --restart-delay");
        return -1;
    }
    return 0;
}

void free_start_options(struct start_opts *o)
{
    free(o->keep_fds);
    free(o->env);
    o->keep_fds = NULL;
    o->env = NULL;
}

static int parse_cgroup(int c, int index, struct start_opts *o)
{
    if (optarg && strcmp(optarg, "auto") == 0) {
        o->cgroup = DAEMONCTX_CGROUP_AUTO;
    } else if (optarg && strcmp(optarg, "none") == 0) {
        o->cgroup = DAEMONCTX_CGROUP_NONE;
    } else if (optarg && optarg[0] == '/') {
        o->cgroup = DAEMONCTX_CGROUP_PARENT;
        o->cgroup_parent = optarg;
    } else {
        return bad_value(c, index, optarg ? optarg : "", "auto, none, or the absolute path of a parent cgroup");
    }
    return 0;
}

/* The options of a service (limits, environment, runtime directory, cgroup):
 * 0, 1 when C is none of them, or -1 after a usage error. */
static int parse_service_option(int c, int index, struct start_opts *o)
{
    long n;
    switch (c) {
    case OPT_LIMIT: {
        int resource;
        struct start_limit lim;
        if (!optarg || parse_limit(optarg, &resource, &lim) < 0)
            return bad_value(c, index, optarg,
                             "RESOURCE=SOFT[:HARD] with a resource of prlimit(1) (as, core, cpu, data, fsize, "
                             "locks, memlock, msgqueue, nice, nofile, nproc, rss, rtprio, rttime, sigpending, "
                             "stack), numbers or unlimited, SOFT <= HARD");
        o->limits[resource] = lim;
        break;
    }
    case OPT_NICE:
        if (parse_int(optarg, -20, 19, &n) < 0)
            return bad_value(c, index, optarg, "a nice value from -20 to 19");
        o->set_nice = true;
        o->nice = (int)n;
        break;
    case OPT_OOM_SCORE_ADJUST:
        if (parse_int(optarg, -1000, 1000, &n) < 0)
            return bad_value(c, index, optarg, "an oom_score_adj from -1000 to 1000");
        o->set_oom_score_adj = true;
        o->oom_score_adj = (int)n;
        break;
    case OPT_ENV: {
        const char *eq = optarg ? strchr(optarg, '=') : NULL;
        if (!eq || !dcx_env_name_valid(optarg, (size_t)(eq - optarg)))
            return bad_value(c, index, optarg,
                             "NAME=VALUE, NAME letters, digits and underscores, not starting with a digit");
        o->env[o->n_env++] = (struct env_option){.file = false, .text = optarg};
        break;
    }
    case OPT_ENV_FILE:
        if (!optarg || !*optarg)
            return bad_value(c, index, optarg, "a file");
        o->env[o->n_env++] = (struct env_option){.file = true, .text = optarg};
        break;
    case OPT_CLEAR_ENV:
        o->clear_env = true;
        break;
    case OPT_RUNTIME_DIR:
        if (!optarg || optarg[0] != '/' || !optarg[1])
            return bad_value(c, index, optarg, "an absolute directory other than /");
        o->runtime_dir = optarg;
        break;
    case OPT_CGROUP:
        return parse_cgroup(c, index, o);
    case OPT_RUNTIME_DIR_MODE:
        if (parse_octal_mode(optarg, &o->runtime_dir_mode) < 0)
            return bad_value(c, index, optarg, "an octal mode from 0 to 0777");
        break;
    default:
        return 1;
    }
    return 0;
}

/* What daemonctx_open does, PEP 3143's options: 0 when C is one of them,
 * 1 when not, -1 for a bad value. */
static int parse_context_option(int c, int index, struct start_opts *o)
{
    long n;
    switch (c) {
    case 'p':
        o->pidfile = optarg;
        return 0;
    case 'd':
        if (!optarg || !*optarg)
            return bad_value(c, index, "", "a directory");
        o->chdir = optarg;
        return 0;
    case 'r':
        o->chroot = optarg;
        return 0;
    case 'm':
        if (parse_octal_mode(optarg, &o->umask) < 0)
            return bad_value(c, index, optarg, "an octal mode from 0 to 0777");
        return 0;
    case 'u':
        o->user = optarg;
        return 0;
    case 'g':
        o->group = optarg;
        return 0;
    case OPT_ALLOW_CORE:
        o->allow_core = true;
        return 0;
    case OPT_DETACH:
        if (strcmp(optarg, "auto") == 0)
            o->detach = DAEMONCTX_DETACH_AUTO;
        else if (strcmp(optarg, "yes") == 0)
            o->detach = DAEMONCTX_DETACH_YES;
        else if (strcmp(optarg, "no") == 0)
            o->detach = DAEMONCTX_DETACH_NO;
        else
            return bad_value(c, index, optarg, "auto, yes or no");
        return 0;
    case 'k':
        if (parse_int(optarg, 0, INT_MAX, &n) < 0)
            return bad_value(c, index, optarg, "a file descriptor number");
        if (!keeps(o, (int)n))
            o->keep_fds[o->n_keep++] = (int)n;
        return 0;
    case 'i':
        o->stdio_path[0] = optarg;
        return 0;
    case 'o':
        o->stdio_path[1] = optarg;
        return 0;
    case 'e':
        o->stdio_path[2] = optarg;
        return 0;
    case OPT_SYSLOG:
        o->syslog = true;
        if (optarg && parse_syslog(optarg, &o->syslog_priority) < 0)
            return bad_value(c, index, optarg, "FACILITY.PRIORITY, e.g. daemon.notice");
        return 0;
    default:
        return 1;
    }
}

/* How the start waits, supervises and ends: as parse_context_option. */
static int parse_supervision_option(int c, int index, struct start_opts *o)
{
    int signo;
    switch (c) {
    case OPT_SUPERVISE:
        o->supervise = true;
        return 0;
    case OPT_RESTART:
        o->restart = true;
        return 0;
    case OPT_RESTART_DELAY:
        if (parse_seconds(optarg, &o->restart_delay_ms) < 0 || o->restart_delay_ms == 0)
            return bad_value(c, index, optarg, "a positive number of seconds");
        return 0;
    case OPT_RESTART_MAX:
        if (parse_seconds(optarg, &o->restart_max_ms) < 0 || o->restart_max_ms == 0)
            return bad_value(c, index, optarg, "a positive number of seconds");
        return 0;
    case OPT_READY:
        if (parse_ready(optarg, o) < 0)
            return bad_value(c, index, optarg, "exec, notify or fd:N with N >= 3");
        return 0;
    case OPT_TIMEOUT:
        if (parse_seconds(optarg, &o->timeout_ms) < 0)
            return bad_value(c, index, optarg, "a number of seconds (0: no limit)");
        return 0;
    case OPT_DRY_RUN:
        o->dry_run = true;
        return 0;
    case OPT_IGNORE_SIGNAL:
        if (parse_signal(optarg, &signo) < 0 || signo == SIGKILL || signo == SIGSTOP)
            return bad_value(c, index, optarg, "a signal that can be ignored, e.g. HUP");
        (void)sigaddset(&o->ignore, signo);
        return 0;
    case OPT_LOG_TIMESTAMPS:
        o->log_timestamps = true;
        return 0;
    case OPT_SIGNAL_GROUP:
        o->signal_group = true;
        return 0;
    case OPT_SUBREAPER:
        o->subreaper = true;
        return 0;
    case OPT_GRACE:
        if (parse_seconds(optarg, &o->grace_ms) < 0)
            return bad_value(c, index, optarg, "a number of seconds");
        return 0;
    case 'v':
        o->verbose = true;
        return 0;
    default:
        return 1;
    }
}

static void set_defaults(struct start_opts *o, bool run)
{
    memset(o, 0, sizeof *o);
    o->run = o->supervise = run;
    o->grace_ms = 5000;
    o->umask = 022;
    o->detach = DAEMONCTX_DETACH_AUTO;
    o->timeout_ms = 60000;
    o->restart_delay_ms = 1000;
    o->restart_max_ms = 60000;
    o->syslog_priority = LOG_DAEMON | LOG_NOTICE;
    o->ready_fd = -1;
    o->runtime_dir_mode = 0755;
    /* run's tree is its own to end (it reaps as PID 1 or --subreaper and
     * ends the leftovers), or its service manager's: run could not remove a
     * cgroup it is in when it exits. */
    o->cgroup = run ? DAEMONCTX_CGROUP_NONE : DAEMONCTX_CGROUP_AUTO;
    (void)sigemptyset(&o->ignore);
}

/* The command line after the options: PROGRAM and its arguments. */
static int take_program(int argc, char **argv, struct start_opts *o, bool run)
{
    if (optind >= argc) {
        usage_error("%s needs a PROGRAM to run", run ? "run" : "start");
        return -1;
    }
    if (!*argv[optind]) {
        usage_error("PROGRAM is an empty string");
        return -1;
    }
    o->argv = argv + optind;
    /* run's PROGRAM starts in the current directory (a container's WORKDIR),
     * not in "/"; its stdio is inherited unless -i/-o/-e say otherwise. */
    if (run && !o->chdir)
        o->chdir = ".";
    return 0;
}

/* Returns 0, -1 after a usage error was printed, -2 after another error,
 * or 1 when --help was printed. RUN: the options of `run`. */
int parse_start_options(int argc, char **argv, struct start_opts *o, bool run)
{
    bool given[OPT_HELP - OPT_ALLOW_CORE + 1] = {false};
    set_defaults(o, run);
    /* --keep-fd can repeat at most once per argument. */
    o->keep_fds = malloc((size_t)argc * sizeof *o->keep_fds);
    o->env = malloc((size_t)argc * sizeof *o->env);
    if (!o->keep_fds || !o->env) {
        print_error("out of memory");
        return -2;
    }
    opterr = 0;
    optind = 1;
    for (;;) {
        int index = -1;
        int c = getopt_long(argc, argv, "+:p:d:r:m:u:g:k:i:o:e:v", long_options, &index);
        if (c == -1)
            break;
        if (c >= OPT_ALLOW_CORE && c <= OPT_HELP)
            given[c - OPT_ALLOW_CORE] = true;
        if (c == OPT_HELP)
            return print_help() == 0 ? 1 : -2;
        int r = parse_context_option(c, index, o);
        if (r > 0)
            r = parse_supervision_option(c, index, o);
        if (r > 0)
            r = parse_service_option(c, index, o);
        if (r > 0) /* '?' or ':' */
            getopt_usage_error(c, argv);
        if (r != 0)
            return -1;
    }
    if (check_command(o, given) < 0 || take_program(argc, argv, o, run) < 0)
        return -1;
    return check_combinations(o);
}
