/*
 * init.c: two things the container's init does after "go": write linux.sysctl, and, with
 * --init, stay as pid 1 itself while the user's process runs as its child.
 *
 * Why an init: pid 1 of a pid namespace inherits every orphaned process, and a shell or
 * server run as pid 1 rarely waits for processes it did not start: they stay zombies. And
 * the kernel never applies a default signal action to pid 1, so a program with no SIGTERM
 * handler ignores `tscontainer stop` until the SIGKILL after the timeout. tini (docker's
 * --init) fixes both; this is the same loop, run from the helper's own (sealed) copy, so
 * there is no binary to install into the image.
 */
#include "helper.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

int sysctls_apply(const struct container_spec *s, int proc_sys)
{
    for (size_t i = 0; i < s->n_sysctls; i++) {
        char path[PATH_MAX];
        /* net.ipv4.ip_forward -> net/ipv4/ip_forward (dots are separators, as sysctl(8)'s) */
        snprintf(path, sizeof path, "%s", s->sysctl_keys[i]);
        for (char *c = path; *c; c++)
            if (*c == '.')
                *c = '/';
        /* relative to the /proc/sys opened before it became read-only; the file belongs to
           our own namespaces (net, ipc, uts), which is why only namespaced ones are allowed */
        int fd = openat(proc_sys, path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
        const char *v = s->sysctl_values[i];
        if (fd < 0 || write_all(fd, v, strlen(v)) < 0) {
            int err = errno;
            if (fd >= 0)
                close(fd);
            errno = err;
            return fail(EXIT_OWN_FAILURE, "set sysctl %s=%s: %m", s->sysctl_keys[i], v);
        }
        close(fd);
    }
    if (proc_sys >= 0)
        close(proc_sys);
    return 0;
}

/* The signals pid 1 passes on to its child (all but those that cannot or must not be). */
static sigset_t forwarded(void)
{
    sigset_t set;
    sigfillset(&set);
    sigdelset(&set, SIGKILL);
    sigdelset(&set, SIGSTOP);
    /* faults of our own must kill us, not be "forwarded" */
    sigdelset(&set, SIGSEGV);
    sigdelset(&set, SIGBUS);
    sigdelset(&set, SIGFPE);
    sigdelset(&set, SIGILL);
    sigdelset(&set, SIGSYS);
    return set;
}

void init_run(struct process_spec *proc, const sigset_t *exec_mask, int err_fd)
{
    sigset_t all = forwarded();
    /* block them before the fork: none can arrive between the fork and the loop */
    sigprocmask(SIG_BLOCK, &all, NULL);

    /* fork: the user's process becomes pid 2, our child */
    pid_t child = fork();
    if (child < 0) {
        fail(EXIT_OWN_FAILURE, "fork the container process under --init: %m");
        child_die(err_fd);
    }
    if (child == 0) {
        /* its own process group, the terminal's foreground one (tcsetpgrp while SIGTTOU is
           still blocked), as tini does: Ctrl-C reaches it, and what it starts */
        setpgid(0, 0);
        if (isatty(0))
            tcsetpgrp(0, getpid());
        sigprocmask(SIG_SETMASK, exec_mask, NULL);
        process_exec(proc);
        child_die(err_fd); /* its execve failed: the caller reports it (127, 126...) */
    }
    /* The error pipe must close when the child's execve succeeds: our copy goes now. */
    close(err_fd);
    /* with no_new_privs the filter is installed right before execve: pid 1 gets it too */
    if (proc->no_new_privileges && seccomp_install(&proc->filter) < 0)
        _exit(EXIT_OWN_FAILURE);

    /* What `ps` shows as pid 1, instead of the helper's own command line. */
    set_process_title("tscontainer-init");
    prctl(PR_SET_NAME, "init", 0, 0, 0);

    for (;;) {
        siginfo_t info;
        int sig = sigwaitinfo(&all, &info);
        if (sig < 0)
            continue; /* EINTR */
        if (sig != SIGCHLD) {
            /* pass it on; SIGCHLD from our own children is ours to handle */
            kill(child, sig);
            continue;
        }
        /* reap every child that has exited: ours and every orphan the kernel gave us */
        for (;;) {
            int status;
            pid_t pid = waitpid(-1, &status, WNOHANG);
            if (pid <= 0)
                break;
            if (pid != child)
                continue;
            /* The process is done: so are we, the same way. Our exit ends the pid namespace,
               and with it every process still left in it. */
            if (WIFSIGNALED(status))
                _exit(128 + WTERMSIG(status));
            _exit(WEXITSTATUS(status));
        }
    }
}
