# METADATA
# title: UPDATE and DELETE need a WHERE that names the table
# description: >-
#   For everyone: an UPDATE or DELETE (anywhere in the statement: CTEs, MERGE actions,
#   INSERT ... ON CONFLICT DO UPDATE) without a WHERE clause is denied, and so is a
#   top-level UPDATE or DELETE whose WHERE references no column of a table it writes
#   (WHERE true, WHERE 1 = 1; also WHERE CURRENT OF, which the input cannot tell apart).
# custom:
#   id: where_required
package regogate.rules.where_required

import data.regogate.lib

id := lib.annotated_id(rego.metadata.chain())

deny contains sprintf("%s without a WHERE clause is not allowed (it would affect every row of %s)%s", [v, lib.listing(lib.written_tables), hint]) if {
	input.statement.flags.has_where == false
	some v in (lib.verbs & {"UPDATE", "DELETE"})
}

hint := "; in INSERT ... ON CONFLICT DO UPDATE add a WHERE to the DO UPDATE" if {
	lib.verb == "INSERT"
} else := ""

deny contains sprintf("%s whose WHERE clause references no column of %s is not allowed (a condition such as WHERE true affects every row)", [lib.verb, lib.listing(lib.written_tables)]) if {
	input.statement.flags.has_where == true
	lib.verb in {"UPDATE", "DELETE"}
	count(lib.written_tables) > 0
	not filters_a_written_table
}

filters_a_written_table if {
	some t in lib.written_tables
	some c in lib.filtered_columns
	lib.column_of(c, t)
}
