/* The pidfile: an flock()ed regular file holding "PID\n".
 *
 * Why flock: the lock belongs to the open file description, so it survives
 * fork (taken before forking, it is inherited by the daemon) and exec (when the
 * fd is not close-on-exec), and closing some other fd of the same file does not
 * drop it, as it would a POSIX record lock. util-linux flock(1) sees it too.
 *
 * Why a directory fd: the file is opened, re-checked and removed relative to
 * the directory opened once, so removal works after a chroot and the
 * directory cannot be swapped under us between the steps. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "internal.h"

struct daemonctx_pidfile {
    char *path;
    char *dir;
    char *base;
    int dirfd;
    int fd; /* holds the lock; -1 when not held */
    dev_t dev;
    ino_t ino;
    pid_t owner; /* the process that removes the file; 0: none */
    bool allow_shared_directory;
    struct daemonctx_pidfile *next;
};

/* Pidfiles to remove at exit, each only by its owner: a child the daemon
 * forks inherits this list, and its exit() must not delete the daemon's file
 * (pep3143daemon's atexit handler did). */
static daemonctx_pidfile *registry;
static bool atexit_registered;

static void release_at_exit(void)
{
    for (daemonctx_pidfile *pf = registry; pf; pf = pf->next)
        if (pf->owner == getpid())
            (void)daemonctx_pidfile_release(pf, NULL);
}

static int enroll(daemonctx_pidfile *pf, daemonctx_error *err)
{
    if (!atexit_registered) {
        if (atexit(release_at_exit) != 0)
            return dcx_fail(err, DAEMONCTX_STEP_PIDFILE, ENOMEM, "cannot register the removal of %s at exit", pf->path);
        atexit_registered = true;
    }
    for (daemonctx_pidfile *p = registry; p; p = p->next)
        if (p == pf)
            return 0;
    pf->next = registry;
    registry = pf;
    return 0;
}

static void withdraw(daemonctx_pidfile *pf)
{
    for (daemonctx_pidfile **p = &registry; *p; p = &(*p)->next)
        if (*p == pf) {
            *p = pf->next;
            pf->next = NULL;
            return;
        }
}

daemonctx_pidfile *daemonctx_pidfile_new(const char *path)
{
    if (!path || !*path) {
        errno = EINVAL;
        return NULL;
    }
    size_t len = strlen(path);
    if (len >= PATH_MAX || path[len - 1] == '/') {
        errno = len >= PATH_MAX ? ENAMETOOLONG : EISDIR;
        return NULL;
    }
    daemonctx_pidfile *pf = calloc(1, sizeof *pf);
    if (!pf)
        return NULL;
    pf->fd = pf->dirfd = -1;
    pf->path = strdup(path);
    const char *slash = strrchr(path, '/');
    pf->base = strdup(slash ? slash + 1 : path);
    pf->dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    if (!pf->path || !pf->base || !pf->dir) {
        daemonctx_pidfile_free(pf);
        errno = ENOMEM;
        return NULL;
    }
    return pf;
}

const char *daemonctx_pidfile_path(const daemonctx_pidfile *pf)
{
    return pf ? pf->path : NULL;
}

int daemonctx_pidfile_fd(const daemonctx_pidfile *pf)
{
    return pf ? pf->fd : -1;
}

int dcx_canonical_path(const char *path, char *out, size_t size)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    if (!dir)
        return -ENOMEM;
    char *real = realpath(dir, NULL);
    int r;
    if (real) {
        size_t a = strlen(real), b = strlen(base);
        bool sep = a > 0 && real[a - 1] != '/';
        if (a + sep + b + 1 > size) {
            r = -ENAMETOOLONG;
        } else {
            memcpy(out, real, a);
            if (sep)
                out[a] = '/';
            memcpy(out + a + sep, base, b + 1);
            r = (int)(a + sep + b);
        }
        free(real);
    } else if (path[0] == '/') {
        r = dcx_normalize_path(path, out, size);
    } else {
        /* The directory does not exist yet: lexically, from here. */
        char cwd[PATH_MAX], joined[PATH_MAX * 2];
        if (!getcwd(cwd, sizeof cwd))
            r = -errno;
        else if ((size_t)snprintf(joined, sizeof joined, "%s/%s", cwd, path) >= sizeof joined)
            r = -ENAMETOOLONG;
        else
            r = dcx_normalize_path(joined, out, size);
    }
    free(dir);
    return r;
}

int dcx_pidfile_canonical(const daemonctx_pidfile *pf, char *out, size_t size)
{
    return dcx_canonical_path(pf->path, out, size);
}

int dcx_pidfile_fds(const daemonctx_pidfile *pf, int fds[2])
{
    fds[0] = pf->fd;
    fds[1] = pf->dirfd;
    return pf->fd >= 0 ? 2 : 0;
}

/* "PID\n" -> PID, or 0 when the text is not exactly that. */
pid_t dcx_parse_pid(const char *s, size_t n)
{
    if (n > 0 && s[n - 1] == '\n')
        n--;
    if (n == 0 || n > 10)
        return 0;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    return v > 0 && v <= INT_MAX ? (pid_t)v : 0;
}

static ssize_t read_contents(int fd, char *buf, size_t size)
{
    ssize_t n;
    do
        n = pread(fd, buf, size - 1, 0);
    while (n < 0 && errno == EINTR);
    buf[n > 0 ? n : 0] = '\0';
    return n;
}

/* Whether an flock is held on DEV:INO, from /proc/locks, which also shows the
 * process that took the lock (*holder, 0 when unknown). Returns 1 locked,
 * 0 not locked, -errno when /proc/locks cannot be read. */
static int flock_holder(dev_t dev, ino_t ino, pid_t *holder)
{
    FILE *f = fopen("/proc/locks", "re");
    *holder = 0;
    if (!f)
        return -errno;
    char line[256];
    int found = 0;
    while (!found && fgets(line, sizeof line, f)) {
        char kind[16], arrow[4];
        long pid;
        unsigned maj, min;
        unsigned long long lino;
        /* "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF"; waiters have "->". */
        if (sscanf(line, "%*d: %3s", arrow) == 1 && strcmp(arrow, "->") == 0)
            continue;
        if (sscanf(line, "%*d: %15s %*s %*s %ld %x:%x:%llu", kind, &pid, &maj, &min, &lino) != 5)
            continue;
        if (strcmp(kind, "FLOCK") == 0 && maj == major(dev) && min == minor(dev) &&
            lino == (unsigned long long)ino) {
            found = 1;
            *holder = pid > 0 ? (pid_t)pid : 0;
        }
    }
    fclose(f);
    return found;
}

/* Whether FD's file is flock()ed by anyone, without taking the lock when
 * /proc/locks can tell (a probing LOCK_SH would make a concurrent starter
 * fail). Returns 1 locked, 0 not, -errno. */
static int is_locked(int fd, const struct stat *st, pid_t *holder)
{
    int r = flock_holder(st->st_dev, st->st_ino, holder);
    if (r >= 0)
        return r;
    for (;;) {
        if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
            (void)flock(fd, LOCK_UN);
            return 0;
        }
        if (errno == EWOULDBLOCK)
            return 1;
        if (errno != EINTR)
            return -errno;
    }
}

/* The lock lines of /proc/PID/fdinfo/N belong to that fd's open file
 * description. */
int dcx_pid_holds_lock(pid_t pid, dev_t dev, ino_t ino)
{
    char fd_dir[64], info_dir[64];
    (void)dcx_format(fd_dir, sizeof fd_dir, "/proc/%d/fd", (int)pid);
    (void)dcx_format(info_dir, sizeof info_dir, "/proc/%d/fdinfo", (int)pid);

    int found = 0, info = -1;
    DIR *d = opendir(fd_dir); /* glibc opens it close-on-exec */
    if (!d)
        return errno == ENOENT ? 0 : -errno;
    info = open(info_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (info < 0) {
        found = errno == ENOENT ? 0 : -errno;
        goto out;
    }
    struct dirent *e;
    while (!found && (e = readdir(d))) {
        struct stat st;
        if (e->d_name[0] == '.' || fstatat(dirfd(d), e->d_name, &st, 0) < 0 || st.st_dev != dev ||
            st.st_ino != ino)
            continue;
        int fd = openat(info, e->d_name, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        FILE *f = fdopen(fd, "r");
        if (!f) {
            dcx_close(fd);
            continue;
        }
        char line[256];
        while (!found && fgets(line, sizeof line, f))
            found = strncmp(line, "lock:", 5) == 0 && strstr(line, "FLOCK") && strstr(line, "WRITE");
        fclose(f);
    }
out:
    if (info >= 0)
        dcx_close(info);
    closedir(d);
    return found;
}

static int refuse_held(const daemonctx_pidfile *pf, int fd, const struct stat *st, daemonctx_error *err)
{
    char buf[32];
    pid_t pid = read_contents(fd, buf, sizeof buf) > 0 ? dcx_parse_pid(buf, strlen(buf)) : 0;
    if (pid > 0)
        return dcx_fail(err, DAEMONCTX_STEP_PIDFILE, EAGAIN, "pidfile %s is locked by PID %d: already running", pf->path,
                        (int)pid);
    pid_t holder;
    if (flock_holder(st->st_dev, st->st_ino, &holder) > 0 && holder > 0)
        return dcx_fail(err, DAEMONCTX_STEP_PIDFILE, EAGAIN, "pidfile %s is locked by PID %d, which is still starting",
                        pf->path, (int)holder);
    return dcx_fail(err, DAEMONCTX_STEP_PIDFILE, EAGAIN, "pidfile %s is locked by another process", pf->path);
}

/* Root acting on a file someone else can write would let that someone steer
 * it: the PID a root `stop` signals, the file a root daemon truncates. */
static int check_owner(const char *path, const struct stat *st, daemonctx_error *err)
{
    if (geteuid() == 0 && st->st_uid != 0)
        return dcx_fail(err, DAEMONCTX_STEP_PIDFILE, EPERM,
                        "pidfile %s is owned by uid %u, not root: whoever owns it could steer root at any PID", path,
                        (unsigned)st->st_uid);
    return 0;
}

/* In a directory anyone can write without the sticky bit (unlike /tmp),
 * anyone can replace the pidfile between our steps. */
static int check_directory(const daemonctx_pidfile *pf, daemonctx_error *err)
{
    struct stat st;
    if (fstat(pf->dirfd, &st) < 0)
        return dcx_fail(err, DAEMONCTX_STEP_PIDFILE, errno, "pidfile %s: directory %s: %m", pf->path, pf->dir);
    if ((st.st_mode & S_IWOTH) && !(st.st_mode & S_ISVTX) && !pf->allow_shared_directory)
        return dcx_fail(err, DAEMONCTX_STEP_PIDFILE, EPERM,
                        "pidfile directory %s is writable by everyone and not sticky: anyone could replace %s",
                        pf->dir, pf->path);
    return 0;
}

int daemonctx_pidfile_allow_shared_directory(daemonctx_pidfile *pf, bool allow)
{
    if (!pf)
        return -EINVAL;
    pf->allow_shared_directory = allow;
    return 0;
}

/* *CREATED tells whether this call made the file: a failed attempt removes
 * what it created, and only that. */
static int open_pidfile(daemonctx_pidfile *pf, bool *created, daemonctx_error *err)
{
    /* O_NOFOLLOW: a planted symlink must not make root write into the file it
     * points to. O_NONBLOCK: a planted FIFO must not hang open(). No O_TRUNC:
     * that would wipe a running daemon's PID before we learn it is locked. */
    const int flags = O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY;
    int fd;
    for (;;) {
        *created = true;
        fd = openat(pf->dirfd, pf->base, flags | O_CREAT | O_EXCL, 0644);
        if (fd < 0 && errno == EEXIST) {
            *created = false;
            fd = openat(pf->dirfd, pf->base, flags);
            if (fd < 0 && errno == ENOENT) /* removed in between: create it */
                continue;
        }
        if (fd >= 0 || errno != EINTR)
            break;
    }
    if (fd >= 0 && (fd = dcx_fd_above(fd, 3)) < 0)
        return dcx_fail(err, DAEMONCTX_STEP_PIDFILE, errno, "pidfile %s: cannot move its fd above 2: %m", pf->path);
    if (fd >= 0)
        return fd;
    switch (errno) {
    case ELOOP:
        return dcx_fail(err, DAEMONCTX_STEP_PIDFILE, ELOOP, "pidfile %s is a symbolic link; refusing to follow it", pf->path);
    case EISDIR:
        return dcx_fail(err, DAEMONCTX_STEP_PIDFILE, EISDIR, "pidfile %s is a directory", pf->path);
    case ENXIO:
    case ENODEV:
    case ETXTBSY:
        return dcx_fail(err, DAEMONCTX_STEP_PIDFILE, errno, "pidfile %s is not a regular file", pf->path);
    default:
        return dcx_fail(err, DAEMONCTX_STEP_PIDFILE, errno, "cannot open pidfile %s: %m", pf->path);
    }
}

static int open_directory(daemonctx_pidfile *pf, daemonctx_error *err)
{
    if (pf->dirfd >= 0)
        return 0;
    do
        pf->dirfd = open(pf->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    while (pf->dirfd < 0 && errno == EINTR);
    pf->dirfd = dcx_fd_above(pf->dirfd, 3);
    if (pf->dirfd < 0)
        return dcx_fail(err, DAEMONCTX_STEP_PIDFILE, errno, "cannot open pidfile %s: directory %s: %m", pf->path, pf->dir);
    return 0;
}

/* A regular file, and root's when we are root; *ST is its stat. */
static int check_regular(const char *path, int fd, struct stat *st, daemonctx_error *err)
{
    if (fstat(fd, st) < 0)
        return dcx_fail(err, DAEMONCTX_STEP_PIDFILE, errno, "pidfile %s: %m", path);
    if (!S_ISREG(st->st_mode))
        return dcx_fail(err, DAEMONCTX_STEP_PIDFILE, EINVAL, "pidfile %s is not a regular file", path);
    return check_owner(path, st, err);
}

/* What the file opened at the path must be before we lock it; *ST is its stat. */
static int check_opened(const daemonctx_pidfile *pf, int fd, struct stat *st, daemonctx_error *err)
{
    int r = check_regular(pf->path, fd, st, err);
    if (r == 0 && st->st_nlink > 1) /* a hard link: truncating it would truncate some other file */
        r = dcx_fail(err, DAEMONCTX_STEP_PIDFILE, EMLINK, "pidfile %s has %ld hard links; refusing to use it", pf->path,
                     (long)st->st_nlink);
    return r;
}

/* Explicit mode whatever the umask (PEP 3143's default umask 0 made
 * pep3143daemon's pidfiles world-writable); emptied so that a reader sees
 * "starting", not the PID of the instance we replace. From NOW, the stat
 * taken under the lock: before it, a dying holder may still have been
 * writing. */
static int prepare_locked(const daemonctx_pidfile *pf, int fd, const struct stat *now, daemonctx_error *err)
{
    if (((now->st_mode & 07777) != 0644 && fchmod(fd, 0644) < 0) || (now->st_size != 0 && ftruncate(fd, 0) < 0))
        return dcx_fail(err, DAEMONCTX_STEP_PIDFILE, errno, "cannot prepare pidfile %s: %m", pf->path);
    return 0;
}

/* Locks FD, the file of stat ST, and prepares it: 1 when it is still the
 * file at the path, 0 when it was replaced before we got the lock, or an
 * error (*HELD: another process holds it). */
static int lock_opened(const daemonctx_pidfile *pf, int fd, const struct stat *st, bool *held, daemonctx_error *err)
{
    int l;
    do
        l = flock(fd, LOCK_EX | LOCK_NB);
    while (l < 0 && errno == EINTR);
    if (l < 0) {
        *held = errno == EWOULDBLOCK;
        return *held ? refuse_held(pf, fd, st, err)
                     : dcx_fail(err, DAEMONCTX_STEP_PIDFILE, errno, "cannot lock pidfile %s: %m", pf->path);
    }
    struct stat now;
    if (fstatat(pf->dirfd, pf->base, &now, AT_SYMLINK_NOFOLLOW) < 0 || now.st_dev != st->st_dev ||
        now.st_ino != st->st_ino || st->st_nlink == 0)
        return 0;
    int r = prepare_locked(pf, fd, &now, err);
    return r < 0 ? r : 1;
}

/* FD's file, created by a failed attempt, goes with it, unless it is no
 * longer at the path (another starter's by now). */
static void remove_created(const daemonctx_pidfile *pf, int fd)
{
    struct stat mine, there;
    if (fstat(fd, &mine) == 0 && fstatat(pf->dirfd, pf->base, &there, AT_SYMLINK_NOFOLLOW) == 0 &&
        mine.st_dev == there.st_dev && mine.st_ino == there.st_ino)
        (void)unlinkat(pf->dirfd, pf->base, 0);
}

int dcx_pidfile_lock(daemonctx_pidfile *pf, daemonctx_error *err)
{
    int r, fd = -1;
    bool created = false, held = false;
    if (pf->fd >= 0)
        return 0;
    if ((r = open_directory(pf, err)) < 0)
        return r;
    if ((r = check_directory(pf, err)) < 0)
        goto fail;
    /* Retried when the file is replaced between open and lock: the lock we
     * got would then be on an inode no other starter can find. */
    for (int attempt = 0; attempt < 16; attempt++) {
        struct stat st;
        if ((fd = open_pidfile(pf, &created, err)) < 0) {
            r = fd;
            goto fail;
        }
        if ((r = check_opened(pf, fd, &st, err)) < 0)
            goto fail;
        if ((r = lock_opened(pf, fd, &st, &held, err)) < 0)
            goto fail;
        if (r == 0) { /* not at the path any more: nothing of ours to remove */
            dcx_close(fd);
            fd = -1;
            created = false;
            continue;
        }
        pf->fd = fd;
        pf->dev = st.st_dev;
        pf->ino = st.st_ino;
        if ((r = enroll(pf, err)) == 0)
            return 0;
        pf->fd = -1;
        goto fail;
    }
    r = dcx_fail(err, DAEMONCTX_STEP_PIDFILE, EAGAIN, "pidfile %s keeps being replaced while locking it", pf->path);
fail:
    if (fd >= 0 && created && !held) /* a held lock means another starter's file */
        remove_created(pf, fd);
    if (fd >= 0)
        dcx_close(fd);
    dcx_close(pf->dirfd);
    pf->dirfd = -1;
    return r;
}

int dcx_pidfile_write(daemonctx_pidfile *pf, daemonctx_error *err)
{
    char text[16];
    pid_t pid = getpid();
    /* Formatted by the async-signal-safe formatter: this runs in the forked
     * daemon. The file was emptied when it was locked: one write. */
    size_t len = dcx_format(text, sizeof text, "%d\n", (int)pid);
    ssize_t n;
    do
        n = pwrite(pf->fd, text, len, 0);
    while (n < 0 && errno == EINTR);
    if (n != (ssize_t)len)
        return dcx_fail(err, DAEMONCTX_STEP_PIDFILE_WRITE, n < 0 ? errno : ENOSPC, "cannot write PID %d to pidfile %s: %m",
                        (int)pid, pf->path);
    pf->owner = pid;
    return 0;
}

int daemonctx_pidfile_acquire(daemonctx_pidfile *pf, daemonctx_error *err)
{
    if (!pf)
        return dcx_fail(err, DAEMONCTX_STEP_PIDFILE, EINVAL, "no pidfile given");
    if (pf->fd >= 0 && pf->owner == getpid())
        return 0;
    int r = dcx_pidfile_lock(pf, err);
    if (r < 0)
        return r;
    r = dcx_pidfile_write(pf, err);
    if (r < 0)
        dcx_pidfile_remove_unowned(pf);
    return r;
}

/* Unlink PATH if it still names our inode. When that cannot be done (a
 * daemon that dropped privileges may no longer search or write the
 * directory), empty our inode instead, so it names no PID: truncating the
 * file we hold open can never touch anyone else's. */
static void unlink_if_ours(daemonctx_pidfile *pf)
{
    struct stat now;
    if (fstatat(pf->dirfd, pf->base, &now, AT_SYMLINK_NOFOLLOW) == 0 && now.st_dev == pf->dev &&
        now.st_ino == pf->ino && unlinkat(pf->dirfd, pf->base, 0) == 0)
        return;
    int r;
    do
        r = ftruncate(pf->fd, 0);
    while (r < 0 && errno == EINTR);
    /* Failing that too, the file keeps our PID, and its lock goes with us:
     * stale, which a start takes over and inspect reports as such. */
}

static void forget(daemonctx_pidfile *pf)
{
    dcx_close(pf->fd);
    pf->fd = -1;
    if (pf->dirfd >= 0)
        dcx_close(pf->dirfd);
    pf->dirfd = -1;
    pf->owner = 0;
    withdraw(pf);
}

void dcx_pidfile_remove_unowned(daemonctx_pidfile *pf)
{
    if (pf->fd < 0)
        return;
    unlink_if_ours(pf);
    forget(pf);
}

void dcx_pidfile_abandon(daemonctx_pidfile *pf)
{
    if (pf->fd >= 0)
        forget(pf);
}

void dcx_pidfile_release_signal_safe(daemonctx_pidfile *pf)
{
    if (pf->fd >= 0 && pf->owner == getpid()) {
        unlink_if_ours(pf);
        pf->owner = 0;
    }
}

int daemonctx_pidfile_release(daemonctx_pidfile *pf, daemonctx_error *err)
{
    dcx_clear(err);
    if (!pf || pf->fd < 0 || pf->owner != getpid())
        return 0;
    unlink_if_ours(pf);
    forget(pf);
    return 0;
}

void daemonctx_pidfile_free(daemonctx_pidfile *pf)
{
    if (!pf)
        return;
    (void)daemonctx_pidfile_release(pf, NULL);
    if (pf->fd >= 0 || pf->dirfd >= 0) {
        if (pf->fd >= 0)
            dcx_close(pf->fd);
        if (pf->dirfd >= 0)
            dcx_close(pf->dirfd);
    }
    withdraw(pf);
    free(pf->path);
    free(pf->dir);
    free(pf->base);
    free(pf);
}

/* FD, the locked pidfile of stat ST, names NAMED; HOLDER is a holder of its
 * lock or 0. The lock says someone runs: make sure it is the PID the file
 * names, or a stop would signal whatever process the file was made to name. */
static int judge_named(const char *path, int fd, const struct stat *st, pid_t holder, pid_t named, pid_t *found,
                       daemonctx_error *err)
{
    int holds = holder == named ? 1 : dcx_pid_holds_lock(named, st->st_dev, st->st_ino);
    if (holds > 0) {
        *found = named;
        return DAEMONCTX_PIDFILE_RUNNING;
    }
    if (holds == 0 && is_locked(fd, st, &holder) == 0) { /* the daemon ended while we looked */
        *found = named;
        return DAEMONCTX_PIDFILE_STALE;
    }
    if (holder > 0 && (holds == 0 || holds == -EACCES || holds == -EPERM))
        return dcx_fail(err, DAEMONCTX_STEP_PIDFILE, ESRCH, "pidfile %s names PID %d, but its lock was taken by PID %d",
                        path, (int)named, (int)holder);
    if (holds == 0)
        return dcx_fail(err, DAEMONCTX_STEP_PIDFILE, ESRCH, "pidfile %s names PID %d, which does not hold its lock", path,
                        (int)named);
    return dcx_fail(err, DAEMONCTX_STEP_PIDFILE, -holds, "cannot tell whether PID %d holds pidfile %s: %m", (int)named,
                    path);
}

/* Judges the open pidfile FD: its state, *FOUND the PID that goes with it. */
static int inspect_open(const char *path, int fd, pid_t *found, daemonctx_error *err)
{
    struct stat st;
    int r = check_regular(path, fd, &st, err);
    if (r < 0)
        return r;
    pid_t holder = 0;
    int locked = is_locked(fd, &st, &holder);
    if (locked < 0)
        return dcx_fail(err, DAEMONCTX_STEP_PIDFILE, -locked, "cannot tell whether pidfile %s is locked: %m", path);
    char buf[32];
    ssize_t n = read_contents(fd, buf, sizeof buf);
    if (n < 0)
        return dcx_fail(err, DAEMONCTX_STEP_PIDFILE, errno, "cannot read pidfile %s: %m", path);
    pid_t named = dcx_parse_pid(buf, (size_t)n);
    if (!locked) {
        *found = named;
        return DAEMONCTX_PIDFILE_STALE;
    }
    if (n == 0) {
        *found = holder;
        return DAEMONCTX_PIDFILE_STARTING;
    }
    if (named == 0)
        return dcx_fail(err, DAEMONCTX_STEP_PIDFILE, EINVAL, "pidfile %s is locked but does not hold a PID", path);
    return judge_named(path, fd, &st, holder, named, found, err);
}

int daemonctx_pidfile_inspect(const char *path, pid_t *pid, daemonctx_error *err)
{
    dcx_clear(err);
    if (pid)
        *pid = 0;
    if (!path || !*path)
        return dcx_fail(err, DAEMONCTX_STEP_PIDFILE, EINVAL, "no pidfile given");
    int fd;
    do
        fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        if (errno == ENOENT)
            return DAEMONCTX_PIDFILE_ABSENT;
        if (errno == ELOOP)
            return dcx_fail(err, DAEMONCTX_STEP_PIDFILE, ELOOP, "pidfile %s is a symbolic link; refusing to follow it", path);
        return dcx_fail(err, DAEMONCTX_STEP_PIDFILE, errno, "cannot open pidfile %s: %m", path);
    }
    pid_t found = 0;
    int r = inspect_open(path, fd, &found, err);
    dcx_close(fd);
    if (pid)
        *pid = found;
    return r;
}

/* Only under the lock: a starter re-checks after locking that its inode is
 * still at PATH, so it never loses a file we remove. */
int dcx_pidfile_remove_dead(const char *path, bool match_inode, dev_t dev, ino_t ino)
{
    int fd;
    do
        fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    int r = 0, l;
    struct stat st, now;
    if (fstat(fd, &st) < 0) {
        r = -errno;
        goto out;
    }
    if (!S_ISREG(st.st_mode) || (match_inode && (st.st_dev != dev || st.st_ino != ino)))
        goto out;
    /* Removing one name of a file with several would leave the file, and the
     * name may be a link planted to another file. */
    if (st.st_nlink != 1) {
        r = -EMLINK;
        goto out;
    }
    do
        l = flock(fd, LOCK_EX | LOCK_NB);
    while (l < 0 && errno == EINTR);
    if (l < 0) {
        r = errno == EWOULDBLOCK ? 0 : -errno;
        goto out;
    }
    if (lstat(path, &now) < 0)
        r = errno == ENOENT ? 0 : -errno;
    else if (now.st_dev == st.st_dev && now.st_ino == st.st_ino)
        r = unlink(path) == 0 ? 1 : errno == ENOENT ? 0 : -errno;
out:
    dcx_close(fd);
    return r;
}
