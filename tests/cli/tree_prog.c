/*
 * dcx-tree-prog - a PROGRAM that builds a process tree, for the tests of
 * `daemonctx stop` and `status` ending and listing whole trees. Static, like
 * dcx-cli-prog. It carries out its arguments in order, then waits for
 * signals forever (unless told to exit):
 *   event:FD:WORD         write "WORD PID\n" to FD
 *   setsid-child:FD       fork a child that leaves the session (setsid) and
 *                         writes "setsid-child PID" to FD; it stays our child
 *                         (each action is done before the next one starts)
 *   orphan:FD             fork a child that forks a grandchild and exits; the
 *                         grandchild writes "orphan PID" to FD, is orphaned
 *                         (its parent reaped by us) and stays in our session
 *   setsid-orphan:FD      the same, the grandchild leaving the session first
 *                         ("setsid-orphan PID")
 *   many:N:FD             fork N children (every other one leaves the
 *                         session), then write "many PID" to FD once all run
 *   exit:N                _exit(N) (after the above, its children stay)
 * Every process it makes waits for signals (pause) with default actions.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void say(int fd, const char *word)
{
    char line[128];
    int n = snprintf(line, sizeof line, "%s %d\n", word, (int)getpid());
    if (n > 0 && write(fd, line, (size_t)n) < 0)
        _exit(90);
}

static void pause_forever(void)
{
    for (;;)
        pause();
}

/* A grandchild via a child that exits once the grandchild runs (a pipe:
 * EOF when the grandchild has said its word). */
static void orphan(int fd, bool leave_session, const char *word)
{
    int gate[2];
    if (pipe(gate) < 0)
        _exit(91);
    pid_t child = fork();
    if (child < 0)
        _exit(92);
    if (child == 0) {
        pid_t g = fork();
        if (g < 0)
            _exit(93);
        if (g == 0) {
            close(gate[0]);
            if (leave_session && setsid() < 0)
                _exit(94);
            say(fd, word);
            close(gate[1]);
            pause_forever();
        }
        close(gate[1]);
        char c;
        while (read(gate[0], &c, 1) < 0 && errno == EINTR)
            ;
        _exit(0);
    }
    close(gate[0]);
    close(gate[1]);
    while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
        ;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int x, y;
        char word[64];
        if (sscanf(a, "event:%d:%63s", &x, word) == 2) {
            say(x, word);
        } else if (sscanf(a, "setsid-child:%d", &x) == 1) {
            int gate[2];
            if (pipe(gate) < 0)
                _exit(95);
            pid_t pid = fork();
            if (pid < 0)
                _exit(95);
            if (pid == 0) {
                close(gate[0]);
                if (setsid() < 0)
                    _exit(96);
                say(x, "setsid-child");
                close(gate[1]);
                pause_forever();
            }
            close(gate[1]);
            char c;
            while (read(gate[0], &c, 1) < 0 && errno == EINTR)
                ;
            close(gate[0]);
        } else if (sscanf(a, "setsid-orphan:%d", &x) == 1) {
            orphan(x, true, "setsid-orphan");
        } else if (sscanf(a, "orphan:%d", &x) == 1) {
            orphan(x, false, "orphan");
        } else if (sscanf(a, "many:%d:%d", &x, &y) == 2) {
            int gate[2];
            if (pipe(gate) < 0)
                _exit(97);
            for (int k = 0; k < x; k++) {
                pid_t pid = fork();
                if (pid < 0)
                    _exit(98);
                if (pid == 0) {
                    close(gate[0]);
                    if (k % 2 && setsid() < 0)
                        _exit(99);
                    close(gate[1]);
                    pause_forever();
                }
            }
            /* Every child closed its end: all of them run. */
            close(gate[1]);
            char c;
            while (read(gate[0], &c, 1) < 0 && errno == EINTR)
                ;
            close(gate[0]);
            say(y, "many");
        } else if (sscanf(a, "exit:%d", &x) == 1) {
            _exit(x);
        } else {
            fprintf(stderr, "dcx-tree-prog: unknown action %s\n", a);
            _exit(100);
        }
    }
    pause_forever();
}
