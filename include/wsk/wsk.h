/* wsk/wsk.h — umbrella header of wsk, weight-space kernels. */
#ifndef WSK_WSK_H
#define WSK_WSK_H

#include "wsk/status.h"
#include "wsk/dispatch.h"
#include "wsk/permsum.h"
#include "wsk/eqpool.h"
#include "wsk/gemm.h"
#include "wsk/eltwise.h"
#include "wsk/optim.h"
#include "wsk/attn.h"
#include "wsk/threads.h"

#define WSK_VERSION_MAJOR 0
#define WSK_VERSION_MINOR 1
#define WSK_VERSION_PATCH 0
#define WSK_VERSION_STRING "0.1.0"

#endif
