/*
 * fuzz_env_file - `start --env-file`'s parser, env_file_parse
 * (src/cli/envfile.c): systemd's EnvironmentFile= syntax, fed raw bytes.
 *
 * Properties, from daemonctx(1):
 *   - it returns 0 or -1; a failure names a line of the input (1 to the
 *     number of lines) and says what is wrong;
 *   - every assignment has a valid name (letters, digits, underscores, not
 *     starting with a digit) and a value with no NUL byte, no longer than
 *     the input, on a line of the input, lines never going back;
 *   - a comment line or a blank line in front changes nothing but the line
 *     numbers (one more each);
 *   - round trip: the assignments written back as NAME="VALUE" (with " \ `
 *     and $ escaped) parse to the same assignments.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

struct list {
    size_t n, cap;
    char **names, **values;
    unsigned *lines;
};

static int collect(void *arg, const char *name, const char *value, unsigned line)
{
    struct list *l = arg;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 8;
        l->names = realloc(l->names, l->cap * sizeof *l->names);
        l->values = realloc(l->values, l->cap * sizeof *l->values);
        l->lines = realloc(l->lines, l->cap * sizeof *l->lines);
        if (!l->names || !l->values || !l->lines)
            abort();
    }
    l->names[l->n] = strdup(name);
    l->values[l->n] = strdup(value);
    l->lines[l->n] = line;
    if (!l->names[l->n] || !l->values[l->n])
        abort();
    l->n++;
    return 0;
}

static void clear(struct list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->names[i]);
        free(l->values[i]);
    }
    free(l->names);
    free(l->values);
    free(l->lines);
    memset(l, 0, sizeof *l);
}

static bool same(const struct list *a, const struct list *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->names[i], b->names[i]) != 0 || strcmp(a->values[i], b->values[i]) != 0)
            return false;
    return true;
}

static bool valid_name(const char *s)
{
    if (!*s || (*s >= '0' && *s <= '9'))
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return false;
    return true;
}

/* NAME="VALUE"\n for each, escaping what double quotes give a meaning. */
static char *write_back(const struct list *l, size_t *len)
{
    size_t size = 1;
    for (size_t i = 0; i < l->n; i++)
        size += strlen(l->names[i]) + 4 + 2 * strlen(l->values[i]);
    char *out = malloc(size), *p = out;
    if (!out)
        abort();
    for (size_t i = 0; i < l->n; i++) {
        size_t n = strlen(l->names[i]);
        memcpy(p, l->names[i], n);
        p += n;
        *p++ = '=';
        *p++ = '"';
        for (const char *v = l->values[i]; *v; v++) {
            if (strchr("\"\\`$", *v))
                *p++ = '\\';
            *p++ = *v;
        }
        *p++ = '"';
        *p++ = '\n';
    }
    *len = (size_t)(p - out);
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    unsigned lines = 1;
    for (size_t i = 0; i < size; i++)
        lines += text[i] == '\n';

    struct list got = {0};
    struct env_file_error e = {0, NULL};
    int r = env_file_parse(text, size, collect, &got, &e);
    if (r != 0 && r != -1)
        abort();
    if (r == -1 && (!e.what || e.line < 1 || e.line > lines))
        abort();
    unsigned last = 0;
    for (size_t i = 0; i < got.n; i++) {
        if (!valid_name(got.names[i]) || strlen(got.values[i]) > size || got.lines[i] < last || got.lines[i] < 1 ||
            got.lines[i] > lines)
            abort();
        last = got.lines[i];
    }

    /* A comment and a blank line in front: the same, one line further each. */
    char *shifted = malloc(size + 5);
    if (!shifted)
        abort();
    memcpy(shifted, "#x\n\n", 4);
    memcpy(shifted + 4, data, size);
    struct list again = {0};
    struct env_file_error e2 = {0, NULL};
    int r2 = env_file_parse(shifted, size + 4, collect, &again, &e2);
    free(shifted);
    if (r2 != r || (r == -1 && e2.line != e.line + 2) || !same(&got, &again))
        abort();
    for (size_t i = 0; i < again.n; i++)
        if (again.lines[i] != got.lines[i] + 2)
            abort();
    clear(&again);

    if (r == 0) {
        size_t n;
        char *back = write_back(&got, &n);
        struct list round = {0};
        struct env_file_error e3 = {0, NULL};
        if (env_file_parse(back, n, collect, &round, &e3) != 0 || !same(&got, &round))
            abort();
        clear(&round);
        free(back);
    }
    clear(&got);
    return 0;
}
