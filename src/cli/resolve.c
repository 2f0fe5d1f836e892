/* Everything `start` can check before forking, so that a mistake is reported
 * at once, synchronously, naming its culprit: the user and group (looked up
 * outside any chroot: a jail rarely has /etc/passwd), the directories, the
 * program (looked up inside the new root, where it will run), the stdio
 * files (opened here, with the invoker's view of paths and privileges). */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <limits.h>
#include <linux/openat2.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cli.h"

static bool all_digits(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

/* --user: its uid, and its primary group unless --group gives one. */
static int resolve_user(const struct start_opts *o, struct launch *l)
{
    const struct passwd *pw;
    long n;
    errno = 0;
    if (all_digits(o->user)) {
        if (parse_int(o->user, 0, (long)(uid_t)-2, &n) < 0) {
            print_error("invalid user id '%s'", o->user);
            return EXIT_USER;
        }
        l->uid = (uid_t)n;
        pw = getpwuid(l->uid);
    } else if ((pw = getpwnam(o->user))) {
        l->uid = pw->pw_uid;
    } else {
        if (errno && errno != ENOENT && errno != ESRCH)
            print_error("cannot look up user '%s': %s", o->user, strerror(errno));
        else
            print_error("unknown user '%s'", o->user);
        return EXIT_USER;
    }
    l->set_uid = true;
    if (o->group)
        return 0;
    if (!pw) {
        print_error("user '%s' has no passwd entry: give its group with --group", o->user);
        return EXIT_USER;
    }
    l->gid = pw->pw_gid;
    l->set_gid = true;
    return 0;
}

static int resolve_group(const struct start_opts *o, struct launch *l)
{
    long n;
    if (all_digits(o->group)) {
        if (parse_int(o->group, 0, (long)(gid_t)-2, &n) < 0) {
            print_error("invalid group id '%s'", o->group);
            return EXIT_USER;
        }
        l->gid = (gid_t)n;
    } else {
        errno = 0;
        const struct group *gr = getgrnam(o->group);
        if (!gr) {
            if (errno && errno != ENOENT && errno != ESRCH)
                print_error("cannot look up group '%s': %s", o->group, strerror(errno));
            else
                print_error("unknown group '%s'", o->group);
            return EXIT_USER;
        }
        l->gid = gr->gr_gid;
    }
    l->set_gid = true;
    return 0;
}

int resolve_identity(const struct start_opts *o, struct launch *l)
{
    int r = o->user ? resolve_user(o, l) : 0;
    if (r == 0 && o->group)
        r = resolve_group(o, l);
    return r;
}

char *join_path(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    bool slash = la > 0 && a[la - 1] != '/';
    char *s = malloc(la + slash + lb + 1);
    if (!s)
        return NULL;
    memcpy(s, a, la);
    if (slash)
        s[la] = '/';
    memcpy(s + la + slash, b, lb + 1);
    return s;
}

/* Open PATH as PROGRAM will see it: inside the new root, where an absolute
 * symlink means the jail's root, not ours (openat2 RESOLVE_IN_ROOT). */
static int open_in_root(const struct launch *l, const char *path, int flags)
{
    int fd;
    if (!l->root) {
        do
            fd = open(path, flags | O_CLOEXEC);
        while (fd < 0 && errno == EINTR);
        return fd;
    }
    int rootfd;
    do
        rootfd = open(l->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    while (rootfd < 0 && errno == EINTR);
    if (rootfd < 0)
        return -1;
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = (unsigned long long)(flags | O_CLOEXEC);
    how.resolve = RESOLVE_IN_ROOT;
    do
        fd = (int)syscall(SYS_openat2, rootfd, path, &how, sizeof how);
    while (fd < 0 && (errno == EINTR || errno == EAGAIN));
    int e = errno;
    dcx_close(rootfd);
    errno = e;
    return fd;
}

int resolve_directories(const struct start_opts *o, struct launch *l)
{
    if (o->chroot) {
        l->root = realpath(o->chroot, NULL);
        struct stat st;
        if (!l->root || stat(l->root, &st) < 0) {
            print_error("chroot directory '%s': %s", o->chroot, strerror(errno));
            return EXIT_DIRECTORY;
        }
        if (!S_ISDIR(st.st_mode)) {
            print_error("chroot directory '%s' is not a directory", o->chroot);
            return EXIT_DIRECTORY;
        }
    }
    const char *dir = o->chdir ? o->chdir : "/";
    if (dir[0] == '/') {
        l->cwd = strdup(dir);
    } else if (l->root) {
        l->cwd = join_path("/", dir);
    } else {
        char *here = getcwd(NULL, 0);
        if (!here) {
            print_error("cannot resolve directory '%s': %s", dir, strerror(errno));
            return EXIT_DIRECTORY;
        }
        l->cwd = join_path(here, dir);
        free(here);
    }
    if (!l->cwd) {
        print_error("out of memory");
        return EXIT_SYSTEM;
    }
    int fd = open_in_root(l, l->cwd, O_PATH | O_DIRECTORY);
    if (fd < 0) {
        if (l->root)
            print_error("directory '%s' inside chroot '%s': %s", dir, o->chroot, strerror(errno));
        else
            print_error("directory '%s': %s", dir, strerror(errno));
        return EXIT_DIRECTORY;
    }
    dcx_close(fd);
    return 0;
}

/* 0 when PATH (inside the root) is a regular file with an execute bit, else
 * an errno as execve would give it. Whether the target user may execute it is
 * left to execve: ACLs and mount options are its business, and a wrong guess
 * here would refuse a program that runs. */
static int check_executable(const struct launch *l, const char *path)
{
    int fd = open_in_root(l, path, O_PATH);
    if (fd < 0)
        return errno;
    struct stat st;
    int e = 0;
    if (fstat(fd, &st) < 0)
        e = errno;
    else if (S_ISDIR(st.st_mode))
        e = EISDIR;
    else if (!S_ISREG(st.st_mode) || !(st.st_mode & (S_IXUSR | S_IXGRP | S_IXOTH)))
        e = EACCES;
    dcx_close(fd);
    return e;
}

static int report_program(const struct start_opts *o, const struct launch *l, int e, bool searched)
{
    const char *prog = o->argv[0];
    const char *where = l->root ? " inside chroot '" : "";
    const char *root = l->root ? o->chroot : "";
    const char *close_quote = l->root ? "'" : "";
    if (e == ENOENT || e == ENOTDIR) {
        print_error("program '%s' not found%s%s%s%s", prog, searched ? " in PATH" : "", where, root,
                    close_quote);
        return EXIT_NOTFOUND;
    }
    print_error("cannot execute program '%s'%s%s%s: %s", prog, where, root, close_quote,
                e == EISDIR ? "Is a directory" : strerror(e));
    return EXIT_NOEXEC;
}

/* PROG in the PATH entry P of LEN bytes (empty: the working directory):
 * 0 with *CANDIDATE, the errno of a miss, or -1 out of memory. */
static int try_path_entry(const struct launch *l, const char *p, size_t len, const char *prog, char **candidate)
{
    char dir[PATH_MAX];
    if (len >= sizeof dir)
        len = 0;
    memcpy(dir, len ? p : ".", len ? len : 1);
    dir[len ? len : 1] = '\0';
    *candidate = join_path(dir, prog);
    char *inner = *candidate && dir[0] != '/' ? join_path(l->cwd, *candidate) : NULL;
    int e = !*candidate || (dir[0] != '/' && !inner) ? -1 : check_executable(l, inner ? inner : *candidate);
    free(inner);
    if (e != 0) {
        free(*candidate);
        *candidate = NULL;
    }
    return e;
}

/* execvp's search, done here so the daemon only needs execv and a miss is
 * reported before forking. An entry that exists but cannot be executed is
 * remembered, as execvp reports EACCES over ENOENT. */
static int search_path(const struct start_opts *o, struct launch *l, const char *prog)
{
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin";
    int found_error = ENOENT;
    for (const char *p = path;;) {
        const char *colon = strchrnul(p, ':');
        char *candidate;
        int e = try_path_entry(l, p, (size_t)(colon - p), prog, &candidate);
        if (e < 0) {
            print_error("out of memory");
            return EXIT_SYSTEM;
        }
        if (e == 0) {
            l->program = candidate;
            return 0;
        }
        if (e != ENOENT && e != ENOTDIR && e != ELOOP && e != ENAMETOOLONG)
            found_error = e;
        if (!*colon)
            break;
        p = colon + 1;
    }
    return report_program(o, l, found_error, true);
}

int resolve_program(const struct start_opts *o, struct launch *l)
{
    const char *prog = o->argv[0];
    if (!strchr(prog, '/'))
        return search_path(o, l, prog);
    /* A relative PROGRAM runs from the working directory, as execv resolves
     * it there. */
    char *inner = prog[0] == '/' ? strdup(prog) : join_path(l->cwd, prog);
    if (!inner) {
        print_error("out of memory");
        return EXIT_SYSTEM;
    }
    int e = check_executable(l, inner);
    free(inner);
    if (e)
        return report_program(o, l, e, false);
    l->program = strdup(prog);
    if (!l->program) {
        print_error("out of memory");
        return EXIT_SYSTEM;
    }
    return 0;
}

static const char *const stream_names[3] = {"stdin", "stdout", "stderr"};

static char *absolute(const char *path)
{
    if (path[0] == '/')
        return strdup(path);
    char *here = getcwd(NULL, 0);
    char *abs = here ? join_path(here, path) : NULL;
    free(here);
    return abs;
}

int open_stdio_files(const struct start_opts *o, struct launch *l)
{
    for (int i = 0; i < 3; i++) {
        const char *path = o->stdio_path[i];
        if (!path)
            continue;
        int fd;
        if (i == 0) {
            do
                fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
            while (fd < 0 && errno == EINTR);
        } else {
            fd = log_open_file(path, &l->stdio_created[i]);
        }
        if (fd < 0) {
            print_error("cannot open %s file '%s': %s", stream_names[i], path, strerror(errno));
            return EXIT_FILE;
        }
        l->stdio_fd[i] = fd;
        /* A supervisor reopens it by path, from "/". */
        if (i > 0 && !(l->log_path[i] = absolute(path))) {
            print_error("cannot resolve %s file '%s': %s", stream_names[i], path, strerror(errno));
            return EXIT_FILE;
        }
    }
    return 0;
}

void remove_created_outputs(const struct start_opts *o, const struct launch *l)
{
    for (int i = 1; i < 3; i++) {
        struct stat at, held;
        if (!l->stdio_created[i] || l->stdio_fd[i] < 0 || (i == 2 && l->stdio_created[1] &&
                                                           o->stdio_path[1] && strcmp(o->stdio_path[1], o->stdio_path[2]) == 0))
            continue;
        /* Only the very file we created, and only if nothing was written. */
        if (fstat(l->stdio_fd[i], &held) == 0 && lstat(o->stdio_path[i], &at) == 0 && at.st_dev == held.st_dev &&
            at.st_ino == held.st_ino && held.st_size == 0)
            (void)unlink(o->stdio_path[i]);
    }
}

/* --dry-run: the same checks without creating anything. */
int check_stdio_files(const struct start_opts *o)
{
    for (int i = 0; i < 3; i++) {
        const char *path = o->stdio_path[i];
        if (!path)
            continue;
        int fd;
        do
            fd = open(path, (i == 0 ? O_RDONLY : O_WRONLY | O_APPEND) | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        while (fd < 0 && errno == EINTR);
        if (fd >= 0) {
            dcx_close(fd);
            continue;
        }
        if (i > 0 && errno == ENOENT) {
            char *copy = strdup(path);
            if (!copy) {
                print_error("out of memory");
                return EXIT_SYSTEM;
            }
            int ok = access(dirname(copy), W_OK | X_OK);
            free(copy);
            if (ok == 0)
                continue;
        }
        print_error("cannot open %s file '%s': %s", stream_names[i], path, strerror(errno));
        return EXIT_FILE;
    }
    return 0;
}
