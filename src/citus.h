/*
 * citus.h — what the library needs to know about Citus, when it is there:
 * whether it is installed in this database, and which tables it manages.
 * Citus is optional; nothing here fails without it.
 */
#ifndef LOYALTY_CITUS_H
#define LOYALTY_CITUS_H

#include "loyalty.h"

/* The citus extension's catalogs are in this database. */
extern bool citus_present(void);

/* relid is a Citus table (distributed or reference). */
extern bool citus_table(Oid relid);

/* loyalty.account is distributed (loyalty.distribute() ran). */
extern bool citus_distributed(void);

/*
 * Whether this database's loyalty is distributed, checked once per
 * configuration generation (loyalty.distribute() moves it on), and the
 * statement catalogue told whether to keep plans (not on a cluster).  Every
 * operation and batch calls it after connecting.
 */
extern bool citus_cluster(void);

#endif
