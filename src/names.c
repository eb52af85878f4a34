/*-------------------------------------------------------------------------
 *
 * names.c
 *		The contract's names of statement kinds, capture scopes and plans
 *		settings, and the lookup that reads them from SQL arguments.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "capture.h"

/* the kinds, then the 'error' filter (CAPQ_FILTER_ERROR) */
const char *const capq_kind_names[CAPQ_NUM_FILTERS] = {
	"select", "insert", "update", "delete", "merge", "utility", "transaction",
	"invalid", "error"
};

const char *const capq_scope_names[CAPQ_NUM_SCOPES] = {
	"backend", "database", "all"
};

const char *const capq_plans_names[CAPQ_NUM_PLANS] = {
	"off", "on", "analyze"
};

const char *
capq_kind_name(CapqKind kind)
{
	return capq_kind_names[kind];
}

const char *
capq_scope_name(CapqScope scope)
{
	return capq_scope_names[scope];
}

/*
 * Index of name in a table of n names (case-sensitive, as the contract
 * spells them), or -1.
 */
int
capq_name_index(const char *const *names, int n, const char *name)
{
	for (int i = 0; i < n; i++)
	{
		if (strcmp(name, names[i]) == 0)
			return i;
	}
	return -1;
}
