package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"wxcas/config"
)

// operatorCommand runs one of the operator's commands (users, audit,
// doctor) with the arguments after its name and returns the exit code.
type operatorCommand func(ctx context.Context, args []string, stdout, stderr io.Writer) int

// operatorCommands are filled in by the files that implement them.
var operatorCommands = map[string]operatorCommand{}

// loadConfigFlag loads the configuration named by a -config flag already
// parsed, printing every problem as check-config does. ok is false after
// it printed why; the exit code is then exitBadInput.
func loadConfigFlag(path string, stderr io.Writer) (*config.Config, bool) {
	cfg, err := config.Load(path)
	if err == nil {
		return cfg, true
	}
	var problems config.Problems
	if errors.As(err, &problems) {
		fmt.Fprintf(stderr, "%s: %d problem(s):\n", path, len(problems))
		for _, p := range problems {
			fmt.Fprintln(stderr, p)
		}
	} else {
		fmt.Fprintf(stderr, "wxcas: %v\n", err)
	}
	return nil, false
}

// newFlagSet is a flag set for an operator command: errors are returned,
// not fatal, and -config is always there.
func newFlagSet(name string, stderr io.Writer) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("wxcas "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs, fs.String("config", "./config.yaml", "path to config.yaml")
}

// parseFlags parses a command's flags. -h prints usage and the flags on
// stdout; a mistake or a stray argument prints them on stderr. ok false:
// return code.
func parseFlags(fs *flag.FlagSet, usage string, args []string, stdout, stderr io.Writer) (code int, ok bool) {
	fs.Usage = func() {}
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, usage)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return exitOK, false
	}
	if err == nil && fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		err = errors.New("stray argument")
	}
	if err != nil {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
		return exitBadInput, false
	}
	return exitOK, true
}
