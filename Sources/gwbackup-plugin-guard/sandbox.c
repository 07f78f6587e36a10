/* The guard's sandbox: namespaces, a read-only file system with named writable places, and a
   capability set that cannot undo either. See main.c for what the step may do inside. */
#define _GNU_SOURCE
#include "guard.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* What init tells the outer guard when the step is over. */
struct guard_report {
    int status;
    int leftover;
};

/* Prints why the sandbox could not be made (errno's text) and returns the guard's status for it. */
static int fail(const char *what, const char *path) {
    int code = errno;
    fprintf(stderr, "gwbackup-plugin-guard: sandbox: %s%s%s: %s\n", what, path ? " " : "", path ? path : "", strerror(code));
    return 125;
}

/* True when `path` is `top` or lies below it. */
static int is_under(const char *path, const char *top) {
    size_t length = strlen(top);
    return strncmp(path, top, length) == 0 && (path[length] == '\0' || path[length] == '/');
}

/* True when any place the step is given lies under `top` (then `top` cannot be replaced). */
static int names_under(const struct guard_options *options, const char *top) {
    if (options->directory && is_under(options->directory, top)) return 1;
    for (int i = 0; i < options->writable_count; i++)
        if (is_under(options->writable[i], top)) return 1;
    for (int i = 0; i < options->overlay_count; i++)
        if (is_under(options->overlays[i].target, top) || is_under(options->overlays[i].upper, top)) return 1;
    return 0;
}

/* A detached overlayfs over `overlay->target`; the kernel's own message (from the fs context)
   joins errno's when it refuses. */
static int make_overlay(const struct guard_overlay *overlay) {
    int context = fsopen("overlay", FSOPEN_CLOEXEC);
    if (context < 0) return -1;
    /* metacopy off: every changed file is whole in the upper layer, which is what gwbackup applies.
       redirect_dir off: renaming a directory copies it (EXDEV), never a redirect gwbackup would
       have to interpret. */
    const char *settings[][2] = {
        {"lowerdir", overlay->target}, {"upperdir", overlay->upper}, {"workdir", overlay->work},
        {"metacopy", "off"}, {"redirect_dir", "off"}, {"index", "off"},
    };
    for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++) {
        if (fsconfig(context, FSCONFIG_SET_STRING, settings[i][0], settings[i][1], 0) != 0) goto failed;
    }
    /* Not "volatile" (no sync when the overlay goes): a loaded test run once had a fresh overlay
       refused with "incompat feature 'volatile'", and the sync it saves was not measurable. */
    if (fsconfig(context, FSCONFIG_CMD_CREATE, NULL, NULL, 0) != 0) goto failed;
    int mounted = fsmount(context, FSMOUNT_CLOEXEC, MOUNT_ATTR_NODEV);
    if (mounted < 0) goto failed;
    close(context);
    return mounted;
failed:;
    int code = errno;
    char message[512];
    ssize_t length = read(context, message, sizeof message - 1);
    if (length > 0) {
        message[length] = '\0';
        fprintf(stderr, "gwbackup-plugin-guard: sandbox: overlay over %s: %s\n", overlay->target, message);
    }
    close(context);
    errno = code;
    return -1;
}

/* A tmpfs at /dev holding only null, zero, full, random and urandom (bound from the host) and the
   fd links: no disk, no terminal, no kernel memory for a root process to open. */
static int make_minimal_dev(void) {
    static const char *nodes[] = {"null", "zero", "full", "random", "urandom"};
    enum { count = sizeof nodes / sizeof nodes[0] };
    int clones[count];
    char path[64];
    for (int i = 0; i < count; i++) {
        snprintf(path, sizeof path, "/dev/%s", nodes[i]);
        clones[i] = open_tree(AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
        if (clones[i] < 0) return fail("cannot clone", path);
    }
    if (mount("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=64k") != 0) return fail("cannot mount a tmpfs at", "/dev");
    for (int i = 0; i < count; i++) {
        snprintf(path, sizeof path, "/dev/%s", nodes[i]);
        int file = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0666);
        if (file < 0) return fail("cannot create", path);
        close(file);
        if (move_mount(clones[i], "", AT_FDCWD, path, MOVE_MOUNT_F_EMPTY_PATH) != 0) return fail("cannot bind", path);
        close(clones[i]);
    }
    static const char *links[][2] = {
        {"/proc/self/fd", "/dev/fd"}, {"/proc/self/fd/0", "/dev/stdin"},
        {"/proc/self/fd/1", "/dev/stdout"}, {"/proc/self/fd/2", "/dev/stderr"},
    };
    for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
        if (symlink(links[i][0], links[i][1]) != 0) return fail("cannot link", links[i][1]);
    }
    return 0;
}

/* The step's view of the file system, in the new mount namespace: everything read-only but the
   writable directories and the overlays. Writable places are taken (cloned, or created as
   detached overlays) before the whole tree turns read-only, then put back on top of it. */
static int make_mounts(const struct guard_options *options) {
    /* Nothing done here reaches the host's mounts. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) return fail("cannot make the mounts private", NULL);
    int writable[GUARD_MAX_PATHS], overlays[GUARD_MAX_PATHS];
    for (int i = 0; i < options->writable_count; i++) {
        writable[i] = open_tree(AT_FDCWD, options->writable[i], OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
        if (writable[i] < 0) return fail("cannot clone", options->writable[i]);
    }
    for (int i = 0; i < options->overlay_count; i++) {
        overlays[i] = make_overlay(&options->overlays[i]);
        if (overlays[i] < 0) return fail("cannot make an overlay over", options->overlays[i].target);
    }
    if (!names_under(options, "/dev") && make_minimal_dev() != 0) return 125;
    struct stat info;
    if (!options->keep_run && !names_under(options, "/run") && stat("/run", &info) == 0 && S_ISDIR(info.st_mode)) {
        /* Host services listen on sockets under /run (systemd, D-Bus): a root process that can
           reach them can have anything done. */
        if (mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755,size=16k") != 0) return fail("cannot hide", "/run");
    }
    struct mount_attr read_only = {.attr_set = MOUNT_ATTR_RDONLY};
    if (mount_setattr(AT_FDCWD, "/", AT_RECURSIVE, &read_only, sizeof read_only) != 0) return fail("cannot make the file system read-only", NULL);
    for (int i = 0; i < options->writable_count; i++) {
        if (move_mount(writable[i], "", AT_FDCWD, options->writable[i], MOVE_MOUNT_F_EMPTY_PATH) != 0) return fail("cannot make writable", options->writable[i]);
        close(writable[i]);
    }
    for (int i = 0; i < options->overlay_count; i++) {
        if (move_mount(overlays[i], "", AT_FDCWD, options->overlays[i].target, MOVE_MOUNT_F_EMPTY_PATH) != 0) return fail("cannot put the overlay on", options->overlays[i].target);
        close(overlays[i]);
    }
    return 0;
}

/* A fresh /proc for the new PID namespace (only its processes, no way to another namespace's root
   through /proc/PID/root), with the kernel's settings read-only. Run by init, inside. */
static int make_proc(void) {
    if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0) return fail("cannot mount", "/proc");
    static const char *settings[] = {"/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus", "/proc/fs"};
    for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++) {
        if (mount(settings[i], settings[i], NULL, MS_BIND | MS_REC, NULL) != 0) {
            if (errno == ENOENT) continue;
            return fail("cannot bind", settings[i]);
        }
        if (mount(NULL, settings[i], NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0) return fail("cannot make read-only", settings[i]);
    }
    return 0;
}

/* Leaves the capabilities a root process restoring files needs (owners, modes, any file's
   permissions, its own children's signals, dropping to another user) and nothing that could undo
   the sandbox: no CAP_SYS_ADMIN (mounts), CAP_MKNOD (devices), CAP_SYS_PTRACE, CAP_SYS_MODULE,
   CAP_DAC_READ_SEARCH (open_by_handle_at), CAP_NET_ADMIN, CAP_SYS_RAWIO. no_new_privs: no setuid
   program gets any of them back. */
static int drop_capabilities(void) {
    const unsigned long long keep = (1ULL << CAP_CHOWN) | (1ULL << CAP_DAC_OVERRIDE) | (1ULL << CAP_FOWNER) |
        (1ULL << CAP_FSETID) | (1ULL << CAP_KILL) | (1ULL << CAP_SETGID) | (1ULL << CAP_SETUID);
    for (int capability = 0; capability < 64; capability++) {
        if (keep & (1ULL << capability)) continue;
        if (prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0 && errno != EINVAL) return fail("cannot drop a capability", NULL);
    }
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    if (syscall(SYS_capget, &header, data) != 0) return fail("cannot read the capabilities", NULL);
    for (int i = 0; i < 2; i++) {
        unsigned int mask = (unsigned int)(keep >> (32 * i));
        data[i].effective &= mask;
        data[i].permitted &= mask;
        data[i].inheritable &= mask;
    }
    if (syscall(SYS_capset, &header, data) != 0) return fail("cannot set the capabilities", NULL);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return fail("cannot set no_new_privs", NULL);
    return 0;
}

/* Processes in the namespace other than init (its /proc is the namespace's own). */
static int count_others(void) {
    int found = 0;
    DIR *proc = opendir("/proc");
    if (!proc) return 0;
    struct dirent *entry;
    while ((entry = readdir(proc))) {
        char *end;
        long pid = strtol(entry->d_name, &end, 10);
        if (!*end && pid > 1) found++;
    }
    closedir(proc);
    return found;
}

static void ignore_signal(int number) { (void)number; }

/* PID 1 of the step's namespace: starts the program, passes termination on, and when the program
   exits counts and kills whatever is left. Its own exit takes the namespace down with it. */
static int run_init(const struct guard_options *options, const sigset_t *waited, const sigset_t *previous, int report, int lifeline) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    /* The outer guard may have died before the line above: its end of the lifeline is then closed. */
    struct pollfd outer = {lifeline, POLLIN, 0};
    if (poll(&outer, 1, 0) > 0) return 128 + SIGKILL;
    /* The kernel drops signals from outside the namespace that init leaves at SIG_DFL; with a
       handler they arrive (and, blocked, wait for sigtimedwait). */
    struct sigaction handler;
    memset(&handler, 0, sizeof handler);
    handler.sa_handler = ignore_signal;
    sigaction(SIGTERM, &handler, NULL);
    sigaction(SIGINT, &handler, NULL);
    sigaction(SIGHUP, &handler, NULL);
    sigaction(SIGCHLD, &handler, NULL);
    if (make_proc() != 0) return 125;
    pid_t child = fork();
    if (child == 0) {
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        signal(SIGCHLD, SIG_DFL);
        sigprocmask(SIG_SETMASK, previous, NULL);
        close(report);
        close(lifeline);
        if (options->directory && chdir(options->directory) != 0) _exit(fail("cannot enter", options->directory));
        if (drop_capabilities() != 0) _exit(125);
        guard_exec(options);
    }
    if (child < 0) return fail("cannot fork the step", NULL);
    struct guard_report result = {0, 0};
    for (;;) {
        int number = sigtimedwait(waited, NULL, NULL);
        if (number == SIGTERM || number == SIGINT || number == SIGHUP) kill(-1, SIGTERM);
        if (guard_reap(child, &result.status)) break;
    }
    result.leftover = count_others();
    kill(-1, SIGKILL);
    while (waitpid(-1, NULL, 0) > 0 || errno == EINTR) {}
    if (write(report, &result, sizeof result) != (ssize_t)sizeof result) return 126;
    return 0;
}

int guard_run_sandboxed(const struct guard_options *options, const sigset_t *waited, const sigset_t *previous) {
    int namespaces = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | (options->network ? 0 : CLONE_NEWNET);
    if (unshare(namespaces) != 0) return fail("cannot make namespaces", NULL);
    if (make_mounts(options) != 0) return 125;
    int report[2], lifeline[2];
    if (pipe2(report, O_CLOEXEC) != 0 || pipe2(lifeline, O_CLOEXEC) != 0) return fail("pipe", NULL);
    pid_t init = fork();
    if (init == 0) {
        close(report[0]);
        close(lifeline[1]);
        _exit(run_init(options, waited, previous, report[1], lifeline[0]));
    }
    if (init < 0) return fail("cannot fork the namespace's init", NULL);
    close(report[1]);
    close(lifeline[0]);
    int init_status = 0, done = 0, terminate = 0, forwarded = 0;
    double kill_at = 0;
    for (;;) {
        if (guard_reap(init, &init_status)) done = 1;
        if (done) break;
        if (terminate && !forwarded) {
            forwarded = 1;
            if (getppid() != options->parent) {
                /* gwbackup is gone: nobody will read the result; the namespace goes now. */
                kill(init, SIGKILL);
            } else {
                kill(init, SIGTERM);
                kill_at = guard_now() + 2.0;
            }
        }
        if (kill_at > 0 && guard_now() >= kill_at) {
            kill(init, SIGKILL);
            kill_at = 0;
        }
        double wait = kill_at > 0 ? kill_at - guard_now() : 1.0;
        if (wait < 0) wait = 0;
        struct timespec timeout = {(time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9)};
        int number = sigtimedwait(waited, NULL, &timeout);
        if (number == SIGTERM || number == SIGINT || number == SIGHUP) terminate = 1;
    }
    /* init has exited, so the kernel has killed and reaped everything else in the namespace. */
    struct guard_report result;
    ssize_t length = read(report[0], &result, sizeof result);
    if (length != (ssize_t)sizeof result) {
        if (WIFEXITED(init_status) && WEXITSTATUS(init_status) == 125) return 125;
        /* The step was killed (it outlived SIGTERM, or gwbackup died): end as killed, as it was. */
        return guard_exit_as(SIGKILL, previous);
    }
    if (result.leftover > 0 && !terminate) {
        fprintf(stderr, "\ngwbackup-plugin-guard: killed %d process%s left running\n", result.leftover, result.leftover == 1 ? "" : "es");
        fflush(stderr);
    }
    return guard_exit_as(result.status, previous);
}

int guard_probe(void) {
    if (unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC) != 0) return fail("cannot make namespaces", NULL);
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) return fail("cannot make the mounts private", NULL);
    int context = fsopen("overlay", FSOPEN_CLOEXEC);
    if (context < 0) return fail("no overlay file system", NULL);
    close(context);
    struct mount_attr read_only = {.attr_set = MOUNT_ATTR_RDONLY};
    if (mount_setattr(AT_FDCWD, "/", AT_RECURSIVE, &read_only, sizeof read_only) != 0) return fail("cannot make the file system read-only", NULL);
    return 0;
}
