#ifndef GWBACKUP_CSSH2_SHIM_H
#define GWBACKUP_CSSH2_SHIM_H
#include <libssh2.h>
#include <libssh2_sftp.h>
#include <string.h>

/* Many libssh2 names are C macros over _ex functions; Swift sees only functions. */

static inline LIBSSH2_SESSION *cssh2_session_init(void) {
    return libssh2_session_init_ex(NULL, NULL, NULL, NULL);
}

static inline int cssh2_disconnect(LIBSSH2_SESSION *session, const char *reason) {
    return libssh2_session_disconnect_ex(session, SSH_DISCONNECT_BY_APPLICATION, reason, "");
}

static inline int cssh2_userauth_password(LIBSSH2_SESSION *session, const char *user, const char *password) {
    return libssh2_userauth_password_ex(session, user, (unsigned int)strlen(user), password, (unsigned int)strlen(password), NULL);
}

static inline int cssh2_userauth_publickey_fromfile(LIBSSH2_SESSION *session, const char *user, const char *privatekey, const char *passphrase) {
    return libssh2_userauth_publickey_fromfile_ex(session, user, (unsigned int)strlen(user), NULL, privatekey, passphrase);
}

static inline LIBSSH2_SFTP_HANDLE *cssh2_sftp_open(LIBSSH2_SFTP *sftp, const char *path, unsigned long flags, long mode, int type) {
    return libssh2_sftp_open_ex(sftp, path, (unsigned int)strlen(path), flags, mode, type);
}

static inline int cssh2_sftp_mkdir(LIBSSH2_SFTP *sftp, const char *path, long mode) {
    return libssh2_sftp_mkdir_ex(sftp, path, (unsigned int)strlen(path), mode);
}

static inline int cssh2_sftp_rmdir(LIBSSH2_SFTP *sftp, const char *path) {
    return libssh2_sftp_rmdir_ex(sftp, path, (unsigned int)strlen(path));
}

static inline int cssh2_sftp_unlink(LIBSSH2_SFTP *sftp, const char *path) {
    return libssh2_sftp_unlink_ex(sftp, path, (unsigned int)strlen(path));
}

static inline int cssh2_sftp_rename(LIBSSH2_SFTP *sftp, const char *from, const char *to) {
    /* OpenSSH speaks SFTP v3: flags are ignored and the target must not exist. */
    return libssh2_sftp_rename_ex(sftp, from, (unsigned int)strlen(from), to, (unsigned int)strlen(to),
                                  LIBSSH2_SFTP_RENAME_ATOMIC | LIBSSH2_SFTP_RENAME_NATIVE);
}

static inline int cssh2_sftp_lstat(LIBSSH2_SFTP *sftp, const char *path, LIBSSH2_SFTP_ATTRIBUTES *attributes) {
    return libssh2_sftp_stat_ex(sftp, path, (unsigned int)strlen(path), LIBSSH2_SFTP_LSTAT, attributes);
}

static inline int cssh2_sftp_realpath(LIBSSH2_SFTP *sftp, const char *path, char *target, unsigned int length) {
    return libssh2_sftp_symlink_ex(sftp, path, (unsigned int)strlen(path), target, length, LIBSSH2_SFTP_REALPATH);
}

static inline int cssh2_sftp_readdir(LIBSSH2_SFTP_HANDLE *handle, char *buffer, size_t length, LIBSSH2_SFTP_ATTRIBUTES *attributes) {
    return libssh2_sftp_readdir_ex(handle, buffer, length, NULL, 0, attributes);
}

static inline const int cssh2_open_file(void) { return LIBSSH2_SFTP_OPENFILE; }
static inline const int cssh2_open_dir(void) { return LIBSSH2_SFTP_OPENDIR; }
static inline const int cssh2_error_eagain(void) { return LIBSSH2_ERROR_EAGAIN; }
static inline const int cssh2_error_sftp_protocol(void) { return LIBSSH2_ERROR_SFTP_PROTOCOL; }
static inline const int cssh2_error_authentication_failed(void) { return LIBSSH2_ERROR_AUTHENTICATION_FAILED; }
#endif
