# loyalty — PGXS build
EXTENSION    = loyalty
# the version is written once, in loyalty.control
EXTVERSION  := $(shell sed -n "s/^default_version = '\\(.*\\)'/\\1/p" loyalty.control)
MODULE_big   = loyalty
OBJS         = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))
DATA_built   = sql/$(EXTENSION)--$(EXTVERSION).sql
DATA         = $(filter-out $(DATA_built), $(wildcard sql/$(EXTENSION)--*.sql))
EXTRA_CLEAN  = $(DATA_built)

# Regression tests: inputs in test/sql, expected outputs in the top-level
# expected/ (pg_regress looks in <outputdir>/sql first, then falls back to
# <inputdir>/expected for the .out files).
TESTS        = $(sort $(wildcard test/sql/*.sql))
REGRESS      = $(patsubst test/sql/%.sql,%,$(TESTS))
REGRESS_OPTS = --inputdir=. --outputdir=test --load-extension=loyalty
ISOLATION_SPECS = $(sort $(wildcard test/specs/*.spec))
ISOLATION    = $(patsubst test/specs/%.spec,%,$(ISOLATION_SPECS))
ISOLATION_OPTS = --inputdir=. --outputdir=test/output_iso --load-extension=loyalty

# the library checks that the database's extension is at its own version
PG_CPPFLAGS  = -DLOYALTY_VERSION=\"$(EXTVERSION)\"

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# The isolation suite writes into its own directory (test/output_iso), where
# pg_isolation_regress looks for specs/ first: a link to test/specs.
installcheck: test/output_iso/specs
test/output_iso/specs:
	mkdir -p test/output_iso
	ln -sfn ../specs test/output_iso/specs

sql/$(EXTENSION)--$(EXTVERSION).sql: sql/$(EXTENSION).sql
	cp $< $@

.PHONY: prove
prove:
	pg_prove --ext .sql -r test/pgtap

# Memory safety: builds, installs and runs the regression suite in a throwaway
# server under valgrind memcheck (test/valgrind.sh; slow, not part of CI).
# PG_CONFIG is passed on only when given (else the script's default, the
# system PostgreSQL 15); VALGRIND_PORT etc. reach it through the environment.
.PHONY: valgrind-check
valgrind-check:
	$(if $(filter command line environment,$(origin PG_CONFIG)),PG_CONFIG=$(PG_CONFIG)) bash test/valgrind.sh
