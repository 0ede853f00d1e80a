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

import data.regogate.config
import data.regogate.lib

id := lib.annotated_id(rego.metadata.chain())

classified := config.pii.columns

# The classification is keyed by column: one lookup per column read, and the identity is
# looked at only when a classified column is there.
mask := {column: spec |
	classification := classified
	some column in lib.read_columns
	spec := classification[column]
	lib.masked
}

deny contains sprintf("filtering, joining or sorting on the PII column %s is not allowed for this identity: it would reveal masked values", [column]) if {
	some column in lib.filtered_columns
	classified[column]
	lib.masked
	not "pii_filter" in lib.roles
}

deny contains sprintf("the PII columns of %s cannot be masked because the columns behind %s are unknown; the statement is denied rather than risk showing them", [t, star]) if {
	some star in unnamed
	lib.masked
	some t in (lib.read_tables | {trim_suffix(star, ".*")})
	has_pii(t)
}

# Columns that cannot be named ("schema.table.*"), read or filtered.
# One call tells whether there are any, usually not; only then each column is looked at.
unnamed contains c if {
	some columns in [lib.read_columns, lib.filtered_columns]
	strings.any_suffix_match(columns, ".*")
	some c in columns
	endswith(c, ".*")
}

has_pii(table) if {
	some column, _ in classified
	lib.column_of(column, table)
}
