package web

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strings"

	"wxcas/i18n"
	"wxcas/logx"
)

// Pages renders the embedded templates. Every page is parsed once at start-up
// (a missing or broken template stops the process there, not at the first
// user), and rendered into a buffer first so a failing template still yields
// a clean error response instead of half a page.
type Pages struct {
	pages   map[string]*template.Template
	sandbox bool
	// base is the path of public_url without its trailing slash ("" or
	// e.g. "/wxcas"): a proxy in front strips it, so the routes live at the
	// root while every URL a page hands the browser must carry it.
	base string
}

// basePath is the path of public_url without its trailing slash ("" or e.g.
// "/wxcas"), which every URL handed to a browser starts with.
func basePath(public *url.URL) string { return strings.TrimSuffix(public.Path, "/") }

// PageOption configures NewPages.
type PageOption func(*Pages)

// BasePath makes the pages' asset, form and language URLs start with the
// path of publicURL (server.public_url), the one place they learn it.
func BasePath(publicURL string) PageOption {
	return func(p *Pages) {
		if u, err := url.Parse(publicURL); err == nil {
			p.base = basePath(u)
		}
	}
}

// pageData is what every template sees: .T translates, .Data is page-specific.
type pageData struct {
	Lang      string
	Sandbox   bool
	RequestID string
	// Base prefixes every root-relative URL in a template (see Pages.base).
	Base string
	// LangURLs switch the language and stay on the same page.
	LangZH, LangEN string
	Data           any
}

func (d pageData) T(key string) string { return i18n.T(d.Lang, key) }

// NewPages parses layout.html with each other page in fsys.
func NewPages(fsys fs.FS, sandbox bool, opts ...PageOption) (*Pages, error) {
	layout, err := template.ParseFS(fsys, "layout.html")
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	names, err := fs.Glob(fsys, "*.html")
	if err != nil {
		return nil, err
	}
	p := &Pages{pages: map[string]*template.Template{}, sandbox: sandbox}
	for _, o := range opts {
		o(p)
	}
	for _, name := range names {
		if name == "layout.html" {
			continue
		}
		t, err := template.Must(layout.Clone()).ParseFS(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("templates: %s: %w", name, err)
		}
		p.pages[strings.TrimSuffix(name, ".html")] = t
	}
	for _, required := range []string{"error", "info"} {
		if p.pages[required] == nil {
			return nil, fmt.Errorf("templates: required page %s.html is missing", required)
		}
	}
	return p, nil
}

// Render writes page with data in the request's language.
func (p *Pages) Render(w http.ResponseWriter, r *http.Request, status int, page string, data any) error {
	t, ok := p.pages[page]
	if !ok {
		return fmt.Errorf("templates: no page %q", page)
	}
	lang := i18n.Pick(r)
	var buf bytes.Buffer
	d := pageData{Lang: lang, Sandbox: p.sandbox, RequestID: logx.RequestID(r.Context()), Data: data, Base: p.base,
		LangZH: p.base + langURL(r, i18n.ZH), LangEN: p.base + langURL(r, i18n.EN)}
	if err := t.ExecuteTemplate(&buf, "layout", d); err != nil {
		return fmt.Errorf("templates: render %s: %w", page, err)
	}
	if l := i18n.Norm(r.URL.Query().Get("lang")); l != "" {
		http.SetCookie(w, &http.Cookie{Name: i18n.CookieName, Value: l, Path: p.base + "/", MaxAge: 365 * 24 * 3600, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Language", lang)
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}

// ErrorData is the content of error.html.
type ErrorData struct {
	TitleKey   string
	MessageKey string
	RetryURL   string
}

// InfoData is the content of info.html.
type InfoData struct {
	TitleKey   string
	MessageKey string
	Detail     string
}

// Error renders the error page with catalogued text.
func (p *Pages) Error(w http.ResponseWriter, r *http.Request, status int, titleKey, messageKey, retryURL string) error {
	return p.Render(w, r, status, "error", ErrorData{TitleKey: titleKey, MessageKey: messageKey, RetryURL: retryURL})
}

// pageParams are the query parameters a language link may repeat.
var pageParams = map[string]bool{"flow": true, "service": true, "renew": true, "gateway": true, "method": true, "qr": true}

// langURL is the current page in another language. A page answering a form
// post is reached again through its flow (the form's own URL only takes POST).
func langURL(r *http.Request, lang string) string {
	q := url.Values{}
	path := r.URL.Path
	if r.Method == http.MethodGet {
		// Keep only what identifies the page: never codes, states or tickets.
		for k, v := range r.URL.Query() {
			if pageParams[k] {
				q[k] = v
			}
		}
	} else if id := r.PostFormValue("flow"); id != "" {
		path, q = "/login", url.Values{"flow": {id}}
	} else {
		path = "/"
	}
	q.Set("lang", lang)
	return path + "?" + q.Encode()
}
