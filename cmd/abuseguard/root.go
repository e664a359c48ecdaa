package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"
)

// globalFlags are the flags every subcommand understands.
type globalFlags struct {
	configFile string
	logLevel   string
	logFormat  string
}

// usageError marks an error in how the command was called (exit status 2),
// as opposed to a failure while running it (exit status 1).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func exitCode(err error) int {
	var u usageError
	if errors.As(err, &u) {
		return 2
	}
	return 1
}

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	g := &globalFlags{}
	root := &cobra.Command{
		Use:   "abuseguard",
		Short: "Detect, block and resolve abuse from and against hosting customers' servers",
		Long: `abuseguard watches a hosting provider's traffic (pcap, sFlow, NetFlow, IPFIX),
detects netscans, packet-limit breaches, attacks on servers and faulty network
configuration per customer server, blocks at the network edge, and tells the
customer why with the evidence.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	pf := root.PersistentFlags()
	pf.StringVarP(&g.configFile, "config", "c", "", "configuration file (YAML); the embedded defaults when empty")
	pf.StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	pf.StringVar(&g.logFormat, "log-format", "text", "log format: text or json")

	root.AddCommand(
		newVersionCmd(),
		newConfigCmd(g),
		newReplayCmd(g),
		newServeCmd(g),
		newTokenCmd(g),
		newStatusCmd(),
		newEnforcementCmd(),
		newCasesCmd(),
		newBlockCmd(),
		newUnblockCmd(),
		newApproveCmd(),
		newAccessIPCmd(),
		newFlowsCmd(),
	)
	wrapArgs(root)
	return root
}

// wrapArgs makes every command's argument check a usage error (exit
// status 2), like a bad flag: "requires at least 1 arg(s)" is a mistake in
// the call, not a failure of the run.
func wrapArgs(cmd *cobra.Command) {
	if check := cmd.Args; check != nil {
		cmd.Args = func(c *cobra.Command, args []string) error {
			if err := check(c, args); err != nil {
				return usageError{err}
			}
			return nil
		}
	}
	for _, sub := range cmd.Commands() {
		wrapArgs(sub)
	}
}

// newLogger returns the process logger, writing to w, as the global flags say.
func (g *globalFlags) newLogger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(g.logLevel)); err != nil {
		return nil, usageError{fmt.Errorf("--log-level: %w", err)}
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(g.logFormat) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usageError{fmt.Errorf("--log-format: %q is neither text nor json", g.logFormat)}
}
