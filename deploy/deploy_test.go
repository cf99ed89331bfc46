package deploy_test

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// tool finds a command the test needs. Missing, the test is skipped on a
// developer's machine, and fails in CI (CI=true), where
// scripts/test-deps.sh installs it.
func tool(t *testing.T, name, pkg string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is missing: scripts/test-deps.sh installs it (Debian package %s)", name, pkg)
	}
	t.Skipf("%s is missing (Debian package %s; scripts/test-deps.sh installs it)", name, pkg)
	return ""
}

func runTool(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s %s:\n%s", name, strings.Join(args, " "), out)
	return string(out)
}

func TestAlertRules(t *testing.T) {
	promtool := tool(t, "promtool", "prometheus")
	out := runTool(t, "prometheus", promtool, "check", "rules", "alerts.yml")
	require.Contains(t, out, "SUCCESS")
	out = runTool(t, "prometheus", promtool, "test", "rules", "alerts_test.yml")
	require.Contains(t, out, "SUCCESS")

	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert       string
				Expr        string
				Labels      map[string]string
				Annotations map[string]string
			}
		}
	}
	readYAML(t, "prometheus/alerts.yml", &rules)
	tested, err := os.ReadFile("prometheus/alerts_test.yml")
	require.NoError(t, err)
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			n++
			require.Contains(t, []string{"warning", "critical"}, r.Labels["severity"], r.Alert)
			for _, a := range []string{"summary", "description", "runbook"} {
				require.NotEmpty(t, r.Annotations[a], "%s has no %s", r.Alert, a)
			}
			require.Contains(t, string(tested), "alertname: "+r.Alert+"\n", "%s has a unit test in alerts_test.yml", r.Alert)
		}
	}
	require.GreaterOrEqual(t, n, 8)
}

// The dashboard's queries are PromQL once Grafana's variables are filled
// in: promtool parses each, as a recording rule.
func TestDashboard(t *testing.T) {
	var d struct {
		UID        string
		Templating struct{ List []struct{ Name string } }
		Panels     []struct {
			ID      int
			Type    string
			Title   string
			GridPos struct{ W, H int }
			Targets []struct{ Expr string }
		}
	}
	raw, err := os.ReadFile("grafana/wxcas-dashboard.json")
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &d))
	require.NotEmpty(t, d.UID)
	var vars []string
	for _, v := range d.Templating.List {
		vars = append(vars, v.Name)
	}
	require.ElementsMatch(t, []string{"datasource", "channel", "service"}, vars)

	ids := map[int]bool{}
	var exprs []string
	for _, p := range d.Panels {
		require.False(t, ids[p.ID], "panel id %d twice", p.ID)
		ids[p.ID] = true
		require.Positive(t, p.GridPos.W*p.GridPos.H, p.Title)
		if p.Type == "row" {
			continue
		}
		require.NotEmpty(t, p.Targets, p.Title)
		for _, tg := range p.Targets {
			require.NotEmpty(t, tg.Expr, p.Title)
			exprs = append(exprs, tg.Expr)
		}
	}
	for _, want := range []string{"wxcas_login_funnel_steps_total", "wxcas_login_events_total", "wxcas_sms_sends_total",
		"wxcas_sms_budget_used", "wxcas_wechat_calls_total", "wxcas_http_request_duration_seconds_bucket"} {
		require.True(t, slices.ContainsFunc(exprs, func(e string) bool { return strings.Contains(e, want) }), "the dashboard shows %s", want)
	}

	promtool := tool(t, "promtool", "prometheus")
	grafana := strings.NewReplacer("$__rate_interval", "5m", "$__range", "1h", "$channel", ".*", "$service", ".*")
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for i, e := range exprs {
		q, err := json.Marshal(grafana.Replace(e)) // a JSON string is a YAML string
		require.NoError(t, err)
		fmt.Fprintf(&rules, "      - record: dashboard:query%d\n        expr: %s\n", i, q)
	}
	path := filepath.Join(t.TempDir(), "dashboard-rules.yml")
	require.NoError(t, os.WriteFile(path, []byte(rules.String()), 0o600))
	runTool(t, ".", promtool, "check", "rules", path)
}

func TestSystemdUnit(t *testing.T) {
	analyze := tool(t, "systemd-analyze", "systemd")
	unit, err := os.ReadFile("systemd/wxcas.service")
	require.NoError(t, err)
	for _, want := range []string{
		"DynamicUser=yes", "StateDirectory=wxcas", "EnvironmentFile=/etc/wxcas/wxcas.env", "ProtectSystem=strict",
		"NoNewPrivileges=yes", "PrivateTmp=yes", "ProtectHome=yes", "CapabilityBoundingSet=\n", "Restart=on-failure",
	} {
		require.Contains(t, string(unit), want)
	}
	// verify checks that the programs exist: the unit's, pointed at an
	// executable stand-in of the same name.
	dir := t.TempDir()
	bin := filepath.Join(dir, "wxcas")
	require.NoError(t, os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755))
	path := filepath.Join(dir, "wxcas.service")
	require.NoError(t, os.WriteFile(path, bytes.ReplaceAll(unit, []byte("/usr/local/bin/wxcas"), []byte(bin)), 0o644))
	// It warns of what it ignores (an unknown key, a bad value) but
	// exits 0: a warning fails too.
	require.Empty(t, strings.TrimSpace(runTool(t, dir, analyze, "verify", path)))

	// The exposure score, offline (no running systemd needed).
	cmd := exec.Command(analyze, "security", "--offline=yes", path)
	out, err := cmd.CombinedOutput()
	if err != nil && strings.Contains(string(out), "offline") {
		t.Skipf("this systemd-analyze cannot score offline: %s", out)
	}
	require.NoError(t, err, "%s", out)
	m := regexp.MustCompile(`Overall exposure level for wxcas.service: ([0-9.]+)`).FindStringSubmatch(string(out))
	require.NotNil(t, m, "%s", out)
	var score float64
	_, err = fmt.Sscan(m[1], &score)
	require.NoError(t, err)
	require.LessOrEqual(t, score, 2.0, "exposure %s (0 is best, 10 unprotected):\n%s", m[1], out)
}

func TestDockerfile(t *testing.T) {
	raw, err := os.ReadFile("docker/Dockerfile")
	require.NoError(t, err)
	var from []string
	user := ""
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 2 && f[0] == "FROM":
			from = append(from, f[1])
		case len(f) == 2 && f[0] == "USER":
			user = f[1]
		}
	}
	require.Len(t, from, 2, "a build stage and the image")
	require.Equal(t, "scratch", from[1], "nothing in the image but what is copied in")
	require.Equal(t, "65532:65532", user, "a numeric non-root user (Kubernetes' runAsNonRoot checks it)")
	require.Contains(t, string(raw), "CGO_ENABLED=0")
	require.Contains(t, string(raw), "ca-certificates.crt", "TLS to WeChat and Tencent needs the roots")
	require.NotRegexp(t, `(?i)goproxy|https?://`, string(raw), "no registry or proxy named")
}

// The binary is pure Go: built without cgo it links statically, so the
// scratch image runs it.
func TestStaticBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds wxcas")
	}
	bin := filepath.Join(t.TempDir(), "wxcas")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, ".")
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	f, err := elf.Open(bin)
	require.NoError(t, err)
	defer f.Close()
	for _, p := range f.Progs {
		require.NotEqual(t, elf.PT_INTERP, p.Type, "a dynamic loader is asked for")
		require.NotEqual(t, elf.PT_DYNAMIC, p.Type, "dynamically linked")
	}
	libs, err := f.ImportedLibraries()
	if !errors.Is(err, elf.ErrNoSymbols) {
		require.NoError(t, err)
	}
	require.Empty(t, libs)
}

// k8sDoc is the part of a Kubernetes object the checks read.
type k8sDoc struct {
	Kind     string
	Metadata struct {
		Name   string
		Labels map[string]string
	}
	Data       map[string]string
	StringData map[string]string `yaml:"stringData"`
	Spec       struct {
		Replicas int
		Selector selector
		Ports    []struct {
			Name       string
			TargetPort string `yaml:"targetPort"`
		}
		Template struct {
			Metadata struct {
				Labels      map[string]string
				Annotations map[string]string
			}
			Spec struct {
				SecurityContext struct {
					RunAsNonRoot *bool `yaml:"runAsNonRoot"`
					RunAsUser    int   `yaml:"runAsUser"`
				} `yaml:"securityContext"`
				Containers []container
				Volumes    []struct {
					Name      string
					ConfigMap struct{ Name string } `yaml:"configMap"`
				}
			}
		}
	}
}

// selector is a Deployment's {matchLabels: ...} or a Service's plain map.
type selector map[string]string

func (s *selector) UnmarshalYAML(n *yaml.Node) error {
	var m struct {
		MatchLabels map[string]string `yaml:"matchLabels"`
	}
	if err := n.Decode(&m); err == nil && m.MatchLabels != nil {
		*s = m.MatchLabels
		return nil
	}
	return n.Decode((*map[string]string)(s))
}

type probe struct {
	HTTPGet struct {
		Path string
		Port string
	} `yaml:"httpGet"`
}

type container struct {
	Args  []string
	Ports []struct {
		Name          string
		ContainerPort int `yaml:"containerPort"`
	}
	Env []struct {
		Name      string
		Value     *string
		ValueFrom map[string]any `yaml:"valueFrom"`
	}
	EnvFrom []struct {
		SecretRef    *struct{ Name string } `yaml:"secretRef"`
		ConfigMapRef *struct{ Name string } `yaml:"configMapRef"`
	} `yaml:"envFrom"`
	LivenessProbe  *probe `yaml:"livenessProbe"`
	ReadinessProbe *probe `yaml:"readinessProbe"`
	Resources      struct {
		Requests map[string]string
		Limits   map[string]string
	}
	SecurityContext struct {
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
		Capabilities             struct{ Drop []string }
	} `yaml:"securityContext"`
	VolumeMounts []struct {
		Name      string
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
}

func readYAML(t *testing.T, path string, into any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(raw, into), path)
}

// k8sObjects reads every object of the Kubernetes example by kind.
func k8sObjects(t *testing.T) map[string]k8sDoc {
	t.Helper()
	files, err := filepath.Glob("k8s/*.yaml")
	require.NoError(t, err)
	objects := map[string]k8sDoc{}
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		dec := yaml.NewDecoder(bytes.NewReader(raw))
		for {
			var d k8sDoc
			if err := dec.Decode(&d); err != nil {
				require.ErrorContains(t, err, "EOF", f)
				break
			}
			objects[d.Kind] = d
		}
	}
	return objects
}

var (
	configVar = regexp.MustCompile(`\$\{([A-Z0-9_]+)\}`)
	// secretKey finds the configuration's keys that hold secrets.
	secretKey = regexp.MustCompile(`(?m)^[\s-]*(secret|secret_id|secret_key|key|dsn|token|encoding_aes_key):[ \t]*(.*)$`)
)

func TestKubernetes(t *testing.T) {
	objs := k8sObjects(t)
	dep, cm, secret, svc := objs["Deployment"], objs["ConfigMap"], objs["Secret"], objs["Service"]
	require.Equal(t, 2, dep.Spec.Replicas)
	require.NotEmpty(t, dep.Spec.Selector)
	require.Equal(t, map[string]string(dep.Spec.Selector), dep.Spec.Template.Metadata.Labels)
	require.Equal(t, dep.Spec.Selector, svc.Spec.Selector, "the Service selects the pods")

	pod := dep.Spec.Template.Spec
	require.NotNil(t, pod.SecurityContext.RunAsNonRoot)
	require.True(t, *pod.SecurityContext.RunAsNonRoot)
	require.Equal(t, 65532, pod.SecurityContext.RunAsUser, "the image's USER")
	require.Len(t, pod.Containers, 1)
	c := pod.Containers[0]
	require.NotNil(t, c.LivenessProbe)
	require.NotNil(t, c.ReadinessProbe)
	require.Equal(t, "/healthz", c.LivenessProbe.HTTPGet.Path)
	require.Equal(t, "/readyz", c.ReadinessProbe.HTTPGet.Path)
	require.Equal(t, "http", c.LivenessProbe.HTTPGet.Port)
	require.Equal(t, "http", c.ReadinessProbe.HTTPGet.Port)
	require.Equal(t, "http", svc.Spec.Ports[0].TargetPort)
	require.NotEmpty(t, c.Resources.Requests["cpu"])
	require.NotEmpty(t, c.Resources.Requests["memory"])
	require.NotEmpty(t, c.Resources.Limits["memory"])
	sc := c.SecurityContext
	require.True(t, sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem)
	require.True(t, sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation)
	require.Equal(t, []string{"ALL"}, sc.Capabilities.Drop)

	// The configuration: MySQL, its ports the container's.
	var cfg struct {
		Server   struct{ Listen string }
		Database struct{ Driver, DSN string }
		Metrics  struct{ Listen string }
	}
	raw := cm.Data["config.yaml"]
	require.NoError(t, yaml.Unmarshal([]byte(raw), &cfg))
	require.Equal(t, "mysql", cfg.Database.Driver)
	require.Equal(t, "${WXCAS_MYSQL_DSN}", cfg.Database.DSN)
	ports := map[string]int{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	require.True(t, strings.HasSuffix(cfg.Server.Listen, fmt.Sprintf(":%d", ports["http"])), cfg.Server.Listen)
	require.True(t, strings.HasSuffix(cfg.Metrics.Listen, fmt.Sprintf(":%d", ports["metrics"])), cfg.Metrics.Listen)
	require.Equal(t, fmt.Sprint(ports["metrics"]), dep.Spec.Template.Metadata.Annotations["prometheus.io/port"])
	require.Equal(t, cm.Metadata.Name, pod.Volumes[0].ConfigMap.Name)
	require.Equal(t, "/etc/wxcas", c.VolumeMounts[0].MountPath)
	require.Contains(t, c.Args, "/etc/wxcas/config.yaml")

	// Secrets: only from the Secret, as environment, and every variable
	// the configuration reads is in it.
	require.Len(t, c.EnvFrom, 1)
	require.NotNil(t, c.EnvFrom[0].SecretRef)
	require.Equal(t, secret.Metadata.Name, c.EnvFrom[0].SecretRef.Name)
	for _, e := range c.Env {
		require.Nil(t, e.Value, "%s: no value written in the Deployment", e.Name)
	}
	for _, m := range configVar.FindAllStringSubmatch(raw, -1) {
		require.Contains(t, secret.StringData, m[1], "the Secret provides ${%s}", m[1])
	}
	for k, v := range secret.StringData {
		require.Contains(t, v, "CHANGE-ME", "%s is a placeholder", k)
	}
	secrets := secretKey.FindAllStringSubmatch(raw, -1)
	require.Len(t, secrets, 6, "the master key, the DSN, two app secrets and the two Tencent keys")
	for _, m := range secrets {
		require.Regexp(t, `^\$\{[A-Z0-9_]+\}$`, m[2], "%s comes from the environment", m[1])
	}

	if kubectl, err := exec.LookPath("kubectl"); err == nil {
		// Offline: kustomize builds the objects without a cluster (apply
		// --dry-run=client still asks a server for its API groups).
		out := runTool(t, "k8s", kubectl, "kustomize", ".")
		for _, kind := range []string{"ConfigMap", "Deployment", "PodDisruptionBudget", "Service"} {
			require.Contains(t, out, "kind: "+kind)
		}
	}
}

// The systemd example's environment file names every variable its
// configuration reads (but STATE_DIRECTORY, which systemd sets).
func TestSystemdEnvironmentFile(t *testing.T) {
	cfg, err := os.ReadFile("systemd/config.yaml")
	require.NoError(t, err)
	env, err := os.ReadFile("systemd/wxcas.env.example")
	require.NoError(t, err)
	names := map[string]bool{}
	for _, line := range strings.Split(string(env), "\n") {
		if k, _, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			names[k] = true
		}
	}
	for _, m := range configVar.FindAllStringSubmatch(string(cfg), -1) {
		require.True(t, names[m[1]], "wxcas.env.example sets %s", m[1])
	}
	secrets := secretKey.FindAllStringSubmatch(string(cfg), -1)
	require.NotEmpty(t, secrets)
	for _, m := range secrets {
		require.Regexp(t, `^\$\{[A-Z0-9_]+\}$`, m[2], "%s comes from the environment", m[1])
	}
	require.Contains(t, string(cfg), "${STATE_DIRECTORY:-/var/lib/wxcas}")
}
