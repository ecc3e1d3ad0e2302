/*
 * config.h — the per-backend configuration cache: programs with their tiers
 * and rules, invalidated by the configuration tables' trigger.
 */
#ifndef LOYALTY_CONFIG_H
#define LOYALTY_CONFIG_H

#include "loyalty.h"

extern Program *program_get(const char *code);	/* LY002 when unknown */
extern Program *program_get_by_id(int32 id);
extern void config_invalidate_all(void);
extern uint64 config_current_generation(void);
extern Oid	loyalty_program_relid(void);

#endif
