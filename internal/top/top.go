// Package top is `tether top`: the per-second table (shared/live) of one
// process or of the whole cluster in a terminal, one row per process per
// second, or as JSON for scripts.
package top

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/tetherim/tether/shared/live"
)

// Config is what `tether top` shows and how.
type Config struct {
	Source  Source
	Cluster bool   // every process and their sum, instead of the source's own process
	Node    string // with Cluster: this process only
	Once    bool   // the newest second, then exit
	JSON    bool   // JSON instead of the table: a live.Snapshot per line, or with Cluster a live.ClusterView
	Every   time.Duration
}

// onceTries is how many reads --once makes before giving up on a process
// that has recorded no second yet (it just started).
const onceTries = 5

// Run shows the table until ctx ends (or after one second with Once).
func Run(ctx context.Context, cfg Config, out io.Writer) error {
	if cfg.Every <= 0 {
		cfg.Every = time.Second
	}
	if cfg.Node != "" {
		cfg.Cluster = true // a process by name is found in the cluster view
	}
	t := newTable(out)
	enc := json.NewEncoder(out)
	var last time.Time // the newest second shown
	for tries := 1; ; tries++ {
		rows, doc, at, err := read(ctx, cfg, last)
		if err != nil {
			return err
		}
		if len(rows) > 0 {
			switch {
			case cfg.JSON && !cfg.Cluster:
				for _, r := range rows { // a line per second, even after a slow read
					if err = enc.Encode(r); err != nil {
						break
					}
				}
			case cfg.JSON:
				err = enc.Encode(doc)
			default:
				err = t.second(rows)
			}
			if err != nil {
				return err
			}
			last = at
			if cfg.Once {
				return nil
			}
		} else if cfg.Once && tries >= onceTries {
			if cfg.Cluster {
				return errors.New("no process publishes its table to this Redis under this prefix (--redis-prefix)")
			}
			return errors.New("no second recorded yet; a process records one a second after it starts")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(cfg.Every):
		}
	}
}

// read returns the rows of the seconds after last, the JSON document that
// shows them, and the newest second's time.
func read(ctx context.Context, cfg Config, last time.Time) (rows []live.Snapshot, doc any, at time.Time, err error) {
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if !cfg.Cluster {
		h, err := cfg.Source.Node(rctx, 5)
		if err != nil {
			return nil, nil, last, err
		}
		if len(h.Snapshots) == 0 {
			return nil, nil, last, nil
		}
		newest := h.Snapshots[len(h.Snapshots)-1]
		if cfg.Once {
			return []live.Snapshot{newest}, nil, newest.At, nil
		}
		for _, s := range h.Snapshots {
			if s.At.After(last) {
				rows = append(rows, s)
			}
		}
		return rows, nil, newest.At, nil
	}
	v, err := cfg.Source.Cluster(rctx)
	if err != nil {
		return nil, nil, last, err
	}
	if cfg.Node != "" {
		for _, p := range v.Processes {
			if p.Process == cfg.Node {
				if !p.At.After(last) && !cfg.Once {
					return nil, nil, last, nil
				}
				return []live.Snapshot{p}, p, p.At, nil
			}
		}
		return nil, nil, last, fmt.Errorf("no process %q publishes to this Redis (is it running, with the same --redis-prefix?)", cfg.Node)
	}
	if len(v.Processes) == 0 {
		return nil, nil, last, nil // none yet, or Redis was just restarted
	}
	if !v.At.After(last) && !cfg.Once {
		return nil, nil, last, nil
	}
	return append([]live.Snapshot{v.Sum}, v.Processes...), v, v.At, nil
}
