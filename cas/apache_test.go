package cas_test

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/cas"
	"wxcas/store/storetest"

	"wxcas/logx"
)

const (
	apacheBin    = "/usr/sbin/apache2"
	apacheMods   = "/usr/lib/apache2/modules"
	modAuthCAS   = apacheMods + "/mod_auth_cas.so"
	apacheConfig = `# Written by wxcas's cas tests.
ServerRoot "{{dir}}"
DefaultRuntimeDir "{{dir}}/run"
PidFile "{{dir}}/run/httpd.pid"
Listen 127.0.0.1:{{port}}
ServerName 127.0.0.1
ErrorLog "{{dir}}/error.log"
LogLevel warn auth_cas:debug
{{user}}
LoadModule mpm_prefork_module {{mods}}/mod_mpm_prefork.so
LoadModule authn_core_module {{mods}}/mod_authn_core.so
LoadModule authz_core_module {{mods}}/mod_authz_core.so
LoadModule authz_user_module {{mods}}/mod_authz_user.so
LoadModule alias_module {{mods}}/mod_alias.so
LoadModule cgi_module {{mods}}/mod_cgi.so
LoadModule auth_cas_module {{mods}}/mod_auth_cas.so
StartServers 1
MinSpareServers 1
MaxSpareServers 2

CASDebug On
CASCookiePath "{{dir}}/cas-cache/"
CASLoginURL {{cas}}/cas/login
{{validate}}
CASSSOEnabled On
CASAttributePrefix CAS-
CASAttributeDelimiter "|"

<Directory />
  Require all denied
</Directory>
ScriptAlias /app/ "{{dir}}/cgi/"
<Directory "{{dir}}/cgi">
  Options +ExecCGI
  Require all granted
</Directory>
<Location /app/>
  AuthType CAS
  CASAuthNHeader CAS-User
  Require valid-user
</Location>
`
	whoamiCGI = `#!/bin/sh
printf 'Content-Type: text/plain\r\n\r\n'
echo "REMOTE_USER=$REMOTE_USER"
env | grep '^HTTP_CAS_' | sort
`
)

// TestApacheModAuthCAS puts Apache httpd with Debian's mod_auth_cas in front
// of a CGI page, pointed at wxcas: login → ticket → validation → the page
// sees the user and attributes; logout → single logout ends mod_auth_cas's
// session.
//
// Run as root, Apache switches to www-data: the test's directory is made
// world-traversable and the cache directory is given to www-data.
func TestApacheModAuthCAS(t *testing.T) {
	needTool(t, apacheBin, "apache2")
	needTool(t, modAuthCAS, "libapache2-mod-auth-cas")

	port := freePort(t)
	appBase := fmt.Sprintf("http://127.0.0.1:%d", port)
	db := storetest.SQLite(t)
	h := newHarness(t, db, func(c *cas.Config, d *cas.Deps) {
		c.Services = append(c.Services, cas.Service{
			ID: "apache", Match: cas.MatchPrefix, URL: appBase + "/app/",
			Attributes: []string{"displayName", "group"}, AttributesOnServiceValidate: true,
		})
	})
	a := startApache(t, port, h.ts.URL, validateCAS2)

	page := appBase + "/app/whoami.cgi"
	b := h.browser()
	b.CheckRedirect = nil // follow: Apache → wxcas → Apache (ticket) → Apache (clean URL)
	r := do(t, b, http.MethodGet, page, nil)
	require.Equal(t, http.StatusOK, r.StatusCode, "%s\n%s", r.Body, a.log())
	body := string(r.Body)
	require.Contains(t, body, "REMOTE_USER=alice\n", a.log())
	require.Contains(t, body, "HTTP_CAS_USER=alice\n")
	require.Contains(t, body, "HTTP_CAS_DISPLAYNAME=Alice <Liddell> & Co\n")
	require.Contains(t, body, "HTTP_CAS_GROUP=staff|library\n")
	require.Contains(t, body, "HTTP_CAS_ISFROMNEWLOGIN=true\n")
	require.NotContains(t, body, "PHONE")
	require.Equal(t, page, r.Request.URL.String(), "mod_auth_cas removed the ticket from the URL")
	require.EqualValues(t, 1, h.logins.Load())

	// mod_auth_cas's own session serves the next request.
	r = do(t, b, http.MethodGet, page+"?again=1", nil)
	require.Contains(t, string(r.Body), "REMOTE_USER=alice")
	require.EqualValues(t, 1, h.logins.Load())

	// Logout at wxcas: the single logout POST reaches Apache, which expires
	// the session of that ticket.
	do(t, b, http.MethodGet, h.ts.URL+"/cas/logout", nil)
	h.srv.WaitIdle()
	b.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	r = do(t, b, http.MethodGet, page, nil)
	require.Equal(t, http.StatusFound, r.StatusCode, "%s\n%s", r.Body, a.log())
	require.True(t, strings.HasPrefix(r.Header.Get("Location"), h.ts.URL+"/cas/login?service="), r.Header.Get("Location"))
	require.Contains(t, a.log(), "Expiring service ticket", "mod_auth_cas processed the LogoutRequest")

	// And logging in again asks wxcas for credentials.
	b.CheckRedirect = nil
	r = do(t, b, http.MethodGet, page, nil)
	require.Contains(t, string(r.Body), "REMOTE_USER=alice")
	require.EqualValues(t, 2, h.logins.Load())
	if testing.Verbose() {
		t.Log(a.log())
	}
}

type apache struct {
	dir string
	cmd *exec.Cmd
	out *logx.Buffer
}

func (a *apache) log() string {
	b, _ := os.ReadFile(filepath.Join(a.dir, "error.log"))
	return "--- apache output ---\n" + a.out.String() + "--- error.log ---\n" + string(b)
}

// TestApacheModAuthCASSAML has mod_auth_cas validate with SAML 1.1
// (CASValidateSAML On → POST /cas/samlValidate): it reads the user and the
// attributes from positions in the SOAP answer, so this checks the layout.
func TestApacheModAuthCASSAML(t *testing.T) {
	needTool(t, apacheBin, "apache2")
	needTool(t, modAuthCAS, "libapache2-mod-auth-cas")

	port := freePort(t)
	appBase := fmt.Sprintf("http://127.0.0.1:%d", port)
	h := newHarness(t, storetest.SQLite(t), func(c *cas.Config, d *cas.Deps) {
		c.Services = append(c.Services, cas.Service{
			ID: "apache", Match: cas.MatchPrefix, URL: appBase + "/app/", Attributes: []string{"displayName", "group"},
		})
	})
	a := startApache(t, port, h.ts.URL, validateSAML)

	page := appBase + "/app/whoami.cgi"
	b := h.browser()
	b.CheckRedirect = nil
	r := do(t, b, http.MethodGet, page, nil)
	require.Equal(t, http.StatusOK, r.StatusCode, "%s\n%s", r.Body, a.log())
	body := string(r.Body)
	require.Contains(t, body, "REMOTE_USER=alice\n", a.log())
	require.Contains(t, body, "HTTP_CAS_DISPLAYNAME=Alice <Liddell> & Co\n", a.log())
	require.Contains(t, body, "HTTP_CAS_GROUP=staff|library\n")
	require.Contains(t, body, "HTTP_CAS_ISFROMNEWLOGIN=true\n")
	require.NotContains(t, body, "PHONE")
	require.Contains(t, a.log(), "Validation response: <SOAP-ENV:Envelope", "mod_auth_cas validated with SAML")
	require.Equal(t, page, r.Request.URL.String())
	if testing.Verbose() {
		t.Log(a.log())
	}
}

// How mod_auth_cas validates tickets: CAS 2 XML, or SAML 1.1 (POST).
const (
	validateCAS2 = "CASValidateURL {{cas}}/cas/serviceValidate\nCASVersion 2"
	validateSAML = "CASValidateURL {{cas}}/cas/samlValidate\nCASValidateSAML On"
)

func startApache(t *testing.T, port int, casBase, validate string) *apache {
	t.Helper()
	// Not t.TempDir: its parents are 0700, and Apache's children (www-data
	// when run as root) must reach the CGI script and the cache directory.
	dir, err := os.MkdirTemp("", "wxcas-apache-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	for _, sub := range []string{"run", "cgi", "cas-cache"} {
		require.NoError(t, os.Mkdir(filepath.Join(dir, sub), 0o755))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "cgi", "whoami.cgi"), []byte(whoamiCGI), 0o755))

	userLine := ""
	if os.Geteuid() == 0 {
		// Apache refuses to serve as root; it drops to User/Group after
		// opening its logs and listener. The cache must be writable by it.
		u, err := user.Lookup("www-data")
		require.NoError(t, err, "user www-data (created by the apache2 package)")
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		require.NoError(t, os.Chown(filepath.Join(dir, "cas-cache"), uid, gid))
		userLine = "User www-data\nGroup www-data"
	}
	// Two passes: the validate lines hold {{cas}} themselves.
	conf := strings.NewReplacer("{{validate}}", validate).Replace(apacheConfig)
	conf = strings.NewReplacer("{{dir}}", dir, "{{port}}", strconv.Itoa(port), "{{mods}}", apacheMods,
		"{{cas}}", casBase, "{{user}}", userLine).Replace(conf)
	confPath := filepath.Join(dir, "httpd.conf")
	require.NoError(t, os.WriteFile(confPath, []byte(conf), 0o644))

	a := &apache{dir: dir, out: &logx.Buffer{}}
	a.cmd = exec.Command(apacheBin, "-f", confPath, "-DFOREGROUND")
	a.cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C"}
	a.cmd.Stdout, a.cmd.Stderr = a.out, a.out
	a.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, a.cmd.Start())
	exited := make(chan struct{})
	go func() { _ = a.cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		// Stop our Apache (its process group: the parent and its children).
		_ = syscall.Kill(-a.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-a.cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	})

	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return a
		}
		select {
		case <-exited:
			t.Fatalf("apache exited at start-up:\n%s", a.log())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("apache did not listen on port %d:\n%s", port, a.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
