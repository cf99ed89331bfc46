package main

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"
)

// person is one test person: the emulator's WeChat user name, the phone
// bound to it and the CAS user wxcas gives it (learned from <cas:user>).
type person struct {
	name  string
	phone string // national form, as typed into the phone form
	user  string
	isNew bool // bound by this run
}

func (p person) e164() string { return "+86" + p.phone }

// Hidden fields of wxcas's forms (templates/login_bind.html, login_code.html).
var (
	csrfField = regexp.MustCompile(`name="_csrf" value="([^"]*)"`)
	flowField = regexp.MustCompile(`name="flow" value="([^"]*)"`)
)

// bindAll binds (or finds bound) every person, a few at a time: the people
// are set up before the measurement and their time is not measured.
func (t *target) bindAll(ctx context.Context, people []person, parallel int) ([]person, error) {
	out := make([]person, len(people))
	errs := make([]error, len(people))
	sem := make(chan struct{}, max(1, parallel))
	var wg sync.WaitGroup
	for i, p := range people {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			out[i], errs[i] = t.bind(ctx, p)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return out, fmt.Errorf("binding %s (%s): %w", people[i].name, people[i].phone, err)
		}
	}
	return out, nil
}

// bind walks p's first login as a person does in a browser: QR code, the
// phone form, the SMS code from the sandbox inbox, the code form, the
// service's ticket. A person bound already (by an earlier run) gets the
// ticket right after the QR code, which is accepted as is.
func (t *target) bind(ctx context.Context, p person) (person, error) {
	b := t.newBrowser()
	pg, err := t.qrLogin(ctx, b, p.name)
	if err != nil {
		return p, err
	}
	if !pg.redirect() || !strings.HasPrefix(pg.location, t.service) {
		if pg, err = t.bindPhone(ctx, b, p, pg); err != nil {
			return p, err
		}
		p.isNew = true
	}
	ticket, err := ticketFrom(pg, t.service)
	if err != nil {
		return p, err
	}
	if p.user, err = t.validate(ctx, b, ticket, ""); err != nil {
		return p, err
	}
	return p, nil
}

// bindPhone fills in the phone page bind and then the code page, and
// returns the answer to the code form (the redirect to the service).
func (t *target) bindPhone(ctx context.Context, b *browser, p person, bind page) (page, error) {
	if bind.status != http.StatusOK || !strings.Contains(bind.body, `id="phone"`) {
		return bind, fmt.Errorf("after the QR code: %s answered %d, neither the service nor the phone page%s%s",
			bind.url, bind.status, hint(bind.status), pageError(bind.body))
	}
	form, err := hiddenFields(bind.body)
	if err != nil {
		return bind, fmt.Errorf("phone page: %w", err)
	}
	// The inbox keeps earlier codes; only one sent after this moment counts
	// (its time has whole seconds).
	sentAfter := time.Now().Add(-time.Second).Truncate(time.Second)
	form.Set("phone", p.phone)
	code, err := b.follow(ctx, http.MethodPost, t.base+"/login/phone", form, t.service)
	if err != nil {
		return code, fmt.Errorf("phone form: %w", err)
	}
	if code.status != http.StatusOK || !strings.Contains(code.body, `name="code"`) {
		return code, fmt.Errorf("phone form: %s answered %d, not the code page%s%s", code.url, code.status, hint(code.status), pageError(code.body))
	}
	sms, err := t.smsCode(ctx, b, p.e164(), sentAfter)
	if err != nil {
		return code, err
	}
	if form, err = hiddenFields(code.body); err != nil {
		return code, fmt.Errorf("code page: %w", err)
	}
	form.Set("code", sms)
	end, err := b.follow(ctx, http.MethodPost, t.base+"/login/code", form, t.service)
	if err != nil {
		return end, fmt.Errorf("code form: %w", err)
	}
	return end, nil
}

func hiddenFields(body string) (url.Values, error) {
	c, f := csrfField.FindStringSubmatch(body), flowField.FindStringSubmatch(body)
	if c == nil || f == nil {
		return nil, fmt.Errorf("no _csrf or flow field")
	}
	return url.Values{"_csrf": {html.UnescapeString(c[1])}, "flow": {html.UnescapeString(f[1])}}, nil
}

// inbox is the sandbox SMS inbox's answer (sms/console.go InboxHandler):
// the phone's latest messages, newest first.
type inbox struct {
	Phone    string `json:"phone"`
	Messages []struct {
		Code   string    `json:"code"`
		SentAt time.Time `json:"sent_at"`
	} `json:"messages"`
}

// smsCode reads the newest code sent to phone (E.164) since sentAfter.
func (t *target) smsCode(ctx context.Context, b *browser, phone string, sentAfter time.Time) (string, error) {
	p, err := b.send(ctx, http.MethodGet, t.inbox+"?phone="+url.QueryEscape(phone), nil)
	if err != nil {
		return "", fmt.Errorf("SMS inbox: %w", err)
	}
	var in inbox
	if p.status != http.StatusOK {
		return "", fmt.Errorf("SMS inbox %s: status %d", p.url, p.status)
	}
	if err := json.Unmarshal([]byte(p.body), &in); err != nil {
		return "", fmt.Errorf("SMS inbox %s: %w", p.url, err)
	}
	if len(in.Messages) == 0 || in.Messages[0].SentAt.Before(sentAfter) || in.Messages[0].Code == "" {
		return "", fmt.Errorf("SMS inbox %s: no code sent to %s since %s", p.url, phone, sentAfter.Format(time.RFC3339))
	}
	return in.Messages[0].Code, nil
}

// makePeople names the test people prefix0, prefix1, ... with the phones
// firstPhone, firstPhone+1, ...; checkFlags made sure they are all valid
// mainland mobile numbers.
func makePeople(prefix string, n int, firstPhone int64) []person {
	ps := make([]person, n)
	for i := range ps {
		ps[i] = person{name: fmt.Sprintf("%s%d", prefix, i), phone: fmt.Sprint(firstPhone + int64(i))}
	}
	return ps
}
