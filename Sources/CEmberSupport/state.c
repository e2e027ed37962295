#define _GNU_SOURCE  // syscall
#include <sys/syscall.h>
#include <unistd.h>
#include "CEmberSupport.h"

static _Thread_local EmberThreadState state = {0};

EmberThreadState *ember_thread_state(void) { return &state; }

long ember_thread_id(void) { return syscall(SYS_gettid); }
