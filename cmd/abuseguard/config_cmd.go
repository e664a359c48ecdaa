package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newConfigCmd(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Check or print the configuration",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "check",
		Short: "Validate the configuration file given with --config",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfiguration(g.configFile)
			if err != nil {
				return err
			}
			if _, err := buildInventory(cfg, g.configFile); err != nil {
				return fmt.Errorf("configuration %s: %w", g.configFile, err)
			}
			name := g.configFile
			if name == "" {
				name = "embedded defaults"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok\n", name)
			return nil
		},
	}, &cobra.Command{
		Use:   "dump",
		Short: "Print the effective configuration (defaults merged with --config) as YAML",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfiguration(g.configFile)
			if err != nil {
				return err
			}
			out, err := cfg.dump()
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	})
	return cmd
}
