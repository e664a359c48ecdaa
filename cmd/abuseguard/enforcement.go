package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"abuseguard"
	"abuseguard/enforce"
	"abuseguard/enforce/bgp"

	"github.com/spf13/cobra"
)

// enforcementView is the operator's view of enforcement over the running
// reconciler and BGP speaker; either may be nil when not configured.
type enforcementView struct {
	rec *enforce.Reconciler
	bgp *bgp.Enforcer
}

var _ abuseguard.EnforcementService = enforcementView{}

// Enforcement implements abuseguard.EnforcementService.
func (v enforcementView) Enforcement(ctx context.Context) (*abuseguard.Enforcement, error) {
	out := &abuseguard.Enforcement{}
	if v.rec != nil {
		out.Enforcers = v.rec.Status()
	}
	if v.bgp != nil {
		n, err := v.bgp.Neighbors(ctx)
		if err != nil {
			return nil, fmt.Errorf("bgp neighbors: %w", err)
		}
		out.Neighbors = n
	}
	return out, nil
}

func newEnforcementCmd() *cobra.Command {
	var c clientFlags
	cmd := &cobra.Command{
		Use:   "enforcement",
		Short: "Show the enforcers' last passes and the BGP neighbors with their session states",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var e abuseguard.Enforcement
			data, err := c.call(cmd.Context(), "GET", "/api/v1/enforcement", nil, &e)
			if err != nil {
				return err
			}
			if c.json {
				return printJSON(cmd, data)
			}
			printEnforcement(cmd.OutOrStdout(), &e)
			return nil
		},
	}
	c.add(cmd)
	return cmd
}

func printEnforcement(w io.Writer, e *abuseguard.Enforcement) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	defer tw.Flush()
	if len(e.Enforcers) == 0 {
		fmt.Fprintln(tw, "no enforcer configured (bgp and nftables are off): blocks are recorded, not enforced")
	} else {
		fmt.Fprintln(tw, "ENFORCER\tBLOCKS\tAPPLIED\tPENDING\tFAILED\tLAST PASS\tERROR")
		for _, s := range e.Enforcers {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%s\t%s\n", s.Name, s.Blocks, s.Applied, s.Pending, s.Failed, ago(s.LastPass), s.LastError)
		}
	}
	if len(e.Neighbors) == 0 {
		return
	}
	fmt.Fprintln(tw, "\nNEIGHBOR\tAS\tSTATE\tSINCE\tFAMILIES\tADVERTISED\tFLAPS\tLAST ERROR")
	for _, n := range e.Neighbors {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%d\t%d\t%s\n", n.Address, n.AS, n.State, ago(n.Since),
			strings.Join(n.Families, ","), n.Advertised, n.Flaps, n.LastError)
	}
}

// ago renders a past time compactly for tables: "12s ago", "-" for none.
func ago(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return time.Since(t).Round(time.Second).String() + " ago"
}
