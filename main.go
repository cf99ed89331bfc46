// Command wxcas adds "Log in with WeChat" to an organisation's CAS single
// sign-on.
//
//	wxcas [serve] [-config FILE]     run the service (default)
//	wxcas check-config [-config FILE] validate the configuration and exit
//	wxcas migrate [-config FILE]      apply database migrations and exit
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"wxcas/config"
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

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("wxcas "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "./config.yaml", "path to config.yaml")
	if err := fs.Parse(args); err != nil {
		return exitBadInput
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "wxcas: unexpected argument %q\n", fs.Arg(0))
		return exitBadInput
	}
	switch cmd {
	case "serve", "check-config", "migrate":
	case "help":
		fmt.Fprintln(stdout, "usage: wxcas [serve|check-config|migrate] [-config FILE]")
		return exitOK
	default:
		fmt.Fprintf(stderr, "wxcas: unknown command %q (serve, check-config, migrate)\n", cmd)
		return exitBadInput
	}

	cfg, err := config.Load(*path)
	if err != nil {
		var problems config.Problems
		if errors.As(err, &problems) {
			fmt.Fprintf(stderr, "%s: %d problem(s):\n", *path, len(problems))
			for _, p := range problems {
				fmt.Fprintln(stderr, p)
			}
		} else {
			fmt.Fprintf(stderr, "wxcas: %v\n", err)
		}
		return exitBadInput
	}

	switch cmd {
	case "check-config":
		fmt.Fprintf(stdout, "%s: configuration is valid\n", *path)
		return exitOK
	case "migrate":
		return migrate(ctx, cfg, stdout, stderr)
	}
	return serve(ctx, cfg, stderr, nil)
}
