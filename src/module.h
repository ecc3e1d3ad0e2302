/*
 * module.h — the library's entry point (_PG_init) and its settings.
 */
#ifndef LOYALTY_MODULE_H
#define LOYALTY_MODULE_H

#include "loyalty.h"

/* loyalty.maintenance = on, set by a superuser: history may be changed by hand */
extern bool loyalty_maintenance_allowed(void);

#endif
