# METADATA
# title: PII columns are masked
# description: >-
#   For identities outside config groups.unmasked (dba), every column read (columns.read)
#   or filtered (columns.filtered) that data.regogate.config.pii.columns classifies gets
#   that classification's mask. Functions that are not built in are denied to them
#   (unless config functions.masked_allowed names them): they may read classified data
#   the gateway cannot see.
#   Filtering, joining or sorting on a classified column (columns.filtered) is allowed only
#   for config groups.pii_filter (analysts, dba): for others it would reveal masked values
#   (WHERE ssn LIKE '1%'). A read whose columns cannot be named (schema.table.*) next to
#   a table with classified columns is denied: it cannot be masked. A FETCH or MOVE of a
#   cursor the gateway did not see opened (flags.unknown_cursor) is denied to them: what
#   its rows hold has no lineage, so nothing could be masked.
# custom:
#   id: pii_mask
package regogate.rules.pii_mask

import data.regogate.config
import data.regogate.lib

id := lib.annotated_id(rego.metadata.chain())

classified := config.pii.columns

# The classification is keyed by column: one lookup per column read or filtered, and the
# identity is looked at only when a classified column is there. A filtered column's mask
# masks no result column: it tells the gateway that the statement involves it, so that
# errors and notices (a cast error quoting a value) are redacted.
mask := {column: spec |
	classification := classified
	some columns in [lib.read_columns, lib.filtered_columns]
	some column in columns
	spec := classification[column]
	lib.masked
}

# A function that is not part of PostgreSQL may read classified tables itself: what it
# returns has no lineage the gateway can see, so it cannot be masked. (Agents are refused
# such functions by agent_functions.)
deny contains sprintf("%s may read classified data that regogate cannot see in order to mask it: it is not part of PostgreSQL (a user-defined or extension function); identities whose reads are masked may call only built-in functions and those in config functions.masked_allowed", [f]) if {
	input.statement.functions[_]
	lib.masked
	not "agents" in lib.roles
	some f in input.statement.functions
	not config.functions.masked_allowed[f]
	info := lib.function_info(f)
	info.known == true
	not info.builtin == true
}

deny contains sprintf("filtering, joining or sorting on the PII column %s is not allowed for this identity: it would reveal masked values", [column]) if {
	some column in lib.filtered_columns
	classified[column]
	lib.masked
	not "pii_filter" in lib.roles
	not lib.equality_filter_allowed(column) # the opt-in pii_equality_filter rule
}

deny contains sprintf("the PII columns of %s cannot be masked because the columns behind %s are unknown; the statement is denied rather than risk showing them", [t, star]) if {
	some star in unnamed
	lib.masked
	some t in (lib.read_tables | {trim_suffix(star, ".*")})
	has_pii(t)
}

# Columns that cannot be named ("schema.table.*"), read or filtered.
# One call tells whether there are any, usually not; only then each column is looked at.
unnamed contains c if {
	some columns in [lib.read_columns, lib.filtered_columns]
	strings.any_suffix_match(columns, ".*")
	some c in columns
	endswith(c, ".*")
}

has_pii(table) if {
	some column, _ in classified
	lib.column_of(column, table)
}

# A cursor opened by code the gateway cannot see (a refcursor a function returned, or one
# it had to forget): its rows have no lineage, so they could not be masked.
deny contains "this FETCH reads a cursor regogate did not see opened (a refcursor opened by a function, or one it forgot), so its rows cannot be masked; identities whose reads are masked may fetch only from cursors they DECLAREd through regogate" if {
	input.statement.flags.unknown_cursor == true
	lib.masked
}
