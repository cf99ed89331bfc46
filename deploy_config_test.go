package main

// The configurations and monitoring files under deploy/ against the real
// program: check-config accepts each configuration with the environment
// its example declares, and every metric the dashboard and the alerts
// query exists once people have logged in.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"wxcas/metrics/metricstest"
)

// fakeEnv is a made-up value for each variable a deploy example declares,
// of the shape check-config expects.
func fakeEnv(name string) string {
	switch {
	case name == "WXCAS_SECRET_KEY":
		return strings.Repeat("k", 48)
	case name == "WXCAS_MYSQL_DSN":
		return "wxcas:fake-password@tcp(mysql.example.internal:3306)/wxcas"
	case name == "WXCAS_PUBLIC_URL":
		return "https://login.example.edu"
	case strings.HasSuffix(name, "_APPID"):
		// One of its own per app: two apps may not share an appid.
		sum := sha256.Sum256([]byte(name))
		return "wx" + hex.EncodeToString(sum[:8])
	case strings.HasSuffix(name, "_SDK_APP_ID"), strings.HasSuffix(name, "_TEMPLATE_ID"):
		return "1400000000"
	}
	return "fake-" + strings.ToLower(name) + "-0123456789abcdef"
}

func TestDeployConfigsPassCheckConfig(t *testing.T) {
	// The systemd example: its environment file's variables.
	env, err := os.ReadFile("deploy/systemd/wxcas.env.example")
	require.NoError(t, err)
	var systemdVars []string
	for _, line := range strings.Split(string(env), "\n") {
		if k, _, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			systemdVars = append(systemdVars, k)
		}
	}
	// The Kubernetes example: the ConfigMap's config.yaml, the Secret's keys.
	var cm struct{ Data map[string]string }
	var secret struct {
		StringData map[string]string `yaml:"stringData"`
	}
	for path, into := range map[string]any{"deploy/k8s/configmap.yaml": &cm, "deploy/k8s/secret.example.yaml": &secret} {
		raw, err := os.ReadFile(path)
		require.NoError(t, err)
		require.NoError(t, yaml.Unmarshal(raw, into), path)
	}
	k8sConfig := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(k8sConfig, []byte(cm.Data["config.yaml"]), 0o600))
	var k8sVars []string
	for k := range secret.StringData {
		k8sVars = append(k8sVars, k)
	}

	tests := []struct {
		name, config string
		vars         []string
	}{
		{"systemd, SQLite in the state directory", "deploy/systemd/config.yaml", systemdVars},
		{"Kubernetes, MySQL", k8sConfig, k8sVars},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.NotEmpty(t, tc.vars)
			for _, v := range tc.vars {
				t.Setenv(v, fakeEnv(v))
			}
			t.Setenv("STATE_DIRECTORY", t.TempDir()) // systemd's, for StateDirectory=
			var out, errb bytes.Buffer
			code := run(context.Background(), []string{"check-config", "-config", tc.config}, &out, &errb)
			require.Equal(t, exitOK, code, "stdout=%s stderr=%s", out.String(), errb.String())
			require.Contains(t, out.String(), "configuration is valid")
		})
	}
	t.Run("a variable missing is a problem", func(t *testing.T) {
		for _, v := range systemdVars {
			t.Setenv(v, fakeEnv(v))
		}
		t.Setenv("WXCAS_SECRET_KEY", "")
		var out, errb bytes.Buffer
		require.Equal(t, exitBadInput, run(context.Background(), []string{"check-config", "-config", "deploy/systemd/config.yaml"}, &out, &errb))
		require.Contains(t, errb.String(), "secrets.key")
	})
}

// queriedMetrics are the wxcas metric names a file's queries use, as the
// registry names them (a histogram's _bucket, _sum and _count are its
// own name).
func queriedMetrics(t *testing.T, path string) []string {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	seen := map[string]bool{}
	var names []string
	for _, n := range regexp.MustCompile(`\bwxcas_[a-z0-9_]+`).FindAllString(string(raw), -1) {
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if strings.HasSuffix(n, "_seconds"+suffix) {
				n = strings.TrimSuffix(n, suffix)
			}
		}
		if !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	return names
}

func TestDashboardAndAlertsQueryRealMetrics(t *testing.T) {
	env := startFlowEnv(t, "")
	// A first login (a wrong code, then the right one) and a return: every
	// metric has a series.
	b := env.browser("")
	code := b.post(b.get(b.scan(b.start(), "pia")), "/login/phone", url.Values{"phone": {"13500135000"}})
	right := env.smsCode("+8613500135000")
	b.post(code, "/login/code", url.Values{"code": {map[bool]string{true: "111111", false: "000000"}[right == "000000"]}})
	ticketOf(t, b.post(code, "/login/code", url.Values{"code": {right}}))
	b = env.browser("")
	ticketOf(t, b.get(b.scan(b.start(), "pia")))

	have := metricstest.Names(t, env.a.metrics.Registry)
	for _, path := range []string{"deploy/grafana/wxcas-dashboard.json", "deploy/prometheus/alerts.yml"} {
		names := queriedMetrics(t, path)
		require.NotEmpty(t, names, path)
		for _, n := range names {
			require.True(t, have[n], "%s queries %s, which wxcas does not export", path, n)
		}
	}
}
