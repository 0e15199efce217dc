/*
 * helper.h: the types and functions shared by the files of tscontainer-helper.
 *
 * One file, one job:
 *   main.c     argument parsing and dispatch to `run` / `exec`
 *   sealed.c   re-execute ourselves from a sealed memfd (CVE-2019-5736)
 *   report.c   failures, the fd 3 report pipe, JSON string escaping, timestamps
 *   config.c   read config.json (OCI runtime spec subset) and `process` objects
 *   run.c      the `run` parent: pipes, clone, go, started, then hand over to the monitor
 *   child.c    the container's init between clone and execve
 *   mounts.c   rootfs, mounts, devices, pivot_root, masked and read-only paths
 *   caps.c     capability names, bounding set, capset, ambient set
 *   seccomp.c  the system call filter: linux.seccomp compiled with libseccomp, installed last
 *   process.c  what run and exec share in the child: rlimits, cwd, user, caps, execve
 *   user.c     user names: the container's /etc/passwd and /etc/group, as runc reads them
 *   monitor.c  relay stdio, JSON-lines log, forward signals, reap, exit.json
 *   pty.c      pseudo-terminals: open, raw mode, window size, passing the master fd
 *   exec.c     `exec`: join a running container's cgroups and namespaces, fork, exec
 *   init.c     --init (a pid 1 that reaps and forwards signals) and linux.sysctl
 */
#ifndef TSC_HELPER_H
#define TSC_HELPER_H

#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <termios.h>
#include <sys/ioctl.h>

/* Exit codes, as docker uses them for a container that never started. */
#define EXIT_OWN_FAILURE 125 /* the helper itself failed */
#define EXIT_CANNOT_EXEC 126 /* found, but not executable */
#define EXIT_NOT_FOUND 127   /* no such executable */

/* ---- config.c ---------------------------------------------------------- */

enum cap_set { CAP_BOUNDING, CAP_EFFECTIVE, CAP_INHERITABLE, CAP_PERMITTED, CAP_AMBIENT, CAP_NSETS };

struct rlimit_entry {
    int resource;
    const char *name;
    uint64_t soft, hard;
};

/* linux.seccomp, as read from config.json (seccomp.c compiles it) */
struct seccomp_arg_spec {
    unsigned index;             /* which argument, 0-5 */
    uint64_t value, value_two;  /* compared with op; value_two only for SCMP_CMP_MASKED_EQ */
    int op;                     /* enum scmp_compare */
};

struct seccomp_rule_spec {
    const char **names;
    size_t n_names;
    uint32_t action;            /* SCMP_ACT_* with its errno folded in */
    struct seccomp_arg_spec *args;
    size_t n_args;
};

struct seccomp_spec {
    bool present;               /* false: no filter at all (seccomp=unconfined) */
    uint32_t default_action;
    const char **arches;
    size_t n_arches;
    struct seccomp_rule_spec *rules;
    size_t n_rules;
    const char *source;         /* the JSON text it was read from: the cache's key */
};

/* The compiled filter: BPF instructions, ready for one seccomp(2) call. */
struct seccomp_program {
    bool ready;
    unsigned short len;
    void *filter;               /* struct sock_filter[len] */
    /* for --trace only: what the filter is, and how we got it */
    uint32_t default_action;
    size_t n_rules, n_names;    /* the profile's rules and the syscall names they list */
    bool from_cache;            /* read from --seccomp-cache, not compiled */
    long long compile_us;
};

struct process_spec {
    bool terminal;
    uid_t uid;
    gid_t gid;
    gid_t *additional_gids;
    size_t n_additional_gids;
    const char **args; /* NULL-terminated */
    const char **env;  /* NULL-terminated */
    const char *cwd;
    bool has_caps;              /* false: leave capabilities alone */
    uint64_t caps[CAP_NSETS];   /* one bit per capability number */
    struct rlimit_entry *rlimits;
    size_t n_rlimits;
    bool no_new_privileges;
    bool has_oom_score_adj;
    int oom_score_adj;     /* process.oomScoreAdj: -1000..1000 */
    const char *user_spec; /* annotation org.tscontainer.user: resolve in the container */
    struct seccomp_spec seccomp;    /* linux.seccomp (run) or our `seccomp` member (exec) */
    struct seccomp_program filter;  /* compiled from it before the last steps */
};

struct mount_entry {
    const char *destination, *type, *source;
    const char **options;
    size_t n_options;
};

struct ns_entry {
    int flag;         /* CLONE_NEW* */
    const char *type; /* "pid", "network", ... */
    const char *path; /* NULL: a new namespace; else setns into this one */
};

struct device_entry {
    const char *path;
    mode_t type; /* S_IFCHR, S_IFBLK or S_IFIFO */
    unsigned int major, minor;
    mode_t mode;
    uid_t uid;
    gid_t gid;
};

struct container_spec {
    struct process_spec process;
    char root_path[PATH_MAX]; /* absolute */
    bool root_readonly;
    const char *hostname;
    struct mount_entry *mounts;
    size_t n_mounts;
    struct ns_entry *namespaces;
    size_t n_namespaces;
    struct device_entry *devices;
    size_t n_devices;
    const char **masked_paths;
    size_t n_masked_paths;
    const char **readonly_paths;
    size_t n_readonly_paths;
    unsigned long rootfs_propagation; /* MS_PRIVATE|MS_REC unless linux.rootfsPropagation */
    const char **sysctl_keys, **sysctl_values; /* linux.sysctl */
    size_t n_sysctls;
    bool init; /* annotation org.tscontainer.init: pid 1 is our init (init.c), the process pid 2 */
    const char *rootfs_type, *rootfs_source, *rootfs_data, *rootfs_cwd; /* annotations */
    bool userns;                      /* a "user" entry in linux.namespaces: CLONE_NEWUSER */
    char uid_map[256], gid_map[256];  /* linux.uidMappings / gidMappings as /proc/PID/uid_map text */
    int rootfs_fd;                    /* userns: the detached rootfs mount the parent made, else -1 */
};

int config_load(const char *bundle, struct container_spec *spec);
int process_load(const char *file, struct process_spec *proc);
/* the new namespaces to create with clone (those listed without a path) */
int spec_clone_flags(const struct container_spec *spec);

/* ---- report.c ---------------------------------------------------------- */

/* Record a failure (exit code + one sentence); always returns -1. */
int fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int failure_code(void);
const char *failure_message(void);
/* Replace the recorded failure with one received from a child. */
void failure_set(int code, const char *message);

void report_init(void);       /* are fd 3 and fd 4 open? (call first thing) */
int report_control_fd(void);  /* 4, or -1 without a control pipe */
void report_control_close(void);
void report_pid(pid_t pid);
void report_started(void);
void report_failure(void);    /* the recorded failure, on fd 3 or else stderr */
void report_close(void);
/* --trace: one {"type":"trace"} line on fd 3 per step taken; nothing without the flag */
extern bool trace_on;
void trace(const char *step, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* the same, for a step that measured its own duration (dur_us) */
void trace_took(long long dur_us, const char *step, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
long long trace_now_us(void);
const char *trace_ns_flags(int flags);

struct strbuf {
    char *data;
    size_t len, cap;
};
void sb_add(struct strbuf *sb, const char *data, size_t n);
void sb_addstr(struct strbuf *sb, const char *s);
void sb_add_json_string(struct strbuf *sb, const char *data, size_t n);
/* RFC 3339 UTC with nanoseconds; trim drops trailing zeros as Go's RFC3339Nano does */
void format_time(char *buf, size_t len, const struct timespec *ts, bool trim);
int write_all(int fd, const void *data, size_t n);

/* ---- sealed.c ---------------------------------------------------------- */

int sealed_reexec(char **argv);

/* ---- run.c / exec.c ---------------------------------------------------- */

struct run_options {
    const char *bundle, *state, *log, *oom_file;
    bool detach, tty, stdin;
    const char *exit_command; /* run after exit.json is written (as conmon's --exit-command) */
    const char **exit_args;   /* its arguments after argv[0]; NULL-terminated */
    size_t n_exit_args;
};
int cmd_run(const struct run_options *opt);

struct exec_options {
    pid_t pid;
    bool check_pid_start;         /* --pid-start given: */
    unsigned long long pid_start; /* field 22 of /proc/PID/stat must equal this */
    const char *process, *state;
    bool tty, stdin;
    const char **cgroup_procs;
    size_t n_cgroup_procs;
};
int cmd_exec(const struct exec_options *opt);

/* ---- child.c ----------------------------------------------------------- */

struct child_args {
    struct container_spec *spec;
    int go_fd;      /* read end of the sync pipe: "g" means go, EOF means give up */
    int err_fd;     /* write end of the CLOEXEC error pipe */
    int console_fd; /* socket for the pty master with --tty, else -1 */
    int stdio[3];   /* what becomes fd 0, 1, 2 (without --tty) */
    int userns_fd;  /* userns: socket on which the parent sends the rootfs once the maps exist */
    int close_fds[8]; /* the parent's ends, closed first thing */
    size_t n_close_fds;
    bool have_winsize;
    struct winsize winsize;
    sigset_t sigmask; /* restored just before execve */
};
int child_main(void *arg);
/* Send the recorded failure over the error pipe and exit with its code. */
void child_die(int err_fd) __attribute__((noreturn));
/* The parent's side: EOF on the error pipe means execve succeeded (0); a "CODE message"
 * from child_die is recorded with failure_set (-1). Closes the pipe. */
int read_child_failure(int err_r);

/* ---- userns.c ---------------------------------------------------------- */

/* Parent: write the child's uid_map/gid_map, build its rootfs on idmapped layers, send it. */
int userns_prepare(pid_t child, const struct container_spec *spec, int sock);
/* Child: wait for the parent's rootfs (its arrival means the maps exist), become root of the
 * user namespace. */
int userns_enter(int sock, struct container_spec *spec);

/* ---- mounts.c ---------------------------------------------------------- */

struct console {
    bool wanted;
    int master, slave; /* filled in by mounts_setup when wanted */
};
/* *proc_sys: an O_PATH fd on /proc/sys opened before it is made read-only (for linux.sysctl,
   written after "go" once the network is attached), or -1 */
int mounts_setup(const struct container_spec *spec, struct console *console, int *proc_sys);

/* ---- init.c ------------------------------------------------------------ */

/* linux.sysctl through the fd mounts_setup kept */
int sysctls_apply(const struct container_spec *spec, int proc_sys);
/* --init: fork the process (which execs) and stay as pid 1: reap, forward, exit as it did */
void init_run(struct process_spec *proc, const sigset_t *exec_mask, int err_fd) __attribute__((noreturn));
/* main.c: overwrite our command line, as ps inside the container shows it */
void set_process_title(const char *title);

/* ---- caps.c ------------------------------------------------------------ */

int cap_from_name(const char *name); /* -1 if unknown */
int caps_drop_bounding(uint64_t keep);
int caps_apply(const uint64_t caps[CAP_NSETS]);

/* ---- seccomp.c --------------------------------------------------------- */

int seccomp_action_from_name(const char *name, bool has_errno, unsigned errno_ret, uint32_t *out);
int seccomp_op_from_name(const char *name, int *out);
/* --seccomp-cache DIR: compiled filters are kept there, keyed by their JSON text */
void seccomp_set_cache_dir(const char *dir);
int seccomp_compile(const struct seccomp_spec *s, struct seccomp_program *out);
int seccomp_install(const struct seccomp_program *p);

/* ---- process.c --------------------------------------------------------- */

/* rlimits, cwd, user, caps, nnp; the seccomp filter too when no_new_privs is not asked for */
int process_setup(struct process_spec *proc);
/* the filter (after no_new_privs, when asked for), then execve; returns only on failure */
int process_exec(const struct process_spec *proc);

/* ---- user.c ------------------------------------------------------------ */

/* uid, gid, groups and HOME from p->user_spec and the container's /etc/passwd, /etc/group */
int user_resolve(struct process_spec *p);

/* ---- monitor.c --------------------------------------------------------- */

struct monitor {
    pid_t pid;       /* the process whose exit ends the monitor */
    int sigfd;       /* signalfd for the blocked signals */
    int stdin_dst;   /* container stdin (pipe write end or pty master), -1: none */
    int out_src;     /* container stdout (pipe read end or pty master) */
    int err_src;     /* container stderr pipe, -1 with a pty */
    bool tty;
    bool to_stdio;   /* copy output to our own stdout / stderr */
    int log_fd;      /* JSON-lines log, -1: none */
    int listen_fd;   /* attach socket (detached run), -1: none */
    bool stdin_from_clients; /* stdin_dst is fed by attach clients, not by our fd 0 */
};
/* the attach socket in the state dir; -1 (and a recorded failure) if it cannot be made */
int attach_listen(const char *state_dir);
sigset_t monitor_signals(void);
int monitor_run(struct monitor *m); /* returns the wait status of m->pid */
int exit_code_of(int status);
int write_exit_record(const char *state_dir, pid_t pid, int status, const char *oom_file);
/* fork + exec the exit command in its own session with stdio on /dev/null; never waits */
void run_exit_command(const char *path, const char **args, size_t n_args);

/* ---- pty.c ------------------------------------------------------------- */

int pty_open(int ptmx, int *master, int *slave);
int pty_make_controlling(int slave); /* setsid is done; make it our ctty and fds 0,1,2 */
int pty_raw_mode(int fd, struct termios *saved);
void pty_restore_mode(int fd, const struct termios *saved);
void pty_copy_winsize(int from, int to);
int pty_send_fd(int sock, int fd);
int pty_recv_fd(int sock); /* -1 on EOF */

#endif
