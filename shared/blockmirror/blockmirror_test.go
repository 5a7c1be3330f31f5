package blockmirror_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/tetherim/tether/internal/testenv"
	"github.com/tetherim/tether/shared/blockmirror"
)

// pairs is a database of blocks for Rebuild; during, if set, runs before
// each page is returned (a concurrent writer).
type pairs struct {
	all    []blockmirror.Pair
	reads  int
	during func(page int)
}

func (p *pairs) BlockPairs(_ context.Context, after blockmirror.Pair, limit int) ([]blockmirror.Pair, error) {
	if p.during != nil {
		p.during(p.reads)
	}
	p.reads++
	var out []blockmirror.Pair
	for _, x := range p.all {
		if x.Blocker > after.Blocker || x.Blocker == after.Blocker && x.Blocked > after.Blocked {
			out = append(out, x)
			if len(out) == limit {
				break
			}
		}
	}
	return out, nil
}

func TestCheck_IsIncompleteUntilRebuiltThenAnswersPerPair(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	ctx := context.Background()
	m := blockmirror.New(rdb, prefix)
	if err := m.Block(ctx, 2, 1); err != nil {
		t.Fatal(err)
	}
	q := []blockmirror.Pair{{Blocker: 2, Blocked: 1}, {Blocker: 1, Blocked: 2}, {Blocker: 2, Blocked: 3}}
	if _, err := m.Check(ctx, q); !errors.Is(err, blockmirror.ErrIncomplete) {
		t.Fatalf("check before any rebuild: %v, want ErrIncomplete", err)
	}
	// 2500 blocks: more than two pages.
	db := &pairs{}
	for i := int64(1); i <= 2500; i++ {
		db.all = append(db.all, blockmirror.Pair{Blocker: 7 + i%3, Blocked: 1000 + i})
	}
	db.all = append(db.all, blockmirror.Pair{Blocker: 2, Blocked: 3})
	sortPairs(db.all)
	done, err := m.Rebuild(ctx, db)
	if err != nil || !done {
		t.Fatalf("rebuild: %v %v", done, err)
	}
	got, err := m.Check(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	// 2/1 was only in Redis (written before the rebuild): rebuilding only adds.
	if fmt.Sprint(got) != "[true false true]" {
		t.Fatalf("check: %v", got)
	}
	all, err := m.Check(ctx, db.all)
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range all {
		if !b {
			t.Fatalf("block %v missing after the rebuild", db.all[i])
		}
	}
	// Complete: a second rebuild does nothing.
	if done, err := m.Rebuild(ctx, db); err != nil || done {
		t.Fatalf("second rebuild: %v %v", done, err)
	}
	if err := m.Unblock(ctx, 2, 1); err != nil {
		t.Fatal(err)
	}
	if got, _ := m.Check(ctx, q[:1]); got[0] {
		t.Fatal("unblock did not reach the mirror")
	}
}

// Redis restarted empty while an API process was rebuilding: the blocks it
// copied before are gone, so the mirror must not be marked complete.
func TestRebuild_RedisLosingItsDataMidwayLeavesTheMirrorIncomplete(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	ctx := context.Background()
	m := blockmirror.New(rdb, prefix)
	db := &pairs{}
	for i := int64(1); i <= 1500; i++ {
		db.all = append(db.all, blockmirror.Pair{Blocker: 1, Blocked: 10 + i})
	}
	db.during = func(page int) {
		if page == 1 { // after the first page was copied
			keys, _ := rdb.Keys(ctx, prefix+"*").Result()
			if len(keys) > 0 {
				rdb.Del(ctx, keys...)
			}
		}
	}
	if done, err := m.Rebuild(ctx, db); err == nil || done {
		t.Fatalf("rebuild across a data loss: %v %v, want an error", done, err)
	}
	if ok, err := m.Complete(ctx); err != nil || ok {
		t.Fatalf("complete after a broken rebuild: %v %v", ok, err)
	}
	db.during = nil
	if done, err := m.Rebuild(ctx, db); err != nil || !done {
		t.Fatalf("the next rebuild: %v %v", done, err)
	}
	if got, err := m.Check(ctx, []blockmirror.Pair{db.all[0]}); err != nil || !got[0] {
		t.Fatalf("first block after the next rebuild: %v %v", got, err)
	}
}

func TestRebuild_OneProcessAtATime(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	ctx := context.Background()
	m := blockmirror.New(rdb, prefix)
	var inner error
	var innerDone bool
	db := &pairs{all: []blockmirror.Pair{{Blocker: 1, Blocked: 2}}}
	db.during = func(page int) {
		if page == 0 {
			innerDone, inner = m.Rebuild(ctx, &pairs{})
		}
	}
	if done, err := m.Rebuild(ctx, db); err != nil || !done {
		t.Fatalf("rebuild: %v %v", done, err)
	}
	if inner != nil || innerDone {
		t.Fatalf("a second process rebuilt meanwhile: %v %v", innerDone, inner)
	}
}

func sortPairs(p []blockmirror.Pair) {
	slices.SortFunc(p, func(a, b blockmirror.Pair) int {
		return cmp.Or(cmp.Compare(a.Blocker, b.Blocker), cmp.Compare(a.Blocked, b.Blocked))
	})
}

// tether dev runs on an in-process Redis (miniredis): the mirror's scripts
// must work there too.
func TestRebuildAndCheck_WorkOnTheDevModesInProcessRedis(t *testing.T) {
	t.Parallel()
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := context.Background()
	m := blockmirror.New(rdb, "tether:")
	db := &pairs{all: []blockmirror.Pair{{Blocker: 1, Blocked: 2}, {Blocker: 3, Blocked: 4}}}
	if done, err := m.Rebuild(ctx, db); err != nil || !done {
		t.Fatalf("rebuild: %v %v", done, err)
	}
	got, err := m.Check(ctx, []blockmirror.Pair{{Blocker: 1, Blocked: 2}, {Blocker: 2, Blocked: 1}})
	if err != nil || fmt.Sprint(got) != "[true false]" {
		t.Fatalf("check: %v %v", got, err)
	}
}
