/*
 * user.c: turn a user spec ("nobody", "1000", "user:group", "0:5") into uid, gid,
 * supplementary groups and HOME, by reading the container's own /etc/passwd and /etc/group.
 *
 * This runs in the container process after pivot_root (run) or after joining the container's
 * mount namespace (exec), so "/etc/passwd" is the image's file, never the host's. We parse
 * the files by hand instead of calling getpwnam(3): glibc's NSS would load shared libraries
 * and consult /etc/nsswitch.conf, which is exactly the machinery a container must not drive.
 *
 * The rules are runc's (libcontainer/user.GetExecUser), which docker uses:
 *   - a user name must exist in passwd; a number need not (then gid 0, HOME "/").
 *   - without ":group", the gid is the passwd entry's, and the supplementary groups are the
 *     groups of /etc/group that list the user by name.
 *   - with ":group", a group name must exist in /etc/group; a number need not; no
 *     supplementary groups.
 */
#include "helper.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct user_entry {
    char name[256];
    unsigned long uid, gid;
    char home[PATH_MAX];
};

static bool is_number(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

/*
 * Split a line at ':' into at most n fields (the line is modified); returns the count.
 * Every slot is set (fields past the count to NULL), and the last field keeps any further
 * colons. The files come from the image, so callers must check the count before reading.
 */
static size_t split_fields(char *line, char **fields, size_t n)
{
    size_t count = 0;
    for (size_t i = 0; i < n; i++)
        fields[i] = NULL;
    line[strcspn(line, "\n")] = '\0';
    while (count < n) {
        fields[count++] = line;
        char *colon = strchr(line, ':');
        if (!colon)
            break;
        *colon = '\0';
        line = colon + 1;
    }
    return count;
}

/*
 * The next line of f into buf, or false at the end. A line too long for buf is skipped
 * whole: otherwise its tail would be read as an entry of its own.
 */
static bool next_line(FILE *f, char *buf, size_t len)
{
    while (fgets(buf, (int)len, f)) {
        size_t n = strlen(buf);
        if (n == len - 1 && buf[n - 1] != '\n' && !feof(f)) {
            int c;
            while ((c = getc(f)) != EOF && c != '\n')
                ;
            continue;
        }
        return true;
    }
    return false;
}

/* Find a passwd entry by name (or, for a number, by uid). A missing file is simply no match. */
static bool find_passwd(const char *who, struct user_entry *out)
{
    FILE *f = fopen("/etc/passwd", "re");
    if (!f)
        return false;
    bool by_uid = is_number(who), found = false;
    unsigned long want = by_uid ? strtoul(who, NULL, 10) : 0;
    char line[4096];
    while (!found && next_line(f, line, sizeof line)) {
        char *fld[7] = {0};
        /* name:password:uid:gid:gecos:home:shell; like glibc's fgetpwent, a line without all
           seven fields (the shell may be empty, its colon may not) is malformed: skip it */
        if (split_fields(line, fld, 7) < 7 || !is_number(fld[2]) || !is_number(fld[3]))
            continue;
        unsigned long uid = strtoul(fld[2], NULL, 10);
        if (by_uid ? uid != want : strcmp(fld[0], who) != 0)
            continue;
        found = true;
        snprintf(out->name, sizeof out->name, "%s", fld[0]);
        out->uid = uid;
        out->gid = strtoul(fld[3], NULL, 10);
        snprintf(out->home, sizeof out->home, "%s", fld[5][0] ? fld[5] : "/");
    }
    fclose(f);
    return found;
}

/* Is `name` in the comma-separated member list? */
static bool is_member(const char *members, const char *name)
{
    size_t len = strlen(name);
    for (const char *p = members; *p;) {
        size_t n = strcspn(p, ",");
        if (n == len && strncmp(p, name, len) == 0)
            return true;
        p += n + (p[n] == ',');
    }
    return false;
}

/*
 * One pass over /etc/group: look up `group` (a name; NULL for none) into *gid, and collect
 * the gids of the groups listing `member` (NULL for none) into *sgids.
 */
static bool scan_groups(const char *group, gid_t *gid, const char *member, gid_t **sgids, size_t *n_sgids)
{
    FILE *f = fopen("/etc/group", "re");
    if (!f)
        return false;
    bool found = false;
    char line[4096];
    while (next_line(f, line, sizeof line)) {
        char *fld[4] = {0};
        /* name:password:gid:member,member; the member list may be empty but its colon must
           be there (glibc's rule): a shorter line is malformed and skipped */
        if (split_fields(line, fld, 4) < 4 || !is_number(fld[2]))
            continue;
        gid_t g = (gid_t)strtoul(fld[2], NULL, 10);
        if (group && !found && strcmp(fld[0], group) == 0)
            found = true, *gid = g;
        if (member && is_member(fld[3], member)) {
            gid_t *more = realloc(*sgids, (*n_sgids + 1) * sizeof **sgids);
            if (more)
                *sgids = more, (*sgids)[(*n_sgids)++] = g;
        }
    }
    fclose(f);
    return found;
}

/* Add HOME=home to the environment unless the caller already set HOME. */
static void default_home(struct process_spec *p, const char *home)
{
    size_t n = 0;
    for (; p->env[n]; n++)
        if (strncmp(p->env[n], "HOME=", 5) == 0)
            return;
    const char **env = calloc(n + 2, sizeof *env);
    char *entry = malloc(strlen(home) + 6);
    if (!env || !entry)
        return;
    memcpy(env, p->env, n * sizeof *env);
    sprintf(entry, "HOME=%s", home);
    env[n] = entry;
    p->env = env;
}

int user_resolve(struct process_spec *p)
{
    char spec[512];
    snprintf(spec, sizeof spec, "%s", p->user_spec);
    char *group = strchr(spec, ':');
    if (group)
        *group++ = '\0';
    const char *user = spec;
    if (!*user)
        return fail(EXIT_OWN_FAILURE, "invalid user \"%s\"", p->user_spec);

    struct user_entry u;
    bool matched = find_passwd(user, &u);
    if (!matched && !is_number(user))
        return fail(EXIT_OWN_FAILURE, "unable to find user %s: no matching entries in passwd file", user);
    if (!matched) {
        /* a bare number: the uid exists only as a number, as docker allows */
        u.uid = strtoul(user, NULL, 10), u.gid = 0;
        snprintf(u.home, sizeof u.home, "/");
    }
    p->uid = (uid_t)u.uid;
    p->gid = (gid_t)u.gid;
    p->n_additional_gids = 0;

    if (group && *group) {
        gid_t gid = 0;
        if (is_number(group))
            p->gid = (gid_t)strtoul(group, NULL, 10);
        else if (scan_groups(group, &gid, NULL, NULL, NULL))
            p->gid = gid;
        else
            return fail(EXIT_OWN_FAILURE, "unable to find group %s: no matching entries in group file", group);
    } else if (matched) {
        gid_t *sgids = NULL;
        size_t n = 0;
        scan_groups(NULL, NULL, u.name, &sgids, &n);
        p->additional_gids = sgids;
        p->n_additional_gids = n;
    }
    default_home(p, u.home);

    /* docker's rule: a process that is not root starts with no effective or permitted
       capabilities (the bounding set still limits what a setuid binary could gain) */
    if (p->has_caps && p->uid != 0) {
        p->caps[CAP_EFFECTIVE] = p->caps[CAP_PERMITTED] = 0;
        p->caps[CAP_INHERITABLE] = p->caps[CAP_AMBIENT] = 0;
    }
    return 0;
}
