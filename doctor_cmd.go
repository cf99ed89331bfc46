package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"wxcas/config"
	"wxcas/doctor"
	"wxcas/logx"
)

func init() { operatorCommands["doctor"] = runDoctor }

const doctorUsage = `usage: wxcas doctor [-config FILE] [-json]

Checks a deployment live, before people use it: the database and its schema,
the clock against the database, the secrets, public_url's certificate, every
WeChat app's credentials and callback domain, the Tencent Cloud SMS signature
and template. It changes nothing. Each check prints PASS, FAIL (with a fix)
or SKIP (with why it does not apply). Exit status: 0 nothing failed, 1 a check
failed, 2 bad configuration or command line. See docs/doctor.md.

`

// runDoctor is `wxcas doctor`.
func runDoctor(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, path := newFlagSet("doctor", stderr)
	asJSON := fs.Bool("json", false, "print one JSON object per check (name, status, detail, fix)")
	if code, ok := parseFlags(fs, doctorUsage, args, stdout, stderr); !ok {
		return code
	}
	cfg, ok := loadConfigFlag(*path, stderr)
	if !ok {
		return exitBadInput
	}
	// Only the drivers' and stores' own warnings reach the log.
	log, err := logx.New(stderr, cfg.Log.Format, "warn")
	if err != nil {
		fmt.Fprintf(stderr, "wxcas doctor: %v\n", err)
		return exitBadInput
	}
	env := doctor.Env{Now: time.Now, Logger: log}
	env.WeChatOpenBaseURL, env.WeChatAPIBaseURL = doctorWeChatBases(cfg)
	env.DB, env.DBErr = doctor.OpenDatabase(ctx, cfg.Database, log)
	if env.DB != nil {
		defer env.DB.Close()
	}
	checks, err := doctor.Build(ctx, cfg, env)
	if err != nil {
		fmt.Fprintf(stderr, "wxcas doctor: %v\n", err)
		return exitBadInput
	}
	lines := doctor.Run(ctx, checks, 0)
	write := doctor.WriteText
	if *asJSON {
		write = doctor.WriteJSON
	}
	if err := write(stdout, lines); err != nil {
		fmt.Fprintf(stderr, "wxcas doctor: %v\n", err)
		return exitFailure
	}
	if doctor.Failed(lines) {
		return exitFailure
	}
	return exitOK
}

// doctorWeChatBases are where wxcas, started with cfg, calls WeChat and
// sends browsers to it (see wireWeChat): in the sandbox its emulator,
// inside the running wxcas or at sandbox.emulator_url; elsewhere the
// configured bases ("" for WeChat's own).
func doctorWeChatBases(cfg *config.Config) (open, api string) {
	open, api = cfg.WeChat.OpenBaseURL, cfg.WeChat.APIBaseURL
	if !cfg.Sandbox.Enabled {
		return open, api
	}
	pageBase, apiBase := strings.TrimSuffix(cfg.Server.PublicURL, "/"), selfURL(cfg.Server.Listen)
	if remote := strings.TrimSuffix(cfg.Sandbox.EmulatorURL, "/"); remote != "" {
		pageBase, apiBase = remote, remote
	}
	if open == "" {
		open = pageBase + sandboxWeChatPrefix
	}
	if api == "" {
		api = apiBase + sandboxWeChatPrefix
	}
	return open, api
}
