/* Split a fuzz input into a NULL-terminated argv ("daemonctx CMD" first),
 * on NUL bytes; and reset getopt's hidden state between runs. */
#ifndef DCX_FUZZ_ARGV_H
#define DCX_FUZZ_ARGV_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_MAX_ARGS 64

typedef struct fuzz_argv {
    char *buf;
    char *argv[FUZZ_MAX_ARGS + 3];
    int argc;
} fuzz_argv;

static inline int fuzz_argv_make(fuzz_argv *a, const char *cmd, const uint8_t *data, size_t size)
{
    a->buf = malloc(size + 1);
    if (!a->buf)
        return -1;
    memcpy(a->buf, data, size);
    a->buf[size] = '\0';
    a->argc = 0;
    a->argv[a->argc++] = (char *)cmd;
    char *p = a->buf, *end = a->buf + size;
    while (p < end && a->argc < FUZZ_MAX_ARGS + 1) {
        a->argv[a->argc++] = p;
        p += strlen(p) + 1;
    }
    a->argv[a->argc] = NULL;
    /* The CLI parses one command line per process and sets optind = 1;
     * between runs here, getopt's remembered position must be forgotten
     * (optind = 0 re-initialises it). */
    static char *none[] = {"x", NULL};
    optind = 0;
    opterr = 0;
    (void)getopt_long(1, none, "+", NULL, NULL);
    return 0;
}

#endif
