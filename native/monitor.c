/*
 * monitor.c: what the helper does while the container runs, and when it exits.
 *
 * One poll loop over: a signalfd (SIGCHLD, the signals we forward, SIGWINCH), our stdin
 * (relayed to the container), and the container's stdout/stderr (or its pty master), which go
 * to our own stdout/stderr and/or the JSON-lines log. When the container's init has been reaped
 * and its output has drained, we write exit.json and the caller gets the exit code.
 */
#include "helper.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX (16 * 1024) /* docker splits longer lines; so do we */
#define DRAIN_IDLE_MS 1000       /* after exit: stop waiting for output that never ends */

sigset_t monitor_signals(void)
{
    static const int sigs[] = {SIGCHLD, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};
    sigset_t set;
    sigemptyset(&set);
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaddset(&set, sigs[i]);
    return set;
}

/* ---- the JSON-lines log --------------------------------------------------- */

struct stream {
    const char *name; /* "stdout" / "stderr" */
    int src;          /* where we read it, -1 once at EOF */
    int copy_to;      /* our own fd 1 or 2, -1: do not copy */
    struct strbuf partial; /* bytes after the last newline, not logged yet */
};

static void log_line(int log_fd, const char *stream, const char *data, size_t n)
{
    struct strbuf sb = {0};
    struct timespec now;
    char when[64];
    clock_gettime(CLOCK_REALTIME, &now);
    format_time(when, sizeof when, &now, false);
    sb_addstr(&sb, "{\"log\":");
    sb_add_json_string(&sb, data, n);
    sb_addstr(&sb, ",\"stream\":\"");
    sb_addstr(&sb, stream);
    sb_addstr(&sb, "\",\"time\":\"");
    sb_addstr(&sb, when);
    sb_addstr(&sb, "\"}\n");
    /* one write per line on an O_APPEND fd: readers never see half a line */
    write_all(log_fd, sb.data, sb.len);
    free(sb.data);
}

/* Add output to a stream's pending bytes and log every complete line (or 16 KiB chunk). */
static void log_output(int log_fd, struct stream *s, const char *data, size_t n, bool flush)
{
    sb_add(&s->partial, data, n);
    size_t start = 0;
    for (size_t i = 0; i < s->partial.len; i++) {
        if (s->partial.data[i] == '\n' || i + 1 - start >= LOG_LINE_MAX) {
            log_line(log_fd, s->name, s->partial.data + start, i + 1 - start);
            start = i + 1;
        }
    }
    if (flush && start < s->partial.len) {
        log_line(log_fd, s->name, s->partial.data + start, s->partial.len - start);
        start = s->partial.len;
    }
    memmove(s->partial.data, s->partial.data + start, s->partial.len - start);
    s->partial.len -= start;
}

/* ---- attach clients ------------------------------------------------------- */

/*
 * A detached container's monitor listens on <state>/attach.sock. Each client gets the output
 * from the moment it connects, in docker's multiplexed framing (one header per chunk: the
 * stream, 1 stdout or 2 stderr, three zero bytes, the length as 32-bit big-endian), and what
 * it sends is raw input for the container's stdin (with -i). A client that cannot keep up is
 * dropped rather than allowed to stall the container's output.
 */
#define MAX_CLIENTS 8
static int clients[MAX_CLIENTS];
static size_t n_clients;

int attach_listen(const char *state_dir)
{
    /* the path can be longer than sun_path's 108 bytes: bind through an O_PATH fd of the dir */
    int dir = open(state_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0)
        return fail(EXIT_OWN_FAILURE, "open %s: %m", state_dir);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof addr.sun_path, "/proc/self/fd/%d/attach.sock", dir);
    unlink(addr.sun_path); /* left by an earlier start of the same container */
    /* SOCK_NONBLOCK: accept in the poll loop never blocks; CLOEXEC: never reaches a container */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(fd, MAX_CLIENTS) < 0) {
        fail(EXIT_OWN_FAILURE, "attach socket in %s: %m", state_dir);
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    close(dir);
    return fd;
}

static void drop_client(size_t i)
{
    close(clients[i]);
    clients[i] = clients[--n_clients];
}

static void accept_client(int listen_fd)
{
    /* accept4: the new connection is non-blocking and close-on-exec from the start */
    int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return;
    if (n_clients == MAX_CLIENTS) {
        close(fd);
        return;
    }
    clients[n_clients++] = fd;
}

static void send_to_clients(int stream, const char *data, size_t n)
{
    unsigned char header[8] = {(unsigned char)stream, 0, 0, 0,
                               (unsigned char)(n >> 24), (unsigned char)(n >> 16),
                               (unsigned char)(n >> 8), (unsigned char)n};
    for (size_t i = 0; i < n_clients;) {
        struct iovec iov[2] = {{header, sizeof header}, {(void *)data, n}};
        struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
        /* MSG_DONTWAIT: a slow client must not stall us; NOSIGNAL: a gone one is no SIGPIPE */
        ssize_t w = sendmsg(clients[i], &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w != (ssize_t)(sizeof header + n))
            drop_client(i);
        else
            i++;
    }
}

/* Input from a client goes to the container's stdin as it is; EOF or error ends the client. */
static void client_input(struct monitor *m, size_t i)
{
    char buf[4096];
    ssize_t n = read(clients[i], buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n <= 0) {
        drop_client(i);
        return;
    }
    if (m->stdin_from_clients && m->stdin_dst >= 0)
        if (write(m->stdin_dst, buf, (size_t)n) < 0) { /* full or closed: the keys are lost */ }
}

/* ---- relaying ----------------------------------------------------------- */

/* Read what the container wrote; returns false at EOF (EIO is a pty's EOF). */
static bool relay_output(struct monitor *m, struct stream *s)
{
    char buf[65536];
    ssize_t n = read(s->src, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return true;
    if (n <= 0) {
        if (m->log_fd >= 0)
            log_output(m->log_fd, s, "", 0, true);
        close(s->src);
        s->src = -1;
        return false;
    }
    if (s->copy_to >= 0 && write_all(s->copy_to, buf, (size_t)n) < 0)
        s->copy_to = -1; /* our reader went away: keep draining and logging */
    if (n_clients > 0)
        send_to_clients(strcmp(s->name, "stderr") == 0 ? 2 : 1, buf, (size_t)n);
    if (m->log_fd >= 0)
        log_output(m->log_fd, s, buf, (size_t)n, false);
    return true;
}

/* Stdin is written non-blocking from a small buffer, so a container that does not read its
   stdin can never stop us from relaying its output. */
struct input {
    int src, dst;
    char buf[65536];
    size_t len, off;
};

static void relay_input_read(struct monitor *m, struct input *in)
{
    ssize_t n = read(in->src, in->buf, sizeof in->buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n <= 0) {
        in->src = -1;
        /* EOF on our stdin: the container's stdin pipe gets EOF too (a pty stays open) */
        if (!m->tty) {
            close(in->dst);
            in->dst = -1;
        }
        return;
    }
    in->len = (size_t)n, in->off = 0;
}

static void relay_input_write(struct input *in)
{
    ssize_t n = write(in->dst, in->buf + in->off, in->len - in->off);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n < 0) {
        /* the container closed its stdin: stop relaying */
        in->src = -1, in->len = in->off = 0;
        return;
    }
    in->off += (size_t)n;
    if (in->off == in->len)
        in->len = in->off = 0;
}

/* ---- signals ------------------------------------------------------------ */

/* Handle one signal; returns true once m->pid has been reaped (status in *status). */
static bool handle_signal(struct monitor *m, int sig, int *status)
{
    bool exited = false;
    if (sig == SIGCHLD) {
        /* reap everything: a process re-parented to us must not stay a zombie */
        int st;
        pid_t pid;
        while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
            if (pid == m->pid)
                *status = st, exited = true;
    } else if (sig == SIGWINCH) {
        /* our terminal was resized: give the container's terminal the same size */
        if (m->tty && m->out_src >= 0 && isatty(0))
            pty_copy_winsize(0, m->out_src);
    } else {
        /* everything else is for the container's init: kill passes it on unchanged */
        kill(m->pid, sig);
    }
    return exited;
}

/* ---- the loop ----------------------------------------------------------- */

int monitor_run(struct monitor *m)
{
    struct stream out = {.name = "stdout", .src = m->out_src, .copy_to = m->to_stdio ? 1 : -1};
    struct stream err = {.name = "stderr", .src = m->err_src, .copy_to = m->to_stdio ? 2 : -1};
    struct input in = {.src = m->stdin_dst >= 0 && !m->stdin_from_clients ? 0 : -1, .dst = m->stdin_dst};
    int status = 0;
    bool exited = false;

    if (in.dst >= 0)
        fcntl(in.dst, F_SETFL, fcntl(in.dst, F_GETFL) | O_NONBLOCK);
    /* the child may already have exited before the signalfd existed: check once */
    if (waitpid(m->pid, &status, WNOHANG) == m->pid)
        exited = true;

    if (in.dst >= 0 && m->stdin_from_clients)
        fcntl(in.dst, F_SETFL, fcntl(in.dst, F_GETFL) | O_NONBLOCK);

    while (!exited || out.src >= 0 || err.src >= 0) {
        struct pollfd p[6 + MAX_CLIENTS];
        int n = 0, i_sig = -1, i_out = -1, i_err = -1, i_in = -1, i_dst = -1, i_listen = -1;
        int i_clients = -1;
        if (!exited)
            i_sig = n, p[n++] = (struct pollfd){.fd = m->sigfd, .events = POLLIN};
        if (out.src >= 0)
            i_out = n, p[n++] = (struct pollfd){.fd = out.src, .events = POLLIN};
        if (err.src >= 0)
            i_err = n, p[n++] = (struct pollfd){.fd = err.src, .events = POLLIN};
        if (!exited && in.src >= 0 && in.len == 0)
            i_in = n, p[n++] = (struct pollfd){.fd = in.src, .events = POLLIN};
        if (!exited && in.len > 0)
            i_dst = n, p[n++] = (struct pollfd){.fd = in.dst, .events = POLLOUT};
        if (!exited && m->listen_fd >= 0)
            i_listen = n, p[n++] = (struct pollfd){.fd = m->listen_fd, .events = POLLIN};
        i_clients = n;
        size_t polled_clients = n_clients;
        for (size_t c = 0; c < polled_clients; c++)
            p[n++] = (struct pollfd){.fd = clients[c], .events = POLLIN};

        /* poll: sleep until any of them has something; after exit, give up when idle */
        int ready = poll(p, (nfds_t)n, exited ? DRAIN_IDLE_MS : -1);
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready <= 0)
            break;

        if (i_sig >= 0 && (p[i_sig].revents & POLLIN)) {
            struct signalfd_siginfo si;
            if (read(m->sigfd, &si, sizeof si) == sizeof si)
                exited = handle_signal(m, (int)si.ssi_signo, &status) || exited;
        }
        if (i_out >= 0 && p[i_out].revents)
            relay_output(m, &out);
        if (i_err >= 0 && p[i_err].revents)
            relay_output(m, &err);
        if (i_in >= 0 && p[i_in].revents)
            relay_input_read(m, &in);
        if (i_dst >= 0 && p[i_dst].revents)
            relay_input_write(&in);
        /* clients from the last one down: dropping one moves the last into its slot */
        for (size_t c = polled_clients; c-- > 0;)
            if (c < n_clients && p[i_clients + (int)c].revents)
                client_input(m, c);
        if (i_listen >= 0 && (p[i_listen].revents & POLLIN))
            accept_client(m->listen_fd);
    }
    /* attached clients see EOF: the container has exited */
    while (n_clients > 0)
        drop_client(n_clients - 1);
    /* whatever never reached EOF: log the last partial lines */
    if (m->log_fd >= 0) {
        if (out.src >= 0)
            log_output(m->log_fd, &out, "", 0, true);
        if (err.src >= 0)
            log_output(m->log_fd, &err, "", 0, true);
    }
    free(out.partial.data);
    free(err.partial.data);
    return status;
}

/* ---- the exit record ---------------------------------------------------- */

int exit_code_of(int status)
{
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}

/* A line "oom_kill N" with N > 0 in memory.events / memory.oom_control. */
static bool oom_killed(const char *oom_file)
{
    if (!oom_file)
        return false;
    FILE *f = fopen(oom_file, "re");
    if (!f)
        return false;
    char line[256];
    bool killed = false;
    unsigned long long n;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "oom_kill %llu", &n) == 1 && n > 0)
            killed = true;
    fclose(f);
    return killed;
}

int write_exit_record(const char *state_dir, pid_t pid, int status, const char *oom_file)
{
    char path[PATH_MAX], tmp[PATH_MAX], when[64], json[256];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    format_time(when, sizeof when, &now, true);
    char signal[16] = "null"; /* null: the process exited by itself */
    if (WIFSIGNALED(status))
        snprintf(signal, sizeof signal, "%d", WTERMSIG(status));
    int n = snprintf(json, sizeof json,
                     "{\"exitCode\":%d,\"signal\":%s,\"oomKilled\":%s,\"finishedAt\":\"%s\",\"pid\":%d}\n",
                     exit_code_of(status), signal, oom_killed(oom_file) ? "true" : "false", when,
                     (int)pid);
    snprintf(path, sizeof path, "%s/exit.json", state_dir);
    snprintf(tmp, sizeof tmp, "%s/.exit.json.tmp", state_dir);

    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return fail(EXIT_OWN_FAILURE, "create %s: %m", tmp);
    /* write, then rename: a reader sees either no exit.json or a whole one */
    if (write_all(fd, json, (size_t)n) < 0 || close(fd) < 0)
        return fail(EXIT_OWN_FAILURE, "write %s: %m", tmp);
    if (rename(tmp, path) < 0)
        return fail(EXIT_OWN_FAILURE, "rename %s to %s: %m", tmp, path);
    return 0;
}

/* ---- the exit command --------------------------------------------------- */

void run_exit_command(const char *path, const char **args, size_t n_args)
{
    /* fork: the command outlives us; when we exit right after, init (or a subreaper) reaps it */
    pid_t pid = fork();
    if (pid != 0)
        return; /* parent (or a failed fork: nothing more we can do) */

    /* setsid: its own session, so no terminal or process-group signal meant for us reaches it */
    setsid();
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    for (int fd = 0; fd < 3; fd++)
        dup2(null, fd); /* dup2 clears CLOEXEC on the copies */
    /* the log, the signalfd and every pipe of ours stay behind */
    syscall(SYS_close_range, 3, ~0U, 0);
    /* the monitor blocked and ignored signals; an exec'd program starts with the defaults */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);

    const char **argv = calloc(n_args + 2, sizeof *argv);
    if (!argv)
        _exit(EXIT_OWN_FAILURE);
    argv[0] = path;
    memcpy(argv + 1, args, n_args * sizeof *argv);
    /* execv: the environment is ours, which the caller gave us for exactly this */
    execv(path, (char *const *)argv);
    _exit(EXIT_NOT_FOUND);
}
