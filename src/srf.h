#ifndef LOYALTY_SRF_H
#define LOYALTY_SRF_H
#include "fmgr.h"
#include "utils/tuplestore.h"
extern Tuplestorestate *srf_begin(FunctionCallInfo fcinfo, TupleDesc *tupdesc);
#endif
