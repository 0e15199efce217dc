/*
 * report.c: how the helper says what happened.
 *
 * Every failure is one sentence plus an exit code (125 ours, 126 not executable, 127 not
 * found). Functions record it with fail() and return -1; whoever is at the top (the run parent,
 * the child, exec) decides where it goes: fd 3 as JSON, the child's error pipe, or stderr.
 */
#include "helper.h"

#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int the_code = EXIT_OWN_FAILURE;
static char the_message[2048] = "unknown failure";
static int report_fd = -1;  /* 3 when the caller gave us a report pipe */
static int control_fd = -1; /* 4 when the caller gave us a control pipe */

int fail(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(the_message, sizeof the_message, fmt, ap);
    va_end(ap);
    the_code = code;
    return -1;
}

int failure_code(void) { return the_code; }
const char *failure_message(void) { return the_message; }

void failure_set(int code, const char *message)
{
    the_code = code;
    snprintf(the_message, sizeof the_message, "%s", message);
}

int write_all(int fd, const void *data, size_t n)
{
    const char *p = data;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* ---- fd 3 -------------------------------------------------------------- */

/* Keep an unused fd number taken, so no pipe we make later is mistaken for the caller's. */
static void reserve_fd(int fd)
{
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0 && null != fd) {
        dup3(null, fd, O_CLOEXEC);
        close(null);
    }
}

/* Did the caller open fd 3 and fd 4? F_GETFD fails with EBADF when it did not. */
static int adopt_fd(int fd)
{
    if (fcntl(fd, F_GETFD) < 0) {
        reserve_fd(fd);
        return -1;
    }
    /* CLOEXEC, so that the caller's pipes can never reach a container process. */
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    return fd;
}

void report_init(void)
{
    report_fd = adopt_fd(3);
    control_fd = adopt_fd(4);
}

int report_control_fd(void) { return control_fd; }

static void report_line(struct strbuf *sb)
{
    sb_add(sb, "\n", 1);
    if (report_fd >= 0)
        write_all(report_fd, sb->data, sb->len);
    free(sb->data);
}

void report_pid(pid_t pid)
{
    char line[64];
    int n = snprintf(line, sizeof line, "{\"type\":\"pid\",\"pid\":%d}\n", (int)pid);
    if (report_fd >= 0)
        write_all(report_fd, line, (size_t)n);
}

void report_started(void)
{
    static const char line[] = "{\"type\":\"started\"}\n";
    if (report_fd >= 0)
        write_all(report_fd, line, sizeof line - 1);
}

void report_failure(void)
{
    if (report_fd < 0) {
        /* run from a shell without fd 3: say it on stderr instead */
        fprintf(stderr, "tscontainer-helper: %s\n", the_message);
        return;
    }
    struct strbuf sb = {0};
    char head[64];
    snprintf(head, sizeof head, "{\"type\":\"error\",\"code\":%d,\"message\":", the_code);
    sb_addstr(&sb, head);
    sb_add_json_string(&sb, the_message, strlen(the_message));
    sb_addstr(&sb, "}");
    report_line(&sb);
}

/* ---- --trace ------------------------------------------------------------- */

bool trace_on = false;

/*
 * One {"type":"trace"} line on fd 3 for a step just taken, with --trace only (one branch when
 * off). dur_us is the time since this process's previous trace line: roughly what the step
 * took (trace_took: a step that timed itself). The child writes on the same pipe until execve
 * closes it (lines are atomic, < PIPE_BUF).
 */
long long trace_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

/* dur_us < 0: the time since this process's previous trace line */
static void vtrace(long long dur_us, const char *step, const char *fmt, va_list ap)
{
    static long long last_us;
    char detail[1536];
    vsnprintf(detail, sizeof detail, fmt, ap);
    long long now = trace_now_us();
    if (dur_us < 0)
        dur_us = last_us ? now - last_us : 0;
    char head[160];
    snprintf(head, sizeof head, "{\"type\":\"trace\",\"pid\":%d,\"us\":%lld,\"dur_us\":%lld,\"step\":",
             (int)getpid(), now, dur_us);
    last_us = now;
    struct strbuf sb = {0};
    sb_addstr(&sb, head);
    sb_add_json_string(&sb, step, strlen(step));
    sb_addstr(&sb, ",\"detail\":");
    sb_add_json_string(&sb, detail, strlen(detail));
    sb_addstr(&sb, "}");
    report_line(&sb);
}

void trace(const char *step, const char *fmt, ...)
{
    if (!trace_on || report_fd < 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vtrace(-1, step, fmt, ap);
    va_end(ap);
}

void trace_took(long long dur_us, const char *step, const char *fmt, ...)
{
    if (!trace_on || report_fd < 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vtrace(dur_us, step, fmt, ap);
    va_end(ap);
}

/* "CLONE_NEWNS|CLONE_NEWPID|..." for a trace line (a static buffer). */
const char *trace_ns_flags(int flags)
{
    static const struct { int flag; const char *name; } names[] = {
        {CLONE_NEWNS, "CLONE_NEWNS"},   {CLONE_NEWUTS, "CLONE_NEWUTS"},
        {CLONE_NEWIPC, "CLONE_NEWIPC"}, {CLONE_NEWPID, "CLONE_NEWPID"},
        {CLONE_NEWNET, "CLONE_NEWNET"}, {CLONE_NEWUSER, "CLONE_NEWUSER"},
        {CLONE_NEWCGROUP, "CLONE_NEWCGROUP"},
    };
    static char buf[160];
    buf[0] = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (flags & names[i].flag)
            snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%s", buf[0] ? "|" : "", names[i].name);
    return buf[0] ? buf : "no new namespace";
}

void report_close(void)
{
    if (report_fd >= 0)
        close(report_fd);
    report_fd = -1;
}

void report_control_close(void)
{
    if (control_fd >= 0)
        close(control_fd);
    control_fd = -1;
}

/* ---- growing strings and JSON ------------------------------------------ */

void sb_add(struct strbuf *sb, const char *data, size_t n)
{
    if (sb->len + n + 1 > sb->cap) {
        size_t cap = sb->cap ? sb->cap : 256;
        while (sb->len + n + 1 > cap)
            cap *= 2;
        char *p = realloc(sb->data, cap);
        if (!p)
            abort(); /* out of memory: nothing sensible left to do */
        sb->data = p;
        sb->cap = cap;
    }
    memcpy(sb->data + sb->len, data, n);
    sb->len += n;
    sb->data[sb->len] = '\0';
}

void sb_addstr(struct strbuf *sb, const char *s) { sb_add(sb, s, strlen(s)); }

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if the bytes are not valid UTF-8. */
static size_t utf8_sequence(const unsigned char *s, size_t n)
{
    size_t len;
    uint32_t cp;
    if (s[0] < 0x80)
        return 1;
    else if ((s[0] & 0xE0) == 0xC0)
        len = 2, cp = s[0] & 0x1F;
    else if ((s[0] & 0xF0) == 0xE0)
        len = 3, cp = s[0] & 0x0F;
    else if ((s[0] & 0xF8) == 0xF0)
        len = 4, cp = s[0] & 0x07;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    /* reject overlong forms, surrogates and code points past U+10FFFF */
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

/*
 * Append data as a quoted JSON string: escape quote, backslash and control characters, and
 * replace bytes that are not UTF-8 with U+FFFD (as docker's json-file driver does), so every
 * line of the log is valid JSON whatever the container printed.
 */
void sb_add_json_string(struct strbuf *sb, const char *data, size_t n)
{
    const unsigned char *s = (const unsigned char *)data;
    sb_add(sb, "\"", 1);
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\', esc[1] = (char)c;
            sb_add(sb, esc, 2);
            i++;
        } else if (c == '\n') {
            sb_add(sb, "\\n", 2), i++;
        } else if (c == '\r') {
            sb_add(sb, "\\r", 2), i++;
        } else if (c == '\t') {
            sb_add(sb, "\\t", 2), i++;
        } else if (c < 0x20 || c == 0x7f) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            sb_add(sb, esc, 6);
            i++;
        } else {
            size_t len = utf8_sequence(s + i, n - i);
            if (len == 0) {
                sb_add(sb, "\\ufffd", 6);
                i++;
            } else {
                sb_add(sb, data + i, len);
                i += len;
            }
        }
    }
    sb_add(sb, "\"", 1);
}

void format_time(char *buf, size_t len, const struct timespec *ts, bool trim)
{
    struct tm tm;
    char frac[16];
    gmtime_r(&ts->tv_sec, &tm);
    snprintf(frac, sizeof frac, ".%09ld", ts->tv_nsec);
    if (trim) {
        size_t end = strlen(frac);
        while (end > 1 && frac[end - 1] == '0')
            frac[--end] = '\0';
        if (end == 1)
            frac[0] = '\0'; /* a whole second: no fraction at all */
    }
    size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, len - n, "%sZ", frac);
}
