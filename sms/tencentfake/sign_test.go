package tencentfake

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The worked example of tencent-sms.md §9.3.
const (
	vecSecretID  = "AKIDEXAMPLE"
	vecSecretKey = "SECRETKEYEXAMPLE"
	vecTimestamp = "1700000000"
	vecHost      = "127.0.0.1:8080"
	vecBody      = `{"PhoneNumberSet":["+8613800000000"],"SmsSdkAppId":"1400000000","TemplateId":"123456","SignName":"Test","TemplateParamSet":["123456","5"]}`
	vecBodyHash  = "6ca9a72fead56b9aec903ab5f5857115daa84f40adb0171656a13648d2322f45"
	vecCanonHash = "fc3eb777c3d8d69aa9308775ea31ff092674e6e8b20e6e87a389c60dcdd1fdee"
	vecSignature = "d6606d1fd869dd6979d327f23f90a948343da94a0287eb9b70d76651756c1088"
	vecAuth      = "TC3-HMAC-SHA256 Credential=AKIDEXAMPLE/2023-11-14/sms/tc3_request, SignedHeaders=content-type;host, Signature=" + vecSignature
)

func TestSignatureVector(t *testing.T) {
	require.Equal(t, vecBodyHash, sha256Hex([]byte(vecBody)))

	canonical := canonicalRequest("POST", "", [][2]string{{"content-type", "application/json"}, {"host", vecHost}}, vecBodyHash)
	require.Equal(t, "POST\n/\n\ncontent-type:application/json\nhost:127.0.0.1:8080\n\ncontent-type;host\n"+vecBodyHash, canonical)
	require.Equal(t, vecCanonHash, sha256Hex([]byte(canonical)))

	toSign := stringToSign(vecTimestamp, "2023-11-14", "sms", canonical)
	require.Equal(t, "TC3-HMAC-SHA256\n1700000000\n2023-11-14/sms/tc3_request\n"+vecCanonHash, toSign)
	require.Equal(t, vecSignature, signature(vecSecretKey, "2023-11-14", "sms", toSign))

	auth, ok := parseAuthorization(vecAuth)
	require.True(t, ok)
	require.Equal(t, authorization{SecretID: vecSecretID, Date: "2023-11-14", Service: "sms",
		SignedHeaders: []string{"content-type", "host"}, Signature: vecSignature}, auth)
}

// vectorRequest builds the §9.3 request as it arrives at the server.
func vectorRequest(mutate func(r *http.Request)) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "http://"+vecHost+"/", strings.NewReader(vecBody))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Authorization", vecAuth)
	r.Header.Set("X-TC-Timestamp", vecTimestamp)
	r.Header.Set("X-TC-Action", "SendSms")
	r.Header.Set("X-TC-Version", "2021-01-11")
	r.Header.Set("X-TC-Region", "ap-guangzhou")
	if mutate != nil {
		mutate(r)
	}
	return r
}

func TestVerifySignatureVector(t *testing.T) {
	vecNow := func() time.Time { return time.Unix(1700000000, 0).Add(100 * time.Second) }
	s := New(Options{Credentials: map[string]string{vecSecretID: vecSecretKey}, Now: vecNow})
	require.Nil(t, s.verifySignature(vectorRequest(nil), []byte(vecBody)))

	tests := []struct {
		name   string
		mutate func(r *http.Request)
		body   string
		now    func() time.Time
		want   string
	}{
		{name: "body changed", body: strings.Replace(vecBody, "123456\",\"5", "654321\",\"5", 1), want: codeSignatureFailure},
		{name: "host port changed", mutate: func(r *http.Request) { r.Host = "127.0.0.1:8081" }, want: codeSignatureFailure},
		{name: "content type changed", mutate: func(r *http.Request) { r.Header.Set("Content-Type", "application/json; charset=utf-8") }, want: codeSignatureFailure},
		{name: "timestamp changed", mutate: func(r *http.Request) { r.Header.Set("X-TC-Timestamp", "1700000001") }, want: codeSignatureFailure},
		{name: "signature flipped", mutate: func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(vecAuth, "Signature=d", "Signature=e", 1))
		}, want: codeSignatureFailure},
		{name: "scope date is not the timestamp's", mutate: func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(vecAuth, "2023-11-14", "2023-11-15", 1))
		}, want: codeSignatureFailure},
		{name: "scope service is not sms", mutate: func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(vecAuth, "/sms/", "/cvm/", 1))
		}, want: codeSignatureFailure},
		{name: "unknown secret id", mutate: func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(vecAuth, "AKIDEXAMPLE", "AKIDOTHER", 1))
		}, want: codeSecretIDNotFound},
		{name: "too old", now: func() time.Time { return time.Unix(1700000000+301, 0) }, want: codeSignatureExpire},
		{name: "from the future", now: func() time.Time { return time.Unix(1700000000-301, 0) }, want: codeSignatureExpire},
		{name: "no timestamp", mutate: func(r *http.Request) { r.Header.Del("X-TC-Timestamp") }, want: "MissingParameter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.opts.Now = vecNow
			if tt.now != nil {
				s.opts.Now = tt.now
			}
			r := vectorRequest(tt.mutate)
			body := []byte(vecBody)
			if tt.body != "" {
				body = []byte(tt.body)
			}
			e := s.verifySignature(r, body)
			require.NotNil(t, e)
			require.Equal(t, tt.want, e.Code)
		})
	}
}

func TestParseAuthorizationRejectsMalformed(t *testing.T) {
	sig := strings.Repeat("a", 64)
	for _, h := range []string{
		"",
		"Bearer x",
		"TC3-HMAC-SHA1 Credential=A/2023-11-14/sms/tc3_request, SignedHeaders=content-type;host, Signature=" + sig,
		"TC3-HMAC-SHA256 Credential=A/2023-11-14/sms/tc3_request, SignedHeaders=content-type;host",
		"TC3-HMAC-SHA256 Credential=A/2023-11-14/sms/tc3_request, SignedHeaders=content-type;host, Signature=" + sig + ", Extra=1",
		"TC3-HMAC-SHA256 Credential=A/2023-11-14/sms/tc3_request, SignedHeaders=content-type;host, Signature=XYZ",
		"TC3-HMAC-SHA256 Credential=A/2023-11-14/sms/tc3_request, SignedHeaders=content-type;host, Signature=" + strings.ToUpper(sig),
		"TC3-HMAC-SHA256 Credential=A/2023-11-14/sms, SignedHeaders=content-type;host, Signature=" + sig,
		"TC3-HMAC-SHA256 Credential=/2023-11-14/sms/tc3_request, SignedHeaders=content-type;host, Signature=" + sig,
		"TC3-HMAC-SHA256 Credential=A/14-11-2023/sms/tc3_request, SignedHeaders=content-type;host, Signature=" + sig,
		"TC3-HMAC-SHA256 Credential=A/2023-11-14/sms/tc3_request, SignedHeaders=host;content-type, Signature=" + sig,
		"TC3-HMAC-SHA256 Credential=A/2023-11-14/sms/tc3_request, SignedHeaders=host, Signature=" + sig,
		"TC3-HMAC-SHA256 Credential=A/2023-11-14/sms/tc3_request, SignedHeaders=Content-Type;host, Signature=" + sig,
		"TC3-HMAC-SHA256 Credential=A/2023-11-14/sms/tc3_request, Credential=B/2023-11-14/sms/tc3_request, Signature=" + sig,
	} {
		_, ok := parseAuthorization(h)
		require.False(t, ok, h)
	}
}
