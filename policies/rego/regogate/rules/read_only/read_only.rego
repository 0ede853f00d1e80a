# METADATA
# title: Readers may run read-only statements
# description: >-
#   Identities in a reader group (config groups.readers: analysts and mcp-agents) may run
#   statements whose every verb is a read verb (config statements.read_verbs: SELECT,
#   SHOW, SET, BEGIN/COMMIT/ROLLBACK, EXPLAIN, COPY ... TO STDOUT, cursors...), that
#   write no table and no column, change no schema, are not opaque and set no protected
#   setting. EXPLAIN ANALYZE cannot be told from EXPLAIN in the input; EXPLAIN of a write
#   carries the write's verb and is therefore not read-only.
# custom:
#   id: read_only
package regogate.rules.read_only

import data.regogate.config
import data.regogate.lib

id := lib.annotated_id(rego.metadata.chain())

allow if {
	"readers" in lib.roles
	read_only_statement
}

read_only_statement if {
	input.statement.flags.opaque == false
	input.statement.flags.ddl == false
	every v in lib.verbs {
		v in config.statements.read_verbs
	}
	count(lib.written_columns) == 0
	not lib.writes_or_alters_a_table
	every s in input.statement.settings {
		not s in config.statements.protected_settings
	}
}
