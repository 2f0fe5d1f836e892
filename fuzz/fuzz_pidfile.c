/*
 * fuzz_pidfile - the pidfile contents parser, dcx_parse_pid (src/lib).
 *
 * Property: it accepts exactly "DIGITS" or "DIGITS\n" with 1 to 10 digits
 * and a value from 1 to INT_MAX (leading zeros allowed), returning that
 * value, and 0 for anything else: no sign, no space, no second line, never a
 * PID that kill() would read as a group (0) or "everyone" (-1).
 */
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static long long reference(const char *s, size_t n)
{
    if (n > 0 && s[n - 1] == '\n')
        n--;
    if (n == 0 || n > 10)
        return 0;
    long long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    return v >= 1 && v <= INT_MAX ? v : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size copy, so that a read past the end is caught. */
    char *s = malloc(size ? size : 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    pid_t got = dcx_parse_pid(s, size);
    long long want = reference(s, size);
    if ((long long)got != want)
        abort();
    if (got < 0)
        abort();
    free(s);
    return 0;
}
