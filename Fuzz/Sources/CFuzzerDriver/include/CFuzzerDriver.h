#ifndef EMBER_FUZZER_DRIVER_H
#define EMBER_FUZZER_DRIVER_H
#include <stddef.h>
#include <stdint.h>

// libFuzzer's driver (linked by -sanitize=fuzzer): parses libFuzzer's flags and runs
// `callback` on every input it generates.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
