#ifndef EMBER_SUPPORT_H
#define EMBER_SUPPORT_H
#include <stdint.h>

// Per-thread interpreter state. Kept in C because Swift has no cheap thread-local
// storage, and these are read on every dispatched tensor operation.
typedef struct {
    int32_t gradDisabledDepth;   // > 0 inside noGrad { }
    void *_Nullable tracer;      // unretained pointer to the active Tracer, if any
    void *_Nullable flopCounter; // unretained pointer to the active FLOPCounter, if any
    void *_Nullable profiler;    // the active Profiler (retained until it stops), if any
    int32_t autocastDType;       // inside autocast { }: 1 + the DType's raw value; 0 outside
    void *_Nullable autocastCache; // unretained pointer to the region's AutocastCache, if any
    void *_Nullable operationErrors; // unretained pointer to the OperationErrorTrap of catchingOperationErrors, if any
} EmberThreadState;

EmberThreadState *_Nonnull ember_thread_state(void);

// The kernel's id of the calling thread (gettid), for profiles.
long ember_thread_id(void);

typedef void (*_Nonnull EmberChunkFunction)(void *_Nullable context, long chunk);

// Calls function(context, chunk) for chunk in 0..<chunks on up to `chunks` threads of the
// OpenMP pool that oneDNN uses, and returns when all have finished.
void ember_parallel_for(long chunks, EmberChunkFunction function, void *_Nullable context);

// Allocations of at least `bytes` are mapped and unmapped when freed (glibc's mallopt with a
// fixed M_MMAP_THRESHOLD, instead of its threshold that grows with the largest free).
void ember_set_mmap_threshold(int bytes);

#endif
