#ifndef GWBACKUP_CGPGME_SHIM_H
#define GWBACKUP_CGPGME_SHIM_H
#include <gpgme.h>

/* gpgme_check_version is a C macro; Swift needs a real function to call. */
static inline const char *cgpgme_check_version(const char *required) {
    return gpgme_check_version(required);
}

/* The error code part of a gpgme error (gpgme_err_code is inline and version-dependent). */
static inline unsigned int cgpgme_err_code(gpgme_error_t err) {
    return (unsigned int)gpgme_err_code(err);
}

/* The error a passphrase callback returns to stop gpg asking again. */
static inline gpgme_error_t cgpgme_error_canceled(void) {
    return gpgme_error(GPG_ERR_CANCELED);
}

/* A general error, and the error for an errno value (gpgme_error is inline). */
static inline gpgme_error_t cgpgme_error_general(void) {
    return gpgme_error(GPG_ERR_GENERAL);
}
static inline gpgme_error_t cgpgme_error_from_errno(int value) {
    return gpgme_error_from_errno(value);
}

static inline unsigned int cgpgme_code_canceled(void) { return GPG_ERR_CANCELED; }
static inline unsigned int cgpgme_code_bad_passphrase(void) { return GPG_ERR_BAD_PASSPHRASE; }
static inline unsigned int cgpgme_code_decrypt_failed(void) { return GPG_ERR_DECRYPT_FAILED; }
static inline unsigned int cgpgme_code_no_data(void) { return GPG_ERR_NO_DATA; }
static inline unsigned int cgpgme_code_no_seckey(void) { return GPG_ERR_NO_SECKEY; }
#endif
