package udp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// socket is one bound UDP socket and the state of its recvmmsg calls. Only
// its receiver goroutine calls read.
type socket struct {
	conn    *net.UDPConn
	raw     syscall.RawConn
	local   netip.AddrPort
	granted int // SO_RCVBUF as read back
	closed  atomic.Bool

	hdrs  []unix.Mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet6 // large enough for IPv4 too
	oob   []byte                  // oobSpace bytes per datagram
	bound *batch                  // the batch iovs point into

	// arguments and result of the recvmmsg call being made, for readFn
	from   int  // first slot to fill
	wait   bool // wait for a datagram rather than return 0
	n      int
	errno  syscall.Errno
	readFn func(fd uintptr) bool

	lastDrops    uint32 // last SO_RXQ_OVFL value seen
	pendingDrops uint64 // drops seen since takeKernelDrops
}

// oobSpace holds one SO_RXQ_OVFL control message (a uint32).
var oobSpace = unix.CmsgSpace(4)

// openSocket binds addr with the configured options.
func openSocket(addr string, cfg Configuration, reusePort bool) (*socket, error) {
	var optErr error
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		err := c.Control(func(fd uintptr) { optErr = setOptions(int(fd), cfg.ReceiveBuffer, reusePort) })
		if err != nil {
			return err
		}
		return optErr
	}}
	pc, err := lc.ListenPacket(context.Background(), "udp", addr)
	if err != nil {
		return nil, err
	}
	conn := pc.(*net.UDPConn)
	s := &socket{conn: conn, local: conn.LocalAddr().(*net.UDPAddr).AddrPort()}
	s.local = netip.AddrPortFrom(s.local.Addr().Unmap(), s.local.Port())
	if s.raw, err = conn.SyscallConn(); err != nil {
		conn.Close()
		return nil, err
	}
	if err := s.raw.Control(func(fd uintptr) {
		s.granted, optErr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF)
	}); err != nil || optErr != nil {
		conn.Close()
		return nil, fmt.Errorf("read SO_RCVBUF: %w", errors.Join(err, optErr))
	}
	n := cfg.BatchSize
	s.hdrs = make([]unix.Mmsghdr, n)
	s.iovs = make([]unix.Iovec, n)
	s.names = make([]unix.RawSockaddrInet6, n)
	s.oob = make([]byte, n*oobSpace)
	for i := range s.hdrs {
		h := &s.hdrs[i].Hdr
		h.Name = (*byte)(unsafe.Pointer(&s.names[i]))
		h.Iov = &s.iovs[i]
		h.Iovlen = 1
		h.Control = &s.oob[i*oobSpace]
	}
	s.readFn = s.recvmmsg
	return s, nil
}

// setOptions sets SO_REUSEPORT, the receive buffer and SO_RXQ_OVFL on a
// socket before it is bound.
func setOptions(fd, rcvbuf int, reusePort bool) error {
	if reusePort {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
			return fmt.Errorf("SO_REUSEPORT: %w", err)
		}
	}
	if rcvbuf > 0 {
		// SO_RCVBUFFORCE ignores net.core.rmem_max but needs
		// CAP_NET_ADMIN; SO_RCVBUF is capped by rmem_max (208 KiB on a
		// stock kernel). The caller reads back what was granted.
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvbuf); err != nil {
			if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf); err != nil {
				return fmt.Errorf("SO_RCVBUF: %w", err)
			}
		}
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RXQ_OVFL, 1); err != nil {
		return fmt.Errorf("SO_RXQ_OVFL: %w", err)
	}
	return nil
}

func (s *socket) close() {
	s.closed.Store(true)
	s.conn.Close()
}

func (s *socket) isClosed() bool { return s.closed.Load() }

// setDeadline makes reads that wait fail with os.ErrDeadlineExceeded after
// t; the zero time removes the deadline.
func (s *socket) setDeadline(t time.Time) { s.conn.SetReadDeadline(t) }

// read receives up to len(b.all)-from datagrams into the slots of b from
// from on, and fills b.all[from:from+n]: a truncated datagram gets a nil
// Payload. With wait it waits for the first datagram; without, it returns
// 0 at once when the socket holds none. It returns n, or an error when the
// socket failed or was closed.
func (s *socket) read(b *batch, from int, wait bool) (int, error) {
	if s.bound != b {
		for i := range s.iovs {
			slot := b.slot(i)
			s.iovs[i].Base = &slot[0]
			s.iovs[i].SetLen(len(slot))
		}
		s.bound = b
	}
	for i := from; i < len(s.hdrs); i++ {
		h := &s.hdrs[i].Hdr
		h.Namelen = unix.SizeofSockaddrInet6
		h.SetControllen(oobSpace)
		h.Flags = 0
	}
	s.from, s.wait = from, wait
	if err := s.raw.Read(s.readFn); err != nil {
		return 0, err
	}
	if s.errno != 0 {
		return 0, s.errno
	}
	now := time.Now().UnixNano()
	for i := from; i < from+s.n; i++ {
		m := &s.hdrs[i]
		d := &b.all[i]
		d.Time = now
		d.Source = sockaddr(&s.names[i])
		if m.Hdr.Flags&unix.MSG_TRUNC != 0 {
			d.Payload = nil
		} else {
			d.Payload = b.slot(i)[:m.Len]
		}
		if m.Hdr.Controllen > 0 {
			s.overflow(s.oob[i*oobSpace : i*oobSpace+int(m.Hdr.Controllen)])
		}
	}
	return s.n, nil
}

// recvmmsg is the RawConn.Read callback: false asks the runtime to wait
// until the socket is readable, which read without wait does not.
func (s *socket) recvmmsg(fd uintptr) bool {
	for {
		n, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&s.hdrs[s.from])),
			uintptr(len(s.hdrs)-s.from), unix.MSG_DONTWAIT, 0, 0)
		switch errno {
		case 0:
			s.n, s.errno = int(n), 0
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			if !s.wait {
				s.n, s.errno = 0, 0
				return true
			}
			return false
		}
		s.n, s.errno = 0, errno
		return true
	}
}

// overflow reads an SO_RXQ_OVFL control message: the socket's drop
// counter (a uint32 that wraps) when the datagram was queued. The kernel
// only attaches it once the counter is not zero.
func (s *socket) overflow(b []byte) {
	for len(b) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
		l := int(h.Len)
		if l < unix.SizeofCmsghdr || l > len(b) {
			return
		}
		if h.Level == unix.SOL_SOCKET && h.Type == unix.SO_RXQ_OVFL && l >= unix.CmsgLen(4) {
			v := binary.NativeEndian.Uint32(b[unix.CmsgLen(0):])
			s.pendingDrops += uint64(v - s.lastDrops)
			s.lastDrops = v
		}
		b = b[min(unix.CmsgSpace(l-unix.CmsgLen(0)), len(b)):]
	}
}

// takeKernelDrops returns the drops seen since the last call.
func (s *socket) takeKernelDrops() uint64 {
	d := s.pendingDrops
	s.pendingDrops = 0
	return d
}

// sockaddr converts a raw IPv4 or IPv6 socket address.
func sockaddr(rsa *unix.RawSockaddrInet6) netip.AddrPort {
	switch rsa.Family {
	case unix.AF_INET:
		r4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(rsa))
		port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&r4.Port))[:])
		return netip.AddrPortFrom(netip.AddrFrom4(r4.Addr), port)
	case unix.AF_INET6:
		port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&rsa.Port))[:])
		return netip.AddrPortFrom(netip.AddrFrom16(rsa.Addr).Unmap(), port)
	}
	return netip.AddrPort{}
}
