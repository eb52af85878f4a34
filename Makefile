# capquery: PGXS build, plus the README's two commands (demo, test)

EXTENSION  = capquery
MODULE_big = capquery
OBJS = \
	src/capquery.o \
	src/hooks.o \
	src/ring.o \
	src/capture.o \
	src/reader.o \
	src/render.o \
	src/shape.o \
	src/plans.o \
	src/snapshot.o \
	src/repeats.o \
	src/functions.o

DATA = sql/capquery--1.0.sql
PGFILEDESC = "capquery - capture and assert the statements a test runs"

PG_CPPFLAGS = -I$(srcdir)/src
PG_CFLAGS = -Wall -Wextra -Werror -Wno-unused-parameter -Wno-sign-compare -Wno-missing-field-initializers

# PostgreSQL 15 as Debian ships it.  PGXS is included only once
# postgresql-server-dev-15 is installed, so that "make demo" and "make test"
# work on a fresh machine: their scripts install it, then build.
PG_CONFIG ?= /usr/lib/postgresql/15/bin/pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifneq ($(wildcard $(PGXS)),)
include $(PGXS)
endif

# PGXS tracks no header dependencies: a changed struct must rebuild every
# object that includes it.
$(OBJS): $(wildcard $(srcdir)/src/*.h)

.PHONY: demo test bench

# Main job: a demonstration capture against a throwaway, preloaded PostgreSQL.
demo:
	bash scripts/demo.sh

# The whole test suite against temporary instances; .ci/run calls exactly this.
test:
	bash test/run-all.sh

# Instruction counts per statement (callgrind); reports, never fails on numbers.
bench:
	bash bench/run.sh
