package regogate.rules.classified_catalog_test

import data.regogate.config
import data.regogate.rules.classified_catalog
import data.regogate.testing

test_id_comes_from_metadata if classified_catalog.id == "classified_catalog"

reading(key, name) := sprintf("reading %s is not allowed for this identity: it shows %s (classified in config catalog.relations)", [key, config.catalog.relations[name]])

calling(f, name) := sprintf("calling %s is not allowed for this identity: it returns %s (classified in config catalog.functions)", [f, config.catalog.functions[name]])

# fixture -> the reason, for agents and analysts alike.
refused := {
	"pg_stats": reading("pg_catalog.pg_stats", "pg_stats"),
	"pg_stats_qualified": reading("pg_catalog.pg_stats", "pg_stats"),
	"pg_stats_through_view": reading("pg_catalog.pg_stats", "pg_stats"),
	"pg_statistic": reading("pg_catalog.pg_statistic", "pg_statistic"),
	"pg_stats_ext": reading("pg_catalog.pg_stats_ext", "pg_stats_ext"),
	"pg_stat_activity": reading("pg_catalog.pg_stat_activity", "pg_stat_activity"),
	"pg_stat_get_activity": calling("pg_catalog.pg_stat_get_activity", "pg_stat_get_activity"),
	"pg_stat_get_backend_activity": calling("pg_catalog.pg_stat_get_backend_activity", "pg_stat_get_backend_activity"),
	"pg_stat_statements": reading("public.pg_stat_statements", "pg_stat_statements"),
	"pg_stat_statements_function": calling("public.pg_stat_statements", "pg_stat_statements"),
	"pg_authid": reading("pg_catalog.pg_authid", "pg_authid"),
	"pg_shadow": reading("pg_catalog.pg_shadow", "pg_shadow"),
	"pg_prepared_statements": reading("pg_catalog.pg_prepared_statements", "pg_prepared_statements"),
	"pg_largeobject": reading("pg_catalog.pg_largeobject", "pg_largeobject"),
	"lo_get": calling("pg_catalog.lo_get", "lo_get"),
	"pg_logical_slot_peek_changes": calling("pg_catalog.pg_logical_slot_peek_changes", "pg_logical_slot_peek_changes"),
	"user_mapping_options": reading("information_schema.user_mapping_options", "user_mapping_options"),
}

test_classified_catalog_is_refused_to_agents_and_analysts if {
	every name, reason in refused {
		testing.denied_with(testing.agent(name), reason)
		testing.denied_with(testing.analyst(name), reason)
		count(classified_catalog.deny) == 0 with input as testing.dba(name)
	}
}

test_the_unmasked_dba_reads_them if {
	every name in ["pg_stats", "pg_stat_activity", "pg_authid", "pg_stats_through_view"] {
		testing.plain_allow(testing.dba(name))
	}
}

# Every configured name is refused wherever it lives (extensions install pg_stat_statements
# in any schema; a same-named relation elsewhere could be reached by a search_path trick).
test_every_configured_relation_and_function_is_refused if {
	every name, _ in config.catalog.relations {
		inp := json.patch(testing.analyst("select_1"), [{"op": "replace", "path": "/statement/tables", "value": [{"schema": "anywhere", "name": name, "access": ["read"], "kind": "view"}]}])
		classified_catalog.deny == {reading(sprintf("anywhere.%s", [name]), name)} with input as inp
	}
	every name, _ in config.catalog.functions {
		f := sprintf("anywhere.%s", [name])
		inp := json.patch(testing.agent("select_1"), [{"op": "replace", "path": "/statement/functions", "value": [f]}])
		classified_catalog.deny == {calling(f, name)} with input as inp
	}
}

test_catalog_that_psql_and_monitoring_use_is_not_classified if {
	every name in ["pg_statistic_ext", "pg_settings", "pg_stat_user_functions", "pg_stat_user_tables", "psql_du", "psql_d_customers_10"] {
		count(classified_catalog.deny) == 0 with input as testing.agent(name)
		testing.plain_allow(testing.agent(name))
	}
}

test_names_that_are_not_the_catalog_relation_are_not_classified if {
	# A CTE named pg_stats is not a relation; "PG_STATS" is another (unknown) relation,
	# refused by uncertain_names instead.
	count(classified_catalog.deny) == 0 with input as testing.agent("cte_named_pg_stats")
	testing.plain_allow(testing.agent("cte_named_pg_stats"))
	count(classified_catalog.deny) == 0 with input as testing.agent("quoted_upper_pg_stats")
	not testing.plain_allow(testing.agent("quoted_upper_pg_stats"))
}

test_wrapping_the_read_changes_nothing if {
	every name, key in {
		"copy_pg_stat_activity": "pg_stat_activity",
		"declare_cursor_pg_stats": "pg_stats",
		"explain_pg_stats": "pg_stats",
		"cte_pg_stat_activity": "pg_stat_activity",
	} {
		testing.denied_with(testing.agent(name), reading(sprintf("pg_catalog.%s", [key]), key))
		testing.denied_with(testing.analyst(name), reading(sprintf("pg_catalog.%s", [key]), key))
	}
}
