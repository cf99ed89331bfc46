package cas

import (
	"bytes"
	"crypto/rand"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"
)

// SAML 1.1 validation (/samlValidate, CAS protocol §2.12 and Apereo's
// SamlValidateController): the client POSTs a SOAP envelope carrying the
// service ticket as samlp:AssertionArtifact, with the service in the TARGET
// query parameter; the answer is a SOAP envelope with a SAML 1.1 Response.
//
// The layout follows what clients read positionally, not just by name:
// mod_auth_cas walks Envelope → (Header, Body) → Response → (Status,
// Assertion) → (Conditions, AttributeStatement → Subject → NameIdentifier)
// and compares the status code to the literal "samlp:Success", so the empty
// SOAP Header, the element order and the samlp:/saml: prefixes all matter.
const (
	soapNamespace      = "http://schemas.xmlsoap.org/soap/envelope/"
	samlpNamespace     = "urn:oasis:names:tc:SAML:1.0:protocol"
	samlNamespace      = "urn:oasis:names:tc:SAML:1.0:assertion"
	casAttrNamespace   = "http://www.ja-sig.org/products/cas/"
	samlArtifactMethod = "urn:oasis:names:tc:SAML:1.0:cm:artifact"
	samlAuthnMethod    = "urn:oasis:names:tc:SAML:1.0:am:unspecified"
	// samlSkew is how long before and after its issue an assertion is valid
	// (Apereo's default skew allowance).
	samlSkew = 30 * time.Second
)

// samlTime is SAML 1.1's xsd:dateTime, in UTC with milliseconds.
func samlTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// samlID is a random xsd:ID (an NCName: it must not start with a digit).
func samlID() string { return "_" + rand.Text() }

// handleSAMLValidate serves POST /cas/samlValidate?TARGET=<service>.
func (s *Server) handleSAMLValidate(w http.ResponseWriter, r *http.Request) {
	service := r.URL.Query().Get("TARGET")
	artifact, err := assertionArtifact(r.Body)
	var v validation
	var verr *validationError
	if err != nil {
		verr = failf(CodeInvalidRequest, "The request is not a SAML 1.1 samlp:Request with an AssertionArtifact: %v", err)
	} else {
		v, verr = s.validateTicket(r.Context(), service, artifact, false, false)
	}
	now := s.now()
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if verr != nil {
		s.log.Info("cas: validation failed", "endpoint", "samlValidate", "code", verr.Code, "ticket", shortID(artifact))
		_, _ = w.Write(samlFailure(now, service, verr))
		return
	}
	s.log.Info("cas: ticket validated", "endpoint", "samlValidate", "user", v.tgt.PrincipalID, "service", v.svc.ID, "proxied", false, "released_as", releasedAs(v))
	_, _ = w.Write(s.samlSuccess(now, service, v))
}

// assertionArtifact reads the ticket from the SOAP request: the text of the
// first samlp:AssertionArtifact inside a samlp:Request. Names are matched by
// namespace, not prefix.
func assertionArtifact(body io.Reader) (string, error) {
	d := xml.NewDecoder(body)
	inRequest := false
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return "", errors.New("no AssertionArtifact")
		}
		if err != nil {
			return "", errors.New("malformed XML")
		}
		el, ok := tok.(xml.StartElement)
		if !ok || el.Name.Space != samlpNamespace {
			continue
		}
		switch el.Name.Local {
		case "Request":
			inRequest = true
		case "AssertionArtifact":
			if !inRequest {
				return "", errors.New("AssertionArtifact outside samlp:Request")
			}
			var text string
			if err := d.DecodeElement(&text, &el); err != nil {
				return "", errors.New("malformed AssertionArtifact")
			}
			return strings.TrimSpace(text), nil
		}
	}
}

// samlWriter writes indented elements with escaped text and attributes.
type samlWriter struct {
	b     bytes.Buffer
	depth int
}

// open writes <name a1="v1" ...>; attrs alternate names and values.
func (w *samlWriter) open(name string, attrs ...string) {
	w.start(name, attrs)
	w.b.WriteString(">\n")
	w.depth++
}

func (w *samlWriter) close(name string) {
	w.depth--
	w.b.WriteString(strings.Repeat("  ", w.depth) + "</" + name + ">\n")
}

// empty writes <name .../>.
func (w *samlWriter) empty(name string, attrs ...string) {
	w.start(name, attrs)
	w.b.WriteString("/>\n")
}

// text writes <name>text</name>.
func (w *samlWriter) text(name, text string) {
	w.start(name, nil)
	w.b.WriteString(">")
	_ = xml.EscapeText(&w.b, []byte(text))
	w.b.WriteString("</" + name + ">\n")
}

func (w *samlWriter) start(name string, attrs []string) {
	w.b.WriteString(strings.Repeat("  ", w.depth) + "<" + name)
	for i := 0; i+1 < len(attrs); i += 2 {
		w.b.WriteString(" " + attrs[i] + `="`)
		_ = xml.EscapeText(&w.b, []byte(attrs[i+1]))
		w.b.WriteString(`"`)
	}
}

// samlEnvelope writes the SOAP envelope and the samlp:Response around body.
func samlEnvelope(now time.Time, recipient string, body func(w *samlWriter)) []byte {
	w := &samlWriter{}
	w.open("SOAP-ENV:Envelope", "xmlns:SOAP-ENV", soapNamespace)
	w.empty("SOAP-ENV:Header")
	w.open("SOAP-ENV:Body")
	w.open("samlp:Response", "xmlns:samlp", samlpNamespace, "xmlns:saml", samlNamespace,
		"IssueInstant", samlTime(now), "MajorVersion", "1", "MinorVersion", "1",
		"Recipient", recipient, "ResponseID", samlID())
	body(w)
	w.close("samlp:Response")
	w.close("SOAP-ENV:Body")
	w.close("SOAP-ENV:Envelope")
	return w.b.Bytes()
}

// samlFailure answers with a status and no assertion: samlp:Responder for
// wxcas's own failures, samlp:Requester for everything the client can fix
// (the CAS error code starts the message).
func samlFailure(now time.Time, recipient string, e *validationError) []byte {
	code := "samlp:Requester"
	if e.Code == CodeInternalError {
		code = "samlp:Responder"
	}
	return samlEnvelope(now, recipient, func(w *samlWriter) {
		w.open("samlp:Status")
		w.empty("samlp:StatusCode", "Value", code)
		w.text("samlp:StatusMessage", e.Code+": "+e.Message)
		w.close("samlp:Status")
	})
}

// samlSuccess carries the user and the attributes the service may receive
// (the same release as /p3/serviceValidate) in one assertion.
func (s *Server) samlSuccess(now time.Time, recipient string, v validation) []byte {
	a := s.releasedAttributes(v)
	subject := func(w *samlWriter) {
		w.open("saml:Subject")
		w.text("saml:NameIdentifier", v.user)
		w.open("saml:SubjectConfirmation")
		w.text("saml:ConfirmationMethod", samlArtifactMethod)
		w.close("saml:SubjectConfirmation")
		w.close("saml:Subject")
	}
	attribute := func(w *samlWriter, name string, values ...string) {
		w.open("saml:Attribute", "AttributeName", name, "AttributeNamespace", casAttrNamespace)
		for _, val := range values {
			w.text("saml:AttributeValue", val)
		}
		w.close("saml:Attribute")
	}
	return samlEnvelope(now, recipient, func(w *samlWriter) {
		w.open("samlp:Status")
		w.empty("samlp:StatusCode", "Value", "samlp:Success")
		w.close("samlp:Status")
		w.open("saml:Assertion", "AssertionID", samlID(), "IssueInstant", samlTime(now),
			"Issuer", s.issuer, "MajorVersion", "1", "MinorVersion", "1")
		w.open("saml:Conditions", "NotBefore", samlTime(now.Add(-samlSkew)), "NotOnOrAfter", samlTime(now.Add(samlSkew)))
		w.open("saml:AudienceRestrictionCondition")
		w.text("saml:Audience", recipient)
		w.close("saml:AudienceRestrictionCondition")
		w.close("saml:Conditions")
		w.open("saml:AttributeStatement")
		subject(w)
		attribute(w, "authenticationDate", a.AuthenticationDate.UTC().Format(time.RFC3339))
		attribute(w, "longTermAuthenticationRequestTokenUsed", boolText(a.LongTerm))
		attribute(w, "isFromNewLogin", boolText(a.FromNewLogin))
		for _, at := range a.Custom {
			attribute(w, at.Name, at.Values...)
		}
		w.close("saml:AttributeStatement")
		w.open("saml:AuthenticationStatement", "AuthenticationInstant", samlTime(a.AuthenticationDate),
			"AuthenticationMethod", samlAuthnMethod)
		subject(w)
		w.close("saml:AuthenticationStatement")
		w.close("saml:Assertion")
	})
}
