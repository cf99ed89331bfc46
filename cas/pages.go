package cas

import (
	"html/template"
	"net/http"
	"sort"
)

// PlainPages is a minimal English rendering of Pages, for tests and as a
// fallback; the product renders localized templates instead.
type PlainPages struct{}

var plainTemplates = template.Must(template.New("").Parse(`
{{define "error"}}<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Login error</title></head>
<body><h1>Login error</h1><p>{{.}}</p></body></html>
{{end}}
{{define "loggedout"}}<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Logged out</title></head>
<body><h1>You have been logged out</h1>{{with .}}<p><a id="back" href="{{.URL}}">Back to {{.Name}}</a></p>{{end}}</body></html>
{{end}}
{{define "loggedin"}}<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Logged in</title></head>
<body><h1>You are logged in as {{.}}</h1></body></html>
{{end}}
{{define "post"}}<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Continue</title></head>
<body onload="document.forms[0].submit()">
<form method="post" action="{{.Action}}">
{{range .Fields}}<input type="hidden" name="{{.Name}}" value="{{.Value}}">
{{end}}<noscript><button type="submit">Continue</button></noscript>
</form></body></html>
{{end}}`))

var plainReasons = map[string]string{
	ReasonServiceMissing:    "No application was named.",
	ReasonServiceInvalid:    "The application address is not valid.",
	ReasonServiceUnknown:    "This application is not allowed to use this login service.",
	ReasonMethodUnsupported: "The requested response method is not supported.",
	ReasonLoginUnavailable:  "Login is not available right now.",
	ReasonPrincipalInvalid:  "The account cannot be used for login.",
	ReasonInternal:          "Something went wrong. Please try again later.",
}

func plainRender(w http.ResponseWriter, status int, name string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = plainTemplates.ExecuteTemplate(w, name, data)
}

func (PlainPages) Error(w http.ResponseWriter, r *http.Request, status int, reason string) {
	msg, ok := plainReasons[reason]
	if !ok {
		msg = plainReasons[ReasonInternal]
	}
	plainRender(w, status, "error", msg+" ("+reason+")")
}

func (PlainPages) LoggedOut(w http.ResponseWriter, r *http.Request, back *ServiceLink) {
	plainRender(w, http.StatusOK, "loggedout", back)
}

func (PlainPages) LoggedIn(w http.ResponseWriter, r *http.Request, principalID string) {
	plainRender(w, http.StatusOK, "loggedin", principalID)
}

func (PlainPages) PostRedirect(w http.ResponseWriter, r *http.Request, action string, fields map[string]string) {
	type field struct{ Name, Value string }
	data := struct {
		Action string
		Fields []field
	}{Action: action}
	for name, value := range fields {
		data.Fields = append(data.Fields, field{name, value})
	}
	sort.Slice(data.Fields, func(i, j int) bool { return data.Fields[i].Name < data.Fields[j].Name })
	plainRender(w, http.StatusOK, "post", data)
}
