# METADATA
# title: PII columns are masked
# description: >-
#   For identities outside config groups.unmasked (dba), every column read (columns.read)
#   that data.regogate.config.pii.columns classifies gets that classification's mask.
#   Filtering, joining or sorting on a classified column (columns.filtered) is allowed only
#   for config groups.pii_filter (analysts, dba): for others it would reveal masked values
#   (WHERE ssn LIKE '1%'). A read whose columns cannot be named (schema.table.*) next to
#   a table with classified columns is denied: it cannot be masked.
# custom:
#   id: pii_mask
package regogate.rules.pii_mask

import data.regogate.lib

id := lib.annotated_id(rego.metadata.chain())

classified := lib.config.pii.columns

masked_identity if not lib.member_of(lib.config.groups.unmasked)

mask[column] := classified[column] if {
	masked_identity
	some column in lib.columns("read")
}

deny contains sprintf("filtering, joining or sorting on the PII column %s is not allowed for this identity: it would reveal masked values", [column]) if {
	masked_identity
	not lib.member_of(lib.config.groups.pii_filter)
	some column in lib.columns("filtered")
	classified[column]
}

deny contains sprintf("the PII columns of %s cannot be masked because the columns behind %s are unknown; the statement is denied rather than risk showing them", [t, star]) if {
	masked_identity
	some star in unnamed
	some t in (lib.read_tables | {trim_suffix(star, ".*")})
	has_pii(t)
}

# Columns that cannot be named ("schema.table.*"), read or filtered.
unnamed contains c if {
	some kind in ["read", "filtered"]
	some c in lib.columns(kind)
	endswith(c, ".*")
}

has_pii(table) if {
	some column, _ in classified
	lib.column_of(column, table)
}
