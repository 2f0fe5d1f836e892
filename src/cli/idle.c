/* A supervisor lives as long as PROGRAM, mostly asleep in poll(): what its
 * start touched (option parsing, user lookups, the library's steps) it does
 * not need while it sleeps, and gives back before it goes to sleep:
 *   - the pages of our executable's read-only segments (code, constants,
 *     headers), as its program headers tell (dl_iterate_phdr): never
 *     written, so dropping them loses nothing, and they come back from the
 *     file when used again. The pages of the code that runs from here to the
 *     sleep are kept: a fault there would map back its 64 KiB surroundings
 *     (the kernel's fault-around). The writable segment, relocations
 *     included, stays whole;
 *   - the stack below the current frame, which only held what has returned;
 *   - the free memory of the C library's heap (glibc's malloc_trim).
 * Each is best effort: at worst a page stays. */
#include <fcntl.h>
#include <link.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "cli.h"

struct keep {
    uintptr_t page;
    const uintptr_t *pages; /* the first page of each kept pair */
    size_t n;
    uintptr_t ranges[4][2]; /* the read-only segments */
    size_t n_ranges;
};

static uintptr_t page_down(uintptr_t a, uintptr_t page)
{
    return a & ~(page - 1);
}

static bool kept(const struct keep *k, uintptr_t p)
{
    for (size_t i = 0; i < k->n; i++)
        if (p >= k->pages[i] && p < k->pages[i] + 2 * k->page)
            return true;
    return false;
}

/* [start, stop), page by page, but for the kept pages. */
static void drop(const struct keep *k, uintptr_t start, uintptr_t stop)
{
    uintptr_t run = start;
    for (uintptr_t p = start; p <= stop; p += k->page) {
        if (p < stop && !kept(k, p))
            continue;
        if (p > run)
            (void)madvise((void *)run, p - run, MADV_DONTNEED);
        run = p + k->page;
    }
}

/* The first object dl_iterate_phdr() reports is the executable: its
 * read-only segments, noted first (the program headers live in the first
 * of them). */
static int note_read_only_segments(struct dl_phdr_info *info, size_t size, void *data)
{
    struct keep *k = data;
    (void)size;
    for (int i = 0; i < info->dlpi_phnum && k->n_ranges < 4; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || (ph->p_flags & PF_W))
            continue;
        uintptr_t start = info->dlpi_addr + ph->p_vaddr;
        k->ranges[k->n_ranges][0] = page_down(start, k->page);
        k->ranges[k->n_ranges++][1] = page_down(start + ph->p_memsz + k->page - 1, k->page);
    }
    return 1;
}

/* The stack mapping's low end from /proc/self/maps, or 0. Plain reads into
 * a buffer here: stdio would allocate. */
static uintptr_t stack_low(void)
{
    char buf[4096];
    size_t have = 0;
    uintptr_t low = 0;
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    for (;;) {
        ssize_t n = read(fd, buf + have, sizeof buf - 1 - have);
        if (n <= 0)
            break;
        have += (size_t)n;
        buf[have] = '\0';
        char *nl;
        while ((nl = strchr(buf, '\n'))) {
            *nl = '\0';
            if (strstr(buf, "[stack]"))
                low = (uintptr_t)strtoull(buf, NULL, 16);
            size_t used = (size_t)(nl + 1 - buf);
            memmove(buf, nl + 1, have - used + 1);
            have -= used;
        }
    }
    dcx_close(fd);
    return low;
}

void idle_give_back(const void *const *code, size_t n)
{
    long size = sysconf(_SC_PAGESIZE);
    if (size <= 0 || n > 8)
        return;
    uintptr_t page = (uintptr_t)size, pages[11];
    /* Below our frame, with room for what the loop calls. */
    uintptr_t low = stack_low(), below = page_down((uintptr_t)__builtin_frame_address(0), page) - 2 * page;
    if (low && below > low)
        (void)madvise((void *)low, below - low, MADV_DONTNEED);
#ifdef __GLIBC__
    (void)malloc_trim(0);
#endif
    /* Last, and keeping the code that runs from then on: the dropping
     * itself, this function, the caller's. */
    for (size_t i = 0; i < n; i++)
        pages[i] = page_down((uintptr_t)code[i], page);
    pages[n++] = page_down((uintptr_t)drop, page);
    pages[n++] = page_down((uintptr_t)idle_give_back, page);
    pages[n++] = page_down((uintptr_t)__builtin_return_address(0), page);
    struct keep k = {.page = page, .pages = pages, .n = n};
    (void)dl_iterate_phdr(note_read_only_segments, &k);
    for (size_t i = 0; i < k.n_ranges; i++)
        drop(&k, k.ranges[i][0], k.ranges[i][1]);
}
