package enforce_test

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"abuseguard"
	"abuseguard/enforce/nft"
	"abuseguard/store"
)

// TestWithStoreOfRecord runs the reconciler over the real SQLite store:
// blocks committed by a transaction reach nftables without any Trigger
// (the store reports changes), and the statuses land in the store.
func TestWithStoreOfRecord(t *testing.T) {
	needRoot(t, "nft")
	ns := newNS(t, "nstore")
	st, err := store.Open(t.Context(), testLogger(t), filepath.Join(t.TempDir(), "abuseguard.db"), nil)
	if err != nil {
		t.Fatalf("store.Open() error: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	e := startNFT(t, ns)
	startReconciler(t, st, e)

	addr := netip.MustParseAddr("198.51.100.7")
	now := time.Now().UTC()
	if err := st.Update(t.Context(), func(tx abuseguard.CaseTx) error {
		c := &abuseguard.Case{ID: "AG-S00001", Reason: abuseguard.ReasonNetscan, Address: addr, State: abuseguard.CaseBlocked, Action: abuseguard.ActionBlock, OpenedAt: now, BlockedAt: now}
		if err := tx.CreateCase(t.Context(), c); err != nil {
			return err
		}
		return tx.PutBlock(t.Context(), abuseguard.Block{CaseID: c.ID, Address: addr, Scope: abuseguard.ScopeBoth, Reason: c.Reason,
			AccessIP: netip.MustParseAddr("203.0.113.9"), Since: now, Revision: 1})
	}); err != nil {
		t.Fatalf("store Update() error: %v", err)
	}

	waitFor(t, 10*time.Second, "block in nftables and status in the store", func() (bool, string) {
		// The enforcer creates its table in its first pass, which runs
		// concurrently with this test.
		if !succeeds(ns, "nft", "list", "table", "inet", "abuseguard") {
			return false, "no table inet abuseguard yet"
		}
		sets, _ := nftSets(t, ns)
		var got []abuseguard.BlockStatus
		st.View(t.Context(), func(tx abuseguard.CaseTx) error {
			got, _ = tx.Statuses(t.Context(), "AG-S00001")
			return nil
		})
		ok := slices.Contains(sets["blocked4"], "198.51.100.7") && slices.Contains(sets["access4"], "198.51.100.7 . 203.0.113.9") &&
			len(got) == 1 && got[0].Enforcer == nft.Name && got[0].State == abuseguard.EnforceApplied && got[0].Revision == 1
		return ok, fmt.Sprintf("sets %v, statuses %+v", sets, got)
	})

	if err := st.Update(t.Context(), func(tx abuseguard.CaseTx) error {
		return tx.DeleteBlock(t.Context(), "AG-S00001")
	}); err != nil {
		t.Fatalf("store Update() error: %v", err)
	}
	waitFor(t, 10*time.Second, "block withdrawn from nftables", func() (bool, string) {
		sets, _ := nftSets(t, ns)
		return len(sets["blocked4"]) == 1 && len(sets["access4"]) == 1, fmt.Sprint(sets)
	})
}
