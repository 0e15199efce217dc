/*
 * process.c: the last steps before a container process starts, shared by `run` and `exec`:
 * rlimits, working directory, user and groups, capabilities, no_new_privs, the seccomp filter,
 * and execve with a PATH lookup inside the container.
 */
#include "helper.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static int apply_rlimits(const struct process_spec *p)
{
    for (size_t i = 0; i < p->n_rlimits; i++) {
        struct rlimit rl = {.rlim_cur = p->rlimits[i].soft, .rlim_max = p->rlimits[i].hard};
        /* setrlimit: limits are inherited across execve, so set them on ourselves now. */
        if (setrlimit(p->rlimits[i].resource, &rl) < 0)
            return fail(EXIT_OWN_FAILURE, "setrlimit %s (soft %llu, hard %llu): %m",
                        p->rlimits[i].name, (unsigned long long)rl.rlim_cur,
                        (unsigned long long)rl.rlim_max);
        trace("setrlimit", "%s soft %llu hard %llu", p->rlimits[i].name, (unsigned long long)rl.rlim_cur,
              (unsigned long long)rl.rlim_max);
    }
    return 0;
}

/* The OOM killer's bias for this process and its children (-1000: never; 1000: first). */
static int set_oom_score_adj(int adj)
{
    char buf[16];
    int n = snprintf(buf, sizeof buf, "%d", adj);
    int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write_all(fd, buf, (size_t)n) < 0) {
        /* lowering it below what it was needs CAP_SYS_RESOURCE, which root may not have */
        int err = errno;
        if (fd >= 0)
            close(fd);
        errno = err;
        return fail(EXIT_OWN_FAILURE, "set oom_score_adj to %d: %m%s", adj,
                    err == EACCES ? " (lowering it needs CAP_SYS_RESOURCE)" : "");
    }
    close(fd);
    return 0;
}

static int switch_user(const struct process_spec *p)
{
    /* setgroups first: after setuid we would no longer be allowed to. */
    if (setgroups(p->n_additional_gids, p->additional_gids) < 0)
        return fail(EXIT_OWN_FAILURE, "setgroups: %m");
    /* setgid before setuid, for the same reason. */
    if (setgid(p->gid) < 0)
        return fail(EXIT_OWN_FAILURE, "setgid %u: %m", (unsigned)p->gid);
    /* KEEPCAPS: without it, leaving uid 0 empties the permitted set we still need to set. */
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
        return fail(EXIT_OWN_FAILURE, "prctl PR_SET_KEEPCAPS: %m");
    if (setuid(p->uid) < 0)
        return fail(EXIT_OWN_FAILURE, "setuid %u: %m", (unsigned)p->uid);
    trace("switch user", "setgroups(%zu groups); setgid(%u); setuid(%u)", p->n_additional_gids, (unsigned)p->gid,
          (unsigned)p->uid);
    return 0;
}

int process_setup(struct process_spec *p)
{
    /* a user given by name (or uid[:gid] to look up) is resolved in the container's files */
    if (p->user_spec && p->user_spec[0] && user_resolve(p) < 0)
        return -1;
    if (apply_rlimits(p) < 0)
        return -1;
    if (p->has_oom_score_adj && set_oom_score_adj(p->oom_score_adj) < 0)
        return -1;
    /* chdir while still root, so the directory may belong to anyone */
    if (chdir(p->cwd) < 0)
        return fail(EXIT_OWN_FAILURE, "chdir to cwd (\"%s\") set in config.json failed: %m", p->cwd);
    /* Without no_new_privs only a process holding CAP_SYS_ADMIN may install a filter: do it
       now, before the capabilities go (runc's order). The few calls left before execve
       (capset, setuid, prctl...) must then be allowed by the profile; docker's allows them. */
    if (!p->no_new_privileges && seccomp_install(&p->filter) < 0)
        return -1;
    if (p->has_caps && caps_drop_bounding(p->caps[CAP_BOUNDING]) < 0)
        return -1;
    if (switch_user(p) < 0)
        return -1;
    if (p->has_caps && caps_apply(p->caps) < 0)
        return -1;
    /* no_new_privs: setuid binaries and file capabilities can no longer raise privileges. */
    if (p->no_new_privileges && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return fail(EXIT_OWN_FAILURE, "prctl PR_SET_NO_NEW_PRIVS: %m");
    if (p->no_new_privileges)
        trace("no_new_privs", "prctl(PR_SET_NO_NEW_PRIVS, 1)");
    return 0;
}

/* Turn an execve errno into the docker-style message and exit code. */
static int exec_failure(const char *name, int err)
{
    if (err == ENOENT || err == ENOTDIR)
        return fail(EXIT_NOT_FOUND, "exec: \"%s\": no such file or directory", name);
    if (err == EACCES)
        return fail(EXIT_CANNOT_EXEC, "exec: \"%s\": permission denied", name);
    if (err == ENOEXEC)
        return fail(EXIT_CANNOT_EXEC, "exec: \"%s\": exec format error", name);
    return fail(EXIT_CANNOT_EXEC, "exec: \"%s\": %s", name, strerror(err));
}

static const char *env_path(const char **env)
{
    for (size_t i = 0; env[i]; i++)
        if (strncmp(env[i], "PATH=", 5) == 0)
            return env[i] + 5;
    return DEFAULT_PATH;
}

int process_exec(const struct process_spec *p)
{
    char *const *argv = (char *const *)p->args;
    char *const *envp = (char *const *)p->env;
    const char *name = p->args[0];
    if (trace_on) {
        char line[512] = "";
        for (size_t i = 0; p->args[i] && strlen(line) < sizeof line - 8; i++)
            snprintf(line + strlen(line), sizeof line - strlen(line), "%s\"%s\"", i ? ", " : "", p->args[i]);
        trace("execve", "execve(\"%s\", [%s]) (a bare name is looked up in the container's PATH)", name, line);
    }

    /* With no_new_privs the filter needs no privilege: install it last, right before execve,
       so that as few of our own calls as possible run under it. */
    if (p->no_new_privileges && seccomp_install(&p->filter) < 0)
        return -1;

    /* A name with a slash is a path: no lookup. */
    if (strchr(name, '/')) {
        execve(name, argv, envp);
        return exec_failure(name, errno);
    }

    /* Otherwise try each directory of the container's PATH (an empty entry means "."). */
    bool denied = false;
    const char *dir = env_path(p->env);
    while (dir) {
        const char *colon = strchr(dir, ':');
        size_t len = colon ? (size_t)(colon - dir) : strlen(dir);
        char candidate[PATH_MAX];
        if (len == 0)
            snprintf(candidate, sizeof candidate, "./%s", name);
        else
            snprintf(candidate, sizeof candidate, "%.*s/%s", (int)len, dir, name);
        execve(candidate, argv, envp);
        if (errno == EACCES)
            denied = true; /* remember, but a later directory may still have it */
        else if (errno != ENOENT && errno != ENOTDIR && errno != ELOOP)
            return exec_failure(name, errno);
        dir = colon ? colon + 1 : NULL;
    }
    if (denied)
        return fail(EXIT_CANNOT_EXEC, "exec: \"%s\": permission denied", name);
    return fail(EXIT_NOT_FOUND, "exec: \"%s\": executable file not found in $PATH", name);
}
