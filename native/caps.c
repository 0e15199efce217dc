/*
 * caps.c: capabilities by name, the bounding set, the other four sets.
 *
 * We talk to the kernel directly (capset, prctl) rather than through libcap: five sets of at
 * most 64 bits each are all there is to it.
 */
#include "helper.h"

#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static const char *const cap_names[] = {
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
};
#define N_CAPS ((int)(sizeof cap_names / sizeof cap_names[0]))

int cap_from_name(const char *name)
{
    for (int i = 0; i < N_CAPS; i++)
        if (strcmp(name, cap_names[i]) == 0)
            return i;
    return -1;
}

/*
 * Drop every capability not in `keep` from the bounding set. This needs CAP_SETPCAP in our
 * effective set, so it runs while we are still root, before setuid.
 */
int caps_drop_bounding(uint64_t keep)
{
    if (trace_on) {
        char kept[1024] = "";
        for (int cap = 0; cap < N_CAPS; cap++)
            if (keep & (1ULL << cap))
                snprintf(kept + strlen(kept), sizeof kept - strlen(kept), "%s%s", kept[0] ? "," : "", cap_names[cap]);
        trace("drop bounding", "keep %d of %d capabilities: %s", __builtin_popcountll(keep), N_CAPS, kept);
    }
    for (int cap = 0; cap < 64; cap++) {
        if (keep & (1ULL << cap))
            continue;
        /* PR_CAPBSET_DROP removes the capability from what execve can ever grant. */
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
            if (errno == EINVAL)
                break; /* past the kernel's last capability */
            return fail(EXIT_OWN_FAILURE, "drop %s from the bounding set: %m",
                        cap < N_CAPS ? cap_names[cap] : "a capability");
        }
    }
    return 0;
}

/* Set effective, permitted and inheritable with capset, then raise the ambient set. */
int caps_apply(const uint64_t caps[CAP_NSETS])
{
    struct __user_cap_header_struct header = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2];
    for (int word = 0; word < 2; word++) {
        data[word].effective = (uint32_t)(caps[CAP_EFFECTIVE] >> (32 * word));
        data[word].permitted = (uint32_t)(caps[CAP_PERMITTED] >> (32 * word));
        data[word].inheritable = (uint32_t)(caps[CAP_INHERITABLE] >> (32 * word));
    }
    /* capset: glibc has no wrapper; the kernel checks that we only ever lower permitted. */
    if (syscall(SYS_capset, &header, data) < 0)
        return fail(EXIT_OWN_FAILURE, "capset: %m");
    trace("capset", "effective %#llx permitted %#llx inheritable %#llx (%d effective)",
          (unsigned long long)caps[CAP_EFFECTIVE], (unsigned long long)caps[CAP_PERMITTED],
          (unsigned long long)caps[CAP_INHERITABLE], __builtin_popcountll(caps[CAP_EFFECTIVE]));

    /* The ambient set starts empty; clear it anyway in case we inherited one. */
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        return fail(EXIT_OWN_FAILURE, "clear the ambient capabilities: %m");
    for (int cap = 0; cap < 64; cap++) {
        if (!(caps[CAP_AMBIENT] & (1ULL << cap)))
            continue;
        /* Ambient capabilities survive execve of a file without file capabilities for non-root. */
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0)
            return fail(EXIT_OWN_FAILURE, "raise ambient %s: %m",
                        cap < N_CAPS ? cap_names[cap] : "capability");
    }
    return 0;
}
