package tencentfake

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"slices"
	"strings"
	"time"
)

const algorithm = "TC3-HMAC-SHA256"

// authorization is a parsed TC3 Authorization header:
//
//	TC3-HMAC-SHA256 Credential=<id>/<date>/<service>/tc3_request, SignedHeaders=content-type;host, Signature=<hex>
type authorization struct {
	SecretID      string
	Date          string // YYYY-MM-DD, the credential scope date
	Service       string
	SignedHeaders []string // lower-case, sorted
	Signature     string   // lower-case hex
}

var (
	headerNameRE = regexp.MustCompile(`^[a-z0-9-]+$`)
	signatureRE  = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// parseAuthorization parses h strictly; ok is false for anything malformed.
func parseAuthorization(h string) (a authorization, ok bool) {
	alg, rest, found := strings.Cut(h, " ")
	if !found || alg != algorithm {
		return a, false
	}
	fields := map[string]string{}
	for part := range strings.SplitSeq(rest, ",") {
		k, v, found := strings.Cut(strings.TrimSpace(part), "=")
		if !found || v == "" {
			return a, false
		}
		if _, dup := fields[k]; dup {
			return a, false
		}
		fields[k] = v
	}
	cred, names, sig := fields["Credential"], fields["SignedHeaders"], fields["Signature"]
	if len(fields) != 3 || cred == "" || names == "" || !signatureRE.MatchString(sig) {
		return a, false
	}
	scope := strings.Split(cred, "/")
	if len(scope) != 4 || scope[0] == "" || scope[2] == "" || scope[3] != "tc3_request" {
		return a, false
	}
	if _, err := time.Parse(time.DateOnly, scope[1]); err != nil {
		return a, false
	}
	signed := strings.Split(names, ";")
	for _, n := range signed {
		if !headerNameRE.MatchString(n) {
			return a, false
		}
	}
	if !slices.IsSorted(signed) || len(slices.Compact(slices.Clone(signed))) != len(signed) ||
		!slices.Contains(signed, "content-type") || !slices.Contains(signed, "host") {
		return a, false
	}
	return authorization{SecretID: scope[0], Date: scope[1], Service: scope[2], SignedHeaders: signed, Signature: sig}, true
}

// canonicalRequest is step 1 of TC3 signing. headers holds the signed headers'
// lower-case names and trimmed values in SignedHeaders order; payloadHash is
// the hex SHA-256 of the exact body bytes (or of "UNSIGNED-PAYLOAD").
func canonicalRequest(method, query string, headers [][2]string, payloadHash string) string {
	var canon strings.Builder
	names := make([]string, len(headers))
	for i, h := range headers {
		canon.WriteString(h[0] + ":" + h[1] + "\n")
		names[i] = h[0]
	}
	return method + "\n/\n" + query + "\n" + canon.String() + "\n" + strings.Join(names, ";") + "\n" + payloadHash
}

// stringToSign is step 3: the algorithm, the timestamp, the credential scope
// and the hash of the canonical request.
func stringToSign(timestamp, date, service, canonical string) string {
	return algorithm + "\n" + timestamp + "\n" + date + "/" + service + "/tc3_request\n" + sha256Hex([]byte(canonical))
}

// signature is step 4: the key chain TC3<key> → date → service → tc3_request,
// then HMAC of the string to sign, in lower-case hex.
func signature(secretKey, date, service, toSign string) string {
	k := hmacSHA256([]byte("TC3"+secretKey), date)
	k = hmacSHA256(k, service)
	k = hmacSHA256(k, "tc3_request")
	return hex.EncodeToString(hmacSHA256(k, toSign))
}

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
