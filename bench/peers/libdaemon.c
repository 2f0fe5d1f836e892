/* libdaemon 0.14, following its example (testd.c): reset and unblock
 * signals, refuse a running instance, daemon_retval_init, daemon_fork; the
 * daemon closes every fd, writes the pidfile and sends its return value, which
 * the original process waits for. */
#include <errno.h>
#include <libdaemon/daemon.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *pidfile_path;

static const char *pidfile_proc(void)
{
    return pidfile_path;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    pidfile_path = argv[1];
    daemon_pid_file_ident = daemon_log_ident = daemon_ident_from_argv0(argv[0]);
    daemon_pid_file_proc = pidfile_proc;

    if (daemon_reset_sigs(-1) < 0 || daemon_unblock_sigs(-1) < 0) {
        daemon_log(LOG_ERR, "Failed to reset signals: %s", strerror(errno));
        return 1;
    }
    pid_t pid = daemon_pid_file_is_running();
    if (pid >= 0) {
        daemon_log(LOG_ERR, "Daemon already running on PID file %u", (unsigned)pid);
        return 1;
    }
    if (daemon_retval_init() < 0) {
        daemon_log(LOG_ERR, "Failed to create pipe.");
        return 1;
    }
    umask(022);
    if ((pid = daemon_fork()) < 0) {
        daemon_retval_done();
        return 1;
    } else if (pid) {
        int ret = daemon_retval_wait(20);
        if (ret < 0) {
            daemon_log(LOG_ERR, "Could not receive return value from daemon process: %s", strerror(errno));
            return 255;
        }
        return ret;
    }
    if (daemon_close_all(-1) < 0) {
        daemon_log(LOG_ERR, "Failed to close all file descriptors: %s", strerror(errno));
        daemon_retval_send(1);
        return 1;
    }
    if (daemon_pid_file_create() < 0) {
        daemon_log(LOG_ERR, "Could not create PID file (%s).", strerror(errno));
        daemon_retval_send(2);
        return 1;
    }
    daemon_retval_send(0);
    for (;;)
        pause();
}
