/* bench/peers/tree.c - the payload of the tree-stop table: `tree N FD`
 * forks N - 1 children (every other one leaves the session with setsid, as
 * workers that daemonize themselves do), waits until all of them run, then
 * writes a newline on FD (daemonctx start --ready=fd:FD) and waits for
 * signals, as the children do. N processes in all. */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    int n = atoi(argv[1]), fd = atoi(argv[2]), gate[2];
    if (n < 1 || pipe(gate) < 0)
        return 2;
    for (int k = 1; k < n; k++) {
        pid_t pid = fork();
        if (pid < 0)
            return 3;
        if (pid == 0) {
            close(gate[0]);
            if (k % 2 && setsid() < 0)
                _exit(4);
            close(gate[1]); /* this one runs */
            close(fd);
            for (;;)
                pause();
        }
    }
    close(gate[1]);
    char c;
    while (read(gate[0], &c, 1) < 0 && errno == EINTR)
        ;
    close(gate[0]);
    if (write(fd, "\n", 1) != 1)
        return 5;
    close(fd);
    for (;;)
        pause();
}
