package deployments

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tetherim/tether"
	"github.com/tetherim/tether/internal/config"
	"github.com/tetherim/tether/internal/stack"
	"github.com/tetherim/tether/internal/testenv"
	"github.com/tetherim/tether/push/client"
)

// promtool finds Prometheus's promtool, which deployments/local/services.sh
// installs (Debian's prometheus package) before the tests run.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: run deployments/local/services.sh (make test does) or apt-get install prometheus")
	}
	return p
}

func TestAlertRules_PassPromtoolCheckRules(t *testing.T) {
	out, err := exec.Command(promtool(t), "check", "rules", "prometheus/alerts.yml").CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
}

// metricRef finds the metric names an expression uses.
var metricRef = regexp.MustCompile(`\b(?:tether|go|process)_[a-z0-9_]+\b`)

// family maps a histogram's series to its family name.
func family(name string) string {
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suf); ok && (base == "tether_call_seconds" || base == "go_gc_duration_seconds") {
			return base
		}
	}
	return name
}

type dashboard struct {
	UID        string `json:"uid"`
	Title      string `json:"title"`
	Templating struct {
		List []struct {
			Name string `json:"name"`
			Type string `json:"type"`
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		Type    string `json:"type"`
		Title   string `json:"title"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile("grafana/tether.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("grafana/tether.json: %v", err)
	}
	return d
}

// exprs returns every PromQL expression of the dashboard and the alert rules.
func exprs(t *testing.T) map[string]string {
	t.Helper()
	all := map[string]string{}
	for _, p := range readDashboard(t).Panels {
		for i, tg := range p.Targets {
			all["dashboard panel "+p.Title+" #"+string(rune('A'+i))] = tg.Expr
		}
	}
	for _, d := range yamlDocs(t, "prometheus/alerts.yml") {
		for _, g := range d["groups"].([]any) {
			for _, r := range g.(map[string]any)["rules"].([]any) {
				rule := r.(map[string]any)
				all["alert "+rule["alert"].(string)] = rule["expr"].(string)
			}
		}
	}
	return all
}

func TestGrafanaDashboard_ShowsTheTableAsPanels(t *testing.T) {
	d := readDashboard(t)
	if d.UID == "" || d.Title == "" {
		t.Fatalf("dashboard lacks uid or title")
	}
	var vars []string
	for _, v := range d.Templating.List {
		vars = append(vars, v.Name)
	}
	if !slices.Contains(vars, "datasource") || !slices.Contains(vars, "instance") {
		t.Errorf("dashboard variables = %v, want datasource and instance", vars)
	}
	graphs := 0
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		graphs++
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			if !metricRef.MatchString(tg.Expr) && !strings.Contains(tg.Expr, "up{") {
				t.Errorf("panel %q: %q names no metric", p.Title, tg.Expr)
			}
		}
	}
	all := strings.Join(slices.Collect(func(yield func(string) bool) {
		for _, e := range exprs(t) {
			if !yield(e) {
				return
			}
		}
	}), "\n")
	// The talk's columns: cmd, cmdtime, htime, error, dependencies, sessions, runtime.
	for _, want := range []string{"tether_calls_total", "tether_call_seconds_bucket", "tether_timeouts_total", `class="server"`,
		`layer=~"redis|sql"`, "tether_push_sessions", "tether_bulkhead_busy", "tether_bulkhead_queued", "tether_dependency_up", "tether_webhook_backlog", "go_goroutines", "go_memstats_heap_inuse_bytes"} {
		if !strings.Contains(all, want) {
			t.Errorf("no panel or rule uses %s", want)
		}
	}
}

func TestPrometheusScrapeConfig_ScrapesAnnotatedTetherPodsAndLoadsTheAlerts(t *testing.T) {
	cfg := yamlDocs(t, "prometheus/prometheus.yml")[0]
	files, _ := cfg["rule_files"].([]any)
	if len(files) != 1 || files[0] != "alerts.yml" {
		t.Errorf("rule_files = %v, want [alerts.yml]", files)
	}
	jobs, _ := cfg["scrape_configs"].([]any)
	if len(jobs) != 1 {
		t.Fatalf("scrape_configs = %v, want one job", jobs)
	}
	job := jobs[0].(map[string]any)
	if !strings.HasPrefix(job["job_name"].(string), "tether") { // alerts.yml's TetherNodeDown matches job=~"tether.*"
		t.Errorf("job_name %v does not start with tether", job["job_name"])
	}
	sd, _ := job["kubernetes_sd_configs"].([]any)
	if len(sd) != 1 || sd[0].(map[string]any)["role"] != "pod" {
		t.Errorf("kubernetes_sd_configs = %v, want role pod", sd)
	}
	relabel := string(mustJSON(job["relabel_configs"]))
	for _, want := range []string{"__meta_kubernetes_pod_annotation_prometheus_io_scrape", "__meta_kubernetes_pod_annotation_prometheus_io_port",
		"__meta_kubernetes_pod_annotation_prometheus_io_path", "__meta_kubernetes_pod_label_app_kubernetes_io_part_of"} {
		if !strings.Contains(relabel, want) {
			t.Errorf("relabel_configs do not use %s", want)
		}
	}
	// Every Tether pod template carries what the job keeps: the annotations,
	// a port that is its admin port, and the part-of label.
	for _, f := range []string{"k8s/api.yaml", "k8s/push.yaml"} {
		found := false
		for _, d := range yamlDocs(t, f) {
			if d["kind"] != "Deployment" && d["kind"] != "StatefulSet" {
				continue
			}
			found = true
			tmpl := d["spec"].(map[string]any)["template"].(map[string]any)
			meta := tmpl["metadata"].(map[string]any)
			ann, _ := meta["annotations"].(map[string]any)
			labels, _ := meta["labels"].(map[string]any)
			if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/path"] != "/metrics" || labels["app.kubernetes.io/part-of"] != "tether" {
				t.Errorf("%s: pod template annotations %v labels %v", f, ann, labels)
			}
			admin := ""
			for _, c := range tmpl["spec"].(map[string]any)["containers"].([]any) {
				ports, _ := c.(map[string]any)["ports"].([]any)
				for _, p := range ports {
					if pm := p.(map[string]any); pm["name"] == "admin" {
						admin = fmt.Sprint(pm["containerPort"])
					}
				}
			}
			if admin == "" || ann["prometheus.io/port"] != admin {
				t.Errorf("%s: prometheus.io/port %v, admin port %q", f, ann["prometheus.io/port"], admin)
			}
		}
		if !found {
			t.Errorf("%s: no Deployment or StatefulSet", f)
		}
	}
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// A running dev node (API and push in one process, after some traffic):
// its exposition passes `promtool check metrics`, and every metric the
// dashboard and the alerts name is one it can expose, so they cannot drift.
func TestMonitoring_RulesAndDashboardNameMetricsARunningNodeExposes(t *testing.T) {
	tool := promtool(t)
	cfg := config.DefaultDev()
	cfg.HTTPAddr, cfg.PushAddr, cfg.WSAddr, cfg.AdminAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	// With the webhook on, its backlog gauge is exposed too; nothing is sent.
	cfg.Webhook.URL, cfg.Webhook.Secret = "http://127.0.0.1:9/never", "test-secret"
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	d, err := stack.StartDev(context.Background(), cfg, stack.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = d.Stop(ctx)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	base := "http://" + d.HTTPAddr
	if _, err := client.NewAPI(base, nil).Register(ctx, "alice", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	alice := client.New(client.Config{APIBase: base, PushAddr: d.PushAddr, Username: "alice", Password: "correct horse battery",
		DeviceID: "phone", Handler: func(tether.Entry) {}, Logger: quiet})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- alice.Run(runCtx) }()
	defer func() { stop(); <-done }()
	testenv.Eventually(t, 10*time.Second, func() bool { return d.Sessions() == 1 }, "alice's session")

	resp, err := http.Get("http://" + d.AdminAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	exposition, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	check := exec.Command(tool, "check", "metrics")
	check.Stdin = bytes.NewReader(exposition)
	if out, err := check.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}

	known := d.Metrics().Families()
	for where, expr := range exprs(t) {
		for _, name := range metricRef.FindAllString(expr, -1) {
			if !slices.Contains(known, family(name)) {
				t.Errorf("%s uses %s, which the node does not expose", where, name)
			}
		}
	}
	// The families that have series must be in the exposition itself.
	for _, name := range []string{"tether_calls_total", "tether_push_sessions", "tether_call_seconds_bucket", "go_goroutines"} {
		if !bytes.Contains(exposition, []byte("\n"+name)) {
			t.Errorf("exposition lacks %s", name)
		}
	}
}
