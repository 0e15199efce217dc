/*
 * main.c: tscontainer-helper's command line.
 *
 *   tscontainer-helper run  --bundle DIR --state DIR [--detach] [--tty] [--stdin]
 *                           [--log FILE] [--oom-file FILE]
 *                           [--exit-command PATH [--exit-arg ARG]...]
 *   tscontainer-helper exec --pid PID [--pid-start TICKS] --process FILE --state DIR
 *                           [--tty] [--stdin] [--cgroup-procs FILE]...
 *
 * The protocol (fd 3 reports, fd 4 "go", exit.json) is in docs/helper-protocol.md.
 */
#include "helper.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage(void)
{
    fprintf(stderr,
            "usage: tscontainer-helper run --bundle DIR --state DIR [--detach] [--tty] [--stdin]\n"
            "                              [--log FILE] [--oom-file FILE] [--seccomp-cache DIR]\n"
            "                              [--exit-command PATH [--exit-arg ARG]...]\n"
            "       tscontainer-helper exec --pid PID [--pid-start TICKS] --process FILE --state DIR\n"
            "                               [--tty] [--stdin] [--cgroup-procs FILE]...\n");
    return EXIT_OWN_FAILURE;
}

static int parse_run(int argc, char **argv, struct run_options *o)
{
    static const struct option opts[] = {
        {"bundle", required_argument, 0, 'b'}, {"state", required_argument, 0, 's'},
        {"detach", no_argument, 0, 'd'},       {"tty", no_argument, 0, 't'},
        {"stdin", no_argument, 0, 'i'},        {"log", required_argument, 0, 'l'},
        {"oom-file", required_argument, 0, 'o'}, {"exit-command", required_argument, 0, 'x'},
        {"exit-arg", required_argument, 0, 'a'}, {"seccomp-cache", required_argument, 0, 'C'},
        {"trace", no_argument, 0, 'T'},       {0, 0, 0, 0},
    };
    int c;
    memset(o, 0, sizeof *o);
    o->exit_args = calloc((size_t)argc + 1, sizeof *o->exit_args);
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'b': o->bundle = optarg; break;
        case 's': o->state = optarg; break;
        case 'd': o->detach = true; break;
        case 't': o->tty = true; break;
        case 'i': o->stdin = true; break;
        case 'l': o->log = optarg; break;
        case 'o': o->oom_file = optarg; break;
        case 'x': o->exit_command = optarg; break;
        case 'a': o->exit_args[o->n_exit_args++] = optarg; break;
        case 'C': seccomp_set_cache_dir(optarg); break;
        case 'T': trace_on = true; break;
        default: return -1;
        }
    }
    if (!o->bundle || !o->state || optind != argc || (o->n_exit_args && !o->exit_command))
        return -1;
    return 0;
}

static int parse_exec(int argc, char **argv, struct exec_options *o)
{
    static const struct option opts[] = {
        {"pid", required_argument, 0, 'p'},   {"process", required_argument, 0, 'P'},
        {"pid-start", required_argument, 0, 'S'},
        {"state", required_argument, 0, 's'}, {"tty", no_argument, 0, 't'},
        {"stdin", no_argument, 0, 'i'},       {"cgroup-procs", required_argument, 0, 'c'},
        {"seccomp-cache", required_argument, 0, 'C'},
        {"trace", no_argument, 0, 'T'},       {0, 0, 0, 0},
    };
    int c;
    memset(o, 0, sizeof *o);
    o->cgroup_procs = calloc((size_t)argc + 1, sizeof *o->cgroup_procs);
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'p': o->pid = (pid_t)atoi(optarg); break;
        case 'S': {
            char *end;
            errno = 0;
            o->pid_start = strtoull(optarg, &end, 10);
            if (errno || end == optarg || *end || optarg[0] == '-')
                return -1; /* a start time is a number of clock ticks after boot */
            o->check_pid_start = true;
            break;
        }
        case 'P': o->process = optarg; break;
        case 's': o->state = optarg; break;
        case 't': o->tty = true; break;
        case 'i': o->stdin = true; break;
        case 'c': o->cgroup_procs[o->n_cgroup_procs++] = optarg; break;
        case 'C': seccomp_set_cache_dir(optarg); break;
        case 'T': trace_on = true; break;
        default: return -1;
        }
    }
    if (o->pid <= 0 || !o->process || !o->state || optind != argc)
        return -1;
    return 0;
}

/* Our argv strings lie end to end in memory; /proc/PID/cmdline shows that memory. */
static char *title_start;
static size_t title_len;

void set_process_title(const char *title)
{
    if (!title_start)
        return;
    /* overwrite in place (no privilege needed, unlike PR_SET_MM): the title, then NULs */
    memset(title_start, 0, title_len);
    strncpy(title_start, title, title_len - 1);
}

int main(int argc, char **argv)
{
    if (argc > 0 && argv[0]) {
        title_start = argv[0];
        title_len = (size_t)(argv[argc - 1] + strlen(argv[argc - 1]) + 1 - argv[0]);
    }
    /* First of all: run only from a sealed copy of ourselves (CVE-2019-5736). */
    if (sealed_reexec(argv) < 0) {
        report_init();
        report_failure();
        return failure_code();
    }
    report_init();
    if (argc < 2)
        return usage();
    if (strcmp(argv[1], "run") == 0) {
        struct run_options o;
        if (parse_run(argc - 1, argv + 1, &o) < 0)
            return usage();
        return cmd_run(&o);
    }
    if (strcmp(argv[1], "exec") == 0) {
        struct exec_options o;
        if (parse_exec(argc - 1, argv + 1, &o) < 0)
            return usage();
        return cmd_exec(&o);
    }
    return usage();
}
