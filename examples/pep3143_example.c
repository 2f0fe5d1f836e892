/* The usage example of pep3143daemon's documentation, in C: a daemon that
 * sends a syslog message every 2 seconds and terminates after two minutes. */
#include <stdio.h>
#include <stdlib.h>
#include <syslog.h>
#include <unistd.h>

#include <daemonctx.h>

int main(int argc, char **argv)
{
    int counter = 60;
    const char *pid = argc > 1 ? argv[1] : "/tmp/pep3134daemon_example.pid";
    daemonctx_error err;

    daemonctx_pidfile *pidfile = daemonctx_pidfile_new(pid);
    daemonctx *daemon = daemonctx_new();
    if (!pidfile || !daemon) {
        perror("daemonctx");
        return 1;
    }
    daemonctx_set_pidfile(daemon, pidfile);

    printf("pidfile is: %s\n", pid);
    printf("daemonizing...\n");

    if (daemonctx_open(daemon, &err) < 0) {
        /* Any failure, before or after the fork, is reported here. */
        fprintf(stderr, "pep3143_example: %s\n", err.message);
        return 1;
    }

    syslog(LOG_INFO, "pep3134daemon_example: daemonized");
    while (counter > 0) {
        syslog(LOG_INFO, "pep3134daemon_example: still running");
        counter -= 1;
        syslog(LOG_INFO, "pep3134daemon_example: counter: %d", counter);
        sleep(2);
    }
    syslog(LOG_INFO, "pep3134daemon_example: terminating...");
    return 0;
}
