/* Parsing option values: integers, seconds, modes, signal names, syslog
 * selectors. Strict: the whole string must be consumed, so "5x" or "" is an
 * error instead of a surprising value. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>

#include "cli.h"

int parse_int(const char *s, long min, long max, long *out)
{
    if (!s || !*s || (*s != '-' && (*s < '0' || *s > '9')))
        return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

/* "SECONDS" or "SECONDS.FRACTION", to milliseconds (at most 3 decimals). */
int parse_seconds(const char *s, unsigned *ms)
{
    const unsigned long long max_ms = UINT_MAX;
    unsigned long long whole = 0, frac = 0;
    const char *p = s;
    if (!s || !*s)
        return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        whole = whole * 10 + (unsigned)(*p - '0');
        if (whole > max_ms / 1000)
            return -1;
    }
    if (p == s && *p != '.')
        return -1;
    if (*p == '.') {
        unsigned scale = 100;
        const char *digits = ++p;
        for (; *p >= '0' && *p <= '9'; p++) {
            if (scale == 0)
                return -1;
            frac += (unsigned)(*p - '0') * scale;
            scale /= 10;
        }
        if (p == digits && p - 1 == s) /* "." alone */
            return -1;
    }
    if (*p)
        return -1;
    unsigned long long total = whole * 1000 + frac;
    if (total > max_ms)
        return -1;
    *ms = (unsigned)total;
    return 0;
}

int parse_octal_mode(const char *s, mode_t *out)
{
    unsigned v = 0;
    if (!s || !*s || strlen(s) > 4)
        return -1;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '7')
            return -1;
        v = v * 8 + (unsigned)(*p - '0');
    }
    if (v > 0777)
        return -1;
    *out = (mode_t)v;
    return 0;
}

/* "TERM", "SIGTERM", "term" or "15". */
int parse_signal(const char *s, int *signo)
{
    int n = dcx_signal_number(s);
    if (n < 0)
        return -1;
    *signo = n;
    return 0;
}

static const struct {
    const char *name;
    int value;
} facilities[] = {
    {"auth", LOG_AUTH},     {"authpriv", LOG_AUTHPRIV}, {"cron", LOG_CRON},     {"daemon", LOG_DAEMON},
    {"ftp", LOG_FTP},       {"kern", LOG_KERN},         {"lpr", LOG_LPR},       {"mail", LOG_MAIL},
    {"news", LOG_NEWS},     {"syslog", LOG_SYSLOG},     {"user", LOG_USER},     {"uucp", LOG_UUCP},
    {"local0", LOG_LOCAL0}, {"local1", LOG_LOCAL1},     {"local2", LOG_LOCAL2}, {"local3", LOG_LOCAL3},
    {"local4", LOG_LOCAL4}, {"local5", LOG_LOCAL5},     {"local6", LOG_LOCAL6}, {"local7", LOG_LOCAL7},
}, levels[] = {
    {"emerg", LOG_EMERG},     {"alert", LOG_ALERT}, {"crit", LOG_CRIT}, {"err", LOG_ERR},     {"error", LOG_ERR},
    {"warning", LOG_WARNING}, {"warn", LOG_WARNING}, {"notice", LOG_NOTICE}, {"info", LOG_INFO}, {"debug", LOG_DEBUG},
};

/* "FACILITY.PRIORITY" or "FACILITY" (priority notice). */
int parse_syslog(const char *s, int *priority)
{
    int facility = -1, level = LOG_NOTICE;
    const char *dot = strchr(s, '.');
    size_t flen = dot ? (size_t)(dot - s) : strlen(s);
    for (size_t i = 0; i < sizeof facilities / sizeof facilities[0]; i++)
        if (strlen(facilities[i].name) == flen && strncasecmp(s, facilities[i].name, flen) == 0)
            facility = facilities[i].value;
    if (facility < 0)
        return -1;
    if (dot) {
        level = -1;
        for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++)
            if (strcasecmp(dot + 1, levels[i].name) == 0)
                level = levels[i].value;
        if (level < 0)
            return -1;
    }
    *priority = facility | level;
    return 0;
}

/* One limit value: a number, or "unlimited" ("infinity", "-1"), as prlimit(1). */
static int parse_rlim(const char *s, size_t n, rlim_t *out)
{
    if ((n == 9 && strncmp(s, "unlimited", n) == 0) || (n == 8 && strncmp(s, "infinity", n) == 0) ||
        (n == 2 && strncmp(s, "-1", n) == 0)) {
        *out = RLIM_INFINITY;
        return 0;
    }
    if (n == 0 || n > 20)
        return -1;
    unsigned long long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (ULLONG_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    if ((rlim_t)v != v || (rlim_t)v == RLIM_INFINITY)
        return -1;
    *out = (rlim_t)v;
    return 0;
}

/* "RESOURCE=SOFT[:HARD]" with prlimit(1)'s names and forms: "N" sets both,
 * "S:H" each, "S:" only the soft limit, ":H" only the hard one. */
int parse_limit(const char *s, int *resource, struct start_limit *lim)
{
    const char *eq = strchr(s, '=');
    if (!eq || eq == s || (size_t)(eq - s) >= 16)
        return -1;
    char name[16];
    memcpy(name, s, (size_t)(eq - s));
    name[eq - s] = '\0';
    int res = dcx_rlimit_number(name);
    if (res < 0)
        return -1;
    const char *v = eq + 1, *colon = strchr(v, ':');
    struct start_limit l = {.set = true};
    if (!colon) {
        if (parse_rlim(v, strlen(v), &l.soft) < 0)
            return -1;
        l.hard = l.soft;
        l.soft_set = l.hard_set = true;
    } else {
        size_t sn = (size_t)(colon - v), hn = strlen(colon + 1);
        if (sn == 0 && hn == 0)
            return -1;
        if (sn && parse_rlim(v, sn, &l.soft) < 0)
            return -1;
        if (hn && parse_rlim(colon + 1, hn, &l.hard) < 0)
            return -1;
        l.soft_set = sn > 0;
        l.hard_set = hn > 0;
        if (l.soft_set && l.hard_set && l.soft > l.hard)
            return -1;
    }
    *resource = res;
    *lim = l;
    return 0;
}
