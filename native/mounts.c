/*
 * mounts.c: build the container's filesystem view inside its own mount namespace.
 *
 * Order (docs/helper-protocol.md, steps 3-6): make "/" private, mount the rootfs, the
 * `mounts` list, devices and /dev symlinks, the console, pivot_root, masked and read-only
 * paths, read-only root.
 *
 * Every target inside the rootfs is opened with openat2(RESOLVE_IN_ROOT), which resolves
 * symlinks and ".." as if the rootfs were "/", and then mounted onto through /proc/self/fd/N.
 * An image holding `/proc -> /etc` or `dev -> ../../..` therefore cannot aim a mount at the host.
 */
#include "helper.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* ---- paths inside the rootfs -------------------------------------------- */

/* Open `path` as seen from inside the rootfs, whatever symlinks it holds. */
static int open_in_root(int rootfd, const char *path, int flags)
{
    struct open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC),
                           .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
    while (*path == '/')
        path++;
    if (!*path)
        path = ".";
    /* openat2: the only lookup that treats a directory fd as "/" (Linux 5.6). */
    return (int)syscall(SYS_openat2, rootfd, path, &how, sizeof how);
}

static void fd_path(char *buf, size_t len, int fd)
{
    snprintf(buf, len, "/proc/self/fd/%d", fd);
}

static int mkdir_all_depth(int rootfd, const char *path, int depth);

/*
 * `name` in dirfd exists but does not resolve: a dangling symlink, as in an image holding
 * `escape -> /target`. Create what it points to, read as a path inside the rootfs.
 */
static int create_link_target(int rootfd, int dirfd, const char *name, const char *prefix, int depth)
{
    char link[PATH_MAX], target[2 * PATH_MAX + 2];
    /* readlinkat: the link's text, which we resolve ourselves inside the rootfs */
    ssize_t n = readlinkat(dirfd, name, link, sizeof link - 1);
    if (n < 0)
        return 0; /* not a symlink: the open below reports the real problem */
    link[n] = '\0';
    if (depth > 40)
        return fail(EXIT_OWN_FAILURE, "too many levels of symbolic links at /%s in the rootfs", prefix);
    if (link[0] == '/') {
        snprintf(target, sizeof target, "%s", link);
    } else {
        /* relative: from the directory holding the link */
        const char *slash = strrchr(prefix, '/');
        snprintf(target, sizeof target, "/%.*s/%s", slash ? (int)(slash - prefix) : 0, prefix, link);
    }
    int fd = mkdir_all_depth(rootfd, target, depth + 1);
    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}

/* mkdir -p inside the rootfs; returns an O_PATH fd on the directory. */
static int mkdir_all_in_root(int rootfd, const char *path)
{
    return mkdir_all_depth(rootfd, path, 0);
}

static int mkdir_all_depth(int rootfd, const char *path, int depth)
{
    char prefix[PATH_MAX] = "";
    size_t plen = 0;
    int dirfd = fcntl(rootfd, F_DUPFD_CLOEXEC, 0);
    const char *p = path;

    while (*p) {
        while (*p == '/')
            p++;
        size_t clen = strcspn(p, "/");
        if (clen == 0)
            break;
        char name[NAME_MAX + 1];
        if (clen > NAME_MAX || plen + clen + 2 > sizeof prefix)
            return fail(EXIT_OWN_FAILURE, "path too long: %s", path);
        memcpy(name, p, clen);
        name[clen] = '\0';
        plen += (size_t)snprintf(prefix + plen, sizeof prefix - plen, "%s%s", plen ? "/" : "", name);
        p += clen;

        int fd = open_in_root(rootfd, prefix, O_PATH | O_DIRECTORY);
        if (fd < 0 && errno == ENOENT) {
            /* dirfd was resolved inside the rootfs, and `name` is one plain component. */
            if (mkdirat(dirfd, name, 0755) < 0 && errno != EEXIST)
                return fail(EXIT_OWN_FAILURE, "create directory /%s in the rootfs: %m", prefix);
            if (errno == EEXIST && create_link_target(rootfd, dirfd, name, prefix, depth) < 0)
                return -1;
            fd = open_in_root(rootfd, prefix, O_PATH | O_DIRECTORY);
        }
        if (fd < 0)
            return fail(EXIT_OWN_FAILURE, "open directory /%s in the rootfs: %m", prefix);
        close(dirfd);
        dirfd = fd;
    }
    return dirfd;
}

/* Split "/a/b/c" into its parent "/a/b" and its last name "c". */
static void split_path(const char *path, char parent[PATH_MAX], char base[NAME_MAX + 1])
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    size_t n = strlen(tmp);
    while (n > 1 && tmp[n - 1] == '/')
        tmp[--n] = '\0';
    char *slash = strrchr(tmp, '/');
    snprintf(base, NAME_MAX + 1, "%s", slash ? slash + 1 : tmp);
    if (slash && slash != tmp)
        *slash = '\0';
    snprintf(parent, PATH_MAX, "%s", slash && slash != tmp ? tmp : "/");
}

/* Make sure a mount target exists (a file for a file source, else a directory) and open it. */
static int mount_target(int rootfd, const char *dest, bool is_file)
{
    if (is_file) {
        char parent[PATH_MAX], name[NAME_MAX + 1];
        split_path(dest, parent, name);
        int dirfd = mkdir_all_in_root(rootfd, parent);
        if (dirfd < 0)
            return -1;
        /* O_EXCL: never follow a symlink here; if anything exists, the lookup below handles it */
        int fd = openat(dirfd, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
        if (fd >= 0)
            close(fd);
        else if (errno != EEXIST)
            return fail(EXIT_OWN_FAILURE, "create mount target %s: %m", dest);
        close(dirfd);
    } else {
        int dirfd = mkdir_all_in_root(rootfd, dest);
        if (dirfd < 0)
            return -1;
        close(dirfd);
    }
    int fd = open_in_root(rootfd, dest, O_PATH);
    if (fd < 0)
        return fail(EXIT_OWN_FAILURE, "open mount target %s: %m", dest);
    return fd;
}

/* ---- mount options ------------------------------------------------------ */

struct mount_options {
    unsigned long flags;       /* for mount(2) */
    unsigned long propagation; /* applied by a second mount(2) call */
    bool bind, recursive;
    char data[4096];           /* everything that is not a flag: "mode=755,size=65536k" */
};

static const struct {
    const char *name;
    bool clear;
    unsigned long flag;
} flag_names[] = {
    {"ro", false, MS_RDONLY},         {"rw", true, MS_RDONLY},
    {"nosuid", false, MS_NOSUID},     {"suid", true, MS_NOSUID},
    {"nodev", false, MS_NODEV},       {"dev", true, MS_NODEV},
    {"noexec", false, MS_NOEXEC},     {"exec", true, MS_NOEXEC},
    {"sync", false, MS_SYNCHRONOUS},  {"async", true, MS_SYNCHRONOUS},
    {"dirsync", false, MS_DIRSYNC},   {"remount", false, MS_REMOUNT},
    {"mand", false, MS_MANDLOCK},     {"nomand", true, MS_MANDLOCK},
    {"noatime", false, MS_NOATIME},   {"atime", true, MS_NOATIME},
    {"nodiratime", false, MS_NODIRATIME}, {"diratime", true, MS_NODIRATIME},
    {"relatime", false, MS_RELATIME}, {"norelatime", true, MS_RELATIME},
    {"strictatime", false, MS_STRICTATIME}, {"nostrictatime", true, MS_STRICTATIME},
};

static const struct {
    const char *name;
    unsigned long flags;
} propagation_names[] = {
    {"private", MS_PRIVATE},       {"rprivate", MS_PRIVATE | MS_REC},
    {"slave", MS_SLAVE},           {"rslave", MS_SLAVE | MS_REC},
    {"shared", MS_SHARED},         {"rshared", MS_SHARED | MS_REC},
    {"unbindable", MS_UNBINDABLE}, {"runbindable", MS_UNBINDABLE | MS_REC},
};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* Sort each OCI option string into mount flags, propagation, bind, or filesystem data. */
static void parse_mount_options(const struct mount_entry *m, struct mount_options *o)
{
    memset(o, 0, sizeof *o);
    if (m->type && strcmp(m->type, "bind") == 0)
        o->bind = true;
    for (size_t i = 0; i < m->n_options; i++) {
        const char *opt = m->options[i];
        bool known = false;
        for (size_t k = 0; k < N_OF(flag_names) && !known; k++)
            if (strcmp(opt, flag_names[k].name) == 0) {
                if (flag_names[k].clear)
                    o->flags &= ~flag_names[k].flag;
                else
                    o->flags |= flag_names[k].flag;
                known = true;
            }
        for (size_t k = 0; k < N_OF(propagation_names) && !known; k++)
            if (strcmp(opt, propagation_names[k].name) == 0)
                o->propagation = propagation_names[k].flags, known = true;
        if (strcmp(opt, "bind") == 0 || strcmp(opt, "rbind") == 0) {
            o->bind = true;
            o->recursive = opt[0] == 'r';
            known = true;
        }
        if (strcmp(opt, "tmpcopyup") == 0)
            known = true; /* an OCI extension we do not implement: ignore, as runc would */
        if (!known) {
            size_t len = strlen(o->data);
            snprintf(o->data + len, sizeof o->data - len, "%s%s", len ? "," : "", opt);
        }
    }
}

/* The flags a mount already has that a bind remount must repeat (the kernel keeps none). */
static unsigned long current_flags(const char *path)
{
    struct statvfs sv;
    unsigned long flags = 0;
    if (statvfs(path, &sv) < 0)
        return 0;
    if (sv.f_flag & ST_NOSUID) flags |= MS_NOSUID;
    if (sv.f_flag & ST_NODEV) flags |= MS_NODEV;
    if (sv.f_flag & ST_NOEXEC) flags |= MS_NOEXEC;
    if (sv.f_flag & ST_NOATIME) flags |= MS_NOATIME;
    if (sv.f_flag & ST_NODIRATIME) flags |= MS_NODIRATIME;
    if (sv.f_flag & ST_RELATIME) flags |= MS_RELATIME;
    return flags;
}

#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442 /* x86_64 (and every other arch since 5.12's unified table) */
#endif

/*
 * Make the mount at fd read-only together with every mount below it. A bind remount with
 * MS_RDONLY changes only the one mount it names, so an `rbind,ro` volume would keep any
 * sub-mount of the host tree writable. mount_setattr(2) with AT_RECURSIVE (Linux 5.12) sets
 * the attribute on the whole tree at once. Returns 0, -1 with a recorded failure, or 1 when
 * the kernel does not have mount_setattr (ENOSYS): the caller's remount is then all we get.
 */
static int make_tree_readonly(int fd, const char *what)
{
    struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY};
    /* glibc 2.36 declares a wrapper, older ones do not: call the syscall directly */
    if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) == 0)
        return 0;
    if (errno == ENOSYS)
        return 1;
    return fail(EXIT_OWN_FAILURE, "make %s read-only recursively: %m", what);
}

/* ---- one entry of `mounts` ---------------------------------------------- */

static int mount_one(int rootfd, const struct mount_entry *m)
{
    struct mount_options o;
    const char *type = m->type ? m->type : "none";
    const char *source = m->source ? m->source : type;
    char target[64];
    parse_mount_options(m, &o);

    /* A bind of a file needs a file to mount on; anything else needs a directory. */
    bool is_file = false;
    struct stat st;
    if (o.bind) {
        if (stat(source, &st) < 0)
            return fail(EXIT_OWN_FAILURE, "bind mount source %s for %s: %m", source, m->destination);
        is_file = !S_ISDIR(st.st_mode);
    }
    int fd = mount_target(rootfd, m->destination, is_file);
    if (fd < 0)
        return -1;
    fd_path(target, sizeof target, fd);

    if (o.bind) {
        /* MS_BIND ignores every other flag: mount first, then remount with the flags. */
        if (mount(source, target, NULL, MS_BIND | (o.recursive ? MS_REC : 0), NULL) < 0)
            return fail(EXIT_OWN_FAILURE, "bind mount %s on %s: %m", source, m->destination);
    } else {
        if (mount(source, target, type, o.flags & ~MS_REMOUNT, o.data[0] ? o.data : NULL) < 0)
            return fail(EXIT_OWN_FAILURE, "mount %s on %s: %m", type, m->destination);
    }
    trace("mount", "%s on %s type %s flags %#lx%s%s", source, m->destination, o.bind ? "bind" : type,
          o.flags, o.data[0] ? " data " : "", o.data);
    close(fd);

    /* Re-open: the old fd names the directory *under* the new mount, not the mount itself. */
    if (!(o.bind && o.flags) && !o.propagation)
        return 0;
    fd = open_in_root(rootfd, m->destination, O_PATH);
    if (fd < 0)
        return fail(EXIT_OWN_FAILURE, "open %s after mounting it: %m", m->destination);
    fd_path(target, sizeof target, fd);
    if (o.bind && o.flags) {
        unsigned long flags = MS_REMOUNT | MS_BIND | o.flags | current_flags(target);
        /* MS_REMOUNT|MS_BIND changes the flags of this one bind mount only (e.g. ro). */
        if (mount(NULL, target, NULL, flags, NULL) < 0)
            return fail(EXIT_OWN_FAILURE, "remount %s with its options: %m", m->destination);
        /* ...and "ro" must hold for the mounts under it too (docker's `-v src:dst:ro` is an
           rbind). Without mount_setattr (a kernel before 5.12) the remount above is the old
           behaviour: the top mount read-only, its sub-mounts as they were on the host. */
        if ((o.flags & MS_RDONLY) && make_tree_readonly(fd, m->destination) < 0)
            return -1;
    }
    /* Propagation (rprivate, rslave...) is its own mount(2) call with no other flags. */
    if (o.propagation && mount(NULL, target, NULL, o.propagation, NULL) < 0)
        return fail(EXIT_OWN_FAILURE, "set the propagation of %s: %m", m->destination);
    close(fd);
    return 0;
}

/* ---- the root filesystem ------------------------------------------------ */

static int mount_rootfs(const struct container_spec *s)
{
    /* Private (or as configured) and recursive: our mounts never propagate to the host. */
    if (mount(NULL, "/", NULL, s->rootfs_propagation, NULL) < 0)
        return fail(EXIT_OWN_FAILURE, "make / private in the container's mount namespace: %m");

    if (s->rootfs_fd >= 0)
        return 0; /* --userns: already attached by userns_enter (userns.c) */
    if (!s->rootfs_type) {
        /* A bind of root.path onto itself: pivot_root wants the new root to be a mount point. */
        if (mount(s->root_path, s->root_path, NULL, MS_BIND | MS_REC, NULL) < 0)
            return fail(EXIT_OWN_FAILURE, "bind mount the rootfs %s: %m", s->root_path);
        trace("mount root", "%s on itself type bind flags MS_BIND|MS_REC", s->root_path);
        return 0;
    }
    /* chdir first, so that overlay's relative lowerdir links (l/ABC) fit in one page of data */
    if (s->rootfs_cwd && s->rootfs_cwd[0] && chdir(s->rootfs_cwd) < 0)
        return fail(EXIT_OWN_FAILURE, "chdir to %s to mount the rootfs: %m", s->rootfs_cwd);
    if (strcmp(s->rootfs_type, "bind") == 0) {
        if (mount(s->rootfs_source, s->root_path, NULL, MS_BIND | MS_REC, NULL) < 0)
            return fail(EXIT_OWN_FAILURE, "bind mount the rootfs %s on %s: %m",
                        s->rootfs_source, s->root_path);
        return 0;
    }
    if (mount(s->rootfs_source, s->root_path, s->rootfs_type, 0, s->rootfs_data) < 0)
        return fail(EXIT_OWN_FAILURE, "mount the %s rootfs on %s: %m", s->rootfs_type, s->root_path);
    trace("mount root", "%s on %s type %s data %s", s->rootfs_source, s->root_path, s->rootfs_type,
          s->rootfs_data ? s->rootfs_data : "");
    return 0;
}

/* ---- /dev --------------------------------------------------------------- */

static int make_device(int rootfd, const struct device_entry *d)
{
    char parent[PATH_MAX], base[NAME_MAX + 1];
    split_path(d->path, parent, base);
    int dirfd = mkdir_all_in_root(rootfd, parent);
    if (dirfd < 0)
        return -1;
    /* mknodat: create the node relative to a directory already resolved inside the rootfs */
    if (mknodat(dirfd, base, d->type | d->mode, makedev(d->major, d->minor)) < 0 && errno != EEXIST)
        return fail(EXIT_OWN_FAILURE, "mknod %s: %m", d->path);
    /* fchownat / fchmodat: owner and exact mode (our umask is 0, but be explicit) */
    if (fchownat(dirfd, base, d->uid, d->gid, AT_SYMLINK_NOFOLLOW) < 0)
        return fail(EXIT_OWN_FAILURE, "chown %s: %m", d->path);
    if (fchmodat(dirfd, base, d->mode, 0) < 0)
        return fail(EXIT_OWN_FAILURE, "chmod %s: %m", d->path);
    close(dirfd);
    return 0;
}

/* The /dev symlinks every program expects; they only exist when the rootfs has a /dev. */
static int make_dev_symlinks(int rootfd)
{
    static const char *links[][2] = {
        {"/proc/self/fd", "fd"},      {"/proc/self/fd/0", "stdin"},
        {"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"},
        {"pts/ptmx", "ptmx"},
    };
    int dev = open_in_root(rootfd, "/dev", O_PATH | O_DIRECTORY);
    if (dev < 0)
        return 0;
    for (size_t i = 0; i < N_OF(links); i++) {
        /* symlinkat: relative to the resolved /dev fd; an existing entry is left alone */
        if (symlinkat(links[i][0], dev, links[i][1]) < 0 && errno != EEXIST)
            return fail(EXIT_OWN_FAILURE, "symlink /dev/%s: %m", links[i][1]);
    }
    close(dev);
    return 0;
}

/* Allocate a terminal from the container's own devpts and bind its slave onto /dev/console. */
static int make_console(int rootfd, struct console *c)
{
    int ptmx = open_in_root(rootfd, "/dev/pts/ptmx", O_RDWR | O_NOCTTY);
    if (ptmx < 0)
        return fail(EXIT_OWN_FAILURE, "open /dev/pts/ptmx for the terminal "
                                      "(is a devpts with newinstance mounted on /dev/pts?): %m");
    if (pty_open(ptmx, &c->master, &c->slave) < 0)
        return -1;
    int console = mount_target(rootfd, "/dev/console", true);
    if (console < 0)
        return -1;
    char from[64], to[64];
    fd_path(from, sizeof from, c->slave);
    fd_path(to, sizeof to, console);
    /* A bind mount of the slave: programs that open /dev/console reach the container's tty. */
    if (mount(from, to, NULL, MS_BIND, NULL) < 0)
        return fail(EXIT_OWN_FAILURE, "bind mount the terminal on /dev/console: %m");
    close(console);
    return 0;
}

/* ---- pivot_root and after ------------------------------------------------ */

static int pivot_into(const char *root)
{
    if (chdir(root) < 0)
        return fail(EXIT_OWN_FAILURE, "chdir to the rootfs %s: %m", root);
    /* pivot_root(".", "."): the new root becomes "/" and the old root is stacked on top of it. */
    if (syscall(SYS_pivot_root, ".", ".") < 0)
        return fail(EXIT_OWN_FAILURE, "pivot_root into %s: %m", root);
    trace("pivot_root", "chdir(%s); pivot_root(\".\", \".\")", root);
    /* rslave before unmounting, so the unmount below can never propagate back to the host. */
    if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0)
        return fail(EXIT_OWN_FAILURE, "make the old root a slave: %m");
    /* MNT_DETACH: lazily drop the old root, and with it every host mount, from our view. */
    if (umount2(".", MNT_DETACH) < 0)
        return fail(EXIT_OWN_FAILURE, "detach the old root: %m");
    trace("umount old root", "mount(MS_SLAVE|MS_REC); umount2(\".\", MNT_DETACH)");
    if (chdir("/") < 0)
        return fail(EXIT_OWN_FAILURE, "chdir to the new root: %m");
    return 0;
}

static int mask_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        if (errno == ENOENT)
            return 0; /* nothing to hide */
        return fail(EXIT_OWN_FAILURE, "stat masked path %s: %m", path);
    }
    if (S_ISDIR(st.st_mode)) {
        /* An empty read-only tmpfs hides a directory's contents. */
        if (mount("tmpfs", path, "tmpfs", MS_RDONLY, NULL) < 0)
            return fail(EXIT_OWN_FAILURE, "mask %s with a tmpfs: %m", path);
    } else if (mount("/dev/null", path, NULL, MS_BIND, NULL) < 0) {
        /* /dev/null over a file: it reads as empty and swallows writes. */
        return fail(EXIT_OWN_FAILURE, "mask %s with /dev/null: %m", path);
    }
    return 0;
}

static int readonly_path(const char *path)
{
    /* Bind the path onto itself to get a mount of its own, then remount that read-only. */
    if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0) {
        if (errno == ENOENT)
            return 0;
        return fail(EXIT_OWN_FAILURE, "bind mount read-only path %s: %m", path);
    }
    unsigned long flags = MS_BIND | MS_REMOUNT | MS_RDONLY | current_flags(path);
    if (mount(NULL, path, NULL, flags, NULL) < 0)
        return fail(EXIT_OWN_FAILURE, "remount %s read-only: %m", path);
    return 0;
}

static int readonly_root(void)
{
    unsigned long flags = MS_BIND | MS_REMOUNT | MS_RDONLY | current_flags("/");
    if (mount(NULL, "/", NULL, flags, NULL) < 0)
        return fail(EXIT_OWN_FAILURE, "remount the root filesystem read-only: %m");
    return 0;
}

int mounts_setup(const struct container_spec *s, struct console *console, int *proc_sys)
{
    *proc_sys = -1;
    if (mount_rootfs(s) < 0)
        return -1;
    /* Open the root after mounting it, so lookups start on the mounted rootfs. */
    int rootfd = open(s->root_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0)
        return fail(EXIT_OWN_FAILURE, "open the rootfs %s: %m", s->root_path);
    for (size_t i = 0; i < s->n_mounts; i++)
        if (mount_one(rootfd, &s->mounts[i]) < 0)
            return -1;
    for (size_t i = 0; i < s->n_devices; i++)
        if (make_device(rootfd, &s->devices[i]) < 0)
            return -1;
    if (make_dev_symlinks(rootfd) < 0)
        return -1;
    if (console->wanted && make_console(rootfd, console) < 0)
        return -1;
    close(rootfd);

    if (pivot_into(s->root_path) < 0)
        return -1;
    /* linux.sysctl is written after "go" (an interface's file exists only once the caller has
       moved the interface in), when /proc/sys is read-only: keep a handle on the writable one */
    if (s->n_sysctls > 0 && (*proc_sys = open("/proc/sys", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
        return fail(EXIT_OWN_FAILURE, "open /proc/sys: %m");
    for (size_t i = 0; i < s->n_masked_paths; i++)
        if (mask_path(s->masked_paths[i]) < 0)
            return -1;
    for (size_t i = 0; i < s->n_readonly_paths; i++)
        if (readonly_path(s->readonly_paths[i]) < 0)
            return -1;
    if (s->root_readonly && readonly_root() < 0)
        return -1;
    return 0;
}
