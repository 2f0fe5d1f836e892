/*
 * Unit tests of the context object, in-process: defaults that do not need a
 * daemon, every bad-input setter case, the chroot prefix rule of
 * daemonctx_get_working_directory(), the detach decision when forced.
 * Nothing here calls daemonctx_open(): the test process is never daemonized.
 */
#include "daemonctx.h"
#include "testutil.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static daemonctx *new_ctx(void) {
    daemonctx *ctx = daemonctx_new();
    TU_ASSERT_MSG(ctx != NULL, "daemonctx_new: %s", strerror(errno));
    return ctx;
}

/* Owned context freed at exit of the check. */
static daemonctx *g_ctx;
static void free_ctx(void) {
    daemonctx_free(g_ctx);
    g_ctx = NULL;
}
static daemonctx *ctx_for_test(void) {
    g_ctx = new_ctx();
    atexit(free_ctx);
    return g_ctx;
}

/* rc must be -EINVAL, last_error must say EINVAL and name the culprit
 * (one of the given strings, NULL-terminated). */
static void expect_einval(daemonctx *ctx, int rc, const char *what, ...) {
    if (rc != -EINVAL)
        TU_FAIL("%s: returned %d, expected -EINVAL (%d)", what, rc, -EINVAL);
    const daemonctx_error *e = daemonctx_last_error(ctx);
    TU_ASSERT_MSG(e != NULL, "%s: daemonctx_last_error() is NULL", what);
    TU_ASSERT_MSG(e->errnum == EINVAL, "%s: last_error errnum %d, expected EINVAL", what, e->errnum);
    TU_ASSERT_MSG(e->message[0] != 0, "%s: last_error message is empty", what);
    TU_ASSERT_MSG(memchr(e->message, 0, sizeof e->message) != NULL, "%s: message not terminated", what);
    TU_ASSERT_MSG(strchr(e->message, '\n') == NULL, "%s: message is more than one line: %s", what, e->message);
    va_list ap;
    va_start(ap, what);
    const char *needle;
    bool named = false;
    char alternatives[256] = "";
    while ((needle = va_arg(ap, const char *))) {
        named |= strstr(e->message, needle) != NULL;
        strncat(alternatives, " \"", sizeof alternatives - strlen(alternatives) - 1);
        strncat(alternatives, needle, sizeof alternatives - strlen(alternatives) - 1);
        strncat(alternatives, "\"", sizeof alternatives - strlen(alternatives) - 1);
    }
    va_end(ap);
    TU_ASSERT_MSG(named, "%s: message \"%s\" (step \"%s\") names none of%s", what, e->message, daemonctx_step_name(e->step),
                  alternatives);
    tu_log("%s -> %s: %s", what, daemonctx_step_name(e->step), e->message);
}

static const char *workdir(daemonctx *ctx) {
    char buf[PATH_MAX];
    int n = daemonctx_get_working_directory(ctx, buf, sizeof buf);
    TU_ASSERT_MSG(n >= 0, "daemonctx_get_working_directory: %d", n);
    TU_ASSERT_INT_EQ(n, strlen(buf));
    return tu_strdup(buf);
}

/* ------------------------------------------------------------- defaults */

TU_TEST(context_new_is_not_open) {
    daemonctx *ctx = ctx_for_test();
    TU_ASSERT(!daemonctx_is_open(ctx));
    TU_ASSERT_INT_EQ(daemonctx_daemon_pid(ctx), 0);
    const daemonctx_error *e = daemonctx_last_error(ctx);
    TU_ASSERT(e != NULL);
    TU_ASSERT_INT_EQ(e->errnum, 0);
}

TU_TEST(context_default_working_directory_is_root) {
    daemonctx *ctx = ctx_for_test();
    TU_ASSERT_STR_EQ(workdir(ctx), "/");
}

TU_TEST(context_close_is_noop_returning_zero) {
    daemonctx *ctx = ctx_for_test();
    TU_ASSERT_INT_EQ(daemonctx_close(ctx), 0);
    TU_ASSERT(!daemonctx_is_open(ctx));
}

TU_TEST(step_names_are_the_documented_ones) {
    TU_ASSERT_STR_EQ(daemonctx_step_name(DAEMONCTX_STEP_NONE), "");
    TU_ASSERT_STR_EQ(daemonctx_step_name(DAEMONCTX_STEP_CHDIR), "chdir");
    TU_ASSERT_STR_EQ(daemonctx_step_name(DAEMONCTX_STEP_PIDFILE_WRITE), "pidfile-write");
    TU_ASSERT_STR_EQ(daemonctx_step_name(DAEMONCTX_STEP_APPLICATION), "application");
    TU_ASSERT_STR_EQ(daemonctx_step_name(DAEMONCTX_STEP_COUNT), "unknown");
    TU_ASSERT_STR_EQ(daemonctx_step_name((enum daemonctx_step)-1), "unknown");
    for (int i = 1; i < DAEMONCTX_STEP_COUNT; i++) {
        const char *name = daemonctx_step_name((enum daemonctx_step)i);
        TU_ASSERT_MSG(*name && strcmp(name, "unknown") != 0, "step %d has no name", i);
    }
}

TU_TEST(version_is_major_minor_patch) {
    const char *v = daemonctx_version();
    TU_ASSERT(v != NULL);
    unsigned a, b, c;
    char extra;
    TU_ASSERT_MSG(sscanf(v, "%u.%u.%u%c", &a, &b, &c, &extra) == 3, "version \"%s\" is not MAJOR.MINOR.PATCH", v);
}

TU_TEST(detach_decision_yes_forks_with_reason) {
    daemonctx *ctx = ctx_for_test();
    TU_ASSERT_INT_EQ(daemonctx_set_detach_process(ctx, DAEMONCTX_DETACH_YES), 0);
    const char *reason = NULL;
    TU_ASSERT_INT_EQ(daemonctx_detach_decision(ctx, &reason), 1);
    TU_ASSERT(reason != NULL && reason[0] != 0);
    TU_ASSERT_INT_EQ(daemonctx_detach_decision(ctx, NULL), 1);
}

TU_TEST(detach_decision_no_does_not_fork_with_reason) {
    daemonctx *ctx = ctx_for_test();
    TU_ASSERT_INT_EQ(daemonctx_set_detach_process(ctx, DAEMONCTX_DETACH_NO), 0);
    const char *reason = NULL;
    TU_ASSERT_INT_EQ(daemonctx_detach_decision(ctx, &reason), 0);
    TU_ASSERT(reason != NULL && reason[0] != 0);
}

/* ---------------------------------------------------- setters: bad input */

TU_TEST(setter_chroot_relative_path_einval) {
    daemonctx *ctx = ctx_for_test();
    expect_einval(ctx, daemonctx_set_chroot_directory(ctx, "jail/dir"), "chroot \"jail/dir\"", "jail/dir", NULL);
}

TU_TEST(setter_chroot_empty_path_einval) {
    daemonctx *ctx = ctx_for_test();
    expect_einval(ctx, daemonctx_set_chroot_directory(ctx, ""), "chroot \"\"", "chroot", "\"\"", "empty", NULL);
}

TU_TEST(setter_workdir_relative_path_einval) {
    daemonctx *ctx = ctx_for_test();
    expect_einval(ctx, daemonctx_set_working_directory(ctx, "var/run"), "workdir \"var/run\"", "var/run", NULL);
}

TU_TEST(setter_workdir_empty_path_einval) {
    daemonctx *ctx = ctx_for_test();
    expect_einval(ctx, daemonctx_set_working_directory(ctx, ""), "workdir \"\"", "working", "\"\"", "empty",
                  NULL);
}

TU_TEST(setter_workdir_null_einval) {
    daemonctx *ctx = ctx_for_test();
    expect_einval(ctx, daemonctx_set_working_directory(ctx, NULL), "workdir NULL", "working", "NULL", "directory",
                  NULL);
}

TU_TEST(setter_umask_above_0777_einval) {
    daemonctx *ctx = ctx_for_test();
    expect_einval(ctx, daemonctx_set_umask(ctx, 01000), "umask 01000", "1000", "512", NULL);
}

TU_TEST(setter_umask_0777_accepted) {
    daemonctx *ctx = ctx_for_test();
    TU_ASSERT_INT_EQ(daemonctx_set_umask(ctx, 0777), 0);
    TU_ASSERT_INT_EQ(daemonctx_set_umask(ctx, 0), 0);
}

TU_TEST(setter_signal_sigkill_einval) {
    daemonctx *ctx = ctx_for_test();
    expect_einval(ctx, daemonctx_set_signal(ctx, SIGKILL, DAEMONCTX_SIGNAL_IGNORE, NULL), "SIGKILL", "KILL", "9",
                  NULL);
}

TU_TEST(setter_signal_sigstop_einval) {
    daemonctx *ctx = ctx_for_test();
    expect_einval(ctx, daemonctx_set_signal(ctx, SIGSTOP, DAEMONCTX_SIGNAL_DEFAULT, NULL), "SIGSTOP", "STOP",
                  "19", NULL);
}

TU_TEST(setter_signal_zero_einval) {
    daemonctx *ctx = ctx_for_test();
    expect_einval(ctx, daemonctx_set_signal(ctx, 0, DAEMONCTX_SIGNAL_IGNORE, NULL), "signal 0", "0", NULL);
}

TU_TEST(setter_signal_nsig_einval) {
    daemonctx *ctx = ctx_for_test();
    char num[16];
    snprintf(num, sizeof num, "%d", NSIG);
    expect_einval(ctx, daemonctx_set_signal(ctx, NSIG, DAEMONCTX_SIGNAL_IGNORE, NULL), "signal NSIG", num, NULL);
}

TU_TEST(setter_signal_negative_einval) {
    daemonctx *ctx = ctx_for_test();
    expect_einval(ctx, daemonctx_set_signal(ctx, -3, DAEMONCTX_SIGNAL_IGNORE, NULL), "signal -3", "-3", NULL);
}

static void dummy_handler(int sig) { (void)sig; }

TU_TEST(setter_signal_handler_action_without_handler_einval) {
    daemonctx *ctx = ctx_for_test();
    expect_einval(ctx, daemonctx_set_signal(ctx, SIGUSR1, DAEMONCTX_SIGNAL_HANDLER, NULL), "HANDLER NULL",
                  "handler", "USR1", "10", NULL);
}

TU_TEST(setter_signal_ignore_action_with_handler_einval) {
    daemonctx *ctx = ctx_for_test();
    expect_einval(ctx, daemonctx_set_signal(ctx, SIGUSR1, DAEMONCTX_SIGNAL_IGNORE, dummy_handler),
                  "IGNORE with handler", "handler", "USR1", "10", NULL);
}

TU_TEST(setter_signal_unknown_action_einval) {
    daemonctx *ctx = ctx_for_test();
    expect_einval(ctx, daemonctx_set_signal(ctx, SIGUSR1, (enum daemonctx_signal_action)42, NULL),
                  "action 42", "42", "action", NULL);
}

TU_TEST(setter_signal_valid_actions_accepted) {
    daemonctx *ctx = ctx_for_test();
    TU_ASSERT_INT_EQ(daemonctx_set_signal(ctx, SIGUSR1, DAEMONCTX_SIGNAL_HANDLER, dummy_handler), 0);
    TU_ASSERT_INT_EQ(daemonctx_set_signal(ctx, SIGUSR2, DAEMONCTX_SIGNAL_IGNORE, NULL), 0);
    TU_ASSERT_INT_EQ(daemonctx_set_signal(ctx, SIGHUP, DAEMONCTX_SIGNAL_TERMINATE, NULL), 0);
    TU_ASSERT_INT_EQ(daemonctx_set_signal(ctx, SIGTERM, DAEMONCTX_SIGNAL_DEFAULT, NULL), 0);
    TU_ASSERT_INT_EQ(daemonctx_set_signal(ctx, NSIG - 1, DAEMONCTX_SIGNAL_IGNORE, NULL), 0);
    TU_ASSERT_INT_EQ(daemonctx_set_signal(ctx, SIGTSTP, DAEMONCTX_SIGNAL_UNCHANGED, NULL), 0);
    TU_ASSERT_INT_EQ(daemonctx_clear_signal_map(ctx), 0);
}

TU_TEST(setter_detach_unknown_value_einval) {
    daemonctx *ctx = ctx_for_test();
    expect_einval(ctx, daemonctx_set_detach_process(ctx, (enum daemonctx_detach)7), "detach 7", "7", "detach",
                  NULL);
}

TU_TEST(setter_ready_mode_unknown_value_einval) {
    daemonctx *ctx = ctx_for_test();
    expect_einval(ctx, daemonctx_set_ready_mode(ctx, (enum daemonctx_ready_mode)9), "ready mode 9", "9", "ready",
                  NULL);
}

TU_TEST(setter_files_preserve_negative_fd_einval) {
    daemonctx *ctx = ctx_for_test();
    int fds[3] = {4, -7, 5};
    expect_einval(ctx, daemonctx_set_files_preserve(ctx, fds, 3), "preserve -7", "-7", NULL);
}

TU_TEST(setter_files_preserve_null_list_with_count_einval) {
    daemonctx *ctx = ctx_for_test();
    int rc = daemonctx_set_files_preserve(ctx, NULL, 2);
    TU_ASSERT_INT_EQ(rc, -EINVAL);
    TU_ASSERT_INT_EQ(daemonctx_last_error(ctx)->errnum, EINVAL);
}

TU_TEST(setter_files_preserve_empty_clears) {
    daemonctx *ctx = ctx_for_test();
    int fds[2] = {3, 3};
    TU_ASSERT_INT_EQ(daemonctx_set_files_preserve(ctx, fds, 2), 0);
    TU_ASSERT_INT_EQ(daemonctx_set_files_preserve(ctx, NULL, 0), 0);
}

TU_TEST(setter_stdin_negative_fd_einval) {
    daemonctx *ctx = ctx_for_test();
    expect_einval(ctx, daemonctx_set_stdin(ctx, -2), "stdin -2", "-2", NULL);
}

TU_TEST(setter_stdout_negative_fd_einval) {
    daemonctx *ctx = ctx_for_test();
    expect_einval(ctx, daemonctx_set_stdout(ctx, -5), "stdout -5", "-5", NULL);
}

TU_TEST(setter_stderr_negative_fd_einval) {
    daemonctx *ctx = ctx_for_test();
    expect_einval(ctx, daemonctx_set_stderr(ctx, -9), "stderr -9", "-9", NULL);
}

TU_TEST(setter_stdio_minus_one_means_dev_null_accepted) {
    daemonctx *ctx = ctx_for_test();
    TU_ASSERT_INT_EQ(daemonctx_set_stdin(ctx, -1), 0);
    TU_ASSERT_INT_EQ(daemonctx_set_stdout(ctx, -1), 0);
    TU_ASSERT_INT_EQ(daemonctx_set_stderr(ctx, -1), 0);
}

TU_TEST(setter_failure_keeps_previous_value) {
    daemonctx *ctx = ctx_for_test();
    TU_ASSERT_INT_EQ(daemonctx_set_working_directory(ctx, "/var/tmp"), 0);
    TU_ASSERT_INT_EQ(daemonctx_set_working_directory(ctx, "relative"), -EINVAL);
    TU_ASSERT_STR_EQ(workdir(ctx), "/var/tmp");
    TU_ASSERT_INT_EQ(daemonctx_set_chroot_directory(ctx, "/jail"), 0);
    TU_ASSERT_INT_EQ(daemonctx_set_chroot_directory(ctx, "rel"), -EINVAL);
    TU_ASSERT_STR_EQ(workdir(ctx), "/jail/var/tmp");
}

TU_TEST(setter_pidfile_null_accepted) {
    daemonctx *ctx = ctx_for_test();
    TU_ASSERT_INT_EQ(daemonctx_set_pidfile(ctx, NULL), 0);
}

TU_TEST(pidfile_new_empty_path_einval) {
    errno = 0;
    daemonctx_pidfile *pf = daemonctx_pidfile_new("");
    TU_ASSERT(pf == NULL);
    TU_ASSERT_INT_EQ(errno, EINVAL);
    daemonctx_pidfile_free(NULL); /* accepted */
}

TU_TEST(pidfile_new_keeps_path_and_is_not_held) {
    daemonctx_pidfile *pf = daemonctx_pidfile_new("/run/x.pid");
    TU_ASSERT(pf != NULL);
    TU_ASSERT_STR_EQ(daemonctx_pidfile_path(pf), "/run/x.pid");
    TU_ASSERT_INT_EQ(daemonctx_pidfile_fd(pf), -1);
    daemonctx_pidfile_free(pf);
}

/* --------------------------------------------- working directory rule */

/* Lexical normal form: "//" collapsed, "." dropped, ".." resolved (never
 * above "/"), no trailing "/". The rule must give a path whose normal form
 * is WANT; a path with "." or ".." components may instead be refused by the
 * setter with -EINVAL. */
static const char *normal_form(const char *path) {
    char *out = tu_strdup(path);
    size_t len = 0;
    const char *p = path;
    out[len++] = '/';
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        const char *end = strchr(p, '/');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == 1 && p[0] == '.') {
            /* skip */
        } else if (n == 2 && p[0] == '.' && p[1] == '.') {
            while (len > 1 && out[len - 1] != '/')
                len--;
            if (len > 1)
                len--; /* the slash */
        } else {
            if (len > 1)
                out[len++] = '/';
            memcpy(out + len, p, n);
            len += n;
        }
        p += n;
    }
    out[len] = 0;
    return out;
}

static void rule(const char *chroot_dir, const char *wd, const char *want) {
    daemonctx *ctx = ctx_for_test();
    if (chroot_dir)
        TU_ASSERT_INT_EQ(daemonctx_set_chroot_directory(ctx, chroot_dir), 0);
    int rc = daemonctx_set_working_directory(ctx, wd);
    bool dotted = strstr(wd, "/.") != NULL;
    if (rc == -EINVAL && dotted) {
        tu_log("setter refused \"%s\" (acceptable for dot components): %s", wd,
               daemonctx_last_error(ctx)->message);
        return;
    }
    TU_ASSERT_MSG(rc == 0, "set_working_directory(\"%s\") = %d", wd, rc);
    const char *got = workdir(ctx);
    tu_log("chroot %s + workdir %s -> %s", chroot_dir ? chroot_dir : "(none)", wd, got);
    TU_ASSERT_MSG(got[0] == '/', "not absolute: \"%s\"", got);
    TU_ASSERT_MSG(strcmp(normal_form(got), want) == 0,
                  "chroot \"%s\" + working directory \"%s\" gave \"%s\" (that is %s), expected %s",
                  chroot_dir ? chroot_dir : "(none)", wd, got, normal_form(got), want);
}

TU_TEST(workdir_rule_no_chroot_unchanged) { rule(NULL, "/var/lib", "/var/lib"); }
TU_TEST(workdir_rule_outside_chroot_is_prefixed) { rule("/jail", "/var", "/jail/var"); }
TU_TEST(workdir_rule_default_root_is_chroot_itself) {
    daemonctx *ctx = ctx_for_test();
    TU_ASSERT_INT_EQ(daemonctx_set_chroot_directory(ctx, "/jail"), 0);
    TU_ASSERT_STR_EQ(normal_form(workdir(ctx)), "/jail");
}
TU_TEST(workdir_rule_under_chroot_not_prefixed) { rule("/jail", "/jail/x", "/jail/x"); }
TU_TEST(workdir_rule_equal_to_chroot_not_prefixed) { rule("/jail", "/jail", "/jail"); }
TU_TEST(workdir_rule_sibling_with_common_prefix_is_prefixed) { rule("/jail", "/jail2/x", "/jail/jail2/x"); }
TU_TEST(workdir_rule_chroot_trailing_slash) { rule("/jail/", "/jail/x", "/jail/x"); }
TU_TEST(workdir_rule_chroot_trailing_slash_outside_prefixed) { rule("/jail/", "/var", "/jail/var"); }
TU_TEST(workdir_rule_workdir_trailing_slash) { rule("/jail", "/jail/x/", "/jail/x"); }
TU_TEST(workdir_rule_double_slashes_compared_by_component) { rule("/jail", "//jail//x", "/jail/x"); }
TU_TEST(workdir_rule_chroot_double_slashes) { rule("//srv//jail", "/srv/jail/x", "/srv/jail/x"); }
TU_TEST(workdir_rule_dot_component_under_chroot) { rule("/jail", "/./jail/./x", "/jail/x"); }
TU_TEST(workdir_rule_dotdot_leaving_chroot_is_prefixed) { rule("/jail", "/jail/../etc", "/jail/etc"); }
TU_TEST(workdir_rule_dotdot_above_root_stays_inside) { rule("/jail", "/../x", "/jail/x"); }
TU_TEST(workdir_rule_chroot_is_root_slash) { rule("/", "/var", "/var"); }
TU_TEST(workdir_rule_nested_chroot_prefix) { rule("/srv/jail", "/srv/jailhouse", "/srv/jail/srv/jailhouse"); }

TU_TEST(workdir_rule_returns_length_and_erange_when_small) {
    daemonctx *ctx = ctx_for_test();
    TU_ASSERT_INT_EQ(daemonctx_set_chroot_directory(ctx, "/jail"), 0);
    TU_ASSERT_INT_EQ(daemonctx_set_working_directory(ctx, "/var"), 0);
    char buf[64];
    int n = daemonctx_get_working_directory(ctx, buf, sizeof buf);
    TU_ASSERT_INT_EQ(n, strlen("/jail/var"));
    TU_ASSERT_STR_EQ(buf, "/jail/var");
    /* exactly fits with its NUL */
    TU_ASSERT_INT_EQ(daemonctx_get_working_directory(ctx, buf, 10), 9);
    memset(buf, 'Z', sizeof buf);
    TU_ASSERT_INT_EQ(daemonctx_get_working_directory(ctx, buf, 9), -ERANGE);
    TU_ASSERT_INT_EQ(daemonctx_get_working_directory(ctx, buf, 0), -ERANGE);
}

TU_MAIN
