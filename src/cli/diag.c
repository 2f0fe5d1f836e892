/* The command's diagnostics: one line on stderr per message, "daemonctx: "
 * first, what the user gave quoted verbatim but kept on one line; usage
 * errors add a hint, never the whole help. Library code never prints: the
 * commands print here what the library returned. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>

#include "cli.h"

static const char *const cli_name = "daemonctx";

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

__attribute__((format(printf, 3, 0))) static void vprint_line(int fd, const char *hint, const char *fmt, va_list ap)
{
    static char raw[LINE_MAX_BYTES], line[LINE_MAX_BYTES];
    (void)vsnprintf(raw, sizeof raw, fmt, ap);
    one_line(raw, line, sizeof line);
    /* One write, so concurrent starters' messages never interleave. */
    if (hint)
        (void)dprintf(fd, "%s: %s\n%s", cli_name, line, hint);
    else
        (void)dprintf(fd, "%s: %s\n", cli_name, line);
}

void print_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprint_line(2, NULL, fmt, ap);
    va_end(ap);
}

void print_error_to(int fd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprint_line(fd, NULL, fmt, ap);
    va_end(ap);
}

void usage_error(const char *fmt, ...)
{
    char hint[64];
    (void)snprintf(hint, sizeof hint, "Try '%s --help'.\n", cli_name);
    va_list ap;
    va_start(ap, fmt);
    vprint_line(2, hint, fmt, ap);
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

