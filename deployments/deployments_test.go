// Package deployments holds the Docker, Compose, Kubernetes and local
// deployment files. Its tests check what can be checked without a container
// engine: the YAML parses, the manifests have the shape the README promises,
// and every TETHER_* variable they set is a real setting.
package deployments

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/tetherim/tether/internal/browser"
	"github.com/tetherim/tether/internal/config"
)

func yamlDocs(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var docs []map[string]any
	for {
		var d map[string]any
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if d != nil {
			docs = append(docs, d)
		}
	}
	if len(docs) == 0 {
		t.Fatalf("%s: no YAML documents", path)
	}
	return docs
}

func TestKubernetesManifests_ParseAndAreNamespaceFree(t *testing.T) {
	files, err := filepath.Glob("k8s/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	kinds := map[string]bool{}
	for _, f := range files {
		for _, d := range yamlDocs(t, f) {
			kind, _ := d["kind"].(string)
			meta, _ := d["metadata"].(map[string]any)
			if d["apiVersion"] == nil || kind == "" || meta["name"] == nil {
				t.Errorf("%s: a document lacks apiVersion, kind or metadata.name", f)
			}
			if _, ok := meta["namespace"]; ok {
				t.Errorf("%s: %s sets a namespace; manifests must be namespace-free", f, kind)
			}
			kinds[kind] = true
		}
	}
	for _, k := range []string{"Deployment", "StatefulSet", "Service", "Job", "ConfigMap", "Secret", "HorizontalPodAutoscaler"} {
		if !kinds[k] {
			t.Errorf("no %s among the manifests", k)
		}
	}
}

func TestKubernetesPods_ProbeTheAdminPort(t *testing.T) {
	for _, f := range []string{"k8s/api.yaml", "k8s/push.yaml"} {
		for _, d := range yamlDocs(t, f) {
			if k := d["kind"]; k != "Deployment" && k != "StatefulSet" {
				continue
			}
			spec := d["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)
			for _, c := range spec["containers"].([]any) {
				c := c.(map[string]any)
				for probe, path := range map[string]string{"readinessProbe": "/readyz", "livenessProbe": "/healthz"} {
					p, _ := c[probe].(map[string]any)
					hg, _ := p["httpGet"].(map[string]any)
					if hg["path"] != path || hg["port"] != "admin" {
						t.Errorf("%s: %s %s = %v, want %s on the admin port", f, c["name"], probe, p, path)
					}
				}
			}
		}
	}
}

func TestCompose_HasEveryServiceWithHealthChecks(t *testing.T) {
	d := yamlDocs(t, "compose/docker-compose.yml")[0]
	services, _ := d["services"].(map[string]any)
	for _, name := range []string{"mariadb", "redis", "migrate", "api", "push-1", "push-2"} {
		s, ok := services[name].(map[string]any)
		if !ok {
			t.Errorf("compose lacks service %s", name)
			continue
		}
		if _, ok := s["healthcheck"]; !ok && name != "migrate" {
			t.Errorf("service %s has no healthcheck", name)
		}
	}
}

// Redis is a weak dependency of the API (README, Monitoring): its container
// must not wait for Redis to be healthy, nor its probes check more than
// /readyz (database and schema) and /healthz.
func TestCompose_APIDoesNotWaitForRedisHealth(t *testing.T) {
	d := yamlDocs(t, "compose/docker-compose.yml")[0]
	api := d["services"].(map[string]any)["api"].(map[string]any)
	deps, _ := api["depends_on"].(map[string]any)
	if r, ok := deps["redis"].(map[string]any); ok && r["condition"] == "service_healthy" {
		t.Error("compose: the api waits for redis to be healthy; Redis is a weak dependency of the API")
	}
	hc, _ := api["healthcheck"].(map[string]any)
	test, _ := hc["test"].([]any)
	if len(test) == 0 || !strings.HasSuffix(test[len(test)-1].(string), ":9090/readyz") {
		t.Errorf("compose: api healthcheck = %v, want the admin /readyz", test)
	}
}

func TestDockerfile_BuildsStaticAndRunsAsNonRoot(t *testing.T) {
	b, err := os.ReadFile("docker/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if !strings.Contains(s, "CGO_ENABLED=0") || strings.Count(s, "FROM ") < 2 {
		t.Error("Dockerfile is not a multi-stage static build")
	}
	if !regexp.MustCompile(`(?m)^USER [1-9][0-9]*`).MatchString(s) {
		t.Error("Dockerfile does not switch to a non-root numeric user")
	}
}

// Every TETHER_* name a deployment file sets must be a setting of some
// subcommand, or a typo would be silently ignored.
func TestDeployments_SetOnlyRealSettings(t *testing.T) {
	known := map[string]bool{}
	for _, s := range config.All() {
		for _, st := range s.Settings() {
			known[st.Env] = true
		}
	}
	// Inputs of the compose file and scripts (and the browser tests' Chromium,
	// which services.sh leaves alone when it is set), not settings of the binary.
	for _, n := range []string{"TETHER_DB_PASSWORD", "TETHER_DB_ROOT_PASSWORD", "TETHER_LOCAL_DB", browser.EnvChromium} {
		known[n] = true
	}
	re := regexp.MustCompile(`TETHER_[A-Z0-9_]+`)
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(path, "_test.go") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, n := range re.FindAllString(string(b), -1) {
			if !known[n] {
				t.Errorf("%s: %s is not a tether setting", path, n)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
