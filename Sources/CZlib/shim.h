// zlib (zlib1g-dev): inflate for gzip-compressed IDX files and deflated .npz members.
#include <zlib.h>
