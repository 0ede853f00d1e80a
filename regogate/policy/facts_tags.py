"""Command tags and DDL classification of raw statements, after PostgreSQL's
CreateCommandTag and GetCommandLogLevel (src/backend/tcop/utility.c, cmdtaglist.h).
"""

from __future__ import annotations

from typing import Any

from pglast import ast
from pglast.enums import ObjectType, TransactionStmtKind, VariableSetKind

_OBJECT_NAMES: dict[str, str] = {
    "ACCESS_METHOD": "ACCESS METHOD",
    "EVENT_TRIGGER": "EVENT TRIGGER",
    "FDW": "FOREIGN DATA WRAPPER",
    "FOREIGN_SERVER": "SERVER",
    "FOREIGN_TABLE": "FOREIGN TABLE",
    "LARGEOBJECT": "LARGE OBJECT",
    "MATVIEW": "MATERIALIZED VIEW",
    "OPCLASS": "OPERATOR CLASS",
    "OPFAMILY": "OPERATOR FAMILY",
    "STATISTIC_EXT": "STATISTICS",
    "TSCONFIGURATION": "TEXT SEARCH CONFIGURATION",
    "TSDICTIONARY": "TEXT SEARCH DICTIONARY",
    "TSPARSER": "TEXT SEARCH PARSER",
    "TSTEMPLATE": "TEXT SEARCH TEMPLATE",
    "USER_MAPPING": "USER MAPPING",
    "TABCONSTRAINT": "TABLE",
    "COLUMN": "TABLE",
    "ATTRIBUTE": "TYPE",
    "DOMCONSTRAINT": "DOMAIN",
}

# Statements whose tag is fixed (the rest are computed below or derived from the name).
_FIXED: dict[type[Any], str] = {
    ast.InsertStmt: "INSERT",
    ast.UpdateStmt: "UPDATE",
    ast.DeleteStmt: "DELETE",
    ast.MergeStmt: "MERGE",
    ast.DeclareCursorStmt: "DECLARE CURSOR",
    ast.CreateStmt: "CREATE TABLE",
    ast.CreateForeignTableStmt: "CREATE FOREIGN TABLE",
    ast.CreateSchemaStmt: "CREATE SCHEMA",
    ast.CreateFdwStmt: "CREATE FOREIGN DATA WRAPPER",
    ast.CreateForeignServerStmt: "CREATE SERVER",
    ast.CreateUserMappingStmt: "CREATE USER MAPPING",
    ast.CreatePLangStmt: "CREATE LANGUAGE",
    ast.CreateStatsStmt: "CREATE STATISTICS",
    ast.CreateAmStmt: "CREATE ACCESS METHOD",
    ast.CreateTrigStmt: "CREATE TRIGGER",
    ast.CreateEventTrigStmt: "CREATE EVENT TRIGGER",
    ast.CreatedbStmt: "CREATE DATABASE",
    ast.CreateSeqStmt: "CREATE SEQUENCE",
    ast.CreateOpClassStmt: "CREATE OPERATOR CLASS",
    ast.CreateOpFamilyStmt: "CREATE OPERATOR FAMILY",
    ast.CreateEnumStmt: "CREATE TYPE",
    ast.CreateRangeStmt: "CREATE TYPE",
    ast.CompositeTypeStmt: "CREATE TYPE",
    ast.ViewStmt: "CREATE VIEW",
    ast.IndexStmt: "CREATE INDEX",
    ast.RuleStmt: "CREATE RULE",
    ast.AlterFdwStmt: "ALTER FOREIGN DATA WRAPPER",
    ast.AlterForeignServerStmt: "ALTER SERVER",
    ast.AlterUserMappingStmt: "ALTER USER MAPPING",
    ast.AlterEnumStmt: "ALTER TYPE",
    ast.AlterTableSpaceOptionsStmt: "ALTER TABLESPACE",
    ast.AlterTableMoveAllStmt: "ALTER TABLE",
    ast.AlterDatabaseSetStmt: "ALTER DATABASE",
    ast.AlterDatabaseRefreshCollStmt: "ALTER DATABASE",
    ast.AlterRoleSetStmt: "ALTER ROLE",
    ast.AlterTSDictionaryStmt: "ALTER TEXT SEARCH DICTIONARY",
    ast.AlterTSConfigurationStmt: "ALTER TEXT SEARCH CONFIGURATION",
    ast.AlterSeqStmt: "ALTER SEQUENCE",
    ast.AlterOpFamilyStmt: "ALTER OPERATOR FAMILY",
    ast.AlterStatsStmt: "ALTER STATISTICS",
    ast.AlterEventTrigStmt: "ALTER EVENT TRIGGER",
    ast.AlterExtensionContentsStmt: "ALTER EXTENSION",
    ast.DropUserMappingStmt: "DROP USER MAPPING",
    ast.DropdbStmt: "DROP DATABASE",
    ast.DropOwnedStmt: "DROP OWNED",
    ast.DropRoleStmt: "DROP ROLE",
    ast.DropTableSpaceStmt: "DROP TABLESPACE",
    ast.DropSubscriptionStmt: "DROP SUBSCRIPTION",
    ast.ReassignOwnedStmt: "REASSIGN OWNED",
    ast.TruncateStmt: "TRUNCATE TABLE",
    ast.CommentStmt: "COMMENT",
    ast.SecLabelStmt: "SECURITY LABEL",
    ast.CopyStmt: "COPY",
    ast.DoStmt: "DO",
    ast.CallStmt: "CALL",
    ast.ExplainStmt: "EXPLAIN",
    ast.VariableShowStmt: "SHOW",
    ast.LockStmt: "LOCK TABLE",
    ast.ConstraintsSetStmt: "SET CONSTRAINTS",
    ast.CheckPointStmt: "CHECKPOINT",
    ast.ReindexStmt: "REINDEX",
    ast.ClusterStmt: "CLUSTER",
    ast.NotifyStmt: "NOTIFY",
    ast.ListenStmt: "LISTEN",
    ast.UnlistenStmt: "UNLISTEN",
    ast.LoadStmt: "LOAD",
    ast.PrepareStmt: "PREPARE",
    ast.ExecuteStmt: "EXECUTE",
    ast.AlterSystemStmt: "ALTER SYSTEM",
    ast.AlterDefaultPrivilegesStmt: "ALTER DEFAULT PRIVILEGES",
    ast.AlterFunctionStmt: "ALTER FUNCTION",
    ast.AlterDomainStmt: "ALTER DOMAIN",
    ast.CreateDomainStmt: "CREATE DOMAIN",
    ast.CreateExtensionStmt: "CREATE EXTENSION",
    ast.AlterExtensionStmt: "ALTER EXTENSION",
    ast.CreateTableSpaceStmt: "CREATE TABLESPACE",
    ast.CreateCastStmt: "CREATE CAST",
    ast.CreateConversionStmt: "CREATE CONVERSION",
    ast.CreateTransformStmt: "CREATE TRANSFORM",
    ast.CreatePolicyStmt: "CREATE POLICY",
    ast.AlterPolicyStmt: "ALTER POLICY",
    ast.CreatePublicationStmt: "CREATE PUBLICATION",
    ast.AlterPublicationStmt: "ALTER PUBLICATION",
    ast.CreateSubscriptionStmt: "CREATE SUBSCRIPTION",
    ast.AlterSubscriptionStmt: "ALTER SUBSCRIPTION",
    ast.AlterCollationStmt: "ALTER COLLATION",
    ast.AlterOperatorStmt: "ALTER OPERATOR",
    ast.AlterTypeStmt: "ALTER TYPE",
    ast.ImportForeignSchemaStmt: "IMPORT FOREIGN SCHEMA",
    ast.RefreshMatViewStmt: "REFRESH MATERIALIZED VIEW",
}

_TRANSACTION: dict[TransactionStmtKind, str] = {
    TransactionStmtKind.TRANS_STMT_BEGIN: "BEGIN",
    TransactionStmtKind.TRANS_STMT_START: "START TRANSACTION",
    TransactionStmtKind.TRANS_STMT_COMMIT: "COMMIT",
    TransactionStmtKind.TRANS_STMT_ROLLBACK: "ROLLBACK",
    TransactionStmtKind.TRANS_STMT_ROLLBACK_TO: "ROLLBACK",
    TransactionStmtKind.TRANS_STMT_SAVEPOINT: "SAVEPOINT",
    TransactionStmtKind.TRANS_STMT_RELEASE: "RELEASE",
    TransactionStmtKind.TRANS_STMT_PREPARE: "PREPARE TRANSACTION",
    TransactionStmtKind.TRANS_STMT_COMMIT_PREPARED: "COMMIT PREPARED",
    TransactionStmtKind.TRANS_STMT_ROLLBACK_PREPARED: "ROLLBACK PREPARED",
}

# GetCommandLogLevel puts these at LOGSTMT_DDL (with SELECT INTO and, for EXPLAIN
# ANALYZE / PREPARE / EXECUTE, whatever the inner statement is).
_DDL_PREFIXES = (
    "Create",
    "Alter",
    "Drop",
    "Define",
    "Comment",
    "SecLabel",
    "Grant",
    "Rename",
    "Reassign",
    "Import",
    "CompositeType",
    "View",
    "Index",
    "Rule",
    "RefreshMatView",
    "ReplicaIdentity",
)


def object_name(objtype: Any) -> str:
    try:
        key = ObjectType(objtype).name.removeprefix("OBJECT_")
    except ValueError:
        return "OBJECT"
    return _OBJECT_NAMES.get(key, key.replace("_", " "))


def command_tag(node: Any) -> str:
    """The command tag PostgreSQL reports for a raw statement node."""
    fixed = _FIXED.get(type(node))
    if fixed is not None:
        return fixed
    match node:
        case ast.SelectStmt():
            return "SELECT INTO" if node.intoClause is not None else "SELECT"
        case ast.TransactionStmt():
            kind = node.kind
            return _TRANSACTION.get(kind, "TRANSACTION") if kind is not None else "TRANSACTION"
        case ast.ClosePortalStmt():
            return "CLOSE CURSOR" if node.portalname else "CLOSE CURSOR ALL"
        case ast.FetchStmt():
            return "MOVE" if node.ismove else "FETCH"
        case ast.VariableSetStmt():
            reset = node.kind in (VariableSetKind.VAR_RESET, VariableSetKind.VAR_RESET_ALL)
            return "RESET" if reset else "SET"
        case ast.DeallocateStmt():
            return "DEALLOCATE ALL" if node.isall or not node.name else "DEALLOCATE"
        case ast.DiscardStmt():
            return "DISCARD " + {0: "ALL", 1: "PLANS", 2: "SEQUENCES", 3: "TEMP"}.get(
                int(node.target or 0), "ALL"
            )
        case ast.VacuumStmt():
            return "VACUUM" if node.is_vacuumcmd else "ANALYZE"
        case ast.CreateTableAsStmt():
            if node.objtype == ObjectType.OBJECT_MATVIEW:
                return "CREATE MATERIALIZED VIEW"
            return "SELECT INTO" if node.is_select_into else "CREATE TABLE AS"
        case ast.DropStmt():
            return "DROP " + object_name(node.removeType)
        case ast.AlterTableStmt():
            return "ALTER " + object_name(node.objtype)
        case ast.RenameStmt():
            return "ALTER " + object_name(node.renameType)
        case ast.AlterObjectSchemaStmt() | ast.AlterOwnerStmt() | ast.AlterObjectDependsStmt():
            return "ALTER " + object_name(node.objectType)
        case ast.DefineStmt():
            return "CREATE " + object_name(node.kind)
        case ast.CreateFunctionStmt():
            return "CREATE PROCEDURE" if node.is_procedure else "CREATE FUNCTION"
        case ast.GrantStmt():
            return "GRANT" if node.is_grant else "REVOKE"
        case ast.GrantRoleStmt():
            return "GRANT ROLE" if node.is_grant else "REVOKE ROLE"
        case ast.CreateRoleStmt():
            return "CREATE ROLE"
        case ast.AlterRoleStmt():
            return "ALTER ROLE"
        case ast.AlterDatabaseStmt():
            return "ALTER DATABASE"
    return _derived_tag(type(node).__name__)


def _derived_tag(class_name: str) -> str:
    """``AlterFooBarStmt`` -> ``ALTER FOO BAR``: a readable tag for kinds not listed."""
    stem = class_name.removesuffix("Stmt")
    words: list[str] = []
    for ch in stem:
        if ch.isupper() and words and not words[-1].isupper():
            words.append(" ")
        words.append(ch)
    return "".join(words).upper() or "UNKNOWN"


def is_ddl_kind(node: Any) -> bool:
    """Whether PostgreSQL logs this statement kind at log_statement = 'ddl'."""
    if isinstance(node, ast.SelectStmt):
        return node.intoClause is not None
    return type(node).__name__.startswith(_DDL_PREFIXES)
