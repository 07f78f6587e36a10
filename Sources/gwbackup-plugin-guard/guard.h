/* The plugin guard's parts: main.c (options, exec), reaping.c (the subreaper without namespaces),
   sandbox.c (namespaces, mounts, capabilities). */
#ifndef GWBACKUP_PLUGIN_GUARD_H
#define GWBACKUP_PLUGIN_GUARD_H

#include <signal.h>
#include <sys/types.h>

#define GUARD_MAX_PATHS 64

/* An overlayfs over `target` whose changes land in `upper` (gwbackup reads them after the step). */
struct guard_overlay {
    const char *target;
    const char *upper;
    const char *work;
};

/* The command line: what to run, and how to confine it. */
struct guard_options {
    pid_t parent;
    int sandbox;
    int network;
    int keep_run;
    int exec_fd;
    const char *directory;
    const char *writable[GUARD_MAX_PATHS];
    int writable_count;
    struct guard_overlay overlays[GUARD_MAX_PATHS];
    int overlay_count;
    char **argv;
};

extern char **environ;

double guard_now(void);
void guard_exec(const struct guard_options *options);
int guard_exit_as(int status, const sigset_t *previous);
int guard_reap(pid_t watched, int *status);
int guard_run_reaping(const struct guard_options *options, const sigset_t *waited, const sigset_t *previous);
int guard_run_sandboxed(const struct guard_options *options, const sigset_t *waited, const sigset_t *previous);
int guard_probe(void);

#endif
