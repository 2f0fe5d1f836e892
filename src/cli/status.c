/* `daemonctx status`: what the pidfile's lock says, with LSB exit codes.
 * Liveness comes from the lock only, never from kill(pid, 0): a PID can be
 * reused, and a zombie "exists" although it released its lock. --json adds
 * the daemon's process tree: its cgroup and the PIDs in it (or, without
 * one, its descendants, process group and session). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* PATH as a JSON string (quotes, backslashes and control characters escaped). */
static void print_json_string(const char *s)
{
    (void)putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            (void)printf("\\%c", *p);
        else if (*p < 0x20)
            (void)printf("\\u%04x", *p);
        else
            (void)putchar(*p);
    }
    (void)putchar('"');
}

/* ,"cgroup":PATH|null,"tree":[PID,...] */
static void print_json_tree(const char *path, pid_t pid)
{
    daemonctx_error err;
    daemonctx_tree *tree = daemonctx_tree_open(path, pid, &err);
    const char *cgroup = tree ? daemonctx_tree_cgroup(tree) : NULL;
    (void)fputs(",\"cgroup\":", stdout);
    if (cgroup)
        print_json_string(cgroup);
    else
        (void)fputs("null", stdout);
    (void)fputs(",\"tree\":[", stdout);
    int n = tree ? daemonctx_tree_pids(tree, NULL, 0, &err) : 0;
    pid_t *pids = n > 0 ? calloc((size_t)n, sizeof *pids) : NULL;
    if (pids)
        n = daemonctx_tree_pids(tree, pids, (size_t)n, &err);
    for (int i = 0; pids && i < n; i++)
        (void)printf("%s%d", i ? "," : "", (int)pids[i]);
    (void)putchar(']');
    free(pids);
    daemonctx_tree_free(tree);
}

/* --pidfile into *PATH, --json into *JSON: 0, 1 after --help, or -1. */
static int parse_status_options(int argc, char **argv, const char **path, bool *json)
{
    static const struct option options[] = {
        {"pidfile", required_argument, NULL, 'p'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    opterr = 0;
    optind = 1;
    for (;;) {
        int c = getopt_long(argc, argv, "+:p:", options, NULL);
        if (c == -1)
            break;
        if (c == 'p') {
            *path = optarg;
        } else if (c == 'j') {
            *json = true;
        } else if (c == 'h') {
            return 1;
        } else { /* '?' or ':' */
            getopt_usage_error(c, argv);
            return -1;
        }
    }
    if (optind < argc)
        usage_error("unexpected argument '%s'", argv[optind]);
    else if (!*path)
        usage_error("status needs --pidfile=PATH");
    return optind < argc || !*path ? -1 : 0;
}

static void print_json(const char *path, int state, pid_t pid, int code)
{
    static const char *const names[] = {"not-running", "stale", "running", "starting"};
    (void)fputs("{\"pidfile\":", stdout);
    print_json_string(path);
    (void)printf(",\"state\":\"%s\",\"pid\":", state < 0 ? "unknown" : names[state]);
    if (pid > 0)
        (void)printf("%d", (int)pid);
    else
        (void)fputs("null", stdout);
    (void)printf(",\"exit\":%d", code);
    print_json_tree(path, state == DAEMONCTX_PIDFILE_RUNNING ? pid : 0);
    (void)puts("}");
}

int cmd_status(int argc, char **argv)
{
    static const char *const names[] = {"not running", "stale", "running", "starting"};
    const char *path = NULL;
    bool json = false;
    int r = parse_status_options(argc, argv, &path, &json);
    if (r != 0)
        return r > 0 ? print_help() : EXIT_USAGE;
    daemonctx_error err;
    pid_t pid = 0;
    int state = daemonctx_pidfile_inspect(path, &pid, &err);
    int code = state < 0                             ? STATUS_UNKNOWN
               : state == DAEMONCTX_PIDFILE_ABSENT ? STATUS_NOT_RUNNING
               : state == DAEMONCTX_PIDFILE_STALE  ? STATUS_STALE
                                                   : STATUS_RUNNING;
    if (state < 0)
        print_error("%s", err.message);
    if (json)
        print_json(path, state, pid, code);
    else if (state >= 0 && pid > 0)
        (void)printf("%s PID %d\n", names[state], (int)pid);
    else if (state >= 0)
        (void)printf("%s\n", names[state]);
    if (fflush(stdout) != 0)
        return STATUS_UNKNOWN;
    return code;
}
