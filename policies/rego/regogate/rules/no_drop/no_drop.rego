# METADATA
# title: Nobody drops tables
# description: >-
#   DROP TABLE, and the statements that drop tables with them (DROP FOREIGN TABLE, DROP
#   SCHEMA, DROP DATABASE, DROP OWNED: config statements.drop_verbs), are denied for
#   everyone, including inside a multi-statement query (each statement is decided).
# custom:
#   id: no_drop
package regogate.rules.no_drop

import data.regogate.config
import data.regogate.lib

id := lib.annotated_id(rego.metadata.chain())

deny contains sprintf("%s is not allowed for anyone (%s)", [v, lib.listing(lib.ddl_tables)]) if {
	some v in lib.verbs
	v in config.statements.drop_verbs
}
