/* Compiles <topos/topos.h> alone, with no other header before it, in strict
 * C99 and C11 (tests/components/capi.cmake): it must need nothing else. */
#include <topos/topos.h>

int topos_header_only_probe(void);
int topos_header_only_probe(void) { return (int)TOPOS_OK + (int)sizeof(topos_runtime_options); }
