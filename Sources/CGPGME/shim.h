#ifndef GWBACKUP_CGPGME_SHIM_H
#define GWBACKUP_CGPGME_SHIM_H
#include <gpgme.h>

/// gpgme_check_version is a C macro; Swift needs a real function to call.
static inline const char *cgpgme_check_version(const char *required) {
    return gpgme_check_version(required);
}
#endif
