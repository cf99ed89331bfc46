// Package tencentfake is a local stand-in for the Tencent Cloud SMS SendSms
// API (2021-01-11) for tests and load runs; it also answers the read-only
// DescribeSmsSignList and DescribeSmsTemplateList (describe.go). It
// verifies the TC3-HMAC-SHA256 signature the official SDK sends, checks the
// action, version and body, applies per-number limits, answers the same
// JSON the real service does and records every delivered message so tests
// can read the code.
//
// Serve it with httptest and point the SDK at it with
// Endpoint = strings.TrimPrefix(srv.URL, "http://") and Scheme = "HTTP".
package tencentfake

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Defaults used when Options leaves a field empty.
const (
	DefaultSecretID   = "AKIDwxcasfake0000000000000000000000"
	DefaultSecretKey  = "wxcasfakesecretkey00000000000000"
	DefaultSdkAppID   = "1400000000"
	DefaultSignName   = "wxcas"
	DefaultTemplateID = "100001"
)

// DefaultTemplate is the verification template registered under
// DefaultTemplateID: {1} is the code, {2} the validity in minutes.
var DefaultTemplate = Template{Text: "您的验证码是{1}，{2}分钟内有效，如非本人操作，请忽略本短信。", VerificationCode: true}

// ConsoleDefaultLimits are Tencent's default per-number limits for
// verification codes (console "频率限制"): 1 per 30 s, 5 per hour, 10 per day.
var ConsoleDefaultLimits = Limits{ThirtySecond: 1, OneHour: 5, Daily: 10}

// Template is an approved template.
type Template struct {
	// Text with placeholders {1}, {2}, ...; the highest placeholder is the
	// number of parameters the template takes.
	Text string
	// VerificationCode: every parameter must be 0–6 digits, as for Tencent's
	// verification-code templates.
	VerificationCode bool
}

// Limits are per-number caps on successful sends; 0 means no cap. Days are
// natural days in Beijing time.
type Limits struct {
	ThirtySecond     int // LimitExceeded.PhoneNumberThirtySecondLimit
	OneHour          int // LimitExceeded.PhoneNumberOneHourLimit
	Daily            int // LimitExceeded.PhoneNumberDailyLimit
	SameContentDaily int // LimitExceeded.PhoneNumberSameContentDailyLimit (same rendered text)
}

// Options configures a Server. The zero value accepts DefaultSecretID /
// DefaultSecretKey, DefaultSdkAppID, DefaultSignName and DefaultTemplateID
// with no limits and the real clock.
type Options struct {
	Credentials map[string]string   // SecretId → SecretKey
	SdkAppIDs   []string            // known SmsSdkAppId values
	SignNames   []string            // approved signatures
	Templates   map[string]Template // approved templates by id
	Limits      Limits
	MaxSkew     time.Duration    // allowed |now − X-TC-Timestamp|; 0 means 300 s
	Now         func() time.Time // nil means time.Now
}

// Delivery is a message the fake accepted.
type Delivery struct {
	Phone          string   // normalised E.164
	SignName       string   // as sent
	TemplateID     string   // as sent
	Params         []string // TemplateParamSet, in order
	Text           string   // 【SignName】 + the template with the parameters filled in
	SerialNo       string
	SessionContext string
	SentAt         time.Time
}

// SendStatus is one element of SendStatusSet, exactly as the fake writes it.
type SendStatus struct {
	SerialNo       string
	PhoneNumber    string
	Fee            uint64
	SessionContext string
	Code           string
	Message        string
	IsoCode        string
}

// Server is the fake endpoint. It is safe for concurrent use.
type Server struct {
	opts Options

	mu          sync.Mutex
	requests    int
	serial      uint64
	delivered   map[string][]Delivery // by normalised phone, oldest first
	failNumber  map[string]string     // normalised phone → forced code
	failRequest *apiError
	hook        func([]SendStatus) []SendStatus
	reviews     *reviews // signatures' and templates' review states (describe.go)
}

// New returns a fake configured by opts (see Options for the defaults).
func New(opts Options) *Server {
	if opts.Credentials == nil {
		opts.Credentials = map[string]string{DefaultSecretID: DefaultSecretKey}
	}
	if opts.SdkAppIDs == nil {
		opts.SdkAppIDs = []string{DefaultSdkAppID}
	}
	if opts.SignNames == nil {
		opts.SignNames = []string{DefaultSignName}
	}
	if opts.Templates == nil {
		opts.Templates = map[string]Template{DefaultTemplateID: DefaultTemplate}
	}
	if opts.MaxSkew == 0 {
		opts.MaxSkew = 300 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Server{opts: opts, delivered: map[string][]Delivery{}, failNumber: map[string]string{}}
}

// Delivered returns the messages accepted for phone (any spelling the fake
// accepts), oldest first.
func (s *Server) Delivered(phone string) []Delivery {
	p, _ := normalise(phone)
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Delivery(nil), s.delivered[p]...)
}

// Requests is how many requests the fake has received, whatever their outcome.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// FailNumber makes every later send to phone fail with the per-number code
// (e.g. "FailedOperation.PhoneNumberInBlacklist"); "" removes the failure.
func (s *Server) FailNumber(phone, code string) {
	p, _ := normalise(phone)
	s.mu.Lock()
	defer s.mu.Unlock()
	if code == "" {
		delete(s.failNumber, p)
	} else {
		s.failNumber[p] = code
	}
}

// FailRequest makes every later request that passes authentication fail with
// a request-level error (Response.Error); code "" removes it.
func (s *Server) FailRequest(code, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if code == "" {
		s.failRequest = nil
		return
	}
	if message == "" {
		message = messageFor(code)
	}
	s.failRequest = &apiError{code, message}
}

// SetResponseHook lets a test rewrite the SendStatusSet of successful
// requests before it is written (drop, reorder or alter entries) to simulate
// a misbehaving service; deliveries are still recorded. nil removes it.
func (s *Server) SetResponseHook(hook func([]SendStatus) []SendStatus) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hook = hook
}

type apiError struct{ Code, Message string }

// Request-level error codes and texts.
const (
	codeInvalidAuthorization = "AuthFailure.InvalidAuthorization"
	codeSecretIDNotFound     = "AuthFailure.SecretIdNotFound"
	codeSignatureExpire      = "AuthFailure.SignatureExpire"
	codeSignatureFailure     = "AuthFailure.SignatureFailure"
)

var messages = map[string]string{
	codeInvalidAuthorization: "Authorization header is malformed.",
	codeSecretIDNotFound:     "The SecretId is not found, please ensure that your SecretId is correct.",
	codeSignatureExpire:      "Signature expired. Timestamp and server time differ by more than 5 minutes.",
	codeSignatureFailure:     "The provided credentials could not be validated. Please check your signature is correct.",
	"InvalidAction":          "The action requested is invalid for this endpoint.",
	"NoSuchVersion":          "The requested version does not exist or is not supported.",
	"Ok":                     "send success",

	"LimitExceeded.PhoneNumberThirtySecondLimit":     "the number of SMS messages sent from a single mobile number within 30 seconds exceeds the upper limit",
	"LimitExceeded.PhoneNumberOneHourLimit":          "the number of SMS messages sent from a single mobile number within 1 hour exceeds the upper limit",
	"LimitExceeded.PhoneNumberDailyLimit":            "the number of SMS messages sent from a single mobile number every day exceeds the upper limit",
	"LimitExceeded.PhoneNumberSameContentDailyLimit": "the number of the same sms messages sent from a single mobile number exceeds the upper limit",
	"InvalidParameterValue.IncorrectPhoneNumber":     "incorrect mobile number format",
}

func messageFor(code string) string {
	if m, ok := messages[code]; ok {
		return m
	}
	return code
}

// ServeHTTP answers one SendSms call, always with HTTP 200 and JSON.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	requestID := newUUID()
	s.mu.Lock()
	s.requests++
	s.mu.Unlock()

	result, apiErr := s.handle(r)
	if apiErr != nil {
		if apiErr.Message == "" {
			apiErr.Message = messageFor(apiErr.Code)
		}
		writeResponse(w, map[string]any{"Error": apiErr, "RequestId": requestID})
		return
	}
	result["RequestId"] = requestID
	writeResponse(w, result)
}

func writeResponse(w http.ResponseWriter, body map[string]any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(map[string]any{"Response": body})
}

// sendSmsBody is the request body; unknown fields are rejected.
type sendSmsBody struct {
	PhoneNumberSet   []string
	SmsSdkAppId      string
	TemplateId       string
	SignName         string
	TemplateParamSet []string
	ExtendCode       string
	SessionContext   string
	SenderId         string
}

const maxBody = 1 << 20

// handle answers SendSms, or one of the describeActions, with the fields
// of its Response.
func (s *Server) handle(r *http.Request) (map[string]any, *apiError) {
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		return nil, &apiError{"UnsupportedProtocol", "tencentfake accepts POST / only"}
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, &apiError{"InternalError", "cannot read the request body"}
	}
	if len(raw) > maxBody {
		return nil, &apiError{"RequestSizeLimitExceeded", "the request body is too large"}
	}
	if e := s.verifySignature(r, raw); e != nil {
		return nil, e
	}
	action := r.Header.Get("X-TC-Action")
	if action != "SendSms" && describeActions[action] == nil {
		return nil, &apiError{"InvalidAction", fmt.Sprintf("The action %q is not supported by tencentfake.", action)}
	}
	if v := r.Header.Get("X-TC-Version"); v != "2021-01-11" {
		return nil, &apiError{"NoSuchVersion", fmt.Sprintf("The version %q does not exist.", v)}
	}
	if r.Header.Get("X-TC-Region") == "" {
		return nil, &apiError{"MissingParameter", "The request is missing a required parameter `Region`."}
	}
	s.mu.Lock()
	forced := s.failRequest
	s.mu.Unlock()
	if forced != nil {
		e := *forced
		return nil, &e
	}
	if action != "SendSms" {
		return describeActions[action](s, raw)
	}

	var body sendSmsBody
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		if strings.HasPrefix(err.Error(), "json: unknown field") {
			return nil, &apiError{"UnknownParameter", "The parameter " + strings.TrimPrefix(err.Error(), "json: unknown field ") + " is not recognized."}
		}
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return nil, &apiError{"InvalidParameter", fmt.Sprintf("The parameter %s has the wrong type.", typeErr.Field)}
		}
		return nil, &apiError{"FailedOperation.JsonParseFail", "the request body is not valid JSON"}
	}
	statuses, e := s.send(body)
	if e != nil {
		return nil, e
	}
	return map[string]any{"SendStatusSet": statuses}, nil
}

// verifySignature checks the TC3-HMAC-SHA256 signature over the received
// Host, the signed headers and the raw body bytes.
func (s *Server) verifySignature(r *http.Request, raw []byte) *apiError {
	auth, ok := parseAuthorization(r.Header.Get("Authorization"))
	if !ok {
		return &apiError{Code: codeInvalidAuthorization}
	}
	secretKey, ok := s.opts.Credentials[auth.SecretID]
	if !ok {
		return &apiError{Code: codeSecretIDNotFound}
	}
	tsText := r.Header.Get("X-TC-Timestamp")
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil || ts <= 0 {
		return &apiError{"MissingParameter", "The request is missing a valid parameter `Timestamp`."}
	}
	signedAt := time.Unix(ts, 0)
	if skew := s.opts.Now().Sub(signedAt); skew > s.opts.MaxSkew || -skew > s.opts.MaxSkew {
		return &apiError{Code: codeSignatureExpire}
	}
	if auth.Date != signedAt.UTC().Format(time.DateOnly) || auth.Service != "sms" {
		return &apiError{Code: codeSignatureFailure, Message: "The credential scope does not match the timestamp's UTC date and the service sms."}
	}

	headers := make([][2]string, len(auth.SignedHeaders))
	for i, name := range auth.SignedHeaders {
		value := r.Header.Get(name)
		if name == "host" {
			value = r.Host // Go moves Host out of the header map
		}
		headers[i] = [2]string{name, strings.ToLower(strings.TrimSpace(value))}
	}
	payloadHash := sha256Hex(raw)
	if r.Header.Get("X-TC-Content-SHA256") == "UNSIGNED-PAYLOAD" {
		payloadHash = sha256Hex([]byte("UNSIGNED-PAYLOAD"))
	}
	canonical := canonicalRequest(r.Method, r.URL.RawQuery, headers, payloadHash)
	want := signature(secretKey, auth.Date, auth.Service, stringToSign(tsText, auth.Date, auth.Service, canonical))
	if subtle.ConstantTimeCompare([]byte(want), []byte(auth.Signature)) != 1 {
		return &apiError{Code: codeSignatureFailure}
	}
	return nil
}

var placeholderRE = regexp.MustCompile(`\{([0-9]+)\}`)

func paramCount(text string) int {
	n := 0
	for _, m := range placeholderRE.FindAllStringSubmatch(text, -1) {
		i, _ := strconv.Atoi(m[1])
		n = max(n, i)
	}
	return n
}

var codeParamRE = regexp.MustCompile(`^[0-9]{0,6}$`)

// send validates the body and decides each number's fate.
func (s *Server) send(b sendSmsBody) ([]SendStatus, *apiError) {
	switch {
	case len(b.PhoneNumberSet) == 0:
		return nil, &apiError{"MissingParameter.EmptyPhoneNumberSet", "PhoneNumberSet is empty."}
	case len(b.PhoneNumberSet) > 200:
		return nil, &apiError{"LimitExceeded.PhoneNumberCountLimit", "More than 200 numbers in one request."}
	case b.SmsSdkAppId == "":
		return nil, &apiError{"MissingParameter", "The request is missing a required parameter `SmsSdkAppId`."}
	case !slices.Contains(s.opts.SdkAppIDs, b.SmsSdkAppId):
		return nil, &apiError{"InvalidParameterValue.SdkAppIdNotExist", "SmsSdkAppId does not exist."}
	}
	tpl, ok := s.opts.Templates[b.TemplateId]
	if !ok || !s.approved(templatesOf, b.TemplateId) {
		return nil, &apiError{"FailedOperation.TemplateIncorrectOrUnapproved", "The template is not approved or does not exist."}
	}
	if !s.approved(signsOf, b.SignName) {
		return nil, &apiError{"FailedOperation.SignatureIncorrectOrUnapproved", "The signature is not approved or is malformed."}
	}
	if n := paramCount(tpl.Text); len(b.TemplateParamSet) != n {
		return nil, &apiError{"FailedOperation.TemplateParamSetNotMatchApprovedTemplate",
			fmt.Sprintf("The template takes %d parameters, got %d.", n, len(b.TemplateParamSet))}
	}
	if tpl.VerificationCode {
		for _, p := range b.TemplateParamSet {
			if !codeParamRE.MatchString(p) {
				return nil, &apiError{"InvalidParameterValue.TemplateParameterFormatError",
					"Verification-code template parameters must be 0 to 6 digits."}
			}
		}
	}
	if len(b.SessionContext) >= 512 {
		return nil, &apiError{"InvalidParameterValue", "SessionContext must be shorter than 512 bytes."}
	}

	text := "【" + b.SignName + "】" + placeholderRE.ReplaceAllStringFunc(tpl.Text, func(ph string) string {
		i, _ := strconv.Atoi(ph[1 : len(ph)-1])
		return b.TemplateParamSet[i-1]
	})

	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	statuses := make([]SendStatus, len(b.PhoneNumberSet))
	for i, raw := range b.PhoneNumberSet {
		st := SendStatus{PhoneNumber: raw, SessionContext: b.SessionContext, IsoCode: "CN"}
		phone, kind := normalise(raw)
		code := "Ok"
		switch {
		case kind == invalid:
			code, st.IsoCode = "InvalidParameterValue.IncorrectPhoneNumber", "DEF"
		case s.failNumber[phone] != "":
			code, st.PhoneNumber = s.failNumber[phone], phone
		case kind == international:
			code, st.PhoneNumber, st.IsoCode = "UnsupportedOperation.ChineseMainlandTemplateToGlobalPhone", phone, "DEF"
		default:
			st.PhoneNumber = phone
			code = s.limitCode(phone, text, now)
		}
		st.Code, st.Message = code, messageFor(code)
		if code == "Ok" {
			s.serial++
			st.SerialNo = fmt.Sprintf("5000:10457106691570%014d", s.serial)
			st.Fee = fee(text)
			s.delivered[phone] = append(s.delivered[phone], Delivery{
				Phone: phone, SignName: b.SignName, TemplateID: b.TemplateId,
				Params: append([]string(nil), b.TemplateParamSet...), Text: text,
				SerialNo: st.SerialNo, SessionContext: b.SessionContext, SentAt: now,
			})
		}
		statuses[i] = st
	}
	if s.hook != nil {
		statuses = s.hook(statuses)
	}
	return statuses, nil
}

var beijing = time.FixedZone("CST", 8*60*60)

// limitCode checks phone's earlier deliveries against the limits.
func (s *Server) limitCode(phone, text string, now time.Time) string {
	var in30s, inHour, today, sameToday int
	y, m, d := now.In(beijing).Date()
	for _, past := range s.delivered[phone] {
		age := now.Sub(past.SentAt)
		if age < 30*time.Second {
			in30s++
		}
		if age < time.Hour {
			inHour++
		}
		if py, pm, pd := past.SentAt.In(beijing).Date(); py == y && pm == m && pd == d {
			today++
			if past.Text == text {
				sameToday++
			}
		}
	}
	l := s.opts.Limits
	switch {
	case l.ThirtySecond > 0 && in30s >= l.ThirtySecond:
		return "LimitExceeded.PhoneNumberThirtySecondLimit"
	case l.OneHour > 0 && inHour >= l.OneHour:
		return "LimitExceeded.PhoneNumberOneHourLimit"
	case l.Daily > 0 && today >= l.Daily:
		return "LimitExceeded.PhoneNumberDailyLimit"
	case l.SameContentDaily > 0 && sameToday >= l.SameContentDaily:
		return "LimitExceeded.PhoneNumberSameContentDailyLimit"
	}
	return "Ok"
}

// fee is the billed message count: 70 characters fit one SMS; longer texts
// are split into parts of 67.
func fee(text string) uint64 {
	n := utf8.RuneCountInString(text)
	if n <= 70 {
		return 1
	}
	return uint64((n + 66) / 67)
}

type phoneKind int

const (
	invalid phoneKind = iota
	mainland
	international
)

var (
	mainlandRE = regexp.MustCompile(`^1[3-9][0-9]{9}$`)
	e164RE     = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
)

// normalise accepts the spellings SendSms accepts for mainland numbers
// (+86…, 0086…, 86…, bare 11 digits) and E.164 for others.
func normalise(raw string) (string, phoneKind) {
	s := strings.TrimSpace(raw)
	for _, prefix := range []string{"+86", "0086", "86"} {
		if rest, ok := strings.CutPrefix(s, prefix); ok && len(rest) == 11 {
			s = rest
			break
		}
	}
	switch {
	case mainlandRE.MatchString(s):
		return "+86" + s, mainland
	case strings.HasPrefix(s, "+86"):
		return s, invalid
	case e164RE.MatchString(s):
		return s, international
	}
	return s, invalid
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
