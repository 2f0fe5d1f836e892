/* daemonctx: command dispatch, --help, --version, and the one-line message
 * helpers every command uses. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

#ifndef DAEMONCTX_CLI_VERSION
#error "DAEMONCTX_CLI_VERSION must be defined by the build"
#endif

static const char *const cli_name = "daemonctx";

static const char help_text[] =
    "Usage: daemonctx start [OPTIONS] [--] PROGRAM [ARG...]\n"
    "       daemonctx stop -p PATH [--signal=SIG] [--timeout=SECONDS] [--retry=SCHEDULE]\n"
    "       daemonctx status -p PATH [--json]\n"
    "       daemonctx --help | --version\n"
    "\n"
    "Start PROGRAM as a daemon, stop it, report its status.\n"
    "\n"
    "start options:\n"
    "  -p, --pidfile=PATH       lock PATH for the daemon's lifetime; it holds \"PID\\n\"\n"
    "  -d, --chdir=DIR          working directory, inside the new root (default /)\n"
    "  -r, --chroot=DIR         change the root directory\n"
    "  -m, --umask=OCTAL        file mode creation mask (default 022)\n"
    "  -u, --user=USER|UID      run as USER, with USER's supplementary groups\n"
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
    "      --dry-run            check everything, print the plan, start nothing\n"
    "  -v, --verbose            say what was decided and why\n"
    "\n"
    "stop options:\n"
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
    "See daemonctx(1) for the exit status of each command.\n";

int print_help(void)
{
    (void)fputs(help_text, stdout);
    return fflush(stdout) == 0 ? EXIT_OK : EXIT_SYSTEM;
}

/* Messages quote what the user gave verbatim, but must stay one line: a
 * control character (a newline in a user name) is shown escaped. */
static void one_line(const char *in, char *out, size_t size)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p && n + 5 < size; p++) {
        if (*p >= 0x20 && *p != 0x7f) {
            out[n++] = (char)*p;
        } else {
            out[n++] = '\\';
            out[n++] = 'x';
            out[n++] = hex[*p >> 4];
            out[n++] = hex[*p & 15];
        }
    }
    out[n] = '\0';
}

/* Large enough for a culprit of any length the kernel would accept, and
 * the reason after it. */
#define LINE_MAX_BYTES 16384

__attribute__((format(printf, 2, 0))) static void vprint_line(const char *hint, const char *fmt, va_list ap)
{
    static char raw[LINE_MAX_BYTES], line[LINE_MAX_BYTES];
    (void)vsnprintf(raw, sizeof raw, fmt, ap);
    one_line(raw, line, sizeof line);
    /* One write, so concurrent starters' messages never interleave. */
    if (hint)
        (void)dprintf(2, "%s: %s\n%s", cli_name, line, hint);
    else
        (void)dprintf(2, "%s: %s\n", cli_name, line);
}

void print_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprint_line(NULL, fmt, ap);
    va_end(ap);
}

void usage_error(const char *fmt, ...)
{
    char hint[64];
    (void)snprintf(hint, sizeof hint, "Try '%s --help'.\n", cli_name);
    va_list ap;
    va_start(ap, fmt);
    vprint_line(hint, fmt, ap);
    va_end(ap);
}

void getopt_usage_error(int c, char **argv)
{
    if (c == ':')
        usage_error("option '%s' needs a value", argv[optind - 1]);
    else if (optopt)
        usage_error("unknown option '-%c'", optopt);
    else
        usage_error("unknown option '%s'", argv[optind - 1]);
}

void print_verbose(bool verbose, const char *fmt, ...)
{
    if (!verbose)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    (void)dprintf(2, "%s: %s\n", cli_name, line);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage_error("missing command: start, stop or status");
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "start") == 0)
        return cmd_start(argc - 1, argv + 1);
    if (strcmp(cmd, "stop") == 0)
        return cmd_stop(argc - 1, argv + 1);
    if (strcmp(cmd, "status") == 0)
        return cmd_status(argc - 1, argv + 1);
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0)
        return print_help();
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
        (void)printf("%s %s (libdaemonctx %s)\n", cli_name, DAEMONCTX_CLI_VERSION, daemonctx_version());
        return fflush(stdout) == 0 ? EXIT_OK : EXIT_SYSTEM;
    }
    if (cmd[0] == '-')
        usage_error("unknown option '%s' before the command", cmd);
    else
        usage_error("unknown command '%s'", cmd);
    return EXIT_USAGE;
}
