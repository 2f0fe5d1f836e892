/* libbsd pidfile(3), as its manual's example: pidfile_open, daemon(0, 0),
 * pidfile_write. */
#define _GNU_SOURCE
#include <bsd/libutil.h>
#include <err.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    pid_t otherpid;
    struct pidfh *pfh = pidfile_open(argv[1], 0644, &otherpid);
    if (pfh == NULL) {
        if (errno == EEXIST)
            errx(EXIT_FAILURE, "Daemon already running, pid: %jd.", (intmax_t)otherpid);
        warn("Cannot open or create pidfile");
        return EXIT_FAILURE;
    }
    umask(022);
    if (daemon(0, 0) == -1) {
        warn("Cannot daemonize");
        pidfile_remove(pfh);
        exit(EXIT_FAILURE);
    }
    pidfile_write(pfh);
    for (;;)
        pause();
}
