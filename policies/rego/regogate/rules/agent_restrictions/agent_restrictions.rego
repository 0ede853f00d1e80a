# METADATA
# title: Agents are read-only
# description: >-
#   Identities in an agent group (config groups.agents: mcp-agents) may not modify any
#   table, change the schema, lock rows, end the surrounding transaction inside a
#   multi-statement query (the "COMMIT; CREATE TABLE ..." escape from a read-only
#   transaction), or run any other statement that is not read-only. Opaque statements,
#   role changes, DROP, functions (volatile, user-defined, unknown or dangerous ones),
#   classified catalog views and PII filters are refused for agents by the rules opaque,
#   no_role_change, no_drop, agent_functions, dangerous_functions, classified_catalog and
#   pii_mask.
# custom:
#   id: agent_restrictions
package regogate.rules.agent_restrictions

import data.regogate.config
import data.regogate.lib

id := lib.annotated_id(rego.metadata.chain())

# The reasons are looked at only for agents.
deny contains reason if {
	"agents" in lib.roles
	some reason in reasons
}

reasons contains sprintf("agents may not modify %s (%s)", [t, lib.verb]) if {
	some t in lib.written_tables
}

reasons contains sprintf("agents may not write to %s (%s)", [c, lib.verb]) if {
	count(lib.written_tables) == 0
	some c in lib.written_columns
}

reasons contains sprintf("agents may not change the schema (%s)", [lib.verb]) if {
	lib.ddl
}

reasons contains sprintf("agents may not lock rows (%s)", [v]) if {
	some v in lib.verbs
	v in config.statements.locking_verbs
}

reasons contains sprintf("agents may not end the transaction inside a multi-statement query (%s)", [v]) if {
	lib.multi_statement
	some v in lib.verbs
	v in config.statements.transaction_end_verbs
}

# Anything else that is not a read (CALL, NOTIFY, LOAD...), unless another reason covers it.
# The session-start decision (CONNECT) is session_start's.
reasons contains sprintf("agents may only run read-only statements, not %s", [v]) if {
	lib.verb != "CONNECT"
	not lib.ddl
	not lib.opaque
	count(lib.written_tables) == 0
	count(lib.written_columns) == 0
	some v in lib.verbs
	not v in config.statements.read_verbs
	not v in config.statements.locking_verbs
	not v in config.statements.session_reset_verbs
}
