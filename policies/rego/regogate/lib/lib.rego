# METADATA
# title: regogate rule helpers
# description: >-
#   Facts about the identity and the statement shared by the rule packages, read from
#   the policy input and the configuration data under data.regogate.config. This package
#   is not a rule: it contributes nothing to the decision by itself.
# custom:
#   id: lib
package regogate.lib

config := data.regogate.config

# -- identity -----------------------------------------------------------------------------

sub := object.get(input, ["identity", "sub"], "unknown")

groups := {g | some g in object.get(input, ["identity", "groups"], [])}

# Whether the identity is in at least one of the named groups.
member_of(names) if {
	some g in names
	g in groups
}

known_groups := {g | some list in config.groups; some g in list}

known_identity if member_of(known_groups)

reader if member_of(config.groups.readers)

agent if member_of(config.groups.agents)

writer if member_of(config.groups.writers)

privileged if member_of(config.groups.privileged)

# -- statement ----------------------------------------------------------------------------

verb := object.get(input, ["statement", "verb"], "UNKNOWN")

# The top verb and every operation inside the statement.
verbs := {v | some v in object.get(input, ["statement", "verbs"], [])} | {verb}

# A name as it appears inside "schema.table.column" keys (regogate.policy.catalog.qident):
# quoted only when it contains a dot or a double quote.
qident(name) := concat("", [`"`, replace(name, `"`, `""`), `"`]) if {
	regex.match(`[."]`, name)
} else := name

table_key(t) := concat(".", [qident(t.schema), qident(t.name)])

tables_with(access) := {table_key(t) |
	some t in object.get(input, ["statement", "tables"], [])
	access in t.access
}

read_tables := tables_with("read")

written_tables := tables_with("write")

ddl_tables := tables_with("ddl")

columns(kind) := object.get(input, ["statement", "columns", kind], [])

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

# A rule package's id: the custom.id of its METADATA (pass rego.metadata.chain()).
annotated_id(chain) := [id | some entry in chain; id := entry.annotations.custom.id][0]

approval(reason) := {"approvers": config.approval.approvers, "reason": reason}
