package emulator

import "time"

// expiries lets the emulator forget what has lapsed without walking
// everything it holds: entries of one kind lapse about in the order they
// were made (their lifetimes are fixed per product), so one
// first-in-first-out queue per kind has its lapsed entries at the front. A
// sweep costs what it removes, and each request adds one entry: O(1) per
// request, however long the emulator has run. Where lifetimes differ
// within a kind (5- and 10-minute codes), a longer one at the front only
// delays the sweep of shorter ones behind it by the difference.
type expiries struct {
	queues map[string]*fifo
}

type fifo struct {
	items []expiring
	head  int
}

type expiring struct {
	key string
	at  time.Time
}

// add queues key of kind, to be looked at once at has passed.
func (x *expiries) add(kind, key string, at time.Time) {
	if x.queues == nil {
		x.queues = map[string]*fifo{}
	}
	q := x.queues[kind]
	if q == nil {
		q = &fifo{}
		x.queues[kind] = q
	}
	q.items = append(q.items, expiring{key: key, at: at})
}

// sweep hands every queued entry whose time is before cutoff to lapsed,
// which forgets it or, when the entry was extended meanwhile, returns its
// new time to queue it again.
func (x *expiries) sweep(cutoff time.Time, lapsed func(kind, key string) (again time.Time, ok bool)) {
	for kind, q := range x.queues {
		for q.head < len(q.items) && q.items[q.head].at.Before(cutoff) {
			it := q.items[q.head]
			q.items[q.head] = expiring{}
			q.head++
			if again, ok := lapsed(kind, it.key); ok {
				q.items = append(q.items, expiring{key: it.key, at: again})
			}
		}
		if q.head > 64 && q.head*2 > len(q.items) {
			// Reclaim the popped front.
			q.items = append(q.items[:0:0], q.items[q.head:]...)
			q.head = 0
		}
	}
}
