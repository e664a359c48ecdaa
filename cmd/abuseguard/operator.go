package main

import (
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"abuseguard"
	"abuseguard/web/api"

	"github.com/spf13/cobra"
)

// The operator CLI: status, cases, block, unblock and access-ip talk to a
// running serve over the JSON API, print tables for people and the API's
// JSON with --json for scripts.

func newStatusCmd() *cobra.Command {
	var c clientFlags
	cmd := &cobra.Command{
		Use:   "status ADDRESS",
		Short: "Tell whether an address is blocked, why, since when, and what the enforcers applied",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			addr, err := netip.ParseAddr(args[0])
			if err != nil {
				return usageError{fmt.Errorf("%q is not an IP address", args[0])}
			}
			var st abuseguard.Status
			data, err := c.call(cmd.Context(), "GET", "/api/v1/status/"+addr.String(), nil, &st)
			if err != nil {
				return err
			}
			if c.json {
				return printJSON(cmd, data)
			}
			printStatus(cmd.OutOrStdout(), &st)
			return nil
		},
	}
	c.add(cmd)
	return cmd
}

func printStatus(w io.Writer, st *abuseguard.Status) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	defer tw.Flush()
	blocked := "no"
	if st.Blocked {
		blocked = "yes"
	}
	fmt.Fprintf(tw, "address\t%s\nblocked\t%s\n", st.Address, blocked)
	if st.CaseID == "" {
		return
	}
	fmt.Fprintf(tw, "case\t%s (%s)\nreason\t%s\n", st.CaseID, st.State, st.Reason)
	if !st.Since.IsZero() {
		fmt.Fprintf(tw, "since\t%s\n", when(st.Since))
	}
	if st.AccessIP.IsValid() {
		fmt.Fprintf(tw, "access IP\t%s\n", st.AccessIP)
	}
	for _, s := range st.Statuses {
		fmt.Fprintf(tw, "enforcer %s\t%s %s (revision %d, %s)\n", s.Enforcer, s.State, s.Detail, s.Revision, when(s.UpdatedAt))
	}
}

func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

func newCasesCmd() *cobra.Command {
	var c clientFlags
	var state, reason, server, since string
	var limit int
	list := &cobra.Command{
		Use:   "list",
		Short: "List cases, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := url.Values{}
			for k, v := range map[string]string{"state": state, "reason": reason, "server": server, "since": since} {
				if v != "" {
					q.Set(k, v)
				}
			}
			if limit > 0 {
				q.Set("limit", fmt.Sprint(limit))
			}
			path := "/api/v1/cases"
			if len(q) > 0 {
				path += "?" + q.Encode()
			}
			var l api.CaseList
			data, err := c.call(cmd.Context(), "GET", path, nil, &l)
			if err != nil {
				return err
			}
			if c.json {
				return printJSON(cmd, data)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "CASE\tADDRESS\tREASON\tSTATE\tOPENED\tDETECTIONS\tCUSTOMER\tNOTE")
			for _, k := range l.Cases {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", k.ID, k.Address, k.Reason, k.State, when(k.OpenedAt),
					k.DetectionCount, k.CustomerID, k.Note)
			}
			tw.Flush()
			fmt.Fprintf(cmd.OutOrStdout(), "%d of %d cases\n", len(l.Cases), l.Total)
			return nil
		},
	}
	list.Flags().StringVar(&state, "state", "", "states, comma-separated (e.g. blocked,pending_approval)")
	list.Flags().StringVar(&reason, "reason", "", "reason (netscan, packet_limit, incoming_flood, ...)")
	list.Flags().StringVar(&server, "server-id", "", "server id")
	list.Flags().StringVar(&since, "since", "", "opened at or after (RFC 3339)")
	list.Flags().IntVar(&limit, "limit", 0, "at most this many (default 100)")
	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show a case with its detections, evidence, block and messages",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var k abuseguard.Case
			data, err := c.call(cmd.Context(), "GET", "/api/v1/cases/"+url.PathEscape(args[0]), nil, &k)
			if err != nil {
				return err
			}
			if c.json {
				return printJSON(cmd, data)
			}
			printCase(cmd.OutOrStdout(), &k)
			return nil
		},
	}
	c.add(list)
	c.add(show)
	cmd := &cobra.Command{
		Use:   "cases",
		Short: "List or show cases (default: list)",
		Args:  cobra.NoArgs,
		RunE:  list.RunE,
	}
	cmd.Flags().AddFlagSet(list.Flags())
	cmd.AddCommand(list, show)
	return cmd
}

func printCase(w io.Writer, k *abuseguard.Case) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "case\t%s\nstate\t%s\nreason\t%s\naddress\t%s\n", k.ID, k.State, k.Reason, k.Address)
	fmt.Fprintf(tw, "server\t%s (customer %s)\n", k.ServerID, k.CustomerID)
	if k.Note != "" {
		fmt.Fprintf(tw, "note\t%s\n", k.Note)
	}
	if k.Escalation > 0 {
		fmt.Fprintf(tw, "escalation\t%d\n", k.Escalation)
	}
	for _, f := range []struct {
		name string
		t    time.Time
	}{{"opened", k.OpenedAt}, {"deadline", k.Deadline}, {"blocked", k.BlockedAt}, {"lifts at", k.BlockUntil},
		{"unblocked", k.UnblockedAt}, {"probation until", k.ProbationUntil}, {"closed", k.ClosedAt}} {
		if !f.t.IsZero() {
			fmt.Fprintf(tw, "%s\t%s\n", f.name, when(f.t))
		}
	}
	if k.AccessIP.IsValid() {
		fmt.Fprintf(tw, "access IP\t%s\n", k.AccessIP)
	}
	fmt.Fprintf(tw, "detections\t%d (%d kept)\n", k.DetectionCount, len(k.Detections))
	tw.Flush()
	n := 0
	for _, d := range k.Detections {
		fmt.Fprintf(w, "  %s %s %s: %g %s (threshold %g), %s – %s\n", d.ID, d.Kind, d.Subkind, d.Value, d.Unit, d.Threshold,
			when(d.FirstSeen), when(d.LastSeen))
		for _, e := range d.Evidence {
			fmt.Fprintf(w, "    evidence %d: %s (%s): /api/v1/cases/%s/evidence/%d\n", n, e.Name, e.ContentType, k.ID, n)
			n++
		}
	}
	if k.Statement != nil {
		fmt.Fprintf(w, "statement by %s at %s:\n  cause: %s\n  fix: %s\n  prevention: %s\n", k.Statement.SubmittedBy,
			when(k.Statement.SubmittedAt), k.Statement.Cause, k.Statement.Fix, k.Statement.Prevention)
	}
	for _, m := range k.Messages {
		fmt.Fprintf(w, "%s %s (%s): %s\n", when(m.CreatedAt), m.Author, m.Kind, strings.ReplaceAll(m.Body, "\n", "\n  "))
	}
}

func newBlockCmd() *cobra.Command {
	var c clientFlags
	var req api.BlockRequest
	var reason string
	cmd := &cobra.Command{
		Use:   "block ADDRESS --reason REASON [--comment TEXT] [--duration 24h]",
		Short: "Block an address by an operator's decision",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Address, req.Reason = args[0], abuseguard.Reason(reason)
			var k abuseguard.Case
			data, err := c.call(cmd.Context(), "POST", "/api/v1/blocks", req, &k)
			if err != nil {
				return err
			}
			if c.json {
				return printJSON(cmd, data)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s blocked in case %s (%s)\n", k.Address, k.ID, k.State)
			return nil
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "manual", "manual, abuse, netscan, packet_limit, misconfiguration or incoming_flood")
	cmd.Flags().StringVar(&req.Comment, "comment", "", "why, for the audit trail")
	cmd.Flags().StringVar(&req.Duration, "duration", "", "lift the block by itself after this long (e.g. 24h)")
	c.add(cmd)
	return cmd
}

func newUnblockCmd() *cobra.Command {
	return newCaseActionCmd("unblock", "Withdraw a case's block (or a block waiting for approval); probation follows",
		"why, for the audit trail and the customer", func(w io.Writer, k *abuseguard.Case) {
			if !k.ProbationUntil.IsZero() {
				fmt.Fprintf(w, ", probation until %s", when(k.ProbationUntil))
			}
		})
}

func newApproveCmd() *cobra.Command {
	return newCaseActionCmd("approve", "Enforce a block waiting for approval (circuit breaker, escalation)",
		"why, for the audit trail", nil)
}

// newCaseActionCmd makes a command that POSTs /cases/{id}/<action> with a
// comment and prints the case's new state; more adds to that line.
func newCaseActionCmd(action, short, commentHelp string, more func(io.Writer, *abuseguard.Case)) *cobra.Command {
	var c clientFlags
	var comment string
	cmd := &cobra.Command{
		Use:   action + " CASE-ID [--comment TEXT]",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var k abuseguard.Case
			data, err := c.call(cmd.Context(), "POST", "/api/v1/cases/"+url.PathEscape(args[0])+"/"+action,
				api.CommentRequest{Comment: comment}, &k)
			if err != nil {
				return err
			}
			if c.json {
				return printJSON(cmd, data)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "case %s %s", k.ID, k.State)
			if more != nil {
				more(w, &k)
			}
			fmt.Fprintln(w)
			return nil
		},
	}
	cmd.Flags().StringVar(&comment, "comment", "", commentHelp)
	c.add(cmd)
	return cmd
}

func newAccessIPCmd() *cobra.Command {
	var c clientFlags
	var clear bool
	cmd := &cobra.Command{
		Use:   "access-ip CASE-ID ADDRESS | access-ip CASE-ID --clear",
		Short: "Set (or clear) the one address that may still reach a blocked server",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := "/api/v1/cases/" + url.PathEscape(args[0]) + "/access-ip"
			var k abuseguard.Case
			var data []byte
			var err error
			switch {
			case clear && len(args) == 1:
				data, err = c.call(cmd.Context(), "DELETE", path, nil, &k)
			case !clear && len(args) == 2:
				data, err = c.call(cmd.Context(), "PUT", path, api.AccessIPRequest{Address: args[1]}, &k)
			default:
				return usageError{fmt.Errorf("give an ADDRESS or --clear, not both")}
			}
			if err != nil {
				return err
			}
			if c.json {
				return printJSON(cmd, data)
			}
			if k.AccessIP.IsValid() {
				fmt.Fprintf(cmd.OutOrStdout(), "case %s: access IP %s\n", k.ID, k.AccessIP)
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "case %s: no access IP\n", k.ID)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&clear, "clear", false, "remove the access IP")
	c.add(cmd)
	return cmd
}
