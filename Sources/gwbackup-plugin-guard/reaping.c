/* The guard without namespaces (gwbackup --no-sandbox): a child subreaper that sweeps /proc for
   what PROGRAM left behind. A fork chain can stay ahead of the sweep for its 5 s; the sandbox's PID
   namespace cannot be outrun. */
#define _GNU_SOURCE
#include "guard.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
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

int guard_run_reaping(const struct guard_options *options, const sigset_t *waited, const sigset_t *previous) {
    pid_t child = fork();
    if (child == 0) {
        sigprocmask(SIG_SETMASK, previous, NULL);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (options->directory && chdir(options->directory) != 0) {
            fprintf(stderr, "gwbackup-plugin-guard: cannot enter %s: %s\n", options->directory, strerror(errno));
            _exit(126);
        }
        guard_exec(options);
    }
    if (child < 0) {
        fprintf(stderr, "gwbackup-plugin-guard: fork: %s\n", strerror(errno));
        return 126;
    }
    int child_status = 0, child_done = 0, terminate = 0, forwarded = 0;
    double kill_at = 0;
    for (;;) {
        if (guard_reap(child, &child_status)) child_done = 1;
        if (terminate && !forwarded) {
            /* Pass SIGTERM on (a timeout's SIGTERM reached the whole group already; a second is
               harmless). gwbackup gone: nobody waits for the result, kill now. */
            forwarded = 1;
            if (!child_done) kill(child, SIGTERM);
            kill_at = guard_now() + (getppid() != options->parent ? 0.0 : 2.0);
        }
        if (child_done || (kill_at > 0 && guard_now() >= kill_at)) break;
        double wait = kill_at > 0 ? kill_at - guard_now() : 1.0;
        if (wait < 0) wait = 0;
        struct timespec timeout = {(time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9)};
        int number = sigtimedwait(waited, NULL, &timeout);
        if (number == SIGTERM || number == SIGINT || number == SIGHUP) terminate = 1;
    }
    /* Whatever is left below us goes, then is reaped (orphans come to us: we are the subreaper). */
    double deadline = guard_now() + 5.0;
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
        if (guard_now() >= deadline) break;
        usleep(5000);
    }
    /* Only what the program left behind when it ended on its own: after a SIGTERM the whole group
       is going down, and what is still dying then is not the program's doing. */
    if (left > 0 && !terminate) {
        fprintf(stderr, "\ngwbackup-plugin-guard: killed %d process%s left running\n", left, left == 1 ? "" : "es");
        fflush(stderr);
    }
    if (!child_done) return 128 + SIGKILL;
    return guard_exit_as(child_status, previous);
}
