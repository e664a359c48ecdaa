package main

import (
	"fmt"

	"abuseguard"
	"abuseguard/store"

	"github.com/spf13/cobra"
)

func newTokenCmd(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Make or revoke API tokens in the local store",
	}
	var role, customer, name string
	create := &cobra.Command{
		Use:   "create --role operator|customer [--customer ID] [--name NAME]",
		Short: "Make an API token; the secret is printed once and only its hash is kept",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if role != "operator" && role != "customer" {
				return usageError{fmt.Errorf("--role must be operator or customer")}
			}
			if (role == "customer") != (customer != "") {
				return usageError{fmt.Errorf("--customer is required for customer tokens and refused for operator tokens")}
			}
			s, err := openLocalStore(cmd, g)
			if err != nil {
				return err
			}
			defer s.Close()
			t, secret, err := s.CreateToken(cmd.Context(), abuseguard.Token{Role: abuseguard.Role(role), CustomerID: customer, Name: name})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "token %s for %s made; store the secret now, it is not shown again:\n", t.ID, tokenOwner(t))
			fmt.Fprintln(cmd.OutOrStdout(), secret)
			return nil
		},
	}
	create.Flags().StringVar(&role, "role", "", "operator or customer")
	create.Flags().StringVar(&customer, "customer", "", "customer id (customer tokens)")
	create.Flags().StringVar(&name, "name", "", "who the token is for, shown in the audit trail")
	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Make a token unusable",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := openLocalStore(cmd, g)
			if err != nil {
				return err
			}
			defer s.Close()
			if err := s.RevokeToken(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "token %s revoked\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(create, revoke)
	return cmd
}

func tokenOwner(t *abuseguard.Token) string {
	if t.Role == abuseguard.RoleCustomer {
		return "customer " + t.CustomerID
	}
	if t.Name != "" {
		return "operator " + t.Name
	}
	return "an operator"
}

// openLocalStore opens the store named by the configuration, for commands
// that work on it directly (while serve runs too: SQLite allows it).
func openLocalStore(cmd *cobra.Command, g *globalFlags) (*store.Store, error) {
	cfg, err := loadConfiguration(g.configFile)
	if err != nil {
		return nil, err
	}
	log, err := g.newLogger(cmd.ErrOrStderr())
	if err != nil {
		return nil, err
	}
	return store.Open(cmd.Context(), log, storePath(cfg), cfg.Store.Channels)
}
