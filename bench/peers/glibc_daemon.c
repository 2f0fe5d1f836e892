/* glibc daemon(3), then the pidfile as most daemon(3) users write it. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    umask(022);
    if (daemon(0, 0) < 0) {
        perror("daemon");
        return 1;
    }
    FILE *f = fopen(argv[1], "w");
    if (!f)
        return 1;
    fprintf(f, "%d\n", (int)getpid());
    if (fclose(f) != 0)
        return 1;
    for (;;)
        pause();
}
