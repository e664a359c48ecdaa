package netns

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// Listen opens a listening socket inside the namespace (network "tcp",
// "tcp4", "tcp6"); it is closed at cleanup. ":25" listens on every address
// the namespace owns, including ranges made local with RouteLocal.
func (ns *NS) Listen(t testing.TB, network, address string) net.Listener {
	t.Helper()
	var ln net.Listener
	err := ns.Do(func() (err error) {
		ln, err = net.Listen(network, address)
		return err
	})
	if err != nil {
		t.Fatalf("listen %s %s in %s: %v", network, address, ns.Name, err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// ListenPacket opens a datagram socket inside the namespace (network "udp",
// "udp4", "udp6"); it is closed at cleanup.
func (ns *NS) ListenPacket(t testing.TB, network, address string) net.PacketConn {
	t.Helper()
	var pc net.PacketConn
	err := ns.Do(func() (err error) {
		pc, err = net.ListenPacket(network, address)
		return err
	})
	if err != nil {
		t.Fatalf("listen %s %s in %s: %v", network, address, ns.Name, err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc
}

// Dial connects from inside the namespace; the handshake happens before it
// returns. A valid laddr binds the source address.
func (ns *NS) Dial(ctx context.Context, network string, laddr, raddr netip.AddrPort) (net.Conn, error) {
	d := net.Dialer{}
	if laddr.IsValid() {
		d.LocalAddr = net.TCPAddrFromAddrPort(laddr)
	}
	var c net.Conn
	err := ns.Do(func() (err error) {
		c, err = d.DialContext(ctx, network, raddr.String())
		return err
	})
	return c, err
}

// serve runs accept until ln is closed at cleanup, each connection in its
// own goroutine; cleanup waits for them.
func serve(t testing.TB, ln net.Listener, handle func(net.Conn)) {
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				// No client of ours idles; the deadline only bounds a
				// stuck one so cleanup cannot hang.
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				handle(c)
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
}

// ServeBanner answers each connection on ln like an SMTP or SSH server: it
// writes banner, then reads lines until QUIT (answered "221 bye") or EOF.
func ServeBanner(t testing.TB, ln net.Listener, banner string) {
	serve(t, ln, func(c net.Conn) {
		if _, err := c.Write([]byte(banner + "\r\n")); err != nil {
			return
		}
		r := bufio.NewReader(c)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if strings.EqualFold(strings.TrimSpace(line), "QUIT") {
				_, _ = c.Write([]byte("221 bye\r\n"))
				return
			}
			_, _ = c.Write([]byte("250 ok\r\n"))
		}
	})
}

// ServeClose accepts connections on ln and closes them at once: an open
// port that says nothing.
func ServeClose(t testing.TB, ln net.Listener) {
	serve(t, ln, func(net.Conn) {})
}

// maxDownload bounds /bytes/N of ServeHTTP (64 MiB).
const maxDownload = 64 << 20

// ServeHTTP serves HTTP/1.1 on ln: GET /bytes/N answers N bytes (at most
// 64 MiB) of a repeating pattern, anything else a short page.
func ServeHTTP(t testing.TB, ln net.Listener) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /bytes/{n}", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.PathValue("n"))
		if err != nil || n < 0 || n > maxDownload {
			http.Error(w, "size out of range", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.Itoa(n))
		chunk := make([]byte, 32<<10)
		for i := range chunk {
			chunk[i] = byte('a' + i%26)
		}
		for n > 0 {
			k := min(n, len(chunk))
			if _, err := w.Write(chunk[:k]); err != nil {
				return
			}
			n -= k
		}
	})
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "<!doctype html><title>Example Domain</title><p>This domain is for use in tests.")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	})
}

// DNS answers of ServeDNS: any name resolves to example.com's addresses.
var (
	dnsAnswerA    = [4]byte{93, 184, 216, 34}
	dnsAnswerAAAA = netip.MustParseAddr("2606:2800:220:1:248:1893:25c8:1946").As16()
)

// ServeDNS answers DNS queries on pc like a resolver: A and AAAA questions
// get example.com's addresses, other types an empty answer. It stops when
// pc is closed at cleanup.
func ServeDNS(t testing.TB, pc net.PacketConn) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				continue
			}
			if resp, err := dnsAnswer(buf[:n]); err == nil {
				_, _ = pc.WriteTo(resp, from)
			}
		}
	}()
	t.Cleanup(func() {
		pc.Close()
		<-done
	})
}

// dnsAnswer builds the response to one query.
func dnsAnswer(query []byte) ([]byte, error) {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil, err
	}
	q, err := p.Question()
	if err != nil {
		return nil, err
	}
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{
		ID: h.ID, Response: true, RecursionDesired: h.RecursionDesired, RecursionAvailable: true,
	})
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if err := b.Question(q); err != nil {
		return nil, err
	}
	if err := b.StartAnswers(); err != nil {
		return nil, err
	}
	rh := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 300}
	switch q.Type {
	case dnsmessage.TypeA:
		err = b.AResource(rh, dnsmessage.AResource{A: dnsAnswerA})
	case dnsmessage.TypeAAAA:
		err = b.AAAAResource(rh, dnsmessage.AAAAResource{AAAA: dnsAnswerAAAA})
	}
	if err != nil {
		return nil, err
	}
	return b.Finish()
}

// DNSQuery builds a recursive query for name (fully qualified, with the
// final dot) and type, with the given id.
func DNSQuery(id uint16, name string, typ dnsmessage.Type) ([]byte, error) {
	n, err := dnsmessage.NewName(name)
	if err != nil {
		return nil, err
	}
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: id, RecursionDesired: true})
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if err := b.Question(dnsmessage.Question{Name: n, Type: typ, Class: dnsmessage.ClassINET}); err != nil {
		return nil, err
	}
	return b.Finish()
}
