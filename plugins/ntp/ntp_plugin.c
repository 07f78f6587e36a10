/*
 * The ntp plugin: NTP's configuration and its symmetric keys, written in C with GatewayBackup's
 * plugin SDK (plugins/sdk/c). Unlike the fileset plugin it understands what it carries:
 *
 *   collect  copies ntp.conf and ntp.keys, with mode, owner and time, to the same paths under the
 *            staging directory (so stock `tar -x` of the backup gives the appliance's files), and
 *            records which existed (.gwbackup-ntp.json);
 *   verify   parses both before anything changes: every key line is "ID TYPE KEY" (ID 1-65535, a
 *            known TYPE, a printable KEY of 1-64 characters, no ID twice), and every trustedkey,
 *            requestkey and controlkey names a key that exists;
 *   restore  checks again (unless it is a rollback, which puts back exactly what was there), then
 *            installs both atomically (or removes one that was absent) and reports the key ids.
 *
 * Parameters: "conf" and "keys", paths relative to the appliance root.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gwbackup_plugin.h"

#define FILE_LIMIT (1024 * 1024)
#define KEY_LIMIT 65535

static const char *const key_types[] = {"M", "MD5", "SHA", "SHA1", "SHA224", "SHA256", "SHA384", "SHA512", "AES128CMAC", "RMD160", NULL};

typedef struct {
    const char *name;      /* "conf" or "keys": the parameter and the staged file's name */
    const char *relative;  /* from the manifest */
} ntp_file;

/* The next line of `*cursor` into `buffer`, without its comment: 1, or 0 at the end, or -1 (replied)
   for a line longer than the buffer. */
static int next_line(gwb_request *request, const char *file, const char **cursor, int *number, char *buffer, size_t size) {
    if (!**cursor) return 0;
    (*number)++;
    const char *end = strchr(*cursor, '\n');
    size_t length = end ? (size_t)(end - *cursor) : strlen(*cursor);
    if (length >= size) return gwb_reply_error(request, "%s line %d is longer than %zu characters", file, *number, size - 1), -1;
    memcpy(buffer, *cursor, length);
    buffer[length] = '\0';
    char *comment = strchr(buffer, '#');
    if (comment) *comment = '\0';
    *cursor += length + (end ? 1 : 0);
    return 1;
}

/* Checks a keys file; fills `present` (present[id] = 1) and `ids` (ascending, comma-separated). */
static int check_keys(gwb_request *request, const char *text, unsigned char *present, char *ids, size_t ids_size) {
    int line_number = 0, got;
    ids[0] = '\0';
    const char *line = text;
    char buffer[512];
    while ((got = next_line(request, "ntp.keys", &line, &line_number, buffer, sizeof buffer)) > 0) {
        char *save = NULL;
        char *id_text = strtok_r(buffer, " \t\r", &save);
        if (id_text) {
            char *type = strtok_r(NULL, " \t\r", &save);
            char *key = strtok_r(NULL, " \t\r", &save);
            char *extra = strtok_r(NULL, " \t\r", &save);
            char *rest = NULL;
            errno = 0;
            long id = strtol(id_text, &rest, 10);
            if (errno || *rest || id < 1 || id > KEY_LIMIT) return gwb_reply_error(request, "ntp.keys line %d: key id '%.16s' is not a number from 1 to %d", line_number, id_text, KEY_LIMIT), -1;
            if (!type || !key) return gwb_reply_error(request, "ntp.keys line %d: expected 'ID TYPE KEY'", line_number), -1;
            if (extra) return gwb_reply_error(request, "ntp.keys line %d: unexpected text after the key", line_number), -1;
            int known = 0;
            for (int index = 0; key_types[index]; index++) if (strcasecmp(type, key_types[index]) == 0) known = 1;
            if (!known) return gwb_reply_error(request, "ntp.keys line %d: unknown key type '%.16s'", line_number, type), -1;
            size_t key_length = strlen(key);
            if (key_length < 1 || key_length > 64) return gwb_reply_error(request, "ntp.keys line %d: the key must have 1 to 64 characters", line_number), -1;
            for (size_t index = 0; index < key_length; index++) {
                if (key[index] < 0x21 || key[index] > 0x7e) return gwb_reply_error(request, "ntp.keys line %d: the key has a character that is not printable ASCII", line_number), -1;
            }
            if (present[id]) return gwb_reply_error(request, "ntp.keys line %d: key id %ld is defined twice", line_number, id), -1;
            present[id] = 1;
        }
    }
    if (got < 0) return -1;
    size_t used = 0;
    for (long id = 1; id <= KEY_LIMIT; id++) {
        if (!present[id]) continue;
        int written = snprintf(ids + used, ids_size - used, "%s%ld", used ? ", " : "", id);
        if (written < 0 || (size_t)written >= ids_size - used) break;
        used += (size_t)written;
    }
    return 0;
}

/* Checks that every trustedkey / requestkey / controlkey of ntp.conf names a defined key. */
static int check_conf(gwb_request *request, const char *text, const unsigned char *present) {
    int line_number = 0, got;
    const char *line = text;
    char buffer[4096];
    while ((got = next_line(request, "ntp.conf", &line, &line_number, buffer, sizeof buffer)) > 0) {
        char *save = NULL;
        char *word = strtok_r(buffer, " \t\r", &save);
        if (word && (strcmp(word, "trustedkey") == 0 || strcmp(word, "requestkey") == 0 || strcmp(word, "controlkey") == 0)) {
            const char *directive = word;
            int count = 0;
            for (char *item = strtok_r(NULL, " \t\r", &save); item; item = strtok_r(NULL, " \t\r", &save)) {
                /* trustedkey takes ids and ranges "(1 ... 5)"-style are ntpsec's; accept "a-b" too. */
                char *dash = strchr(item, '-');
                char *rest = NULL;
                long first = strtol(item, &rest, 10), last = first;
                if (dash && rest == dash) last = strtol(dash + 1, &rest, 10);
                if (*rest || first < 1 || last > KEY_LIMIT || first > last) return gwb_reply_error(request, "ntp.conf line %d: '%.32s' in %s is not a key id", line_number, item, directive), -1;
                for (long id = first; id <= last; id++) {
                    if (!present[id]) return gwb_reply_error(request, "ntp.conf line %d: %s %ld names a key that ntp.keys does not define", line_number, directive, id), -1;
                }
                count++;
            }
            if (count == 0) return gwb_reply_error(request, "ntp.conf line %d: %s without a key id", line_number, directive), -1;
        }
    }
    return got < 0 ? -1 : 0;
}

/* The record of what collect found: which files were present (an absent one is removed by restore). */
#define RECORD_NAME ".gwbackup-ntp.json"

/* Copies one file with its mode, owner and modification time (so that `tar -x` of the backup gives
   the appliance's own file, as the fileset plugin's components do). */
static int copy_file(gwb_request *request, const char *source, const char *target, const char *data, size_t length, const struct stat *status) {
    if (gwb_write_file_atomic(target, data, length, status->st_mode & 0777) != 0) return gwb_reply_error(request, "cannot write %s: %s", target, strerror(errno)), -1;
    if (geteuid() == 0 && lchown(target, status->st_uid, status->st_gid) != 0) gwb_warning(request, "cannot give %s its owner: %s", source, strerror(errno));
    struct timespec times[2] = {status->st_atim, status->st_mtim};
    if (utimensat(AT_FDCWD, target, times, AT_SYMLINK_NOFOLLOW) != 0) gwb_warning(request, "cannot give %s its time: %s", source, strerror(errno));
    return 0;
}

/* collect: each file to the same relative path under staging, and a record of which were present. */
static int collect(gwb_request *request, ntp_file *files) {
    json_t *record = json_object();
    for (int index = 0; index < 2; index++) {
        char source[PATH_MAX], target[PATH_MAX];
        if (gwb_resolve(request, gwb_root(request), files[index].relative, source, sizeof source) != 0) return gwb_reply_error(request, NULL);
        size_t length = 0;
        char *data = gwb_read_file(source, FILE_LIMIT, &length);
        if (!data && errno == ENOENT) {
            json_object_set_new(record, files[index].name, json_pack("{s:s, s:b}", "path", files[index].relative, "present", 0));
            gwb_log("%s is absent; restore will remove it", files[index].relative);
            continue;
        }
        if (!data) return gwb_reply_error(request, "cannot read %s: %s", files[index].relative, errno == EFBIG ? "larger than 1 MiB" : errno == EINVAL ? "not a regular file" : strerror(errno));
        struct stat status;
        if (lstat(source, &status) != 0) return gwb_reply_error(request, "cannot stat %s: %s", files[index].relative, strerror(errno));
        if (gwb_resolve(request, gwb_staging(request), files[index].relative, target, sizeof target) != 0) return gwb_reply_error(request, NULL);
        if (gwb_make_parents(request, gwb_staging(request), target) != 0) return gwb_reply_error(request, NULL);
        if (copy_file(request, files[index].relative, target, data, length, &status) != 0) return 1;
        free(data);
        json_object_set_new(record, files[index].name, json_pack("{s:s, s:b}", "path", files[index].relative, "present", 1));
    }
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", gwb_staging(request), RECORD_NAME);
    char *text = json_dumps(record, JSON_SORT_KEYS);
    json_decref(record);
    if (!text || gwb_write_file_atomic(path, text, strlen(text), 0600) != 0) return gwb_reply_error(request, "cannot write %s: %s", RECORD_NAME, strerror(errno));
    free(text);
    return gwb_reply_ok(request, "collected ntp.conf and ntp.keys");
}

/* What the staging directory holds for one file. */
typedef struct {
    int present;
    struct stat status;
    char *data;
    size_t length;
} staged_file;

static int load_staged(gwb_request *request, ntp_file *files, staged_file *staged) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", gwb_staging(request), RECORD_NAME);
    size_t length = 0;
    char *text = gwb_read_file(path, 64 * 1024, &length);
    if (!text) return gwb_reply_error(request, "the backup has no readable %s: %s", RECORD_NAME, strerror(errno)), -1;
    json_error_t problem;
    json_t *record = json_loadb(text, length, JSON_REJECT_DUPLICATES, &problem);
    free(text);
    if (!record) return gwb_reply_error(request, "%s is not valid JSON: %s", RECORD_NAME, problem.text), -1;
    for (int index = 0; index < 2; index++) {
        memset(&staged[index], 0, sizeof staged[index]);
        json_t *entry = json_object_get(record, files[index].name);
        const char *recorded = NULL;
        int present = 0;
        if (!entry || json_unpack_ex(entry, &problem, JSON_STRICT, "{s:s, s:b}", "path", &recorded, "present", &present) != 0) {
            json_decref(record);
            return gwb_reply_error(request, "%s: entry '%s': %s", RECORD_NAME, files[index].name, entry ? problem.text : "missing"), -1;
        }
        if (strcmp(recorded, files[index].relative) != 0) {
            /* The reply quotes `recorded`, which the record owns: reply first, then free. */
            gwb_reply_error(request, "the backup holds %s as '%.200s', the manifest now names '%.200s'", files[index].name, recorded, files[index].relative);
            json_decref(record);
            return -1;
        }
        staged[index].present = present;
        if (present) {
            if (gwb_resolve(request, gwb_staging(request), files[index].relative, path, sizeof path) != 0) {
                json_decref(record);
                return gwb_reply_error(request, NULL), -1;
            }
            staged[index].data = gwb_read_file(path, FILE_LIMIT, &staged[index].length);
            if (!staged[index].data || lstat(path, &staged[index].status) != 0) {
                json_decref(record);
                return gwb_reply_error(request, "the backup's %s is missing or unreadable: %s", files[index].relative, strerror(errno)), -1;
            }
            if (memchr(staged[index].data, '\0', staged[index].length)) {
                json_decref(record);
                return gwb_reply_error(request, "the backup's %s contains a NUL byte: not a text file", files[index].relative), -1;
            }
        }
    }
    json_decref(record);
    return 0;
}

static int check_staged(gwb_request *request, staged_file *staged, char *ids, size_t ids_size) {
    static unsigned char present[KEY_LIMIT + 1];
    memset(present, 0, sizeof present);
    ids[0] = '\0';
    if (staged[1].present && check_keys(request, staged[1].data, present, ids, ids_size) != 0) return -1;
    if (staged[0].present && check_conf(request, staged[0].data, present) != 0) return -1;
    return 0;
}

static int restore(gwb_request *request, ntp_file *files, int verify_only) {
    staged_file staged[2];
    if (load_staged(request, files, staged) != 0) return 1;
    char ids[4096];
    /* A rollback puts back exactly what was there before, valid or not. */
    if (!gwb_is_rollback(request) && check_staged(request, staged, ids, sizeof ids) != 0) return 1;
    if (verify_only) return gwb_reply_ok(request, "ntp.conf and ntp.keys are valid");
    for (int index = 0; index < 2; index++) {
        char target[PATH_MAX];
        if (gwb_resolve(request, gwb_root(request), files[index].relative, target, sizeof target) != 0) return gwb_reply_error(request, NULL);
        if (!staged[index].present) {
            if (unlink(target) != 0 && errno != ENOENT) return gwb_reply_error(request, "cannot remove %s: %s", files[index].relative, strerror(errno));
            continue;
        }
        if (gwb_make_parents(request, gwb_root(request), target) != 0) return gwb_reply_error(request, NULL);
        if (copy_file(request, files[index].relative, target, staged[index].data, staged[index].length, &staged[index].status) != 0) return 1;
    }
    char message[4200];
    if (gwb_is_rollback(request)) snprintf(message, sizeof message, "rolled back ntp.conf and ntp.keys");
    else snprintf(message, sizeof message, "restored ntp.conf and ntp.keys (key ids: %s)", ids[0] ? ids : "none");
    return gwb_reply_ok(request, message);
}

int main(void) {
    gwb_request *request = gwb_read_request();
    if (!request) return 1;
    ntp_file files[2] = {{"conf", NULL}, {"keys", NULL}};
    if (gwb_params_only(request, "conf", "keys", NULL) != 0 || gwb_param(request, "conf", 1, "s", &files[0].relative) != 0 || gwb_param(request, "keys", 1, "s", &files[1].relative) != 0) {
        return gwb_reply_error(request, NULL);
    }
    for (int index = 0; index < 2; index++) {
        const char *problem = gwb_path_problem(files[index].relative);
        if (problem) return gwb_reply_error(request, "parameter '%s': the path %s", files[index].name, problem);
    }
    switch (gwb_action(request)) {
    case GWB_COLLECT: return collect(request, files);
    case GWB_VERIFY: return restore(request, files, 1);
    case GWB_RESTORE: return restore(request, files, 0);
    case GWB_ACTIVATE: return gwb_reply_error(request, "this plugin has no activate step (its plugin.json does not list one)");
    }
    return gwb_reply_error(request, "unknown action");
}
