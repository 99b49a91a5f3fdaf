package badgerstore

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Group commit.
//
// Badger batches concurrent commits into one write and one fsync, but a
// new transaction first waits until every earlier commit is on disk, so
// under load most batches hold one or two transactions. The store
// therefore combines concurrent metadata writes itself: writers queue
// their transaction functions, and one of them, the leader, runs a group
// of them one after another in a single badger transaction and commits it
// once. Every function sees the writes of those before it, so a group is
// equivalent to running its functions serially, and writers in one group
// never conflict with each other (two pushes moving the same tag simply
// apply in order). No goroutine is started: the leader is a caller, and
// it hands leadership to the next waiting caller when its group is done.
//
// This is the one place that drives a transaction by hand
// (NewTransaction, Commit, deferred Discard) instead of through
// db.Update: one closure per caller, one commit per group.

// maxGroup bounds the number of writes combined into one transaction.
const maxGroup = 128

// maxGroupConflicts bounds how often a group is rerun after a conflict with
// a write that did not go through the group (DeleteRepository) before its
// functions run on their own.
const maxGroupConflicts = 4

type writeOp struct {
	ctx  context.Context
	fn   func(*badger.Txn) error
	done chan writeResult // buffered: a lead token, then the result
}

type writeResult struct {
	err  error
	lead bool
	// panicked holds a panic raised by fn while a leader ran it; the
	// writer re-raises it in its own goroutine.
	panicked *panicError
}

type panicError struct {
	val   any
	stack []byte
}

func (p *panicError) Error() string {
	return fmt.Sprintf("badgerstore: transaction function panicked: %v", p.val)
}

// grouper is the queue of pending writes.
type grouper struct {
	mu      sync.Mutex
	queue   []*writeOp
	leading bool

	// conc estimates how many writers keep the store busy: the size of
	// the last group plus the writers that queued while it committed.
	// lastCommit is how long that commit took. Both are for gather.
	conc       int
	lastCommit time.Duration
	// want, if not zero, is the queue length the leader waits for in
	// gather; the writer that reaches it signals more.
	want  int
	more  chan struct{}
	timer *time.Timer // the leader's, for gather
}

// write runs fn in a read-write transaction, combined with concurrent
// writes, and returns fn's error or the commit's. Like update, fn must have
// no side effects outside the transaction: it may run several times.
func (s *Store) write(ctx context.Context, fn func(*badger.Txn) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	op := &writeOp{ctx: ctx, fn: fn, done: make(chan writeResult, 1)}
	g := &s.group
	g.mu.Lock()
	g.queue = append(g.queue, op)
	lead := !g.leading
	g.leading = true
	if g.want > 0 && len(g.queue) >= g.want {
		g.want = 0
		select {
		case g.more <- struct{}{}:
		default:
		}
	}
	g.mu.Unlock()

	r := writeResult{lead: lead}
	if !lead {
		r = <-op.done
	}
	if r.lead {
		s.lead()
		r = <-op.done
	}
	if r.panicked != nil {
		panic(fmt.Sprintf("%v\n\ngoroutine that ran the transaction function:\n%s", r.panicked.val, r.panicked.stack))
	}
	return r.err
}

// lead takes a group from the queue, runs and commits it, delivers the
// results, and hands leadership to the next waiting writer, if any.
func (s *Store) lead() {
	g := &s.group
	g.mu.Lock()
	g.gather()
	n := min(len(g.queue), maxGroup)
	batch := g.queue[:n:n]
	g.queue = g.queue[n:]
	g.mu.Unlock()

	start := time.Now()
	s.commitGroup(batch)
	took := time.Since(start)

	g.mu.Lock()
	g.conc, g.lastCommit = n+len(g.queue), took
	if len(g.queue) == 0 {
		g.leading = false
		g.mu.Unlock()
		return
	}
	next := g.queue[0]
	g.mu.Unlock()
	next.done <- writeResult{lead: true}
}

// maxGather bounds how long a leader waits for its group to fill.
const maxGather = 500 * time.Microsecond

// gather lets a group fill up before the leader takes it. Under steady
// concurrent load, groups otherwise settle into alternating halves: while
// one half commits, the writers of the other half, just answered, send
// their next requests and queue up, so each fsync carries half the
// writers. So the leader waits until the queue holds as many writers as
// were busy around the last commit (its group plus those that queued
// meanwhile), but at most half as long as that commit took (and at most
// maxGather): the writers it waits for are the ones just answered, and
// the wait is paid back by the fsync it saves. A lone writer never waits,
// and when fewer writers come back the estimate drops after one group.
// mu must be held; gather releases it while it waits.
func (g *grouper) gather() {
	want := min(g.conc, maxGroup)
	if want < 2 || len(g.queue) >= want {
		return
	}
	wait := min(g.lastCommit/2, maxGather)
	if wait <= 0 {
		return
	}
	if g.more == nil {
		g.more = make(chan struct{}, 1)
		g.timer = time.NewTimer(wait)
	} else {
		g.timer.Reset(wait)
	}
	g.want = want
	g.mu.Unlock()
	select {
	case <-g.more:
	case <-g.timer.C:
	}
	g.timer.Stop()
	g.mu.Lock()
	g.want = 0
	select { // a signal sent after the timer fired
	case <-g.more:
	default:
	}
}

// commitGroup runs ops in as few transactions as it can and delivers each
// op's result.
//
// If an op fails, the transaction is discarded, since it may hold part of
// that op's writes: the ops before it are rerun as a group, and the failed
// op then runs first in a fresh transaction, where its error is final (it
// saw only committed state). A group that conflicts with an outside writer
// is rerun; after maxGroupConflicts its ops run on their own.
func (s *Store) commitGroup(pending []*writeOp) {
	limit := len(pending)
	conflicts := 0
	for len(pending) > 0 {
		group := pending[:min(limit, len(pending))]
		k, opErr, err := s.tryGroup(group)
		switch {
		case opErr != nil && k == 0:
			deliver(group[0], opErr)
			pending = pending[1:]
		case opErr != nil:
			limit = k
			continue
		case errors.Is(err, badger.ErrConflict) && conflicts < maxGroupConflicts:
			conflicts++
			continue
		case errors.Is(err, badger.ErrConflict):
			for _, op := range group {
				deliver(op, s.update(op.ctx, func(txn *badger.Txn) error { return runOp(op, txn) }))
			}
			pending = pending[len(group):]
		default: // committed, or failed as a whole (ErrClosed, I/O)
			for _, op := range group {
				deliver(op, err)
			}
			pending = pending[len(group):]
		}
		limit, conflicts = len(pending), 0
	}
}

// tryGroup runs ops in one transaction and commits it. If op k fails it
// discards the transaction and returns k and the error; otherwise it
// returns len(ops) and the commit's error.
func (s *Store) tryGroup(ops []*writeOp) (k int, opErr, commitErr error) {
	commitErr = s.withDB(func(db *badger.DB) error {
		txn := db.NewTransaction(true)
		defer txn.Discard()
		for i, op := range ops {
			if err := runOp(op, txn); err != nil {
				k, opErr = i, err
				return nil
			}
		}
		k = len(ops)
		return txn.Commit()
	})
	return k, opErr, commitErr
}

// runOp runs op.fn, turning a panic into a *panicError.
func runOp(op *writeOp, txn *badger.Txn) (err error) {
	if err := op.ctx.Err(); err != nil {
		return err
	}
	defer func() {
		if v := recover(); v != nil {
			err = &panicError{val: v, stack: debug.Stack()}
		}
	}()
	return op.fn(txn)
}

func deliver(op *writeOp, err error) {
	var p *panicError
	if errors.As(err, &p) {
		op.done <- writeResult{panicked: p}
		return
	}
	op.done <- writeResult{err: err}
}
