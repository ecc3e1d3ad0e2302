/*
 * srf.h — the tuplestore of a set-returning function (materialize mode).
 */
#ifndef LOYALTY_SRF_H
#define LOYALTY_SRF_H
#include "postgres.h"

#include "fmgr.h"
#include "utils/tuplestore.h"
extern Tuplestorestate *srf_begin(FunctionCallInfo fcinfo, TupleDesc *tupdesc);
#endif
