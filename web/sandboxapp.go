package web

import (
	"context"
	"encoding/xml"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// SandboxApp is a tiny CAS-protected site for the sandbox: it sends the
// browser to /cas/login, validates the ticket it gets back over the CAS 3.0
// protocol (like any real site would, over HTTP) and shows who logged in.
type SandboxApp struct {
	// ServiceURL is the app's own URL, as registered in cas.services.
	ServiceURL string
	// CASURL is where the app reaches wxcas's CAS endpoints (server-to-server).
	CASURL string
	// LoginURL is the browser-facing CAS base.
	LoginURL string
	Client   *http.Client
}

var sandboxAppPage = template.Must(template.New("app").Parse(`<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sandbox demo site</title><link rel="stylesheet" href="{{.Stylesheet}}"></head>
<body><div class="sandbox-banner" role="alert">沙箱示例网站（受 CAS 保护） · Sandbox demo site protected by CAS</div>
<main class="card">
{{if .Error}}<h1>Ticket not valid / 票据无效</h1><p class="error" id="cas-error">{{.Error}}</p>
{{else}}<h1>欢迎 / Welcome</h1>
<p>CAS user: <strong id="cas-user">{{.User}}</strong></p>
<table id="cas-attributes">{{range .Attributes}}<tr><th>{{.Name}}</th><td>{{.Value}}</td></tr>{{end}}</table>{{end}}
<p><a class="button secondary" href="{{.Logout}}">退出登录 / Log out</a></p>
</main></body></html>`))

type casServiceResponse struct {
	Success *struct {
		User       string `xml:"user"`
		Attributes struct {
			Any []struct {
				XMLName xml.Name
				Value   string `xml:",chardata"`
			} `xml:",any"`
		} `xml:"attributes"`
	} `xml:"authenticationSuccess"`
	Failure *struct {
		Code    string `xml:"code,attr"`
		Message string `xml:",chardata"`
	} `xml:"authenticationFailure"`
}

func (a SandboxApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ticket := r.URL.Query().Get("ticket")
	if ticket == "" {
		http.Redirect(w, r, a.LoginURL+"/login?service="+url.QueryEscape(a.ServiceURL), http.StatusFound)
		return
	}
	data := struct {
		User, Error, Logout string
		// Stylesheet is wxcas's own, under public_url (which may have a path).
		Stylesheet string
		Attributes []struct{ Name, Value string }
	}{Logout: a.LoginURL + "/logout?service=" + url.QueryEscape(a.ServiceURL), Stylesheet: strings.TrimSuffix(a.LoginURL, "/cas") + "/static/wxcas.css"}
	resp, err := a.validate(r.Context(), ticket)
	switch {
	case err != nil:
		data.Error = err.Error()
	case resp.Failure != nil:
		data.Error = resp.Failure.Code + ": " + strings.TrimSpace(resp.Failure.Message)
	case resp.Success == nil:
		data.Error = "unexpected CAS response"
	default:
		data.User = resp.Success.User
		for _, at := range resp.Success.Attributes.Any {
			data.Attributes = append(data.Attributes, struct{ Name, Value string }{at.XMLName.Local, at.Value})
		}
		sort.SliceStable(data.Attributes, func(i, j int) bool { return data.Attributes[i].Name < data.Attributes[j].Name })
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_ = sandboxAppPage.Execute(w, data)
}

func (a SandboxApp) validate(ctx context.Context, ticket string) (*casServiceResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	u := a.CASURL + "/p3/serviceValidate?service=" + url.QueryEscape(a.ServiceURL) + "&ticket=" + url.QueryEscape(ticket)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := a.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the CAS server")
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	var out casServiceResponse
	if err := xml.Unmarshal(body, &out); err != nil {
		return nil, fmt.Errorf("unreadable CAS response")
	}
	return &out, nil
}
