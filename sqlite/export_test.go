package sqlite

// Migrations are the schema steps, for tests that build a database as an
// older release left it.
var Migrations = migrations

// HotQueries are the statements on the busy paths, by name, for the
// query-plan test.
var HotQueries = map[string]string{
	"EventClaimDue":            sqlEventClaimDue,
	"EventNextDue":             sqlEventNextDue,
	"EventStats":               sqlEventStats,
	"EventRelease":             sqlEventRelease,
	"GroupTakeMsgSeq":          sqlGroupTakeMsgSeq,
	"GroupMessageGetDuplicate": sqlGroupMessageGetDuplicate,
	"GroupMessageList":         sqlGroupMessageList,
	"GroupMemberGet":           sqlGroupMemberGet,
	"GroupMemberTouch":         sqlGroupMemberTouch,
	"GroupMemberListPage":      sqlGroupMemberListPage,
	"GroupMemberListIDs":       sqlGroupMemberListIDs,
	"ExtensionList":            sqlExtensionList,
	"ExtensionStateSet":        sqlExtensionStateSet,
	"ExtensionKVDeleteRange":   sqlExtensionKVDeleteRange,
	"ChangeAppend":             sqlChangeAppend,
	"ChangeList":               sqlChangeList,
	"ChangeHead":               sqlChangeHead,
	"ChangeDeleteAll":          sqlChangeDeleteAll,
	"ConversationSummaryList":  sqlConversationSummaryList,
	"GroupIDsByMember":         sqlGroupIDsByMember,
	"GroupMemberMarkRead":      sqlGroupMemberMarkRead,
}

// AdminQueries are the statements of the attempt log and of the outbox's
// admin side, by name, for their query-plan test.
var AdminQueries = map[string]string{
	"AttemptList":        sqlAttemptList,
	"EventMarkDelivered": sqlEventMarkDelivered,
	"EventReplay":        sqlEventReplay,
	"EventRecoverDead":   sqlEventRecoverDead,
	"EventRecoverFailed": sqlEventRecoverFailed,
}

// EventListQuery is the statement EventList runs for p, and its arguments.
var EventListQuery = eventListQuery
