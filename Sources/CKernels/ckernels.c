#include "CKernels.h"
int hearth_ckernels_placeholder(void) { return 0; }
