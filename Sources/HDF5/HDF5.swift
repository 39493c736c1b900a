public enum HDF5Library {}
