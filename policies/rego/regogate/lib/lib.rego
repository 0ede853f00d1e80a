# METADATA
# title: regogate rule helpers
# description: >-
#   Facts about the identity and the statement shared by the rule packages, read from
#   the policy input and the configuration data under data.regogate.config. This package
#   is not a rule: it contributes nothing to the decision by itself.
# custom:
#   id: lib
package regogate.lib

# Every rule here runs for every statement the gateway has not cached, so the helpers are
# written for speed: each fact is computed once (rules are evaluated once per query,
# functions at every call), read straight from the input rather than through
# object.get, and matched against the configuration lists in place (`x in list`) instead
# of building sets from them on each evaluation.

# The configuration (data.regogate.config). The rules below read the part they need
# straight from data (`import data.regogate.config` in a rule package does the same):
# going through this rule costs one more lookup per reference.
config := data.regogate.config

# -- identity -----------------------------------------------------------------------------

default sub := "unknown"

sub := input.identity.sub

groups := {g | some g in input.identity.groups}

# Whether the identity is in at least one of the named groups.
member_of(names) if {
	some g in names
	g in groups
}

known_groups := {g | some list in data.regogate.config.groups; some g in list}

# The keys of config.groups (readers, agents, writers...) the identity belongs to,
# computed once for all the rules that ask. `"readers" in lib.roles` in a rule body costs
# less than `lib.reader` below, which is one more rule to evaluate.
roles := {role |
	some g in input.identity.groups
	some role, names in data.regogate.config.groups
	g in names
}

known_identity if count(roles) > 0

reader if "readers" in roles

agent if "agents" in roles

writer if "writers" in roles

privileged if "privileged" in roles

# -- statement ----------------------------------------------------------------------------

default verb := "UNKNOWN"

verb := input.statement.verb

# The top verb and every operation inside the statement.
verbs := {v | some v in input.statement.verbs} | {verb}

# A name as it appears inside "schema.table.column" keys (regogate.policy.catalog.qident):
# quoted only when it contains a dot or a double quote.
qident(name) := concat("", [`"`, replace(name, `"`, `""`), `"`]) if {
	regex.match(`[."]`, name)
} else := name

# One regex for the usual case, schema and name both plain.
table_key(t) := key if {
	key := concat(".", [t.schema, t.name])
	regex.match(`^[^."]*\.[^."]*$`, key)
} else := concat(".", [qident(t.schema), qident(t.name)])

tables_with(access) := {table_key(t) |
	some t in input.statement.tables
	access in t.access
}

read_tables := {table_key(t) | some t in input.statement.tables; "read" in t.access}

written_tables := {table_key(t) | some t in input.statement.tables; "write" in t.access}

ddl_tables := {table_key(t) | some t in input.statement.tables; "ddl" in t.access}

# Whether any table is written or altered: count(written_tables) + count(ddl_tables) > 0,
# without building the keys.
writes_or_alters_a_table if {
	some t in input.statement.tables
	some access in t.access
	access in {"write", "ddl"}
}

columns(kind) := object.get(input, ["statement", "columns", kind], [])

# columns("read"), columns("written") and columns("filtered"), computed once.
default read_columns := []

read_columns := input.statement.columns.read

default written_columns := []

written_columns := input.statement.columns.written

default filtered_columns := []

filtered_columns := input.statement.columns.filtered

# Whether a column key ("public.customers.ssn") belongs to a table key ("public.customers").
column_of(column, table) if startswith(column, concat("", [table, "."]))

ddl if input.statement.flags.ddl == true

ddl if count(ddl_tables) > 0

opaque if input.statement.flags.opaque == true

multi_statement if input.statement.flags.multi_statement == true

# The function's own name, without its schema ("pg_catalog.pg_read_file" -> "pg_read_file").
function_name(qualified) := parts[count(parts) - 1] if parts := split(qualified, ".")

# "a, b" for display; "none" for an empty collection.
listing(items) := concat(", ", sort(items)) if {
	count(items) > 0
} else := "none"

# A rule package's id: the custom.id of its METADATA (pass rego.metadata.chain()), the
# first one along the chain. In a rule package's `id` rule the chain is [the rule, its
# package]: the first two entries are looked at directly, without building a list.
annotated_id(chain) := id if {
	id := chain[0].annotations.custom.id
} else := id if {
	id := chain[1].annotations.custom.id
} else := [id | some entry in chain; id := entry.annotations.custom.id][0]

approval(reason) := {"approvers": data.regogate.config.approval.approvers, "reason": reason}
