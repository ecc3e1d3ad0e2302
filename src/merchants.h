/*
 * merchants.h — alliance merchants (SPEC §9): the merchant argument of the
 * operations, and the roles of merchants (grant_merchant).
 */
#ifndef LOYALTY_MERCHANTS_H
#define LOYALTY_MERCHANTS_H

#include "loyalty.h"

/*
 * The merchant an operation of program p runs for, given `given` (NULL: the
 * program itself): a merchant role's own merchant when it passes NULL;
 * 42501 when the calling role is a merchant role of another program or
 * merchant; LY009 when the merchant is unknown.  Connected to SPI; writes
 * nothing.
 */
extern const char *merchant_resolve(Program *p, const char *given);

/*
 * An operation without a merchant argument whose rows belong to `merchant`
 * (a refund: the purchase's merchant; adjust, transfer: NULL, the
 * program): 42501 for a merchant role, unless it is that merchant's in p.
 */
extern void merchant_role_only(Program *p, const char *merchant, const char *what);

/* 42501 for a merchant role of another program than p (reads, enrolment). */
extern void merchant_role_program(Program *p);

#endif
