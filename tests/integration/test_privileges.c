/*
 * uid / gid: the privilege drop seen from /proc (Uid, Gid, Groups, CapEff),
 * the defaults (the real ids), lookups done outside the jail, and the drops
 * the kernel refuses, reported to the invoker.
 */
#include "daemonctx.h"
#include "testutil.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NOBODY 65534

static void expect_ids(pid_t d, const char *name, long want) {
    long ids[4];
    tu_status_ids(d, name, ids);
    for (int i = 0; i < 4; i++)
        TU_ASSERT_MSG(ids[i] == want, "%s: %ld %ld %ld %ld, expected %ld for real, effective, saved and fs", name,
                      ids[0], ids[1], ids[2], ids[3], want);
}

static size_t groups_of(pid_t d, long *out, size_t max) {
    const char *v = tu_status_field(d, "Groups");
    size_t n = 0;
    char *end;
    for (const char *s = v; *s;) {
        long g = strtol(s, &end, 10);
        if (end == s)
            break;
        if (n < max)
            out[n++] = g;
        s = end;
        while (*s == ' ')
            s++;
    }
    return n;
}

static bool has_group(const long *g, size_t n, long want) {
    for (size_t i = 0; i < n; i++)
        if (g[i] == want)
            return true;
    return false;
}

/* Groups must be exactly the passwd entry's groups for GID (outside lookup). */
static void expect_groups_of_user(pid_t d, const char *user, gid_t gid) {
    gid_t want[64];
    int nwant = 64;
    TU_ASSERT_MSG(getgrouplist(user, gid, want, &nwant) >= 0, "getgrouplist");
    long got[64];
    size_t ngot = groups_of(d, got, 64);
    tu_log("Groups: %s (expected the %d groups of %s with gid %d)", tu_status_field(d, "Groups"), nwant, user,
           (int)gid);
    for (size_t i = 0; i < ngot; i++) {
        bool ok = false;
        for (int j = 0; j < nwant; j++)
            ok |= got[i] == (long)want[j];
        TU_ASSERT_MSG(ok, "the daemon keeps supplementary group %ld, not one of %s's", got[i], user);
    }
    for (int j = 0; j < nwant; j++)
        TU_ASSERT_MSG(has_group(got, ngot, (long)want[j]), "the daemon lacks group %d of %s", (int)want[j], user);
}

static void expect_no_capabilities(pid_t d) {
    TU_ASSERT_STR_EQ(tu_status_field(d, "CapEff"), "0000000000000000");
    TU_ASSERT_STR_EQ(tu_status_field(d, "CapPrm"), "0000000000000000");
}

TU_TEST(privileges_drop_to_nobody_sets_every_uid_and_gid) {
    tu_cmd c;
    tu_cmd_init(&c);
    c.no_leak_check = true;
    tu_cmd_arg(&c, "--uid=%d", NOBODY);
    tu_cmd_arg(&c, "--gid=%d", NOBODY);
    pid_t d = tu_start_daemon(&c, NULL);
    expect_ids(d, "Uid", NOBODY);
    expect_ids(d, "Gid", NOBODY);
    expect_no_capabilities(d);
}

TU_TEST(privileges_drop_sets_groups_of_the_user) {
    gid_t inherited[3] = {0, 4, 27}; /* root, adm, sudo: must not survive */
    tu_cmd c;
    tu_cmd_init(&c);
    c.no_leak_check = true;
    tu_cmd_groups(&c, inherited, 3);
    tu_cmd_arg(&c, "--uid=%d", NOBODY);
    tu_cmd_arg(&c, "--gid=%d", NOBODY);
    pid_t d = tu_start_daemon(&c, NULL);
    struct passwd *pw = getpwuid(NOBODY);
    TU_ASSERT(pw != NULL);
    expect_groups_of_user(d, pw->pw_name, NOBODY);
    long got[64];
    size_t n = groups_of(d, got, 64);
    TU_ASSERT_MSG(!has_group(got, n, 0) && !has_group(got, n, 4) && !has_group(got, n, 27),
                  "inherited supplementary groups survived: %s", tu_status_field(d, "Groups"));
}

TU_TEST(privileges_uid_only_keeps_the_real_gid) {
    tu_cmd c;
    tu_cmd_init(&c);
    c.no_leak_check = true;
    tu_cmd_arg(&c, "--uid=%d", NOBODY);
    pid_t d = tu_start_daemon(&c, NULL);
    expect_ids(d, "Uid", NOBODY);
    expect_ids(d, "Gid", (long)getgid());
    expect_no_capabilities(d);
}

TU_TEST(privileges_gid_only_sets_every_gid) {
    tu_cmd c;
    tu_cmd_init(&c);
    c.no_leak_check = true;
    tu_cmd_arg(&c, "--gid=%d", NOBODY);
    pid_t d = tu_start_daemon(&c, NULL);
    expect_ids(d, "Gid", NOBODY);
    expect_ids(d, "Uid", (long)getuid());
}

TU_TEST(privileges_default_ids_are_the_real_ids_of_a_setuid_invoker) {
    /* like a setuid-root program started by nobody: real 65534, effective 0 */
    tu_cmd c;
    tu_cmd_init(&c);
    c.no_leak_check = true;
    c.set_ids = true;
    c.ruid = NOBODY;
    c.euid = 0;
    c.rgid = NOBODY;
    c.egid = 0;
    pid_t d = tu_start_daemon(&c, NULL);
    expect_ids(d, "Uid", NOBODY);
    expect_ids(d, "Gid", NOBODY);
    expect_no_capabilities(d);
}

TU_TEST(privileges_default_ids_unchanged_for_root) {
    tu_cmd c;
    tu_cmd_init(&c);
    pid_t d = tu_start_daemon(&c, NULL);
    expect_ids(d, "Uid", (long)getuid());
    expect_ids(d, "Gid", (long)getgid());
}

TU_TEST(privileges_uid_without_passwd_entry_keeps_only_the_gid) {
    const long uid = 54321, gid = 54322;
    TU_ASSERT_MSG(getpwuid((uid_t)uid) == NULL, "uid %ld unexpectedly has a passwd entry", uid);
    gid_t inherited[2] = {0, 4};
    tu_cmd c;
    tu_cmd_init(&c);
    c.no_leak_check = true;
    tu_cmd_groups(&c, inherited, 2);
    tu_cmd_arg(&c, "--uid=%ld", uid);
    tu_cmd_arg(&c, "--gid=%ld", gid);
    pid_t d = tu_start_daemon(&c, NULL);
    expect_ids(d, "Uid", uid);
    expect_ids(d, "Gid", gid);
    long got[64];
    size_t n = groups_of(d, got, 64);
    for (size_t i = 0; i < n; i++)
        TU_ASSERT_MSG(got[i] == gid, "supplementary group %ld kept (Groups: %s); only %ld allowed", got[i],
                      tu_status_field(d, "Groups"), gid);
}

TU_TEST(privileges_user_lookup_happens_outside_the_jail) {
    /* The jail holds its own /etc/group making nobody a member of 4242: a
     * lookup done after chroot would pick it up. */
    const char *dir = tu_tmpdir();
    const char *jail = tu_fmt("%s/jail", dir);
    tu_mkdir_p(tu_fmt("%s/etc", jail), 0755);
    tu_write_file(tu_fmt("%s/etc/passwd", jail), "root:x:0:0:root:/root:/bin/sh\n"
                                                  "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
                  0644);
    tu_write_file(tu_fmt("%s/etc/group", jail), "root:x:0:\njailgrp:x:4242:nobody\nnogroup:x:65534:\n", 0644);
    tu_write_file(tu_fmt("%s/etc/nsswitch.conf", jail), "passwd: files\ngroup: files\n", 0644);
    tu_cmd c;
    tu_cmd_init(&c);
    c.no_leak_check = true;
    tu_cmd_arg(&c, "--chroot=%s", jail);
    tu_cmd_arg(&c, "--uid=%d", NOBODY);
    tu_cmd_arg(&c, "--gid=%d", NOBODY);
    pid_t d = tu_start_daemon(&c, NULL);
    TU_ASSERT_PROC_IS(d, "root", jail);
    expect_ids(d, "Uid", NOBODY);
    struct passwd *pw = getpwuid(NOBODY);
    TU_ASSERT(pw != NULL);
    expect_groups_of_user(d, pw->pw_name, NOBODY);
}

TU_TEST(privileges_daemon_runs_in_jail_as_nobody) {
    const char *dir = tu_tmpdir();
    const char *jail = tu_fmt("%s/jail", dir);
    TU_SYS(mkdir(jail, 0755));
    tu_cmd c;
    tu_cmd_init(&c);
    c.no_leak_check = true;
    tu_cmd_arg(&c, "--chroot=%s", jail);
    tu_cmd_arg(&c, "--uid=%d", NOBODY);
    tu_cmd_arg(&c, "--gid=%d", NOBODY);
    tu_cmd_arg(&c, "--umask=022");
    pid_t d = tu_start_daemon(&c, NULL);
    TU_ASSERT_PROC_IS(d, "root", jail);
    TU_ASSERT_PROC_IS(d, "cwd", jail);
    expect_ids(d, "Uid", NOBODY);
    expect_ids(d, "Gid", NOBODY);
    expect_no_capabilities(d);
    for (int fd = 0; fd <= 2; fd++)
        TU_ASSERT_STR_EQ(tu_proc_link(d, tu_fmt("fd/%d", fd)), "/dev/null");
}

TU_TEST(privileges_chroot_refused_to_unprivileged_invoker_is_reported) {
    const char *dir = tu_tmpdir();
    const char *jail = tu_fmt("%s/jail", dir);
    TU_SYS(mkdir(jail, 0755));
    tu_cmd c;
    tu_cmd_init(&c);
    c.no_leak_check = true;
    c.set_ids = true;
    c.ruid = c.euid = NOBODY;
    c.rgid = c.egid = NOBODY;
    tu_cmd_arg(&c, "--chroot=%s", jail);
    tu_proc *p = tu_spawn(&c);
    tu_failure f = tu_expect_open_failure(p, "chroot");
    TU_ASSERT_CONTAINS(f.message, jail);
    TU_ASSERT_INT_EQ(f.errnum, EPERM);
    tu_assert_no_descendants();
}

TU_TEST(privileges_uid_change_refused_to_unprivileged_invoker_is_reported) {
    tu_cmd c;
    tu_cmd_init(&c);
    c.no_leak_check = true;
    c.set_ids = true;
    c.ruid = c.euid = NOBODY;
    c.rgid = c.egid = NOBODY;
    tu_cmd_arg(&c, "--uid=0");
    tu_proc *p = tu_spawn(&c);
    tu_failure f = tu_expect_open_failure(p, NULL);
    TU_ASSERT_MSG(f.errnum == EPERM, "errnum %d, expected EPERM", f.errnum);
    TU_ASSERT_MSG(strcmp(f.step, "setgroups") == 0 || strcmp(f.step, "setgid") == 0 || strcmp(f.step, "setuid") == 0 ||
                      strcmp(f.step, "verify-drop") == 0,
                  "step \"%s\" is not a privilege step", f.step);
    tu_assert_no_descendants();
}

TU_TEST(privileges_unprivileged_invoker_with_default_ids_succeeds) {
    /* an ordinary user daemonizing: nothing to change, nothing may fail */
    tu_cmd c;
    tu_cmd_init(&c);
    c.no_leak_check = true;
    c.set_ids = true;
    c.ruid = c.euid = NOBODY;
    c.rgid = c.egid = NOBODY;
    pid_t d = tu_start_daemon(&c, NULL);
    expect_ids(d, "Uid", NOBODY);
    expect_ids(d, "Gid", NOBODY);
    TU_ASSERT_STR_EQ(tu_status_field(d, "Umask"), "0000");
    TU_ASSERT_PROC_IS(d, "cwd", "/");
}

TU_TEST(privileges_gid_change_refused_to_unprivileged_invoker_is_reported) {
    tu_cmd c;
    tu_cmd_init(&c);
    c.no_leak_check = true;
    c.set_ids = true;
    c.ruid = c.euid = NOBODY;
    c.rgid = c.egid = NOBODY;
    tu_cmd_arg(&c, "--gid=0");
    tu_proc *p = tu_spawn(&c);
    tu_failure f = tu_expect_open_failure(p, NULL);
    TU_ASSERT_MSG(strcmp(f.step, "setgroups") == 0 || strcmp(f.step, "setgid") == 0 ||
                      strcmp(f.step, "verify-drop") == 0,
                  "step \"%s\" is not a group step", f.step);
    TU_ASSERT_MSG(f.errnum == EPERM, "errnum %d, expected EPERM", f.errnum);
    tu_assert_no_descendants();
}

TU_MAIN
