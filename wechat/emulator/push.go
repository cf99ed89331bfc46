package emulator

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// pushRetryMax bounds the wait between retries of a failed first push.
const pushRetryMax = 3 * time.Second

// PushTicket makes a fresh component_verify_ticket for the platform,
// remembers it (valid VerifyTicketTTL for api_component_token) and pushes
// it, encrypted, to the platform's EventURL. The push succeeds only when
// the receiver answers HTTP 200 with the body "success"; the ticket counts
// as pushed either way, as at WeChat.
func (e *Emulator) PushTicket(ctx context.Context, componentAppID string) error {
	p := e.platforms[componentAppID]
	if p == nil {
		return fmt.Errorf("emulator: unknown platform %q", componentAppID)
	}
	ticket := "ticket@@@" + randomToken()
	e.mu.Lock()
	now := e.now()
	e.verifyTickets[ticket] = &verifyTicket{component: componentAppID, pushed: now}
	e.expiry.add("verify", ticket, now.Add(4*VerifyTicketTTL).Add(time.Hour))
	e.newestTicket[componentAppID] = ticket
	e.gcLocked()
	e.mu.Unlock()
	return e.push(ctx, p, now, eventXML(componentAppID, now, "component_verify_ticket",
		textElem("ComponentVerifyTicket", ticket)))
}

// Ticket returns the newest component_verify_ticket pushed for the
// platform ("" if none yet).
func (e *Emulator) Ticket(componentAppID string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.newestTicket[componentAppID]
}

// StartTicketPush pushes a ticket to every platform at once, then every
// interval (TicketPushInterval if not positive) until ctx ends. A failed
// first push is retried every few seconds until one succeeds, so a
// receiver that starts late still gets a ticket soon; later failures wait
// for the next round, as WeChat's do. Outcomes go to Options.Logger
// without the ticket. It returns at once.
func (e *Emulator) StartTicketPush(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = TicketPushInterval
	}
	retry := min(every, pushRetryMax)
	for id := range e.platforms {
		go e.pushLoop(ctx, id, every, retry)
	}
}

func (e *Emulator) pushLoop(ctx context.Context, id string, every, retry time.Duration) {
	for {
		err := e.PushTicket(ctx, id)
		e.logPush(ctx, id, err)
		if err == nil || !sleep(ctx, retry) {
			break
		}
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			e.logPush(ctx, id, e.PushTicket(ctx, id))
		}
	}
}

func (e *Emulator) logPush(ctx context.Context, id string, err error) {
	switch {
	case err == nil:
		e.log.DebugContext(ctx, "emulator: component_verify_ticket pushed", "component_appid", id)
	case ctx.Err() == nil:
		e.log.WarnContext(ctx, "emulator: component_verify_ticket push failed", "component_appid", id, "error", err)
	}
}

// sleep waits d unless ctx ends first; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// push sends one event message to the platform's event URL the way WeChat
// does in secure mode: the message encrypted in the body, the signatures
// in the query. An empty EventURL sends nothing.
func (e *Emulator) push(ctx context.Context, p *platform, now time.Time, msg string) error {
	if p.EventURL == "" {
		return nil
	}
	encrypted, err := encryptMessage(p.key, p.ComponentAppID, msg)
	if err != nil {
		return err
	}
	timestamp, nonce := strconv.FormatInt(now.Unix(), 10), randomDigits(10)
	target := appendQuery(p.EventURL,
		"signature", sha1Sorted(p.Token, timestamp, nonce),
		"timestamp", timestamp,
		"nonce", nonce,
		"encrypt_type", "aes",
		"msg_signature", sha1Sorted(p.Token, timestamp, nonce, encrypted))
	body := "<xml><AppId>" + cdata(p.ComponentAppID) + "</AppId><Encrypt>" + cdata(encrypted) + "</Encrypt></xml>"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(body))
	if err != nil {
		return fmt.Errorf("emulator: push to platform %s: %w", p.ComponentAppID, err)
	}
	req.Header.Set("Content-Type", "text/xml")
	resp, err := e.client.Do(req)
	if err != nil {
		return fmt.Errorf("emulator: push to platform %s: %w", p.ComponentAppID, err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	if err != nil {
		return fmt.Errorf("emulator: push to platform %s: reading the answer: %w", p.ComponentAppID, err)
	}
	if resp.StatusCode != http.StatusOK || string(answer) != "success" {
		// The answer's text is left out: a receiver may echo what it got.
		return fmt.Errorf("emulator: push to platform %s: answer was HTTP %d with %d bytes, not 200 \"success\"",
			p.ComponentAppID, resp.StatusCode, len(answer))
	}
	return nil
}

// eventXML builds a platform event message: AppId, CreateTime, InfoType,
// then the given elements (see textElem, numElem).
func eventXML(componentAppID string, now time.Time, infoType string, elems ...string) string {
	return "<xml>" + textElem("AppId", componentAppID) + numElem("CreateTime", now.Unix()) +
		textElem("InfoType", infoType) + strings.Join(elems, "") + "</xml>"
}

// textElem is a string element, in CDATA as WeChat writes strings.
func textElem(name, value string) string { return "<" + name + ">" + cdata(value) + "</" + name + ">" }

// numElem is a number element, written bare.
func numElem(name string, value int64) string {
	return "<" + name + ">" + strconv.FormatInt(value, 10) + "</" + name + ">"
}

// cdata wraps s in a CDATA section, splitting any "]]>" inside it.
func cdata(s string) string {
	return "<![CDATA[" + strings.ReplaceAll(s, "]]>", "]]]]><![CDATA[>") + "]]>"
}

// encryptMessage is WeChat's secure-mode encryption: AES-256-CBC with the
// key's first 16 bytes as IV over 16 random bytes | 4-byte big-endian
// length | message | appid, PKCS#7-padded to a 32-byte block, in base64.
func encryptMessage(key []byte, appID, msg string) (string, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return "", err
	}
	var plain bytes.Buffer
	random := make([]byte, 16)
	if _, err := rand.Read(random); err != nil {
		return "", err
	}
	plain.Write(random)
	_ = binary.Write(&plain, binary.BigEndian, uint32(len(msg)))
	plain.WriteString(msg)
	plain.WriteString(appID)
	// The block is 32 bytes (WeChat's choice, not AES's 16), so the pad
	// byte runs from 1 to 32.
	pad := 32 - plain.Len()%32
	plain.Write(bytes.Repeat([]byte{byte(pad)}, pad))
	out := plain.Bytes()
	cipher.NewCBCEncrypter(block, key[:16]).CryptBlocks(out, out)
	return base64.StdEncoding.EncodeToString(out), nil
}

// sha1Sorted is WeChat's signature: hex SHA-1 of the strings sorted and
// concatenated.
func sha1Sorted(parts ...string) string {
	s := append([]string(nil), parts...)
	sort.Strings(s)
	sum := sha1.Sum([]byte(strings.Join(s, "")))
	return hex.EncodeToString(sum[:])
}

func randomDigits(n int) string {
	b := make([]byte, n)
	for i := range b {
		d, err := rand.Int(rand.Reader, big.NewInt(10))
		if err != nil {
			panic(err)
		}
		b[i] = byte('0' + d.Int64())
	}
	if b[0] == '0' {
		b[0] = '1' // a number, as WeChat's nonces are
	}
	return string(b)
}

// POST /_sandbox/push?component_appid=...
//
// Lets a script or the sandbox page push a fresh ticket now. Answers
// {"pushed":true} (the ticket itself is not shown), HTTP 404 for an unknown
// platform or 502 {"error":"..."} when the receiver did not take it.
func (e *Emulator) handleSandboxPush(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeSandboxJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "POST only"})
		return
	}
	id := r.URL.Query().Get("component_appid")
	if e.platforms[id] == nil {
		writeSandboxJSON(w, http.StatusNotFound, map[string]string{"error": "unknown component_appid"})
		return
	}
	if err := e.PushTicket(r.Context(), id); err != nil {
		writeSandboxJSON(w, http.StatusBadGateway, map[string]any{"pushed": false, "error": err.Error()})
		return
	}
	writeSandboxJSON(w, http.StatusOK, map[string]any{"pushed": true})
}
