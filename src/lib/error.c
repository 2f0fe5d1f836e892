/* Filling daemonctx_error. This runs in forked daemons before they report back,
 * so it allocates nothing and consults no locale: a tiny formatter instead of
 * snprintf, and strerrordesc_np where glibc has it. */
#include <errno.h>
#include <string.h>

#include "internal.h"

const char *dcx_errtext(int errnum)
{
#ifdef HAVE_STRERRORDESC_NP
    const char *s = strerrordesc_np(errnum);
    return s ? s : "Unknown error";
#else
    return strerror(errnum);
#endif
}

struct out {
    char *buf;
    size_t size, len;
};

static void put(struct out *o, const char *s)
{
    while (*s && o->len + 1 < o->size)
        o->buf[o->len++] = *s++;
    o->buf[o->len] = '\0';
}

/* A name longer than a message can hold (a 5000-byte path) keeps its head
 * and tail, so that the reason after it still fits. */
#define CULPRIT_MAX 160
static void put_culprit(struct out *o, const char *s)
{
    if (!s) {
        put(o, "(null)");
        return;
    }
    size_t len = strlen(s);
    if (len <= CULPRIT_MAX) {
        put(o, s);
        return;
    }
    char head[CULPRIT_MAX / 2 + 1];
    memcpy(head, s, CULPRIT_MAX / 2 - 2);
    head[CULPRIT_MAX / 2 - 2] = '\0';
    put(o, head);
    put(o, "...");
    put(o, s + len - (CULPRIT_MAX / 2 - 2));
}

static void put_unsigned(struct out *o, unsigned long v, unsigned base)
{
    char tmp[24];
    size_t i = sizeof tmp;
    tmp[--i] = '\0';
    do {
        tmp[--i] = (char)('0' + v % base);
        v /= base;
    } while (v && i > 0);
    put(o, tmp + i);
}

static void put_signed(struct out *o, long v)
{
    if (v < 0) {
        put(o, "-");
        put_unsigned(o, (unsigned long)-(v + 1) + 1, 10);
    } else {
        put_unsigned(o, (unsigned long)v, 10);
    }
}

static const char *const step_names[DAEMONCTX_STEP_COUNT] = {
    [DAEMONCTX_STEP_NONE] = "",
    [DAEMONCTX_STEP_OPTIONS] = "options",
    [DAEMONCTX_STEP_USER] = "user",
    [DAEMONCTX_STEP_PIDFILE] = "pidfile",
    [DAEMONCTX_STEP_PIPE] = "pipe",
    [DAEMONCTX_STEP_FORK] = "fork",
    [DAEMONCTX_STEP_SETSID] = "setsid",
    [DAEMONCTX_STEP_CHROOT] = "chroot",
    [DAEMONCTX_STEP_CORE] = "core",
    [DAEMONCTX_STEP_CHDIR] = "chdir",
    [DAEMONCTX_STEP_SETGROUPS] = "setgroups",
    [DAEMONCTX_STEP_SETGID] = "setgid",
    [DAEMONCTX_STEP_SETUID] = "setuid",
    [DAEMONCTX_STEP_VERIFY_DROP] = "verify-drop",
    [DAEMONCTX_STEP_SIGNALS] = "signals",
    [DAEMONCTX_STEP_CLOSE_FDS] = "close-fds",
    [DAEMONCTX_STEP_DEVNULL] = "devnull",
    [DAEMONCTX_STEP_STDIO] = "stdio",
    [DAEMONCTX_STEP_PIDFILE_WRITE] = "pidfile-write",
    [DAEMONCTX_STEP_REPORT] = "report",
    [DAEMONCTX_STEP_READY] = "ready",
    [DAEMONCTX_STEP_EXEC] = "exec",
    [DAEMONCTX_STEP_WAIT] = "wait",
    [DAEMONCTX_STEP_DIED] = "died",
    [DAEMONCTX_STEP_TIMEOUT] = "timeout",
    [DAEMONCTX_STEP_INTERRUPTED] = "interrupted",
    [DAEMONCTX_STEP_APPLICATION] = "application",
    [DAEMONCTX_STEP_LIMITS] = "limits",
    [DAEMONCTX_STEP_RUNTIME_DIR] = "runtime-dir",
    [DAEMONCTX_STEP_CGROUP] = "cgroup",
};

const char *daemonctx_step_name(enum daemonctx_step step)
{
    if ((unsigned)step >= DAEMONCTX_STEP_COUNT || !step_names[step])
        return "unknown";
    return step_names[step];
}

int dcx_vfail(daemonctx_error *err, enum daemonctx_step step, int errnum, const char *fmt, va_list ap)
{
    if (err) {
        struct out o = {err->message, sizeof err->message, 0};
        err->errnum = errnum;
        err->step = step;
        err->message[0] = '\0';
        for (const char *p = fmt; *p; p++) {
            if (*p != '%') {
                char c[2] = {*p, '\0'};
                put(&o, c);
                continue;
            }
            switch (*++p) {
            case 's':
                put_culprit(&o, va_arg(ap, const char *));
                break;
            case 'd':
                put_signed(&o, va_arg(ap, int));
                break;
            case 'u':
                put_unsigned(&o, va_arg(ap, unsigned), 10);
                break;
            case 'o':
                put_unsigned(&o, va_arg(ap, unsigned), 8);
                break;
            case 'l':
                if (p[1] == 'd') {
                    p++;
                    put_signed(&o, va_arg(ap, long));
                }
                break;
            case 'm':
                put(&o, dcx_errtext(errnum));
                break;
            case '%':
                put(&o, "%");
                break;
            default: /* unsupported directive: stop rather than misread va_args */
                return errnum ? -errnum : -EINVAL;
            }
        }
    }
    return errnum ? -errnum : -EINVAL;
}

int dcx_fail(daemonctx_error *err, enum daemonctx_step step, int errnum, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = dcx_vfail(err, step, errnum, fmt, ap);
    va_end(ap);
    return r;
}

size_t dcx_format(char *buf, size_t size, const char *fmt, ...)
{
    daemonctx_error scratch;
    va_list ap;
    va_start(ap, fmt);
    (void)dcx_vfail(&scratch, DAEMONCTX_STEP_NONE, 0, fmt, ap);
    va_end(ap);
    size_t n = strlen(scratch.message);
    if (size == 0)
        return 0;
    if (n >= size)
        n = size - 1;
    memcpy(buf, scratch.message, n);
    buf[n] = '\0';
    return n;
}

void dcx_clear(daemonctx_error *err)
{
    if (err) {
        err->errnum = 0;
        err->step = DAEMONCTX_STEP_NONE;
        err->message[0] = '\0';
    }
}

const char *daemonctx_version(void)
{
    return DAEMONCTX_VERSION_STRING;
}
