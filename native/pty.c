/*
 * pty.c: pseudo-terminals.
 *
 * The container's terminal is allocated from the container's own devpts instance (so `tty`
 * inside prints /dev/pts/0), by the container's init before pivot_root; the master end is then
 * passed to the monitor over a unix socket (SCM_RIGHTS), which keeps it for the relay.
 */
#include "helper.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

/* Given an open ptmx (a multiplexer), get a new master and its slave. */
int pty_open(int ptmx, int *master, int *slave)
{
    *master = ptmx;
    /* unlockpt: a new slave is locked until the master says it may be opened. */
    if (unlockpt(ptmx) < 0)
        return fail(EXIT_OWN_FAILURE, "unlock the terminal: %m");
    /* TIOCGPTPEER opens the slave from the master itself: no path lookup that could be raced. */
    *slave = ioctl(ptmx, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (*slave < 0)
        return fail(EXIT_OWN_FAILURE, "open the terminal's slave end: %m");
    return 0;
}

/* In a fresh session: the slave becomes our controlling terminal and our stdin/out/err. */
int pty_make_controlling(int slave)
{
    /* TIOCSCTTY: a session leader acquires its controlling terminal explicitly. */
    if (ioctl(slave, TIOCSCTTY, 0) < 0)
        return fail(EXIT_OWN_FAILURE, "make the terminal the controlling terminal: %m");
    for (int fd = 0; fd < 3; fd++)
        if (dup2(slave, fd) < 0)
            return fail(EXIT_OWN_FAILURE, "dup2 the terminal onto fd %d: %m", fd);
    if (slave > 2)
        close(slave);
    return 0;
}

/* Put the caller's terminal in raw mode: keys go to the container, not to our line editor. */
int pty_raw_mode(int fd, struct termios *saved)
{
    struct termios raw;
    if (tcgetattr(fd, saved) < 0)
        return -1;
    raw = *saved;
    cfmakeraw(&raw);
    /* TCSADRAIN: switch once the output already written has gone out */
    return tcsetattr(fd, TCSADRAIN, &raw);
}

void pty_restore_mode(int fd, const struct termios *saved)
{
    tcsetattr(fd, TCSADRAIN, saved);
}

/* Copy the window size of terminal `from` onto terminal `to`; the kernel then sends SIGWINCH. */
void pty_copy_winsize(int from, int to)
{
    struct winsize ws;
    if (ioctl(from, TIOCGWINSZ, &ws) == 0)
        ioctl(to, TIOCSWINSZ, &ws);
}

int pty_send_fd(int sock, int fd)
{
    char byte = 'M';
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } control;
    memset(&control, 0, sizeof control);
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1,
                         .msg_control = control.buf, .msg_controllen = sizeof control.buf};
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cmsg), &fd, sizeof fd);
    /* sendmsg with SCM_RIGHTS: the kernel installs a copy of fd in the receiving process */
    if (sendmsg(sock, &msg, 0) < 0)
        return fail(EXIT_OWN_FAILURE, "send the terminal to the monitor: %m");
    return 0;
}

int pty_recv_fd(int sock)
{
    char byte;
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } control;
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1,
                         .msg_control = control.buf, .msg_controllen = sizeof control.buf};
    ssize_t n;
    do
        n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n <= 0)
        return -1; /* the child died before it got that far */
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
    if (!cmsg || cmsg->cmsg_type != SCM_RIGHTS)
        return -1;
    int fd;
    memcpy(&fd, CMSG_DATA(cmsg), sizeof fd);
    return fd;
}
