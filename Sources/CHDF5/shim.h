#ifndef RACHIS_CHDF5_SHIM_H
#define RACHIS_CHDF5_SHIM_H
#include <hdf5.h>
// H5T_NATIVE_*, H5T_C_S1 and the H5P_* classes are macros over mutable globals (after H5open) that Swift 6 rejects;
// the H5F_ACC_* flags and H5T_VARIABLE / H5S_UNLIMITED are macros Swift cannot import. The HDF5 module reads them
// through these functions. H5P_DEFAULT, H5S_ALL and H5E_DEFAULT are plain 0 and are used directly.
static inline hid_t chdf5_native_float(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t chdf5_native_double(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t chdf5_native_int8(void) { return H5T_NATIVE_INT8; }
static inline hid_t chdf5_native_int16(void) { return H5T_NATIVE_INT16; }
static inline hid_t chdf5_native_int32(void) { return H5T_NATIVE_INT32; }
static inline hid_t chdf5_native_int64(void) { return H5T_NATIVE_INT64; }
static inline hid_t chdf5_native_uint8(void) { return H5T_NATIVE_UINT8; }
static inline hid_t chdf5_native_uint16(void) { return H5T_NATIVE_UINT16; }
static inline hid_t chdf5_native_uint32(void) { return H5T_NATIVE_UINT32; }
static inline hid_t chdf5_native_uint64(void) { return H5T_NATIVE_UINT64; }
static inline hid_t chdf5_c_s1(void) { return H5T_C_S1; }
static inline hid_t chdf5_p_file_access(void) { return H5P_FILE_ACCESS; }
static inline hid_t chdf5_p_dataset_create(void) { return H5P_DATASET_CREATE; }
static inline hid_t chdf5_p_link_create(void) { return H5P_LINK_CREATE; }
static inline unsigned chdf5_acc_rdonly(void) { return H5F_ACC_RDONLY; }
static inline unsigned chdf5_acc_rdwr(void) { return H5F_ACC_RDWR; }
static inline unsigned chdf5_acc_trunc(void) { return H5F_ACC_TRUNC; }
static inline unsigned chdf5_acc_excl(void) { return H5F_ACC_EXCL; }
static inline size_t chdf5_variable(void) { return H5T_VARIABLE; }
static inline hsize_t chdf5_unlimited(void) { return H5S_UNLIMITED; }
// Turns libhdf5's automatic printing of error stacks to stderr off for the calling thread, once. Debian's libhdf5 is
// built thread-safe (H5_HAVE_THREADSAFE), where error stacks and their printing settings are per thread.
static inline void chdf5_silence_errors(void) {
    static _Thread_local int silenced = 0;
    if (!silenced) {
        H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
        silenced = 1;
    }
}
#endif
