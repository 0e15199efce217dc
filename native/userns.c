/*
 * userns.c: a container in its own user namespace (--userns=auto).
 *
 * The child is cloned with CLONE_NEWUSER together with its other namespaces, so they all
 * belong to the new user namespace and root inside holds its capabilities only over them.
 * Two things only the parent (root of the host's user namespace) can do:
 *
 *   1. write /proc/PID/uid_map and gid_map: a process may map ids other than its own only
 *      with CAP_SETUID/CAP_SETGID in the *parent* namespace;
 *   2. make the layers look owned by the container's ids: mount_setattr(MOUNT_ATTR_IDMAP)
 *      needs CAP_SYS_ADMIN over the layers' filesystem, which belongs to the host.
 *
 * So, right after clone, the parent writes the maps, builds the overlay on idmapped lower
 * layers as a detached mount (fsopen/fsmount: attached nowhere on the host), and sends its
 * descriptor to the child, which was waiting for it before touching any mount. The child then
 * becomes uid/gid 0 of its namespace and move_mount()s the overlay onto its root.
 *
 * The upper (rw) layer is not idmapped: what the container writes lands on disk owned by its
 * host ids (0 inside = BASE outside), as podman does, and the caller has chowned the empty
 * upper directory to BASE. The image's layers are never written or chowned.
 */
#include "helper.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

/* Write one whole map file: the kernel accepts exactly one write(2) per map. */
static int write_map(pid_t pid, const char *file, const char *text)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, file);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return fail(EXIT_OWN_FAILURE, "open %s: %m", path);
    /* write: the map takes effect for the whole namespace at once and can never change */
    ssize_t n = write(fd, text, strlen(text));
    int saved = errno;
    close(fd);
    if (n != (ssize_t)strlen(text)) {
        errno = saved;
        return fail(EXIT_OWN_FAILURE, "write %s (\"%.40s\"): %m", path, text);
    }
    return 0;
}

/* A detached copy of the directory dirfd/path, idmapped through the user namespace userns. */
static int idmapped_tree(int dirfd, const char *path, int userns, bool recursive)
{
    /* open_tree(OPEN_TREE_CLONE): a new bind mount of path, attached to no mount namespace */
    int fd = open_tree(dirfd, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (recursive ? AT_RECURSIVE : 0));
    if (fd < 0)
        return fail(EXIT_OWN_FAILURE, "open_tree %s: %m", path);
    struct mount_attr attr = {.attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (uint64_t)userns};
    /* mount_setattr(MOUNT_ATTR_IDMAP): through this mount, on-disk uid N reads as the id the
       namespace maps N to (0 -> BASE), and writes map back; the files themselves are unchanged */
    if (mount_setattr(fd, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &attr, sizeof attr) < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return fail(EXIT_OWN_FAILURE,
                    "idmapped mount of %s: %m (this kernel or filesystem cannot idmap the layers; "
                    "the chown'd-copy fallback is not built)", path);
    }
    return fd;
}

/* Set one overlay option on the filesystem context, with the kernel's reason on failure. */
static int overlay_option(int fsfd, const char *key, const char *value)
{
    /* fsconfig(FSCONFIG_SET_STRING): one mount option, checked by overlay as it comes */
    if (fsconfig(fsfd, FSCONFIG_SET_STRING, key, value, 0) < 0)
        return fail(EXIT_OWN_FAILURE, "overlay option %s=%.200s: %m", key, value);
    return 0;
}

/* A directory's O_PATH fd, named for overlay as /proc/self/fd/N: fsconfig takes at most 256
 * bytes a value, which a long state root's path could pass. */
static int fd_name(int cwdfd, const char *path, char name[32])
{
    int fd = openat(cwdfd, path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return fail(EXIT_OWN_FAILURE, "open overlay layer %s: %m", path);
    snprintf(name, 32, "/proc/self/fd/%d", fd);
    return fd;
}

/* The overlay of the annotations' data (lowerdir=a:b,upperdir=u,workdir=w,...), each lower dir
 * idmapped; a detached mount. Relative paths are relative to rootfs.cwd. */
static int idmapped_overlay(const struct container_spec *s, int userns)
{
    const char *cwd = s->rootfs_cwd && s->rootfs_cwd[0] ? s->rootfs_cwd : "/";
    int cwdfd = open(cwd, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (cwdfd < 0)
        return fail(EXIT_OWN_FAILURE, "open %s: %m", cwd);
    /* fsopen: a new, not yet mounted overlay filesystem context */
    int fsfd = fsopen("overlay", FSOPEN_CLOEXEC);
    if (fsfd < 0) {
        close(cwdfd);
        return fail(EXIT_OWN_FAILURE, "fsopen overlay: %m");
    }
    char *data = strdup(s->rootfs_data ? s->rootfs_data : "");
    int fds[520], n_fds = 0, ret = -1;
    if (!data) {
        fail(EXIT_OWN_FAILURE, "out of memory");
        goto out;
    }
    for (char *save = NULL, *opt = strtok_r(data, ",", &save); opt; opt = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(opt, '=');
        if (!eq)
            continue;
        *eq = '\0';
        const char *key = opt;
        char *value = eq + 1;
        char name[32];
        if (strcmp(key, "lowerdir") == 0) {
            /* each lower layer gets its own idmapped mount, handed to overlay one at a time
               ("lowerdir+", Linux 6.8; before it, all of them in one "lowerdir" value, which
               fsconfig limits to 256 bytes: some 14 layers) */
            char joined[256] = "";
            size_t used = 0;
            bool one_by_one = true;
            for (char *s2 = NULL, *d = strtok_r(value, ":", &s2); d; d = strtok_r(NULL, ":", &s2)) {
                if (n_fds >= 512) {
                    fail(EXIT_OWN_FAILURE, "more than 512 layers");
                    goto out;
                }
                int fd = idmapped_tree(cwdfd, d, userns, false);
                if (fd < 0)
                    goto out;
                fds[n_fds++] = fd;
                snprintf(name, sizeof name, "/proc/self/fd/%d", fd);
                if (one_by_one && fsconfig(fsfd, FSCONFIG_SET_STRING, "lowerdir+", name, 0) == 0)
                    continue;
                if (one_by_one && n_fds > 1) { /* lowerdir+ worked before: a real failure */
                    fail(EXIT_OWN_FAILURE, "overlay option lowerdir+=%s: %m", d);
                    goto out;
                }
                one_by_one = false;
                used += (size_t)snprintf(joined + used, sizeof joined - used, "%s%s", used ? ":" : "", name);
                if (used >= sizeof joined) {
                    fail(EXIT_OWN_FAILURE, "too many layers for this kernel's overlay (no lowerdir+)");
                    goto out;
                }
            }
            if (!one_by_one && overlay_option(fsfd, "lowerdir", joined) < 0)
                goto out;
        } else if (strcmp(key, "upperdir") == 0 || strcmp(key, "workdir") == 0) {
            int fd = fd_name(cwdfd, value, name);
            if (fd < 0)
                goto out;
            fds[n_fds++] = fd;
            if (overlay_option(fsfd, key, name) < 0)
                goto out;
        } else if (overlay_option(fsfd, key, value) < 0) {
            goto out;
        }
    }
    /* FSCONFIG_CMD_CREATE: overlay checks its layers and makes the superblock */
    if (fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) {
        fail(EXIT_OWN_FAILURE, "create the overlay on idmapped layers: %m");
        goto out;
    }
    /* fsmount: a detached mount of it, which only the holder of this fd can attach */
    ret = fsmount(fsfd, FSMOUNT_CLOEXEC, 0);
    if (ret < 0)
        fail(EXIT_OWN_FAILURE, "fsmount the overlay: %m");
out:
    free(data);
    close(fsfd);
    close(cwdfd);
    /* the layers' fds: the overlay holds its own references now */
    for (int i = 0; i < n_fds; i++)
        close(fds[i]);
    return ret;
}

int userns_prepare(pid_t child, const struct container_spec *s, int sock)
{
    /* setgroups stays "allow": the kernel demands "deny" only of a writer without CAP_SETGID in
       the parent namespace (an unprivileged one); we are root there, and the container's root
       may then set its own supplementary groups, as under docker and podman. */
    if (write_map(child, "uid_map", s->uid_map) < 0 || write_map(child, "gid_map", s->gid_map) < 0)
        return -1;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/ns/user", (int)child);
    int userns = open(path, O_RDONLY | O_CLOEXEC);
    if (userns < 0)
        return fail(EXIT_OWN_FAILURE, "open %s: %m", path);
    int root = -1;
    if (s->rootfs_type && strcmp(s->rootfs_type, "overlay") == 0)
        root = idmapped_overlay(s, userns);
    else /* a plain directory (the vfs driver, or root.path): one idmapped recursive bind */
        root = idmapped_tree(AT_FDCWD, s->rootfs_type ? s->rootfs_source : s->root_path, userns, true);
    close(userns);
    if (root < 0)
        return -1;
    int r = pty_send_fd(sock, root); /* SCM_RIGHTS: the child gets its own copy of the mount */
    close(root);
    return r;
}

/* Is this `mounts` entry a bind (type "bind", or a bind/rbind option)? */
static bool is_bind(const struct mount_entry *m)
{
    if (m->type && strcmp(m->type, "bind") == 0)
        return true;
    for (size_t i = 0; i < m->n_options; i++)
        if (strcmp(m->options[i], "bind") == 0 || strcmp(m->options[i], "rbind") == 0)
            return true;
    return false;
}

/*
 * Everything that must reach host paths, done while we still have the host's uid 0: as root
 * of the namespace (host BASE) we could no longer walk root-only directories such as the state
 * root (0700), where the rootfs's mount point and the /etc/hosts files live.
 */
static int reach_host_paths(struct container_spec *s)
{
    /* private first, so that attaching the rootfs can never propagate to the host */
    if (mount(NULL, "/", NULL, s->rootfs_propagation, NULL) < 0)
        return fail(EXIT_OWN_FAILURE, "make / private in the container's mount namespace: %m");
    /* move_mount: attach the parent's detached overlay on root.path, in our namespace only */
    if (move_mount(s->rootfs_fd, "", AT_FDCWD, s->root_path, MOVE_MOUNT_F_EMPTY_PATH) < 0)
        return fail(EXIT_OWN_FAILURE, "attach the idmapped rootfs on %s: %m", s->root_path);
    /* from now on the root is reached through the mount's own fd, not the host's path */
    snprintf(s->root_path, sizeof s->root_path, "/proc/self/fd/%d", s->rootfs_fd);
    for (size_t i = 0; i < s->n_mounts; i++) {
        struct mount_entry *m = &s->mounts[i];
        if (!m->source || !is_bind(m))
            continue;
        /* O_PATH: a handle on the bind source, walked now; the bind goes through it later */
        int fd = open(m->source, O_PATH | O_CLOEXEC);
        if (fd < 0)
            return fail(EXIT_OWN_FAILURE, "bind mount source %s for %s: %m", m->source, m->destination);
        char *path = malloc(32);
        if (!path)
            return fail(EXIT_OWN_FAILURE, "out of memory");
        snprintf(path, 32, "/proc/self/fd/%d", fd);
        m->source = path;
    }
    return 0;
}

int userns_enter(int sock, struct container_spec *s)
{
    /* The rootfs arrives only once both maps are written: until then we must not create any
       file (an unmapped owner) nor rely on being root of the namespace. */
    s->rootfs_fd = pty_recv_fd(sock);
    close(sock);
    if (s->rootfs_fd < 0)
        return fail(EXIT_OWN_FAILURE, "the helper did not set up the user namespace");
    if (reach_host_paths(s) < 0)
        return -1;
    /* setresgid/setresuid(0): we were born with the host's uid 0, which the namespace does not
       map; become its root (host BASE), keeping our capabilities in it. gid first, as always. */
    if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
        return fail(EXIT_OWN_FAILURE, "become root of the user namespace: %m");
    /* setgroups(0): drop the host's supplementary groups, which mean nothing in here */
    if (setgroups(0, NULL) < 0)
        return fail(EXIT_OWN_FAILURE, "setgroups in the user namespace: %m");
    return 0;
}
