#include <malloc.h>
#include "CEmberSupport.h"

void ember_set_mmap_threshold(int bytes) { mallopt(M_MMAP_THRESHOLD, bytes); }
