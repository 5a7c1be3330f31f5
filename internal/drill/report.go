package drill

// One row per fault, for people (a table) and for machines (JSON), and the
// verdict: a drill fails on any loss, duplicate, reorder or entry
// delivered to the wrong user.

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Row is what one fault's phase measured.
type Row struct {
	Fault      string `json:"fault"`
	What       string `json:"what"`
	Accepted   int    `json:"accepted"`  // messages the API accepted in the phase
	Delivered  int    `json:"delivered"` // of them, those every recipient had (push or sync) before the phase settled
	Stuck      int    `json:"stuck"`     // accepted, stored, but some online recipient had it only from the final sync
	Lost       int    `json:"lost"`      // accepted but not stored, or missing for a recipient after the final sync
	Duplicated int    `json:"duplicated"`
	Reordered  int    `json:"reordered"`
	CrossUser  int    `json:"cross_user"` // entries delivered to a user they do not belong to, or a version carrying two entries
	// Requests: failed attempts (network error, timeout, 5xx, 429) by kind;
	// sends that succeeded on a retry with the same client message id, of
	// them those the API answered 200 (an earlier attempt had stored it);
	// sends given up after a minute; sends refused (4xx).
	FailedRequests int            `json:"failed_requests"`
	FailedBy       map[string]int `json:"failed_by,omitempty"`
	Retried        int            `json:"retried_sends"`
	RetriedDup     int            `json:"retried_answered_existing"`
	GaveUp         int            `json:"gave_up"`
	Refused        int            `json:"refused"`
	RetrySafe      bool           `json:"retry_safe"` // every retried send stored exactly once under the answered id
	// ResumedSeconds: from the fault's start until the last message of the
	// phase that took over a second to reach all its recipients got there
	// (0: none did). MaxLagSeconds: the slowest message's accept-to-all-
	// recipients time.
	ResumedSeconds float64  `json:"resumed_seconds"`
	MaxLagSeconds  float64  `json:"max_lag_seconds"`
	Disconnects    int      `json:"client_disconnects"`
	Kicks          int      `json:"client_kicks"`
	FaultError     string   `json:"fault_error,omitempty"`
	Findings       []string `json:"findings,omitempty"` // the first few, for a person to start from
}

// Report is the whole drill.
type Report struct {
	StartedAt  time.Time  `json:"started_at"`
	Seconds    float64    `json:"seconds"`
	Users      int        `json:"users"`
	Groups     int        `json:"groups"`
	Rate       float64    `json:"rate"` // messages per second, all senders
	Heartbeat  string     `json:"heartbeat"`
	LoadAvg    [3]float64 `json:"loadavg_end"`
	Rows       []Row      `json:"rows"`
	Messages   int        `json:"messages_stored"`
	Entries    int        `json:"timeline_entries"`
	Frames     int        `json:"message_frames"`
	SyncPages  int64      `json:"sync_pages"`
	Redelivery int        `json:"redelivered_frames"` // a version a connection already had (allowed: at least once)
	Backwards  int        `json:"backwards_frames"`   // a new version below one the connection had (allowed: clients sync on gaps)
	Violations []string   `json:"violations,omitempty"`
	Passed     bool       `json:"passed"`
	Dir        string     `json:"dir,omitempty"` // logs of the processes, kept when the drill failed
}

// verdict fills Violations and Passed from the rows.
func (r *Report) verdict() {
	for _, row := range r.Rows {
		for _, c := range []struct {
			n    int
			what string
		}{{row.Lost, "lost"}, {row.Stuck, "stuck"}, {row.Duplicated, "duplicated"}, {row.Reordered, "reordered"},
			{row.CrossUser, "cross-user"}, {row.GaveUp, "gave up"}, {row.Refused, "refused"}} {
			if c.n > 0 {
				r.Violations = append(r.Violations, fmt.Sprintf("%s: %d %s", row.Fault, c.n, c.what))
			}
		}
		if row.FaultError != "" {
			r.Violations = append(r.Violations, fmt.Sprintf("%s: the fault could not be injected or healed: %s", row.Fault, row.FaultError))
		}
		if !row.RetrySafe {
			r.Violations = append(r.Violations, row.Fault+": a retried send was not stored exactly once")
		}
	}
	r.Passed = len(r.Violations) == 0
}

// WriteTable prints r for people.
func WriteTable(w io.Writer, r Report) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "fault\taccepted\tdelivered\tstuck\tlost\tdup\treord\txuser\tfailed req\tretried (200)\tretry safe\tresumed s\tmax lag s\tdisconnects\t")
	for _, row := range r.Rows {
		safe := "yes"
		if !row.RetrySafe {
			safe = "NO"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%d (%d)\t%s\t%.1f\t%.1f\t%d\t\n",
			row.Fault, row.Accepted, row.Delivered, row.Stuck, row.Lost, row.Duplicated, row.Reordered, row.CrossUser,
			failedText(row), row.Retried, row.RetriedDup, safe, row.ResumedSeconds, row.MaxLagSeconds, row.Disconnects)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\n%d users (%d groups), %.0f msgs/s, heartbeat %s; %d messages and %d timeline entries stored; %d Message frames (%d redelivered, %d backwards), %d sync pages; %.0fs, load average %.1f\n",
		r.Users, r.Groups, r.Rate, r.Heartbeat, r.Messages, r.Entries, r.Frames, r.Redelivery, r.Backwards, r.SyncPages, r.Seconds, r.LoadAvg[0])
	for _, row := range r.Rows {
		if row.Kicks > 0 {
			fmt.Fprintf(w, "  %s: %d Kick frames on the drill's own live sessions (a newer session of the same device replaced them)\n", row.Fault, row.Kicks)
		}
		for _, f := range row.Findings {
			fmt.Fprintf(w, "  %s: %s\n", row.Fault, f)
		}
	}
	if r.Passed {
		_, err := fmt.Fprintln(w, "PASS: nothing lost, duplicated, reordered or delivered to the wrong user")
		return err
	}
	fmt.Fprintf(w, "FAIL:\n  %s\n", strings.Join(r.Violations, "\n  "))
	if r.Dir != "" {
		fmt.Fprintf(w, "process logs kept in %s\n", r.Dir)
	}
	return nil
}

func failedText(row Row) string {
	if row.FailedRequests == 0 {
		return "0"
	}
	var kinds []string
	for k := range row.FailedBy {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	var parts []string
	for _, k := range kinds {
		parts = append(parts, fmt.Sprintf("%s×%d", k, row.FailedBy[k]))
	}
	return fmt.Sprintf("%d (%s)", row.FailedRequests, strings.Join(parts, " "))
}
