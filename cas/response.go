package cas

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Error codes of the protocol (§2.5.3, §2.7) used in failure documents.
const (
	CodeInvalidRequest           = "INVALID_REQUEST"
	CodeInvalidTicketSpec        = "INVALID_TICKET_SPEC"
	CodeUnauthorizedServiceProxy = "UNAUTHORIZED_SERVICE_PROXY"
	CodeInvalidProxyCallback     = "INVALID_PROXY_CALLBACK"
	CodeInvalidTicket            = "INVALID_TICKET"
	CodeInvalidService           = "INVALID_SERVICE"
	CodeInternalError            = "INTERNAL_ERROR"
	CodeUnauthorizedService      = "UNAUTHORIZED_SERVICE"
)

const casNamespace = "http://www.yale.edu/tp/cas"

type format int

const (
	formatXML format = iota
	formatJSON
)

// parseFormat reads the format parameter: XML (default) or JSON, in any case.
func parseFormat(v string) (format, bool) {
	switch {
	case v == "" || strings.EqualFold(v, "XML"):
		return formatXML, true
	case strings.EqualFold(v, "JSON"):
		return formatJSON, true
	}
	return formatXML, false
}

// success is an authenticationSuccess document.
type success struct {
	User       string
	Attributes *attributes // nil: no <cas:attributes>
	PGTIOU     string
	Proxies    []string
}

type attributes struct {
	AuthenticationDate time.Time
	LongTerm           bool
	FromNewLogin       bool
	Custom             []attribute // in release order
}

type attribute struct {
	Name   string
	Values []string
}

// The XML is written by hand: element order is what the CAS 3.0 XSD
// prescribes (user, attributes, proxyGrantingTicket, proxies), the prefix is
// the literal "cas:" that some clients insist on, and every text is escaped.
func writeXMLStart(b *bytes.Buffer) {
	b.WriteString(`<cas:serviceResponse xmlns:cas="` + casNamespace + `">` + "\n")
}

func writeXMLEnd(b *bytes.Buffer) { b.WriteString("</cas:serviceResponse>\n") }

func xmlElement(b *bytes.Buffer, indent int, name, text string) {
	b.WriteString(strings.Repeat("    ", indent))
	b.WriteString("<cas:" + name + ">")
	_ = xml.EscapeText(b, []byte(text))
	b.WriteString("</cas:" + name + ">\n")
}

func (s success) xml() []byte {
	var b bytes.Buffer
	writeXMLStart(&b)
	b.WriteString("    <cas:authenticationSuccess>\n")
	xmlElement(&b, 2, "user", s.User)
	if a := s.Attributes; a != nil {
		b.WriteString("        <cas:attributes>\n")
		xmlElement(&b, 3, "authenticationDate", a.AuthenticationDate.UTC().Format(time.RFC3339))
		xmlElement(&b, 3, "longTermAuthenticationRequestTokenUsed", boolText(a.LongTerm))
		xmlElement(&b, 3, "isFromNewLogin", boolText(a.FromNewLogin))
		for _, at := range a.Custom {
			for _, v := range at.Values {
				xmlElement(&b, 3, at.Name, v)
			}
		}
		b.WriteString("        </cas:attributes>\n")
	}
	if s.PGTIOU != "" {
		xmlElement(&b, 2, "proxyGrantingTicket", s.PGTIOU)
	}
	if len(s.Proxies) > 0 {
		b.WriteString("        <cas:proxies>\n")
		for _, p := range s.Proxies {
			xmlElement(&b, 3, "proxy", p)
		}
		b.WriteString("        </cas:proxies>\n")
	}
	b.WriteString("    </cas:authenticationSuccess>\n")
	writeXMLEnd(&b)
	return b.Bytes()
}

// failureXML renders authenticationFailure or proxyFailure.
func failureXML(element, code, message string) []byte {
	var b bytes.Buffer
	writeXMLStart(&b)
	b.WriteString("    <cas:" + element + ` code="` + code + `">`)
	_ = xml.EscapeText(&b, []byte(message))
	b.WriteString("</cas:" + element + ">\n")
	writeXMLEnd(&b)
	return b.Bytes()
}

func proxySuccessXML(pt string) []byte {
	var b bytes.Buffer
	writeXMLStart(&b)
	b.WriteString("    <cas:proxySuccess>\n")
	xmlElement(&b, 2, "proxyTicket", pt)
	b.WriteString("    </cas:proxySuccess>\n")
	writeXMLEnd(&b)
	return b.Bytes()
}

func boolText(v bool) string {
	if v {
		return "true"
	}
	return "false"
}

// JSON (spec 3.0.2+): keys mirror the XML without the prefix; a failure has
// code and description; single-valued custom attributes are strings and
// multi-valued ones arrays, as in the spec's example.

// orderedObject is a JSON object that keeps its key order.
type orderedObject []kv

type kv struct {
	Key   string
	Value any
}

func (o orderedObject) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, e := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(e.Key)
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(e.Value)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func (s success) json() []byte {
	body := orderedObject{{"user", s.User}}
	if s.PGTIOU != "" {
		body = append(body, kv{"proxyGrantingTicket", s.PGTIOU})
	}
	if len(s.Proxies) > 0 {
		body = append(body, kv{"proxies", s.Proxies})
	}
	if a := s.Attributes; a != nil {
		attrs := orderedObject{
			{"authenticationDate", a.AuthenticationDate.UTC().Format(time.RFC3339)},
			{"longTermAuthenticationRequestTokenUsed", a.LongTerm},
			{"isFromNewLogin", a.FromNewLogin},
		}
		for _, at := range a.Custom {
			if len(at.Values) == 1 {
				attrs = append(attrs, kv{at.Name, at.Values[0]})
			} else {
				attrs = append(attrs, kv{at.Name, at.Values})
			}
		}
		body = append(body, kv{"attributes", attrs})
	}
	return jsonDoc(orderedObject{{"authenticationSuccess", body}})
}

func failureJSON(element, code, message string) []byte {
	return jsonDoc(orderedObject{{element, orderedObject{{"code", code}, {"description", message}}}})
}

func proxySuccessJSON(pt string) []byte {
	return jsonDoc(orderedObject{{"proxySuccess", orderedObject{{"proxyTicket", pt}}}})
}

func jsonDoc(inner orderedObject) []byte {
	b, err := json.Marshal(orderedObject{{"serviceResponse", inner}})
	if err != nil {
		// Only strings, booleans and slices of strings go in: cannot happen.
		panic(err)
	}
	return append(b, '\n')
}

func writeDoc(w http.ResponseWriter, f format, body []byte) {
	h := w.Header()
	if f == formatJSON {
		h.Set("Content-Type", "application/json; charset=utf-8")
	} else {
		h.Set("Content-Type", "application/xml; charset=utf-8")
	}
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// ValidText reports whether s is UTF-8 without control characters, i.e. safe
// as XML text, a header value and a log field.
func ValidText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}
