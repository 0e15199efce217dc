/*
 * exec.c: `tscontainer-helper exec`: start one more process in a running container.
 *
 *   join the container's cgroups -> setns into each of its namespaces that differs from ours
 *   -> fork (setns into a pid namespace only affects children) -> the child sets user, caps,
 *   cwd, env and execs -> we relay its stdio like `run` and exit with its code.
 */
#include "helper.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/close_range.h>
#include <unistd.h>

/* Order matters: the mount namespace last, because entering it changes what paths mean. */
/* user first: once we are in the container's user namespace (where root of the host's one
   holds every capability), the others, which it owns, may be joined too */
static const struct { const char *name; int flag; } exec_namespaces[] = {
    {"user", CLONE_NEWUSER},
    {"cgroup", CLONE_NEWCGROUP}, {"ipc", CLONE_NEWIPC}, {"uts", CLONE_NEWUTS},
    {"net", CLONE_NEWNET},       {"pid", CLONE_NEWPID}, {"mnt", CLONE_NEWNS},
};
#define N_NS (sizeof exec_namespaces / sizeof exec_namespaces[0])

static int join_cgroups(const struct exec_options *o)
{
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
    for (size_t i = 0; i < o->n_cgroup_procs; i++) {
        /* writing our pid to cgroup.procs moves us (and so our future child) into that group */
        int fd = open(o->cgroup_procs[i], O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write_all(fd, pid, (size_t)n) < 0)
            return fail(EXIT_OWN_FAILURE, "join cgroup %s: %m", o->cgroup_procs[i]);
        close(fd);
    }
    return 0;
}

static int not_running(pid_t target)
{
    return fail(EXIT_OWN_FAILURE, "container process %d is not running", (int)target);
}

/*
 * Open /proc/PID as a directory. The descriptor stays tied to that one process: if it exits
 * and the pid is given to another process, lookups under it fail instead of finding the
 * newcomer. Its stat and ns entries are read through it.
 */
static int open_target(const struct exec_options *o)
{
    char path[32];
    snprintf(path, sizeof path, "/proc/%d", (int)o->pid);
    int dir = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) {
        if (errno == ENOENT || errno == ESRCH)
            return not_running(o->pid);
        return fail(EXIT_OWN_FAILURE, "open %s: %m", path);
    }
    if (!o->check_pid_start)
        return dir;

    /* --pid-start: the pid must still be the process the caller recorded, not a reused one.
       Field 22 of /proc/PID/stat is its start time in clock ticks after boot. */
    char stat[1024];
    int fd = openat(dir, "stat", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd < 0 ? -1 : read(fd, stat, sizeof stat - 1);
    if (fd >= 0)
        close(fd);
    if (n < 0)
        return not_running(o->pid); /* ESRCH: it exited after we opened its directory */
    stat[n] = '\0';
    /* the name (field 2) may hold spaces and ')': count fields from the last ')' */
    char *p = strrchr(stat, ')');
    unsigned long long start = 0;
    for (int field = 2; p && field < 22; field++)
        p = strchr(p + 1, ' ');
    if (!p || sscanf(p + 1, "%llu", &start) != 1)
        return fail(EXIT_OWN_FAILURE, "cannot read the start time of process %d", (int)o->pid);
    if (start != o->pid_start)
        return not_running(o->pid);
    return dir;
}

/* Open every namespace first (paths under /proc stop working once we are in the mnt ns). */
static int join_namespaces(int target_dir, pid_t target)
{
    int fds[N_NS];
    for (size_t i = 0; i < N_NS; i++) {
        char theirs[64], ours[64];
        struct stat a, b;
        fds[i] = -1;
        snprintf(theirs, sizeof theirs, "ns/%s", exec_namespaces[i].name);
        snprintf(ours, sizeof ours, "/proc/self/ns/%s", exec_namespaces[i].name);
        bool have_ours = stat(ours, &b) == 0;
        if (fstatat(target_dir, theirs, &a, 0) < 0) {
            /* we have this type but they do not: they exited (or are a zombie, whose
               namespaces are gone). Never go on without it: we would stay on the host's. */
            if (have_ours || errno != ENOENT)
                return not_running(target);
            continue; /* a namespace type this kernel does not have */
        }
        if (have_ours && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
            continue; /* the same namespace as ours: nothing to join */
        fds[i] = openat(target_dir, theirs, O_RDONLY | O_CLOEXEC);
        if (fds[i] < 0) {
            if (errno == ESRCH || errno == ENOENT)
                return not_running(target);
            return fail(EXIT_OWN_FAILURE, "open /proc/%d/%s: %m", (int)target, theirs);
        }
    }
    for (size_t i = 0; i < N_NS; i++) {
        if (fds[i] < 0)
            continue;
        /* setns: move ourselves into the container's namespace of this type */
        if (setns(fds[i], exec_namespaces[i].flag) < 0)
            return fail(EXIT_OWN_FAILURE, "join the container's %s namespace: %m",
                        exec_namespaces[i].name);
        trace("setns", "setns(/proc/%d/ns/%s)", (int)target, exec_namespaces[i].name);
        close(fds[i]);
    }
    return 0;
}

struct exec_child {
    struct process_spec *proc;
    int stdio[3];     /* without a terminal */
    int slave;        /* with a terminal */
    int err_fd;
    sigset_t sigmask;
};

static void exec_child_main(const struct exec_child *c)
{
    /* die with the helper while setting up; no ptrace or /proc access until execve */
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    /* our own session, as docker exec gives; needed to take a controlling terminal */
    setsid();
    if (c->slave >= 0) {
        if (pty_make_controlling(c->slave) < 0)
            child_die(c->err_fd);
    } else {
        for (int fd = 0; fd < 3; fd++)
            if (dup2(c->stdio[fd], fd) < 0) {
                fail(EXIT_OWN_FAILURE, "dup2 onto fd %d: %m", fd);
                child_die(c->err_fd);
            }
    }
    /* nothing the helper holds may reach the new process */
    syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC);
    if (process_setup(c->proc) < 0)
        child_die(c->err_fd);
    signal(SIGPIPE, SIG_DFL);
    sigprocmask(SIG_SETMASK, &c->sigmask, NULL);
    umask(022);
    prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);
    process_exec(c->proc);
    child_die(c->err_fd);
}


/* The parent's half of the stdio: pipes, or a terminal from the container's own devpts. */
struct exec_io {
    int stdin_w, stdout_r, stderr_r, master;
};

static int make_io(const struct exec_options *o, struct exec_child *c, struct exec_io *io)
{
    int in[2] = {-1, -1}, out[2], err[2];
    io->stdin_w = io->stdout_r = io->stderr_r = io->master = -1;
    c->slave = -1;
    if (o->tty) {
        /* we are already in the container's mount namespace: this is its /dev/ptmx */
        int ptmx = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (ptmx < 0)
            return fail(EXIT_OWN_FAILURE, "open /dev/ptmx in the container: %m");
        if (pty_open(ptmx, &io->master, &c->slave) < 0)
            return -1;
        if (isatty(0))
            pty_copy_winsize(0, io->master);
        return 0;
    }
    if (o->stdin) {
        if (pipe2(in, O_CLOEXEC) < 0)
            return fail(EXIT_OWN_FAILURE, "pipe: %m");
    } else if ((in[0] = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) {
        return fail(EXIT_OWN_FAILURE, "open /dev/null: %m");
    }
    if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0)
        return fail(EXIT_OWN_FAILURE, "pipe: %m");
    c->stdio[0] = in[0], c->stdio[1] = out[1], c->stdio[2] = err[1];
    io->stdin_w = in[1], io->stdout_r = out[0], io->stderr_r = err[0];
    return 0;
}

int cmd_exec(const struct exec_options *o)
{
    struct process_spec proc;
    struct exec_child c = {.proc = &proc};
    struct exec_io io;
    int errp[2];

    /* the container's filter, compiled once here; the child installs it before execve */
    if (process_load(o->process, &proc) < 0 || seccomp_compile(&proc.seccomp, &proc.filter) < 0) {
        report_failure();
        return failure_code();
    }
    /* our own copy stays out of reach of the container we are about to enter */
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    /* the target, checked (--pid-start) and pinned before we join anything of it */
    int target_dir = open_target(o);
    if (target_dir < 0) {
        report_failure();
        return failure_code();
    }
    sigset_t handled = monitor_signals();
    sigprocmask(SIG_BLOCK, &handled, &c.sigmask);
    signal(SIGPIPE, SIG_IGN);

    if (join_cgroups(o) < 0 || join_namespaces(target_dir, o->pid) < 0 || make_io(o, &c, &io) < 0 ||
        pipe2(errp, O_CLOEXEC) < 0) {
        report_failure();
        return failure_code();
    }
    close(target_dir);
    c.err_fd = errp[1];

    /* fork: only our children are inside the pid namespace we just joined */
    pid_t pid = fork();
    if (pid < 0) {
        fail(EXIT_OWN_FAILURE, "fork: %m");
        report_failure();
        return failure_code();
    }
    if (pid == 0)
        exec_child_main(&c);

    close(errp[1]);
    if (c.slave >= 0)
        close(c.slave);
    else
        for (int fd = 0; fd < 3; fd++)
            close(c.stdio[fd]);
    report_pid(pid);
    if (read_child_failure(errp[0]) < 0) {
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        report_failure();
        return failure_code();
    }
    report_started();
    report_close();

    struct termios saved;
    bool raw = o->tty && isatty(0) && pty_raw_mode(0, &saved) == 0;
    struct monitor m = {
        .pid = pid,
        .sigfd = signalfd(-1, &handled, SFD_CLOEXEC),
        .stdin_dst = o->tty ? (o->stdin ? io.master : -1) : io.stdin_w,
        .out_src = o->tty ? io.master : io.stdout_r,
        .err_src = o->tty ? -1 : io.stderr_r,
        .tty = o->tty,
        .to_stdio = true,
        .log_fd = -1,
        .listen_fd = -1,
    };
    int status = monitor_run(&m);
    if (raw)
        pty_restore_mode(0, &saved);
    return exit_code_of(status);
}
