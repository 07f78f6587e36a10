/*
 * gwbackup-plugin-guard PARENT_PID [OPTIONS] -- PROGRAM [ARGS...]
 * gwbackup-plugin-guard --probe
 *
 * Runs PROGRAM (a plugin's step, or any helper gwbackup starts) so that nothing it starts outlives
 * it, and, with --sandbox, so that it can change nothing but the directories gwbackup names.
 *
 * Without --sandbox the guard is a child subreaper (PR_SET_CHILD_SUBREAPER): every process PROGRAM
 * leaves behind is re-parented to the guard, which kills and reaps them when PROGRAM exits.
 *
 * With --sandbox the step runs in namespaces of its own (sandbox.c):
 *   - a PID namespace whose init is a second guard process: when PROGRAM exits, init kills every
 *     process in the namespace and exits, and the kernel guarantees that nothing survives init (no
 *     /proc sweep a fork chain can stay ahead of);
 *   - a mount namespace in which every mount is read-only except the --writable directories and the
 *     --overlay directories (a writable overlayfs whose upper layer gwbackup reads afterwards: the
 *     real directory is never written by the step), with a fresh /proc, a minimal /dev and, unless
 *     --keep-run, an empty /run (no host service sockets);
 *   - a network namespace with only a down loopback, unless --network; an IPC namespace;
 *   - no capabilities beyond those a file-restoring root process needs (chown, DAC override, fowner,
 *     fsetid, kill, setuid, setgid) and no_new_privs, so it cannot undo any of the above.
 *
 * --exec-fd N runs the program from the already opened and checked descriptor N (fexecve), never by
 * path, so a file swapped after gwbackup checked it is not what runs. --chdir DIR sets the working
 * directory.
 *
 * If gwbackup dies (even by SIGKILL) the guard gets SIGTERM (PR_SET_PDEATHSIG) and kills the step at
 * once; a SIGTERM from gwbackup's timeout gives PROGRAM 2 s first. stdin, stdout and stderr are
 * PROGRAM's; the guard writes only diagnostics to stderr. Exit status 125 with a line starting
 * "gwbackup-plugin-guard: sandbox:" means the sandbox could not be set up.
 */
#define _GNU_SOURCE
#include "guard.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

double guard_now(void) {
    struct timespec time;
    clock_gettime(CLOCK_MONOTONIC, &time);
    return (double)time.tv_sec + (double)time.tv_nsec / 1e9;
}

/* Execs the step's program: from the checked descriptor when one was given, else by path. */
void guard_exec(const struct guard_options *options) {
    if (options->exec_fd >= 0) {
        fexecve(options->exec_fd, options->argv, environ);
    } else {
        execv(options->argv[0], options->argv);
    }
    fprintf(stderr, "gwbackup-plugin-guard: failed to execute %s: %s\n", options->argv[0], strerror(errno));
    _exit(errno == ENOENT ? 127 : 126);
}

/* Reaps every child that has ended without waiting; returns 1 (and its status) when `watched` was
   among them. Orphans come to the guard too (a subreaper, or a namespace's init). */
int guard_reap(pid_t watched, int *status) {
    int found = 0, ended;
    pid_t reaped;
    while ((reaped = waitpid(-1, &ended, WNOHANG)) > 0) {
        if (reaped == watched) {
            *status = ended;
            found = 1;
        }
    }
    return found;
}

/* Exits as a process that ended with `status` did: same code, or the same signal. */
int guard_exit_as(int status, const sigset_t *previous) {
    if (WIFSIGNALED(status)) {
        int number = WTERMSIG(status);
        prctl(PR_SET_PDEATHSIG, 0);
        signal(number, SIG_DFL);
        sigprocmask(SIG_SETMASK, previous, NULL);
        sigset_t only;
        sigemptyset(&only);
        sigaddset(&only, number);
        sigprocmask(SIG_UNBLOCK, &only, NULL);
        raise(number);
        return 128 + number;
    }
    return WEXITSTATUS(status);
}

static int parse(int argc, char **argv, struct guard_options *options) {
    memset(options, 0, sizeof *options);
    options->exec_fd = -1;
    options->parent = (pid_t)atol(argv[1]);
    int index = 2;
    while (index < argc && strcmp(argv[index], "--") != 0) {
        const char *flag = argv[index];
        if (strcmp(flag, "--sandbox") == 0) {
            options->sandbox = 1;
        } else if (strcmp(flag, "--network") == 0) {
            options->network = 1;
        } else if (strcmp(flag, "--keep-run") == 0) {
            options->keep_run = 1;
        } else if (strcmp(flag, "--exec-fd") == 0 && index + 1 < argc) {
            options->exec_fd = atoi(argv[++index]);
        } else if (strcmp(flag, "--chdir") == 0 && index + 1 < argc) {
            options->directory = argv[++index];
        } else if (strcmp(flag, "--writable") == 0 && index + 1 < argc && options->writable_count < GUARD_MAX_PATHS) {
            options->writable[options->writable_count++] = argv[++index];
        } else if (strcmp(flag, "--overlay") == 0 && index + 3 < argc && options->overlay_count < GUARD_MAX_PATHS) {
            struct guard_overlay *overlay = &options->overlays[options->overlay_count++];
            overlay->target = argv[++index];
            overlay->upper = argv[++index];
            overlay->work = argv[++index];
        } else {
            return -1;
        }
        index++;
    }
    if (index + 1 >= argc) return -1;
    options->argv = argv + index + 1;
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "--probe") == 0) return guard_probe();
    struct guard_options options;
    if (argc < 4 || parse(argc, argv, &options) != 0) {
        fprintf(stderr, "usage: gwbackup-plugin-guard PARENT_PID [--sandbox [--network] [--keep-run] [--writable DIR]... "
                        "[--overlay DIR UPPER WORK]...] [--exec-fd N] [--chdir DIR] -- PROGRAM [ARGS...]\n");
        return 127;
    }
    /* The signals the guard waits for are blocked and taken with sigtimedwait: no handler, no race
       between looking at a flag and going to sleep. */
    sigset_t waited, previous;
    sigemptyset(&waited);
    sigaddset(&waited, SIGCHLD);
    sigaddset(&waited, SIGTERM);
    sigaddset(&waited, SIGINT);
    sigaddset(&waited, SIGHUP);
    sigprocmask(SIG_BLOCK, &waited, &previous);
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
        fprintf(stderr, "gwbackup-plugin-guard: cannot become a child subreaper: %s\n", strerror(errno));
        return 126;
    }
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    /* gwbackup may have died between our start and the prctl above. */
    if (options.parent > 0 && getppid() != options.parent) return 128 + SIGKILL;
    if (options.sandbox) return guard_run_sandboxed(&options, &waited, &previous);
    return guard_run_reaping(&options, &waited, &previous);
}
