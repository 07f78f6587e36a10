/*
 * gwbackup_plugin.h — the C SDK of GatewayBackup's external plugin protocol (version 1), on jansson.
 *
 * A plugin is a program that gwbackup runs once per step (collect, verify, restore) with one JSON
 * request on stdin; it answers with exactly one JSON object on stdout. This SDK reads and checks the
 * request, gives the plugin its action, paths and typed parameters, writes the one reply, reports
 * warnings and log lines (stderr), and turns SIGTERM and the deadline into a clean failure reply.
 *
 *     int main(void) {
 *         gwb_request *request = gwb_read_request();   // replies and returns NULL on bad input
 *         if (!request) return 1;
 *         const char *file;
 *         if (gwb_param(request, "file", 1, "s", &file) != 0) return gwb_reply_error(request, NULL);
 *         switch (gwb_action(request)) { ... }
 *         return gwb_reply_ok(request, "done");
 *     }
 *
 * Build in tree: `swift build` (the GatewayPluginSDK target); out of tree: `make` in this directory
 * (pkg-config jansson). See docs/plugins.md.
 */
#ifndef GWBACKUP_PLUGIN_H
#define GWBACKUP_PLUGIN_H

#include <stddef.h>
#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The protocol version this SDK speaks. */
#define GWB_PROTOCOL 1
/** The largest request the SDK reads (bytes); a longer one is refused. */
#define GWB_REQUEST_LIMIT (1024 * 1024)

/** The steps. GWB_ACTIVATE runs after a restore's files are in place (a plugin that lists
 *  "activate" in its descriptor's actions: reload a service). */
typedef enum { GWB_COLLECT = 1, GWB_VERIFY = 2, GWB_RESTORE = 3, GWB_ACTIVATE = 4 } gwb_action_t;

/** A checked request. Opaque; freed by gwb_free_request (or left to the process's exit). */
typedef struct gwb_request gwb_request;

/**
 * Reads the request from stdin (at most GWB_REQUEST_LIMIT bytes), parses it (duplicate keys
 * refused) and checks every field. Installs the SIGTERM and deadline handlers. On any problem it
 * writes an error reply naming it and returns NULL: the plugin should exit 1.
 */
gwb_request *gwb_read_request(void);

/**
 * Parses a request from memory, without I/O or signal handlers (for tests and fuzzing). Returns
 * NULL and fills `error` (NUL-terminated, at most `error_size` bytes) on any problem.
 */
gwb_request *gwb_parse_request(const char *data, size_t length, char *error, size_t error_size);

gwb_action_t gwb_action(const gwb_request *request);
/** "collect", "verify", "restore" or "activate". */
const char *gwb_action_name(const gwb_request *request);
const char *gwb_component(const gwb_request *request);
/** The appliance root (absolute, no trailing slash except for "/"). */
const char *gwb_root(const gwb_request *request);
/** The step's private staging directory (absolute). */
const char *gwb_staging(const gwb_request *request);
/** 1 for a restore that puts back the state saved before a failed restore. */
int gwb_is_rollback(const gwb_request *request);
/** The parameters object (borrowed; never NULL). */
json_t *gwb_parameters(const gwb_request *request);

/**
 * One parameter, unpacked with json_unpack_ex(JSON_STRICT) by `format` (jansson's unpack format:
 * "s" a string, "b" a boolean, "I" an integer, "o" any value, "[s*]" ...). Returns 0 when done, 1
 * when the parameter is absent and not `required` (outputs untouched), -1 on an error whose text
 * names the parameter (gwb_error).
 */
int gwb_param(gwb_request *request, const char *name, int required, const char *format, ...);

/**
 * A path parameter given as one string or an array of strings (a descriptor's `"type": "array",
 * "path": true`), each checked with gwb_path_problem. On 0, *paths is a malloc'd, NULL-terminated
 * array of *count strings borrowed from the request (free the array, not the strings). 1 when
 * absent and not `required`; -1 on an error naming the parameter and the element (gwb_error).
 */
int gwb_param_paths(gwb_request *request, const char *name, int required, const char ***paths, size_t *count);

/**
 * Expands `pattern` (relative, glob(3) syntax: `*`, `?`, `[...]` within a name) under `root`, and
 * calls `each` with every match's path relative to the root, sorted, skipping any match reached
 * through a symbolic link below the root (a match that is itself a link is passed, as a link).
 * Returns how many were passed, 0 for none, or -1 (gwb_error, or `each` returned non-zero).
 */
int gwb_glob(gwb_request *request, const char *root, const char *pattern, int (*each)(const char *relative, void *context), void *context);

/** Refuses parameters other than the NULL-terminated list of names: -1 (gwb_error) or 0. */
int gwb_params_only(gwb_request *request, ...);

/** The last error the SDK recorded (for gwb_reply_error(request, NULL)). */
const char *gwb_error(const gwb_request *request);

/** A warning: goes into the reply's "warnings" and on stderr. At most 64 are kept. */
void gwb_warning(gwb_request *request, const char *format, ...) __attribute__((format(printf, 2, 3)));
/** A log line on stderr (gwbackup keeps the last 16 KiB of stderr for a failure's message). */
void gwb_log(const char *format, ...) __attribute__((format(printf, 1, 2)));
/** A progress line on stderr: "progress: <text>". */
void gwb_progress(const char *format, ...) __attribute__((format(printf, 1, 2)));

/**
 * Writes the success reply (with the warnings so far) and returns 0, for `return gwb_reply_ok(...)`.
 * Only the first reply of a run is written; a second returns 1 and writes nothing.
 */
int gwb_reply_ok(gwb_request *request, const char *message);
/** Writes a failure reply and returns 1. A NULL format sends gwb_error(request). */
int gwb_reply_error(gwb_request *request, const char *format, ...) __attribute__((format(printf, 2, 3)));

void gwb_free_request(gwb_request *request);

/* ---- Files, the way a plugin should touch them ---- */

/**
 * Checks a relative path from a manifest or a backup: not empty, not absolute, no "." or ".."
 * component, no NUL, at most 4096 bytes. Returns NULL when fine, else why not.
 */
const char *gwb_path_problem(const char *relative);

/**
 * Joins root and a checked relative path into `out` (size `out_size`) and refuses a path that goes
 * through a symbolic link (any component below the root). 0 or -1 (gwb_error).
 */
int gwb_resolve(gwb_request *request, const char *root, const char *relative, char *out, size_t out_size);

/** Creates the missing directories between `base` and the file `path` (which must lie below it),
 *  0755, refusing to go through anything that is not a directory. 0 or -1 (gwb_error). */
int gwb_make_parents(gwb_request *request, const char *base, const char *path);

/** Reads a regular file (not through a final symlink) of at most `limit` bytes into a malloc'd,
 *  NUL-terminated buffer. Returns it (length in *length) or NULL with errno (ENOENT: absent; EFBIG:
 *  over the limit). */
char *gwb_read_file(const char *path, size_t limit, size_t *length);

/** Writes `data` to `path` atomically: a temporary file in the same directory, fsync, rename,
 *  fsync of the directory. 0 or -1 with errno. */
int gwb_write_file_atomic(const char *path, const void *data, size_t length, unsigned mode);

#ifdef __cplusplus
}
#endif
#endif
