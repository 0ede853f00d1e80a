# METADATA
# title: Agents are read-only
# description: >-
#   Identities in an agent group (config groups.agents: mcp-agents) may not modify any
#   table, change the schema, lock rows, end the surrounding transaction inside a
#   multi-statement query (the "COMMIT; CREATE TABLE ..." escape from a read-only
#   transaction), or run any other statement that is not read-only. Opaque statements,
#   role changes, DROP, dangerous functions and PII filters are refused for agents by the
#   rules opaque, no_role_change, no_drop, dangerous_functions and pii_mask.
# custom:
#   id: agent_restrictions
package regogate.rules.agent_restrictions

import data.regogate.lib

id := lib.annotated_id(rego.metadata.chain())

statements := lib.config.statements

deny contains sprintf("agents may not modify %s (%s)", [t, lib.verb]) if {
	lib.agent
	some t in lib.written_tables
}

deny contains sprintf("agents may not write to %s (%s)", [c, lib.verb]) if {
	lib.agent
	count(lib.written_tables) == 0
	some c in lib.columns("written")
}

deny contains sprintf("agents may not change the schema (%s)", [lib.verb]) if {
	lib.agent
	lib.ddl
}

deny contains sprintf("agents may not lock rows (%s)", [v]) if {
	lib.agent
	some v in lib.verbs
	v in statements.locking_verbs
}

deny contains sprintf("agents may not end the transaction inside a multi-statement query (%s)", [v]) if {
	lib.agent
	lib.multi_statement
	some v in lib.verbs
	v in statements.transaction_end_verbs
}

# Anything else that is not a read (CALL, NOTIFY, LOAD...), unless another reason covers it.
deny contains sprintf("agents may only run read-only statements, not %s", [v]) if {
	lib.agent
	not lib.ddl
	not lib.opaque
	count(lib.written_tables) == 0
	count(lib.columns("written")) == 0
	some v in lib.verbs
	not v in statements.read_verbs
	not v in statements.locking_verbs
	not v in statements.session_reset_verbs
}
