#include "CEmberSupport.h"

static _Thread_local EmberThreadState state = {0, 0};

EmberThreadState *ember_thread_state(void) { return &state; }
