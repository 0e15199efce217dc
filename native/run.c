/*
 * run.c: `tscontainer-helper run`, the parent side.
 *
 *   load config.json -> pipes (stdio, sync, error, console) -> clone into new namespaces
 *   -> report {"type":"pid"} -> wait for "go" on fd 4 -> forward it to the child
 *   -> report started or error -> become the monitor -> exit.json -> exit with its code
 */
#include "helper.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHILD_STACK_SIZE (1 << 20)

/* Everything the parent keeps between clone and the monitor. */
struct run_state {
    int go_w;                  /* we write "g" here */
    int err_r;                 /* the child's failure, or EOF after execve */
    int console_r;             /* the pty master arrives here (--tty) */
    int userns_w;              /* --userns: we send the child its rootfs here */
    int stdin_w, stdout_r, stderr_r;
};

static int make_pipe(int fds[2])
{
    /* O_CLOEXEC: no pipe end may slip into the container by accident; dup2 clears it. */
    if (pipe2(fds, O_CLOEXEC) < 0)
        return fail(EXIT_OWN_FAILURE, "pipe: %m");
    return 0;
}

/* Pipes for the container's stdio (without --tty), recording which ends go where. */
static int make_stdio(const struct run_options *o, struct child_args *a, struct run_state *r)
{
    int in[2], out[2], err[2];
    a->stdio[0] = a->stdio[1] = a->stdio[2] = -1;
    r->stdin_w = r->stdout_r = r->stderr_r = -1;
    if (o->tty)
        return 0; /* the terminal is made by the child inside the container */
    if (o->stdin) {
        /* detached, the pipe is fed by attach clients instead of our stdin */
        if (make_pipe(in) < 0)
            return -1;
        a->stdio[0] = in[0], r->stdin_w = in[1];
        a->close_fds[a->n_close_fds++] = in[1];
    } else {
        /* the container's stdin is /dev/null unless the caller asked for --stdin */
        a->stdio[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (a->stdio[0] < 0)
            return fail(EXIT_OWN_FAILURE, "open /dev/null: %m");
    }
    if (make_pipe(out) < 0 || make_pipe(err) < 0)
        return -1;
    a->stdio[1] = out[1], r->stdout_r = out[0];
    a->stdio[2] = err[1], r->stderr_r = err[0];
    a->close_fds[a->n_close_fds++] = out[0];
    a->close_fds[a->n_close_fds++] = err[0];
    return 0;
}

static int make_sync(const struct run_options *o, struct child_args *a, struct run_state *r)
{
    int go[2], err[2];
    if (make_pipe(go) < 0 || make_pipe(err) < 0)
        return -1;
    a->go_fd = go[0], r->go_w = go[1];
    a->err_fd = err[1], r->err_r = err[0];
    a->close_fds[a->n_close_fds++] = go[1];
    a->close_fds[a->n_close_fds++] = err[0];
    a->console_fd = r->console_r = -1;
    if (o->tty) {
        int sv[2];
        /* a unix socket pair: the only way to hand a file descriptor to another process */
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
            return fail(EXIT_OWN_FAILURE, "socketpair: %m");
        a->console_fd = sv[1], r->console_r = sv[0];
        a->close_fds[a->n_close_fds++] = sv[0];
        /* the caller's window size, if it has one, so the container starts with it */
        a->have_winsize = !o->detach && ioctl(0, TIOCGWINSZ, &a->winsize) == 0;
    }
    a->userns_fd = r->userns_w = -1;
    if (a->spec->userns) {
        int sv[2];
        /* --userns: the rootfs mount (made once the maps exist) goes to the child over this */
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
            return fail(EXIT_OWN_FAILURE, "socketpair: %m");
        a->userns_fd = sv[1], r->userns_w = sv[0];
        a->close_fds[a->n_close_fds++] = sv[0];
    }
    return 0;
}

/* A pid namespace given by path must be joined by us: setns(PID) only affects our children. */
static int join_pid_namespace(const struct container_spec *s)
{
    for (size_t i = 0; i < s->n_namespaces; i++) {
        if (s->namespaces[i].flag != CLONE_NEWPID || !s->namespaces[i].path)
            continue;
        int fd = open(s->namespaces[i].path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || setns(fd, CLONE_NEWPID) < 0)
            return fail(EXIT_OWN_FAILURE, "join pid namespace %s: %m", s->namespaces[i].path);
        close(fd);
    }
    return 0;
}

static pid_t clone_child(const struct container_spec *s, struct child_args *a)
{
    /* The child gets its own stack; without CLONE_VM it is a copy-on-write copy of us anyway. */
    char *stack = mmap(NULL, CHILD_STACK_SIZE, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED)
        return fail(EXIT_OWN_FAILURE, "mmap the child's stack: %m");
    /* clone: a new process that is, from its first instruction, in the new namespaces */
    pid_t pid = clone(child_main, stack + CHILD_STACK_SIZE, spec_clone_flags(s) | SIGCHLD, a);
    if (pid < 0)
        return fail(EXIT_OWN_FAILURE, "clone the container process: %m");
    trace("clone", "clone(%s) -> pid %d", trace_ns_flags(spec_clone_flags(s)), (int)pid);
    munmap(stack, CHILD_STACK_SIZE);
    return pid;
}

enum wait_result { GO, GAVE_UP, CHILD_DIED };

/* A line on fd 4: "go" means go; anything else, or EOF, means the caller gave up. */
static enum wait_result read_control(int fd)
{
    char buf[16];
    size_t len = 0;
    while (len < sizeof buf) {
        ssize_t n = read(fd, buf + len, sizeof buf - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return GAVE_UP;
        len += (size_t)n;
        if (memchr(buf, '\n', len))
            break;
    }
    return len >= 2 && strncmp(buf, "go", 2) == 0 ? GO : GAVE_UP;
}

/*
 * Wait for "go" on fd 4 while watching our signals: SIGINT/TERM/HUP/QUIT mean give up,
 * SIGCHLD may mean the child failed before go (e.g. joining a namespace by path).
 * Without an fd 4 (run by hand) we go at once.
 */
static enum wait_result wait_for_caller(int sigfd, pid_t pid)
{
    int control = report_control_fd();
    if (control < 0)
        return GO;
    for (;;) {
        struct pollfd p[2] = {{.fd = control, .events = POLLIN}, {.fd = sigfd, .events = POLLIN}};
        /* poll: sleep until the caller writes, hangs up, or a signal arrives */
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return GAVE_UP;
        }
        if (p[0].revents) {
            enum wait_result r = read_control(control);
            report_control_close();
            return r;
        }
        struct signalfd_siginfo si;
        if ((p[1].revents & POLLIN) && read(sigfd, &si, sizeof si) == sizeof si) {
            if (si.ssi_signo == SIGCHLD && waitpid(pid, NULL, WNOHANG) == pid)
                return CHILD_DIED;
            if (si.ssi_signo == SIGINT || si.ssi_signo == SIGTERM || si.ssi_signo == SIGHUP ||
                si.ssi_signo == SIGQUIT)
                return GAVE_UP;
        }
    }
}


static void kill_and_reap(pid_t pid)
{
    kill(pid, SIGKILL); /* SIGKILL: the child is ours and still in set-up */
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
}

static int open_log(const char *path)
{
    if (!path)
        return -1;
    /* O_APPEND: each JSON line lands whole at the end even if someone else appends too */
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0)
        fail(EXIT_OWN_FAILURE, "open log file %s: %m", path);
    return fd;
}

int cmd_run(const struct run_options *o)
{
    struct container_spec spec;
    struct child_args a;
    struct run_state r;
    memset(&a, 0, sizeof a);
    memset(&r, 0, sizeof r);

    int log_fd = -1;
    if (config_load(o->bundle, &spec) < 0 || (o->log && (log_fd = open_log(o->log)) < 0)) {
        report_failure();
        return failure_code();
    }
    a.spec = &spec;

    /* Block the signals the monitor handles before clone: none can be lost in between. */
    sigset_t handled = monitor_signals();
    if (sigprocmask(SIG_BLOCK, &handled, &a.sigmask) < 0) {
        fail(EXIT_OWN_FAILURE, "sigprocmask: %m");
        report_failure();
        return failure_code();
    }
    /* A reader of our stdout going away must not kill the monitor. */
    signal(SIGPIPE, SIG_IGN);
    /* signalfd: the blocked signals become readable events for our poll loops */
    int sigfd = signalfd(-1, &handled, SFD_CLOEXEC);
    if (sigfd < 0) {
        fail(EXIT_OWN_FAILURE, "signalfd: %m");
        report_failure();
        return failure_code();
    }

    pid_t pid = -1;
    if (make_stdio(o, &a, &r) < 0 || make_sync(o, &a, &r) < 0 || join_pid_namespace(&spec) < 0 ||
        (pid = clone_child(&spec, &a)) < 0) {
        report_failure();
        return failure_code();
    }
    /* our copies of the child's ends: closing them lets EOF mean "the child closed its end" */
    for (int fd = 0; fd < 3; fd++)
        if (a.stdio[fd] >= 0)
            close(a.stdio[fd]);
    close(a.go_fd);
    close(a.err_fd);
    if (a.console_fd >= 0)
        close(a.console_fd);
    if (a.userns_fd >= 0)
        close(a.userns_fd);
    /* --userns: maps and rootfs before the pid is reported, so the caller never sees a child
       that cannot yet be root of its namespace */
    if (spec.userns) {
        int ok = userns_prepare(pid, &spec, r.userns_w);
        close(r.userns_w);
        if (ok < 0) {
            kill_and_reap(pid);
            report_failure();
            return failure_code();
        }
    }

    report_pid(pid);
    enum wait_result waited = wait_for_caller(sigfd, pid);
    if (waited == GAVE_UP) {
        kill_and_reap(pid);
        fail(EXIT_OWN_FAILURE, "the caller gave up before \"go\" (fd 4 closed or signalled)");
        report_failure();
        return EXIT_OWN_FAILURE;
    }
    if (waited == CHILD_DIED) {
        /* already reaped; its error pipe says why */
        if (read_child_failure(r.err_r) == 0)
            fail(EXIT_OWN_FAILURE, "the container process died during set-up");
        report_failure();
        return failure_code();
    }
    write_all(r.go_w, "g", 1);
    close(r.go_w);

    int master = -1;
    if (o->tty) {
        master = pty_recv_fd(r.console_r); /* -1 if the child failed before the console */
        close(r.console_r);
    }
    if (read_child_failure(r.err_r) < 0) {
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
        report_failure();
        return failure_code();
    }
    /* detached: `tscontainer attach` connects here for the output and, with -i, stdin.
       Listen before reporting "started", so a client that connects on "started" finds it. */
    int listen_fd = o->detach ? attach_listen(o->state) : -1;
    report_started();
    report_close();

    /* From here on we are the monitor. */
    struct termios saved;
    bool raw = o->tty && !o->detach && isatty(0) && pty_raw_mode(0, &saved) == 0;
    struct monitor m = {
        .pid = pid,
        .sigfd = sigfd,
        .stdin_dst = o->tty ? (o->stdin ? master : -1) : r.stdin_w,
        .out_src = o->tty ? master : r.stdout_r,
        .err_src = o->tty ? -1 : r.stderr_r,
        .tty = o->tty,
        .to_stdio = !o->detach,
        .log_fd = log_fd,
        .listen_fd = listen_fd,
        .stdin_from_clients = o->detach,
    };
    int status = monitor_run(&m);
    if (raw)
        pty_restore_mode(0, &saved);
    write_exit_record(o->state, pid, status, o->oom_file);
    /* nobody may be waiting for a detached container: its exit command records the exit
       and gives back cgroups and network (and removes it, for --rm) */
    if (o->exit_command)
        run_exit_command(o->exit_command, o->exit_args, o->n_exit_args);
    return exit_code_of(status);
}
