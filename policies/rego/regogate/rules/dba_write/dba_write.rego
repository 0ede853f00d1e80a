# METADATA
# title: DBAs may write; sensitive writes and DDL need approval
# description: >-
#   Identities in a writer group (config groups.writers: dba) may run any statement that
#   no other rule denies. Writes to the tables in config approval.write_tables
#   (public.accounts), any DDL, and the verbs in config approval.verbs (TRUNCATE TABLE)
#   require approval by config approval.approvers (group:dba).
# custom:
#   id: dba_write
package regogate.rules.dba_write

import data.regogate.lib

id := lib.annotated_id(rego.metadata.chain())

allow if lib.writer

approval contains lib.approval(sprintf("writes to %s need approval", [t])) if {
	lib.writer
	some t in lib.written_tables
	t in lib.config.approval.write_tables
}

approval contains lib.approval(sprintf("DDL (%s) needs approval", [lib.verb])) if {
	lib.writer
	lib.ddl
}

approval contains lib.approval(sprintf("%s needs approval", [v])) if {
	lib.writer
	some v in lib.verbs
	v in lib.config.approval.verbs
}
