/*
 * sealed.c: never let a container reach the helper's binary on disk (CVE-2019-5736).
 *
 * A process in a container can open /proc/PID/exe of a runtime process that entered its
 * namespaces and, when that binary is a file on the host, write through it. So before doing
 * anything else the helper copies itself into an anonymous memfd, seals it against writes, and
 * re-executes from it.
 *
 * Whether we already are that copy is decided by looking at the running binary itself, never
 * at anything inherited (an environment variable could be set by anyone who starts us, and
 * would then let us run straight from the writable file on disk): /proc/self/exe must be a
 * memfd carrying all of SEALS. A plain file has no seals at all (F_GET_SEALS fails), and a
 * tmpfs file or an unsealed memfd lacks F_SEAL_WRITE. The copy we make is checked for the same
 * seals before we execute it, so the re-executed helper always passes the check: no loop.
 */
#include "helper.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

/* The seals that make the copy immutable: no write, no resize, no way to remove them. */
#define SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

/* Older helpers trusted this variable; it means nothing now, and is removed on sight so that
   nothing we start inherits it. */
#define LEGACY_MARKER "_TSCONTAINER_HELPER_SEALED"

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U /* Linux 6.3: say that this memfd will be executed */
#endif

extern char **environ;

/* A memfd for the copy; MFD_EXEC keeps kernels with vm.memfd_noexec from refusing it. */
static int make_memfd(void)
{
    int fd = memfd_create("tscontainer-helper", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
    if (fd < 0 && errno == EINVAL) /* kernel older than 6.3: no MFD_EXEC */
        fd = memfd_create("tscontainer-helper", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    return fd;
}

/* Does the file behind fd carry every one of SEALS? */
static bool has_seals(int fd)
{
    /* F_GET_SEALS: only memfds (and other shmem files) have seals; anything else says EINVAL */
    int seals = fcntl(fd, F_GET_SEALS);
    return seals >= 0 && (seals & SEALS) == SEALS;
}

int sealed_reexec(char **argv)
{
    unsetenv(LEGACY_MARKER);

    /* /proc/self/exe is our own binary whatever path or symlink we were started by. */
    int exe = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    if (exe < 0)
        return fail(EXIT_OWN_FAILURE, "open /proc/self/exe: %m");
    if (has_seals(exe)) {
        close(exe); /* we are the sealed copy */
        return 0;
    }
    struct stat st;
    if (fstat(exe, &st) < 0)
        return fail(EXIT_OWN_FAILURE, "stat /proc/self/exe: %m");

    int mfd = make_memfd();
    if (mfd < 0)
        return fail(EXIT_OWN_FAILURE, "memfd_create: %m");

    /* sendfile copies inside the kernel: no user-space buffer, one call for ~100 KiB. */
    off_t left = st.st_size;
    while (left > 0) {
        ssize_t n = sendfile(mfd, exe, NULL, (size_t)left);
        if (n <= 0)
            return fail(EXIT_OWN_FAILURE, "copy the helper into a memfd: %m");
        left -= n;
    }
    close(exe);

    /* F_ADD_SEALS makes the copy immutable; then check, so the copy will recognise itself. */
    if (fcntl(mfd, F_ADD_SEALS, SEALS) < 0 || !has_seals(mfd))
        return fail(EXIT_OWN_FAILURE, "seal the helper memfd: %m");

    /* fexecve runs the memfd itself; /proc/self/exe then reads "/memfd:tscontainer-helper". */
    fexecve(mfd, argv, environ);
    return fail(EXIT_OWN_FAILURE, "re-execute the helper from its sealed memfd: %m");
}
