/*
 * fuzz_option_values - the CLI's option value parsers (src/cli/parse.c) and
 * the seconds formatter (util.c). The first byte picks the parser, the rest
 * is the value (NUL-terminated copy).
 *
 * Properties, as daemonctx(1) documents the values:
 *   parse_int      the value is within [min, max] and is what strtol reads
 *   parse_seconds  digits with at most 3 decimals; the result in ms, and
 *                  dcx_format_seconds(ms) parses back to the same ms
 *   parse_octal_mode  0 to 0777, octal digits only
 *   parse_signal   1 to NSIG-1; a named signal's name parses back to it
 *   parse_syslog   facility | level, both known
 */
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "cli.h"

static void check_int(const char *s)
{
    long v = -12345;
    if (parse_int(s, -100, 100000, &v) == 0) {
        char *end;
        long w = strtol(s, &end, 10);
        if (v < -100 || v > 100000 || w != v || *end)
            abort();
    }
}

static void check_seconds(const char *s)
{
    unsigned ms = 7;
    if (parse_seconds(s, &ms) < 0)
        return;
    /* digits, at most one '.', at most 3 decimals */
    size_t dots = 0, decimals = 0;
    for (const char *p = s; *p; p++) {
        if (*p == '.') {
            dots++;
            continue;
        }
        if (*p < '0' || *p > '9')
            abort();
        if (dots)
            decimals++;
    }
    if (dots > 1 || decimals > 3 || !*s)
        abort();
    char buf[32];
    unsigned again = 1;
    if (parse_seconds(dcx_format_seconds(ms, buf, sizeof buf), &again) < 0 || again != ms)
        abort();
}

static void check_octal(const char *s)
{
    mode_t m = 0;
    if (parse_octal_mode(s, &m) < 0)
        return;
    if (m > 0777 || !*s)
        abort();
    for (const char *p = s; *p; p++)
        if (*p < '0' || *p > '7')
            abort();
}

static void check_signal(const char *s)
{
    int sig = 0;
    if (parse_signal(s, &sig) < 0)
        return;
    if (sig < 1 || sig >= NSIG)
        abort();
    const char *name = dcx_signal_name(sig);
    int again = 0;
    if (name && (parse_signal(name, &again) < 0 || again != sig))
        abort();
}

static void check_syslog(const char *s)
{
    int pri = -1;
    if (parse_syslog(s, &pri) < 0)
        return;
    if (pri < 0 || LOG_PRI(pri) > LOG_DEBUG || LOG_FAC(pri) > LOG_FAC(LOG_LOCAL7))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    char *s = malloc(size);
    if (!s)
        return 0;
    memcpy(s, data + 1, size - 1);
    s[size - 1] = '\0';
    switch (data[0] % 5) {
    case 0:
        check_int(s);
        break;
    case 1:
        check_seconds(s);
        break;
    case 2:
        check_octal(s);
        break;
    case 3:
        check_signal(s);
        break;
    default:
        check_syslog(s);
        break;
    }
    free(s);
    return 0;
}
