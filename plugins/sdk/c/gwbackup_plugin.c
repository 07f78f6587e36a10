/*
 * The C SDK of GatewayBackup's external plugin protocol (version 1). See include/gwbackup_plugin.h.
 */
#define _GNU_SOURCE
#include "gwbackup_plugin.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <glob.h>
#include <sys/stat.h>
#include <unistd.h>

#define WARNING_LIMIT 64

struct gwb_request {
    json_t *json;
    json_t *parameters;
    gwb_action_t action;
    const char *action_name;
    const char *component;
    const char *root;
    const char *staging;
    int rollback;
    json_t *warnings;
    char error[1024];
};

/* One reply per run, even when a signal arrives while the plugin replies. */
static volatile sig_atomic_t replied = 0;
/* Pre-rendered replies for the signal handlers (which must not allocate). */
static char term_reply[256];
static char deadline_reply[256];

static void set_error(gwb_request *request, const char *format, ...) __attribute__((format(printf, 2, 3)));
static void set_error(gwb_request *request, const char *format, ...) {
    va_list list;
    va_start(list, format);
    vsnprintf(request->error, sizeof request->error, format, list);
    va_end(list);
}

static void write_all(int fd, const char *text, size_t length) {
    while (length > 0) {
        ssize_t written = write(fd, text, length);
        if (written < 0) {
            if (errno == EINTR) continue;
            return;
        }
        text += written;
        length -= (size_t)written;
    }
}

static void on_signal(int number) {
    if (!replied) {
        replied = 1;
        const char *reply = number == SIGALRM ? deadline_reply : term_reply;
        write_all(STDOUT_FILENO, reply, strlen(reply));
    }
    _exit(1);
}

/* A reply for when the request could not even be read. */
static void reply_plain_error(const char *message) {
    if (replied) return;
    replied = 1;
    json_t *reply = json_pack("{s:i, s:s, s:s}", "protocol", GWB_PROTOCOL, "status", "error", "message", message);
    if (reply) {
        json_dumpf(reply, stdout, JSON_COMPACT);
        json_decref(reply);
    }
    fputc('\n', stdout);
    fflush(stdout);
}

static const char *string_field(gwb_request *request, const char *name) {
    json_t *value = json_object_get(request->json, name);
    if (!value) {
        set_error(request, "the request has no '%s'", name);
        return NULL;
    }
    if (!json_is_string(value)) {
        set_error(request, "the request's '%s' is not a string", name);
        return NULL;
    }
    const char *text = json_string_value(value);
    if (strlen(text) != json_string_length(value)) {
        set_error(request, "the request's '%s' contains a NUL character", name);
        return NULL;
    }
    return text;
}

static int absolute_path(gwb_request *request, const char *name, const char *path) {
    if (path[0] != '/' || strlen(path) >= PATH_MAX) {
        set_error(request, "the request's '%s' is not an absolute path", name);
        return -1;
    }
    return 0;
}

gwb_request *gwb_parse_request(const char *data, size_t length, char *error, size_t error_size) {
    gwb_request *request = calloc(1, sizeof *request);
    if (!request) {
        snprintf(error, error_size, "out of memory");
        return NULL;
    }
    json_error_t problem;
    request->json = json_loadb(data, length, JSON_REJECT_DUPLICATES, &problem);
    if (!request->json) {
        snprintf(error, error_size, "the request is not valid JSON: %s (at byte %d)", problem.text, problem.position);
        free(request);
        return NULL;
    }
    request->warnings = json_array();
    if (!json_is_object(request->json)) {
        set_error(request, "the request is not a JSON object");
        goto fail;
    }
    json_t *protocol = json_object_get(request->json, "protocol");
    if (!json_is_integer(protocol)) {
        set_error(request, "the request has no integer 'protocol'");
        goto fail;
    }
    if (json_integer_value(protocol) != GWB_PROTOCOL) {
        set_error(request, "protocol %lld is not supported: this plugin speaks protocol %d", (long long)json_integer_value(protocol), GWB_PROTOCOL);
        goto fail;
    }
    request->action_name = string_field(request, "action");
    if (!request->action_name) goto fail;
    if (strcmp(request->action_name, "collect") == 0) request->action = GWB_COLLECT;
    else if (strcmp(request->action_name, "verify") == 0) request->action = GWB_VERIFY;
    else if (strcmp(request->action_name, "restore") == 0) request->action = GWB_RESTORE;
    else if (strcmp(request->action_name, "activate") == 0) request->action = GWB_ACTIVATE;
    else {
        set_error(request, "unknown action '%.64s' (this plugin knows collect, verify, restore and activate)", request->action_name);
        goto fail;
    }
    if (!(request->component = string_field(request, "component"))) goto fail;
    if (!(request->root = string_field(request, "applianceRoot")) || absolute_path(request, "applianceRoot", request->root) != 0) goto fail;
    if (!(request->staging = string_field(request, "stagingDirectory")) || absolute_path(request, "stagingDirectory", request->staging) != 0) goto fail;
    json_t *rollback = json_object_get(request->json, "rollback");
    if (rollback && !json_is_boolean(rollback)) {
        set_error(request, "the request's 'rollback' is not a boolean");
        goto fail;
    }
    request->rollback = rollback ? json_is_true(rollback) : 0;
    request->parameters = json_object_get(request->json, "parameters");
    if (request->parameters && !json_is_object(request->parameters)) {
        set_error(request, "the request's 'parameters' is not an object");
        goto fail;
    }
    if (!request->parameters) {
        request->parameters = json_object();
        json_object_set_new(request->json, "parameters", request->parameters);
    }
    return request;
fail:
    snprintf(error, error_size, "%s", request->error);
    gwb_free_request(request);
    return NULL;
}

gwb_request *gwb_read_request(void) {
    /* Whatever gwbackup inherited, a plugin answers on stdout and logs on stderr. */
    static char buffer[GWB_REQUEST_LIMIT + 1];
    size_t length = 0;
    for (;;) {
        ssize_t count = read(STDIN_FILENO, buffer + length, sizeof buffer - length);
        if (count < 0) {
            if (errno == EINTR) continue;
            reply_plain_error("cannot read the request from stdin");
            return NULL;
        }
        if (count == 0) break;
        length += (size_t)count;
        if (length > GWB_REQUEST_LIMIT) {
            reply_plain_error("the request is larger than 1 MiB");
            return NULL;
        }
    }
    char error[1024];
    gwb_request *request = gwb_parse_request(buffer, length, error, sizeof error);
    if (!request) {
        reply_plain_error(error);
        return NULL;
    }
    /* SIGTERM (gwbackup's timeout or a job being stopped) and the deadline become a failure reply. */
    snprintf(term_reply, sizeof term_reply, "{\"protocol\": %d, \"status\": \"error\", \"message\": \"stopped by SIGTERM during %s\"}\n", GWB_PROTOCOL, request->action_name);
    snprintf(deadline_reply, sizeof deadline_reply, "{\"protocol\": %d, \"status\": \"error\", \"message\": \"%s did not finish before its deadline\"}\n", GWB_PROTOCOL, request->action_name);
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_signal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGTERM, &action, NULL);
    sigaction(SIGALRM, &action, NULL);
    /* The deadline: the request's timeoutSeconds (the descriptor's), less a margin, so that the
       reply says why before gwbackup's own timeout kills the process group. */
    json_t *timeout = json_object_get(request->json, "timeoutSeconds");
    if (json_is_number(timeout)) {
        double seconds = json_number_value(timeout);
        if (seconds > 2 && seconds <= 86400) alarm((unsigned)(seconds - 1));
    }
    return request;
}

gwb_action_t gwb_action(const gwb_request *request) { return request->action; }
const char *gwb_action_name(const gwb_request *request) { return request->action_name; }
const char *gwb_component(const gwb_request *request) { return request->component; }
const char *gwb_root(const gwb_request *request) { return request->root; }
const char *gwb_staging(const gwb_request *request) { return request->staging; }
int gwb_is_rollback(const gwb_request *request) { return request->rollback; }
json_t *gwb_parameters(const gwb_request *request) { return request->parameters; }
const char *gwb_error(const gwb_request *request) { return request->error[0] ? request->error : "failed"; }

int gwb_param(gwb_request *request, const char *name, int required, const char *format, ...) {
    json_t *value = json_object_get(request->parameters, name);
    if (!value) {
        if (!required) return 1;
        set_error(request, "parameter '%s' is required", name);
        return -1;
    }
    json_error_t problem;
    va_list list;
    va_start(list, format);
    int result = json_vunpack_ex(value, &problem, JSON_STRICT, format, list);
    va_end(list);
    if (result != 0) {
        set_error(request, "parameter '%s': %s", name, problem.text);
        return -1;
    }
    return 0;
}

int gwb_param_paths(gwb_request *request, const char *name, int required, const char ***paths, size_t *count) {
    json_t *value = json_object_get(request->parameters, name);
    *paths = NULL;
    *count = 0;
    if (!value) {
        if (!required) return 1;
        set_error(request, "parameter '%s' is required", name);
        return -1;
    }
    size_t length = json_is_array(value) ? json_array_size(value) : 1;
    if (!json_is_array(value) && !json_is_string(value)) {
        set_error(request, "parameter '%s': expected a path or an array of paths", name);
        return -1;
    }
    const char **list = calloc(length + 1, sizeof *list);
    if (!list) {
        set_error(request, "parameter '%s': out of memory", name);
        return -1;
    }
    for (size_t index = 0; index < length; index++) {
        json_t *element = json_is_array(value) ? json_array_get(value, index) : value;
        const char *text = json_string_value(element);
        const char *problem = text ? gwb_path_problem(text) : "is not a string";
        if (problem) {
            set_error(request, "parameter '%s'[%zu]: path %s", name, index, problem);
            free(list);
            return -1;
        }
        list[index] = text;
    }
    *paths = list;
    *count = length;
    return 0;
}

int gwb_glob(gwb_request *request, const char *root, const char *pattern, int (*each)(const char *relative, void *context), void *context) {
    const char *problem = gwb_path_problem(pattern);
    if (problem) {
        set_error(request, "pattern '%.256s' %s", pattern ? pattern : "", problem);
        return -1;
    }
    char full[PATH_MAX];
    size_t root_length = strlen(root);
    int slash = root[root_length - 1] == '/' ? 0 : 1;
    if (snprintf(full, sizeof full, "%s%s%s", root, slash ? "/" : "", pattern) >= (int)sizeof full) {
        set_error(request, "pattern '%.256s' is too long", pattern);
        return -1;
    }
    glob_t found;
    int result = glob(full, GLOB_ERR, NULL, &found);
    if (result == GLOB_NOMATCH) return 0;
    if (result != 0) {
        set_error(request, "pattern '%.256s': %s", pattern, result == GLOB_NOSPACE ? "out of memory" : "a directory could not be read");
        return -1;
    }
    int calls = 0;
    for (size_t index = 0; index < found.gl_pathc; index++) {
        const char *relative = found.gl_pathv[index] + root_length + slash;
        /* glob(3) walks through symbolic links; a match reached through one is not below the root.
           The match itself may be a link: it is passed as one, not followed. */
        char parent[PATH_MAX], checked[PATH_MAX];
        snprintf(parent, sizeof parent, "%s", relative);
        char *cut = strrchr(parent, '/');
        if (cut) {
            *cut = '\0';
            if (gwb_resolve(request, root, parent, checked, sizeof checked) != 0) continue;
        }
        calls++;
        if (each(relative, context) != 0) {
            globfree(&found);
            return -1;
        }
    }
    globfree(&found);
    return calls;
}

int gwb_params_only(gwb_request *request, ...) {
    const char *key;
    json_t *value;
    json_object_foreach(request->parameters, key, value) {
        (void)value;
        int known = 0;
        va_list list;
        va_start(list, request);
        for (const char *name = va_arg(list, const char *); name; name = va_arg(list, const char *)) {
            if (strcmp(name, key) == 0) known = 1;
        }
        va_end(list);
        if (!known) {
            set_error(request, "unknown parameter '%.128s'", key);
            return -1;
        }
    }
    return 0;
}

void gwb_log(const char *format, ...) {
    va_list list;
    va_start(list, format);
    vfprintf(stderr, format, list);
    va_end(list);
    fputc('\n', stderr);
}

void gwb_progress(const char *format, ...) {
    fputs("progress: ", stderr);
    va_list list;
    va_start(list, format);
    vfprintf(stderr, format, list);
    va_end(list);
    fputc('\n', stderr);
}

void gwb_warning(gwb_request *request, const char *format, ...) {
    char text[1024];
    va_list list;
    va_start(list, format);
    vsnprintf(text, sizeof text, format, list);
    va_end(list);
    fprintf(stderr, "warning: %s\n", text);
    if (json_array_size(request->warnings) < WARNING_LIMIT) json_array_append_new(request->warnings, json_string(text));
}

static int reply(gwb_request *request, const char *status, const char *message) {
    /* Block the handlers while replying, so that a reply is never cut by another. */
    sigset_t block, previous;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGALRM);
    sigprocmask(SIG_BLOCK, &block, &previous);
    if (replied) {
        sigprocmask(SIG_SETMASK, &previous, NULL);
        return 1;
    }
    replied = 1;
    json_t *object = json_object();
    json_object_set_new(object, "protocol", json_integer(GWB_PROTOCOL));
    json_object_set_new(object, "status", json_string(status));
    /* A message that is not UTF-8 would make json_string fail: say so rather than send nothing. */
    json_t *text = json_string(message ? message : "");
    json_object_set_new(object, "message", text ? text : json_string("(the message was not valid UTF-8)"));
    if (request && json_array_size(request->warnings) > 0) json_object_set(object, "warnings", request->warnings);
    json_dumpf(object, stdout, JSON_COMPACT);
    fputc('\n', stdout);
    fflush(stdout);
    json_decref(object);
    sigprocmask(SIG_SETMASK, &previous, NULL);
    return strcmp(status, "ok") == 0 ? 0 : 1;
}

int gwb_reply_ok(gwb_request *request, const char *message) { return reply(request, "ok", message); }

int gwb_reply_error(gwb_request *request, const char *format, ...) {
    char text[2048];
    if (!format) {
        snprintf(text, sizeof text, "%s", request ? gwb_error(request) : "failed");
    } else {
        va_list list;
        va_start(list, format);
        vsnprintf(text, sizeof text, format, list);
        va_end(list);
    }
    reply(request, "error", text);
    return 1;
}

void gwb_free_request(gwb_request *request) {
    if (!request) return;
    json_decref(request->json);
    json_decref(request->warnings);
    free(request);
}

const char *gwb_path_problem(const char *relative) {
    if (!relative || !*relative) return "is empty";
    if (relative[0] == '/') return "is absolute";
    if (strlen(relative) > 4096) return "is longer than 4096 bytes";
    const char *part = relative;
    while (*part) {
        const char *end = strchr(part, '/');
        size_t length = end ? (size_t)(end - part) : strlen(part);
        if (length == 0) return "has an empty component";
        if ((length == 1 && part[0] == '.') || (length == 2 && part[0] == '.' && part[1] == '.')) return "has a '.' or '..' component";
        part += length;
        if (*part == '/') part++;
    }
    return NULL;
}

int gwb_resolve(gwb_request *request, const char *root, const char *relative, char *out, size_t out_size) {
    const char *problem = gwb_path_problem(relative);
    if (problem) {
        set_error(request, "path '%.256s' %s", relative ? relative : "", problem);
        return -1;
    }
    int written = snprintf(out, out_size, "%s%s%s", root, root[strlen(root) - 1] == '/' ? "" : "/", relative);
    if (written < 0 || (size_t)written >= out_size) {
        set_error(request, "path '%.256s' is too long", relative);
        return -1;
    }
    /* Every component below the root, the last included, must not be a symbolic link. */
    size_t start = strlen(root) + (root[strlen(root) - 1] == '/' ? 0 : 1);
    for (size_t index = start; ; index++) {
        if (out[index] == '/' || out[index] == '\0') {
            char saved = out[index];
            out[index] = '\0';
            struct stat status;
            int result = lstat(out, &status);
            out[index] = saved;
            if (result == 0 && S_ISLNK(status.st_mode)) {
                set_error(request, "path '%.256s' goes through a symbolic link; refusing to follow it", relative);
                return -1;
            }
            if (saved == '\0') break;
        }
    }
    return 0;
}

int gwb_make_parents(gwb_request *request, const char *base, const char *path) {
    char directory[PATH_MAX];
    size_t base_length = strlen(base);
    if (snprintf(directory, sizeof directory, "%s", path) >= (int)sizeof directory || strncmp(directory, base, base_length) != 0) {
        set_error(request, "%.200s does not lie below %.200s", path, base);
        return -1;
    }
    char *slash = strrchr(directory, '/');
    if (!slash || (size_t)(slash - directory) <= base_length) return 0;
    *slash = '\0';
    for (size_t index = base_length + 1; ; index++) {
        char saved = directory[index];
        if (saved != '/' && saved != '\0') continue;
        directory[index] = '\0';
        struct stat status;
        if (lstat(directory, &status) != 0) {
            if (mkdir(directory, 0755) != 0 && errno != EEXIST) {
                set_error(request, "cannot create %.200s: %s", directory, strerror(errno));
                return -1;
            }
        } else if (!S_ISDIR(status.st_mode)) {
            set_error(request, "%.200s is not a directory", directory);
            return -1;
        }
        directory[index] = saved;
        if (saved == '\0') break;
    }
    return 0;
}

char *gwb_read_file(const char *path, size_t limit, size_t *length) {
    /* O_NONBLOCK: opening a FIFO for reading would wait for a writer that never comes. */
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return NULL;
    struct stat status;
    if (fstat(fd, &status) != 0 || !S_ISREG(status.st_mode)) {
        close(fd);
        errno = EINVAL;
        return NULL;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    if ((size_t)status.st_size > limit) {
        close(fd);
        errno = EFBIG;
        return NULL;
    }
    char *data = malloc((size_t)status.st_size + 1);
    size_t total = 0;
    while (data) {
        ssize_t count = read(fd, data + total, (size_t)status.st_size + 1 - total);
        if (count < 0 && errno == EINTR) continue;
        if (count < 0) {
            free(data);
            data = NULL;
            break;
        }
        if (count == 0) break;
        total += (size_t)count;
        if (total > (size_t)status.st_size) {  /* grew while read: not the file we measured */
            free(data);
            data = NULL;
            errno = EFBIG;
            break;
        }
    }
    close(fd);
    if (!data) return NULL;
    data[total] = '\0';
    if (length) *length = total;
    return data;
}

int gwb_write_file_atomic(const char *path, const void *data, size_t length, unsigned mode) {
    char temporary[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (!slash || snprintf(temporary, sizeof temporary, "%.*s/.gwb-tmp-XXXXXX", (int)(slash - path), path) >= (int)sizeof temporary) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = mkstemp(temporary);
    if (fd < 0) return -1;
    const char *bytes = data;
    size_t left = length;
    int failed = 0;
    while (left > 0 && !failed) {
        ssize_t written = write(fd, bytes, left);
        if (written < 0 && errno == EINTR) continue;
        if (written < 0) failed = 1;
        else {
            bytes += written;
            left -= (size_t)written;
        }
    }
    if (failed || fchmod(fd, mode & 07777) != 0 || fsync(fd) != 0) failed = 1;
    int saved = errno;
    if (close(fd) != 0 && !failed) {
        failed = 1;
        saved = errno;
    }
    if (failed || rename(temporary, path) != 0) {
        if (!failed) saved = errno;
        unlink(temporary);
        errno = saved;
        return -1;
    }
    char directory[PATH_MAX];
    snprintf(directory, sizeof directory, "%.*s", (int)(slash - path), path);
    int dirfd = open(directory[0] ? directory : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd >= 0) {
        int result = fsync(dirfd);
        close(dirfd);
        if (result != 0) return -1;
    }
    return 0;
}
