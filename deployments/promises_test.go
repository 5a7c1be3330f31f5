package deployments

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// What issue 14 asked of the shipped deployments, each checked in the files.

func TestCompose_NoPasswordWrittenInTheFile(t *testing.T) {
	b, err := os.ReadFile("compose/docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	// ${VAR:-default} and ${VAR-default} would put a usable secret in the file.
	if m := regexp.MustCompile(`\$\{[A-Z0-9_]*(PASSWORD|KEY|SECRET)[A-Z0-9_]*:?-[^}]*\}`).FindString(string(b)); m != "" {
		t.Errorf("compose has a default secret: %s", m)
	}
	d := yamlDocs(t, "compose/docker-compose.yml")[0]
	if _, old := d["version"]; old {
		t.Error("compose has the obsolete top-level version key")
	}
	env := d["services"].(map[string]any)["mariadb"].(map[string]any)["environment"].(map[string]any)
	for _, k := range []string{"MARIADB_PASSWORD", "MARIADB_ROOT_PASSWORD"} {
		if v, _ := env[k].(string); !strings.Contains(v, ":?") {
			t.Errorf("mariadb %s = %q, want a required variable (${X:?...})", k, v)
		}
	}
}

func TestCompose_PushNodesExposeWebSocketAndCanHotRestart(t *testing.T) {
	d := yamlDocs(t, "compose/docker-compose.yml")[0]
	for _, name := range []string{"push-1", "push-2"} {
		s := d["services"].(map[string]any)[name].(map[string]any)
		env := s["environment"].(map[string]any)
		if env["TETHER_WS_ADDR"] != ":7071" || !strings.HasPrefix(env["TETHER_ADVERTISE_WS"].(string), "ws://") {
			t.Errorf("%s: no WebSocket listener advertised: %v", name, env)
		}
		ports := ""
		for _, p := range s["ports"].([]any) {
			ports += p.(string) + " "
		}
		if !strings.Contains(ports, ":7071 ") {
			t.Errorf("%s: ports %q do not publish the WebSocket listener", name, ports)
		}
		if s["read_only"] != true || !strings.Contains(strings.Join(anyStrings(s["tmpfs"]), " "), "/tmp") {
			t.Errorf("%s: want a read-only root with a writable /tmp (the hot-restart socket)", name)
		}
	}
}

func TestDockerfile_StartsTetherInitSoAHotRestartKeepsTheContainer(t *testing.T) {
	b, err := os.ReadFile("docker/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `ENTRYPOINT ["/usr/local/bin/tether", "init", "--", "/usr/local/bin/tether"]`) {
		t.Error("the image's entrypoint is not tether init: a hot restart would end the container")
	}
	if !strings.Contains(string(b), "EXPOSE 8080 7070 7071") {
		t.Error("the image does not expose the WebSocket port")
	}
}

func TestKubernetes_PDBSpreadStartupProbesWebSocketAndAWritableTmp(t *testing.T) {
	pdbs := map[string]bool{}
	for _, f := range []string{"k8s/api.yaml", "k8s/push.yaml"} {
		for _, d := range yamlDocs(t, f) {
			switch d["kind"] {
			case "PodDisruptionBudget":
				sel := d["spec"].(map[string]any)["selector"].(map[string]any)["matchLabels"].(map[string]any)
				pdbs[sel["app.kubernetes.io/name"].(string)] = true
			case "Deployment", "StatefulSet":
				spec := d["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)
				if tsc, _ := spec["topologySpreadConstraints"].([]any); len(tsc) == 0 {
					t.Errorf("%s: no topology spread", f)
				}
				c := spec["containers"].([]any)[0].(map[string]any)
				if _, ok := c["startupProbe"]; !ok {
					t.Errorf("%s: no startup probe", f)
				}
				if d["kind"] == "StatefulSet" {
					mounts := ""
					for _, m := range c["volumeMounts"].([]any) {
						mounts += m.(map[string]any)["mountPath"].(string) + " "
					}
					if !strings.Contains(mounts, "/tmp ") {
						t.Errorf("%s: no writable /tmp for the hot-restart socket (mounts %s)", f, mounts)
					}
					ws := false
					for _, p := range c["ports"].([]any) {
						ws = ws || p.(map[string]any)["containerPort"] == uint64(7071)
					}
					if !ws {
						t.Errorf("%s: the WebSocket port is not exposed", f)
					}
				}
			}
		}
	}
	if !pdbs["tether-api"] || !pdbs["tether-push"] {
		t.Errorf("PodDisruptionBudgets for %v, want tether-api and tether-push", pdbs)
	}
}

func anyStrings(v any) []string {
	var out []string
	if l, ok := v.([]any); ok {
		for _, x := range l {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
	}
	return out
}
