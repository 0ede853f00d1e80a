# METADATA
# title: DBAs may write; sensitive writes and DDL need approval
# description: >-
#   Identities in a writer group (config groups.writers: dba) may run any statement that
#   no other rule denies. Writes to the tables in config approval.write_tables
#   (public.accounts), any DDL, and the verbs in config approval.verbs (TRUNCATE TABLE)
#   require approval by config approval.approvers (group:approvers: people who approve,
#   apart from those who write).
# custom:
#   id: dba_write
package regogate.rules.dba_write

import data.regogate.config
import data.regogate.lib

id := lib.annotated_id(rego.metadata.chain())

allow if "writers" in lib.roles

# The requirements are looked at only for writers.
approval contains lib.approval(reason) if {
	"writers" in lib.roles
	some reason in approval_reasons
}

approval_reasons contains sprintf("writes to %s need approval", [t]) if {
	some t in lib.written_tables
	t in config.approval.write_tables
}

approval_reasons contains sprintf("DDL (%s) needs approval", [lib.verb]) if lib.ddl

approval_reasons contains sprintf("%s needs approval", [v]) if {
	some v in lib.verbs
	v in config.approval.verbs
}
