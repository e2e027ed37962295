#ifndef EMBER_MPI_H
#define EMBER_MPI_H
#include <mpi.h>

// The predefined handles of mpi.h as functions, because Swift cannot import the macros.
MPI_Comm _Nonnull ember_mpi_comm_world(void);
void *_Nonnull ember_mpi_in_place(void);
MPI_Errhandler _Nonnull ember_mpi_errors_return(void);
int ember_mpi_undefined(void);

MPI_Datatype _Nonnull ember_mpi_int8(void);
MPI_Datatype _Nonnull ember_mpi_int32(void);
MPI_Datatype _Nonnull ember_mpi_int64(void);
MPI_Datatype _Nonnull ember_mpi_float(void);
MPI_Datatype _Nonnull ember_mpi_double(void);
// 16-bit floats travel as MPI_UINT16_T; their reductions are the operations below.
MPI_Datatype _Nonnull ember_mpi_uint16(void);

MPI_Op _Nonnull ember_mpi_sum(void);
MPI_Op _Nonnull ember_mpi_max(void);
MPI_Op _Nonnull ember_mpi_min(void);

// Sum, max and min of bfloat16 and float16 values (MPI has no 16-bit float type; Horovod
// registers the same with MPI_Op_create). Each element is widened to float, combined and
// rounded back to nearest even. Valid after ember_mpi_create_half_ops, until MPI_Finalize.
typedef enum { EMBER_HALF_BF16 = 0, EMBER_HALF_FP16 = 1 } EmberHalfKind;
typedef enum { EMBER_HALF_SUM = 0, EMBER_HALF_MAX = 1, EMBER_HALF_MIN = 2 } EmberHalfOp;
int ember_mpi_create_half_ops(void);
MPI_Op _Nonnull ember_mpi_half_op(EmberHalfKind kind, EmberHalfOp op);

#endif
