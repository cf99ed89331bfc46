package wechat

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// result is a response body type. complete reports whether the fields that
// make the response a success are present.
type result interface {
	complete() bool
}

// envelope is the part every WeChat body may carry.
type envelope struct {
	ErrCode *flexInt   `json:"errcode"`
	ErrMsg  flexString `json:"errmsg"`
}

// decode parses any WeChat body, whatever its Content-Type, into out.
//
// A body is a success when errcode is absent or 0 and out.complete() holds.
// A non-zero errcode gives the matching *Error; anything else that is not
// a JSON object with the expected fields gives ErrMalformedResponse. decode
// never panics (see FuzzDecode).
func decode(op string, body []byte, out result) error {
	body = bytes.TrimPrefix(body, []byte("\xef\xbb\xbf")) // UTF-8 BOM
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return newError(op, ErrMalformedResponse, "empty body")
	}
	if body[0] != '{' {
		return newError(op, ErrMalformedResponse, "body is not a JSON object"+describe(body))
	}
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return newError(op, ErrMalformedResponse, "invalid JSON envelope: "+jsonProblem(err))
	}
	if env.ErrCode != nil && *env.ErrCode != 0 {
		return apiError(op, int(*env.ErrCode), string(env.ErrMsg))
	}
	if err := json.Unmarshal(body, out); err != nil {
		return newError(op, ErrMalformedResponse, "invalid JSON: "+jsonProblem(err))
	}
	if !out.complete() {
		return newError(op, ErrMalformedResponse, "expected fields missing")
	}
	return nil
}

// describe hints at what a non-JSON body was, without echoing it.
func describe(body []byte) string {
	if len(body) > 0 && body[0] == '<' {
		return " (looks like HTML)"
	}
	return ""
}

// jsonProblem names the JSON error without quoting the body.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error at offset %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("field %q has the wrong type", te.Field)
	}
	return "cannot decode"
}

// flexInt accepts a JSON number or a string holding an integer (WeChat's
// docs declare some numbers as strings and vice versa). null means 0.
type flexInt int64

func (n *flexInt) UnmarshalJSON(b []byte) error {
	s := string(b)
	if s == "null" {
		*n = 0
		return nil
	}
	if strings.HasPrefix(s, `"`) {
		var str string
		if err := json.Unmarshal(b, &str); err != nil {
			return err
		}
		s = strings.TrimSpace(str)
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		// Accept integral floats such as 7200.0 or 1e3.
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			return fmt.Errorf("not an integer")
		}
		v = int64(f)
	}
	*n = flexInt(v)
	return nil
}

// flexString accepts a JSON string or number (countryCode is documented as
// a string but sent as the number 86). null means "".
type flexString string

func (s *flexString) UnmarshalJSON(b []byte) error {
	switch {
	case string(b) == "null":
		*s = ""
		return nil
	case len(b) > 0 && b[0] == '"':
		var str string
		if err := json.Unmarshal(b, &str); err != nil {
			return err
		}
		*s = flexString(str)
		return nil
	}
	var num json.Number
	if err := json.Unmarshal(b, &num); err != nil {
		return err
	}
	*s = flexString(num.String())
	return nil
}
