/*
 * sealed.c: never let a container reach the helper's binary on disk (CVE-2019-5736).
 *
 * A process in a container can open /proc/PID/exe of a runtime process that entered its
 * namespaces and, when that binary is a file on the host, write through it. So before doing
 * anything else the helper copies itself into an anonymous memfd, seals it against writes, and
 * re-executes from it. An environment marker stops the copy from copying itself again.
 */
#include "helper.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#define SEALED_MARKER "_TSCONTAINER_HELPER_SEALED"

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

int sealed_reexec(char **argv)
{
    if (getenv(SEALED_MARKER)) {
        /* We are the sealed copy: drop the marker so nothing we start ever sees it. */
        unsetenv(SEALED_MARKER);
        return 0;
    }

    /* /proc/self/exe is our own binary whatever path or symlink we were started by. */
    int exe = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    if (exe < 0)
        return fail(EXIT_OWN_FAILURE, "open /proc/self/exe: %m");
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

    /* The seals make the copy immutable: no write, no resize, and no way to remove the seals. */
    if (fcntl(mfd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0)
        return fail(EXIT_OWN_FAILURE, "seal the helper memfd: %m");

    if (setenv(SEALED_MARKER, "1", 1) < 0)
        return fail(EXIT_OWN_FAILURE, "setenv: %m");
    /* fexecve runs the memfd itself; /proc/self/exe then reads "/memfd:tscontainer-helper". */
    fexecve(mfd, argv, environ);
    return fail(EXIT_OWN_FAILURE, "re-execute the helper from its sealed memfd: %m");
}
