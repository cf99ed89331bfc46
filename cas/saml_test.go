package cas_test

import (
	"bytes"
	"encoding/xml"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"wxcas/store/storetest"
)

const (
	nsSOAP  = "http://schemas.xmlsoap.org/soap/envelope/"
	nsSAMLP = "urn:oasis:names:tc:SAML:1.0:protocol"
	nsSAML  = "urn:oasis:names:tc:SAML:1.0:assertion"
)

// samlAnswer is the SOAP/SAML 1.1 response, read by namespace (not prefix),
// as a standards-following client would.
type samlAnswer struct {
	XMLName xml.Name  `xml:"http://schemas.xmlsoap.org/soap/envelope/ Envelope"`
	Header  *struct{} `xml:"http://schemas.xmlsoap.org/soap/envelope/ Header"`
	Body    struct {
		Response struct {
			Recipient    string `xml:"Recipient,attr"`
			MajorVersion string `xml:"MajorVersion,attr"`
			MinorVersion string `xml:"MinorVersion,attr"`
			ResponseID   string `xml:"ResponseID,attr"`
			Status       struct {
				Code struct {
					Value string `xml:"Value,attr"`
				} `xml:"urn:oasis:names:tc:SAML:1.0:protocol StatusCode"`
				Message string `xml:"urn:oasis:names:tc:SAML:1.0:protocol StatusMessage"`
			} `xml:"urn:oasis:names:tc:SAML:1.0:protocol Status"`
			Assertion *struct {
				Issuer     string `xml:"Issuer,attr"`
				Conditions struct {
					NotBefore    string `xml:"NotBefore,attr"`
					NotOnOrAfter string `xml:"NotOnOrAfter,attr"`
					Restriction  struct {
						Audience string `xml:"urn:oasis:names:tc:SAML:1.0:assertion Audience"`
					} `xml:"urn:oasis:names:tc:SAML:1.0:assertion AudienceRestrictionCondition"`
				} `xml:"urn:oasis:names:tc:SAML:1.0:assertion Conditions"`
				Attributes struct {
					Subject    samlSubject `xml:"urn:oasis:names:tc:SAML:1.0:assertion Subject"`
					Attributes []struct {
						Name      string   `xml:"AttributeName,attr"`
						Namespace string   `xml:"AttributeNamespace,attr"`
						Values    []string `xml:"urn:oasis:names:tc:SAML:1.0:assertion AttributeValue"`
					} `xml:"urn:oasis:names:tc:SAML:1.0:assertion Attribute"`
				} `xml:"urn:oasis:names:tc:SAML:1.0:assertion AttributeStatement"`
				Authentication struct {
					Instant string      `xml:"AuthenticationInstant,attr"`
					Subject samlSubject `xml:"urn:oasis:names:tc:SAML:1.0:assertion Subject"`
				} `xml:"urn:oasis:names:tc:SAML:1.0:assertion AuthenticationStatement"`
			} `xml:"urn:oasis:names:tc:SAML:1.0:assertion Assertion"`
		} `xml:"urn:oasis:names:tc:SAML:1.0:protocol Response"`
	} `xml:"http://schemas.xmlsoap.org/soap/envelope/ Body"`
}

type samlSubject struct {
	NameIdentifier string `xml:"urn:oasis:names:tc:SAML:1.0:assertion NameIdentifier"`
	Method         string `xml:"urn:oasis:names:tc:SAML:1.0:assertion SubjectConfirmation>ConfirmationMethod"`
}

// samlRequest is the SOAP body CAS clients send (this one as Apereo's Java
// client does, with saml1p and a different envelope prefix).
func samlRequest(ticket string) string {
	return `<?xml version="1.0" encoding="UTF-8"?>
<soap:Envelope xmlns:soap="` + nsSOAP + `"><soap:Header/><soap:Body>
<saml1p:Request xmlns:saml1p="` + nsSAMLP + `" MajorVersion="1" MinorVersion="1" RequestID="_192.168.16.51.1024506224022" IssueInstant="2026-11-21T08:00:00.000Z">
<saml1p:AssertionArtifact>` + ticket + `</saml1p:AssertionArtifact></saml1p:Request></soap:Body></soap:Envelope>`
}

// samlValidate posts body to /cas/samlValidate?TARGET=target and decodes the
// answer, after checking it is well-formed XML.
func (h *harness) samlValidate(target, body string) (samlAnswer, string) {
	h.t.Helper()
	u := h.ts.URL + "/cas/samlValidate"
	if target != "" {
		u += "?TARGET=" + url.QueryEscape(target)
	}
	r, err := http.Post(u, "text/xml", strings.NewReader(body))
	require.NoError(h.t, err)
	defer r.Body.Close()
	var raw bytes.Buffer
	_, err = raw.ReadFrom(r.Body)
	require.NoError(h.t, err)
	require.Equal(h.t, http.StatusOK, r.StatusCode, raw.String())
	require.Equal(h.t, "text/xml; charset=utf-8", r.Header.Get("Content-Type"))
	needTool(h.t, xmllint, "libxml2-utils")
	cmd := exec.Command(xmllint, "--noout", "-")
	cmd.Stdin = bytes.NewReader(raw.Bytes())
	out, err := cmd.CombinedOutput()
	require.NoError(h.t, err, "not well-formed:\n%s\n%s", out, raw.String())
	var a samlAnswer
	require.NoError(h.t, xml.Unmarshal(raw.Bytes(), &a), raw.String())
	return a, raw.String()
}

func TestSAMLValidate(t *testing.T) {
	h := newHarness(t, storetest.SQLite(t))
	b := h.browser()

	t.Run("success carries user, released attributes and conditions", func(t *testing.T) {
		st := h.login(b, appURL)
		a, raw := h.samlValidate(appURL, samlRequest(st))
		resp := a.Body.Response
		require.NotNil(t, a.Header, "an empty SOAP Header comes first (mod_auth_cas reads positionally)")
		require.Equal(t, "samlp:Success", resp.Status.Code.Value, raw)
		require.Equal(t, []string{"1", "1"}, []string{resp.MajorVersion, resp.MinorVersion})
		require.Equal(t, appURL, resp.Recipient)
		require.True(t, strings.HasPrefix(resp.ResponseID, "_"), resp.ResponseID)
		as := resp.Assertion
		require.NotNil(t, as, raw)
		require.Equal(t, "127.0.0.1", as.Issuer)
		now := h.clock.Now()
		require.Equal(t, now.Add(-30*time.Second).Format("2006-01-02T15:04:05.000Z"), as.Conditions.NotBefore)
		require.Equal(t, now.Add(30*time.Second).Format("2006-01-02T15:04:05.000Z"), as.Conditions.NotOnOrAfter)
		require.Equal(t, appURL, as.Conditions.Restriction.Audience)
		require.Equal(t, "alice", as.Attributes.Subject.NameIdentifier)
		require.Equal(t, "urn:oasis:names:tc:SAML:1.0:cm:artifact", as.Attributes.Subject.Method)
		require.Equal(t, "alice", as.Authentication.Subject.NameIdentifier)
		require.Equal(t, "2026-11-21T07:59:30.000Z", as.Authentication.Instant)
		got := map[string][]string{}
		for _, at := range as.Attributes.Attributes {
			require.Equal(t, "http://www.ja-sig.org/products/cas/", at.Namespace)
			got[at.Name] = at.Values
		}
		require.Equal(t, map[string][]string{
			"authenticationDate":                     {"2026-11-21T07:59:30Z"},
			"longTermAuthenticationRequestTokenUsed": {"false"},
			"isFromNewLogin":                         {"true"},
			"displayName":                            {"Alice <Liddell> & Co"},
			"group":                                  {"staff", "library"},
		}, got, "the /p3 release; phone never")

		// The ticket was used up by that validation.
		a, _ = h.samlValidate(appURL, samlRequest(st))
		require.Equal(t, "samlp:Requester", a.Body.Response.Status.Code.Value)
		require.True(t, strings.HasPrefix(a.Body.Response.Status.Message, "INVALID_TICKET: "), a.Body.Response.Status.Message)
		require.Nil(t, a.Body.Response.Assertion)
	})

	t.Run("attributes are released per service, and from SSO", func(t *testing.T) {
		st := h.login(b, "https://portal.example.edu/x")
		a, _ := h.samlValidate("https://portal.example.edu/x", samlRequest(st))
		require.Equal(t, "samlp:Success", a.Body.Response.Status.Code.Value)
		got := map[string][]string{}
		for _, at := range a.Body.Response.Assertion.Attributes.Attributes {
			got[at.Name] = at.Values
		}
		require.NotContains(t, got, "group", "portal is not released group")
		require.Equal(t, []string{"false"}, got["isFromNewLogin"], "this ticket came from the SSO session")
	})

	for _, tc := range []struct {
		name, target, code string
		body               func(st string) string
	}{
		{"no TARGET", "", "INVALID_REQUEST", samlRequest},
		{"unregistered TARGET", "https://evil.example.com/", "UNAUTHORIZED_SERVICE", samlRequest},
		{"ticket of another service", "https://portal.example.edu/", "INVALID_SERVICE", samlRequest},
		{"not XML", appURL, "INVALID_REQUEST", func(string) string { return "ticket=ST-1" }},
		{"no artifact", appURL, "INVALID_REQUEST", func(string) string {
			return `<soap:Envelope xmlns:soap="` + nsSOAP + `"><soap:Body/></soap:Envelope>`
		}},
		{"artifact in the wrong namespace", appURL, "INVALID_REQUEST", func(st string) string {
			return strings.ReplaceAll(samlRequest(st), nsSAMLP, "urn:example:other")
		}},
		{"unknown ticket", appURL, "INVALID_TICKET", func(string) string { return samlRequest("ST-NOSUCHTICKET") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := h.login(b, appURL)
			a, raw := h.samlValidate(tc.target, tc.body(st))
			require.Equal(t, "samlp:Requester", a.Body.Response.Status.Code.Value, raw)
			require.True(t, strings.HasPrefix(a.Body.Response.Status.Message, tc.code+": "), a.Body.Response.Status.Message)
			require.Nil(t, a.Body.Response.Assertion)
		})
	}

	t.Run("a ticket is used up by a failed attempt too", func(t *testing.T) {
		st := h.login(b, appURL)
		a, _ := h.samlValidate("https://portal.example.edu/", samlRequest(st))
		require.Contains(t, a.Body.Response.Status.Message, "INVALID_SERVICE")
		a, _ = h.samlValidate(appURL, samlRequest(st))
		require.Contains(t, a.Body.Response.Status.Message, "INVALID_TICKET")
	})

	t.Run("only POST", func(t *testing.T) {
		r, err := http.Get(h.ts.URL + "/cas/samlValidate?TARGET=" + url.QueryEscape(appURL))
		require.NoError(t, err)
		r.Body.Close()
		require.Equal(t, http.StatusMethodNotAllowed, r.StatusCode)
		require.Equal(t, "POST", r.Header.Get("Allow"))
	})
}
