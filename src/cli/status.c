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

int cmd_status(int argc, char **argv)
{
    static const struct option options[] = {
        {"pidfile", required_argument, NULL, 'p'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *path = NULL;
    bool json = false;
    opterr = 0;
    optind = 1;
    for (;;) {
        int c = getopt_long(argc, argv, "+:p:", options, NULL);
        if (c == -1)
            break;
        switch (c) {
        case 'p':
            path = optarg;
            break;
        case 'j':
            json = true;
            break;
        case 'h':
            return print_help();
        default: /* '?' or ':' */
            getopt_usage_error(c, argv);
            return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        usage_error("unexpected argument '%s'", argv[optind]);
        return EXIT_USAGE;
    }
    if (!path) {
        usage_error("status needs --pidfile=PATH");
        return EXIT_USAGE;
    }

    daemonctx_error err;
    pid_t pid = 0;
    int state = daemonctx_pidfile_inspect(path, &pid, &err);
    static const char *const names[] = {"not running", "stale", "running", "starting"};
    static const char *const json_names[] = {"not-running", "stale", "running", "starting"};
    int code = state < 0                             ? STATUS_UNKNOWN
               : state == DAEMONCTX_PIDFILE_ABSENT ? STATUS_NOT_RUNNING
               : state == DAEMONCTX_PIDFILE_STALE  ? STATUS_STALE
                                                   : STATUS_RUNNING;
    if (state < 0)
        print_error("%s", err.message);
    if (json) {
        (void)fputs("{\"pidfile\":", stdout);
        print_json_string(path);
        (void)printf(",\"state\":\"%s\",\"pid\":", state < 0 ? "unknown" : json_names[state]);
        if (pid > 0)
            (void)printf("%d", (int)pid);
        else
            (void)fputs("null", stdout);
        (void)printf(",\"exit\":%d", code);
        print_json_tree(path, state == DAEMONCTX_PIDFILE_RUNNING ? pid : 0);
        (void)puts("}");
    } else if (state >= 0) {
        if (pid > 0)
            (void)printf("%s PID %d\n", names[state], (int)pid);
        else
            (void)printf("%s\n", names[state]);
    }
    if (fflush(stdout) != 0)
        return STATUS_UNKNOWN;
    return code;
}
