package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"wxcas/config"
	"wxcas/logx"
	"wxcas/sms"
	"wxcas/web"
)

// runEmulator is `wxcas emulator`: it serves only the sandbox's WeChat
// emulator and its console SMS inbox, at the paths an in-process sandbox
// serves them (/sandbox/wechat/..., /sandbox/sms), on the host:port of
// sandbox.emulator_url, until ctx ends. A wxcas started with the same
// configuration then calls it over the network, so a load test measures
// wxcas without the emulator's work, and several instances share one
// WeChat and one inbox.
//
// It reads the same file as wxcas because it must check what WeChat
// checks: each app's secret, the callback domain (public_url's host), and
// where each platform's tickets are pushed (server.listen). Its state
// (codes, tokens, consents, the inbox) lives in its memory only, as the
// in-process emulator's does. listening, if not nil, gets the bound
// address once it serves (tests use port 0).
func runEmulator(ctx context.Context, cfg *config.Config, stderr io.Writer, listening chan<- string) int {
	log, err := logx.New(stderr, cfg.Log.Format, cfg.Log.Level)
	if err != nil {
		fmt.Fprintf(stderr, "wxcas: %v\n", err)
		return exitBadInput
	}
	if !cfg.Sandbox.Enabled {
		log.Error("wxcas emulator serves a sandbox's WeChat: set sandbox.enabled: true")
		return exitBadInput
	}
	if cfg.Sandbox.EmulatorURL == "" {
		log.Error("wxcas emulator listens on sandbox.emulator_url, which is empty: " +
			"set it (e.g. WXCAS_EMULATOR_URL=http://127.0.0.1:18081) for this command and for wxcas serve")
		return exitBadInput
	}
	u, err := url.Parse(cfg.Sandbox.EmulatorURL) // checked by config.Load
	if err != nil {
		log.Error("sandbox.emulator_url", "err", err)
		return exitBadInput
	}
	em, err := newSandboxEmulator(cfg, time.Now, log.With("component", "emulator"))
	if err != nil {
		log.Error("cannot build the emulator", "err", err)
		return exitBadInput
	}
	inbox := sms.NewConsole(log.With("component", "sms"), 20, time.Now)
	if cfg.SMS.SignName != "" {
		inbox.SignName = cfg.SMS.SignName
	}

	mux := http.NewServeMux()
	mux.Handle(sandboxWeChatPrefix+"/", http.StripPrefix(sandboxWeChatPrefix, em))
	mux.Handle("GET "+sandboxSMSPath, inbox.InboxHandler())
	mux.Handle("POST "+sandboxSMSPath, inbox.DeliveryHandler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		_, _ = io.WriteString(w, `{"status":"ok"}`+"\n")
	})
	// The overview page, for a person who opens the bare address.
	mux.Handle("GET /{$}", http.RedirectHandler(sandboxWeChatPrefix+"/", http.StatusFound))

	ln, err := net.Listen("tcp", u.Host)
	if err != nil {
		log.Error("cannot listen on sandbox.emulator_url's address", "addr", u.Host, "err", err)
		return exitFailure
	}
	addr := ln.Addr().String()
	log.Warn("SANDBOX: wxcas emulator serves a fake WeChat and shows SMS codes to anyone who asks; never for real users",
		"addr", addr, "wechat", "http://"+addr+sandboxWeChatPrefix+"/", "sms_inbox", "http://"+addr+sandboxSMSPath+"?phone=")
	// Tickets go to wxcas's event URL now and every 10 minutes, as WeChat
	// pushes them; a wxcas that is not up yet gets one within seconds of
	// starting (StartTicketPush retries a failed first push).
	em.StartTicketPush(ctx, 10*time.Minute)
	if listening != nil {
		listening <- addr
	}
	if err := web.Serve(ctx, ln, mux, cfg.Server.ShutdownTimeout, log); err != nil {
		log.Error("wxcas emulator stopped with error", "err", err)
		return exitFailure
	}
	log.Info("wxcas emulator stopped")
	return exitOK
}
