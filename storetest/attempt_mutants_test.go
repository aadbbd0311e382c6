package storetest_test

import (
	"context"
	"slices"

	"github.com/parley-im/parley"
)

// The mutants of the attempt log and the outbox's admin side.
func attemptMutants() []mutant {
	return []mutant{
		{"EventListNewestIgnoresBeforeSeq", func(s parley.Store) parley.Store { return listIgnoresBeforeSeq{s} },
			"Direct/EventList", []string{"Direct/EventList/NewestFirstPages", "Direct/EventList/CreatedBetween"}},
		{"EventListFailedIsPending", func(s parley.Store) parley.Store { return failedIsPending{s} },
			"Direct/EventList", []string{"Direct/EventList/Failed", "Direct/EventList/CreatedBetween"}},
		{"EventReplayChangesNothing", func(s parley.Store) parley.Store { return replayNothing{s} },
			"Direct/EventReplay", []string{
				"Direct/EventReplay/DeliveredAndDeadBecomePending",
				"Direct/EventReplay/KeepsConversationOrder",
				"Direct/EventReplay/PendingMadeDue",
			}},
		{"EventRecoverIgnoresUntil", func(s parley.Store) parley.Store { return recoverIgnoresUntil{s} },
			"Direct/EventRecover", []string{"Direct/EventRecover/DeadAndFailedOfTheRange"}},
		{"AttemptListNewestFirst", func(s parley.Store) parley.Store { return attemptsNewestFirst{s} },
			"Direct/AttemptInsert", []string{"Direct/AttemptInsert/ListedInOrderWithEveryField", "Direct/AttemptInsert/SameAttemptTwice"}},
	}
}

type listIgnoresBeforeSeq struct{ parley.Store }

func (s listIgnoresBeforeSeq) EventList(ctx context.Context, p parley.EventListParams) ([]*parley.Event, error) {
	p.BeforeSeq = 0
	return s.Store.EventList(ctx, p)
}

type failedIsPending struct{ parley.Store }

func (s failedIsPending) EventList(ctx context.Context, p parley.EventListParams) ([]*parley.Event, error) {
	if p.State == parley.EventFailed {
		p.State = parley.EventPending
	}
	return s.Store.EventList(ctx, p)
}

type replayNothing struct{ parley.Store }

func (s replayNothing) EventReplay(ctx context.Context, p parley.EventReplayParams) (*parley.Event, error) {
	return s.Store.EventGet(ctx, p.ID)
}

type recoverIgnoresUntil struct{ parley.Store }

func (s recoverIgnoresUntil) EventRecover(ctx context.Context, p parley.EventRecoverParams) (int, error) {
	p.Until = p.Until.AddDate(10, 0, 0)
	return s.Store.EventRecover(ctx, p)
}

type attemptsNewestFirst struct{ parley.Store }

func (s attemptsNewestFirst) AttemptList(ctx context.Context, eventID string) ([]parley.Attempt, error) {
	as, err := s.Store.AttemptList(ctx, eventID)
	slices.Reverse(as)
	return as, err
}
