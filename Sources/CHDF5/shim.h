#ifndef RACHIS_CHDF5_SHIM_H
#define RACHIS_CHDF5_SHIM_H
#include <hdf5.h>
// H5T_NATIVE_* are macros over mutable globals that Swift 6 rejects; the HDF5 module reads them through these.
static inline hid_t chdf5_native_float(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t chdf5_native_double(void) { return H5T_NATIVE_DOUBLE; }
#endif
