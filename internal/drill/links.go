package drill

// Network faults need something in the path that can delay, reset or
// swallow traffic on demand. Every connection of the cluster that a fault
// may hit (API to MySQL, API to Redis, node to Redis, client to node)
// goes through its own proxy from the start, so a fault is a toggle, not
// a rewiring. The proxies are Toxiproxy's, embedded as a library: a
// well-kept fault injector whose toxics (latency, reset_peer, timeout)
// are exactly the faults the drill needs.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"
)

// links are the cluster's proxies by name.
type links struct {
	srv    *toxiproxy.ApiServer
	byName map[string]*toxiproxy.Proxy
}

func newLinks() *links {
	return &links{
		srv:    toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop()),
		byName: map[string]*toxiproxy.Proxy{},
	}
}

// add starts a proxy on a free loopback port in front of upstream and
// returns its address.
func (l *links) add(name, upstream string) (string, error) {
	p := toxiproxy.NewProxy(l.srv, name, "127.0.0.1:0", upstream)
	if err := l.srv.Collection.Add(p, true); err != nil {
		return "", fmt.Errorf("drill: proxy %s: %w", name, err)
	}
	l.byName[name] = p
	return p.Listen, nil
}

// toxic is one fault on a link, in Toxiproxy's terms.
type toxic struct {
	Type       string         `json:"type"`
	Stream     string         `json:"stream"` // upstream (towards the server) or downstream
	Attributes map[string]any `json:"attributes"`
}

// latency delays every chunk in both directions by ms (± jitter).
func latency(ms, jitter int) []toxic {
	a := map[string]any{"latency": ms, "jitter": jitter}
	return []toxic{{"latency", "upstream", a}, {"latency", "downstream", a}}
}

// resets answers the next bytes of every connection, old or new, with a
// TCP reset.
func resets() []toxic {
	return []toxic{{"reset_peer", "upstream", map[string]any{"timeout": 0}}}
}

// resetAnswers lets requests through and answers the first bytes coming
// back with a TCP reset: the server did the work, the client never hears.
func resetAnswers() []toxic {
	return []toxic{{"reset_peer", "downstream", map[string]any{"timeout": 0}}}
}

// blackhole swallows every byte in both directions and never closes a
// connection: the peer vanished without a FIN. New connections are
// accepted and swallowed too.
func blackhole() []toxic {
	a := map[string]any{"timeout": 0}
	return []toxic{{"timeout", "upstream", a}, {"timeout", "downstream", a}}
}

// set puts ts on the named links.
func (l *links) set(names []string, ts []toxic) error {
	for _, n := range names {
		p, ok := l.byName[n]
		if !ok {
			return fmt.Errorf("drill: no link %q", n)
		}
		for i, t := range ts {
			body := map[string]any{"name": fmt.Sprintf("drill-%d", i), "type": t.Type, "stream": t.Stream, "toxicity": 1.0, "attributes": t.Attributes}
			b, _ := json.Marshal(body)
			if _, err := p.Toxics.AddToxicJson(bytes.NewReader(b)); err != nil {
				return fmt.Errorf("drill: %s on %s: %w", t.Type, n, err)
			}
		}
	}
	return nil
}

// heal removes every toxic from the named links. Connections a blackhole
// or reset held are closed by the removal; new ones pass.
func (l *links) heal(names ...string) {
	for _, n := range names {
		if p, ok := l.byName[n]; ok {
			p.Toxics.ResetToxics(context.Background())
		}
	}
}

// names lists the links whose names start with prefix.
func (l *links) names(prefix string) []string {
	var out []string
	for n := range l.byName {
		if len(n) >= len(prefix) && n[:len(prefix)] == prefix {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

func (l *links) close() {
	for _, p := range l.byName {
		p.Stop()
	}
}
