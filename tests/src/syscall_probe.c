/* The syscall probe of the seccomp tests (built by tests/src/syscall_probe.rs with
 * `cc -static`, bound read-only into a busybox container): each argument names one
 * system call to try; the probe prints one line per argument, `NAME ok` or
 * `NAME ERRNO` (the errno's name, e.g. `add_key EPERM`), and exits 0. Each call is
 * made in a child of its own, so one (a new user namespace) does not change the next.
 * busybox has no keyctl, and its unshare(1) reports errors in words; this says exactly
 * what the kernel (and the seccomp filter) answered.
 *
 * add_key       add a "user" key to the process keyring (dies with the process)
 * keyctl        KEYCTL_GET_KEYRING_ID of a new thread keyring (dies with the thread)
 * unshare-user  unshare(CLONE_NEWUSER)
 * unshare-all   unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET)
 * clone-newns   clone(CLONE_NEWNS) of a child that exits at once
 * mkdir:PATH    mkdir(PATH, 0755), then rmdir it
 * syscall:N     system call number N with no arguments (e.g. one no kernel has)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define KEY_SPEC_THREAD_KEYRING -1
#define KEY_SPEC_PROCESS_KEYRING -2
#define KEYCTL_GET_KEYRING_ID 0

static long try_call(const char *what) {
    if (strcmp(what, "add_key") == 0)
        return syscall(SYS_add_key, "user", "hostctl-probe", "x", 1, KEY_SPEC_PROCESS_KEYRING);
    if (strcmp(what, "keyctl") == 0)
        return syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_THREAD_KEYRING, 1);
    if (strcmp(what, "unshare-user") == 0)
        return unshare(CLONE_NEWUSER);
    if (strcmp(what, "unshare-all") == 0)
        return unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET);
    if (strcmp(what, "clone-newns") == 0) {
        long pid = syscall(SYS_clone, CLONE_NEWNS | SIGCHLD, 0, 0, 0, 0);
        if (pid == 0)
            _exit(0);
        if (pid > 0)
            waitpid((pid_t)pid, 0, 0);
        return pid;
    }
    if (strncmp(what, "mkdir:", 6) == 0) {
        long ret = mkdir(what + 6, 0755);
        if (ret == 0)
            rmdir(what + 6);
        return ret;
    }
    if (strncmp(what, "syscall:", 8) == 0)
        return syscall(strtol(what + 8, 0, 10), 0, 0, 0, 0, 0, 0);
    errno = EINVAL;
    return -1;
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        fflush(stdout);
        pid_t child = fork();
        if (child < 0) {
            printf("%s fork:%s\n", argv[i], strerrorname_np(errno));
            continue;
        }
        if (child == 0) {
            long ret = try_call(argv[i]);
            const char *name = ret < 0 ? strerrorname_np(errno) : "ok";
            printf("%s %s\n", argv[i], name ? name : "?");
            fflush(stdout);
            _exit(0);
        }
        waitpid(child, 0, 0);
    }
    return 0;
}
