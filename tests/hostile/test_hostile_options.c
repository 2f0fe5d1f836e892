/*
 * Option values at their limits, for `daemonctx start`, `stop`, `status`
 * and for the library's setters (through dcx-helper): empty strings, very
 * long paths, users and groups that do not exist, numeric ids with no passwd
 * entry, umasks beyond 0777, fds beyond the limit, unknown signals, broken
 * retry schedules and durations.
 *
 * Every case: the documented exit code, one clear line (a usage error: the
 * line and the "Try" hint), nothing created in the directory the paths point
 * into, no process left.
 */
#include "cli_common.h"
#include "fault_chan.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static long tried;

/* {"start", "-p", "X", NULL} with X expanded: %D the test directory, %P the
 * PROGRAM, %L a 5000-character path, %C a path of 30 components of 200. */
typedef struct ocase {
    const char *args[8];
    int code;          /* expected exit code */
    int alt;           /* another acceptable one (0: none) */
    const char *needle;
} ocase;

static const char *dir;

static const char *subst(const char *a, const char *token, const char *value)
{
    const char *at = strstr(a, token);
    if (!at)
        return a;
    return tu_fmt("%.*s%s%s", (int)(at - a), a, value, at + strlen(token));
}

static const char *expand(const char *a)
{
    if (strcmp(a, "%P") == 0)
        return prog_path();
    char big[5001];
    memset(big, 'a', 5000);
    big[5000] = 0;
    a = subst(a, "%L", tu_fmt("%s/%s", dir, big));
    if (strstr(a, "%C")) {
        char *p = tu_fmt("%s", dir);
        char comp[201];
        memset(comp, 'b', 200);
        comp[200] = 0;
        for (int i = 0; i < 30; i++)
            p = tu_fmt("%s/%s", p, comp);
        a = subst(a, "%C", tu_fmt("%s/x.pid", p));
    }
    return subst(a, "%D", dir);
}

static void run_cases(const char *program, const ocase *cases, size_t n)
{
    dir = tu_tmpdir();
    size_t problems = 0;
    for (size_t i = 0; i < n; i++) {
        const ocase *oc = &cases[i];
        tu_cmd c;
        tu_cmd_init_command(&c, program, (const char *)NULL);
        c.new_session = true;
        char desc[512] = "";
        size_t len = 0;
        for (size_t j = 0; oc->args[j]; j++) {
            const char *a = expand(oc->args[j]);
            tu_cmd_arg(&c, "%s", a);
            len += (size_t)snprintf(desc + len, sizeof desc - len, " %.40s%s", a, strlen(a) > 40 ? "..." : "");
            if (len >= sizeof desc)
                len = sizeof desc - 1;
        }
        const char *before = tu_dir_listing(dir);
        tu_result r = tu_run(&c);
        tried++;
        int lines = 0;
        for (const char *s = r.err; *s; s++)
            lines += *s == '\n';
        tu_log("%s: exit %d: %.*s", desc, r.code, (int)strcspn(r.err, "\n"), r.err);
        const char *problem = NULL;
        const char *after = tu_dir_listing(dir);
        if (r.code != oc->code && (!oc->alt || r.code != oc->alt))
            problem = tu_fmt("exit %d, expected %d; stderr \"%s\"", r.code, oc->code, r.err);
        else if (r.code == 2 && program == cli_path() && (lines != 2 || !strstr(r.err, "\nTry 'daemonctx --help'.\n")))
            problem = tu_fmt("a usage error is one line and the hint: \"%s\"", r.err);
        else if (!(r.code == 2 && program == cli_path()) && (lines != 1 || r.err[strlen(r.err) - 1] != '\n'))
            problem = tu_fmt("expected one line, got \"%s\"", r.err);
        else if (program == cli_path() && strncmp(r.err, "daemonctx: ", 11) != 0)
            problem = tu_fmt("\"%s\" is not a daemonctx message", r.err);
        else if (oc->needle && !strstr(r.err, oc->needle))
            problem = tu_fmt("\"%s\" does not say \"%s\"", r.err, oc->needle);
        else if (r.out[0])
            problem = tu_fmt("printed \"%s\" on stdout", r.out);
        else if (strcmp(before, after) != 0)
            problem = tu_fmt("left \"%s\" in the directory", after);
        if (problem) {
            problems++;
            tu_log("PROBLEM: %s: %s", desc, problem);
            tu_kill_all_except(NULL, 0);
            continue;
        }
        tu_assert_nothing_left(NULL, 0, desc);
    }
    tu_log("figures: hostile inputs tried=%ld", tried);
    TU_ASSERT_MSG(problems == 0, "%zu option values were not refused cleanly (see PROBLEM lines)", problems);
}

#define RUN(program, ...)                                                                                          \
    do {                                                                                                           \
        static const ocase cases_[] = {__VA_ARGS__};                                                               \
        run_cases(program, cases_, sizeof cases_ / sizeof cases_[0]);                                              \
    } while (0)

TU_TEST(hostile_options_empty_strings_are_refused)
{
    RUN(cli_path(),
        {{"start", "--pidfile=", "--", "%P", NULL}, 4, 2, "pidfile"},
        {{"start", "--pidfile=%D/d.pid", "--chroot=", "--", "%P", NULL}, 7, 2, "chroot"},
        {{"start", "--pidfile=%D/d.pid", "--chdir=", "--", "%P", NULL}, 7, 2, "directory"},
        {{"start", "--pidfile=%D/d.pid", "--user=", "--", "%P", NULL}, 5, 2, "user"},
        {{"start", "--pidfile=%D/d.pid", "--group=", "--", "%P", NULL}, 5, 2, "group"},
        {{"start", "--pidfile=%D/d.pid", "--umask=", "--", "%P", NULL}, 2, 0, "umask"},
        {{"start", "--pidfile=%D/d.pid", "--stdin=", "--", "%P", NULL}, 6, 2, "stdin"},
        {{"start", "--pidfile=%D/d.pid", "--stdout=", "--", "%P", NULL}, 6, 2, "stdout"},
        {{"start", "--pidfile=%D/d.pid", "--stderr=", "--", "%P", NULL}, 6, 2, "stderr"},
        {{"start", "--pidfile=%D/d.pid", "--keep-fd=", "--", "%P", NULL}, 2, 0, "keep-fd"},
        {{"start", "--pidfile=%D/d.pid", "--timeout=", "--", "%P", NULL}, 2, 0, "timeout"},
        {{"start", "--pidfile=%D/d.pid", "--ready=", "--", "%P", NULL}, 2, 0, "ready"},
        {{"start", "--pidfile=%D/d.pid", "--detach=", "--", "%P", NULL}, 2, 0, "detach"},
        {{"start", "--pidfile=%D/d.pid", "--ignore-signal=", "--", "%P", NULL}, 2, 0, "ignore-signal"},
        {{"start", "--pidfile=%D/d.pid", "--supervise", "--syslog=", "--", "%P", NULL}, 2, 0, "syslog"},
        {{"start", "--pidfile=%D/d.pid", "--", "", NULL}, 2, 0, "PROGRAM"},
        {{"stop", "--pidfile=", NULL}, 4, 2, "pidfile"},
        {{"stop", "--pidfile=%D/d.pid", "--signal=", NULL}, 2, 0, "signal"},
        {{"stop", "--pidfile=%D/d.pid", "--retry=", NULL}, 2, 0, "retry"},
        {{"stop", "--pidfile=%D/d.pid", "--timeout=", NULL}, 2, 0, "timeout"},
        {{"status", "--pidfile=", NULL}, 4, 2, "pidfile"},
        {{"", NULL}, 2, 0, "command"});
}

TU_TEST(hostile_options_very_long_paths_are_refused)
{
    RUN(cli_path(),
        {{"start", "--pidfile=%L", "--", "%P", NULL}, 4, 0, "too long"},
        {{"start", "--pidfile=%C", "--", "%P", NULL}, 4, 0, "too long"},
        {{"start", "--pidfile=%D/d.pid", "--chdir=%L", "--", "%P", NULL}, 7, 0, "too long"},
        {{"start", "--pidfile=%D/d.pid", "--chroot=%L", "--", "%P", NULL}, 7, 0, "too long"},
        {{"start", "--pidfile=%D/d.pid", "--stdout=%L", "--", "%P", NULL}, 6, 0, "too long"},
        {{"start", "--pidfile=%D/d.pid", "--stdin=%C", "--", "%P", NULL}, 6, 0, "too long"},
        {{"start", "--pidfile=%D/d.pid", "--", "%L", NULL}, 126, 127, "too long"},
        {{"stop", "--pidfile=%L", NULL}, 4, 0, "too long"},
        {{"status", "--pidfile=%C", NULL}, 4, 0, "too long"});
}

TU_TEST(hostile_options_unknown_users_and_groups_are_refused)
{
    RUN(cli_path(),
        {{"start", "--pidfile=%D/d.pid", "--user=no-such-user-dcx", "--", "%P", NULL}, 5, 0, "no-such-user-dcx"},
        {{"start", "--pidfile=%D/d.pid", "--group=no-such-group-dcx", "--", "%P", NULL}, 5, 0, "no-such-group-dcx"},
        {{"start", "--pidfile=%D/d.pid", "--user=nobody", "--group=no-such-group-dcx", "--", "%P", NULL}, 5, 0,
         "no-such-group-dcx"},
        {{"start", "--pidfile=%D/d.pid", "--user=4294967295", "--", "%P", NULL}, 5, 0, "4294967295"},
        {{"start", "--pidfile=%D/d.pid", "--user=99999999999999999999", "--", "%P", NULL}, 5, 0, NULL},
        {{"start", "--pidfile=%D/d.pid", "--group=-1", "--", "%P", NULL}, 5, 0, "-1"},
        {{"start", "--pidfile=%D/d.pid", "--user=root\n", "--", "%P", NULL}, 5, 0, NULL});
}

/* A numeric uid with no passwd entry needs its group; with it, the daemon
 * runs as exactly that uid and gid (and no supplementary group). */
TU_TEST(hostile_options_numeric_ids_without_passwd_entry)
{
    if (!tu_is_root())
        tu_skip("needs root");
    RUN(cli_path(), {{"start", "--pidfile=%D/d.pid", "--user=54321", "--", "%P", NULL}, 5, 0, "--group"});
    const char *pidfile = tu_fmt("%s/n.pid", dir);
    tu_cmd c;
    tu_cmd_init_command(&c, cli_path(), (const char *)NULL);
    c.new_session = true;
    tu_cmd_arg(&c, "start");
    tu_cmd_arg(&c, "--pidfile=%s", pidfile);
    tu_cmd_arg(&c, "--user=54321");
    tu_cmd_arg(&c, "--group=54321");
    tu_cmd_arg(&c, "--");
    tu_cmd_arg(&c, "%s", prog_path());
    tu_result r = tu_run(&c);
    TU_ASSERT_MSG(r.code == 0, "start as 54321:54321: %d %s", r.code, r.err);
    pid_t d = tu_pidfile_pid(pidfile);
    TU_ASSERT(d > 0);
    long ids[4];
    tu_status_ids(d, "Uid", ids);
    for (int i = 0; i < 4; i++)
        TU_ASSERT_INT_EQ(ids[i], 54321);
    tu_status_ids(d, "Gid", ids);
    for (int i = 0; i < 4; i++)
        TU_ASSERT_INT_EQ(ids[i], 54321);
    TU_ASSERT_STR_EQ(tu_status_field(d, "Groups"), "54321");
    tu_cmd_init_command(&c, cli_path(), (const char *)NULL);
    c.new_session = true;
    tu_cmd_arg(&c, "stop");
    tu_cmd_arg(&c, "--pidfile=%s", pidfile);
    r = tu_run(&c);
    TU_ASSERT_MSG(r.code == 0, "stop: %s", r.err);
    TU_ASSERT(tu_wait_gone(d, tu_timeout_ms()));
    tried++;
}

TU_TEST(hostile_options_umask_beyond_0777_is_refused)
{
    RUN(cli_path(),
        {{"start", "--pidfile=%D/d.pid", "--umask=0778", "--", "%P", NULL}, 2, 0, "0778"},
        {{"start", "--pidfile=%D/d.pid", "--umask=1000", "--", "%P", NULL}, 2, 0, "1000"},
        {{"start", "--pidfile=%D/d.pid", "--umask=01777", "--", "%P", NULL}, 2, 0, "01777"},
        {{"start", "--pidfile=%D/d.pid", "--umask=8", "--", "%P", NULL}, 2, 0, NULL},
        {{"start", "--pidfile=%D/d.pid", "--umask=-1", "--", "%P", NULL}, 2, 0, NULL},
        {{"start", "--pidfile=%D/d.pid", "--umask=0x1ff", "--", "%P", NULL}, 2, 0, NULL},
        {{"start", "--pidfile=%D/d.pid", "--umask=77777777777", "--", "%P", NULL}, 2, 0, NULL});
}

TU_TEST(hostile_options_fds_beyond_the_limit_are_refused)
{
    RUN(cli_path(),
        {{"start", "--pidfile=%D/d.pid", "--keep-fd=1048576", "--", "%P", NULL}, 2, 0, "1048576"},
        {{"start", "--pidfile=%D/d.pid", "--keep-fd=2147483647", "--", "%P", NULL}, 2, 0, NULL},
        {{"start", "--pidfile=%D/d.pid", "--keep-fd=2147483648", "--", "%P", NULL}, 2, 0, NULL},
        {{"start", "--pidfile=%D/d.pid", "--keep-fd=-1", "--", "%P", NULL}, 2, 0, NULL},
        {{"start", "--pidfile=%D/d.pid", "--keep-fd=99", "--", "%P", NULL}, 2, 0, "not open"},
        {{"start", "--pidfile=%D/d.pid", "--ready=fd:1048576", "--", "%P", NULL}, 2, 1, "1048576"},
        {{"start", "--pidfile=%D/d.pid", "--ready=fd:2147483648", "--", "%P", NULL}, 2, 0, NULL},
        {{"start", "--pidfile=%D/d.pid", "--ready=fd:2", "--", "%P", NULL}, 2, 0, NULL},
        {{"start", "--pidfile=%D/d.pid", "--ready=fd:", "--", "%P", NULL}, 2, 0, NULL});
}

TU_TEST(hostile_options_unknown_signals_are_refused)
{
    RUN(cli_path(),
        {{"start", "--pidfile=%D/d.pid", "--ignore-signal=FOO", "--", "%P", NULL}, 2, 0, "FOO"},
        {{"start", "--pidfile=%D/d.pid", "--ignore-signal=KILL", "--", "%P", NULL}, 2, 0, "KILL"},
        {{"start", "--pidfile=%D/d.pid", "--ignore-signal=SIGSTOP", "--", "%P", NULL}, 2, 0, NULL},
        {{"start", "--pidfile=%D/d.pid", "--ignore-signal=0", "--", "%P", NULL}, 2, 0, NULL},
        {{"start", "--pidfile=%D/d.pid", "--ignore-signal=65", "--", "%P", NULL}, 2, 0, NULL},
        {{"start", "--pidfile=%D/d.pid", "--ignore-signal=-15", "--", "%P", NULL}, 2, 0, NULL},
        {{"stop", "--pidfile=%D/d.pid", "--signal=FOO", NULL}, 2, 0, "FOO"},
        {{"stop", "--pidfile=%D/d.pid", "--signal=0", NULL}, 2, 0, NULL},
        {{"stop", "--pidfile=%D/d.pid", "--signal=65", NULL}, 2, 0, NULL},
        {{"stop", "--pidfile=%D/d.pid", "--signal=SIG", NULL}, 2, 0, NULL},
        {{"stop", "--pidfile=%D/d.pid", "--signal=TERM ", NULL}, 2, 0, NULL},
        {{"stop", "--pidfile=%D/d.pid", "--retry=TERM/5/BOGUS", NULL}, 2, 0, "BOGUS"},
        {{"stop", "--pidfile=%D/d.pid", "--retry=5/5", NULL}, 2, 0, NULL},
        {{"stop", "--pidfile=%D/d.pid", "--retry=TERM//5", NULL}, 2, 0, NULL},
        {{"stop", "--pidfile=%D/d.pid", "--retry=/TERM", NULL}, 2, 0, NULL},
        {{"stop", "--pidfile=%D/d.pid", "--retry=TERM/1e9", NULL}, 2, 0, NULL});
}

TU_TEST(hostile_options_durations_out_of_range_are_refused)
{
    RUN(cli_path(),
        {{"start", "--pidfile=%D/d.pid", "--timeout=-1", "--", "%P", NULL}, 2, 0, NULL},
        {{"start", "--pidfile=%D/d.pid", "--timeout=4294967.296", "--", "%P", NULL}, 2, 0, NULL},
        {{"start", "--pidfile=%D/d.pid", "--timeout=1e3", "--", "%P", NULL}, 2, 0, NULL},
        {{"start", "--pidfile=%D/d.pid", "--timeout=0.0001", "--", "%P", NULL}, 2, 0, NULL},
        {{"start", "--pidfile=%D/d.pid", "--supervise", "--restart", "--restart-delay=0", "--", "%P", NULL}, 2, 0,
         NULL},
        {{"stop", "--pidfile=%D/d.pid", "--timeout=99999999999", NULL}, 2, 0, NULL},
        {{"stop", "--pidfile=%D/d.pid", "--timeout=.", NULL}, 2, 0, NULL});
}

/* The library's setters through dcx-helper: a refused value is one line
 * ("STEP: MESSAGE") and exit 2 before anything is opened; a bad fd is
 * caught by open() (exit 1), before any fork. */
TU_TEST(hostile_options_library_setters_refuse_out_of_range_values)
{
    RUN(tu_helper_path(),
        {{"--umask=1000", NULL}, 2, 0, NULL},
        {{"--umask=7777", NULL}, 2, 0, NULL},
        {{"--signal=65:ignore", NULL}, 2, 0, NULL},
        {{"--signal=0:ignore", NULL}, 2, 0, NULL},
        {{"--signal=KILL:ignore", NULL}, 2, 0, NULL},
        {{"--signal=STOP:default", NULL}, 2, 0, NULL},
        {{"--workdir=relative/dir", NULL}, 2, 0, NULL},
        {{"--workdir=", NULL}, 2, 0, NULL},
        {{"--chroot=", NULL}, 2, 0, NULL},
        {{"--chroot=relative", NULL}, 2, 0, NULL},
        {{"--detach=7", NULL}, 2, 0, NULL},
        {{"--pidfile=", NULL}, 2, 0, NULL},
        {{"--detach=yes", "--stdin-fd=1048576", NULL}, 1, 2, "1048576"},
        {{"--detach=yes", "--stdout-fd=2147483647", NULL}, 1, 2, NULL},
        {{"--detach=yes", "--stderr-fd=-2", NULL}, 2, 1, NULL},
        {{"--detach=yes", "--pidfile=%L", NULL}, 2, 1, NULL},
        {{"--detach=yes", "--workdir=%L", NULL}, 2, 1, NULL});
}

TU_MAIN
