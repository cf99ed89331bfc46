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
	"unicode"
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

var sandboxAppPage = template.Must(template.New("app").Funcs(template.FuncMap{"wordBreaks": wordBreaks}).Parse(`<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sandbox demo site</title><link rel="stylesheet" href="{{.Stylesheet}}"><link rel="stylesheet" href="{{.DemoStylesheet}}"></head>
<body><div class="sandbox-banner" role="alert">沙箱示例网站（受 CAS 保护） · Sandbox demo site protected by CAS</div>
<main class="card demo">
{{if .Error}}<h1>Ticket not valid / 票据无效</h1><p class="error" id="cas-error">{{.Error}}</p>
{{else}}<h1>欢迎 / Welcome</h1>
<p>CAS user: <strong id="cas-user">{{.User}}</strong></p>
<table id="cas-attributes" class="compact">
<caption>本网站收到的属性 / Attributes this site received</caption>
<colgroup><col class="name"><col></colgroup>
<thead><tr><th scope="col">属性 / Attribute</th><th scope="col">值 / Value</th></tr></thead>
<tbody>{{range .Attributes}}<tr><th scope="row">{{wordBreaks .Name}}</th><td>{{.Value}}</td></tr>
{{else}}<tr><td colspan="2">—</td></tr>{{end}}</tbody>
</table>{{end}}
<p><a class="button secondary" href="{{.Logout}}">退出登录 / Log out</a></p>
</main></body></html>`))

// sandboxAppCSSName is the demo page's own stylesheet, served by the app
// next to the page: the pages' Content-Security-Policy allows no inline
// style, and wxcas.css knows nothing of the demo.
const sandboxAppCSSName = "demo.css"

// sandboxAppCSS lets long values (unionids, URLs, directory attributes)
// wrap inside the attribute table instead of widening the page.
const sandboxAppCSS = `main.demo { max-width: 44rem; }
main.demo h1, #cas-user, #cas-error { overflow-wrap: anywhere; }
#cas-attributes { table-layout: fixed; margin: 1rem 0 1.25rem; }
#cas-attributes caption { color: var(--text); font-weight: 600; }
#cas-attributes col.name { width: 34%; }
#cas-attributes th, #cas-attributes td { overflow-wrap: anywhere; vertical-align: baseline; }
#cas-attributes thead th { color: var(--muted); font-weight: 600; border-bottom: 2px solid #d0d7de; }
#cas-attributes td { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace; font-size: .85rem; }
@media (max-width: 480px) {
  main.demo { padding: 1rem; }
  #cas-attributes col.name { width: 40%; }
}
`

// wordBreaks lets a long camelCase attribute name
// (longTermAuthenticationRequestTokenUsed) wrap between its words.
func wordBreaks(name string) template.HTML {
	var b strings.Builder
	prevLower := false
	for _, r := range name {
		if unicode.IsUpper(r) && prevLower {
			b.WriteString("<wbr>")
		}
		b.WriteString(template.HTMLEscapeString(string(r)))
		prevLower = unicode.IsLower(r) || unicode.IsDigit(r)
	}
	return template.HTML(b.String()) // every rune is escaped above
}

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
	if strings.HasSuffix(r.URL.Path, "/"+sandboxAppCSSName) {
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
		w.Header().Set("Cache-Control", "public, max-age=300")
		_, _ = io.WriteString(w, sandboxAppCSS)
		return
	}
	ticket := r.URL.Query().Get("ticket")
	if ticket == "" {
		http.Redirect(w, r, a.LoginURL+"/login?service="+url.QueryEscape(a.ServiceURL), http.StatusFound)
		return
	}
	data := struct {
		User, Error, Logout string
		// Stylesheet is wxcas's own, under public_url (which may have a path);
		// DemoStylesheet the demo's, next to the app.
		Stylesheet, DemoStylesheet string
		Attributes                 []struct{ Name, Value string }
	}{
		Logout:         a.LoginURL + "/logout?service=" + url.QueryEscape(a.ServiceURL),
		Stylesheet:     strings.TrimSuffix(a.LoginURL, "/cas") + "/static/wxcas.css",
		DemoStylesheet: strings.TrimSuffix(a.ServiceURL, "/") + "/" + sandboxAppCSSName,
	}
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
