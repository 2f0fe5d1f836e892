/* --help and --version. */
#include <stdio.h>

#include "cli.h"

#ifndef DAEMONCTX_CLI_VERSION
#error "DAEMONCTX_CLI_VERSION must be defined by the build"
#endif

static const char help_text[] =
    "Usage: daemonctx start [OPTIONS] [--] PROGRAM [ARG...]\n"
    "       daemonctx run [OPTIONS] [--] PROGRAM [ARG...]\n"
    "       daemonctx stop -p PATH [--signal=SIG] [--timeout=SECONDS] [--retry=SCHEDULE]\n"
    "       daemonctx status -p PATH [--json]\n"
    "       daemonctx reopen -p PATH [--timeout=SECONDS]\n"
    "       daemonctx --help | --version\n"
    "\n"
    "Start PROGRAM as a daemon, or run it in the foreground under a supervisor\n"
    "that is also a correct init; stop it, report its status, reopen its logs.\n"
    "\n"
    "start and run options (run: no --detach, always supervising, stdio inherited,\n"
    "default directory the current one):\n"
    "  -p, --pidfile=PATH       lock PATH for the daemon's lifetime; it holds \"PID\\n\"\n"
    "  -d, --chdir=DIR          working directory, inside the new root (default /)\n"
    "  -r, --chroot=DIR         change the root directory\n"
    "  -m, --umask=OCTAL        file mode creation mask (default 022)\n"
    "  -u, --user=USER|UID      run as USER, with USER's supplementary groups, HOME,\n"
    "                           USER, LOGNAME and SHELL\n"
    "  -g, --group=GROUP|GID    run with group GROUP (default: USER's primary group)\n"
    "      --allow-core         keep the core file size limit as it is\n"
    "      --detach=auto|yes|no fork into the background (default auto)\n"
    "  -k, --keep-fd=N          keep fd N open (repeatable); every other fd is closed\n"
    "  -i, --stdin=FILE         read stdin from FILE (default /dev/null)\n"
    "  -o, --stdout=FILE        append stdout to FILE, created 0640 (default /dev/null)\n"
    "  -e, --stderr=FILE        append stderr to FILE, created 0640 (default /dev/null)\n"
    "      --syslog[=FACILITY.PRIORITY]\n"
    "                           send PROGRAM's output lines to syslog (default\n"
    "                           daemon.notice); needs --supervise\n"
    "      --supervise          stay PROGRAM's parent: hold the pidfile, forward\n"
    "                           signals, exit with PROGRAM's status\n"
    "      --restart            with --supervise: restart PROGRAM when it fails\n"
    "      --restart-delay=SECONDS      first restart delay (default 1)\n"
    "      --restart-max-delay=SECONDS  restart delay cap (default 60)\n"
    "      --ready=exec|fd:N|notify     when start returns (default exec)\n"
    "      --timeout=SECONDS    how long to wait for readiness (default 60, 0: no limit)\n"
    "      --ignore-signal=SIG  start PROGRAM with SIG ignored (repeatable)\n"
    "      --cgroup=auto|none|PATH\n"
    "                           track the tree in a cgroup of its own (default auto:\n"
    "                           under the invoker's, where it can), under PATH, or not;\n"
    "                           start only: run makes none\n"
    "      --runtime-dir=DIR    make DIR, owned by the user, for PROGRAM; stop removes it\n"
    "      --runtime-dir-mode=OCTAL     its mode (default 0755)\n"
    "      --env=NAME=VALUE     set NAME in PROGRAM's environment (repeatable)\n"
    "      --env-file=FILE      NAME=VALUE lines, systemd's EnvironmentFile= syntax\n"
    "      --clear-env          start from an empty environment (PATH, HOME, USER,\n"
    "                           LOGNAME, SHELL are set)\n"
    "      --limit=RESOURCE=SOFT[:HARD]\n"
    "                           a resource limit, prlimit(1)'s names (nofile, core,\n"
    "                           nproc...), numbers or unlimited (repeatable)\n"
    "      --nice=N             nice value, -20 to 19\n"
    "      --oom-score-adjust=N oom_score_adj, -1000 to 1000\n"
    "      --dry-run            check everything, print the plan, start nothing\n"
    "      --log-timestamps     with --supervise: prefix each output line with the time\n"
    "  -v, --verbose            say what was decided and why\n"
    "\n"
    "run options:\n"
    "      --signal-group       forward signals to PROGRAM's process group\n"
    "      --subreaper          reap orphans as PID 1 does (PR_SET_CHILD_SUBREAPER)\n"
    "      --grace=SECONDS      when PROGRAM ends, what it left gets SIGTERM, then\n"
    "                           SIGKILL after SECONDS (default 5)\n"
    "\n"
    "stop options (stop ends the daemon, then what is left of its tree, and removes\n"
    "the runtime directory start made):\n"
    "  -p, --pidfile=PATH       the daemon's pidfile\n"
    "  -s, --signal=SIG         the signal to send first (default TERM)\n"
    "  -t, --timeout=SECONDS    how long to wait after it (default 30), then KILL\n"
    "  -R, --retry=SCHEDULE     SIG/SECONDS/SIG/SECONDS..., or SECONDS\n"
    "  -v, --verbose\n"
    "\n"
    "status options:\n"
    "  -p, --pidfile=PATH       the daemon's pidfile\n"
    "      --json               print one JSON object\n"
    "\n"
    "reopen options (a supervisor reopens its --stdout/--stderr files):\n"
    "  -p, --pidfile=PATH       the supervisor's pidfile\n"
    "  -t, --timeout=SECONDS    how long to wait for its answer (default 5)\n"
    "  -v, --verbose\n"
    "\n"
    "See daemonctx(1) for the exit status of each command.\n";

int print_help(void)
{
    (void)fputs(help_text, stdout);
    return fflush(stdout) == 0 ? EXIT_OK : EXIT_SYSTEM;
}

int print_version(void)
{
    (void)printf("daemonctx %s (libdaemonctx %s)\n", DAEMONCTX_CLI_VERSION, daemonctx_version());
    return fflush(stdout) == 0 ? EXIT_OK : EXIT_SYSTEM;
}
