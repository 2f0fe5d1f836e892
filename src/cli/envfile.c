/* --env-file: systemd's EnvironmentFile= syntax (systemd.exec(5)), strictly.
 *
 *   - one NAME=VALUE assignment per line, whitespace allowed around "=";
 *     NAME is letters, digits and underscores, not starting with a digit;
 *   - blank lines, and lines whose first non-blank character is '#' or ';',
 *     are comments (a backslash at the end of a comment continues it, as in
 *     systemd);
 *   - an unquoted VALUE loses its leading and trailing blanks (space, tab,
 *     carriage return) but keeps those inside; a backslash keeps the next
 *     character as it is ("\\" is one backslash), and at the end of a line
 *     continues the value on the next one;
 *   - 'VALUE' is taken verbatim, across lines if need be; "VALUE" too, but
 *     a backslash before one of " \ ` $ stands for that character, before a
 *     newline continues the line, and is kept before anything else; blanks
 *     around the quotes are dropped.
 * Where systemd ignores a line (no "=", a bad name) or reads on (text after
 * a closing quote), this parser stops with the line's number: a mistake in
 * a service's environment is better told than half-applied. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

enum state {
    LINE_START,
    COMMENT,
    COMMENT_ESCAPE,
    KEY,
    PRE_VALUE,
    VALUE,
    VALUE_ESCAPE,
    SINGLE_QUOTED,
    DOUBLE_QUOTED,
    DOUBLE_QUOTED_ESCAPE,
    AFTER_QUOTE
};

static bool blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

static int fail(struct env_file_error *e, unsigned line, const char *what)
{
    e->line = line;
    e->what = what;
    return -1;
}

/* The text read so far, and where. A step returns 0 to read on, 1 when an
 * assignment is complete, or a failure. */
struct parser {
    enum state st;
    char *name, *value;
    size_t nn, vn, keep; /* keep: value bytes not to trim */
    unsigned line, start; /* start: the line of the assignment being read */
    struct env_file_error *e;
};

/* Outside a value: comments, blank lines, the name. */
static int step_name(struct parser *p, char c, bool end)
{
    switch (p->st) {
    case LINE_START:
        if (c == '#' || c == ';') {
            p->st = COMMENT;
        } else if (!blank(c) && c != '\n') {
            if (c == '=')
                return fail(p->e, p->line, "no variable name before '='");
            p->st = KEY;
            p->start = p->line;
            p->nn = p->vn = p->keep = 0;
            p->name[p->nn++] = c;
        }
        return 0;
    case COMMENT:
        if (c == '\\')
            p->st = COMMENT_ESCAPE;
        else if (c == '\n')
            p->st = LINE_START;
        return 0;
    case COMMENT_ESCAPE:
        p->st = end ? LINE_START : COMMENT;
        return 0;
    default: /* KEY */
        if (c == '\n')
            return fail(p->e, p->line, "not NAME=VALUE: no '='");
        if (c != '=') {
            p->name[p->nn++] = c;
            return 0;
        }
        while (p->nn > 0 && blank(p->name[p->nn - 1]))
            p->nn--;
        p->name[p->nn] = '\0';
        p->st = PRE_VALUE;
        if (!dcx_env_name_valid(p->name, p->nn))
            return fail(p->e, p->line, "not a variable name (letters, digits and underscores, not starting with a digit)");
        return 0;
    }
}

/* An unquoted value, or the blanks before a value. */
static int step_value(struct parser *p, char c, bool end)
{
    switch (p->st) {
    case PRE_VALUE:
        if (c == '\n')
            return 1;
        if (c == '\'') {
            p->st = SINGLE_QUOTED;
        } else if (c == '"') {
            p->st = DOUBLE_QUOTED;
        } else if (c == '\\') {
            p->st = VALUE_ESCAPE;
        } else if (!blank(c)) {
            p->value[p->vn++] = c;
            p->keep = p->vn;
            p->st = VALUE;
        }
        return 0;
    case VALUE:
        if (c == '\n') {
            p->vn = p->keep; /* trailing blanks go */
            return 1;
        }
        if (c == '\\') {
            p->st = VALUE_ESCAPE;
        } else {
            p->value[p->vn++] = c;
            if (!blank(c))
                p->keep = p->vn;
        }
        return 0;
    default: /* VALUE_ESCAPE */
        if (end) {
            p->vn = p->keep;
            return 1;
        }
        if (c != '\n') {
            p->value[p->vn++] = c;
            p->keep = p->vn;
        }
        p->st = VALUE;
        return 0;
    }
}

/* A quoted value, and what may follow its closing quote. */
static int step_quoted(struct parser *p, char c, bool end)
{
    switch (p->st) {
    case SINGLE_QUOTED:
        if (end)
            return fail(p->e, p->start, "no closing single quote");
        if (c == '\'')
            p->st = AFTER_QUOTE;
        else
            p->value[p->vn++] = c;
        return 0;
    case DOUBLE_QUOTED:
        if (end)
            return fail(p->e, p->start, "no closing double quote");
        if (c == '"')
            p->st = AFTER_QUOTE;
        else if (c == '\\')
            p->st = DOUBLE_QUOTED_ESCAPE;
        else
            p->value[p->vn++] = c;
        return 0;
    case DOUBLE_QUOTED_ESCAPE:
        if (end)
            return fail(p->e, p->start, "no closing double quote");
        if (c != '\n' && !strchr("\"\\`$", c))
            p->value[p->vn++] = '\\';
        if (c != '\n')
            p->value[p->vn++] = c;
        p->st = DOUBLE_QUOTED;
        return 0;
    default: /* AFTER_QUOTE */
        if (c == '\n')
            return 1;
        return blank(c) ? 0 : fail(p->e, p->line, "text after the closing quote");
    }
}

static int step(struct parser *p, char c, bool end)
{
    switch (p->st) {
    case LINE_START:
    case COMMENT:
    case COMMENT_ESCAPE:
    case KEY:
        return step_name(p, c, end);
    case PRE_VALUE:
    case VALUE:
    case VALUE_ESCAPE:
        return step_value(p, c, end);
    default:
        return step_quoted(p, c, end);
    }
}

int env_file_parse(const char *data, size_t len, env_file_assign fn, void *arg, struct env_file_error *e)
{
    /* Neither a name nor a value is longer than the text. */
    struct parser p = {.st = LINE_START, .name = malloc(len + 1), .value = malloc(len + 1), .line = 1, .start = 1, .e = e};
    int r = p.name && p.value ? 0 : fail(e, 0, "out of memory");
    for (size_t i = 0; i <= len && r == 0; i++) {
        bool end = i == len;
        char c = '\n';
        if (!end)
            c = data[i];
        r = !end && c == '\0' ? fail(e, p.line, "a NUL byte") : step(&p, c, end);
        if (r == 1) {
            p.value[p.vn] = '\0';
            r = fn(arg, p.name, p.value, p.start);
            if (r < 0)
                fail(e, p.start, NULL);
            p.st = LINE_START;
        }
        if (c == '\n' && !end)
            p.line++;
    }
    free(p.name);
    free(p.value);
    return r < 0 ? r : 0;
}
