#ifndef GWBACKUP_CZSTD_SHIM_H
#define GWBACKUP_CZSTD_SHIM_H
// libzstd's streaming API (ZSTD_compressStream2 / ZSTD_decompressStream); the library is built
// with multithreading on Debian, so ZSTD_c_nbWorkers compresses on several cores.
#include <zstd.h>
#endif
