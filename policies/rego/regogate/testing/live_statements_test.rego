# Policy-input statements produced by regogate.policy.facts.to_input from the SQL in each
# entry's comment, with the catalog snapshot (CATALOG_QUERY, function details included)
# of a live PostgreSQL 15 bank database: the demo's bank.sql, and:
#
#   CREATE EXTENSION dblink; CREATE EXTENSION pg_stat_statements;
#   CREATE PROCEDURE public.transfer(a int, b int, c int) LANGUAGE plpgsql AS $$ BEGIN NULL; END $$;
#   CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE sql VOLATILE AS 'select pg_catalog.now()';
#   CREATE FUNCTION public.lower(text, int) RETURNS text LANGUAGE sql IMMUTABLE AS 'select pg_catalog.lower($1)';
#   CREATE FUNCTION public.customer_count() RETURNS bigint LANGUAGE sql STABLE SECURITY DEFINER
#     AS 'select count(*) from public.customers';
#   CREATE FUNCTION public.masked_email(text) RETURNS text LANGUAGE sql IMMUTABLE
#     AS 'select regexp_replace($1, ''^[^@]*'', ''***'')';
#   CREATE VIEW public.column_stats AS
#     SELECT tablename, attname, most_common_vals::text AS vals FROM pg_catalog.pg_stats;
#
# The psql_* entries are the queries psql 15.18 sends for its meta-commands, captured with
# `psql -E` (16385 is the OID of public.customers there).
package regogate.testing

live_statements := {
	# psql \d (query 1 of 1)
	# SELECT n.nspname as "Schema",
	#   c.relname as "Name",
	#   CASE c.relkind WHEN 'r' THEN 'table' WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' WHEN 'i' THEN 'index' WHEN 'S' THEN 'sequence' WHEN 't' THEN 'TOAST table' WHEN 'f' THEN 'foreign table' WHEN 'p' THEN 'partitioned table' WHEN 'I' THEN 'partitioned index' END as "Type",
	#   pg_catalog.pg_get_userbyid(c.relowner) as "Owner"
	# FROM pg_catalog.pg_class c
	#      LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
	#      LEFT JOIN pg_catalog.pg_am am ON am.oid = c.relam
	# WHERE c.relkind IN ('r','p','v','m','S','f','')
	#       AND n.nspname <> 'pg_catalog'
	#       AND n.nspname !~ '^pg_toast'
	#       AND n.nspname <> 'information_schema'
	#   AND pg_catalog.pg_table_is_visible(c.oid)
	# ORDER BY 1,2;
	"psql_d": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [{"schema": "pg_catalog", "name": "pg_am", "access": ["read"], "kind": "table"}, {"schema": "pg_catalog", "name": "pg_class", "access": ["read"], "kind": "table"}, {"schema": "pg_catalog", "name": "pg_namespace", "access": ["read"], "kind": "table"}], "columns": {"read": ["pg_catalog.pg_class.relkind", "pg_catalog.pg_class.relname", "pg_catalog.pg_class.relowner", "pg_catalog.pg_namespace.nspname"], "written": [], "filtered": ["pg_catalog.pg_am.oid", "pg_catalog.pg_class.oid", "pg_catalog.pg_class.relam", "pg_catalog.pg_class.relkind", "pg_catalog.pg_class.relname", "pg_catalog.pg_class.relnamespace", "pg_catalog.pg_namespace.nspname", "pg_catalog.pg_namespace.oid"]}, "functions": ["pg_catalog.pg_get_userbyid", "pg_catalog.pg_table_is_visible"], "function_info": {"pg_catalog.pg_get_userbyid": {"known": true, "volatility": "stable", "security_definer": false, "languages": ["internal"], "builtin": true, "kinds": ["function"]}, "pg_catalog.pg_table_is_visible": {"known": true, "volatility": "stable", "security_definer": false, "languages": ["internal"], "builtin": true, "kinds": ["function"]}}, "settings": [], "flags": {"has_where": true, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "de74580fe9b07230"},
	# psql \dt (query 1 of 1)
	# SELECT n.nspname as "Schema",
	#   c.relname as "Name",
	#   CASE c.relkind WHEN 'r' THEN 'table' WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' WHEN 'i' THEN 'index' WHEN 'S' THEN 'sequence' WHEN 't' THEN 'TOAST table' WHEN 'f' THEN 'foreign table' WHEN 'p' THEN 'partitioned table' WHEN 'I' THEN 'partitioned index' END as "Type",
	#   pg_catalog.pg_get_userbyid(c.relowner) as "Owner"
	# FROM pg_catalog.pg_class c
	#      LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
	#      LEFT JOIN pg_catalog.pg_am am ON am.oid = c.relam
	# WHERE c.relkind IN ('r','p','')
	#       AND n.nspname <> 'pg_catalog'
	#       AND n.nspname !~ '^pg_toast'
	#       AND n.nspname <> 'information_schema'
	#   AND pg_catalog.pg_table_is_visible(c.oid)
	# ORDER BY 1,2;
	"psql_dt": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [{"schema": "pg_catalog", "name": "pg_am", "access": ["read"], "kind": "table"}, {"schema": "pg_catalog", "name": "pg_class", "access": ["read"], "kind": "table"}, {"schema": "pg_catalog", "name": "pg_namespace", "access": ["read"], "kind": "table"}], "columns": {"read": ["pg_catalog.pg_class.relkind", "pg_catalog.pg_class.relname", "pg_catalog.pg_class.relowner", "pg_catalog.pg_namespace.nspname"], "written": [], "filtered": ["pg_catalog.pg_am.oid", "pg_catalog.pg_class.oid", "pg_catalog.pg_class.relam", "pg_catalog.pg_class.relkind", "pg_catalog.pg_class.relname", "pg_catalog.pg_class.relnamespace", "pg_catalog.pg_namespace.nspname", "pg_catalog.pg_namespace.oid"]}, "functions": ["pg_catalog.pg_get_userbyid", "pg_catalog.pg_table_is_visible"], "function_info": {"pg_catalog.pg_get_userbyid": {"known": true, "volatility": "stable", "security_definer": false, "languages": ["internal"], "builtin": true, "kinds": ["function"]}, "pg_catalog.pg_table_is_visible": {"known": true, "volatility": "stable", "security_definer": false, "languages": ["internal"], "builtin": true, "kinds": ["function"]}}, "settings": [], "flags": {"has_where": true, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "de74580fe9b07230"},
	# psql \d customers (query 1 of 12)
	# SELECT c.oid,
	#   n.nspname,
	#   c.relname
	# FROM pg_catalog.pg_class c
	#      LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
	# WHERE c.relname OPERATOR(pg_catalog.~) '^(customers)$' COLLATE pg_catalog.default
	#   AND pg_catalog.pg_table_is_visible(c.oid)
	# ORDER BY 2, 3;
	"psql_d_customers_1": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [{"schema": "pg_catalog", "name": "pg_class", "access": ["read"], "kind": "table"}, {"schema": "pg_catalog", "name": "pg_namespace", "access": ["read"], "kind": "table"}], "columns": {"read": ["pg_catalog.pg_class.oid", "pg_catalog.pg_class.relname", "pg_catalog.pg_namespace.nspname"], "written": [], "filtered": ["pg_catalog.pg_class.oid", "pg_catalog.pg_class.relname", "pg_catalog.pg_class.relnamespace", "pg_catalog.pg_namespace.nspname", "pg_catalog.pg_namespace.oid"]}, "functions": ["pg_catalog.pg_table_is_visible"], "function_info": {"pg_catalog.pg_table_is_visible": {"known": true, "volatility": "stable", "security_definer": false, "languages": ["internal"], "builtin": true, "kinds": ["function"]}}, "settings": [], "flags": {"has_where": true, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "197b0159bf60cb5d"},
	# psql \d customers (query 2 of 12)
	# SELECT c.relchecks, c.relkind, c.relhasindex, c.relhasrules, c.relhastriggers, c.relrowsecurity, c.relforcerowsecurity, false AS relhasoids, c.relispartition, '', c.reltablespace, CASE WHEN c.reloftype = 0 THEN '' ELSE c.reloftype::pg_catalog.regtype::pg_catalog.text END, c.relpersistence, c.relreplident, am.amname
	# FROM pg_catalog.pg_class c
	#  LEFT JOIN pg_catalog.pg_class tc ON (c.reltoastrelid = tc.oid)
	# LEFT JOIN pg_catalog.pg_am am ON (c.relam = am.oid)
	# WHERE c.oid = '16385';
	"psql_d_customers_2": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [{"schema": "pg_catalog", "name": "pg_am", "access": ["read"], "kind": "table"}, {"schema": "pg_catalog", "name": "pg_class", "access": ["read"], "kind": "table"}], "columns": {"read": ["pg_catalog.pg_am.amname", "pg_catalog.pg_class.relchecks", "pg_catalog.pg_class.relforcerowsecurity", "pg_catalog.pg_class.relhasindex", "pg_catalog.pg_class.relhasrules", "pg_catalog.pg_class.relhastriggers", "pg_catalog.pg_class.relispartition", "pg_catalog.pg_class.relkind", "pg_catalog.pg_class.reloftype", "pg_catalog.pg_class.relpersistence", "pg_catalog.pg_class.relreplident", "pg_catalog.pg_class.relrowsecurity", "pg_catalog.pg_class.reltablespace"], "written": [], "filtered": ["pg_catalog.pg_am.oid", "pg_catalog.pg_class.oid", "pg_catalog.pg_class.relam", "pg_catalog.pg_class.reltoastrelid"]}, "functions": [], "function_info": {}, "settings": [], "flags": {"has_where": true, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "d1903e73b9608701"},
	# psql \d customers (query 3 of 12)
	# SELECT a.attname,
	#   pg_catalog.format_type(a.atttypid, a.atttypmod),
	#   (SELECT pg_catalog.pg_get_expr(d.adbin, d.adrelid, true)
	#    FROM pg_catalog.pg_attrdef d
	#    WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum AND a.atthasdef),
	#   a.attnotnull,
	#   (SELECT c.collname FROM pg_catalog.pg_collation c, pg_catalog.pg_type t
	#    WHERE c.oid = a.attcollation AND t.oid = a.atttypid AND a.attcollation <> t.typcollation) AS attcollation,
	#   a.attidentity,
	#   a.attgenerated
	# FROM pg_catalog.pg_attribute a
	# WHERE a.attrelid = '16385' AND a.attnum > 0 AND NOT a.attisdropped
	# ORDER BY a.attnum;
	"psql_d_customers_3": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [{"schema": "pg_catalog", "name": "pg_attrdef", "access": ["read"], "kind": "table"}, {"schema": "pg_catalog", "name": "pg_attribute", "access": ["read"], "kind": "table"}, {"schema": "pg_catalog", "name": "pg_collation", "access": ["read"], "kind": "table"}, {"schema": "pg_catalog", "name": "pg_type", "access": ["read"], "kind": "table"}], "columns": {"read": ["pg_catalog.pg_attrdef.adbin", "pg_catalog.pg_attrdef.adrelid", "pg_catalog.pg_attribute.attgenerated", "pg_catalog.pg_attribute.attidentity", "pg_catalog.pg_attribute.attname", "pg_catalog.pg_attribute.attnotnull", "pg_catalog.pg_attribute.atttypid", "pg_catalog.pg_attribute.atttypmod", "pg_catalog.pg_collation.collname"], "written": [], "filtered": ["pg_catalog.pg_attrdef.adnum", "pg_catalog.pg_attrdef.adrelid", "pg_catalog.pg_attribute.attcollation", "pg_catalog.pg_attribute.atthasdef", "pg_catalog.pg_attribute.attisdropped", "pg_catalog.pg_attribute.attnum", "pg_catalog.pg_attribute.attrelid", "pg_catalog.pg_attribute.atttypid", "pg_catalog.pg_collation.oid", "pg_catalog.pg_type.oid", "pg_catalog.pg_type.typcollation"]}, "functions": ["pg_catalog.format_type", "pg_catalog.pg_get_expr"], "function_info": {"pg_catalog.format_type": {"known": true, "volatility": "stable", "security_definer": false, "languages": ["internal"], "builtin": true, "kinds": ["function"]}, "pg_catalog.pg_get_expr": {"known": true, "volatility": "stable", "security_definer": false, "languages": ["internal"], "builtin": true, "kinds": ["function"]}}, "settings": [], "flags": {"has_where": true, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "f89795a56f226525"},
	# psql \d customers (query 4 of 12)
	# SELECT c2.relname, i.indisprimary, i.indisunique, i.indisclustered, i.indisvalid, pg_catalog.pg_get_indexdef(i.indexrelid, 0, true),
	#   pg_catalog.pg_get_constraintdef(con.oid, true), contype, condeferrable, condeferred, i.indisreplident, c2.reltablespace
	# FROM pg_catalog.pg_class c, pg_catalog.pg_class c2, pg_catalog.pg_index i
	#   LEFT JOIN pg_catalog.pg_constraint con ON (conrelid = i.indrelid AND conindid = i.indexrelid AND contype IN ('p','u','x'))
	# WHERE c.oid = '16385' AND c.oid = i.indrelid AND i.indexrelid = c2.oid
	# ORDER BY i.indisprimary DESC, c2.relname;
	"psql_d_customers_4": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [{"schema": "pg_catalog", "name": "pg_class", "access": ["read"], "kind": "table"}, {"schema": "pg_catalog", "name": "pg_constraint", "access": ["read"], "kind": "table"}, {"schema": "pg_catalog", "name": "pg_index", "access": ["read"], "kind": "table"}], "columns": {"read": ["pg_catalog.pg_class.relname", "pg_catalog.pg_class.reltablespace", "pg_catalog.pg_constraint.condeferrable", "pg_catalog.pg_constraint.condeferred", "pg_catalog.pg_constraint.contype", "pg_catalog.pg_constraint.oid", "pg_catalog.pg_index.indexrelid", "pg_catalog.pg_index.indisclustered", "pg_catalog.pg_index.indisprimary", "pg_catalog.pg_index.indisreplident", "pg_catalog.pg_index.indisunique", "pg_catalog.pg_index.indisvalid"], "written": [], "filtered": ["pg_catalog.pg_class.oid", "pg_catalog.pg_class.relname", "pg_catalog.pg_constraint.conindid", "pg_catalog.pg_constraint.conrelid", "pg_catalog.pg_constraint.contype", "pg_catalog.pg_index.indexrelid", "pg_catalog.pg_index.indisprimary", "pg_catalog.pg_index.indrelid"]}, "functions": ["pg_catalog.pg_get_constraintdef", "pg_catalog.pg_get_indexdef"], "function_info": {"pg_catalog.pg_get_constraintdef": {"known": true, "volatility": "stable", "security_definer": false, "languages": ["internal"], "builtin": true, "kinds": ["function"]}, "pg_catalog.pg_get_indexdef": {"known": true, "volatility": "stable", "security_definer": false, "languages": ["internal"], "builtin": true, "kinds": ["function"]}}, "settings": [], "flags": {"has_where": true, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "700d79c671e214a2"},
	# psql \d customers (query 5 of 12)
	# SELECT true as sametable, conname,
	#   pg_catalog.pg_get_constraintdef(r.oid, true) as condef,
	#   conrelid::pg_catalog.regclass AS ontable
	# FROM pg_catalog.pg_constraint r
	# WHERE r.conrelid = '16385' AND r.contype = 'f'
	#      AND conparentid = 0
	# ORDER BY conname
	"psql_d_customers_5": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [{"schema": "pg_catalog", "name": "pg_constraint", "access": ["read"], "kind": "table"}], "columns": {"read": ["pg_catalog.pg_constraint.conname", "pg_catalog.pg_constraint.conrelid", "pg_catalog.pg_constraint.oid"], "written": [], "filtered": ["pg_catalog.pg_constraint.conname", "pg_catalog.pg_constraint.conparentid", "pg_catalog.pg_constraint.conrelid", "pg_catalog.pg_constraint.contype"]}, "functions": ["pg_catalog.pg_get_constraintdef"], "function_info": {"pg_catalog.pg_get_constraintdef": {"known": true, "volatility": "stable", "security_definer": false, "languages": ["internal"], "builtin": true, "kinds": ["function"]}}, "settings": [], "flags": {"has_where": true, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "1887d516a0436ef5"},
	# psql \d customers (query 6 of 12)
	# SELECT conname, conrelid::pg_catalog.regclass AS ontable,
	#        pg_catalog.pg_get_constraintdef(oid, true) AS condef
	#   FROM pg_catalog.pg_constraint c
	#  WHERE confrelid IN (SELECT pg_catalog.pg_partition_ancestors('16385')
	#                      UNION ALL VALUES ('16385'::pg_catalog.regclass))
	#        AND contype = 'f' AND conparentid = 0
	# ORDER BY conname;
	"psql_d_customers_6": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [{"schema": "pg_catalog", "name": "pg_constraint", "access": ["read"], "kind": "table"}], "columns": {"read": ["pg_catalog.pg_constraint.conname", "pg_catalog.pg_constraint.conrelid", "pg_catalog.pg_constraint.oid"], "written": [], "filtered": ["pg_catalog.pg_constraint.confrelid", "pg_catalog.pg_constraint.conname", "pg_catalog.pg_constraint.conparentid", "pg_catalog.pg_constraint.contype"]}, "functions": ["pg_catalog.pg_get_constraintdef", "pg_catalog.pg_partition_ancestors"], "function_info": {"pg_catalog.pg_get_constraintdef": {"known": true, "volatility": "stable", "security_definer": false, "languages": ["internal"], "builtin": true, "kinds": ["function"]}, "pg_catalog.pg_partition_ancestors": {"known": true, "volatility": "volatile", "security_definer": false, "languages": ["internal"], "builtin": true, "kinds": ["function"]}}, "settings": [], "flags": {"has_where": true, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "3df8f21a7cfe1859"},
	# psql \d customers (query 7 of 12)
	# SELECT pol.polname, pol.polpermissive,
	#   CASE WHEN pol.polroles = '{0}' THEN NULL ELSE pg_catalog.array_to_string(array(select rolname from pg_catalog.pg_roles where oid = any (pol.polroles) order by 1),',') END,
	#   pg_catalog.pg_get_expr(pol.polqual, pol.polrelid),
	#   pg_catalog.pg_get_expr(pol.polwithcheck, pol.polrelid),
	#   CASE pol.polcmd
	#     WHEN 'r' THEN 'SELECT'
	#     WHEN 'a' THEN 'INSERT'
	#     WHEN 'w' THEN 'UPDATE'
	#     WHEN 'd' THEN 'DELETE'
	#     END AS cmd
	# FROM pg_catalog.pg_policy pol
	# WHERE pol.polrelid = '16385' ORDER BY 1;
	"psql_d_customers_7": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [{"schema": "pg_catalog", "name": "pg_policy", "access": ["read"], "kind": "table"}, {"schema": "pg_catalog", "name": "pg_roles", "access": ["read"], "kind": "view"}], "columns": {"read": ["pg_catalog.pg_policy.polcmd", "pg_catalog.pg_policy.polname", "pg_catalog.pg_policy.polpermissive", "pg_catalog.pg_policy.polqual", "pg_catalog.pg_policy.polrelid", "pg_catalog.pg_policy.polroles", "pg_catalog.pg_policy.polwithcheck", "pg_catalog.pg_roles.rolname"], "written": [], "filtered": ["pg_catalog.pg_policy.polname", "pg_catalog.pg_policy.polrelid", "pg_catalog.pg_policy.polroles", "pg_catalog.pg_roles.oid", "pg_catalog.pg_roles.rolname"]}, "functions": ["pg_catalog.array_to_string", "pg_catalog.pg_get_expr"], "function_info": {"pg_catalog.array_to_string": {"known": true, "volatility": "stable", "security_definer": false, "languages": ["internal"], "builtin": true, "kinds": ["function"]}, "pg_catalog.pg_get_expr": {"known": true, "volatility": "stable", "security_definer": false, "languages": ["internal"], "builtin": true, "kinds": ["function"]}}, "settings": [], "flags": {"has_where": true, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "63c32e6075e68c20"},
	# psql \d customers (query 8 of 12)
	# SELECT oid, stxrelid::pg_catalog.regclass, stxnamespace::pg_catalog.regnamespace::pg_catalog.text AS nsp, stxname,
	# pg_catalog.pg_get_statisticsobjdef_columns(oid) AS columns,
	#   'd' = any(stxkind) AS ndist_enabled,
	#   'f' = any(stxkind) AS deps_enabled,
	#   'm' = any(stxkind) AS mcv_enabled,
	# stxstattarget
	# FROM pg_catalog.pg_statistic_ext
	# WHERE stxrelid = '16385'
	# ORDER BY nsp, stxname;
	"psql_d_customers_8": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [{"schema": "pg_catalog", "name": "pg_statistic_ext", "access": ["read"], "kind": "table"}], "columns": {"read": ["pg_catalog.pg_statistic_ext.oid", "pg_catalog.pg_statistic_ext.stxkind", "pg_catalog.pg_statistic_ext.stxname", "pg_catalog.pg_statistic_ext.stxnamespace", "pg_catalog.pg_statistic_ext.stxrelid", "pg_catalog.pg_statistic_ext.stxstattarget"], "written": [], "filtered": ["pg_catalog.pg_statistic_ext.stxname", "pg_catalog.pg_statistic_ext.stxnamespace", "pg_catalog.pg_statistic_ext.stxrelid"]}, "functions": ["pg_catalog.pg_get_statisticsobjdef_columns"], "function_info": {"pg_catalog.pg_get_statisticsobjdef_columns": {"known": true, "volatility": "stable", "security_definer": false, "languages": ["internal"], "builtin": true, "kinds": ["function"]}}, "settings": [], "flags": {"has_where": true, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "11a5fc4eb7b07a9c"},
	# psql \d customers (query 9 of 12)
	# SELECT pubname
	#      , NULL
	#      , NULL
	# FROM pg_catalog.pg_publication p
	#      JOIN pg_catalog.pg_publication_namespace pn ON p.oid = pn.pnpubid
	#      JOIN pg_catalog.pg_class pc ON pc.relnamespace = pn.pnnspid
	# WHERE pc.oid ='16385' and pg_catalog.pg_relation_is_publishable('16385')
	# UNION
	# SELECT pubname
	#      , pg_get_expr(pr.prqual, c.oid)
	#      , (CASE WHEN pr.prattrs IS NOT NULL THEN
	#          (SELECT string_agg(attname, ', ')
	#            FROM pg_catalog.generate_series(0, pg_catalog.array_upper(pr.prattrs::pg_catalog.int2[], 1)) s,
	#                 pg_catalog.pg_attribute
	#           WHERE attrelid = pr.prrelid AND attnum = prattrs[s])
	#         ELSE NULL END) FROM pg_catalog.pg_publication p
	#      JOIN pg_catalog.pg_publication_rel pr ON p.oid = pr.prpubid
	#      JOIN pg_catalog.pg_class c ON c.oid = pr.prrelid
	# WHERE pr.prrelid = '16385'
	# UNION
	# SELECT pubname
	#      , NULL
	#      , NULL
	# FROM pg_catalog.pg_publication p
	# WHERE p.puballtables AND pg_catalog.pg_relation_is_publishable('16385')
	# ORDER BY 1;
	"psql_d_customers_9": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [{"schema": "pg_catalog", "name": "pg_attribute", "access": ["read"], "kind": "table"}, {"schema": "pg_catalog", "name": "pg_class", "access": ["read"], "kind": "table"}, {"schema": "pg_catalog", "name": "pg_publication", "access": ["read"], "kind": "table"}, {"schema": "pg_catalog", "name": "pg_publication_namespace", "access": ["read"], "kind": "table"}, {"schema": "pg_catalog", "name": "pg_publication_rel", "access": ["read"], "kind": "table"}], "columns": {"read": ["pg_catalog.pg_attribute.attname", "pg_catalog.pg_class.oid", "pg_catalog.pg_publication.pubname", "pg_catalog.pg_publication_rel.prattrs", "pg_catalog.pg_publication_rel.prqual"], "written": [], "filtered": ["pg_catalog.pg_attribute.attnum", "pg_catalog.pg_attribute.attrelid", "pg_catalog.pg_class.oid", "pg_catalog.pg_class.relnamespace", "pg_catalog.pg_publication.oid", "pg_catalog.pg_publication.puballtables", "pg_catalog.pg_publication.pubname", "pg_catalog.pg_publication_namespace.pnnspid", "pg_catalog.pg_publication_namespace.pnpubid", "pg_catalog.pg_publication_rel.prattrs", "pg_catalog.pg_publication_rel.prpubid", "pg_catalog.pg_publication_rel.prrelid"]}, "functions": ["pg_catalog.array_upper", "pg_catalog.generate_series", "pg_catalog.pg_get_expr", "pg_catalog.pg_relation_is_publishable", "pg_catalog.string_agg"], "function_info": {"pg_catalog.array_upper": {"known": true, "volatility": "immutable", "security_definer": false, "languages": ["internal"], "builtin": true, "kinds": ["function"]}, "pg_catalog.generate_series": {"known": true, "volatility": "stable", "security_definer": false, "languages": ["internal"], "builtin": true, "kinds": ["function"]}, "pg_catalog.pg_get_expr": {"known": true, "volatility": "stable", "security_definer": false, "languages": ["internal"], "builtin": true, "kinds": ["function"]}, "pg_catalog.pg_relation_is_publishable": {"known": true, "volatility": "stable", "security_definer": false, "languages": ["internal"], "builtin": true, "kinds": ["function"]}, "pg_catalog.string_agg": {"known": true, "volatility": "immutable", "security_definer": false, "languages": ["internal"], "builtin": true, "kinds": ["aggregate"]}}, "settings": [], "flags": {"has_where": false, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "a4099cdc6a729c1f"},
	# psql \d customers (query 10 of 12)
	# SELECT t.tgname, pg_catalog.pg_get_triggerdef(t.oid, true), t.tgenabled, t.tgisinternal,
	#   CASE WHEN t.tgparentid != 0 THEN
	#     (SELECT u.tgrelid::pg_catalog.regclass
	#      FROM pg_catalog.pg_trigger AS u,
	#           pg_catalog.pg_partition_ancestors(t.tgrelid) WITH ORDINALITY AS a(relid, depth)
	#      WHERE u.tgname = t.tgname AND u.tgrelid = a.relid
	#            AND u.tgparentid = 0
	#      ORDER BY a.depth LIMIT 1)
	#   END AS parent
	# FROM pg_catalog.pg_trigger t
	# WHERE t.tgrelid = '16385' AND (NOT t.tgisinternal OR (t.tgisinternal AND t.tgenabled = 'D'))
	# ORDER BY 1;
	"psql_d_customers_10": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [{"schema": "pg_catalog", "name": "pg_trigger", "access": ["read"], "kind": "table"}], "columns": {"read": ["pg_catalog.pg_trigger.oid", "pg_catalog.pg_trigger.tgenabled", "pg_catalog.pg_trigger.tgisinternal", "pg_catalog.pg_trigger.tgname", "pg_catalog.pg_trigger.tgparentid", "pg_catalog.pg_trigger.tgrelid"], "written": [], "filtered": ["pg_catalog.pg_trigger.tgenabled", "pg_catalog.pg_trigger.tgisinternal", "pg_catalog.pg_trigger.tgname", "pg_catalog.pg_trigger.tgparentid", "pg_catalog.pg_trigger.tgrelid"]}, "functions": ["pg_catalog.pg_get_triggerdef", "pg_catalog.pg_partition_ancestors"], "function_info": {"pg_catalog.pg_get_triggerdef": {"known": true, "volatility": "stable", "security_definer": false, "languages": ["internal"], "builtin": true, "kinds": ["function"]}, "pg_catalog.pg_partition_ancestors": {"known": true, "volatility": "volatile", "security_definer": false, "languages": ["internal"], "builtin": true, "kinds": ["function"]}}, "settings": [], "flags": {"has_where": true, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "dde32a91503cc967"},
	# psql \d customers (query 11 of 12)
	# SELECT c.oid::pg_catalog.regclass
	# FROM pg_catalog.pg_class c, pg_catalog.pg_inherits i
	# WHERE c.oid = i.inhparent AND i.inhrelid = '16385'
	#   AND c.relkind != 'p' AND c.relkind != 'I'
	# ORDER BY inhseqno;
	"psql_d_customers_11": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [{"schema": "pg_catalog", "name": "pg_class", "access": ["read"], "kind": "table"}, {"schema": "pg_catalog", "name": "pg_inherits", "access": ["read"], "kind": "table"}], "columns": {"read": ["pg_catalog.pg_class.oid"], "written": [], "filtered": ["pg_catalog.pg_class.oid", "pg_catalog.pg_class.relkind", "pg_catalog.pg_inherits.inhparent", "pg_catalog.pg_inherits.inhrelid", "pg_catalog.pg_inherits.inhseqno"]}, "functions": [], "function_info": {}, "settings": [], "flags": {"has_where": true, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "7d5fe2d783f2b75e"},
	# psql \d customers (query 12 of 12)
	# SELECT c.oid::pg_catalog.regclass, c.relkind, inhdetachpending, pg_catalog.pg_get_expr(c.relpartbound, c.oid)
	# FROM pg_catalog.pg_class c, pg_catalog.pg_inherits i
	# WHERE c.oid = i.inhrelid AND i.inhparent = '16385'
	# ORDER BY pg_catalog.pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT', c.oid::pg_catalog.regclass::pg_catalog.text;
	"psql_d_customers_12": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [{"schema": "pg_catalog", "name": "pg_class", "access": ["read"], "kind": "table"}, {"schema": "pg_catalog", "name": "pg_inherits", "access": ["read"], "kind": "table"}], "columns": {"read": ["pg_catalog.pg_class.oid", "pg_catalog.pg_class.relkind", "pg_catalog.pg_class.relpartbound", "pg_catalog.pg_inherits.inhdetachpending"], "written": [], "filtered": ["pg_catalog.pg_class.oid", "pg_catalog.pg_class.relpartbound", "pg_catalog.pg_inherits.inhparent", "pg_catalog.pg_inherits.inhrelid"]}, "functions": ["pg_catalog.pg_get_expr"], "function_info": {"pg_catalog.pg_get_expr": {"known": true, "volatility": "stable", "security_definer": false, "languages": ["internal"], "builtin": true, "kinds": ["function"]}}, "settings": [], "flags": {"has_where": true, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "e358eaa12c60d1fa"},
	# psql \df (query 1 of 1)
	# SELECT n.nspname as "Schema",
	#   p.proname as "Name",
	#   pg_catalog.pg_get_function_result(p.oid) as "Result data type",
	#   pg_catalog.pg_get_function_arguments(p.oid) as "Argument data types",
	#  CASE p.prokind
	#   WHEN 'a' THEN 'agg'
	#   WHEN 'w' THEN 'window'
	#   WHEN 'p' THEN 'proc'
	#   ELSE 'func'
	#  END as "Type"
	# FROM pg_catalog.pg_proc p
	#      LEFT JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
	# WHERE pg_catalog.pg_function_is_visible(p.oid)
	#       AND n.nspname <> 'pg_catalog'
	#       AND n.nspname <> 'information_schema'
	# ORDER BY 1, 2, 4;
	"psql_df": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [{"schema": "pg_catalog", "name": "pg_namespace", "access": ["read"], "kind": "table"}, {"schema": "pg_catalog", "name": "pg_proc", "access": ["read"], "kind": "table"}], "columns": {"read": ["pg_catalog.pg_namespace.nspname", "pg_catalog.pg_proc.oid", "pg_catalog.pg_proc.prokind", "pg_catalog.pg_proc.proname"], "written": [], "filtered": ["pg_catalog.pg_namespace.nspname", "pg_catalog.pg_namespace.oid", "pg_catalog.pg_proc.oid", "pg_catalog.pg_proc.proname", "pg_catalog.pg_proc.pronamespace"]}, "functions": ["pg_catalog.pg_function_is_visible", "pg_catalog.pg_get_function_arguments", "pg_catalog.pg_get_function_result"], "function_info": {"pg_catalog.pg_function_is_visible": {"known": true, "volatility": "stable", "security_definer": false, "languages": ["internal"], "builtin": true, "kinds": ["function"]}, "pg_catalog.pg_get_function_arguments": {"known": true, "volatility": "stable", "security_definer": false, "languages": ["internal"], "builtin": true, "kinds": ["function"]}, "pg_catalog.pg_get_function_result": {"known": true, "volatility": "stable", "security_definer": false, "languages": ["internal"], "builtin": true, "kinds": ["function"]}}, "settings": [], "flags": {"has_where": true, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "3ca9c9d4ae80ac8a"},
	# psql \dn (query 1 of 1)
	# SELECT n.nspname AS "Name",
	#   pg_catalog.pg_get_userbyid(n.nspowner) AS "Owner"
	# FROM pg_catalog.pg_namespace n
	# WHERE n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
	# ORDER BY 1;
	"psql_dn": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [{"schema": "pg_catalog", "name": "pg_namespace", "access": ["read"], "kind": "table"}], "columns": {"read": ["pg_catalog.pg_namespace.nspname", "pg_catalog.pg_namespace.nspowner"], "written": [], "filtered": ["pg_catalog.pg_namespace.nspname"]}, "functions": ["pg_catalog.pg_get_userbyid"], "function_info": {"pg_catalog.pg_get_userbyid": {"known": true, "volatility": "stable", "security_definer": false, "languages": ["internal"], "builtin": true, "kinds": ["function"]}}, "settings": [], "flags": {"has_where": true, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "52cd9acab6de2800"},
	# psql \l (query 1 of 1)
	# SELECT d.datname as "Name",
	#        pg_catalog.pg_get_userbyid(d.datdba) as "Owner",
	#        pg_catalog.pg_encoding_to_char(d.encoding) as "Encoding",
	#        d.datcollate as "Collate",
	#        d.datctype as "Ctype",
	#        d.daticulocale as "ICU Locale",
	#        CASE d.datlocprovider WHEN 'c' THEN 'libc' WHEN 'i' THEN 'icu' END AS "Locale Provider",
	#        pg_catalog.array_to_string(d.datacl, E'\n') AS "Access privileges"
	# FROM pg_catalog.pg_database d
	# ORDER BY 1;
	"psql_l": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [{"schema": "pg_catalog", "name": "pg_database", "access": ["read"], "kind": "table"}], "columns": {"read": ["pg_catalog.pg_database.datacl", "pg_catalog.pg_database.datcollate", "pg_catalog.pg_database.datctype", "pg_catalog.pg_database.datdba", "pg_catalog.pg_database.daticulocale", "pg_catalog.pg_database.datlocprovider", "pg_catalog.pg_database.datname", "pg_catalog.pg_database.encoding"], "written": [], "filtered": ["pg_catalog.pg_database.datname"]}, "functions": ["pg_catalog.array_to_string", "pg_catalog.pg_encoding_to_char", "pg_catalog.pg_get_userbyid"], "function_info": {"pg_catalog.array_to_string": {"known": true, "volatility": "stable", "security_definer": false, "languages": ["internal"], "builtin": true, "kinds": ["function"]}, "pg_catalog.pg_encoding_to_char": {"known": true, "volatility": "stable", "security_definer": false, "languages": ["internal"], "builtin": true, "kinds": ["function"]}, "pg_catalog.pg_get_userbyid": {"known": true, "volatility": "stable", "security_definer": false, "languages": ["internal"], "builtin": true, "kinds": ["function"]}}, "settings": [], "flags": {"has_where": false, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "0cea7f7581f7f61d"},
	# psql \dt+ (query 1 of 1)
	# SELECT n.nspname as "Schema",
	#   c.relname as "Name",
	#   CASE c.relkind WHEN 'r' THEN 'table' WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' WHEN 'i' THEN 'index' WHEN 'S' THEN 'sequence' WHEN 't' THEN 'TOAST table' WHEN 'f' THEN 'foreign table' WHEN 'p' THEN 'partitioned table' WHEN 'I' THEN 'partitioned index' END as "Type",
	#   pg_catalog.pg_get_userbyid(c.relowner) as "Owner",
	#   CASE c.relpersistence WHEN 'p' THEN 'permanent' WHEN 't' THEN 'temporary' WHEN 'u' THEN 'unlogged' END as "Persistence",
	#   am.amname as "Access method",
	#   pg_catalog.pg_size_pretty(pg_catalog.pg_table_size(c.oid)) as "Size",
	#   pg_catalog.obj_description(c.oid, 'pg_class') as "Description"
	# FROM pg_catalog.pg_class c
	#      LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
	#      LEFT JOIN pg_catalog.pg_am am ON am.oid = c.relam
	# WHERE c.relkind IN ('r','p','')
	#       AND n.nspname <> 'pg_catalog'
	#       AND n.nspname !~ '^pg_toast'
	#       AND n.nspname <> 'information_schema'
	#   AND pg_catalog.pg_table_is_visible(c.oid)
	# ORDER BY 1,2;
	"psql_dt_plus": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [{"schema": "pg_catalog", "name": "pg_am", "access": ["read"], "kind": "table"}, {"schema": "pg_catalog", "name": "pg_class", "access": ["read"], "kind": "table"}, {"schema": "pg_catalog", "name": "pg_namespace", "access": ["read"], "kind": "table"}], "columns": {"read": ["pg_catalog.pg_am.amname", "pg_catalog.pg_class.oid", "pg_catalog.pg_class.relkind", "pg_catalog.pg_class.relname", "pg_catalog.pg_class.relowner", "pg_catalog.pg_class.relpersistence", "pg_catalog.pg_namespace.nspname"], "written": [], "filtered": ["pg_catalog.pg_am.oid", "pg_catalog.pg_class.oid", "pg_catalog.pg_class.relam", "pg_catalog.pg_class.relkind", "pg_catalog.pg_class.relname", "pg_catalog.pg_class.relnamespace", "pg_catalog.pg_namespace.nspname", "pg_catalog.pg_namespace.oid"]}, "functions": ["pg_catalog.obj_description", "pg_catalog.pg_get_userbyid", "pg_catalog.pg_size_pretty", "pg_catalog.pg_table_is_visible", "pg_catalog.pg_table_size"], "function_info": {"pg_catalog.obj_description": {"known": true, "volatility": "stable", "security_definer": false, "languages": ["sql"], "builtin": true, "kinds": ["function"]}, "pg_catalog.pg_get_userbyid": {"known": true, "volatility": "stable", "security_definer": false, "languages": ["internal"], "builtin": true, "kinds": ["function"]}, "pg_catalog.pg_size_pretty": {"known": true, "volatility": "immutable", "security_definer": false, "languages": ["internal"], "builtin": true, "kinds": ["function"]}, "pg_catalog.pg_table_is_visible": {"known": true, "volatility": "stable", "security_definer": false, "languages": ["internal"], "builtin": true, "kinds": ["function"]}, "pg_catalog.pg_table_size": {"known": true, "volatility": "volatile", "security_definer": false, "languages": ["internal"], "builtin": true, "kinds": ["function"]}}, "settings": [], "flags": {"has_where": true, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "c202a230673376e9"},
	# psql \l+ (query 1 of 1)
	# SELECT d.datname as "Name",
	#        pg_catalog.pg_get_userbyid(d.datdba) as "Owner",
	#        pg_catalog.pg_encoding_to_char(d.encoding) as "Encoding",
	#        d.datcollate as "Collate",
	#        d.datctype as "Ctype",
	#        d.daticulocale as "ICU Locale",
	#        CASE d.datlocprovider WHEN 'c' THEN 'libc' WHEN 'i' THEN 'icu' END AS "Locale Provider",
	#        pg_catalog.array_to_string(d.datacl, E'\n') AS "Access privileges",
	#        CASE WHEN pg_catalog.has_database_privilege(d.datname, 'CONNECT')
	#             THEN pg_catalog.pg_size_pretty(pg_catalog.pg_database_size(d.datname))
	#             ELSE 'No Access'
	#        END as "Size",
	#        t.spcname as "Tablespace",
	#        pg_catalog.shobj_description(d.oid, 'pg_database') as "Description"
	# FROM pg_catalog.pg_database d
	#   JOIN pg_catalog.pg_tablespace t on d.dattablespace = t.oid
	# ORDER BY 1;
	"psql_l_plus": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [{"schema": "pg_catalog", "name": "pg_database", "access": ["read"], "kind": "table"}, {"schema": "pg_catalog", "name": "pg_tablespace", "access": ["read"], "kind": "table"}], "columns": {"read": ["pg_catalog.pg_database.datacl", "pg_catalog.pg_database.datcollate", "pg_catalog.pg_database.datctype", "pg_catalog.pg_database.datdba", "pg_catalog.pg_database.daticulocale", "pg_catalog.pg_database.datlocprovider", "pg_catalog.pg_database.datname", "pg_catalog.pg_database.encoding", "pg_catalog.pg_database.oid", "pg_catalog.pg_tablespace.spcname"], "written": [], "filtered": ["pg_catalog.pg_database.datname", "pg_catalog.pg_database.dattablespace", "pg_catalog.pg_tablespace.oid"]}, "functions": ["pg_catalog.array_to_string", "pg_catalog.has_database_privilege", "pg_catalog.pg_database_size", "pg_catalog.pg_encoding_to_char", "pg_catalog.pg_get_userbyid", "pg_catalog.pg_size_pretty", "pg_catalog.shobj_description"], "function_info": {"pg_catalog.array_to_string": {"known": true, "volatility": "stable", "security_definer": false, "languages": ["internal"], "builtin": true, "kinds": ["function"]}, "pg_catalog.has_database_privilege": {"known": true, "volatility": "stable", "security_definer": false, "languages": ["internal"], "builtin": true, "kinds": ["function"]}, "pg_catalog.pg_database_size": {"known": true, "volatility": "volatile", "security_definer": false, "languages": ["internal"], "builtin": true, "kinds": ["function"]}, "pg_catalog.pg_encoding_to_char": {"known": true, "volatility": "stable", "security_definer": false, "languages": ["internal"], "builtin": true, "kinds": ["function"]}, "pg_catalog.pg_get_userbyid": {"known": true, "volatility": "stable", "security_definer": false, "languages": ["internal"], "builtin": true, "kinds": ["function"]}, "pg_catalog.pg_size_pretty": {"known": true, "volatility": "immutable", "security_definer": false, "languages": ["internal"], "builtin": true, "kinds": ["function"]}, "pg_catalog.shobj_description": {"known": true, "volatility": "stable", "security_definer": false, "languages": ["sql"], "builtin": true, "kinds": ["function"]}}, "settings": [], "flags": {"has_where": false, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "3c0a929420e00275"},
	# psql \du (query 1 of 1)
	# SELECT r.rolname, r.rolsuper, r.rolinherit,
	#   r.rolcreaterole, r.rolcreatedb, r.rolcanlogin,
	#   r.rolconnlimit, r.rolvaliduntil,
	#   ARRAY(SELECT b.rolname
	#         FROM pg_catalog.pg_auth_members m
	#         JOIN pg_catalog.pg_roles b ON (m.roleid = b.oid)
	#         WHERE m.member = r.oid) as memberof
	# , r.rolreplication
	# , r.rolbypassrls
	# FROM pg_catalog.pg_roles r
	# WHERE r.rolname !~ '^pg_'
	# ORDER BY 1;
	"psql_du": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [{"schema": "pg_catalog", "name": "pg_auth_members", "access": ["read"], "kind": "table"}, {"schema": "pg_catalog", "name": "pg_roles", "access": ["read"], "kind": "view"}], "columns": {"read": ["pg_catalog.pg_roles.rolbypassrls", "pg_catalog.pg_roles.rolcanlogin", "pg_catalog.pg_roles.rolconnlimit", "pg_catalog.pg_roles.rolcreatedb", "pg_catalog.pg_roles.rolcreaterole", "pg_catalog.pg_roles.rolinherit", "pg_catalog.pg_roles.rolname", "pg_catalog.pg_roles.rolreplication", "pg_catalog.pg_roles.rolsuper", "pg_catalog.pg_roles.rolvaliduntil"], "written": [], "filtered": ["pg_catalog.pg_auth_members.member", "pg_catalog.pg_auth_members.roleid", "pg_catalog.pg_roles.oid", "pg_catalog.pg_roles.rolname"]}, "functions": [], "function_info": {}, "settings": [], "flags": {"has_where": true, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "938936a738bda3a8"},
	# SELECT attname, most_common_vals FROM pg_stats WHERE tablename = 'customers'
	"pg_stats": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [{"schema": "pg_catalog", "name": "pg_stats", "access": ["read"], "kind": "view"}], "columns": {"read": ["pg_catalog.pg_stats.attname", "pg_catalog.pg_stats.most_common_vals"], "written": [], "filtered": ["pg_catalog.pg_stats.tablename"]}, "functions": [], "function_info": {}, "settings": [], "flags": {"has_where": true, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "0f900081923246ef"},
	# SELECT * FROM pg_catalog.pg_stats
	"pg_stats_qualified": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [{"schema": "pg_catalog", "name": "pg_stats", "access": ["read"], "kind": "view"}], "columns": {"read": ["pg_catalog.pg_stats.attname", "pg_catalog.pg_stats.avg_width", "pg_catalog.pg_stats.correlation", "pg_catalog.pg_stats.elem_count_histogram", "pg_catalog.pg_stats.histogram_bounds", "pg_catalog.pg_stats.inherited", "pg_catalog.pg_stats.most_common_elem_freqs", "pg_catalog.pg_stats.most_common_elems", "pg_catalog.pg_stats.most_common_freqs", "pg_catalog.pg_stats.most_common_vals", "pg_catalog.pg_stats.n_distinct", "pg_catalog.pg_stats.null_frac", "pg_catalog.pg_stats.schemaname", "pg_catalog.pg_stats.tablename"], "written": [], "filtered": []}, "functions": [], "function_info": {}, "settings": [], "flags": {"has_where": false, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "63d5ecf40705e9cf"},
	# SELECT * FROM column_stats
	"pg_stats_through_view": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [{"schema": "pg_catalog", "name": "pg_stats", "access": ["read"], "kind": "view"}, {"schema": "public", "name": "column_stats", "access": ["read"], "kind": "view"}], "columns": {"read": ["pg_catalog.pg_stats.attname", "pg_catalog.pg_stats.most_common_vals", "pg_catalog.pg_stats.tablename", "public.column_stats.attname", "public.column_stats.tablename", "public.column_stats.vals"], "written": [], "filtered": []}, "functions": [], "function_info": {}, "settings": [], "flags": {"has_where": false, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "16f517c82da85ce9"},
	# SELECT * FROM pg_statistic
	"pg_statistic": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [{"schema": "pg_catalog", "name": "pg_statistic", "access": ["read"], "kind": "table"}], "columns": {"read": ["pg_catalog.pg_statistic.staattnum", "pg_catalog.pg_statistic.stacoll1", "pg_catalog.pg_statistic.stacoll2", "pg_catalog.pg_statistic.stacoll3", "pg_catalog.pg_statistic.stacoll4", "pg_catalog.pg_statistic.stacoll5", "pg_catalog.pg_statistic.stadistinct", "pg_catalog.pg_statistic.stainherit", "pg_catalog.pg_statistic.stakind1", "pg_catalog.pg_statistic.stakind2", "pg_catalog.pg_statistic.stakind3", "pg_catalog.pg_statistic.stakind4", "pg_catalog.pg_statistic.stakind5", "pg_catalog.pg_statistic.stanullfrac", "pg_catalog.pg_statistic.stanumbers1", "pg_catalog.pg_statistic.stanumbers2", "pg_catalog.pg_statistic.stanumbers3", "pg_catalog.pg_statistic.stanumbers4", "pg_catalog.pg_statistic.stanumbers5", "pg_catalog.pg_statistic.staop1", "pg_catalog.pg_statistic.staop2", "pg_catalog.pg_statistic.staop3", "pg_catalog.pg_statistic.staop4", "pg_catalog.pg_statistic.staop5", "pg_catalog.pg_statistic.starelid", "pg_catalog.pg_statistic.stavalues1", "pg_catalog.pg_statistic.stavalues2", "pg_catalog.pg_statistic.stavalues3", "pg_catalog.pg_statistic.stavalues4", "pg_catalog.pg_statistic.stavalues5", "pg_catalog.pg_statistic.stawidth"], "written": [], "filtered": []}, "functions": [], "function_info": {}, "settings": [], "flags": {"has_where": false, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "077053c5f9a67220"},
	# SELECT most_common_vals FROM pg_stats_ext
	"pg_stats_ext": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [{"schema": "pg_catalog", "name": "pg_stats_ext", "access": ["read"], "kind": "view"}], "columns": {"read": ["pg_catalog.pg_stats_ext.most_common_vals"], "written": [], "filtered": []}, "functions": [], "function_info": {}, "settings": [], "flags": {"has_where": false, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "6c2cb7f3eabc35c1"},
	# SELECT pid, query FROM pg_stat_activity
	"pg_stat_activity": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [{"schema": "pg_catalog", "name": "pg_stat_activity", "access": ["read"], "kind": "view"}], "columns": {"read": ["pg_catalog.pg_stat_activity.pid", "pg_catalog.pg_stat_activity.query"], "written": [], "filtered": []}, "functions": [], "function_info": {}, "settings": [], "flags": {"has_where": false, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "8272c37699d2a178"},
	# SELECT * FROM pg_stat_get_activity(NULL)
	"pg_stat_get_activity": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [], "columns": {"read": [], "written": [], "filtered": []}, "functions": ["pg_catalog.pg_stat_get_activity"], "function_info": {"pg_catalog.pg_stat_get_activity": {"known": true, "volatility": "stable", "security_definer": false, "languages": ["internal"], "builtin": true, "kinds": ["function"]}}, "settings": [], "flags": {"has_where": false, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "4bc5bb1fbbb6a217"},
	# SELECT pg_stat_get_backend_activity(1)
	"pg_stat_get_backend_activity": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [], "columns": {"read": [], "written": [], "filtered": []}, "functions": ["pg_catalog.pg_stat_get_backend_activity"], "function_info": {"pg_catalog.pg_stat_get_backend_activity": {"known": true, "volatility": "stable", "security_definer": false, "languages": ["internal"], "builtin": true, "kinds": ["function"]}}, "settings": [], "flags": {"has_where": false, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "50eef3fbeb9b8a32"},
	# SELECT query FROM pg_stat_statements
	"pg_stat_statements": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [{"schema": "public", "name": "pg_stat_statements", "access": ["read"], "kind": "view"}], "columns": {"read": ["public.pg_stat_statements.query"], "written": [], "filtered": []}, "functions": [], "function_info": {}, "settings": [], "flags": {"has_where": false, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "71d7309c035fb840"},
	# SELECT * FROM public.pg_stat_statements(true)
	"pg_stat_statements_function": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [], "columns": {"read": [], "written": [], "filtered": []}, "functions": ["public.pg_stat_statements"], "function_info": {"public.pg_stat_statements": {"known": true, "volatility": "volatile", "security_definer": false, "languages": ["c"], "builtin": false, "kinds": ["function"]}}, "settings": [], "flags": {"has_where": false, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "6abc55c22bce0e31"},
	# SELECT rolname, rolpassword FROM pg_authid
	"pg_authid": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [{"schema": "pg_catalog", "name": "pg_authid", "access": ["read"], "kind": "table"}], "columns": {"read": ["pg_catalog.pg_authid.rolname", "pg_catalog.pg_authid.rolpassword"], "written": [], "filtered": []}, "functions": [], "function_info": {}, "settings": [], "flags": {"has_where": false, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "122cd962f03e6e92"},
	# SELECT passwd FROM pg_shadow
	"pg_shadow": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [{"schema": "pg_catalog", "name": "pg_shadow", "access": ["read"], "kind": "view"}], "columns": {"read": ["pg_catalog.pg_shadow.passwd"], "written": [], "filtered": []}, "functions": [], "function_info": {}, "settings": [], "flags": {"has_where": false, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "ad79ab89fa298398"},
	# SELECT statement FROM pg_prepared_statements
	"pg_prepared_statements": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [{"schema": "pg_catalog", "name": "pg_prepared_statements", "access": ["read"], "kind": "view"}], "columns": {"read": ["pg_catalog.pg_prepared_statements.statement"], "written": [], "filtered": []}, "functions": [], "function_info": {}, "settings": [], "flags": {"has_where": false, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "5cdbc5d8f194ff9a"},
	# SELECT data FROM pg_largeobject
	"pg_largeobject": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [{"schema": "pg_catalog", "name": "pg_largeobject", "access": ["read"], "kind": "table"}], "columns": {"read": ["pg_catalog.pg_largeobject.data"], "written": [], "filtered": []}, "functions": [], "function_info": {}, "settings": [], "flags": {"has_where": false, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "6726b32385c33ed8"},
	# SELECT lo_get(16400)
	"lo_get": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [], "columns": {"read": [], "written": [], "filtered": []}, "functions": ["pg_catalog.lo_get"], "function_info": {"pg_catalog.lo_get": {"known": true, "volatility": "volatile", "security_definer": false, "languages": ["internal"], "builtin": true, "kinds": ["function"]}}, "settings": [], "flags": {"has_where": false, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "b24a3142fd982c99"},
	# SELECT * FROM pg_logical_slot_peek_changes('s', NULL, NULL)
	"pg_logical_slot_peek_changes": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [], "columns": {"read": [], "written": [], "filtered": []}, "functions": ["pg_catalog.pg_logical_slot_peek_changes"], "function_info": {"pg_catalog.pg_logical_slot_peek_changes": {"known": true, "volatility": "volatile", "security_definer": false, "languages": ["internal"], "builtin": true, "kinds": ["function"]}}, "settings": [], "flags": {"has_where": false, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "e78620875c8b28a9"},
	# SELECT * FROM information_schema.user_mapping_options
	"user_mapping_options": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [{"schema": "information_schema", "name": "_pg_foreign_servers", "access": ["read"], "kind": "view"}, {"schema": "information_schema", "name": "_pg_user_mappings", "access": ["read"], "kind": "view"}, {"schema": "information_schema", "name": "user_mapping_options", "access": ["read"], "kind": "view"}], "columns": {"read": ["information_schema._pg_foreign_servers.*", "information_schema._pg_user_mappings.*", "information_schema.user_mapping_options.authorization_identifier", "information_schema.user_mapping_options.foreign_server_catalog", "information_schema.user_mapping_options.foreign_server_name", "information_schema.user_mapping_options.option_name", "information_schema.user_mapping_options.option_value"], "written": [], "filtered": []}, "functions": [], "function_info": {}, "settings": [], "flags": {"has_where": false, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "a764628214130a83"},
	# WITH pg_stats AS (SELECT 1 AS a) SELECT a FROM pg_stats
	"cte_named_pg_stats": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [], "columns": {"read": [], "written": [], "filtered": []}, "functions": [], "function_info": {}, "settings": [], "flags": {"has_where": false, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "f6629c1aa421218f"},
	# SELECT * FROM "PG_STATS"
	"quoted_upper_pg_stats": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [{"schema": "public", "name": "PG_STATS", "access": ["read"], "kind": "unknown"}], "columns": {"read": ["public.PG_STATS.*"], "written": [], "filtered": []}, "functions": [], "function_info": {}, "settings": [], "flags": {"has_where": false, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "0db57f715af7efc1"},
	# SELECT stxname FROM pg_statistic_ext
	"pg_statistic_ext": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [{"schema": "pg_catalog", "name": "pg_statistic_ext", "access": ["read"], "kind": "table"}], "columns": {"read": ["pg_catalog.pg_statistic_ext.stxname"], "written": [], "filtered": []}, "functions": [], "function_info": {}, "settings": [], "flags": {"has_where": false, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "92fac57ab6f4bc9a"},
	# SELECT name, setting FROM pg_settings
	"pg_settings": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [{"schema": "pg_catalog", "name": "pg_settings", "access": ["read"], "kind": "view"}], "columns": {"read": ["pg_catalog.pg_settings.name", "pg_catalog.pg_settings.setting"], "written": [], "filtered": []}, "functions": [], "function_info": {}, "settings": [], "flags": {"has_where": false, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "faae3155fec032c5"},
	# SELECT * FROM pg_stat_user_functions
	"pg_stat_user_functions": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [{"schema": "pg_catalog", "name": "pg_stat_user_functions", "access": ["read"], "kind": "view"}], "columns": {"read": ["pg_catalog.pg_stat_user_functions.calls", "pg_catalog.pg_stat_user_functions.funcid", "pg_catalog.pg_stat_user_functions.funcname", "pg_catalog.pg_stat_user_functions.schemaname", "pg_catalog.pg_stat_user_functions.self_time", "pg_catalog.pg_stat_user_functions.total_time"], "written": [], "filtered": []}, "functions": [], "function_info": {}, "settings": [], "flags": {"has_where": false, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "14c7bf94fa60086a"},
	# SELECT relname, n_live_tup FROM pg_stat_user_tables
	"pg_stat_user_tables": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [{"schema": "pg_catalog", "name": "pg_stat_all_tables", "access": ["read"], "kind": "view"}, {"schema": "pg_catalog", "name": "pg_stat_user_tables", "access": ["read"], "kind": "view"}], "columns": {"read": ["pg_catalog.pg_stat_all_tables.*", "pg_catalog.pg_stat_user_tables.n_live_tup", "pg_catalog.pg_stat_user_tables.relname"], "written": [], "filtered": []}, "functions": [], "function_info": {}, "settings": [], "flags": {"has_where": false, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "4a447e167ccc7a5b"},
	# SELECT pg_notify('ch', 'x')
	"pg_notify": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [], "columns": {"read": [], "written": [], "filtered": []}, "functions": ["pg_catalog.pg_notify"], "function_info": {"pg_catalog.pg_notify": {"known": true, "volatility": "volatile", "security_definer": false, "languages": ["internal"], "builtin": true, "kinds": ["function"]}}, "settings": [], "flags": {"has_where": false, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "e1139a7d40f56e8b"},
	# SELECT pg_catalog.pg_notify('ch', 'x')
	"pg_notify_qualified": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [], "columns": {"read": [], "written": [], "filtered": []}, "functions": ["pg_catalog.pg_notify"], "function_info": {"pg_catalog.pg_notify": {"known": true, "volatility": "volatile", "security_definer": false, "languages": ["internal"], "builtin": true, "kinds": ["function"]}}, "settings": [], "flags": {"has_where": false, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "17d0716ce9df38f0"},
	# SELECT PG_NOTIFY('ch', 'x')
	"pg_notify_upper": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [], "columns": {"read": [], "written": [], "filtered": []}, "functions": ["pg_catalog.pg_notify"], "function_info": {"pg_catalog.pg_notify": {"known": true, "volatility": "volatile", "security_definer": false, "languages": ["internal"], "builtin": true, "kinds": ["function"]}}, "settings": [], "flags": {"has_where": false, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "e1139a7d40f56e8b"},
	# SELECT "PG_NOTIFY"('ch', 'x')
	"pg_notify_quoted_upper": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [], "columns": {"read": [], "written": [], "filtered": []}, "functions": ["public.PG_NOTIFY"], "function_info": {"public.PG_NOTIFY": {"known": false, "volatility": "volatile", "security_definer": true, "languages": ["unknown"], "builtin": false, "kinds": ["unknown"]}}, "settings": [], "flags": {"has_where": false, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "585369cd8ce71fbe"},
	# SELECT "x.y".pg_notify('ch', 'x')
	"pg_notify_dotted_schema": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [], "columns": {"read": [], "written": [], "filtered": []}, "functions": ["\"x.y\".pg_notify"], "function_info": {"\"x.y\".pg_notify": {"known": false, "volatility": "volatile", "security_definer": true, "languages": ["unknown"], "builtin": false, "kinds": ["unknown"]}}, "settings": [], "flags": {"has_where": false, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "dca219ea55203802"},
	# SELECT public."x.pg_notify"('ch', 'x')
	"pg_notify_dotted_name": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [], "columns": {"read": [], "written": [], "filtered": []}, "functions": ["public.\"x.pg_notify\""], "function_info": {"public.\"x.pg_notify\"": {"known": false, "volatility": "volatile", "security_definer": true, "languages": ["unknown"], "builtin": false, "kinds": ["unknown"]}}, "settings": [], "flags": {"has_where": false, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "5d45bf50ed44af70"},
	# SELECT pg_advisory_lock(1)
	"pg_advisory_lock": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [], "columns": {"read": [], "written": [], "filtered": []}, "functions": ["pg_catalog.pg_advisory_lock"], "function_info": {"pg_catalog.pg_advisory_lock": {"known": true, "volatility": "volatile", "security_definer": false, "languages": ["internal"], "builtin": true, "kinds": ["function"]}}, "settings": [], "flags": {"has_where": false, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "8fdef1ef96fa697f"},
	# SELECT pg_try_advisory_xact_lock(1)
	"pg_try_advisory_xact_lock": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [], "columns": {"read": [], "written": [], "filtered": []}, "functions": ["pg_catalog.pg_try_advisory_xact_lock"], "function_info": {"pg_catalog.pg_try_advisory_xact_lock": {"known": true, "volatility": "volatile", "security_definer": false, "languages": ["internal"], "builtin": true, "kinds": ["function"]}}, "settings": [], "flags": {"has_where": false, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "81fddf573258d48a"},
	# SELECT lo_open(16400, 262144)
	"lo_open": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [], "columns": {"read": [], "written": [], "filtered": []}, "functions": ["pg_catalog.lo_open"], "function_info": {"pg_catalog.lo_open": {"known": true, "volatility": "volatile", "security_definer": false, "languages": ["internal"], "builtin": true, "kinds": ["function"]}}, "settings": [], "flags": {"has_where": false, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "15ba6c9d673f3331"},
	# SELECT loread(0, 100)
	"loread": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [], "columns": {"read": [], "written": [], "filtered": []}, "functions": ["pg_catalog.loread"], "function_info": {"pg_catalog.loread": {"known": true, "volatility": "volatile", "security_definer": false, "languages": ["internal"], "builtin": true, "kinds": ["function"]}}, "settings": [], "flags": {"has_where": false, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "f30d7803d21955af"},
	# SELECT pg_stat_reset()
	"pg_stat_reset": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [], "columns": {"read": [], "written": [], "filtered": []}, "functions": ["pg_catalog.pg_stat_reset"], "function_info": {"pg_catalog.pg_stat_reset": {"known": true, "volatility": "volatile", "security_definer": false, "languages": ["internal"], "builtin": true, "kinds": ["function"]}}, "settings": [], "flags": {"has_where": false, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "0a55c04a41fe07f2"},
	# SELECT pg_stat_statements_reset()
	"pg_stat_statements_reset": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [], "columns": {"read": [], "written": [], "filtered": []}, "functions": ["public.pg_stat_statements_reset"], "function_info": {"public.pg_stat_statements_reset": {"known": true, "volatility": "volatile", "security_definer": false, "languages": ["c"], "builtin": false, "kinds": ["function"]}}, "settings": [], "flags": {"has_where": false, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "300ac36fac258016"},
	# SELECT set_config('work_mem', '1GB', false)
	"set_config_work_mem": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [], "columns": {"read": [], "written": [], "filtered": []}, "functions": ["pg_catalog.set_config"], "function_info": {"pg_catalog.set_config": {"known": true, "volatility": "volatile", "security_definer": false, "languages": ["internal"], "builtin": true, "kinds": ["function"]}}, "settings": ["work_mem"], "flags": {"has_where": false, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "39b91759afd4bb88"},
	# SELECT cursor_to_xml('c', 10, true, true, '')
	"cursor_to_xml": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [], "columns": {"read": [], "written": [], "filtered": []}, "functions": ["pg_catalog.cursor_to_xml"], "function_info": {"pg_catalog.cursor_to_xml": {"known": true, "volatility": "volatile", "security_definer": false, "languages": ["internal"], "builtin": true, "kinds": ["function"]}}, "settings": [], "flags": {"has_where": false, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "83b234bdf347ac32"},
	# SELECT database_to_xml(true, true, '')
	"database_to_xml": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [], "columns": {"read": [], "written": [], "filtered": []}, "functions": ["pg_catalog.database_to_xml"], "function_info": {"pg_catalog.database_to_xml": {"known": true, "volatility": "stable", "security_definer": false, "languages": ["internal"], "builtin": true, "kinds": ["function"]}}, "settings": [], "flags": {"has_where": false, "ddl": false, "opaque": true, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "9e9139c35cae08b2"},
	# SELECT pg_sleep(10)
	"pg_sleep": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [], "columns": {"read": [], "written": [], "filtered": []}, "functions": ["pg_catalog.pg_sleep"], "function_info": {"pg_catalog.pg_sleep": {"known": true, "volatility": "volatile", "security_definer": false, "languages": ["internal"], "builtin": true, "kinds": ["function"]}}, "settings": [], "flags": {"has_where": false, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "sleep_seconds": 10, "fingerprint": "07681e575f3d174e"},
	# SELECT random()
	"random": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [], "columns": {"read": [], "written": [], "filtered": []}, "functions": ["pg_catalog.random"], "function_info": {"pg_catalog.random": {"known": true, "volatility": "volatile", "security_definer": false, "languages": ["internal"], "builtin": true, "kinds": ["function"]}}, "settings": [], "flags": {"has_where": false, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "b7362472516f96e0"},
	# SELECT now()
	"now": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [], "columns": {"read": [], "written": [], "filtered": []}, "functions": ["pg_catalog.now"], "function_info": {"pg_catalog.now": {"known": true, "volatility": "stable", "security_definer": false, "languages": ["internal"], "builtin": true, "kinds": ["function"]}}, "settings": [], "flags": {"has_where": false, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "77d30c21e4d01ffb"},
	# SELECT lower(memo) FROM transactions WHERE id = 1
	"lower_memo": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [{"schema": "public", "name": "transactions", "access": ["read"], "kind": "table"}], "columns": {"read": ["public.transactions.memo"], "written": [], "filtered": ["public.transactions.id"]}, "functions": ["pg_catalog.lower"], "function_info": {"pg_catalog.lower": {"known": true, "volatility": "immutable", "security_definer": false, "languages": ["internal"], "builtin": true, "kinds": ["function"]}}, "settings": [], "flags": {"has_where": true, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "7e3455553cfa2d8a"},
	# SELECT lower('A', 1)
	"lower_overload": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [], "columns": {"read": [], "written": [], "filtered": []}, "functions": ["pg_catalog.lower"], "function_info": {"pg_catalog.lower": {"known": true, "volatility": "immutable", "security_definer": false, "languages": ["internal"], "builtin": true, "kinds": ["function"]}}, "settings": [], "flags": {"has_where": false, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "fa57d3c02e6760d6"},
	# SELECT public.masked_email(memo) FROM transactions WHERE id = 1
	"user_immutable_function": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [{"schema": "public", "name": "transactions", "access": ["read"], "kind": "table"}], "columns": {"read": ["public.transactions.memo"], "written": [], "filtered": ["public.transactions.id"]}, "functions": ["public.masked_email"], "function_info": {"public.masked_email": {"known": true, "volatility": "immutable", "security_definer": false, "languages": ["sql"], "builtin": false, "kinds": ["function"]}}, "settings": [], "flags": {"has_where": true, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "0568e3f332504e20"},
	# SELECT customer_count()
	"security_definer_function": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [], "columns": {"read": [], "written": [], "filtered": []}, "functions": ["public.customer_count"], "function_info": {"public.customer_count": {"known": true, "volatility": "stable", "security_definer": true, "languages": ["sql"], "builtin": false, "kinds": ["function"]}}, "settings": [], "flags": {"has_where": false, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "b6495df5b7adfe07"},
	# SELECT pg_temp.lower('A')
	"pg_temp_lower": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [], "columns": {"read": [], "written": [], "filtered": []}, "functions": ["pg_temp.lower"], "function_info": {"pg_temp.lower": {"known": false, "volatility": "volatile", "security_definer": true, "languages": ["unknown"], "builtin": false, "kinds": ["unknown"]}}, "settings": [], "flags": {"has_where": false, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "931b982a1ebd31be"},
	# SELECT no_such_function(1)
	"unknown_function": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [], "columns": {"read": [], "written": [], "filtered": []}, "functions": ["public.no_such_function"], "function_info": {"public.no_such_function": {"known": false, "volatility": "volatile", "security_definer": true, "languages": ["unknown"], "builtin": false, "kinds": ["unknown"]}}, "settings": [], "flags": {"has_where": false, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "91db871e025fb55c"},
	# SELECT dblink_connect('host=evil')
	"dblink_connect": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [], "columns": {"read": [], "written": [], "filtered": []}, "functions": ["public.dblink_connect"], "function_info": {"public.dblink_connect": {"known": true, "volatility": "volatile", "security_definer": false, "languages": ["c"], "builtin": false, "kinds": ["function"]}}, "settings": [], "flags": {"has_where": false, "ddl": false, "opaque": true, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "d655e61497785029"},
	# SELECT pg_table_size('customers')
	"pg_table_size": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [], "columns": {"read": [], "written": [], "filtered": []}, "functions": ["pg_catalog.pg_table_size"], "function_info": {"pg_catalog.pg_table_size": {"known": true, "volatility": "volatile", "security_definer": false, "languages": ["internal"], "builtin": true, "kinds": ["function"]}}, "settings": [], "flags": {"has_where": false, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "9abd9417bf2ff203"},
	# SELECT * FROM pg_partition_ancestors('customers')
	"pg_partition_ancestors": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [], "columns": {"read": [], "written": [], "filtered": []}, "functions": ["pg_catalog.pg_partition_ancestors"], "function_info": {"pg_catalog.pg_partition_ancestors": {"known": true, "volatility": "volatile", "security_definer": false, "languages": ["internal"], "builtin": true, "kinds": ["function"]}}, "settings": [], "flags": {"has_where": false, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "1230d296e94359c8"},
	# INSERT INTO nowhere VALUES (1)
	"insert_unknown_table": {"verb": "INSERT", "verbs": ["INSERT"], "tables": [{"schema": "public", "name": "nowhere", "access": ["write"], "kind": "unknown"}], "columns": {"read": [], "written": ["public.nowhere.*"], "filtered": []}, "functions": [], "function_info": {}, "settings": [], "flags": {"has_where": false, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "7b08ca5876629d43"},
	# COPY (SELECT query FROM pg_stat_activity) TO STDOUT
	"copy_pg_stat_activity": {"verb": "COPY", "verbs": ["COPY", "SELECT"], "tables": [{"schema": "pg_catalog", "name": "pg_stat_activity", "access": ["read"], "kind": "view"}], "columns": {"read": ["pg_catalog.pg_stat_activity.query"], "written": [], "filtered": []}, "functions": [], "function_info": {}, "settings": [], "flags": {"has_where": false, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "a58e6b4a476fec3c"},
	# DECLARE c CURSOR FOR SELECT * FROM pg_stats
	"declare_cursor_pg_stats": {"verb": "DECLARE CURSOR", "verbs": ["DECLARE CURSOR", "SELECT"], "tables": [{"schema": "pg_catalog", "name": "pg_stats", "access": ["read"], "kind": "view"}], "columns": {"read": ["pg_catalog.pg_stats.attname", "pg_catalog.pg_stats.avg_width", "pg_catalog.pg_stats.correlation", "pg_catalog.pg_stats.elem_count_histogram", "pg_catalog.pg_stats.histogram_bounds", "pg_catalog.pg_stats.inherited", "pg_catalog.pg_stats.most_common_elem_freqs", "pg_catalog.pg_stats.most_common_elems", "pg_catalog.pg_stats.most_common_freqs", "pg_catalog.pg_stats.most_common_vals", "pg_catalog.pg_stats.n_distinct", "pg_catalog.pg_stats.null_frac", "pg_catalog.pg_stats.schemaname", "pg_catalog.pg_stats.tablename"], "written": [], "filtered": []}, "functions": [], "function_info": {}, "settings": [], "flags": {"has_where": false, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "692df5dfb3fbfd76"},
	# EXPLAIN SELECT * FROM pg_stats
	"explain_pg_stats": {"verb": "EXPLAIN", "verbs": ["EXPLAIN", "SELECT"], "tables": [{"schema": "pg_catalog", "name": "pg_stats", "access": ["read"], "kind": "view"}], "columns": {"read": ["pg_catalog.pg_stats.attname", "pg_catalog.pg_stats.avg_width", "pg_catalog.pg_stats.correlation", "pg_catalog.pg_stats.elem_count_histogram", "pg_catalog.pg_stats.histogram_bounds", "pg_catalog.pg_stats.inherited", "pg_catalog.pg_stats.most_common_elem_freqs", "pg_catalog.pg_stats.most_common_elems", "pg_catalog.pg_stats.most_common_freqs", "pg_catalog.pg_stats.most_common_vals", "pg_catalog.pg_stats.n_distinct", "pg_catalog.pg_stats.null_frac", "pg_catalog.pg_stats.schemaname", "pg_catalog.pg_stats.tablename"], "written": [], "filtered": []}, "functions": [], "function_info": {}, "settings": [], "flags": {"has_where": false, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "735e8c0e7a666d64"},
	# WITH a AS (SELECT query FROM pg_stat_activity) SELECT * FROM a
	"cte_pg_stat_activity": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [{"schema": "pg_catalog", "name": "pg_stat_activity", "access": ["read"], "kind": "view"}], "columns": {"read": ["pg_catalog.pg_stat_activity.query"], "written": [], "filtered": []}, "functions": [], "function_info": {}, "settings": [], "flags": {"has_where": false, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "f414bf51d5ce9c97"},
	# PREPARE p AS SELECT pg_notify($1, $2)
	"prepare_pg_notify": {"verb": "PREPARE", "verbs": ["PREPARE", "SELECT"], "tables": [], "columns": {"read": [], "written": [], "filtered": []}, "functions": ["pg_catalog.pg_notify"], "function_info": {"pg_catalog.pg_notify": {"known": true, "volatility": "volatile", "security_definer": false, "languages": ["internal"], "builtin": true, "kinds": ["function"]}}, "settings": [], "flags": {"has_where": false, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "0ba1dc5763cd325e"},
	# SELECT id FROM transactions WHERE EXISTS (SELECT pg_notify('ch', 'x'))
	"subquery_pg_notify": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [{"schema": "public", "name": "transactions", "access": ["read"], "kind": "table"}], "columns": {"read": ["public.transactions.id"], "written": [], "filtered": []}, "functions": ["pg_catalog.pg_notify"], "function_info": {"pg_catalog.pg_notify": {"known": true, "volatility": "volatile", "security_definer": false, "languages": ["internal"], "builtin": true, "kinds": ["function"]}}, "settings": [], "flags": {"has_where": true, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "bf9f754af989087f"},
	# SELECT t.id FROM transactions t, LATERAL pg_sleep(1) s
	"lateral_pg_sleep": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [{"schema": "public", "name": "transactions", "access": ["read"], "kind": "table"}], "columns": {"read": ["public.transactions.id"], "written": [], "filtered": []}, "functions": ["pg_catalog.pg_sleep"], "function_info": {"pg_catalog.pg_sleep": {"known": true, "volatility": "volatile", "security_definer": false, "languages": ["internal"], "builtin": true, "kinds": ["function"]}}, "settings": [], "flags": {"has_where": false, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "sleep_seconds": 1, "fingerprint": "7ddc669062a9df0c"},
	# SELECT id FROM transactions WHERE id IN (SELECT id FROM nowhere)
	"unknown_table_in_subquery": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [{"schema": "public", "name": "nowhere", "access": ["read"], "kind": "unknown"}, {"schema": "public", "name": "transactions", "access": ["read"], "kind": "table"}], "columns": {"read": ["public.transactions.id"], "written": [], "filtered": ["public.nowhere.id", "public.transactions.id"]}, "functions": [], "function_info": {}, "settings": [], "flags": {"has_where": true, "ddl": false, "opaque": false, "multi_statement": false, "search_path_uncertain": false}, "fingerprint": "b75eb084604f97d0"},
	# SET search_path = public, pg_catalog; SELECT now()  -- statement 2
	"shadow_now": {"verb": "SELECT", "verbs": ["SELECT"], "tables": [], "columns": {"read": [], "written": [], "filtered": []}, "functions": ["public.now"], "function_info": {"public.now": {"known": true, "volatility": "volatile", "security_definer": false, "languages": ["sql"], "builtin": false, "kinds": ["function"]}}, "settings": [], "flags": {"has_where": false, "ddl": false, "opaque": false, "multi_statement": true, "search_path_uncertain": false}, "fingerprint": "77d30c21e4d01ffb"},
}
