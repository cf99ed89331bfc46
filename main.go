// Command wxcas adds "Log in with WeChat" to an organisation's CAS single
// sign-on.
//
//	wxcas [serve] [-config FILE]      run the service (default)
//	wxcas check-config [-config FILE] validate the configuration and exit
//	wxcas migrate [-config FILE]      apply database migrations and exit
//	wxcas emulator [-config FILE]     serve the sandbox's WeChat emulator and SMS inbox alone
//	wxcas users …                     find, unbind and export users and bindings
//	wxcas audit …                     query the audit log
//	wxcas doctor [-config FILE]       live preflight of a deployment
//	wxcas help                        list the commands
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
)

// Exit codes.
const (
	exitOK       = 0
	exitFailure  = 1
	exitBadInput = 2 // invalid configuration or command line
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// usage is what wxcas -h, --help and help print: every command, one line each.
const usage = `usage: wxcas [command] [-config FILE]

commands:
  serve         run the service (the default command)
  check-config  validate the configuration, list every problem, exit 2 if any
  migrate       apply database migrations and exit (serve also migrates at start-up)
  emulator      serve only the sandbox's WeChat emulator and SMS inbox, on sandbox.emulator_url
  users         find, unbind and export users and their WeChat bindings (wxcas users -h)
  audit         query the audit log (wxcas audit -h)
  doctor        check a deployment live: database, clock, secrets, TLS, WeChat, SMS
  help          print this help

  -config FILE  the configuration file (default ./config.yaml)
  -cpuprofile FILE  (serve) write a CPU profile of the whole run to FILE, for
                measurements (docs/loadtest.md); read it with go tool pprof
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 {
		switch args[0] {
		case "help", "-h", "-help", "--help":
			fmt.Fprint(stdout, usage)
			return exitOK
		}
		if len(args[0]) > 0 && args[0][0] != '-' {
			cmd, args = args[0], args[1:]
		}
	}
	switch cmd {
	case "serve", "check-config", "migrate", "emulator":
	case "users", "audit", "doctor":
		// These parse their own arguments (sub-commands and flags).
		return operatorCommands[cmd](ctx, args, stdout, stderr)
	default:
		fmt.Fprintf(stderr, "wxcas: unknown command %q\n\n%s", cmd, usage)
		return exitBadInput
	}
	fs := flag.NewFlagSet("wxcas "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	// Help asked for after a command is still help, not a usage error.
	fs.Usage = func() {}
	path := fs.String("config", "./config.yaml", "path to config.yaml")
	cpuProfile := ""
	if cmd == "serve" {
		fs.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the run to this file")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			return exitOK
		}
		fmt.Fprint(stderr, usage)
		return exitBadInput
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "wxcas: unexpected argument %q\n", fs.Arg(0))
		return exitBadInput
	}

	cfg, ok := loadConfigFlag(*path, stderr)
	if !ok {
		return exitBadInput
	}

	switch cmd {
	case "check-config":
		fmt.Fprintf(stdout, "%s: configuration is valid\n", *path)
		return exitOK
	case "migrate":
		return migrate(ctx, cfg, stdout, stderr)
	case "emulator":
		return runEmulator(ctx, cfg, stderr, nil)
	}
	if cpuProfile != "" {
		stopProfile, err := startCPUProfile(cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "wxcas: %v\n", err)
			return exitBadInput
		}
		defer stopProfile()
	}
	return serve(ctx, cfg, stderr, nil)
}

// startCPUProfile profiles the process until the returned function runs
// (when serve returns, after a clean shutdown): a measurement's profile of
// wxcas alone, without a debug endpoint anyone could reach.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
