# METADATA
# title: Catalog views that expose row values, other sessions' SQL or secrets are classified
# description: >-
#   The system relations in config catalog.relations (pg_stats, pg_stat_activity,
#   pg_authid...) and the functions behind them in config catalog.functions
#   (pg_stat_get_activity, lo_get...), matched by name in any schema, are classified:
#   every identity whose reads are masked (outside config groups.unmasked: analysts and
#   agents) is denied reading or calling them, because column masks cannot cover what
#   they show (the most common values of customers.ssn, the literals of another
#   session's query, password hashes).
# custom:
#   id: classified_catalog
package regogate.rules.classified_catalog

import data.regogate.config
import data.regogate.lib

id := lib.annotated_id(rego.metadata.chain())

# One lookup per relation and per function; the identity is looked at only on a hit.
deny contains sprintf("reading %s is not allowed for this identity: it shows %s (classified in config catalog.relations)", [lib.table_key(t), why]) if {
	some t in input.statement.tables
	why := config.catalog.relations[t.name]
	lib.masked
}

deny contains sprintf("calling %s is not allowed for this identity: it returns %s (classified in config catalog.functions)", [f, why]) if {
	some f, name in lib.function_names
	why := config.catalog.functions[name]
	lib.masked
}
