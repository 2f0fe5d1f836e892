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

int env_file_parse(const char *data, size_t len, env_file_assign fn, void *arg, struct env_file_error *e)
{
    /* Neither a name nor a value is longer than the text. */
    char *name = malloc(len + 1), *value = malloc(len + 1);
    if (!name || !value) {
        free(name);
        free(value);
        return fail(e, 0, "out of memory");
    }
    enum state st = LINE_START;
    unsigned line = 1, start = 1; /* the line of the assignment being read */
    size_t nn = 0, vn = 0, keep = 0; /* keep: value bytes not to trim */
    int r = 0;
    for (size_t i = 0; i <= len && r == 0; i++) {
        bool end = i == len;
        char c = '\n';
        if (!end)
            c = data[i];
        if (!end && c == '\0') {
            r = fail(e, line, "a NUL byte");
            break;
        }
        bool assign = false;
        switch (st) {
        case LINE_START:
            if (c == '#' || c == ';') {
                st = COMMENT;
            } else if (!blank(c) && c != '\n') {
                st = KEY;
                start = line;
                nn = vn = keep = 0;
                if (c == '=') {
                    r = fail(e, line, "no variable name before '='");
                    break;
                }
                name[nn++] = c;
            }
            break;
        case COMMENT:
            if (c == '\\')
                st = COMMENT_ESCAPE;
            else if (c == '\n')
                st = LINE_START;
            break;
        case COMMENT_ESCAPE:
            st = end ? LINE_START : COMMENT;
            break;
        case KEY:
            if (c == '=') {
                while (nn > 0 && blank(name[nn - 1]))
                    nn--;
                name[nn] = '\0';
                if (!dcx_env_name_valid(name, nn))
                    r = fail(e, line, "not a variable name (letters, digits and underscores, not starting with a digit)");
                st = PRE_VALUE;
            } else if (c == '\n') {
                r = fail(e, line, "not NAME=VALUE: no '='");
            } else {
                name[nn++] = c;
            }
            break;
        case PRE_VALUE:
            if (c == '\n') {
                assign = true;
            } else if (c == '\'') {
                st = SINGLE_QUOTED;
            } else if (c == '"') {
                st = DOUBLE_QUOTED;
            } else if (c == '\\') {
                st = VALUE_ESCAPE;
            } else if (!blank(c)) {
                value[vn++] = c;
                keep = vn;
                st = VALUE;
            }
            break;
        case VALUE:
            if (c == '\n') {
                vn = keep; /* trailing blanks go */
                assign = true;
            } else if (c == '\\') {
                st = VALUE_ESCAPE;
            } else {
                value[vn++] = c;
                if (!blank(c))
                    keep = vn;
            }
            break;
        case VALUE_ESCAPE:
            if (end) {
                vn = keep;
                assign = true;
            } else if (c != '\n') {
                value[vn++] = c;
                keep = vn;
            }
            st = end ? st : VALUE;
            break;
        case SINGLE_QUOTED:
            if (end)
                r = fail(e, start, "no closing single quote");
            else if (c == '\'')
                st = AFTER_QUOTE;
            else
                value[vn++] = c;
            break;
        case DOUBLE_QUOTED:
            if (end)
                r = fail(e, start, "no closing double quote");
            else if (c == '"')
                st = AFTER_QUOTE;
            else if (c == '\\')
                st = DOUBLE_QUOTED_ESCAPE;
            else
                value[vn++] = c;
            break;
        case DOUBLE_QUOTED_ESCAPE:
            if (end) {
                r = fail(e, start, "no closing double quote");
                break;
            }
            if (c != '\n') {
                if (!strchr("\"\\`$", c))
                    value[vn++] = '\\';
                value[vn++] = c;
            }
            st = DOUBLE_QUOTED;
            break;
        case AFTER_QUOTE:
            if (c == '\n')
                assign = true;
            else if (!blank(c))
                r = fail(e, line, "text after the closing quote");
            break;
        }
        if (assign && r == 0) {
            value[vn] = '\0';
            r = fn(arg, name, value, start);
            if (r < 0)
                fail(e, start, NULL);
            st = LINE_START;
        }
        if (c == '\n' && !end)
            line++;
    }
    free(name);
    free(value);
    return r < 0 ? r : 0;
}
