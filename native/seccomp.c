/*
 * seccomp.c: the container's system call filter (the OCI spec's `linux.seccomp`).
 *
 * A seccomp filter is a small BPF program the kernel runs on every system call the process
 * (and every descendant) makes: it looks at the call's number, architecture and arguments
 * and answers ALLOW, ERRNO(n), KILL, TRAP, LOG... We build it with libseccomp, which turns a
 * list of "syscall name + conditions -> action" rules into that program for every
 * architecture listed (x86_64 with its 32-bit x86 and x32 ABIs: a 64-bit process can still
 * make 32-bit calls with `int 0x80`, so those tables need rules too).
 *
 * Two phases, so that the cost is off the start-up's critical path:
 *   seccomp_compile  while the caller joins the cgroups (the child's set-up phase, or the
 *                    exec helper before it forks): rules -> BPF instructions, kept in memory.
 *                    Compiling docker's profile for three ABIs takes libseccomp 15-25 ms here,
 *                    so the result is kept in --seccomp-cache DIR (as crun keeps one): the
 *                    next container with the same rules reads ~10 KB instead.
 *   seccomp_install  one seccomp(2) call, as late as possible before execve (runc's order):
 *                    right after no_new_privs when it is requested, else earlier, while we
 *                    still hold CAP_SYS_ADMIN (without no_new_privs the kernel only lets a
 *                    process with CAP_SYS_ADMIN install a filter).
 */
#include "helper.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* ---- names ------------------------------------------------------------------------------ */

int seccomp_action_from_name(const char *name, bool has_errno, unsigned errno_ret, uint32_t *out)
{
    /* SCMP_ACT_ERRNO's return value defaults to EPERM, as runc's does */
    unsigned ret = has_errno ? errno_ret : EPERM;
    if (strcmp(name, "SCMP_ACT_ALLOW") == 0)
        *out = SCMP_ACT_ALLOW; /* run the call */
    else if (strcmp(name, "SCMP_ACT_ERRNO") == 0)
        *out = SCMP_ACT_ERRNO(ret); /* do not run it; the call returns -1 with errno = ret */
    else if (strcmp(name, "SCMP_ACT_KILL") == 0 || strcmp(name, "SCMP_ACT_KILL_THREAD") == 0)
        *out = SCMP_ACT_KILL; /* kill the calling thread with SIGSYS */
    else if (strcmp(name, "SCMP_ACT_KILL_PROCESS") == 0)
        *out = SCMP_ACT_KILL_PROCESS; /* kill the whole process (Linux 4.14) */
    else if (strcmp(name, "SCMP_ACT_TRAP") == 0)
        *out = SCMP_ACT_TRAP; /* deliver SIGSYS, which the process may handle */
    else if (strcmp(name, "SCMP_ACT_LOG") == 0)
        *out = SCMP_ACT_LOG; /* run it, and log it to the audit log */
    else if (strcmp(name, "SCMP_ACT_TRACE") == 0)
        *out = SCMP_ACT_TRACE(ret); /* stop for a ptrace tracer (ENOSYS if there is none) */
    else
        return -1; /* SCMP_ACT_NOTIFY needs a listener process: not supported */
    return 0;
}

int seccomp_op_from_name(const char *name, int *out)
{
    static const struct { const char *name; enum scmp_compare op; } ops[] = {
        {"SCMP_CMP_NE", SCMP_CMP_NE}, {"SCMP_CMP_LT", SCMP_CMP_LT},
        {"SCMP_CMP_LE", SCMP_CMP_LE}, {"SCMP_CMP_EQ", SCMP_CMP_EQ},
        {"SCMP_CMP_GE", SCMP_CMP_GE}, {"SCMP_CMP_GT", SCMP_CMP_GT},
        /* (arg & value) == valueTwo: how docker tests clone's namespace flags */
        {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ},
    };
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (strcmp(name, ops[i].name) == 0) {
            *out = (int)ops[i].op;
            return 0;
        }
    return -1;
}

/* SCMP_ACT_* -> its name, for --trace ("SCMP_ACT_ERRNO(1)": the errno it returns). */
static const char *action_name(uint32_t a)
{
    static char buf[32];
    uint32_t kind = a & 0xffff0000U, data = a & 0xffffU; /* SECCOMP_RET_ACTION_FULL, RET_DATA */
    if (a == SCMP_ACT_ALLOW) return "SCMP_ACT_ALLOW";
    if (a == SCMP_ACT_KILL) return "SCMP_ACT_KILL";
    if (a == SCMP_ACT_KILL_PROCESS) return "SCMP_ACT_KILL_PROCESS";
    if (a == SCMP_ACT_TRAP) return "SCMP_ACT_TRAP";
    if (a == SCMP_ACT_LOG) return "SCMP_ACT_LOG";
    if (kind == SCMP_ACT_ERRNO(0)) snprintf(buf, sizeof buf, "SCMP_ACT_ERRNO(%u)", data);
    else if (kind == SCMP_ACT_TRACE(0)) snprintf(buf, sizeof buf, "SCMP_ACT_TRACE(%u)", data);
    else snprintf(buf, sizeof buf, "%#x", a);
    return buf;
}

/* "SCMP_ARCH_X86_64" -> libseccomp's token for it (x86_64); 0 if unknown. */
static uint32_t arch_token(const char *name)
{
    char lower[32];
    const char *p = strncmp(name, "SCMP_ARCH_", 10) == 0 ? name + 10 : name;
    size_t n = strlen(p);
    if (n == 0 || n >= sizeof lower)
        return 0;
    for (size_t i = 0; i <= n; i++)
        lower[i] = (char)(p[i] >= 'A' && p[i] <= 'Z' ? p[i] - 'A' + 'a' : p[i]);
    return seccomp_arch_resolve_name(lower);
}

/* ---- the cache -------------------------------------------------------------------------- */

/*
 * One file per filter: DIR/<FNV-1a hash of the key>.bpf holding
 *   "TSCBPF1\n", the key's length (8 bytes), the instruction count (4 bytes), the key, the
 *   instructions. The key is libseccomp's version and the rules' JSON text.
 * The text is compared byte for byte on reading, so a hash collision can only cost a
 * recompile, never the wrong filter. The directory is the caller's (root's, 0700); a file
 * that is not root's or that others may write is ignored.
 */
static const char *cache_dir;
static const char cache_magic[8] = {'T', 'S', 'C', 'B', 'P', 'F', '1', '\n'};

void seccomp_set_cache_dir(const char *dir)
{
    cache_dir = dir;
}

static void cache_path(char *buf, size_t len, const char *key)
{
    uint64_t h = 14695981039346656037ULL; /* FNV-1a 64: a file name, not a security check */
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    snprintf(buf, len, "%s/%016llx.bpf", cache_dir, (unsigned long long)h);
}

static bool cache_read(const char *path, const char *source, struct seccomp_program *out)
{
    /* O_NOFOLLOW: the file itself, never a link planted in its place */
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return false;
    struct stat st;
    uint64_t text_len = 0;
    uint32_t n = 0;
    size_t src_len = strlen(source);
    char head[20];
    bool ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == 0 &&
              !(st.st_mode & 022) && pread(fd, head, sizeof head, 0) == (ssize_t)sizeof head &&
              memcmp(head, cache_magic, 8) == 0;
    if (ok) {
        memcpy(&text_len, head + 8, 8);
        memcpy(&n, head + 16, 4);
        ok = text_len == src_len && n > 0 && n <= BPF_MAXINSNS &&
             (uint64_t)st.st_size == sizeof head + text_len + (uint64_t)n * sizeof(struct sock_filter);
    }
    char *buf = ok ? malloc((size_t)st.st_size) : NULL;
    void *insns = ok ? malloc((size_t)n * sizeof(struct sock_filter)) : NULL;
    ok = buf && insns && pread(fd, buf, (size_t)st.st_size, 0) == st.st_size &&
         memcmp(buf + sizeof head, source, src_len) == 0;
    close(fd);
    if (ok) /* into a buffer of its own: the instructions must be aligned */
        memcpy(insns, buf + sizeof head + src_len, (size_t)n * sizeof(struct sock_filter));
    free(buf);
    if (!ok) {
        free(insns);
        unlink(path); /* damaged or stale: make room for the one compiled now */
        return false;
    }
    out->filter = insns; /* kept for the life of the process */
    out->len = (unsigned short)n;
    out->ready = true;
    return true;
}

/* Best effort: a cache that cannot be written only means compiling again next time. */
static void cache_write(const char *path, const char *source, const struct seccomp_program *p)
{
    /* O_TMPFILE: a file without a name until it is whole; linkat then gives it one, or fails
       with EEXIST when another container wrote it first. A crash leaves nothing behind. */
    int fd = open(cache_dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    uint64_t text_len = strlen(source);
    uint32_t n = p->len;
    char head[20];
    memcpy(head, cache_magic, 8);
    memcpy(head + 8, &text_len, 8);
    memcpy(head + 16, &n, 4);
    if (write_all(fd, head, sizeof head) == 0 && write_all(fd, source, text_len) == 0 &&
        write_all(fd, p->filter, (size_t)n * sizeof(struct sock_filter)) == 0)
        linkat(fd, "", AT_FDCWD, path, AT_EMPTY_PATH); /* needs CAP_DAC_READ_SEARCH: we are root */
    close(fd);
}

/* ---- compile ---------------------------------------------------------------------------- */

/* Two conditions on the same argument would be ANDed by libseccomp; the OCI meaning (runc's)
   is then "any of them": one rule per condition. */
static bool repeats_an_index(const struct seccomp_rule_spec *r)
{
    for (size_t i = 0; i < r->n_args; i++)
        for (size_t j = i + 1; j < r->n_args; j++)
            if (r->args[i].index == r->args[j].index)
                return true;
    return false;
}

static int add_rule(scmp_filter_ctx ctx, const struct seccomp_rule_spec *r, int nr, const char *name)
{
    struct scmp_arg_cmp cmp[6];
    for (size_t i = 0; i < r->n_args && i < 6; i++)
        cmp[i] = (struct scmp_arg_cmp){.arg = r->args[i].index,
                                       .op = (enum scmp_compare)r->args[i].op,
                                       .datum_a = r->args[i].value,
                                       .datum_b = r->args[i].value_two};
    int rc = 0;
    if (!repeats_an_index(r)) {
        rc = seccomp_rule_add_array(ctx, r->action, nr, (unsigned)r->n_args, cmp);
    } else {
        for (size_t i = 0; i < r->n_args && rc == 0; i++)
            rc = seccomp_rule_add_array(ctx, r->action, nr, 1, &cmp[i]);
    }
    if (rc < 0)
        return fail(EXIT_OWN_FAILURE, "seccomp: add the rule for %s: %s", name, strerror(-rc));
    return 0;
}

/*
 * Turn the rules into BPF. libseccomp can only write its program to a file descriptor, so
 * it goes through a memfd and is read back into memory (no file on disk, no extra process).
 */
static int compile(const struct seccomp_spec *s, struct seccomp_program *out);

/* Compile (or read from the cache), and say which with --trace, with how long it took. */
int seccomp_compile(const struct seccomp_spec *s, struct seccomp_program *out)
{
    memset(out, 0, sizeof *out);
    if (!s->present)
        return 0; /* seccomp=unconfined: no filter, nothing to say */
    long long t0 = trace_on ? trace_now_us() : 0;
    if (compile(s, out) < 0)
        return -1;
    out->default_action = s->default_action;
    out->n_rules = s->n_rules;
    for (size_t i = 0; i < s->n_rules; i++)
        out->n_names += s->rules[i].n_names;
    if (trace_on) {
        out->compile_us = trace_now_us() - t0;
        trace_took(out->compile_us, "seccomp compile", "default %s, %zu rules (%zu syscall names), %s: %u BPF instructions",
                   action_name(out->default_action), out->n_rules, out->n_names,
                   out->from_cache ? "read from the cache" : "compiled by libseccomp", (unsigned)out->len);
    }
    return 0;
}

static int compile(const struct seccomp_spec *s, struct seccomp_program *out)
{
    /* The cache key: the rules and the libseccomp that compiles them (a newer one may know
       more syscall names, and so make another program of the same rules). */
    char path[PATH_MAX] = "";
    char *key = NULL;
    if (cache_dir && s->source) {
        const struct scmp_version *v = seccomp_version();
        if (asprintf(&key, "libseccomp %u.%u.%u\n%s", v->major, v->minor, v->micro, s->source) < 0)
            key = NULL;
    }
    if (key) {
        cache_path(path, sizeof path, key);
        if (cache_read(path, key, out)) {
            out->from_cache = true;
            free(key);
            return 0;
        }
    }
    scmp_filter_ctx ctx = seccomp_init(s->default_action);
    if (!ctx)
        return fail(EXIT_OWN_FAILURE, "seccomp: cannot create a filter with this default action");
    /* We install the filter ourselves: libseccomp must not set no_new_privs on its own
       (that is the profile's and the user's choice, process.noNewPrivileges). */
    seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
    /* a binary tree of syscall numbers: ~9 comparisons per call instead of a walk past
       hundreds (the filter runs on every system call of the container) */
    seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);

    for (size_t i = 0; i < s->n_arches; i++) {
        uint32_t arch = arch_token(s->arches[i]);
        if (arch == 0) {
            seccomp_release(ctx);
            return fail(EXIT_OWN_FAILURE, "seccomp: unknown architecture \"%s\"", s->arches[i]);
        }
        /* the native architecture is in every new filter already: EEXIST is fine */
        int rc = seccomp_arch_add(ctx, arch);
        if (rc < 0 && rc != -EEXIST) {
            seccomp_release(ctx);
            return fail(EXIT_OWN_FAILURE, "seccomp: add architecture %s: %s", s->arches[i], strerror(-rc));
        }
    }

    for (size_t i = 0; i < s->n_rules; i++) {
        const struct seccomp_rule_spec *r = &s->rules[i];
        if (r->action == s->default_action)
            continue; /* a rule that says what the default says adds nothing (libseccomp refuses it) */
        for (size_t k = 0; k < r->n_names; k++) {
            /* a name this kernel's tables do not know (another architecture's, a newer one)
               is skipped, as docker and runc skip it */
            int nr = seccomp_syscall_resolve_name(r->names[k]);
            if (nr == __NR_SCMP_ERROR)
                continue;
            if (add_rule(ctx, r, nr, r->names[k]) < 0) {
                seccomp_release(ctx);
                return -1;
            }
        }
    }

    int mfd = memfd_create("seccomp-bpf", MFD_CLOEXEC);
    if (mfd < 0) {
        seccomp_release(ctx);
        return fail(EXIT_OWN_FAILURE, "seccomp: memfd_create: %m");
    }
    int rc = seccomp_export_bpf(ctx, mfd);
    seccomp_release(ctx);
    off_t size = rc == 0 ? lseek(mfd, 0, SEEK_END) : -1;
    if (rc < 0 || size <= 0 || size % (off_t)sizeof(struct sock_filter) != 0) {
        close(mfd);
        return fail(EXIT_OWN_FAILURE, "seccomp: export the filter: %s", strerror(rc < 0 ? -rc : EINVAL));
    }
    out->filter = malloc((size_t)size);
    if (!out->filter || pread(mfd, out->filter, (size_t)size, 0) != size) {
        close(mfd);
        return fail(EXIT_OWN_FAILURE, "seccomp: read the filter back: %m");
    }
    close(mfd);
    out->len = (unsigned short)((size_t)size / sizeof(struct sock_filter));
    out->ready = true;
    if (key) {
        cache_write(path, key, out);
        free(key);
    }
    return 0;
}

/* ---- install ---------------------------------------------------------------------------- */

int seccomp_install(const struct seccomp_program *p)
{
    if (!p->ready)
        return 0;
    struct sock_fprog prog = {.len = p->len, .filter = p->filter};
    long long t0 = trace_on ? trace_now_us() : 0;
    /* seccomp(SECCOMP_SET_MODE_FILTER): from here on the kernel runs the program on each of
       our system calls, and on every descendant's; it can never be removed. */
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
        return fail(EXIT_OWN_FAILURE, "install the seccomp filter: %m");
    if (trace_on) {
        long long took = trace_now_us() - t0;
        /* prctl(PR_GET_NO_NEW_PRIVS): the kernel's own answer, not what the config asked for */
        int nnp = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
        trace_took(took, "seccomp",
                   "seccomp(SECCOMP_SET_MODE_FILTER, 0, {%u instructions}): default %s, %zu rules, %s in %.1f ms, "
                   "no_new_privs %d",
                   (unsigned)p->len, action_name(p->default_action), p->n_rules,
                   p->from_cache ? "read from the cache" : "compiled", (double)p->compile_us / 1000.0, nnp);
    }
    return 0;
}
