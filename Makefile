# capquery: PGXS build and tests, plus the README's two commands (demo, test)

EXTENSION  = capquery
MODULE_big = capquery
OBJS = \
	src/capquery.o \
	src/names.o \
	src/hooks.o \
	src/failures.o \
	src/ring.o \
	src/capture.o \
	src/reader.o \
	src/render.o \
	src/shape.o \
	src/plans.o \
	src/snapshot.o \
	src/repeats.o \
	src/report.o \
	src/functions.o

# The install script of the first version and one update script per version
# step; CREATE EXTENSION of a newer version runs them in a chain.
DATA = $(wildcard capquery--*.sql)
PGFILEDESC = "capquery - capture and assert the statements a test runs"

PG_CPPFLAGS = -I$(srcdir)/src
# Warnings are errors only in CI: test/run-all.sh adds COPT=-Werror.
PG_CFLAGS = -Wall -Wextra -Wno-unused-parameter -Wno-sign-compare -Wno-missing-field-initializers

# make installcheck brings up its own preloaded server (test/regress.conf) for
# the pg_regress files and the isolation specs, and the TAP tests start theirs.
# sql/overflow*.sql need a 64kB ring and sql/local*.sql a server without
# preloading: t/010_tiny_ring.pl and t/020_not_preloaded.pl run them.
REGRESS = $(filter-out overflow% local%,$(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql))))
REGRESS_OPTS = --temp-config=$(srcdir)/test/regress.conf --temp-instance=./tmp_check
ISOLATION = $(patsubst specs/%.spec,%,$(sort $(wildcard specs/*.spec)))
ISOLATION_OPTS = --temp-config=$(srcdir)/test/regress.conf --temp-instance=./tmp_check_iso \
	--load-extension=capquery
TAP_TESTS = 1
# Known failures, kept out of the default TAP run until fixed (run one with
# make prove_installcheck PROVE_TESTS=t/NNN_name.pl); none today.
TAP_KNOWN_FAILURES =
PROVE_TESTS = $(filter-out $(TAP_KNOWN_FAILURES),$(sort $(wildcard t/*.pl)))
EXTRA_CLEAN = output_iso tmp_check_iso

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)

# "make demo" and "make test" run on a fresh Debian machine: their scripts
# install postgresql-server-dev-15 first, then call make again with
# PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config.  Every other goal needs PGXS.
ifneq ($(wildcard $(PGXS)),)
include $(PGXS)
ifneq ($(MAJORVERSION),15)
$(warning capquery is written for PostgreSQL 15; $(PG_CONFIG) is PostgreSQL $(MAJORVERSION))
endif
else ifeq ($(filter demo test,$(MAKECMDGOALS)),)
$(error PG_CONFIG=$(PG_CONFIG) gives no PGXS ("$(PG_CONFIG) --pgxs" printed "$(PGXS)"): \
install the server development files (Debian: apt-get install postgresql-server-dev-15) \
or pass PG_CONFIG=/path/to/pg_config of PostgreSQL 15, e.g. make PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config)
endif

# PGXS tracks no header dependencies: a changed struct must rebuild every
# object that includes it.
$(OBJS): $(wildcard $(srcdir)/src/*.h)

.PHONY: demo test bench installcheck-regress installcheck-isolation prove_installcheck

# The parts of make installcheck, one at a time (test/run-all.sh counts each).
installcheck-regress:
	$(pg_regress_installcheck) $(REGRESS_OPTS) $(REGRESS)

installcheck-isolation:
	$(pg_isolation_regress_installcheck) $(ISOLATION_OPTS) $(ISOLATION)

prove_installcheck:
	$(prove_installcheck)

# make print-VARIABLE: its value (test/run-all.sh reads TAP_KNOWN_FAILURES)
print-%:
	@echo '$($*)'

# Main job: a demonstration capture against a throwaway, preloaded PostgreSQL.
demo:
	bash scripts/demo.sh

# The whole test suite against temporary instances; .ci/run calls exactly this.
test:
	bash test/run-all.sh

# Every benchmark (bench/all.sh, about 15 minutes, not in CI): tables in
# bench/out/bench.md and the README's performance section; reports, never
# fails on numbers.
bench:
	bash bench/all.sh
