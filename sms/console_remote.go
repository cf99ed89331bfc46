package sms

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"wxcas/logx"
)

// delivery is one message posted to a console inbox in another process.
// The inbox writes the text itself (with its own sign_name), so only what a
// provider's template would receive travels.
type delivery struct {
	Phone      string `json:"phone"`
	Code       string `json:"code"`
	TTLSeconds int64  `json:"ttl_seconds"`
}

// RemoteConsole is the console sender of a sandbox whose inbox is served by
// another process (`wxcas emulator`): it posts each message to that inbox,
// which logs and keeps it as Console does. The inbox then holds the codes of
// every wxcas instance that shares the emulator, so a test or a person reads
// them in one place, whichever instance sent them.
type RemoteConsole struct {
	url    string
	client *http.Client
}

// NewRemoteConsole returns a sender posting to inboxURL, a Console's
// DeliveryHandler (nil client: one with a 10 s timeout).
func NewRemoteConsole(inboxURL string, client *http.Client) *RemoteConsole {
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	return &RemoteConsole{url: inboxURL, client: client}
}

// Send posts the message to the inbox. Nothing is logged here: the inbox's
// process logs the message, as the in-process Console does.
func (s *RemoteConsole) Send(ctx context.Context, m Message) (Receipt, error) {
	if err := checkMessage(providerConsole, m, true); err != nil {
		return Receipt{}, err
	}
	masked := logx.MaskPhone(m.Phone)
	// Rounded up: a TTL is shown in whole minutes, and must stay positive.
	body, err := json.Marshal(delivery{Phone: m.Phone, Code: m.Code, TTLSeconds: int64((m.TTL + time.Second - 1) / time.Second)})
	if err != nil {
		return Receipt{}, &Error{Kind: ErrInvalidMessage, Provider: providerConsole, Phone: masked, Err: err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return Receipt{}, &Error{Kind: ErrConfig, Provider: providerConsole, Phone: masked, Message: "bad inbox URL", Err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return Receipt{}, &Error{Kind: ErrTransport, Provider: providerConsole, Phone: masked, Retryable: true,
			Message: "the sandbox inbox did not answer (is `wxcas emulator` running?)", Err: err}
	}
	defer resp.Body.Close()
	var answer struct {
		Serial string `json:"serial"`
		Error  string `json:"error"`
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if err == nil {
		err = json.Unmarshal(raw, &answer)
	}
	switch {
	case resp.StatusCode == http.StatusOK && err == nil:
		return Receipt{Provider: providerConsole, SerialNo: answer.Serial}, nil
	case resp.StatusCode == http.StatusBadRequest && answer.Error == "invalid_phone":
		return Receipt{}, &Error{Kind: ErrInvalidPhone, Provider: providerConsole, Phone: masked, Message: "refused by the sandbox inbox"}
	}
	// Anything else means the inbox is not what we expect (another
	// service on that port, an older emulator): worth a look, not a retry
	// unless the server itself failed.
	return Receipt{}, &Error{Kind: ErrProvider, Provider: providerConsole, Phone: masked, Retryable: resp.StatusCode >= 500,
		Message: fmt.Sprintf("the sandbox inbox answered HTTP %d %q", resp.StatusCode, answer.Error)}
}

// DeliveryHandler takes the messages a RemoteConsole posts:
//
//	POST {"phone":"+8613800000000","code":"123456","ttl_seconds":300}
//
// and sends each through c (logged, kept for the inbox), answering
// {"serial":"console-7"}, or 400 {"error":"invalid_phone"} or
// {"error":"invalid_message"}. Sandbox only: anyone who reaches it can put
// messages in the inbox.
func (c *Console) DeliveryHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method_not_allowed", "message": "use POST"})
			return
		}
		var d delivery
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&d); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_message", "message": "want JSON {phone, code, ttl_seconds}"})
			return
		}
		receipt, err := c.Send(r.Context(), Message{Phone: d.Phone, Code: d.Code, TTL: time.Duration(d.TTLSeconds) * time.Second})
		switch {
		case errors.Is(err, ErrInvalidPhone):
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_phone", "message": "phone must be E.164"})
		case errors.Is(err, ErrInvalidMessage):
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_message", "message": "empty code or non-positive ttl_seconds"})
		case err != nil: // the request went away meanwhile
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "unavailable"})
		default:
			writeJSON(w, http.StatusOK, map[string]string{"serial": receipt.SerialNo})
		}
	})
}
