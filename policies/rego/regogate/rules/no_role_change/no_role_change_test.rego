package regogate.rules.no_role_change_test

import data.regogate.rules.no_role_change
import data.regogate.testing

test_id_comes_from_metadata if no_role_change.id == "no_role_change"

changes := {
	"set_role": ["role", "SET"],
	"set_local_role": ["role", "SET"],
	"reset_role": ["role", "RESET"],
	"set_session_authorization": ["session_authorization", "SET"],
	"reset_session_authorization": ["session_authorization", "RESET"],
	"set_config_role": ["role", "set_config"],
	"set_config_session_authorization": ["session_authorization", "set_config"],
	"alter_role_set_role": ["role", "ALTER ROLE"],
}

test_role_changes_are_denied_for_everyone if {
	every name, change in changes {
		[setting, how] := change
		every who in [["analyst", testing.analyst(name)], ["agent", testing.agent(name)], ["dba", testing.dba(name)]] {
			reason := sprintf("changing the session's %s is not allowed (%s): the upstream role of %q cannot be changed", [setting, how, who[0]])
			testing.denied_with(who[1], reason)
		}
	}
}

test_discard_all_is_denied if {
	testing.denied_with(testing.dba("discard_all"), "DISCARD ALL is not allowed: it resets the session authorization")
	testing.denied_with(testing.agent("discard_all"), "DISCARD ALL is not allowed: it resets the session authorization")
}

test_ordinary_settings_are_fine if {
	every name in ["set_statement_timeout", "set_search_path", "reset_all", "begin_read_only", "set_config_search_path"] {
		count(no_role_change.deny) == 0 with input as testing.agent(name)
	}
}
