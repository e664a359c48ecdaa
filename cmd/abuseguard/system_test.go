package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"abuseguard"
	"abuseguard/notify/smtp/smtptest"
	"abuseguard/testutil"
	"abuseguard/testutil/bird"
	"abuseguard/testutil/netns"
)

// TestSystem runs the product the way a provider does: the built binary's
// `serve` with a configuration file, its BGP speaker peering with BIRD as
// the edge router, its mail going to a real SMTP server (STARTTLS, AUTH),
// and the operator CLI talking to its API. In network namespaces:
//
//	inet ──────────────────── edge (BIRD) ──────────── srv
//	93.184.216.7 (office)     93.184.216.1             203.0.113.10 (web-1)
//	93.184.216.8 (other)      203.0.113.1
//	                          │ control link: BGP      │ mirror: a copy of what
//	                          │ 169.254.N.2            │ arrives from inet
//	root namespace: serve (speaker 169.254.N.1, AF_PACKET on the mirror's end),
//	                the SMTP server and the API on 127.0.0.1, the CLI
//
// It walks the newcomer's path and the road back: a netscan in a capture is
// detected, blocked with FlowSpec and mailed (German); an access IP lets
// the office in; unblock withdraws everything; a live SYN flood from the
// internet gets an RTBH route; a restart of serve keeps BIRD's routes.
func TestSystem(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs serve against BIRD in namespaces")
	}
	netns.RequireRoot(t)
	for _, tool := range []string{"bird", "birdc", "ping", "traceroute", "nft", "tc", "hping3"} {
		netns.RequireTool(t, tool)
	}
	start := time.Now()
	s := newSystem(t)
	t.Logf("binary built, namespaces and BIRD up in %s", time.Since(start).Round(100*time.Millisecond))
	s.checkReach(t, "before serve", true, true, true, true)
	serveStart := time.Now()
	s.serve(t, "--pcap", filepath.Join(testutil.ModuleRoot(t), "testdata", "captures", "netscan-demo.pcap"))

	scanID := s.netscanBlocked(t, serveStart)
	s.accessIP(t, scanID)
	s.unblock(t, scanID)
	floodID := s.floodBlocked(t)
	s.restartKeepsRoutes(t, floodID)
	t.Logf("system test took %s, %s of it with serve running", time.Since(start).Round(100*time.Millisecond),
		time.Since(serveStart).Round(100*time.Millisecond))
}

// Addresses of the system test's topology: the customer servers are in
// documentation space as in testdata/captures, the internet in
// example.com's range (a public address, as an access IP must be).
var (
	webServer  = netns.ServerAddr4                   // srv-web-1 of the German customer
	webServer6 = netns.ServerAddr6                   // its IPv6 address
	mailServer = netip.MustParseAddr("203.0.113.20") // srv-mail-1 of the English customer; not in the namespaces
	edgeSrv    = netns.RouterAddr4                   // the edge router, towards the server
	edgeSrv6   = netns.RouterAddr6                   // and its IPv6 address
	edgeInet   = netip.MustParseAddr("93.184.216.1") // the edge router, towards the internet
	officeHost = netip.MustParseAddr("93.184.216.7") // the customer's office: the access IP
	otherHost  = netip.MustParseAddr("93.184.216.8") // anyone else on the internet, and the attacker
)

// The customers of the inventory, one per language.
const (
	germanEmail  = "abuse-contact@beispiel.example"
	englishEmail = "noc@example-web.example"
	smtpUser     = "abuseguard"
	smtpPassword = "system-test-smtp-password"
)

// system is the running installation.
type system struct {
	bin, cfgFile, base, token string
	inet, edge, srv           *netns.NS
	bird                      *bird.Router
	smtp                      *smtptest.Server
	serveCmd                  *exec.Cmd
	serveDone                 chan struct{} // closed when serveCmd exited
	serveErr                  error         // its exit error, set before serveDone is closed
}

// newSystem builds the binary, the namespaces, BIRD, the SMTP server and
// the configuration, and mints an operator token with the CLI.
func newSystem(t *testing.T) *system {
	t.Helper()
	s := &system{}
	dir := t.TempDir()
	s.bin = filepath.Join(dir, "abuseguard")
	if out, err := exec.Command("go", "build", "-o", s.bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	s.inet, s.edge, s.srv = netns.New(t, "agh13-inet"), netns.New(t, "agh13-edge"), netns.New(t, "agh13-srv")
	_, edgeInetIf := netns.Link(t, s.inet, s.edge,
		[]netip.Prefix{netip.PrefixFrom(officeHost, 24), netip.PrefixFrom(otherHost, 24)},
		[]netip.Prefix{netip.PrefixFrom(edgeInet, 24)})
	netns.Link(t, s.srv, s.edge,
		[]netip.Prefix{netip.PrefixFrom(webServer, 24), netip.PrefixFrom(webServer6, 64)},
		[]netip.Prefix{netip.PrefixFrom(edgeSrv, 24), netip.PrefixFrom(edgeSrv6, 64)})
	s.inet.Route(t, netip.MustParsePrefix("0.0.0.0/0"), edgeInet)
	s.srv.Route(t, netip.MustParsePrefix("0.0.0.0/0"), edgeSrv)
	s.srv.Route(t, netip.MustParsePrefix("::/0"), edgeSrv6)
	s.edge.Forwarding(t)
	for _, l := range []struct {
		ns   *netns.NS
		addr netip.Addr
	}{{s.srv, webServer}, {s.inet, officeHost}, {s.inet, otherHost}} {
		netns.ServeClose(t, l.ns.Listen(t, "tcp", netip.AddrPortFrom(l.addr, 8080).String()))
	}
	mirror := mirrorPort(t, s.edge, edgeInetIf)
	speaker, router := bird.ControlLink(t, s.edge)
	s.bird = bird.Start(t, s.edge, bird.Config{Local: router, Speaker: speaker})

	s.smtp = smtptest.NewServer(t, smtptest.Options{Username: smtpUser, Password: smtpPassword})
	port := freePort(t)
	s.base = "http://" + port
	s.cfgFile = filepath.Join(dir, "abuseguard.yaml")
	cfg := fmt.Sprintf(systemConfig, filepath.Join(dir, "data"), mirror, speaker, router, s.smtp.Port(), s.smtp.CAFile(),
		smtpUser, smtpPassword, port)
	if err := os.WriteFile(s.cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	s.token = strings.TrimSpace(s.mustRun(t, "token", "create", "--role", "operator", "--name", "system-test"))
	return s
}

// systemConfig is the configuration file: the sample's inventory, a
// flood threshold low enough for hping3 in a namespace, BGP towards the
// edge, mail over SMTP with STARTTLS and AUTH. Filled in by newSystem.
const systemConfig = `data_dir: %s
inventory:
  provider_prefixes: [203.0.113.0/24, "2001:db8:100::/48"]
  protected_prefixes: [203.0.113.1/32]
  customers:
    - {id: c-1001, name: Beispiel Hosting GmbH, email: ` + germanEmail + `, language: de}
    - {id: c-1002, name: Example Web Ltd, email: ` + englishEmail + `, language: en}
  servers:
    - {id: srv-web-1, customer: c-1001, name: web-1, prefixes: [203.0.113.10/32, "2001:db8:100::10/128"]}
    - {id: srv-mail-1, customer: c-1002, name: mail-1, prefixes: [203.0.113.20/32, "2001:db8:100::20/128"]}
collector:
  listeners: []            # no flow exports: the capture and the mirror port
  afpacket:
    - interface: %s
detect:
  defaults:
    # hping3 in a namespace sends a few thousand SYNs a second, not the
    # 200 000 of the default.
    incoming_flood: {window: 2s, pps: 500}
lifecycle:
  warm_up: 0s
  policy:
    default:
      netscan: {action: warn, block_above: 2, deadline: 24h}
bgp:
  enabled: true
  local_as: 65001
  router_id: %[3]s
  neighbors:
    - {address: %[4]s, as: 65000, local_address: %[3]s, description: edge, hold_time: 9s, connect_retry: 2s}
notify:
  mail:
    from: "Example Abuse Desk <abuse@hosting.example>"
    operators: [noc@hosting.example]
  smtp:
    host: 127.0.0.1
    port: %[5]d
    tls: starttls
    ca_file: %[6]s
    username: %[7]s
    password: %[8]s
web:
  listen: %[9]s
`

// mirrorPort copies every frame arriving at the edge on dev to a veth
// whose other end is in the root namespace, and returns that end's name:
// a mirror port of the uplink for serve's AF_PACKET input. The copies are
// not addressed to the root namespace's end, which has no addresses, so
// its stack drops them; only AF_PACKET sees them.
func mirrorPort(t *testing.T, edge *netns.NS, dev string) string {
	t.Helper()
	rootIf, edgeIf := netns.Link(t, nil, edge, nil, nil)
	if err := os.WriteFile("/proc/sys/net/ipv6/conf/"+rootIf+"/disable_ipv6", []byte("1"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"qdisc", "add", "dev", dev, "clsact"},
		// u32 matching nothing in particular: every frame (the matchall
		// classifier is not in every kernel; u32 is older and everywhere).
		{"filter", "add", "dev", dev, "ingress", "protocol", "all", "u32", "match", "u32", "0", "0",
			"action", "mirred", "egress", "mirror", "dev", edgeIf},
	} {
		mustNS(t, edge, "tc", args...)
	}
	return rootIf
}

// netscanBlocked is the newcomer's path: serve replays the capture, and
// within a minute of starting the CLI reports the address blocked with the
// BGP enforcer's status applied, BIRD holds the FlowSpec discard rules,
// enforcing them stops traffic both ways, and the German customer has the
// mail with the netscan log as the API serves it.
func (s *system) netscanBlocked(t *testing.T, start time.Time) string {
	t.Helper()
	status := s.waitCLI(t, time.Minute-time.Since(start), "status blocked and applied by bgp",
		regexp.MustCompile(`(?m)^blocked\s+yes$[\s\S]*^reason\s+netscan$[\s\S]*^enforcer bgp\s+applied flowspec to 1 of 1 neighbors`),
		"status", webServer.String())
	id := regexp.MustCompile(`(?m)^case\s+(AG-[0-9A-F]{6}) \(blocked\)$`).FindStringSubmatch(status)
	if id == nil {
		t.Fatalf("abuseguard status: no blocked case:\n%s", status)
	}
	t.Logf("%s after start: abuseguard status %s:\n%s", time.Since(start).Round(100*time.Millisecond), webServer, status)

	s.waitNets(t, "discard rules in BIRD", map[string][]string{
		bird.Flow4: {"flow4 { dst 203.0.113.10/32; }", "flow4 { src 203.0.113.10/32; }"},
	})
	for _, r := range s.bird.FlowRules(t, bird.Flow4) {
		if !r.Discard {
			t.Fatalf("BIRD's rule %v does not discard (traffic-rate 0)", r)
		}
	}
	s.bird.EnforceFlowSpec(t)
	s.checkReach(t, "blocked", false, false, false, false)

	// The mail: German, the case id in the subject, over STARTTLS with
	// AUTH, the log attached exactly as the API serves it.
	m := s.waitMail(t, germanEmail, "["+id[1]+"] Netscan festgestellt von 203.0.113.10: Server gesperrt")
	var c abuseguard.Case
	if err := json.Unmarshal([]byte(s.mustRun(t, "cases", "show", id[1], "--json")), &c); err != nil {
		t.Fatal(err)
	}
	if len(c.Detections) == 0 || len(c.Detections[0].Evidence) == 0 || c.Detections[0].Evidence[0].Name != "netscan.log" {
		t.Fatalf("case %s: evidence 0 is not netscan.log: %+v", id[1], c.Detections)
	}
	log := s.apiGet(t, "/api/v1/cases/"+id[1]+"/evidence/0")
	att := attachment(t, m, id[1]+"-netscan.txt")
	if !bytes.Equal(att, log) || !bytes.Contains(log, []byte("Netscan detected from host   203.0.113.10")) {
		t.Fatalf("attachment %s-netscan.txt (%d bytes) differs from evidence 0 of the API (%d bytes):\n%s", id[1], len(att), len(log), cmp.Diff(string(att), string(log)))
	}
	return id[1]
}

// accessIP sets the office's address as the access IP with the CLI: BIRD
// receives the pair rules, and with them enforced the office reaches the
// server both ways while any other host still does not.
func (s *system) accessIP(t *testing.T, id string) {
	t.Helper()
	out := s.mustRun(t, "access-ip", id, officeHost.String())
	if want := fmt.Sprintf("case %s: access IP %s\n", id, officeHost); out != want {
		t.Fatalf("abuseguard access-ip = %q, want %q", out, want)
	}
	s.waitNets(t, "pair rules in BIRD", map[string][]string{bird.Flow4: {
		"flow4 { dst 203.0.113.10/32; src 93.184.216.7/32; }",
		"flow4 { dst 203.0.113.10/32; }",
		"flow4 { dst 93.184.216.7/32; src 203.0.113.10/32; }",
		"flow4 { src 203.0.113.10/32; }",
	}})
	t.Logf("FlowSpec enforced in the edge:\n%s", s.bird.EnforceFlowSpec(t))
	s.checkReach(t, "with the access IP", true, false, true, false)
	s.waitMail(t, germanEmail, "["+id+"] Zugangsadresse 93.184.216.7 für 203.0.113.10 aktiv")
}

// unblock lifts the block with the CLI: the rules leave BIRD, the server
// is reachable again, and the customer is told.
func (s *system) unblock(t *testing.T, id string) {
	t.Helper()
	out := s.mustRun(t, "unblock", id, "--comment", "statement checked")
	if !strings.HasPrefix(out, "case "+id+" unblocked") {
		t.Fatalf("abuseguard unblock = %q", out)
	}
	s.waitNets(t, "rules withdrawn from BIRD", map[string][]string{})
	s.bird.EnforceFlowSpec(t)
	s.checkReach(t, "after unblock", true, true, true, true)
	s.waitMail(t, germanEmail, "["+id+"] 203.0.113.10 entsperrt")
}

// floodBlocked floods the server from the internet with hping3; serve sees
// it on the mirror port and the edge gets a blackhole route: BIRD holds
// the /32 with BLACKHOLE, the kernel a prohibit route, and a traceroute
// from the internet ends at the edge with !X.
func (s *system) floodBlocked(t *testing.T) string {
	t.Helper()
	// About 5 000 SYNs a second for at most 20 s; stopped once blocked.
	flood := s.inet.Start(t, "hping3", "-q", "-S", "-p", "80", "-i", "u200", "-c", "100000", "-a", otherHost.String(), webServer.String())
	status := s.waitCLI(t, 30*time.Second, "flood blocked with RTBH",
		regexp.MustCompile(`(?m)^reason\s+incoming_flood$[\s\S]*^enforcer bgp\s+applied rtbh to 1 of 1 neighbors`),
		"status", webServer.String())
	flood.Signal(syscall.SIGINT)
	<-flood.Done()
	id := regexp.MustCompile(`(?m)^case\s+(AG-[0-9A-F]{6}) \(blocked\)$`).FindStringSubmatch(status)
	if id == nil {
		t.Fatalf("abuseguard status: no blocked case:\n%s", status)
	}
	t.Logf("abuseguard status %s:\n%s", webServer, status)

	s.waitNets(t, "blackhole route in BIRD", map[string][]string{bird.Master4: {"203.0.113.10/32"}})
	route, _ := s.bird.Route(t, netip.PrefixFrom(webServer, 32))
	got := append([]string{route.Kind, route.Attrs["BGP.next_hop"]}, route.Communities()...)
	if diff := cmp.Diff(got, []string{"prohibited", "192.0.2.1", "(65535,666)", "(65535,65281)"}); diff != "" {
		t.Fatalf("BIRD's route for 203.0.113.10/32: kind, next hop, communities (-got, +want):\n%s", diff)
	}
	if k := mustNS(t, s.edge, "ip", "route", "show", "203.0.113.10/32"); !strings.HasPrefix(k, "prohibit 203.0.113.10") {
		t.Fatalf("edge kernel route for 203.0.113.10: %q, want a prohibit route", k)
	}
	// One probe at a time (-N 1), retried: the edge answers at most one
	// ICMP error per second per host after a burst of 6, and the flood
	// just took its share.
	var trace string
	s.wait(t, 15*time.Second, "traceroute ends at the edge with !X", func() (bool, string) {
		trace, _ = runNS(s.inet, "traceroute", "-n", "-N", "1", "-q", "1", "-w", "1", "-m", "5", "-s", officeHost.String(), webServer.String())
		lines := strings.Split(strings.TrimSpace(trace), "\n")
		last := lines[len(lines)-1]
		return len(lines) == 2 && strings.Contains(last, edgeInet.String()) && strings.Contains(last, "!X"), trace
	})
	t.Logf("traceroute from the internet while blackholed:\n%s", trace)
	s.waitMail(t, germanEmail, "["+id[1]+"] Angriff auf Ihren Server 203.0.113.10: Verkehr zum Server wird verworfen")
	return id[1]
}

// restartKeepsRoutes adds a manual FlowSpec block for the English
// customer's server, then stops serve with SIGTERM and starts it again:
// BIRD keeps the routes meanwhile (graceful restart) and ends with the
// same ones, re-announced by the new process.
func (s *system) restartKeepsRoutes(t *testing.T, floodID string) {
	t.Helper()
	out := s.mustRun(t, "block", mailServer.String(), "--reason", "abuse", "--comment", "complaint #4711")
	id := regexp.MustCompile(`^203\.0\.113\.20 blocked in case (AG-[0-9A-F]{6}) \(blocked\)`).FindStringSubmatch(out)
	if id == nil {
		t.Fatalf("abuseguard block = %q", out)
	}
	want := map[string][]string{
		bird.Master4: {"203.0.113.10/32"},
		bird.Flow4:   {"flow4 { dst 203.0.113.20/32; }", "flow4 { src 203.0.113.20/32; }"},
	}
	s.waitNets(t, "routes of both blocks in BIRD", want)
	s.waitMail(t, englishEmail, "["+id[1]+"] Abuse complaints about 203.0.113.20: server blocked")

	s.stopServe(t)
	if diff := cmp.Diff(s.bird.AllNets(t), want); diff != "" {
		t.Fatalf("BIRD dropped routes while serve was stopped (-got, +want):\n%s", diff)
	}
	s.serve(t)
	s.wait(t, 30*time.Second, "restarted serve re-announced everything", func() (bool, string) {
		var e abuseguard.Enforcement
		out, err := s.run("enforcement", "--json")
		if err != nil || json.Unmarshal([]byte(out), &e) != nil || len(e.Neighbors) != 1 {
			return false, fmt.Sprint(out, err)
		}
		n := e.Neighbors[0]
		return n.State == "established" && n.Advertised == 3 && s.bird.Established(), fmt.Sprintf("%+v", n)
	})
	s.waitNets(t, "routes after restart", want)
	status := s.mustRun(t, "status", webServer.String())
	if !regexp.MustCompile(`(?m)^case\s+` + floodID + ` \(blocked\)$[\s\S]*^enforcer bgp\s+applied rtbh`).MatchString(status) {
		t.Fatalf("abuseguard status after restart:\n%s", status)
	}
}

// checkReach checks, from the internet with ping and TCP, whether the
// office and another host reach the server, and the server them.
func (s *system) checkReach(t *testing.T, when string, officeIn, otherIn, officeOut, otherOut bool) {
	t.Helper()
	for _, c := range []struct {
		name     string
		from     *netns.NS
		src, dst netip.Addr
		want     bool
	}{
		{"office to server", s.inet, officeHost, webServer, officeIn},
		{"other host to server", s.inet, otherHost, webServer, otherIn},
		{"server to office", s.srv, webServer, officeHost, officeOut},
		{"server to other host", s.srv, webServer, otherHost, otherOut},
	} {
		_, err := runNS(c.from, "ping", "-n", "-c", "1", "-W", "1", "-I", c.src.String(), c.dst.String())
		ping := err == nil
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		conn, err := c.from.Dial(ctx, "tcp", netip.AddrPortFrom(c.src, 0), netip.AddrPortFrom(c.dst, 8080))
		cancel()
		if err == nil {
			conn.Close()
		}
		if tcp := err == nil; ping != c.want || tcp != c.want {
			t.Errorf("%s: %s: ping %v, tcp %v; want %v", when, c.name, ping, tcp, c.want)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}

// serve starts `abuseguard serve` and waits for /healthz; its log goes to
// a file shown when the test fails.
func (s *system) serve(t *testing.T, args ...string) {
	t.Helper()
	f, err := os.CreateTemp(filepath.Dir(s.cfgFile), "serve-*.log")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(s.bin, append([]string{"-c", s.cfgFile, "serve"}, args...)...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	s.serveCmd, s.serveDone = cmd, done
	go func() {
		s.serveErr = cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		select {
		case <-done:
		default:
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			log, _ := os.ReadFile(f.Name())
			t.Logf("serve log %s:\n%s", f.Name(), log)
		}
		f.Close()
	})
	s.wait(t, 30*time.Second, "serve healthy", func() (bool, string) {
		res, err := http.Get(s.base + "/healthz")
		if err != nil {
			return false, err.Error()
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK, res.Status
	})
}

// stopServe ends serve with SIGTERM and waits for a clean exit.
func (s *system) stopServe(t *testing.T) {
	t.Helper()
	s.serveCmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.serveDone:
		if s.serveErr != nil {
			t.Fatalf("serve after SIGTERM: %v", s.serveErr)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop within 30 s of SIGTERM")
	}
}

// run runs the CLI against the running serve, for at most 20 s.
func (s *system) run(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.bin, append([]string{"-c", s.cfgFile}, args...)...)
	cmd.Env = append(os.Environ(), "ABUSEGUARD_URL="+s.base, "ABUSEGUARD_TOKEN="+s.token)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("abuseguard %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out), nil
}

func (s *system) mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, err := s.run(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// waitCLI runs the CLI until its output matches re, and returns it.
func (s *system) waitCLI(t *testing.T, timeout time.Duration, what string, re *regexp.Regexp, args ...string) string {
	t.Helper()
	var out string
	s.wait(t, timeout, what, func() (bool, string) {
		var err error
		out, err = s.run(args...)
		return err == nil && re.MatchString(out), fmt.Sprint(out, err)
	})
	return out
}

// waitNets waits until BIRD holds exactly want, by table.
func (s *system) waitNets(t *testing.T, what string, want map[string][]string) {
	t.Helper()
	s.wait(t, 20*time.Second, what, func() (bool, string) {
		diff := cmp.Diff(s.bird.AllNets(t), want)
		return diff == "", "(-got, +want)\n" + diff
	})
}

// waitMail waits for a mail to rcpt whose subject contains subject, and
// checks that it came over TLS after AUTH.
func (s *system) waitMail(t *testing.T, rcpt, subject string) *smtptest.Parsed {
	t.Helper()
	var found *smtptest.Parsed
	s.wait(t, 30*time.Second, "mail to "+rcpt+": "+subject, func() (bool, string) {
		var subjects []string
		for _, m := range s.smtp.Messages() {
			p, err := smtptest.Parse(m.Data)
			if err != nil {
				t.Fatalf("received mail does not parse: %v", err)
			}
			subjects = append(subjects, fmt.Sprintf("%v: %s", m.To, p.Subject))
			if slices.Equal(m.To, []string{rcpt}) && strings.Contains(p.Subject, subject) {
				if !m.TLS || m.Auth != smtpUser {
					t.Fatalf("mail %q: TLS %v, AUTH %q; want STARTTLS and AUTH as %s", p.Subject, m.TLS, m.Auth, smtpUser)
				}
				found = p
				return true, ""
			}
		}
		return false, "received:\n" + strings.Join(subjects, "\n")
	})
	return found
}

// attachment returns the attachment called name.
func attachment(t *testing.T, m *smtptest.Parsed, name string) []byte {
	t.Helper()
	var names []string
	for _, a := range m.Attachments {
		if a.Filename == name {
			return a.Data
		}
		names = append(names, a.Filename)
	}
	t.Fatalf("mail %q has no attachment %s, only %v", m.Subject, name, names)
	return nil
}

// apiGet returns the body of an API GET, failing on any status but 200.
func (s *system) apiGet(t *testing.T, path string) []byte {
	t.Helper()
	req, _ := http.NewRequest("GET", s.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+s.token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v: %s", path, res.Status, err, body)
	}
	return body
}

// wait polls cond until it holds, for at most timeout; the failure shows
// what cond last said.
func (s *system) wait(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	var state string
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	if err := netns.WaitFor(ctx, func() bool {
		var ok bool
		ok, state = cond()
		return ok
	}); err != nil {
		t.Fatalf("%s: not within %s: %v; last:\n%s", what, timeout.Round(time.Second), err, state)
	}
}

// runNS runs a command in ns for at most 20 s.
func runNS(ns *netns.NS, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := ns.Run(ctx, name, args...)
	return string(out), err
}

func mustNS(t *testing.T, ns *netns.NS, name string, args ...string) string {
	t.Helper()
	out, err := runNS(ns, name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
