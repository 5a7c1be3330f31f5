package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/api/store"
	"github.com/tetherim/tether/shared/metrics"
	"github.com/tetherim/tether/shared/switches"
)

const switchUsage = `Usage: tether switch <list|get|set|history> [NAME [VALUE]] [flags]

Lists and changes the live switches (README: "Switches and gray release").
Through the REST API with an admin key:
  --api URL --key KEY                (default: TETHER_API_URL, TETHER_ADMIN_KEY)
or directly in the database, like tether apikey:
  --mysql DSN | --sqlite PATH        (default: TETHER_MYSQL_DSN, TETHER_SQLITE_PATH)
  [--redis-addr HOST:PORT --redis-prefix P]  publish at once; without them the
                                     API processes read it from the database within
                                     their reload interval and republish it

  list                        every switch: value, default, rules
  get NAME                    one switch, as JSON
  history NAME [--limit N]    its latest changes, newest first, as JSON
  set NAME VALUE --reason WHY [rules]
      VALUE: on/off, 12.5%, 500 or 250ms by the switch's kind
      rules (they replace the current ones; none: everyone):
        --percent P  --platforms ios,android  --min-app-version V  --max-app-version V
        --allow 1,2  --deny 3  --nodes push-0,push-1
        --allow-keys k_1,k_2  --deny-keys k_3   (push API callers)   or  --rules JSON
  --json    list as JSON
`

// switchCmd runs `tether switch`.
func switchCmd(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprint(stdout, switchUsage)
		return errors.New("a subcommand is required: list, get, set or history")
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("switch "+sub, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	api := fs.String("api", getenv("TETHER_API_URL"), "")
	key := fs.String("key", getenv("TETHER_ADMIN_KEY"), "")
	mysql := fs.String("mysql", getenv("TETHER_MYSQL_DSN"), "")
	sqlite := fs.String("sqlite", getenv("TETHER_SQLITE_PATH"), "")
	redisAddr := fs.String("redis-addr", "", "")
	redisPrefix := fs.String("redis-prefix", "tether:", "")
	reason := fs.String("reason", "", "")
	limit := fs.Int("limit", 20, "")
	asJSON := fs.Bool("json", false, "")
	var rf ruleFlags
	fs.Func("percent", "", func(s string) error {
		p, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
		rf.r.Percent, rf.set = &p, true
		return err
	})
	fs.Func("platforms", "", rf.strings(&rf.r.Platforms))
	fs.Func("nodes", "", rf.strings(&rf.r.Nodes))
	fs.Func("allow", "", rf.ids(&rf.r.AllowUsers))
	fs.Func("deny", "", rf.ids(&rf.r.DenyUsers))
	fs.Func("allow-keys", "", rf.strings(&rf.r.AllowAPIKeys))
	fs.Func("deny-keys", "", rf.strings(&rf.r.DenyAPIKeys))
	fs.Func("min-app-version", "", func(s string) error { rf.r.MinAppVersion, rf.set = s, true; return nil })
	fs.Func("max-app-version", "", func(s string) error { rf.r.MaxAppVersion, rf.set = s, true; return nil })
	fs.Func("rules", "", func(s string) error { rf.set = true; return json.Unmarshal([]byte(s), &rf.r) })
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		fmt.Fprint(stdout, switchUsage)
		return err
	}
	want := map[string]int{"list": 0, "get": 1, "history": 1, "set": 2}
	n, ok := want[sub]
	if !ok {
		fmt.Fprint(stdout, switchUsage)
		return fmt.Errorf("unknown subcommand %q (want list, get, set or history)", sub)
	}
	if len(pos) != n {
		return fmt.Errorf("switch %s takes %d argument(s), got %d", sub, n, len(pos))
	}
	// An explicit --mysql or --sqlite wins over TETHER_API_URL, and an
	// explicit --api over the database variables.
	explicit := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { explicit[f.Name] = true })
	if explicit["mysql"] || explicit["sqlite"] {
		*api = ""
	} else if explicit["api"] {
		*mysql, *sqlite = "", ""
	}
	var b switchBackend
	if *api != "" {
		if *key == "" {
			return errors.New("--key (or TETHER_ADMIN_KEY) is required with --api")
		}
		b = &restSwitches{base: strings.TrimSuffix(*api, "/"), key: *key}
	} else {
		db, err := openStore(ctx, *mysql, *sqlite)
		if err != nil {
			return err
		}
		defer db.Close()
		svc := &switches.Service{Store: store.NewSwitchStore(db), Registry: switches.NewRegistry(switches.Catalogue)}
		if *redisAddr != "" {
			rdb := redis.NewClient(&redis.Options{Addr: *redisAddr})
			defer rdb.Close()
			svc.Publisher = switches.NewRedisBus(rdb, *redisPrefix)
		}
		if _, err := svc.Reload(ctx); err != nil {
			return errors.New(tether.ErrorMessage(err))
		}
		b = &dbSwitches{svc: svc}
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	switch sub {
	case "list":
		list, err := b.list(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			return enc.Encode(list)
		}
		return printSwitches(stdout, list)
	case "get":
		v, err := b.get(ctx, pos[0])
		if err != nil {
			return err
		}
		return enc.Encode(v)
	case "history":
		h, err := b.history(ctx, pos[0], *limit)
		if err != nil {
			return err
		}
		return enc.Encode(h)
	}
	var rules *switches.Rules
	if rf.set {
		rules = &rf.r
	}
	rec, err := b.set(ctx, switches.Change{Name: pos[0], Value: pos[1], Rules: rules, Reason: *reason, Actor: cliActor(getenv)})
	if err != nil {
		return err
	}
	return enc.Encode(rec)
}

// parseInterspersed parses flags that may come after positional arguments
// (tether switch set presence off --reason ...) and returns the positionals.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos, args = append(pos, args[0]), args[1:]
	}
}

type ruleFlags struct {
	r   switches.Rules
	set bool
}

func (rf *ruleFlags) strings(dst *[]string) func(string) error {
	return func(s string) error {
		rf.set = true
		for _, v := range strings.Split(s, ",") {
			if v = strings.TrimSpace(v); v != "" {
				*dst = append(*dst, v)
			}
		}
		return nil
	}
}

func (rf *ruleFlags) ids(dst *[]int64) func(string) error {
	return func(s string) error {
		rf.set = true
		for _, v := range strings.Split(s, ",") {
			id, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return fmt.Errorf("%q is not a user id", v)
			}
			*dst = append(*dst, id)
		}
		return nil
	}
}

// cliActor names who changed a switch from the database side.
func cliActor(getenv func(string) string) string {
	u := getenv("USER")
	if u == "" {
		u = "unknown"
	}
	h, _ := os.Hostname()
	return "cli:" + u + "@" + h
}

func openStore(ctx context.Context, mysql, sqlite string) (*store.DB, error) {
	sc := store.Config{Driver: store.DriverMySQL, DSN: mysql}
	switch {
	case mysql != "" && sqlite != "":
		return nil, errors.New("give only one of --mysql and --sqlite")
	case sqlite != "":
		sc = store.Config{Driver: store.DriverSQLite, DSN: sqlite}
	case mysql == "":
		return nil, errors.New("one of --api, --mysql or --sqlite is required")
	}
	db, err := store.Open(ctx, sc, metrics.New())
	if err != nil {
		return nil, err
	}
	if err := db.CheckSchema(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("database schema is not the one this binary needs (run `tether migrate`): %w", err)
	}
	return db, nil
}

// switchView is a switch as the CLI prints it: the REST API's form.
type switchView struct {
	Name        string          `json:"name"`
	Kind        string          `json:"kind"`
	Value       string          `json:"value"`
	Default     string          `json:"default"`
	Description string          `json:"description"`
	Scope       string          `json:"scope"`
	Rules       *switches.Rules `json:"rules,omitempty"`
	Set         bool            `json:"set"`
	UpdatedAt   *time.Time      `json:"updated_at,omitempty"`
	UpdatedBy   string          `json:"updated_by,omitempty"`
}

type switchBackend interface {
	list(ctx context.Context) ([]switchView, error)
	get(ctx context.Context, name string) (switchView, error)
	set(ctx context.Context, c switches.Change) (switches.Record, error)
	history(ctx context.Context, name string, limit int) ([]switches.Record, error)
}

func printSwitches(w io.Writer, list []switchView) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tKIND\tVALUE\tDEFAULT\tRULES\tCHANGED BY")
	for _, s := range list {
		rules := "-"
		if s.Rules != nil {
			b, _ := json.Marshal(s.Rules)
			rules = string(b)
		}
		by := "-"
		if s.Set {
			by = s.UpdatedBy
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, s.Kind, s.Value, s.Default, rules, by)
	}
	return tw.Flush()
}

// dbSwitches works on the database directly.
type dbSwitches struct{ svc *switches.Service }

func viewOfCurrent(c switches.Current) switchView {
	v := switchView{Name: c.Name, Kind: string(c.Kind), Value: c.Value, Default: switches.Format(c.Kind, c.Default),
		Description: c.Description, Scope: c.Scope, Rules: c.Rules, Set: c.Set, UpdatedBy: c.UpdatedBy}
	if c.Set {
		t := c.UpdatedAt
		v.UpdatedAt = &t
	}
	return v
}

func (d *dbSwitches) list(context.Context) ([]switchView, error) {
	var out []switchView
	for _, c := range d.svc.Registry.List() {
		out = append(out, viewOfCurrent(c))
	}
	return out, nil
}

func (d *dbSwitches) get(_ context.Context, name string) (switchView, error) {
	c, ok := d.svc.Registry.Get(name)
	if !ok {
		return switchView{}, fmt.Errorf("no switch %q (tether switch list names them)", name)
	}
	return viewOfCurrent(c), nil
}

func (d *dbSwitches) set(ctx context.Context, c switches.Change) (switches.Record, error) {
	rec, err := d.svc.Set(ctx, c)
	if errors.Is(err, switches.ErrUnknown) {
		return rec, fmt.Errorf("no switch %q (tether switch list names them)", c.Name)
	}
	return rec, err
}

func (d *dbSwitches) history(ctx context.Context, name string, limit int) ([]switches.Record, error) {
	if _, ok := d.svc.Registry.Def(name); !ok {
		return nil, fmt.Errorf("no switch %q (tether switch list names them)", name)
	}
	return d.svc.Store.History(ctx, name, limit)
}

// restSwitches works through /v1/admin/switches.
type restSwitches struct{ base, key string }

func (r *restSwitches) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, r.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("X-API-Key", r.key)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if resp.StatusCode >= 300 {
		var p struct{ Detail, Code string }
		if json.Unmarshal(b, &p) == nil && p.Detail != "" {
			return fmt.Errorf("%s (%s, HTTP %d)", p.Detail, p.Code, resp.StatusCode)
		}
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return json.Unmarshal(b, out)
}

func (r *restSwitches) list(ctx context.Context) ([]switchView, error) {
	var out struct {
		Switches []switchView `json:"switches"`
	}
	err := r.do(ctx, http.MethodGet, "/v1/admin/switches", nil, &out)
	return out.Switches, err
}

func (r *restSwitches) get(ctx context.Context, name string) (switchView, error) {
	var v switchView
	return v, r.do(ctx, http.MethodGet, "/v1/admin/switches/"+url.PathEscape(name), nil, &v)
}

func (r *restSwitches) set(ctx context.Context, c switches.Change) (switches.Record, error) {
	var out struct {
		Change switches.Record `json:"change"`
	}
	in := map[string]any{"value": c.Value, "reason": c.Reason}
	if c.Rules != nil {
		in["rules"] = c.Rules
	}
	err := r.do(ctx, http.MethodPut, "/v1/admin/switches/"+url.PathEscape(c.Name), in, &out)
	return out.Change, err
}

func (r *restSwitches) history(ctx context.Context, name string, limit int) ([]switches.Record, error) {
	var out struct {
		Changes []switches.Record `json:"changes"`
	}
	err := r.do(ctx, http.MethodGet, "/v1/admin/switches/"+url.PathEscape(name)+"/history?limit="+strconv.Itoa(limit), nil, &out)
	return out.Changes, err
}
