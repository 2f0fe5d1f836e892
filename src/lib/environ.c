/* The daemon's environment: the caller's (or an empty one), with the
 * identity variables of its user, the caller's assignments, and the
 * NOTIFY_SOCKET of a readiness source, built once before forking.
 *
 * It becomes the daemon's environ after daemonctx_open() (assigned, not
 * setenv()'d: the daemon may be the fork child of a threaded caller), and
 * the program's environment with daemonctx_open_execve(), whose ENVP is then
 * the base instead of environ. Layers, each overriding the ones before:
 *   1. the base: environ, ENVP, or nothing (daemonctx_clear_environment);
 *   2. with the identity environment, HOME, USER, LOGNAME and SHELL from the
 *      passwd entry of the daemon's uid, looked up here, before any chroot
 *      (as login(1), su(1) and systemd's User= set them); a uid without an
 *      entry gets none of them, rather than the caller's;
 *   3. from an empty base, PATH: /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin;
 *   4. the caller's daemonctx_setenv() assignments and removals;
 *   5. NOTIFY_SOCKET naming the library's socket (DAEMONCTX_READY_SD_NOTIFY).
 * The result is one allocation (the array and the strings it made), so that
 * the daemon can keep it as environ whatever happens to the context. */
#include <errno.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

extern char **environ;

bool dcx_env_name_valid(const char *name, size_t len)
{
    if (len == 0 || (name[0] >= '0' && name[0] <= '9'))
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
            return false;
    }
    return true;
}

/* The length of the name of "NAME=VALUE" (or of "NAME", a removal). */
static size_t name_len(const char *entry)
{
    const char *eq = strchr(entry, '=');
    return eq ? (size_t)(eq - entry) : strlen(entry);
}

static bool same_name(const char *a, const char *b)
{
    size_t n = name_len(a);
    return n == name_len(b) && memcmp(a, b, n) == 0;
}

/* --------------------------------------------------------------- setters */

static int settable(daemonctx *ctx, const char *option)
{
    if (!ctx)
        return -EINVAL;
    if (ctx->is_open)
        return dcx_fail(&ctx->last_error, DAEMONCTX_STEP_OPTIONS, EBUSY,
                        "cannot set %s: the context is already open, changes would have no effect", option);
    dcx_clear(&ctx->last_error);
    return 0;
}

int daemonctx_setenv(daemonctx *ctx, const char *name, const char *value)
{
    int r = settable(ctx, "environment");
    if (r < 0)
        return r;
    if (!name || !dcx_env_name_valid(name, strlen(name)))
        return dcx_fail(&ctx->last_error, DAEMONCTX_STEP_OPTIONS, EINVAL,
                        "environment: \"%s\" is not a variable name (letters, digits and underscores, not "
                        "starting with a digit)",
                        name ? name : "(null)");
    size_t n = strlen(name), v = value ? strlen(value) : 0;
    char *entry = malloc(n + (value ? 1 + v : 0) + 1);
    if (!entry)
        return dcx_fail(&ctx->last_error, DAEMONCTX_STEP_OPTIONS, ENOMEM, "environment: %m");
    memcpy(entry, name, n);
    if (value) {
        entry[n] = '=';
        memcpy(entry + n + 1, value, v + 1);
    } else {
        entry[n] = '\0';
    }
    /* The same name again replaces the earlier assignment. */
    for (size_t i = 0; i < ctx->n_env; i++)
        if (same_name(ctx->env[i], entry)) {
            free(ctx->env[i]);
            ctx->env[i] = entry;
            return 0;
        }
    char **grown = realloc(ctx->env, (ctx->n_env + 1) * sizeof *grown);
    if (!grown) {
        free(entry);
        return dcx_fail(&ctx->last_error, DAEMONCTX_STEP_OPTIONS, ENOMEM, "environment: %m");
    }
    ctx->env = grown;
    ctx->env[ctx->n_env++] = entry;
    return 0;
}

int daemonctx_clear_environment(daemonctx *ctx, bool clear)
{
    int r = settable(ctx, "environment");
    if (r < 0)
        return r;
    ctx->clear_env = clear;
    return 0;
}

int daemonctx_set_identity_environment(daemonctx *ctx, bool set)
{
    int r = settable(ctx, "identity_environment");
    if (r < 0)
        return r;
    ctx->identity_env = set;
    return 0;
}

void dcx_environment_free(daemonctx *ctx)
{
    for (size_t i = 0; i < ctx->n_env; i++)
        free(ctx->env[i]);
    free(ctx->env);
    ctx->env = NULL;
    ctx->n_env = 0;
}

/* ------------------------------------------------------- the environment */

#define N_IDENTITY 4

/* HOME, USER, LOGNAME, SHELL of UID ("NAME=VALUE"), or their removals
 * ("NAME") when it has no passwd entry; malloc'ed into OUT. */
static int identity(uid_t uid, char *out[N_IDENTITY], daemonctx_error *err)
{
    struct passwd pw;
    char *buf;
    int r = dcx_lookup_user(uid, &pw, &buf, err);
    if (r < 0)
        return r;
    static const char *const names[N_IDENTITY] = {"HOME", "USER", "LOGNAME", "SHELL"};
    const char *values[N_IDENTITY] = {NULL, NULL, NULL, NULL};
    if (r == 1) {
        /* login(1): an empty home is "/", an empty shell /bin/sh. */
        values[0] = *pw.pw_dir ? pw.pw_dir : "/";
        values[1] = values[2] = pw.pw_name;
        values[3] = *pw.pw_shell ? pw.pw_shell : "/bin/sh";
    }
    for (int i = 0; i < N_IDENTITY; i++) {
        size_t n = strlen(names[i]), v = values[i] ? strlen(values[i]) : 0;
        out[i] = malloc(n + 1 + v + 1);
        if (!out[i]) {
            while (i-- > 0) {
                free(out[i]);
                out[i] = NULL;
            }
            free(buf);
            return dcx_fail(err, DAEMONCTX_STEP_USER, ENOMEM, "cannot build the environment of uid %u: %m",
                            (unsigned)uid);
        }
        memcpy(out[i], names[i], n);
        out[i][n] = '\0';
        if (values[i]) {
            out[i][n] = '=';
            memcpy(out[i] + n + 1, values[i], v + 1);
        }
    }
    free(buf);
    return 0;
}

/* BASE with OVERRIDES (in order, the last of a name winning; "NAME" alone
 * removes it) as one allocation: the array, then copies of the overrides. */
static char **merge(char *const base[], char *const overrides[], size_t n_over)
{
    size_t n_base = 0, count = 0, bytes = 0;
    for (; base && base[n_base]; n_base++) {
        bool replaced = false;
        for (size_t j = 0; j < n_over && !replaced; j++)
            replaced = same_name(base[n_base], overrides[j]);
        count += !replaced;
    }
    bool *keep = calloc(n_over ? n_over : 1, sizeof *keep);
    if (!keep)
        return NULL;
    for (size_t i = 0; i < n_over; i++) {
        keep[i] = strchr(overrides[i], '=') != NULL;
        for (size_t j = i + 1; j < n_over && keep[i]; j++)
            keep[i] = !same_name(overrides[i], overrides[j]);
        if (keep[i]) {
            count++;
            bytes += strlen(overrides[i]) + 1;
        }
    }
    char **out = malloc((count + 1) * sizeof *out + bytes);
    if (!out) {
        free(keep);
        return NULL;
    }
    char *strings = (char *)(out + count + 1);
    size_t k = 0;
    for (size_t i = 0; i < n_base; i++) {
        bool replaced = false;
        for (size_t j = 0; j < n_over && !replaced; j++)
            replaced = same_name(base[i], overrides[j]);
        if (!replaced)
            out[k++] = base[i]; /* the caller's: ours in the daemon too */
    }
    for (size_t i = 0; i < n_over; i++)
        if (keep[i]) {
            size_t len = strlen(overrides[i]) + 1;
            memcpy(strings, overrides[i], len);
            out[k++] = strings;
            strings += len;
        }
    out[k] = NULL;
    free(keep);
    return out;
}

int dcx_plan_environment(const daemonctx *ctx, struct dcx_plan *plan, daemonctx_error *err)
{
    bool notify = plan->fork && plan->ready.kind == DCX_READY_NOTIFY;
    if (!ctx->clear_env && !ctx->identity_env && ctx->n_env == 0 && !notify)
        return 0;
    char *ident[N_IDENTITY] = {NULL, NULL, NULL, NULL};
    int r = ctx->identity_env ? identity(ctx->uid, ident, err) : 0;
    if (r < 0)
        return r;
    size_t n = 0;
    char **over = malloc((N_IDENTITY + 2 + ctx->n_env) * sizeof *over);
    if (!over) {
        r = dcx_fail(err, DAEMONCTX_STEP_OPTIONS, ENOMEM, "cannot build the daemon's environment: %m");
        goto out;
    }
    for (int i = 0; i < N_IDENTITY; i++)
        if (ident[i])
            over[n++] = ident[i];
    char default_path[] = DEFAULT_PATH;
    if (ctx->clear_env)
        over[n++] = default_path;
    for (size_t i = 0; i < ctx->n_env; i++)
        over[n++] = ctx->env[i];
    if (notify)
        over[n++] = plan->ready.env;
    char *const empty[] = {NULL};
    char *const *base = ctx->clear_env ? empty : plan->exec ? plan->exec->envp : environ;
    plan->envp = merge(base, over, n);
    if (!plan->envp)
        r = dcx_fail(err, DAEMONCTX_STEP_OPTIONS, ENOMEM, "cannot build the daemon's environment: %m");
out:
    free(over);
    for (int i = 0; i < N_IDENTITY; i++)
        free(ident[i]);
    return r;
}
