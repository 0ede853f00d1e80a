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

# Whether the identity's reads are masked: it is outside config groups.unmasked. Such an
# identity "has classified data in its connection": the classification (config pii.columns
# and config catalog) names schema.table.column and catalog names, not databases, so it
# holds in every connection. Rules that guard classified data apply to these identities.
masked if not "unmasked" in roles

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

# -- functions ----------------------------------------------------------------------------

# The function's own name, without its schema and unquoted: "pg_catalog.pg_read_file" ->
# "pg_read_file", `"odd.schema".pg_notify` -> "pg_notify", `public."x.y"` -> "x.y".
# "unknown" (a FunctionCall message's function the gateway cannot name) stays "unknown".
function_name(qualified) := unquoted(parts[1]) if {
	parts := split(qualified, ".")
	count(parts) == 2
} else := unquoted(m[0][1]) if {
	m := regex.find_all_string_submatch_n(`^(?:[^."]+|"(?:[^"]|"")+")\.([^."]+|"(?:[^"]|"")+")$`, qualified, 1)
	count(m) == 1
} else := qualified

unquoted(name) := replace(substring(name, 1, count(name) - 2), `""`, `"`) if {
	startswith(name, `"`)
} else := name

# Each function of the statement -> its own name, computed once for all the rules that
# match functions by name. Empty (and not computed further) for most statements.
function_names := {f: function_name(f) | some f in input.statement.functions}

# What the gateway tells of a function (statement.function_info). A function it tells
# nothing of is taken as unknown, as the gateway itself reports an unknown one: rules
# fail closed on a gateway that sends no function_info.
unknown_function := {
	"known": false,
	"volatility": "volatile",
	"security_definer": true,
	"languages": ["unknown"],
	"builtin": false,
	"kinds": ["unknown"],
}

function_info(f) := info if {
	info := input.statement.function_info[f]
} else := unknown_function

# function -> the config functions.dangerous category its own name falls in, whatever its
# schema (a look-alike in another schema or on a search_path trick is refused like the
# real one): config functions.dangerous_names by exact name first, then
# functions.dangerous_prefixes. One lookup per function, and a few prefixes.
dangerous_calls := {f: key |
	some f, name in function_names
	key := dangerous_category(name)
}

dangerous_category(name) := key if {
	key := data.regogate.config.functions.dangerous_names[name]
} else := min(keys) if {
	keys := {key |
		some prefix, key in data.regogate.config.functions.dangerous_prefixes
		startswith(name, prefix)
	}
	count(keys) > 0
}

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

# Opt-in (config pii.equality_filter.groups, rule pii_equality_filter): the identity may
# filter on a classified column by equality when its mask is hash.
equality_filter_identity if {
	some g in object.get(data.regogate.config, ["pii", "equality_filter", "groups"], [])
	g in groups
}

filtered_equality := object.get(input, ["statement", "columns", "filtered_equality"], [])

equality_filter_allowed(column) if {
	equality_filter_identity
	column in filtered_equality
	data.regogate.config.pii.columns[column].method == "hash"
}
