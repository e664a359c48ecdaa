package main

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"
)

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version and build information",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			version, goVersion := "(devel)", ""
			if bi, ok := debug.ReadBuildInfo(); ok {
				version, goVersion = bi.Main.Version, bi.GoVersion
				for _, s := range bi.Settings {
					if s.Key == "vcs.revision" {
						version += " " + s.Value
					}
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "abuseguard %s %s\n", version, goVersion)
			return nil
		},
	}
}
