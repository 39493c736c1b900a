#include "ctorch.h"
#include <torch/version.h>
int ct_placeholder(void) { return TORCH_VERSION_MAJOR; }
