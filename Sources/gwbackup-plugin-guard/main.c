/*
 * gwbackup-plugin-guard PARENT_PID -- PROGRAM [ARGS...]
 *
 * Runs PROGRAM (a plugin's step, or any helper gwbackup starts) so that nothing it starts outlives
 * it: the guard is a child subreaper (PR_SET_CHILD_SUBREAPER), so every process PROGRAM leaves
 * behind -- background children, double-forked daemons, children that called setsid() and left the
 * process group -- is re-parented to the guard rather than to init. When PROGRAM exits, the guard
 * kills every process below it and reaps them, then exits as PROGRAM did (same status, or the same
 * signal).
 *
 * If gwbackup dies (even by SIGKILL) the guard gets SIGTERM (PR_SET_PDEATHSIG): it passes SIGTERM
 * on to PROGRAM, gives it 2 s, and kills the whole tree. A SIGTERM from gwbackup's timeout is handled
 * the same way. stdin, stdout and stderr are PROGRAM's; the guard writes only diagnostics to stderr.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The parent of `pid` from /proc/PID/stat, or -1. */
static pid_t parent_of(pid_t pid) {
    char path[64], buffer[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *file = fopen(path, "re");
    if (!file) return -1;
    size_t length = fread(buffer, 1, sizeof buffer - 1, file);
    fclose(file);
    buffer[length] = '\0';
    /* "pid (comm) state ppid ...": comm may hold spaces and parentheses; the last ')' ends it. */
    char *close = strrchr(buffer, ')');
    if (!close) return -1;
    char state;
    int parent;
    if (sscanf(close + 1, " %c %d", &state, &parent) != 2) return -1;
    return (pid_t)parent;
}

/* Sends SIGKILL to every process below the guard; returns how many it found. */
static int kill_descendants(void) {
    pid_t self = getpid();
    int found = 0;
    DIR *proc = opendir("/proc");
    if (!proc) return 0;
    struct dirent *entry;
    while ((entry = readdir(proc))) {
        char *end;
        long pid = strtol(entry->d_name, &end, 10);
        if (*end || pid <= 1 || pid == self) continue;
        /* Walk up the parents: a descendant reaches the guard before init. */
        pid_t cursor = (pid_t)pid;
        for (int depth = 0; depth < 4096 && cursor > 1; depth++) {
            pid_t parent = parent_of(cursor);
            if (parent == self) {
                kill((pid_t)pid, SIGKILL);
                found++;
                break;
            }
            cursor = parent;
        }
    }
    closedir(proc);
    return found;
}

static double now(void) {
    struct timespec time;
    clock_gettime(CLOCK_MONOTONIC, &time);
    return (double)time.tv_sec + (double)time.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc < 4 || strcmp(argv[2], "--") != 0) {
        fprintf(stderr, "usage: gwbackup-plugin-guard PARENT_PID -- PROGRAM [ARGS...]\n");
        return 127;
    }
    pid_t expected_parent = (pid_t)atol(argv[1]);
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
    int terminate = expected_parent > 0 && getppid() != expected_parent;

    pid_t child = terminate ? -1 : fork();
    if (child == 0) {
        sigprocmask(SIG_SETMASK, &previous, NULL);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        execv(argv[3], argv + 3);
        fprintf(stderr, "gwbackup-plugin-guard: failed to execute %s: %s\n", argv[3], strerror(errno));
        _exit(errno == ENOENT ? 127 : 126);
    }
    if (child < 0 && !terminate) {
        fprintf(stderr, "gwbackup-plugin-guard: fork: %s\n", strerror(errno));
        return 126;
    }

    int child_status = 0, child_done = child < 0, forwarded = 0;
    double kill_at = 0;
    for (;;) {
        int status;
        pid_t reaped;
        while ((reaped = waitpid(-1, &status, WNOHANG)) > 0) {
            if (reaped == child) {
                child_status = status;
                child_done = 1;
            }
        }
        if (terminate && !forwarded) {
            /* Pass SIGTERM on (a timeout's SIGTERM reached the whole group already; a second is harmless). */
            forwarded = 1;
            if (!child_done) kill(child, SIGTERM);
            kill_at = now() + 2.0;
        }
        if (child_done || (kill_at > 0 && now() >= kill_at)) break;
        double wait = kill_at > 0 ? kill_at - now() : 1.0;
        struct timespec timeout = {(time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9)};
        int number = sigtimedwait(&waited, NULL, &timeout);
        if (number == SIGTERM || number == SIGINT || number == SIGHUP) terminate = 1;
    }
    /* Whatever is left below us goes, then is reaped (orphans come to us: we are the subreaper). */
    double deadline = now() + 5.0;
    int left = -1;
    for (;;) {
        int found = kill_descendants();
        /* The first sweep counts what PROGRAM left running; gwbackup reports it (last stderr line). */
        if (left < 0) left = found;
        int status;
        pid_t reaped;
        while ((reaped = waitpid(-1, &status, WNOHANG)) > 0) {
            if (reaped == child && !child_done) {
                child_status = status;
                child_done = 1;
            }
        }
        if (found == 0 && reaped < 0 && errno == ECHILD) break;
        if (now() >= deadline) break;
        usleep(5000);
    }
    /* Only what the program left behind when it ended on its own: after a SIGTERM the whole group
       is going down, and what is still dying then is not the program's doing. */
    if (left > 0 && !terminate) {
        fprintf(stderr, "\ngwbackup-plugin-guard: killed %d process%s left running\n", left, left == 1 ? "" : "es");
        fflush(stderr);
    }
    if (!child_done) return 128 + SIGKILL;
    if (WIFSIGNALED(child_status)) {
        int number = WTERMSIG(child_status);
        prctl(PR_SET_PDEATHSIG, 0);
        signal(number, SIG_DFL);
        sigprocmask(SIG_SETMASK, &previous, NULL);
        sigset_t only;
        sigemptyset(&only);
        sigaddset(&only, number);
        sigprocmask(SIG_UNBLOCK, &only, NULL);
        raise(number);
        return 128 + number;
    }
    return WEXITSTATUS(child_status);
}
