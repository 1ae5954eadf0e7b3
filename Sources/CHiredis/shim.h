// hiredis, used only to format commands (redisFormatCommandArgv) and to parse replies
// (redisReader*): the socket belongs to SwiftNIO, so none of hiredis's I/O is used.
#ifndef PALISADE_CHIREDIS_SHIM_H
#define PALISADE_CHIREDIS_SHIM_H
#include <hiredis/hiredis.h>
#endif
