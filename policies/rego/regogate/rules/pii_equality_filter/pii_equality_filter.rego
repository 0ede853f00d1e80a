# METADATA
# title: Equality filters on hash-masked PII columns (opt-in)
# description: >-
#   An example rule, off unless config pii.equality_filter.groups names groups. Identities
#   of those groups whose reads are masked may filter on a classified column only by
#   equality (columns.filtered_equality: the plain column compared with = or IN to
#   constants or parameters) and only when its mask is hash; any other filter on a
#   classified column (LIKE, <, a function over it, a join, ORDER BY, GROUP BY) is denied
#   to them, whether or not they are in groups.pii_filter. The accepted trade-off: an
#   equality filter lets the identity confirm a value it guesses (WHERE ssn = '...'
#   returns the row or not), but never read or narrow down one it does not know.
# custom:
#   id: pii_equality_filter
package regogate.rules.pii_equality_filter

import data.regogate.config
import data.regogate.lib

id := lib.annotated_id(rego.metadata.chain())

deny contains sprintf("filtering on the PII column %s is allowed for this identity only by equality (= or IN with constants or parameters) on a hash-masked column", [column]) if {
	some column in lib.filtered_columns
	config.pii.columns[column]
	lib.equality_filter_identity
	lib.masked
	not lib.equality_filter_allowed(column)
}
