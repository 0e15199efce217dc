/*
 * config.c: read the subset of the OCI runtime spec that tscontainer writes into config.json,
 * and the OCI `process` object that `exec --process FILE` reads.
 *
 * json-c parses the file; the parsed tree is kept for the life of the process, so the spec
 * simply points at its strings. Every problem is reported as "config.json: <what>".
 */
#include "helper.h"

#include <errno.h>
#include <json-c/json.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>

static const char *doc_name = "config.json"; /* for error messages */

/* ---- small typed getters ------------------------------------------------ */

static struct json_object *member(struct json_object *obj, const char *key)
{
    struct json_object *v = NULL;
    if (!obj || !json_object_object_get_ex(obj, key, &v))
        return NULL;
    return v; /* NULL also for an explicit JSON null */
}

static int want(struct json_object *v, enum json_type type, const char *what)
{
    static const char *names[] = {
        [json_type_null] = "null", [json_type_boolean] = "a boolean",
        [json_type_double] = "a number", [json_type_int] = "an integer",
        [json_type_object] = "an object", [json_type_array] = "an array",
        [json_type_string] = "a string",
    };
    if (v && !json_object_is_type(v, type))
        return fail(EXIT_OWN_FAILURE, "%s: %s must be %s", doc_name, what, names[type]);
    return 0;
}

static int get_string(struct json_object *obj, const char *key, const char *what, const char **out)
{
    struct json_object *v = member(obj, key);
    if (want(v, json_type_string, what) < 0)
        return -1;
    if (v)
        *out = json_object_get_string(v);
    return 0;
}

static int get_bool(struct json_object *obj, const char *key, const char *what, bool *out)
{
    struct json_object *v = member(obj, key);
    if (want(v, json_type_boolean, what) < 0)
        return -1;
    if (v)
        *out = json_object_get_boolean(v);
    return 0;
}

static int get_uint(struct json_object *obj, const char *key, const char *what, uint64_t *out)
{
    struct json_object *v = member(obj, key);
    if (want(v, json_type_int, what) < 0)
        return -1;
    if (v) {
        if (json_object_get_int64(v) < 0 && json_object_get_uint64(v) == 0)
            return fail(EXIT_OWN_FAILURE, "%s: %s must not be negative", doc_name, what);
        *out = json_object_get_uint64(v);
    }
    return 0;
}

/* calloc that records a failure: the caller only has to return -1 on NULL. */
static void *zalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (!p)
        fail(EXIT_OWN_FAILURE, "%s: out of memory", doc_name);
    return p;
}

/*
 * An rlimit's soft or hard value. -1 means "unlimited" (docker's `--ulimit nofile=-1`, and
 * what Go's runtime-spec users write for RLIM_INFINITY), as does any value of 2^63 or more:
 * the kernel's RLIM_INFINITY is 2^64-1, and json-c gives numbers up to that as unsigned.
 */
static int get_rlimit_value(struct json_object *obj, const char *key, const char *what, uint64_t *out)
{
    struct json_object *v = member(obj, key);
    if (want(v, json_type_int, what) < 0)
        return -1;
    if (!v)
        return 0;
    int64_t signed_value = json_object_get_int64(v);
    uint64_t unsigned_value = json_object_get_uint64(v); /* 0 for a negative number */
    if (signed_value == -1 || unsigned_value >= (UINT64_C(1) << 63))
        *out = RLIM_INFINITY;
    else if (signed_value < 0)
        return fail(EXIT_OWN_FAILURE, "%s: %s must be -1 (unlimited) or a non-negative number",
                    doc_name, what);
    else
        *out = unsigned_value;
    return 0;
}

/* An array of strings as a NULL-terminated vector (n may be NULL). On failure nothing is
   left allocated and *out is untouched. */
static int get_strings(struct json_object *obj, const char *key, const char *what,
                       const char ***out, size_t *n)
{
    struct json_object *v = member(obj, key);
    if (want(v, json_type_array, what) < 0)
        return -1;
    size_t len = v ? json_object_array_length(v) : 0;
    const char **vec = zalloc(len + 1, sizeof *vec);
    if (!vec)
        return -1;
    for (size_t i = 0; i < len; i++) {
        struct json_object *s = json_object_array_get_idx(v, i);
        if (!json_object_is_type(s, json_type_string)) {
            free(vec);
            return fail(EXIT_OWN_FAILURE, "%s: %s[%zu] must be a string", doc_name, what, i);
        }
        vec[i] = json_object_get_string(s);
    }
    *out = vec;
    if (n)
        *n = len;
    return 0;
}

static struct json_object *parse_file(const char *path)
{
    struct json_object *root = json_object_from_file(path);
    if (!root) {
        fail(EXIT_OWN_FAILURE, "%s: cannot read %s: %s", doc_name, path, json_util_get_last_err());
        return NULL;
    }
    if (!json_object_is_type(root, json_type_object)) {
        fail(EXIT_OWN_FAILURE, "%s: the document must be a JSON object", doc_name);
        return NULL;
    }
    return root;
}

/* ---- linux.seccomp ------------------------------------------------------ */

/* An action name plus its optional errnoRet, as one libseccomp action value. */
static int get_action(struct json_object *obj, const char *key, const char *errno_key,
                      const char *what, uint32_t *out)
{
    const char *name = NULL;
    uint64_t ret = 0;
    struct json_object *has_errno = member(obj, errno_key);
    if (get_string(obj, key, what, &name) < 0 || get_uint(obj, errno_key, what, &ret) < 0)
        return -1;
    if (!name)
        return fail(EXIT_OWN_FAILURE, "%s: %s is missing", doc_name, what);
    if (seccomp_action_from_name(name, has_errno != NULL, (unsigned)ret, out) < 0)
        return fail(EXIT_OWN_FAILURE, "%s: unknown or unsupported seccomp action \"%s\"", doc_name, name);
    return 0;
}

static int parse_seccomp_args(struct json_object *sc, struct seccomp_rule_spec *r)
{
    struct json_object *list = member(sc, "args");
    if (want(list, json_type_array, "linux.seccomp.syscalls[].args") < 0)
        return -1;
    r->n_args = list ? json_object_array_length(list) : 0;
    if (r->n_args > 6)
        return fail(EXIT_OWN_FAILURE, "%s: a seccomp rule has at most 6 argument conditions", doc_name);
    if (!(r->args = zalloc(r->n_args + 1, sizeof *r->args)))
        return -1;
    for (size_t i = 0; i < r->n_args; i++) {
        struct json_object *a = json_object_array_get_idx(list, i);
        struct seccomp_arg_spec *e = &r->args[i];
        uint64_t index = 0;
        const char *op = NULL;
        if (want(a, json_type_object, "linux.seccomp.syscalls[].args[]") < 0 ||
            get_uint(a, "index", "linux.seccomp.syscalls[].args[].index", &index) < 0 ||
            get_uint(a, "value", "linux.seccomp.syscalls[].args[].value", &e->value) < 0 ||
            get_uint(a, "valueTwo", "linux.seccomp.syscalls[].args[].valueTwo", &e->value_two) < 0 ||
            get_string(a, "op", "linux.seccomp.syscalls[].args[].op", &op) < 0)
            return -1;
        if (index > 5)
            return fail(EXIT_OWN_FAILURE, "%s: seccomp argument index %llu is not 0-5", doc_name,
                        (unsigned long long)index);
        e->index = (unsigned)index;
        if (!op || seccomp_op_from_name(op, &e->op) < 0)
            return fail(EXIT_OWN_FAILURE, "%s: unknown seccomp operator \"%s\"", doc_name, op ? op : "");
    }
    return 0;
}

/* linux.seccomp (run) or the `seccomp` member of a process file (exec): same shape. */
static int parse_seccomp(struct json_object *sc, struct seccomp_spec *s)
{
    memset(s, 0, sizeof *s);
    if (want(sc, json_type_object, "linux.seccomp") < 0)
        return -1;
    if (!sc)
        return 0;
    s->present = true;
    s->source = json_object_to_json_string_ext(sc, JSON_C_TO_STRING_PLAIN);
    struct json_object *list = member(sc, "syscalls");
    if (get_action(sc, "defaultAction", "defaultErrnoRet", "linux.seccomp.defaultAction",
                   &s->default_action) < 0 ||
        get_strings(sc, "architectures", "linux.seccomp.architectures", &s->arches, &s->n_arches) < 0 ||
        want(list, json_type_array, "linux.seccomp.syscalls") < 0)
        return -1;
    struct json_object *flags = member(sc, "flags"), *listener = member(sc, "listenerPath");
    if ((flags && json_object_array_length(flags) > 0) || listener)
        return fail(EXIT_OWN_FAILURE, "%s: seccomp flags and listenerPath are not supported", doc_name);
    s->n_rules = list ? json_object_array_length(list) : 0;
    if (!(s->rules = zalloc(s->n_rules + 1, sizeof *s->rules)))
        return -1;
    for (size_t i = 0; i < s->n_rules; i++) {
        struct json_object *r = json_object_array_get_idx(list, i);
        struct seccomp_rule_spec *e = &s->rules[i];
        if (want(r, json_type_object, "linux.seccomp.syscalls[]") < 0 ||
            get_strings(r, "names", "linux.seccomp.syscalls[].names", &e->names, &e->n_names) < 0 ||
            get_action(r, "action", "errnoRet", "linux.seccomp.syscalls[].action", &e->action) < 0 ||
            parse_seccomp_args(r, e) < 0)
            return -1;
    }
    return 0;
}

/* ---- process ------------------------------------------------------------ */

static const struct { const char *name; int resource; } rlimit_names[] = {
    {"RLIMIT_CPU", RLIMIT_CPU},         {"RLIMIT_FSIZE", RLIMIT_FSIZE},
    {"RLIMIT_DATA", RLIMIT_DATA},       {"RLIMIT_STACK", RLIMIT_STACK},
    {"RLIMIT_CORE", RLIMIT_CORE},       {"RLIMIT_RSS", RLIMIT_RSS},
    {"RLIMIT_NPROC", RLIMIT_NPROC},     {"RLIMIT_NOFILE", RLIMIT_NOFILE},
    {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK}, {"RLIMIT_AS", RLIMIT_AS},
    {"RLIMIT_LOCKS", RLIMIT_LOCKS},     {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
    {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE}, {"RLIMIT_NICE", RLIMIT_NICE},
    {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},   {"RLIMIT_RTTIME", RLIMIT_RTTIME},
};

static int parse_rlimits(struct json_object *proc, struct process_spec *p)
{
    struct json_object *list = member(proc, "rlimits");
    if (want(list, json_type_array, "process.rlimits") < 0)
        return -1;
    p->n_rlimits = list ? json_object_array_length(list) : 0;
    if (!(p->rlimits = zalloc(p->n_rlimits + 1, sizeof *p->rlimits)))
        return -1;
    for (size_t i = 0; i < p->n_rlimits; i++) {
        struct json_object *r = json_object_array_get_idx(list, i);
        struct rlimit_entry *e = &p->rlimits[i];
        const char *type = NULL;
        if (want(r, json_type_object, "process.rlimits[]") < 0 ||
            get_string(r, "type", "process.rlimits[].type", &type) < 0 ||
            get_rlimit_value(r, "soft", "process.rlimits[].soft", &e->soft) < 0 ||
            get_rlimit_value(r, "hard", "process.rlimits[].hard", &e->hard) < 0)
            return -1;
        e->resource = -1;
        for (size_t k = 0; type && k < sizeof rlimit_names / sizeof rlimit_names[0]; k++)
            if (strcmp(type, rlimit_names[k].name) == 0)
                e->resource = rlimit_names[k].resource, e->name = rlimit_names[k].name;
        if (e->resource < 0)
            return fail(EXIT_OWN_FAILURE, "%s: unknown rlimit type \"%s\"", doc_name, type ? type : "");
    }
    return 0;
}

static int parse_caps(struct json_object *proc, struct process_spec *p)
{
    static const char *sets[CAP_NSETS] = {"bounding", "effective", "inheritable", "permitted", "ambient"};
    struct json_object *caps = member(proc, "capabilities");
    if (want(caps, json_type_object, "process.capabilities") < 0)
        return -1;
    if (!caps)
        return 0;
    p->has_caps = true;
    for (int s = 0; s < CAP_NSETS; s++) {
        const char **names;
        size_t n;
        char what[64];
        snprintf(what, sizeof what, "process.capabilities.%s", sets[s]);
        if (get_strings(caps, sets[s], what, &names, &n) < 0)
            return -1;
        for (size_t i = 0; i < n; i++) {
            int cap = cap_from_name(names[i]);
            if (cap < 0) {
                fail(EXIT_OWN_FAILURE, "%s: unknown capability \"%s\"", doc_name, names[i]);
                free(names);
                return -1;
            }
            p->caps[s] |= 1ULL << cap;
        }
        free(names);
    }
    return 0;
}

static int parse_user(struct json_object *proc, struct process_spec *p)
{
    struct json_object *user = member(proc, "user");
    uint64_t uid = 0, gid = 0;
    if (want(user, json_type_object, "process.user") < 0 ||
        get_uint(user, "uid", "process.user.uid", &uid) < 0 ||
        get_uint(user, "gid", "process.user.gid", &gid) < 0)
        return -1;
    p->uid = (uid_t)uid;
    p->gid = (gid_t)gid;

    struct json_object *groups = member(user, "additionalGids");
    if (want(groups, json_type_array, "process.user.additionalGids") < 0)
        return -1;
    p->n_additional_gids = groups ? json_object_array_length(groups) : 0;
    if (!(p->additional_gids = zalloc(p->n_additional_gids + 1, sizeof(gid_t))))
        return -1;
    for (size_t i = 0; i < p->n_additional_gids; i++) {
        struct json_object *g = json_object_array_get_idx(groups, i);
        if (want(g, json_type_int, "process.user.additionalGids[]") < 0)
            return -1;
        p->additional_gids[i] = (gid_t)json_object_get_int64(g);
    }
    return 0;
}

static int parse_oom_score_adj(struct json_object *proc, struct process_spec *p)
{
    struct json_object *v = member(proc, "oomScoreAdj");
    if (want(v, json_type_int, "process.oomScoreAdj") < 0)
        return -1;
    if (!v)
        return 0;
    int64_t adj = json_object_get_int64(v);
    if (adj < -1000 || adj > 1000)
        return fail(EXIT_OWN_FAILURE, "%s: process.oomScoreAdj must be from -1000 to 1000", doc_name);
    p->has_oom_score_adj = true;
    p->oom_score_adj = (int)adj;
    return 0;
}

static int parse_process(struct json_object *proc, struct process_spec *p)
{
    memset(p, 0, sizeof *p);
    p->cwd = "/";
    if (!proc)
        return fail(EXIT_OWN_FAILURE, "%s: process is missing", doc_name);
    if (want(proc, json_type_object, "process") < 0 ||
        get_bool(proc, "terminal", "process.terminal", &p->terminal) < 0 ||
        get_strings(proc, "args", "process.args", &p->args, NULL) < 0 ||
        get_strings(proc, "env", "process.env", &p->env, NULL) < 0 ||
        get_string(proc, "cwd", "process.cwd", &p->cwd) < 0 ||
        get_bool(proc, "noNewPrivileges", "process.noNewPrivileges", &p->no_new_privileges) < 0 ||
        parse_oom_score_adj(proc, p) < 0 ||
        parse_user(proc, p) < 0 || parse_caps(proc, p) < 0 || parse_rlimits(proc, p) < 0)
        return -1;
    if (!p->args[0])
        return fail(EXIT_OWN_FAILURE, "%s: process.args must not be empty", doc_name);
    if (p->cwd[0] != '/')
        return fail(EXIT_OWN_FAILURE, "%s: process.cwd must be an absolute path, not \"%s\"",
                    doc_name, p->cwd);
    return 0;
}

int process_load(const char *file, struct process_spec *proc)
{
    doc_name = "process.json";
    struct json_object *root = parse_file(file);
    if (!root || parse_process(root, proc) < 0)
        return -1;
    /* A process object has no annotations of its own; ours may carry the same one as
       config.json, the user spec to resolve inside the container. */
    struct json_object *a = member(root, "annotations");
    if (want(a, json_type_object, "annotations") < 0 ||
        get_string(a, "org.tscontainer.user", "the user annotation", &proc->user_spec) < 0)
        return -1;
    /* Nor has it a filter: ours carries the container's linux.seccomp as `seccomp`. */
    return parse_seccomp(member(root, "seccomp"), &proc->seccomp);
}

/* ---- linux -------------------------------------------------------------- */

static const struct { const char *type; int flag; } ns_names[] = {
    {"pid", CLONE_NEWPID}, {"network", CLONE_NEWNET}, {"mount", CLONE_NEWNS},
    {"ipc", CLONE_NEWIPC}, {"uts", CLONE_NEWUTS},     {"cgroup", CLONE_NEWCGROUP},
    {"user", CLONE_NEWUSER},
};

static int parse_namespaces(struct json_object *lx, struct container_spec *s)
{
    struct json_object *list = member(lx, "namespaces");
    if (want(list, json_type_array, "linux.namespaces") < 0)
        return -1;
    s->n_namespaces = list ? json_object_array_length(list) : 0;
    if (!(s->namespaces = zalloc(s->n_namespaces + 1, sizeof *s->namespaces)))
        return -1;
    for (size_t i = 0; i < s->n_namespaces; i++) {
        struct json_object *n = json_object_array_get_idx(list, i);
        struct ns_entry *e = &s->namespaces[i];
        if (want(n, json_type_object, "linux.namespaces[]") < 0 ||
            get_string(n, "type", "linux.namespaces[].type", &e->type) < 0 ||
            get_string(n, "path", "linux.namespaces[].path", &e->path) < 0)
            return -1;
        if (e->path && !e->path[0])
            e->path = NULL;
        for (size_t k = 0; e->type && k < sizeof ns_names / sizeof ns_names[0]; k++)
            if (strcmp(e->type, ns_names[k].type) == 0)
                e->flag = ns_names[k].flag;
        if (e->flag == CLONE_NEWUSER && e->path)
            return fail(EXIT_OWN_FAILURE, "%s: joining a user namespace by path is not supported", doc_name);
        if (e->flag == CLONE_NEWUSER)
            s->userns = true;
        if (!e->flag)
            return fail(EXIT_OWN_FAILURE, "%s: unknown namespace type \"%s\"", doc_name,
                        e->type ? e->type : "");
    }
    return 0;
}

/* linux.uidMappings / gidMappings -> the text of /proc/PID/uid_map ("0 100000 65536\n"). */
static int parse_id_map(struct json_object *lx, const char *key, char *out, size_t len)
{
    struct json_object *list = member(lx, key);
    out[0] = '\0';
    if (want(list, json_type_array, key) < 0)
        return -1;
    size_t n = list ? json_object_array_length(list) : 0, used = 0;
    if (n > 5) /* the kernel takes up to 340 lines; we never write more than a few */
        return fail(EXIT_OWN_FAILURE, "%s: more than 5 entries in linux.%s", doc_name, key);
    for (size_t i = 0; i < n; i++) {
        struct json_object *m = json_object_array_get_idx(list, i);
        uint64_t c = 0, h = 0, sz = 0;
        if (want(m, json_type_object, key) < 0 || get_uint(m, "containerID", key, &c) < 0 ||
            get_uint(m, "hostID", key, &h) < 0 || get_uint(m, "size", key, &sz) < 0)
            return -1;
        if (sz == 0 || c > UINT32_MAX || h > UINT32_MAX || sz > UINT32_MAX)
            return fail(EXIT_OWN_FAILURE, "%s: invalid entry in linux.%s", doc_name, key);
        used += (size_t)snprintf(out + used, len - used, "%llu %llu %llu\n", (unsigned long long)c,
                                 (unsigned long long)h, (unsigned long long)sz);
    }
    return 0;
}

static int parse_devices(struct json_object *lx, struct container_spec *s)
{
    struct json_object *list = member(lx, "devices");
    if (want(list, json_type_array, "linux.devices") < 0)
        return -1;
    s->n_devices = list ? json_object_array_length(list) : 0;
    if (!(s->devices = zalloc(s->n_devices + 1, sizeof *s->devices)))
        return -1;
    for (size_t i = 0; i < s->n_devices; i++) {
        struct json_object *d = json_object_array_get_idx(list, i);
        struct device_entry *e = &s->devices[i];
        const char *type = NULL;
        uint64_t major = 0, minor = 0, mode = 0666, uid = 0, gid = 0;
        if (want(d, json_type_object, "linux.devices[]") < 0 ||
            get_string(d, "path", "linux.devices[].path", &e->path) < 0 ||
            get_string(d, "type", "linux.devices[].type", &type) < 0 ||
            get_uint(d, "major", "linux.devices[].major", &major) < 0 ||
            get_uint(d, "minor", "linux.devices[].minor", &minor) < 0 ||
            get_uint(d, "fileMode", "linux.devices[].fileMode", &mode) < 0 ||
            get_uint(d, "uid", "linux.devices[].uid", &uid) < 0 ||
            get_uint(d, "gid", "linux.devices[].gid", &gid) < 0)
            return -1;
        if (!e->path || e->path[0] != '/')
            return fail(EXIT_OWN_FAILURE, "%s: linux.devices[%zu].path must be absolute", doc_name, i);
        if (!type || strlen(type) != 1 || !strchr("cubp", type[0]))
            return fail(EXIT_OWN_FAILURE, "%s: device %s: type must be c, u, b or p", doc_name, e->path);
        e->type = type[0] == 'b' ? S_IFBLK : type[0] == 'p' ? S_IFIFO : S_IFCHR;
        e->major = (unsigned)major, e->minor = (unsigned)minor;
        e->mode = (mode_t)mode & 07777;
        e->uid = (uid_t)uid, e->gid = (gid_t)gid;
    }
    return 0;
}

/* linux.sysctl: {"net.ipv4.ip_forward": "1", ...} */
static int parse_sysctl(struct json_object *lx, struct container_spec *s)
{
    struct json_object *map = member(lx, "sysctl");
    if (want(map, json_type_object, "linux.sysctl") < 0)
        return -1;
    size_t n = map ? (size_t)json_object_object_length(map) : 0;
    if (!(s->sysctl_keys = zalloc(n + 1, sizeof *s->sysctl_keys)) ||
        !(s->sysctl_values = zalloc(n + 1, sizeof *s->sysctl_values)))
        return -1;
    if (!map)
        return 0;
    json_object_object_foreach(map, key, value) {
        if (!json_object_is_type(value, json_type_string))
            return fail(EXIT_OWN_FAILURE, "%s: linux.sysctl[\"%s\"] must be a string", doc_name, key);
        /* a key names a file under /proc/sys: no way out of it */
        if (!key[0] || strstr(key, "..") || key[0] == '.' || key[0] == '/')
            return fail(EXIT_OWN_FAILURE, "%s: invalid sysctl name \"%s\"", doc_name, key);
        s->sysctl_keys[s->n_sysctls] = key;
        s->sysctl_values[s->n_sysctls++] = json_object_get_string(value);
    }
    return 0;
}

static const struct { const char *name; unsigned long flags; } propagations[] = {
    {"private", MS_PRIVATE},  {"rprivate", MS_PRIVATE | MS_REC},
    {"slave", MS_SLAVE},      {"rslave", MS_SLAVE | MS_REC},
    {"shared", MS_SHARED},    {"rshared", MS_SHARED | MS_REC},
    {"unbindable", MS_UNBINDABLE}, {"runbindable", MS_UNBINDABLE | MS_REC},
};

static int parse_linux(struct json_object *lx, struct container_spec *s)
{
    const char *prop = NULL;
    if (want(lx, json_type_object, "linux") < 0 || parse_namespaces(lx, s) < 0 ||
        parse_id_map(lx, "uidMappings", s->uid_map, sizeof s->uid_map) < 0 ||
        parse_id_map(lx, "gidMappings", s->gid_map, sizeof s->gid_map) < 0 ||
        parse_devices(lx, s) < 0 ||
        get_strings(lx, "maskedPaths", "linux.maskedPaths", &s->masked_paths, &s->n_masked_paths) < 0 ||
        get_strings(lx, "readonlyPaths", "linux.readonlyPaths", &s->readonly_paths, &s->n_readonly_paths) < 0 ||
        get_string(lx, "rootfsPropagation", "linux.rootfsPropagation", &prop) < 0 ||
        parse_seccomp(member(lx, "seccomp"), &s->process.seccomp) < 0 || parse_sysctl(lx, s) < 0)
        return -1;
    s->rootfs_propagation = MS_PRIVATE | MS_REC;
    if (prop && prop[0]) {
        s->rootfs_propagation = 0;
        for (size_t k = 0; k < sizeof propagations / sizeof propagations[0]; k++)
            if (strcmp(prop, propagations[k].name) == 0)
                s->rootfs_propagation = propagations[k].flags;
        if (!s->rootfs_propagation)
            return fail(EXIT_OWN_FAILURE, "%s: unknown linux.rootfsPropagation \"%s\"", doc_name, prop);
    }
    return 0;
}

/* ---- the rest ----------------------------------------------------------- */

static int parse_mounts(struct json_object *root, struct container_spec *s)
{
    struct json_object *list = member(root, "mounts");
    if (want(list, json_type_array, "mounts") < 0)
        return -1;
    s->n_mounts = list ? json_object_array_length(list) : 0;
    if (!(s->mounts = zalloc(s->n_mounts + 1, sizeof *s->mounts)))
        return -1;
    for (size_t i = 0; i < s->n_mounts; i++) {
        struct json_object *m = json_object_array_get_idx(list, i);
        struct mount_entry *e = &s->mounts[i];
        if (want(m, json_type_object, "mounts[]") < 0 ||
            get_string(m, "destination", "mounts[].destination", &e->destination) < 0 ||
            get_string(m, "type", "mounts[].type", &e->type) < 0 ||
            get_string(m, "source", "mounts[].source", &e->source) < 0 ||
            get_strings(m, "options", "mounts[].options", &e->options, &e->n_options) < 0)
            return -1;
        if (!e->destination || e->destination[0] != '/')
            return fail(EXIT_OWN_FAILURE, "%s: mounts[%zu].destination must be absolute", doc_name, i);
    }
    return 0;
}

static int parse_root(struct json_object *root, const char *bundle, struct container_spec *s)
{
    struct json_object *r = member(root, "root");
    const char *path = NULL;
    char joined[PATH_MAX];
    if (want(r, json_type_object, "root") < 0 || get_string(r, "path", "root.path", &path) < 0 ||
        get_bool(r, "readonly", "root.readonly", &s->root_readonly) < 0)
        return -1;
    if (!path)
        return fail(EXIT_OWN_FAILURE, "%s: root.path is missing", doc_name);
    /* a relative root.path is relative to the bundle, as the OCI spec says */
    if (path[0] == '/')
        snprintf(joined, sizeof joined, "%s", path);
    else
        snprintf(joined, sizeof joined, "%s/%s", bundle, path);
    /* realpath: pivot_root and the mounts want the real, symlink-free directory */
    if (!realpath(joined, s->root_path))
        return fail(EXIT_OWN_FAILURE, "%s: root.path %s: %m", doc_name, joined);
    return 0;
}

static int parse_annotations(struct json_object *root, struct container_spec *s)
{
    const char *init = NULL;
    struct json_object *a = member(root, "annotations");
    if (want(a, json_type_object, "annotations") < 0 ||
        get_string(a, "org.tscontainer.rootfs.type", "the rootfs.type annotation", &s->rootfs_type) < 0 ||
        get_string(a, "org.tscontainer.rootfs.source", "the rootfs.source annotation", &s->rootfs_source) < 0 ||
        get_string(a, "org.tscontainer.rootfs.data", "the rootfs.data annotation", &s->rootfs_data) < 0 ||
        get_string(a, "org.tscontainer.rootfs.cwd", "the rootfs.cwd annotation", &s->rootfs_cwd) < 0 ||
        get_string(a, "org.tscontainer.user", "the user annotation", &s->process.user_spec) < 0 ||
        get_string(a, "org.tscontainer.init", "the init annotation", &init) < 0)
        return -1;
    s->init = init && strcmp(init, "true") == 0;
    if (s->rootfs_type && !s->rootfs_type[0])
        s->rootfs_type = NULL;
    if (s->rootfs_type && !s->rootfs_source)
        return fail(EXIT_OWN_FAILURE, "%s: org.tscontainer.rootfs.source is missing", doc_name);
    return 0;
}

int config_load(const char *bundle, struct container_spec *s)
{
    char path[PATH_MAX];
    memset(s, 0, sizeof *s);
    s->rootfs_fd = -1;
    snprintf(path, sizeof path, "%s/config.json", bundle);
    struct json_object *root = parse_file(path);
    if (!root)
        return -1;
    const char *version = NULL;
    if (get_string(root, "ociVersion", "ociVersion", &version) < 0 ||
        parse_process(member(root, "process"), &s->process) < 0 ||
        parse_root(root, bundle, s) < 0 ||
        get_string(root, "hostname", "hostname", &s->hostname) < 0 ||
        parse_mounts(root, s) < 0 || parse_linux(member(root, "linux"), s) < 0 ||
        parse_annotations(root, s) < 0)
        return -1;
    if (!version)
        return fail(EXIT_OWN_FAILURE, "%s: ociVersion is missing", doc_name);
    return 0;
}

int spec_clone_flags(const struct container_spec *s)
{
    int flags = 0;
    for (size_t i = 0; i < s->n_namespaces; i++)
        if (!s->namespaces[i].path && s->namespaces[i].flag != CLONE_NEWCGROUP)
            flags |= s->namespaces[i].flag; /* cgroup: unshared by the child after "go" */
    return flags;
}
