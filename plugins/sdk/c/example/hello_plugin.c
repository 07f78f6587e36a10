/*
 * The smallest useful plugin: one text file ("file", relative to the root), kept as it is.
 * Build out of tree: make -C plugins/sdk/c (see docs/plugins.md).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gwbackup_plugin.h"

int main(void) {
    gwb_request *request = gwb_read_request();
    if (!request) return 1;
    const char *file;
    if (gwb_params_only(request, "file", NULL) != 0 || gwb_param(request, "file", 1, "s", &file) != 0) return gwb_reply_error(request, NULL);
    char live[PATH_MAX], staged[PATH_MAX];
    if (gwb_resolve(request, gwb_root(request), file, live, sizeof live) != 0) return gwb_reply_error(request, NULL);
    snprintf(staged, sizeof staged, "%s/file", gwb_staging(request));
    size_t length = 0;
    if (gwb_action(request) == GWB_COLLECT) {
        char *data = gwb_read_file(live, 1 << 20, &length);
        if (!data && errno == ENOENT) return gwb_reply_ok(request, "absent");  /* restore removes it */
        if (!data || gwb_write_file_atomic(staged, data, length, 0600) != 0) return gwb_reply_error(request, "cannot copy %s: %s", file, strerror(errno));
        free(data);
        return gwb_reply_ok(request, "collected");
    }
    if (gwb_action(request) == GWB_RESTORE) {
        char *data = gwb_read_file(staged, 1 << 20, &length);
        if (!data && errno == ENOENT) return unlink(live) == 0 || errno == ENOENT ? gwb_reply_ok(request, "removed") : gwb_reply_error(request, "cannot remove %s", file);
        if (gwb_make_parents(request, gwb_root(request), live) != 0) return gwb_reply_error(request, NULL);
        if (!data || gwb_write_file_atomic(live, data, length, 0644) != 0) return gwb_reply_error(request, "cannot restore %s: %s", file, strerror(errno));
        free(data);
        return gwb_reply_ok(request, "restored");
    }
    return gwb_reply_error(request, "this plugin does not verify");
}
