// Open MPI (libopenmpi-dev): the C interface. Its handles (MPI_COMM_WORLD, MPI_FLOAT,
// MPI_SUM, MPI_IN_PLACE) are macros over incomplete global types that Swift cannot import;
// CEmberMPI exposes them as functions.
#include <mpi.h>
