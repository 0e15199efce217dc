/*
 * child.c: the container's init, from clone() to execve().
 *
 * It is born in its new namespaces, builds its root (mounts, pivot_root) while the caller sets
 * up its cgroups and network, blocks until the caller says "go" (both are then ready), takes
 * on the user's identity in the order of docs/helper-protocol.md and execs.
 * Any failure is one sentence sent over the CLOEXEC error pipe; a successful execve closes
 * that pipe, which is how the parent learns that the container started.
 */
#include "helper.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

void child_die(int err_fd)
{
    char buf[2200];
    int n = snprintf(buf, sizeof buf, "%d %s", failure_code(), failure_message());
    /* one write: the parent reads the whole message up to EOF */
    write_all(err_fd, buf, (size_t)(n < (int)sizeof buf ? n : (int)sizeof buf - 1));
    _exit(failure_code());
}

/* After "go": EOF on the error pipe means execve succeeded; data is "CODE message". */
int read_child_failure(int err_r)
{
    char buf[2300];
    size_t len = 0;
    ssize_t n;
    while (len < sizeof buf - 1) {
        n = read(err_r, buf + len, sizeof buf - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(err_r);
    if (len == 0)
        return 0;
    buf[len] = '\0';
    char *msg;
    long code = strtol(buf, &msg, 10);
    failure_set((int)code, *msg == ' ' ? msg + 1 : msg);
    return -1;
}

/* docker creates a missing working directory (root-owned, 0755) rather than refusing to start;
 * we are inside the new root already, so a path here cannot reach the host. */
static int make_workdir(const char *cwd)
{
    char path[4096];
    if (!cwd || cwd[0] != '/' || strlen(cwd) >= sizeof path)
        return 0; /* process_setup reports a bad cwd */
    strcpy(path, cwd);
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        /* mkdir: one component at a time; an existing one (or a symlink to a dir) is fine */
        if (mkdir(path, 0755) < 0 && errno != EEXIST)
            return fail(EXIT_OWN_FAILURE, "create working directory \"%s\": %m", path);
        *p = c;
        if (c == '\0')
            break;
    }
    return 0;
}

/* Guard the set-up phase: die with the helper, and keep /proc/self/ out of reach. */
static int guard_setup(void)
{
    /* PDEATHSIG: if the monitor dies while we are still being set up, we die too. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
        return fail(EXIT_OWN_FAILURE, "prctl PR_SET_PDEATHSIG: %m");
    /* Not dumpable: nothing may ptrace us or open our /proc files (execve resets this). */
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
        return fail(EXIT_OWN_FAILURE, "prctl PR_SET_DUMPABLE: %m");
    /* umask 0 while creating devices and mount targets: modes are exactly as asked */
    umask(0);
    return 0;
}

static int setup_stdio(const struct child_args *a)
{
    for (int fd = 0; fd < 3; fd++)
        if (a->stdio[fd] >= 0 && dup2(a->stdio[fd], fd) < 0)
            return fail(EXIT_OWN_FAILURE, "dup2 onto fd %d: %m", fd);
    /* Everything else we hold is close-on-exec: nothing of the helper leaks into the container. */
    if (syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
        return fail(EXIT_OWN_FAILURE, "close_range: %m");
    return 0;
}

/* Namespaces given by path (except pid, which the parent joined before clone). */
static int join_namespaces(const struct container_spec *s)
{
    for (size_t i = 0; i < s->n_namespaces; i++) {
        const struct ns_entry *ns = &s->namespaces[i];
        if (!ns->path || ns->flag == CLONE_NEWPID)
            continue;
        int fd = open(ns->path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return fail(EXIT_OWN_FAILURE, "open %s namespace %s: %m", ns->type, ns->path);
        /* setns: enter an existing namespace instead of the new one clone would have made */
        if (setns(fd, ns->flag) < 0)
            return fail(EXIT_OWN_FAILURE, "join %s namespace %s: %m", ns->type, ns->path);
        trace("setns", "setns(%s, %s)", ns->path, ns->type);
        close(fd);
    }
    return 0;
}

/* Block until the parent writes "g"; EOF means the caller gave up, so we quietly exit. */
static void wait_for_go(int go_fd)
{
    char c;
    ssize_t n;
    do
        n = read(go_fd, &c, 1);
    while (n < 0 && errno == EINTR);
    if (n != 1)
        _exit(EXIT_OWN_FAILURE);
    close(go_fd);
}

static bool wants_new(const struct container_spec *s, int flag)
{
    for (size_t i = 0; i < s->n_namespaces; i++)
        if (s->namespaces[i].flag == flag && !s->namespaces[i].path)
            return true;
    return false;
}

/*
 * A new network namespace starts with only `lo`, and it is down: bring it up, as every
 * runtime does, so 127.0.0.1 works even with --network none. One ioctl pair on any socket of
 * the namespace does it, which spares the caller an `ip link set lo up` process.
 */
static int loopback_up(void)
{
    /* an AF_INET datagram socket is just a handle for the interface ioctls; nothing is bound */
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return fail(EXIT_OWN_FAILURE, "socket for the loopback interface: %m");
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
    /* SIOCGIFFLAGS, then SIOCSIFFLAGS with IFF_UP added: the other flags stay as they are */
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0 ||
        (ifr.ifr_flags |= IFF_UP, ioctl(fd, SIOCSIFFLAGS, &ifr)) < 0) {
        close(fd);
        return fail(EXIT_OWN_FAILURE, "bring the loopback interface up: %m");
    }
    close(fd);
    return 0;
}

static int setup_identity(const struct container_spec *s)
{
    if (wants_new(s, CLONE_NEWNET) && loopback_up() < 0)
        return -1;
    if (s->hostname && s->hostname[0]) {
        /* sethostname changes the name only in our own uts namespace */
        if (sethostname(s->hostname, strlen(s->hostname)) < 0)
            return fail(EXIT_OWN_FAILURE, "sethostname %s: %m", s->hostname);
        trace("sethostname", "sethostname(\"%s\")", s->hostname);
    }
    return 0;
}

/* Take the terminal: our own session, the slave as ctty and stdio, the master to the monitor. */
static int attach_console(const struct child_args *a, struct console *c)
{
    if (a->have_winsize)
        ioctl(c->master, TIOCSWINSZ, &a->winsize); /* the caller's size before anything runs */
    if (pty_make_controlling(c->slave) < 0)
        return -1;
    if (pty_send_fd(a->console_fd, c->master) < 0)
        return -1;
    close(c->master);
    close(a->console_fd);
    return 0;
}

/* Undo what the helper changed that execve would carry over. */
static int prepare_exec(const struct child_args *a)
{
    /* SIGPIPE is ignored by the helper, and an ignored signal stays ignored across execve. */
    signal(SIGPIPE, SIG_DFL);
    /* the parent blocked the signals it forwards; the container starts with the old mask */
    if (sigprocmask(SIG_SETMASK, &a->sigmask, NULL) < 0)
        return fail(EXIT_OWN_FAILURE, "sigprocmask: %m");
    umask(022);
    /* Once running, the container outlives its monitor if the monitor is killed. */
    if (prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0) < 0)
        return fail(EXIT_OWN_FAILURE, "prctl PR_SET_PDEATHSIG: %m");
    return 0;
}

int child_main(void *arg)
{
    const struct child_args *a = arg;
    struct container_spec *s = a->spec;
    struct console console = {.wanted = a->console_fd >= 0, .master = -1, .slave = -1};

    for (size_t i = 0; i < a->n_close_fds; i++)
        close(a->close_fds[i]); /* the parent's ends: EOF must reach the right process */

    if (guard_setup() < 0 || setup_stdio(a) < 0 || join_namespaces(s) < 0)
        child_die(a->err_fd);

    /* While the caller moves us into our cgroups and network (on cgroup v1 the first move
       after an idle moment waits ~10 ms for the kernel), we build our root: nothing of this
       depends on the cgroups or the network. */
    /* setsid: the container's init leads its own session (and may take a terminal) */
    if (setsid() < 0) {
        fail(EXIT_OWN_FAILURE, "setsid: %m");
        child_die(a->err_fd);
    }
    /* The seccomp rules become BPF now, while the caller is busy, and before pivot_root hides
       the host's cache directory; the filter is installed just before execve. */
    if (seccomp_compile(&s->process.seccomp, &s->process.filter) < 0)
        child_die(a->err_fd);
    /* --userns: nothing below may run before the parent has written our uid/gid maps (files
       we create need a mapped owner; mounts need us to be root of the namespace). */
    if (s->userns && userns_enter(a->userns_fd, s) < 0)
        child_die(a->err_fd);
    int proc_sys = -1;
    if (setup_identity(s) < 0 || mounts_setup(s, &console, &proc_sys) < 0)
        child_die(a->err_fd);
    if (console.wanted && attach_console(a, &console) < 0)
        child_die(a->err_fd);

    /* Block right before the steps that need our cgroups: the cgroup namespace is rooted at
       the group we are in when we unshare it, and the user's process runs under the limits. */
    wait_for_go(a->go_fd);
    /* unshare the cgroup namespace only now: the caller has moved us into our cgroups,
       so the container sees its own group as "/" */
    if (wants_new(s, CLONE_NEWCGROUP) && unshare(CLONE_NEWCGROUP) < 0) {
        fail(EXIT_OWN_FAILURE, "unshare the cgroup namespace: %m");
        child_die(a->err_fd);
    }
    /* sysctls now: the caller has moved the network interface in (net.ipv4.conf.eth0...) */
    if (sysctls_apply(s, proc_sys) < 0)
        child_die(a->err_fd);
    if (make_workdir(s->process.cwd) < 0 || process_setup(&s->process) < 0 || prepare_exec(a) < 0)
        child_die(a->err_fd);
    if (s->init)
        init_run(&s->process, &a->sigmask, a->err_fd); /* --init: we stay, as pid 1 */
    process_exec(&s->process);
    child_die(a->err_fd);
}
