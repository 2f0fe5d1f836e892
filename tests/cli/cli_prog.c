/*
 * dcx-cli-prog - the PROGRAM the CLI tests start with `daemonctx start`.
 *
 * Linked statically so that it also runs inside a chroot made of an empty
 * directory. It carries out its arguments in order, then waits for signals
 * forever (unless an action ended it):
 *   event:FD:WORD       write "WORD PID\n" to FD
 *   stamp:FD:WORD       write "WORD PID US\n" to FD, US the CLOCK_MONOTONIC
 *                       time in microseconds (an event's time, taken where it
 *                       happens, not where the test reads it)
 *   exit:N              _exit(N)
 *   delay:MS            sleep MS milliseconds (program behaviour, not test sync)
 *   ready-fd:N          write "\n" to fd N
 *   close:N             close fd N
 *   notify:TEXT         send TEXT ("\n" for '|') to $NOTIFY_SOCKET
 *   ignore:SIG          ignore signal number SIG
 *   trap:SIG:FD:CODE    on signal SIG: write "got SIG PID\n" to FD, _exit(CODE)
 *   trap-nth:SIG:N:FD:CODE  the same on the Nth SIG; before, "saw SIG PID\n"
 *   raise:SIG           die of signal SIG (default action)
 *   print               "out-line" on stdout, "err-line" on stderr
 *   fork-sleeper:FD     fork a child that writes "child PID\n" to FD and waits;
 *                       goes on once the child has written it (one writer at a
 *                       time on FD: the events come in the order of the actions)
 *   fork-sleeper-closing:FD:N[,N...]  the same, the child closing its copies
 *                       of those fds first (PROGRAM's pidfile lock is fd 3)
 *   fork-hog:FD:MB[:N[,N...]]  the same, the child touching MB megabytes first
 *                       (a process that takes a while to die: its memory goes
 *                       before its files, and so before the locks it holds)
 *   orphans:N           make N orphans that end at once (each a grandchild
 *                       whose parent has already exited)
 *   lines:N             write "line 1\n" ... "line N\n" on stdout, one write each
 *   gate:FD             read one byte (or EOF) from FD
 *   first:PATH          the first run (no PATH yet) creates PATH and goes on;
 *                       a later run stops here and waits for signals
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int trap_fd[NSIG], trap_code[NSIG], trap_left[NSIG];

static void say(int fd, const char *word)
{
    char line[128];
    int n = snprintf(line, sizeof line, "%s %d\n", word, (int)getpid());
    if (n > 0 && write(fd, line, (size_t)n) < 0)
        _exit(90);
}

static void stamp(int fd, const char *word)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    char line[160];
    int n = snprintf(line, sizeof line, "%s %d %lld\n", word, (int)getpid(),
                     (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
    if (n > 0 && write(fd, line, (size_t)n) < 0)
        _exit(90);
}

static void on_trap(int sig)
{
    char word[32];
    if (trap_left[sig] > 1) {
        trap_left[sig]--;
        (void)snprintf(word, sizeof word, "saw %d", sig);
        say(trap_fd[sig], word);
        return;
    }
    (void)snprintf(word, sizeof word, "got %d", sig);
    say(trap_fd[sig], word);
    _exit(trap_code[sig]);
}

static void notify(const char *text)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || !*path)
        _exit(91);
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    size_t len = strlen(path);
    if (len >= sizeof addr.sun_path)
        _exit(92);
    memcpy(addr.sun_path, path, len);
    if (path[0] == '@')
        addr.sun_path[0] = '\0';
    char msg[256];
    size_t n = 0;
    for (; text[n] && n < sizeof msg; n++)
        msg[n] = text[n] == '|' ? '\n' : text[n];
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || sendto(fd, msg, n, 0, (struct sockaddr *)&addr,
                         (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) < 0)
        _exit(93);
    close(fd);
}

static void pause_forever(void)
{
    for (;;)
        pause();
}

/* Fork a child that closes the fds in CLOSE ("N,N,...", or NULL), touches
 * MB megabytes, writes "child PID" on FD and waits; return once it has
 * written it. */
static void fork_sleeper(int fd, const char *close_list, int mb)
{
    int said[2];
    if (pipe(said) < 0)
        _exit(96);
    pid_t pid = fork();
    if (pid < 0)
        _exit(97);
    if (pid == 0) {
        close(said[0]);
        for (const char *c = close_list; c && *c; c = strchr(c, ',') ? strchr(c, ',') + 1 : NULL)
            close(atoi(c));
        if (mb > 0) {
            size_t len = (size_t)mb << 20;
            char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (m == MAP_FAILED)
                _exit(98);
            (void)madvise(m, len, MADV_NOHUGEPAGE);
            for (size_t i = 0; i < len; i += 4096)
                m[i] = 1;
        }
        say(fd, "child");
        close(said[1]);
        pause_forever();
    }
    close(said[1]);
    char ch;
    while (read(said[0], &ch, 1) < 0 && errno == EINTR)
        ;
    close(said[0]);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int x, y, z, w;
        char word[64];
        if (sscanf(a, "event:%d:%63s", &x, word) == 2) {
            say(x, word);
        } else if (sscanf(a, "stamp:%d:%63s", &x, word) == 2) {
            stamp(x, word);
        } else if (sscanf(a, "exit:%d", &x) == 1) {
            _exit(x);
        } else if (sscanf(a, "delay:%d", &x) == 1) {
            struct timespec ts = {x / 1000, (long)(x % 1000) * 1000000L};
            while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
        } else if (sscanf(a, "ready-fd:%d", &x) == 1) {
            if (write(x, "\n", 1) != 1)
                _exit(94);
        } else if (sscanf(a, "close:%d", &x) == 1) {
            close(x);
        } else if (strncmp(a, "notify:", 7) == 0) {
            notify(a + 7);
        } else if (sscanf(a, "ignore:%d", &x) == 1) {
            signal(x, SIG_IGN);
        } else if (sscanf(a, "trap:%d:%d:%d", &x, &y, &z) == 3 ||
                   (sscanf(a, "trap-nth:%d:%d:%d:%d", &x, &w, &y, &z) == 4 && (trap_left[x] = w) > 0)) {
            trap_fd[x] = y;
            trap_code[x] = z;
            struct sigaction sa;
            memset(&sa, 0, sizeof sa);
            sa.sa_handler = on_trap;
            sigaction(x, &sa, NULL);
        } else if (sscanf(a, "raise:%d", &x) == 1) {
            signal(x, SIG_DFL);
            raise(x);
        } else if (strcmp(a, "print") == 0) {
            if (write(1, "out-line\n", 9) != 9 || write(2, "err-line\n", 9) != 9)
                _exit(95);
        } else if (sscanf(a, "fork-sleeper-closing:%d:%n", &x, &z) == 1 && z > 0) {
            fork_sleeper(x, a + z, 0);
        } else if (sscanf(a, "fork-hog:%d:%d", &x, &y) == 2) {
            const char *list = strchr(strchr(a + 9, ':') + 1, ':');
            fork_sleeper(x, list ? list + 1 : NULL, y);
        } else if (sscanf(a, "fork-sleeper:%d", &x) == 1) {
            fork_sleeper(x, NULL, 0);
        } else if (sscanf(a, "orphans:%d", &x) == 1) {
            for (int k = 0; k < x; k++) {
                pid_t pid = fork();
                if (pid == 0) {
                    if (fork() < 0)
                        _exit(1);
                    _exit(0); /* its child, orphaned, exits at once too */
                }
                if (pid > 0)
                    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                        ;
            }
        } else if (sscanf(a, "lines:%d", &x) == 1) {
            for (int k = 1; k <= x; k++) {
                char line[32];
                int n = snprintf(line, sizeof line, "line %d\n", k);
                if (write(1, line, (size_t)n) != n)
                    _exit(96);
            }
        } else if (sscanf(a, "gate:%d", &x) == 1) {
            char c;
            while (read(x, &c, 1) < 0 && errno == EINTR)
                ;
        } else if (strncmp(a, "first:", 6) == 0) {
            int fd = open(a + 6, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
            if (fd < 0)
                break;
            close(fd);
        } else {
            fprintf(stderr, "dcx-cli-prog: unknown action %s\n", a);
            _exit(99);
        }
    }
    pause_forever();
}
